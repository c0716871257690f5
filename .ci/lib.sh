# shellcheck shell=bash
# Helpers shared by .ci/run and .ci/e2e-s3.sh. Sourced, never executed.
#
# Only bash, node and go are assumed: a fresh CI machine has no curl, jq or python.

# ci_now prints seconds since the epoch.
ci_now() { date +%s; }

# ci_log prints a timestamped line to stderr so it interleaves sanely with tool output.
ci_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ci_section NAME CMD...: runs CMD under a header and prints its duration and result.
# Returns CMD's status so callers under `set -e` stop on failure. Results are appended to
# CI_RESULTS for a closing summary. CMD runs in an `||` context, where bash ignores `set -e`:
# a function passed as CMD must check its own steps (or be a single command).
CI_RESULTS=()
ci_section() {
  local name=$1
  shift
  local start rc=0
  start=$(ci_now)
  printf '\n===== %s =====\n' "$name"
  "$@" || rc=$?
  local took=$(( $(ci_now) - start ))
  if [ "$rc" -eq 0 ]; then
    printf '===== %s: OK (%ss) =====\n' "$name" "$took"
    CI_RESULTS+=("OK    ${took}s  $name")
  else
    printf '===== %s: FAILED with exit %s (%ss) =====\n' "$name" "$rc" "$took"
    CI_RESULTS+=("FAIL  ${took}s  $name (exit $rc)")
  fi
  return "$rc"
}

# ci_summary prints one line per section run so far.
ci_summary() {
  printf '\n===== summary =====\n'
  local r
  for r in "${CI_RESULTS[@]}"; do
    printf '%s\n' "$r"
  done
}

# ci_free_ports N prints N distinct free TCP ports on 127.0.0.1, one per line. All N
# listeners are held open together so the ports differ; a port can still be taken by
# someone else between here and its use, which loopback-only CI makes unlikely.
ci_free_ports() {
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const servers = [];
    const next = () => {
      if (servers.length === n) {
        console.log(servers.map((s) => s.address().port).join("\n"));
        servers.forEach((s) => s.close());
        return;
      }
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => { servers.push(s); next(); });
    };
    next();
  ' "$1"
}

# ci_wait_port HOST PORT SECONDS [PID]: waits until HOST:PORT accepts TCP connections.
# With PID, gives up early when that process has exited (its log says why).
ci_wait_port() {
  local host=$1 port=$2 secs=$3 pid=${4:-}
  local deadline=$(( $(ci_now) + secs ))
  while :; do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      ci_log "process $pid exited before $host:$port opened"
      return 1
    fi
    if [ "$(ci_now)" -ge "$deadline" ]; then
      ci_log "timed out after ${secs}s waiting for $host:$port"
      return 1
    fi
    sleep 0.2
  done
}

# ci_json EXPR: reads one JSON document on stdin and prints the JavaScript expression EXPR
# evaluated with the document bound to `j` (arrays print one element per line; objects as
# JSON). Exits non-zero when stdin is not JSON or EXPR throws.
ci_json() {
  node -e '
    let s = "";
    process.stdin.on("data", (d) => { s += d; });
    process.stdin.on("end", () => {
      const j = JSON.parse(s);
      const v = (0, eval)("(j) => (" + process.argv[1] + ")")(j);
      if (Array.isArray(v)) { for (const x of v) console.log(x); }
      else if (v !== null && typeof v === "object") { console.log(JSON.stringify(v)); }
      else { console.log(v); }
    });
  ' "$1"
}

# ci_tail NAME FILE [LINES]: prints the end of a log file under a header, for failures.
ci_tail() {
  local name=$1 file=$2 lines=${3:-40}
  printf -- '----- last %s lines of %s (%s) -----\n' "$lines" "$name" "$file" >&2
  if [ -f "$file" ]; then
    tail -n "$lines" "$file" >&2
  else
    echo "(no such file)" >&2
  fi
  printf -- '----- end of %s -----\n' "$name" >&2
}
