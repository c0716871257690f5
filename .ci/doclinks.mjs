// doclinks.mjs checks that every relative link in README.md, docs/*.md and bench/RESULTS.md
// (which the README links to) resolves: the file
// or directory exists in the checkout and, for a #fragment, the target Markdown file has a
// heading with that anchor (GitHub's rule: lower case, punctuation dropped, spaces to
// hyphens, -1, -2, … for repeats) or an <a id/name> with it. Links with a scheme (https:,
// mailto:) are not fetched. Run from anywhere: `node .ci/doclinks.mjs`; .ci/readme.sh runs
// it first. Exits 1 listing every broken link.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function docFiles() {
  const files = ["README.md"];
  const dir = path.join(repo, "docs");
  if (fs.existsSync(dir)) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (f.endsWith(".md")) files.push(path.join("docs", f));
    }
  }
  if (fs.existsSync(path.join(repo, "bench", "RESULTS.md"))) files.push(path.join("bench", "RESULTS.md"));
  return files;
}

// prose yields [lineNumber, line] for the lines outside fenced code blocks.
function* prose(text) {
  let fence = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^\s*(`{3,}|~{3,})/);
    if (m) {
      if (fence === null) fence = m[1];
      else if (m[1].startsWith(fence)) fence = null;
      continue;
    }
    if (fence === null) yield [i + 1, lines[i]];
  }
}

function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const anchorCache = new Map();
function anchors(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const set = new Set();
  const seen = new Map();
  for (const [, line] of prose(fs.readFileSync(file, "utf8"))) {
    const h = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (h) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      set.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) set.add(a[1]);
  }
  anchorCache.set(file, set);
  return set;
}

const broken = [];
let checked = 0;
for (const rel of docFiles()) {
  const file = path.join(repo, rel);
  for (const [n, raw] of prose(fs.readFileSync(file, "utf8"))) {
    const line = raw.replace(/`[^`]*`/g, ""); // a link inside a code span is not a link
    const targets = [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
    const ref = line.match(/^\s*\[[^\]]+\]:\s*(\S+)/);
    if (ref) targets.push(ref[1]);
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      checked++;
      const [p, frag] = target.split("#", 2);
      const dest = p === "" ? file : path.resolve(path.dirname(file), decodeURIComponent(p));
      const where = `${rel}:${n}: ${target}`;
      if (!dest.startsWith(repo + path.sep) && dest !== repo) {
        broken.push(`${where}: points outside the repository`);
      } else if (!fs.existsSync(dest)) {
        broken.push(`${where}: ${path.relative(repo, dest)} does not exist`);
      } else if (frag !== undefined && frag !== "") {
        if (!dest.endsWith(".md")) {
          broken.push(`${where}: a #fragment on a file that is not Markdown`);
        } else if (!anchors(dest).has(decodeURIComponent(frag))) {
          broken.push(`${where}: ${path.relative(repo, dest)} has no heading #${frag}`);
        }
      }
    }
  }
}
if (broken.length > 0) {
  console.error(`broken links (${broken.length}):\n${broken.join("\n")}`);
  process.exit(1);
}
console.log(`doc links OK: ${checked} relative links in ${docFiles().join(", ")}`);
