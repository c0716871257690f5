#!/usr/bin/env bash
# End-to-end test against a real S3 gateway (versitygw, posix backend, on 127.0.0.1).
#
#   1. build bigfather; install the DuckDB checker (npm ci) and versitygw (cached go install)
#   2. start versitygw, create the bucket, check that objects land as plain files, and run
#      the objstore acceptance suite against it
#   3. `bigfather dev --no-ingest` serves Kafka + schema registry and produces N records
#   4. `bigfather run` ingests; it is SIGKILLed once a third of N is committed
#   5. a second `bigfather run` resumes from the watermarks until they sum to N, then
#      gets SIGTERM and must exit 0
#   6. `bigfather verify` must pass, and DuckDB must read exactly N rows with no
#      (partition, offset) twice from the files of the current snapshot
#   7. faults: a second Kafka with F records, and `bigfather run` reaching versitygw only
#      through internal/tools/faultproxy, which answers 5 % of all requests 503, applies
#      30 % of the metadata PUTs and then resets the connection instead of answering (5 %
#      more are applied and answered 500), and adds latency spikes. The run must reach F with no batch fenced (a single writer
#      is never fenced: a fence here is the catalog taking its own commit for a conflict),
#      then `verify` (with direct access) and DuckDB must find exactly F rows, each once.
#
# Needs only go, node and npm. Knobs: E2E_RECORDS (default 30000), E2E_KEEP=1 keeps the
# temporary directory, E2E_TIMEOUT (seconds per ingest phase, default 180),
# E2E_FAULT_RECORDS (default 100000; 0 skips phase 7), E2E_FAULT_SEED (default 1),
# E2E_FAULT_TIMEOUT (seconds, default 300).
set -euo pipefail
exec </dev/null

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

N=${E2E_RECORDS:-30000}
PHASE_TIMEOUT=${E2E_TIMEOUT:-180}
FN=${E2E_FAULT_RECORDS:-100000}
FAULT_SEED=${E2E_FAULT_SEED:-1}
FAULT_TIMEOUT=${E2E_FAULT_TIMEOUT:-300}
VERSITYGW_VERSION=v1.8.0
BIN_CACHE=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bigfather/bin
BUCKET=bigfather-e2e
TABLE=music.tracks
TOPIC=tracks
# The config file refers to these through ${...} expansion, so the secret is never in it.
export E2E_KEY=bigfather-e2e
export E2E_SECRET="e2e-secret-$$-$RANDOM$RANDOM"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bigfather-e2e.XXXXXX")
S3ROOT=$TMP/s3
BF=$TMP/bigfather
FP=$TMP/faultproxy
CFG=$TMP/bigfather.yaml
INSPECT_OUT=$TMP/inspect.json
INSPECT_ERR=$TMP/inspect.err
STAGE=setup
PIDS=()

fail() {
  printf '\nE2E FAIL [%s]: %s\n' "$STAGE" "$*" >&2
  exit 1
}

stage() {
  STAGE=$1
  printf '\n--- e2e: %s ---\n' "$1"
}

# forget PID: drop a process we already reaped so cleanup never signals a recycled PID.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

# stop_all terminates every background process: SIGTERM, then SIGKILL after 10 s.
stop_all() {
  local p deadline=$(( $(ci_now) + 10 ))
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ "$(ci_now)" -lt "$deadline" ]; do
      sleep 0.2
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}

# term_expect_0 PID WHAT: SIGTERM a process, wait up to 60 s for it, and fail unless it
# exited 0.
term_expect_0() {
  local pid=$1 what=$2 rc=0 deadline
  kill -TERM "$pid"
  deadline=$(( $(ci_now) + 60 ))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$(ci_now)" -lt "$deadline" ] || fail "$what did not exit within 60s of SIGTERM"
    sleep 0.2
  done
  wait "$pid" || rc=$?
  forget "$pid"
  [ "$rc" -eq 0 ] || fail "$what exited $rc after SIGTERM, wanted 0"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$rc" -ne 0 ]; then
    local f
    for f in versitygw.log dev.log run1.log run2.log faultproxy.log dev-faults.log run-faults.log; do
      [ -f "$TMP/$f" ] && ci_tail "$f" "$TMP/$f" 40
    done
    [ -f "$INSPECT_OUT" ] && ci_tail "last inspect output" "$INSPECT_OUT" 40
    [ -s "$INSPECT_ERR" ] && ci_tail "last inspect stderr" "$INSPECT_ERR" 20
    printf '\nE2E-S3: FAIL at stage "%s" (exit %s)\n' "$STAGE" "$rc"
  else
    printf '\nE2E-S3: PASS (%s records, crash + restart, verify + DuckDB exactly-once; %s records under injected S3 faults)\n' "$N" "$FN"
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ensure_versitygw installs versitygw into BIN_CACHE unless the cached binary is already
# this exact version (go version -m reads the module version stamped into it).
ensure_versitygw() {
  VGW=$BIN_CACHE/versitygw
  if [ -x "$VGW" ] && go version -m "$VGW" 2>/dev/null |
    grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+${VERSITYGW_VERSION}[[:space:]]"; then
    echo "reusing cached $VGW ($VERSITYGW_VERSION)"
    return 0
  fi
  mkdir -p "$BIN_CACHE"
  echo "building versitygw $VERSITYGW_VERSION into $BIN_CACHE (a cold build takes minutes)"
  GOBIN=$BIN_CACHE go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ||
    fail "go install versitygw@$VERSITYGW_VERSION"
}

# start_versitygw [EXTRA POSIX FLAGS]: starts the gateway on SPORT and waits for it.
start_versitygw() {
  ROOT_ACCESS_KEY=$E2E_KEY ROOT_SECRET_KEY=$E2E_SECRET \
    "$VGW" --port "127.0.0.1:$SPORT" posix "$@" "$S3ROOT" >"$TMP/versitygw.log" 2>&1 &
  VGW_PID=$!
  PIDS+=("$VGW_PID")
  if ci_wait_port 127.0.0.1 "$SPORT" 60 "$VGW_PID"; then
    return 0
  fi
  wait "$VGW_PID" 2>/dev/null || true
  forget "$VGW_PID"
  return 1
}

# inspect [ARGS...]: runs `bigfather inspect --json` into INSPECT_OUT; returns its status.
inspect() {
  "$BF" inspect --config "$CFG" --table "$TABLE" --json "$@" >"$INSPECT_OUT" 2>"$INSPECT_ERR"
}

# wait_watermarks PID WHAT WANT SECS PAUSE: polls inspect every PAUSE seconds until the
# watermarks sum to WANT, checking on every sample that they never go down (check_mono) nor
# pass WANT, and that PID still runs; fails after SECS.
wait_watermarks() {
  local pid=$1 what=$2 want=$3 secs=$4 pause=$5 sum=0 deadline
  deadline=$(( $(ci_now) + secs ))
  while :; do
    kill -0 "$pid" 2>/dev/null || fail "$what exited before the watermarks reached $want"
    if inspect; then
      sum=$(wm_sum) || fail "inspect printed no watermarks JSON"
      check_mono "$sum"
      [ "$sum" -gt "$want" ] && fail "watermark sum $sum exceeds the $want records produced"
      [ "$sum" -eq "$want" ] && return 0
    fi
    [ "$(ci_now)" -lt "$deadline" ] || fail "$what: watermark sum=$sum after ${secs}s, wanted $want"
    sleep "$pause"
  done
}

# duckdb_check_current EXPECT: DuckDB reads the files of the current snapshot of TABLE
# (as `inspect --files` lists them) straight from versitygw's directory.
duckdb_check_current() {
  inspect --files || fail "bigfather inspect --files exited non-zero"
  local uris paths=() u
  mapfile -t uris < <(ci_json 'j.files' <"$INSPECT_OUT")
  [ "${#uris[@]}" -gt 0 ] || fail "inspect --files listed no data files"
  for u in "${uris[@]}"; do
    case "$u" in
      "s3://$BUCKET/"*) paths+=("$S3ROOT/$BUCKET/${u#"s3://$BUCKET/"}") ;;
      *) fail "data file $u is not in s3://$BUCKET/" ;;
    esac
  done
  echo "${#paths[@]} data files"
  node .ci/duckdb/check.mjs --expect "$1" "${paths[@]}" || fail "DuckDB check"
}

# wm_sum prints the sum of all watermarks in INSPECT_OUT.
wm_sum() {
  ci_json 'Object.values(j.watermarks || {}).flatMap((t) => Object.values(t)).reduce((a, b) => a + Number(b), 0)' <"$INSPECT_OUT"
}

committed() {
  ci_json 'Number(j.committed_records || 0)' <"$INSPECT_OUT"
}

# check_mono SUM: watermarks never go down (MONO), across the crash too.
LAST_SUM=0
check_mono() {
  if [ "$1" -lt "$LAST_SUM" ]; then
    fail "watermark sum went down from $LAST_SUM to $1 (MONO violated)"
  fi
  LAST_SUM=$1
}

# ---------------------------------------------------------------------------------------
stage "build bigfather"
go build -o "$BF" ./cmd/bigfather || fail "go build ./cmd/bigfather"
go build -o "$FP" ./internal/tools/faultproxy || fail "go build ./internal/tools/faultproxy"

stage "install DuckDB checker (npm ci)"
npm ci --prefix .ci/duckdb --no-audit --no-fund --loglevel=error || fail "npm ci --prefix .ci/duckdb"

stage "install versitygw"
ensure_versitygw

stage "start versitygw"
mapfile -t ports < <(ci_free_ports 8)
[ "${#ports[@]}" -eq 8 ] || fail "could not pick free ports"
SPORT=${ports[0]} KPORT=${ports[1]} RPORT=${ports[2]} MPORT=${ports[3]}
FPORT=${ports[4]} FKPORT=${ports[5]} FRPORT=${ports[6]} FMPORT=${ports[7]}
echo "ports: s3=$SPORT kafka=$KPORT registry=$RPORT metrics=$MPORT; faults: proxy=$FPORT kafka=$FKPORT registry=$FRPORT metrics=$FMPORT; tmp=$TMP"
mkdir -p "$S3ROOT"
if ! start_versitygw; then
  # The posix backend keeps object metadata in xattrs; where the filesystem lacks them,
  # a sidecar directory stores it instead and objects stay plain files.
  if grep -q "xattrs are not supported" "$TMP/versitygw.log"; then
    echo "filesystem has no xattrs; restarting versitygw with a metadata sidecar"
    mkdir -p "$TMP/s3meta"
    start_versitygw --sidecar "$TMP/s3meta" || fail "versitygw did not start (with sidecar)"
  else
    fail "versitygw did not start"
  fi
fi

stage "create bucket and check on-disk layout"
printf 'bigfather e2e probe %s\n' "$RANDOM$RANDOM" >"$TMP/probe.txt"
go run ./internal/tools/s3bucket -endpoint "http://127.0.0.1:$SPORT" \
  -access-key "$E2E_KEY" -secret-key "$E2E_SECRET" -bucket "$BUCKET" -wait 30s \
  -put-key _e2e/probe/probe.txt -put-file "$TMP/probe.txt" || fail "s3bucket"
# The DuckDB check reads the data files straight from the gateway's directory, which is
# only right if s3://BUCKET/KEY is the plain file S3ROOT/BUCKET/KEY.
[ -f "$S3ROOT/$BUCKET/_e2e/probe/probe.txt" ] ||
  fail "object s3://$BUCKET/_e2e/probe/probe.txt is not at $S3ROOT/$BUCKET/_e2e/probe/probe.txt"
[ "$(cat "$TMP/probe.txt")" = "$(cat "$S3ROOT/$BUCKET/_e2e/probe/probe.txt")" ] ||
  fail "object content on disk differs from what was uploaded"
echo "objects are stored as plain files under $S3ROOT/<bucket>/<key>"

stage "objstore acceptance suite against versitygw"
# The same suite the filesystem and gofakes3 pass, on a real S3 server: put-if-absent,
# multipart streaming, list, delete. Each run uses a fresh random prefix in the bucket.
BIGFATHER_TEST_S3_ENDPOINT="http://127.0.0.1:$SPORT" BIGFATHER_TEST_S3_BUCKET=$BUCKET \
  BIGFATHER_TEST_S3_REGION=us-east-1 BIGFATHER_TEST_S3_ACCESS_KEY=$E2E_KEY BIGFATHER_TEST_S3_SECRET_KEY=$E2E_SECRET \
  go test -count=1 -run '^TestS3AcceptanceServer$' -v ./objstore >"$TMP/objstore-suite.log" 2>&1 || {
  ci_tail "objstore suite" "$TMP/objstore-suite.log" 60
  fail "objstore acceptance suite against versitygw"
}
grep -q -- '^--- PASS: TestS3AcceptanceServer' "$TMP/objstore-suite.log" ||
  fail "objstore acceptance suite did not run against versitygw (skipped?)"
grep -E -- '^(--- |ok )' "$TMP/objstore-suite.log"

stage "start bigfather dev (kafka + registry + producer, no ingest)"
# --dir keeps Kafka's log and the registry in the temporary directory: the default
# ./warehouse would persist them in the checkout, and a second run would find the
# first run's records there.
"$BF" dev --no-ingest --dir "$TMP/dev" --kafka "127.0.0.1:$KPORT" --registry "127.0.0.1:$RPORT" \
  --partitions 4 --rate 3000 --total "$N" >"$TMP/dev.log" 2>&1 &
DEV_PID=$!
PIDS+=("$DEV_PID")
ci_wait_port 127.0.0.1 "$KPORT" 60 "$DEV_PID" || fail "kafka from bigfather dev did not open 127.0.0.1:$KPORT"
ci_wait_port 127.0.0.1 "$RPORT" 60 "$DEV_PID" || fail "registry from bigfather dev did not open 127.0.0.1:$RPORT"

cat >"$CFG" <<EOF
pipeline: e2e
kafka: {brokers: ["127.0.0.1:$KPORT"], start: earliest}
schema_registry: {url: "http://127.0.0.1:$RPORT"}
catalog: {type: objectstore}
warehouse:
  url: "s3://$BUCKET/wh"
  s3:
    endpoint: "http://127.0.0.1:$SPORT"
    region: us-east-1
    path_style: true
    access_key_id: "\${E2E_KEY}"
    secret_access_key: "\${E2E_SECRET}"
tables: [{topic: $TOPIC, table: $TABLE}]
flush: {max_latency: 1s, max_records: 2000}
metrics: {addr: "127.0.0.1:$MPORT"}
EOF
echo "config $CFG:"
cat "$CFG"

# ---------------------------------------------------------------------------------------
stage "run #1 until a third is committed, then SIGKILL"
"$BF" run --config "$CFG" >"$TMP/run1.log" 2>&1 &
RUN1=$!
PIDS+=("$RUN1")
third=$(( N / 3 ))
deadline=$(( $(ci_now) + PHASE_TIMEOUT ))
got=0
sum=0
while :; do
  kill -0 "$RUN1" 2>/dev/null || fail "bigfather run exited before committing $third records"
  if inspect; then
    got=$(committed) || fail "inspect printed no committed_records JSON"
    sum=$(wm_sum) || fail "inspect printed no watermarks JSON"
    check_mono "$sum"
    [ "$got" -ge "$third" ] && break
  fi
  [ "$(ci_now)" -lt "$deadline" ] ||
    fail "committed_records=$got after ${PHASE_TIMEOUT}s, wanted >= $third"
  sleep 0.2
done
kill -KILL "$RUN1" 2>/dev/null || true # it may just have exited on its own; the checks below still hold it to account
wait "$RUN1" 2>/dev/null || true
forget "$RUN1"
inspect || fail "inspect after SIGKILL"
killed_at=$(committed) || fail "inspect printed no committed_records JSON"
sum=$(wm_sum) || fail "inspect printed no watermarks JSON"
echo "SIGKILLed run #1 with committed_records=$killed_at (watermark sum $sum) of $N"
check_mono "$sum"
# A crash after everything was committed would test no recovery at all.
[ "$killed_at" -lt "$N" ] || fail "run #1 had committed all $N records before the kill: the crash was not mid-stream"

# ---------------------------------------------------------------------------------------
stage "run #2 resumes until the watermarks sum to $N"
"$BF" run --config "$CFG" >"$TMP/run2.log" 2>&1 &
RUN2=$!
PIDS+=("$RUN2")
wait_watermarks "$RUN2" "bigfather run #2" "$N" "$PHASE_TIMEOUT" 0.5
echo "watermarks reach $N: $(ci_json 'j.watermarks' <"$INSPECT_OUT")"
final_committed=$(committed) || fail "inspect printed no committed_records JSON"
[ "$final_committed" -eq "$N" ] || fail "committed_records=$final_committed, wanted $N"

# The metrics endpoint from the config must answer while the pipeline runs.
# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
node -e '
  fetch(process.argv[1]).then(async (r) => {
    const body = await r.text();
    const ours = body.split("\n").filter((l) => l.startsWith("bigfather_")).length;
    console.log(`metrics: HTTP ${r.status}, ${ours} bigfather_ sample lines`);
    process.exit(r.ok ? 0 : 1);
  }).catch((e) => { console.error(`metrics: ${e.message}`); process.exit(1); });
' "http://127.0.0.1:$MPORT/metrics" || fail "metrics endpoint 127.0.0.1:$MPORT/metrics did not answer 200"

stage "SIGTERM run #2; it must exit 0"
term_expect_0 "$RUN2" "bigfather run"
echo "run #2 exited 0"

# ---------------------------------------------------------------------------------------
stage "bigfather verify"
vrc=0
"$BF" verify --config "$CFG" --table "$TABLE" --json || vrc=$?
[ "$vrc" -eq 0 ] || fail "bigfather verify exited $vrc"

stage "DuckDB reads the current snapshot's files"
duckdb_check_current "$N"

# ---------------------------------------------------------------------------------------
# metric NAME: the sum of NAME's samples at the fault run's /metrics (0 when absent).
metric() {
  node -e '
    fetch(process.argv[1]).then(async (r) => {
      if (!r.ok) { console.error(`metrics: HTTP ${r.status}`); process.exit(1); }
      const name = process.argv[2];
      let sum = 0;
      for (const l of (await r.text()).split("\n")) {
        if (l.startsWith(name + "{") || l.startsWith(name + " ")) sum += Number(l.split(" ").pop());
      }
      console.log(sum);
    }).catch((e) => { console.error(`metrics: ${e.message}`); process.exit(1); });
  ' "http://127.0.0.1:$FMPORT/metrics" "$1"
}

if [ "$FN" -gt 0 ]; then
  stage "faults: start faultproxy in front of versitygw (seed $FAULT_SEED)"
  # Rules apply in order, the first match wins. Metadata PUTs are the catalog's commits
  # (If-None-Match: *): 30 % are applied and then lose their response, and 5 % are applied
  # and answered 500, so the SDK retries them and the retry meets our own object.
  "$FP" -listen "127.0.0.1:$FPORT" -target "http://127.0.0.1:$SPORT" -seed "$FAULT_SEED" \
    -rule 'name=metadata-put method=PUT path=/metadata/v[0-9]+\.metadata\.json$ fail=0.05 drop=0.3 fail_after=0.05 delay=0.05 delay_min=100ms delay_max=1500ms' \
    -rule 'name=other fail=0.05 delay=0.02 delay_min=100ms delay_max=1500ms' \
    >"$TMP/faultproxy.stats" 2>"$TMP/faultproxy.log" &
  FP_PID=$!
  PIDS+=("$FP_PID")
  ci_wait_port 127.0.0.1 "$FPORT" 30 "$FP_PID" || fail "faultproxy did not open 127.0.0.1:$FPORT"

  stage "faults: start a second bigfather dev with $FN records"
  "$BF" dev --no-ingest --dir "$TMP/dev-faults" --kafka "127.0.0.1:$FKPORT" --registry "127.0.0.1:$FRPORT" \
    --partitions 4 --rate 0 --total "$FN" --metrics-addr "" >"$TMP/dev-faults.log" 2>&1 &
  FDEV_PID=$!
  PIDS+=("$FDEV_PID")
  ci_wait_port 127.0.0.1 "$FKPORT" 60 "$FDEV_PID" || fail "kafka of the second bigfather dev did not open 127.0.0.1:$FKPORT"
  ci_wait_port 127.0.0.1 "$FRPORT" 60 "$FDEV_PID" || fail "registry of the second bigfather dev did not open 127.0.0.1:$FRPORT"

  # fault_config ENDPOINT METRICS: the fault phase's config, reaching S3 at ENDPOINT. The
  # run goes through the proxy; inspect and verify go straight to versitygw, so what they
  # read is not filtered by the faults being tested.
  fault_config() {
    cat <<EOF2
pipeline: e2e-faults
kafka: {brokers: ["127.0.0.1:$FKPORT"], start: earliest}
schema_registry: {url: "http://127.0.0.1:$FRPORT"}
catalog: {type: objectstore}
warehouse:
  url: "s3://$BUCKET/wh-faults"
  s3:
    endpoint: "$1"
    region: us-east-1
    path_style: true
    access_key_id: "\${E2E_KEY}"
    secret_access_key: "\${E2E_SECRET}"
tables: [{topic: $TOPIC, table: $TABLE}]
flush: {max_latency: 1s, max_records: 2000}
EOF2
    [ -n "$2" ] && echo "metrics: {addr: \"$2\"}"
    return 0
  }
  FCFG=$TMP/bigfather-faults.yaml
  fault_config "http://127.0.0.1:$FPORT" "127.0.0.1:$FMPORT" >"$FCFG"
  CFG=$TMP/bigfather-faults-direct.yaml
  fault_config "http://127.0.0.1:$SPORT" "" >"$CFG"
  echo "config $FCFG:"
  cat "$FCFG"

  stage "faults: bigfather run through the proxy until the watermarks sum to $FN"
  "$BF" run --config "$FCFG" >"$TMP/run-faults.log" 2>&1 &
  FRUN=$!
  PIDS+=("$FRUN")
  LAST_SUM=0
  started=$(ci_now)
  wait_watermarks "$FRUN" "bigfather run under faults" "$FN" "$FAULT_TIMEOUT" 1
  echo "watermarks reach $FN after $(( $(ci_now) - started ))s: $(ci_json 'j.watermarks' <"$INSPECT_OUT")"
  fenced=$(metric bigfather_commit_fenced_batches_total) || fail "metrics of the fault run did not answer"
  unknown=$(metric bigfather_commit_unknown_outcomes_total) || fail "metrics of the fault run did not answer"
  commits=$(metric bigfather_commit_total) || fail "metrics of the fault run did not answer"
  echo "commits=$commits unknown-outcomes=$unknown fenced=$fenced"
  [ "$fenced" = 0 ] || {
    grep -n 'fenced' "$TMP/run-faults.log" | head -20 >&2
    fail "$fenced batches fenced with a single writer: the catalog reported its own commit as a conflict"
  }

  stage "faults: SIGTERM the run; it must exit 0"
  term_expect_0 "$FRUN" "bigfather run under faults"

  stage "faults: the proxy really injected them"
  kill -TERM "$FP_PID"
  wait "$FP_PID" 2>/dev/null || true
  forget "$FP_PID"
  cat "$TMP/faultproxy.stats"
  meta_dropped=$(ci_json 'j["metadata-put"].dropped' <"$TMP/faultproxy.stats") || fail "no faultproxy stats"
  all_failed=$(ci_json 'j["metadata-put"].failed + j.other.failed' <"$TMP/faultproxy.stats") || fail "no faultproxy stats"
  delayed=$(ci_json 'j["metadata-put"].delayed + j.other.delayed' <"$TMP/faultproxy.stats") || fail "no faultproxy stats"
  after=$(ci_json 'j["metadata-put"].failed_after' <"$TMP/faultproxy.stats") || fail "no faultproxy stats"
  echo "metadata PUTs applied with the response lost: $meta_dropped, applied and answered 500: $after; 503s: $all_failed; latency spikes: $delayed"
  [ "$meta_dropped" -gt 0 ] && [ "$all_failed" -gt 0 ] && [ "$delayed" -gt 0 ] ||
    fail "the fault mix was not exercised (seed $FAULT_SEED): nothing was proven"

  stage "faults: bigfather verify (direct to versitygw)"
  vrc=0
  "$BF" verify --config "$CFG" --table "$TABLE" --json || vrc=$?
  [ "$vrc" -eq 0 ] || fail "bigfather verify exited $vrc after the fault run"

  stage "faults: DuckDB reads exactly $FN rows, each (partition, offset) once"
  duckdb_check_current "$FN"
fi

STAGE="done"
