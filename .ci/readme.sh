#!/usr/bin/env bash
# readme.sh runs the documentation's own shell blocks, as written, on a fresh short `bigfather dev`:
# install, kcat, the quick start, querying and the rejects examples. A block is one marked in
# README.md or docs/*.md with an HTML comment on the line before its ```sh fence:
#
#   <!-- readme-test: NAME -->
#
# NAME is unique across those files. Each block runs with `bash -euo pipefail` and must exit 0;
# the blocks named below run in the order the checks need and the checks then read their
# output; every other marked block runs after them, against the same dev, and must exit 0.
# A marked ```yaml block is a config file: it needs a check of its own below (the README's
# minimal config is run as `bigfather run` against the dev's Kafka, into its own warehouse).
# Only the addresses are changed: the docs' 127.0.0.1:9092 and :8081 become free ports, so a
# run never clashes with another dev on the machine. The install block runs in the checkout
# with GOBIN pointing into a temp directory, so no installed bigfather is replaced.
#
# Before anything starts, every relative link in README.md and docs/*.md must resolve
# (.ci/doclinks.mjs) and every marker must be well formed; `bash .ci/readme.sh check` runs
# only these two checks (a second, no Go build).
#
# Needs go, node, npm, kcat and jq (the last two installed from Debian's packages when missing).
# README_KEEP=1 keeps the temp directory. Takes about a minute on 2 cores.
set -euo pipefail
exec </dev/null

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
# shellcheck source=.ci/lib.sh
source .ci/lib.sh
# shellcheck source=.ci/services.sh
source .ci/services.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bigfather-readme.XXXXXX")
WORK=$TMP/work
DEV_PID=""
RUN_PID=""
TOTAL=3000

fail() {
  ci_log "FAILED: $*"
  [ ! -f "$TMP/dev.log" ] || ci_tail "bigfather dev" "$TMP/dev.log" 30
  [ ! -f "$TMP/minimal.log" ] || ci_tail "bigfather run (minimal config)" "$TMP/minimal.log" 30
  exit 1
}

cleanup() {
  local rc=$?
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -INT "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -INT "$DEV_PID" 2>/dev/null || true
    wait "$DEV_PID" 2>/dev/null || true
  fi
  if [ "${README_KEEP:-0}" = 1 ]; then
    ci_log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT

# doc_files lists the files whose marked blocks run, relative to the checkout.
doc_files() {
  (cd "$REPO" && for f in README.md docs/*.md; do [ -f "$f" ] && printf '%s\n' "$f"; done)
}

# marks prints "FILE NAME" for every block marker, in file order. An HTML comment line that
# mentions readme-test but is not a well-formed marker fails, so a typo cannot silently skip a
# block.
marks() {
  local f
  for f in $(doc_files); do
    awk -v f="$f" '
      /^[ \t]*<!--.*readme-test/ {
        if ($0 !~ /^[ \t]*<!-- readme-test: [A-Za-z0-9_-]+ -->[ \t]*$/) { printf "%s:%d: malformed marker: %s\n", f, NR, $0 > "/dev/stderr"; bad = 1; next }
        sub(/^[ \t]*<!-- readme-test: /, ""); sub(/ -->[ \t]*$/, ""); print f, $0
      }
      END { exit bad }
    ' "$REPO/$f" || return 1
  done
}

# check_marks: every marker is well formed, names a block no other marker names, and stands
# on the line before a ```sh or ```yaml fence.
check_marks() {
  local all dups f name
  all=$(marks) || fail "a readme-test marker is malformed (above)"
  dups=$(printf '%s\n' "$all" | awk '{print $2}' | sort | uniq -d)
  [ -z "$dups" ] || fail "readme-test names marked more than once: $dups ($(printf '%s\n' "$all" | grep -wF -- "$dups" | tr '\n' ' '))"
  while read -r f name; do
    [ -n "$name" ] || continue
    (cd "$REPO" && { block_in "$name" "$f" >/dev/null || block_in "$name" "$f" yaml >/dev/null; }) ||
      fail "$f: <!-- readme-test: $name --> is not on the line before a \`\`\`sh or \`\`\`yaml fence"
  done <<<"$all"
}

# block_in NAME FILE [LANG] prints the block marked NAME in FILE, its fence's indentation
# removed; it fails unless the fence is ```LANG (default sh).
block_in() {
  awk -v name="$1" -v lang="${3:-sh}" '
    $0 ~ "^[ \t]*<!-- readme-test: " name " -->[ \t]*$" { want = 1; next }
    want == 1 && $0 ~ "^[ \t]*```" lang "[ \t]*$" { match($0, /^[ \t]*/); indent = RLENGTH; want = 2; found = 1; next }
    want == 1 { exit 1 }
    want == 2 && /^[ \t]*```[ \t]*$/ { exit 0 }
    want == 2 { print substr($0, indent + 1) }
    END { if (!found) exit 1 }
  ' "$2"
}

# block NAME [LANG] prints the block marked NAME, from whichever doc file marks it.
block() {
  local f
  f=$(marks | awk -v name="$1" '$2 == name { print $1; exit }')
  [ -n "$f" ] && block_in "$1" "$f" "${2:-sh}"
}

# ports TEXT prints TEXT with the docs' Kafka and registry addresses replaced by the dev's.
ports() {
  printf '%s\n' "$1" | sed -e "s/127\.0\.0\.1:9092/127.0.0.1:$KPORT/g" -e "s/127\.0\.0\.1:8081/127.0.0.1:$RPORT/g"
}

# config_file NAME DEST writes the ```yaml block marked NAME to DEST, with the dev's ports.
config_file() {
  local text
  text=$(cd "$REPO" && block "$1" yaml) || fail "no block marked <!-- readme-test: $1 --> before a \`\`\`yaml fence in README.md or docs/*.md"
  RAN[$1]=1
  ports "$text" >"$2"
  printf -- '--- doc config %s (%s):\n' "$1" "$2"
  cat "$2"
  echo ---
}

# run NAME DIR: runs the doc block NAME in DIR with the dev's ports; its output is in
# $TMP/NAME.out (and on stdout).
declare -A RAN=()
run() {
  local name=$1 dir=$2 text
  text=$(cd "$REPO" && block "$name") || fail "no block marked <!-- readme-test: $name --> before a \`\`\`sh fence in README.md or docs/*.md"
  [ -n "$text" ] || fail "doc block $name is empty"
  text=$(ports "$text")
  printf -- '--- doc block %s (in %s):\n%s\n---\n' "$name" "$dir" "$text"
  RAN[$name]=1
  (cd "$dir" && bash -euo pipefail -c "$text") >"$TMP/$name.out" || {
    cat "$TMP/$name.out"
    fail "doc block $name exited non-zero"
  }
  cat "$TMP/$name.out"
}

# run_the_rest DIR runs every marked block that has not run yet, in file order.
run_the_rest() {
  local m f name all
  mapfile -t all < <(marks)
  for m in "${all[@]}"; do
    f=${m% *} name=${m#* }
    [ -n "${RAN[$name]:-}" ] && continue
    (cd "$REPO" && block_in "$name" "$f" >/dev/null) || fail "$f: the \`\`\`yaml block $name has no check in .ci/readme.sh"
    echo "--- $f marks $name, which has no check of its own: it must exit 0"
    run "$name" "$1"
  done
}

# want NAME REGEX: the output of block NAME has a line matching REGEX (grep -E).
want() {
  grep -Eq -- "$2" "$TMP/$1.out" || fail "doc block $1: no line matches /$2/"
}

# poll SECONDS WHAT CMD...: runs CMD until it succeeds.
poll() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(( $(ci_now) + secs ))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$DEV_PID" 2>/dev/null || fail "bigfather dev exited while waiting for $what"
    [ -z "$RUN_PID" ] || kill -0 "$RUN_PID" 2>/dev/null || fail "bigfather run exited while waiting for $what"
    [ "$(ci_now)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

# committed N [CONFIG]: music.tracks has at least N committed records (CONFIG is relative to
# the current directory; default dev's).
committed() {
  local n
  n=$(bigfather inspect --config "${2:-warehouse/bigfather-dev.yaml}" --table music.tracks --json 2>/dev/null \
    | ci_json 'Number(j.committed_records)') || return 1
  [ "$n" -ge "$1" ]
}

rejected() {
  local n
  n=$(bigfather query --config warehouse/bigfather-dev.yaml --table music.tracks__rejects --json \
    "SELECT count(*) AS n FROM music.tracks__rejects" | ci_json 'Number(j.n)') || return 1
  [ "$n" -ge 1 ]
}

node .ci/doclinks.mjs || fail "README.md or docs/*.md has a broken relative link (above)"
check_marks
[ "${1:-}" != check ] || { echo "doc links and block markers OK"; exit 0; }

ci_ensure_kcat
command -v jq >/dev/null 2>&1 || { echo "jq not found; installing the Debian package"; ci_apt_install jq; }
KPORT="" RPORT="" MPORT="" # set by start_dev
export GOBIN=$TMP/bin
export PATH="$GOBIN:$PATH"
run install "$REPO"
[ "$(command -v bigfather)" = "$GOBIN/bigfather" ] || fail "bigfather on PATH is $(command -v bigfather), not the one just installed"

# The README's commands run where dev runs; scripts/ is the checkout's.
mkdir -p "$WORK"
ln -s "$REPO/scripts" "$WORK/scripts"
cd "$WORK"
# start_dev starts dev on free ports. A free port can still be taken by another process
# between ci_free_ports and dev's listen; then dev exits at once saying so, and it is
# started again on other ports.
start_dev() {
  local try ports
  for try in 1 2 3; do
    mapfile -t ports < <(ci_free_ports 3)
    KPORT=${ports[0]} RPORT=${ports[1]} MPORT=${ports[2]}
    bigfather dev --total "$TOTAL" --rate 1000 --flush 1s \
      --kafka "127.0.0.1:$KPORT" --registry "127.0.0.1:$RPORT" --metrics-addr "127.0.0.1:$MPORT" >"$TMP/dev.log" 2>&1 &
    DEV_PID=$!
    sleep 2
    if kill -0 "$DEV_PID" 2>/dev/null || ! grep -q 'address already in use' "$TMP/dev.log"; then
      return 0
    fi
    wait "$DEV_PID" 2>/dev/null || true
    echo "dev could not listen (try $try): $(tail -n 1 "$TMP/dev.log"); trying other ports"
  done
  fail "bigfather dev could not listen on free ports three times"
}
start_dev
poll 60 "the first commit" committed 1

# The quarantine table exists and is empty: the rejects query answers its header alone.
run rejects "$WORK"
[ "$(cat "$TMP/rejects.out")" = "$(printf 'reason\tn\tfirst\tmessage')" ] || fail "rejects before any reject: want only the header line"

run reject-one "$WORK"
poll 90 "$TOTAL records committed" committed "$TOTAL"
poll 60 "the reject to be committed" rejected

run kcat "$WORK"
want kcat '^tracks/[0-9]+@[0-9]+ key [^ ]+: [0-9]+ bytes$'
run quickstart "$WORK"
want quickstart "^$TOTAL$"
run query "$WORK"
[ "$(wc -l <"$TMP/query.out")" -eq 11 ] || fail "doc block query: want a header and 10 rows"
run paths "$WORK"
want paths "^$TOTAL	"
snapshot=$(bigfather inspect --config warehouse/bigfather-dev.yaml --table music.tracks | sed -n 's/^  snapshot  \([0-9]*\),.*/\1/p')
[ -n "$snapshot" ] || fail "bigfather inspect printed no snapshot line"
want paths "^$snapshot$" # jq printed the id whole, not rounded
run rejects "$WORK"
want rejects '^wire	1	[0-9]+	'

# The README's minimal config, as written but for the ports, is a working `bigfather run`: in a
# directory of its own (so its ./warehouse is not dev's) it ingests every record dev produced,
# verify passes against Kafka, and Ctrl-C stops it with status 0.
MIN=$TMP/minimal
mkdir -p "$MIN"
config_file minimal-config "$MIN/bigfather.yaml"
RUN_MPORT=$(ci_free_ports 1)
(cd "$MIN" && exec bigfather run --config bigfather.yaml --set "metrics.addr=127.0.0.1:$RUN_MPORT") >"$TMP/minimal.log" 2>&1 &
RUN_PID=$!
minimal_committed() { (cd "$MIN" && committed "$TOTAL" bigfather.yaml); }
poll 90 "the minimal config's run to commit $TOTAL records" minimal_committed
(cd "$MIN" && bigfather verify --config bigfather.yaml --table music.tracks) || fail "verify failed on the minimal config's table"
kill -INT "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=""
[ "$rc" -eq 0 ] || fail "bigfather run on the minimal config exited $rc after Ctrl-C"

run_the_rest "$WORK"

kill -INT "$DEV_PID"
rc=0
wait "$DEV_PID" || rc=$?
DEV_PID=""
[ "$rc" -eq 0 ] || fail "bigfather dev exited $rc after Ctrl-C"
echo "doc commands OK: $(marks | awk '{print $2}' | tr '\n' ' ')"
