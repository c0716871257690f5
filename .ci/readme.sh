#!/usr/bin/env bash
# readme.sh runs the README's own shell blocks, as written, on a fresh short `bigfather dev`:
# install, kcat, the quick start, querying and the rejects examples. A block is one marked in
# README.md with an HTML comment on the line before its ```sh fence:
#
#   <!-- readme-test: NAME -->
#
# Each block runs with `bash -euo pipefail` and must exit 0; the checks below then read its
# output. Only the addresses are changed: the README's 127.0.0.1:9092 and :8081 become free
# ports, so a run never clashes with another dev on the machine. The install block runs in the
# checkout with GOBIN pointing into a temp directory, so no installed bigfather is replaced.
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
TOTAL=3000

fail() {
  ci_log "FAILED: $*"
  ci_tail "bigfather dev" "$TMP/dev.log" 30
  exit 1
}

cleanup() {
  local rc=$?
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

# block NAME prints the README block marked NAME, its fence's indentation removed.
block() {
  awk -v name="$1" '
    $0 ~ "^[ \t]*<!-- readme-test: " name " -->[ \t]*$" { want = 1; next }
    want == 1 && /^[ \t]*```sh[ \t]*$/ { match($0, /^[ \t]*/); indent = RLENGTH; want = 2; found = 1; next }
    want == 1 { exit 1 }
    want == 2 && /^[ \t]*```[ \t]*$/ { exit 0 }
    want == 2 { print substr($0, indent + 1) }
    END { if (!found) exit 1 }
  ' README.md
}

# run NAME DIR: runs the README block NAME in DIR with the dev's ports; its output is in
# $TMP/NAME.out (and on stdout).
run() {
  local name=$1 dir=$2 text
  text=$(cd "$REPO" && block "$name") || fail "README.md has no block marked <!-- readme-test: $name --> before a \`\`\`sh fence"
  [ -n "$text" ] || fail "README block $name is empty"
  text=$(printf '%s\n' "$text" | sed -e "s/127\.0\.0\.1:9092/127.0.0.1:$KPORT/g" -e "s/127\.0\.0\.1:8081/127.0.0.1:$RPORT/g")
  printf -- '--- README block %s (in %s):\n%s\n---\n' "$name" "$dir" "$text"
  (cd "$dir" && bash -euo pipefail -c "$text") >"$TMP/$name.out" || {
    cat "$TMP/$name.out"
    fail "README block $name exited non-zero"
  }
  cat "$TMP/$name.out"
}

# want NAME REGEX: the output of block NAME has a line matching REGEX (grep -E).
want() {
  grep -Eq -- "$2" "$TMP/$1.out" || fail "README block $1: no line matches /$2/"
}

# poll SECONDS WHAT CMD...: runs CMD until it succeeds.
poll() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(( $(ci_now) + secs ))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$DEV_PID" 2>/dev/null || fail "bigfather dev exited while waiting for $what"
    [ "$(ci_now)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

committed() {
  local n
  n=$(bigfather inspect --config warehouse/bigfather-dev.yaml --table music.tracks --json 2>/dev/null \
    | ci_json 'Number(j.committed_records)') || return 1
  [ "$n" -ge "$1" ]
}

rejected() {
  local n
  n=$(bigfather query --config warehouse/bigfather-dev.yaml --table music.tracks__rejects --json \
    "SELECT count(*) AS n FROM music.tracks__rejects" | ci_json 'Number(j.n)') || return 1
  [ "$n" -ge 1 ]
}

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
[ "$(wc -l <"$TMP/query.out")" -eq 11 ] || fail "README block query: want a header and 10 rows"
run paths "$WORK"
want paths "^$TOTAL	"
snapshot=$(bigfather inspect --config warehouse/bigfather-dev.yaml --table music.tracks | sed -n 's/^  snapshot  \([0-9]*\),.*/\1/p')
[ -n "$snapshot" ] || fail "bigfather inspect printed no snapshot line"
want paths "^$snapshot$" # jq printed the id whole, not rounded
run rejects "$WORK"
want rejects '^wire	1	[0-9]+	'

kill -INT "$DEV_PID"
rc=0
wait "$DEV_PID" || rc=$?
DEV_PID=""
[ "$rc" -eq 0 ] || fail "bigfather dev exited $rc after Ctrl-C"
echo "README commands OK"
