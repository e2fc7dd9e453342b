#!/usr/bin/env bash
# test_distributed.sh TBT SOURCE_ROOT - tbt over Kafka with real processes:
# an embedded Kafka-protocol broker (tbt broker), two environments with two
# agents each, a checkout system per environment exporting its spans to the
# *second* agent of its environment only, and the coordinator (tbt run
# --brokers). Proves: every test runs in every environment with one report
# row each; a job fired by the agent that receives no span still sees its
# trace (the span relay over Kafka); kill -9 of an agent during a
# 1,000-run campaign loses no result and counts none twice; a poison job is
# dead-lettered and the agent keeps going; an environment without an agent
# is a clear error, not a hang.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
SYS=$ROOT/examples/checkout-system
EX=$ROOT/examples
TMP=$(mktemp -d)
pass=0
fail=0
PIDS=()

cleanup() {
  # agents before the broker: they leave their groups cleanly
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  for e in eu us; do "$SYS/stop.sh" "$TMP/sys-$e" >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

check() {
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
has() { grep -qF -- "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
  local until=$((SECONDS + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$until" ] && return 1
    sleep 0.2
  done
}

for tool in node curl python3 kcat; do
  command -v $tool >/dev/null || { echo "test_distributed: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done

# Tests set the group timeouts low: the mock cluster only notices a killed
# member after session.timeout.ms (see docs/distributed.md).
KX=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X max.poll.interval.ms=10000 -X fetch.wait.max.ms=10)

# ---- the broker ---------------------------------------------------------------
(exec "${WRAP[@]}" "$TBTBIN" broker >"$TMP/broker.out" 2>"$TMP/broker.err") &
PIDS+=($!)
wait_for 20 test -s "$TMP/broker.out"
check "tbt broker prints its bootstrap list" $?
B=$(head -1 "$TMP/broker.out")

# ---- a checkout system per environment, exporting to the second agent -------
declare -A HTTP GATEWAY
for e in eu us; do
  HTTP[$e-1]=$(free_port)
  HTTP[$e-2]=$(free_port)
  if OTEL_BSP_SCHEDULE_DELAY=100 "$SYS/start.sh" "$TMP/sys-$e" "http://127.0.0.1:${HTTP[$e-2]}/v1/traces" \
    >"$TMP/start-$e.log" 2>&1; then
    GATEWAY[$e]=$(sed -n 's/^GATEWAY_URL=//p' "$TMP/sys-$e/env" | tr -d "'\"")
    check "checkout system for $e starts" 0
  else
    cat "$TMP/start-$e.log"
    check "checkout system for $e starts" 1
  fi
done

start_agent() { # ENV N [extra args]
  local e=$1 n=$2
  shift 2
  # exec: $! is the agent itself, so signals (kill -9 below) reach it
  (exec "${WRAP[@]}" "$TBTBIN" agent -b "$B" -e "$e" --agent-id "$e-$n" --otlp-http "127.0.0.1:${HTTP[$e-$n]:-0}" \
    --otlp-grpc 0 --var "GATEWAY_URL=${GATEWAY[$e]:-http://127.0.0.1:9}" "${KX[@]}" "$@" \
    >"$TMP/agent-$e-$n.log" 2>&1) &
  PIDS+=($!)
  eval "AGENT_${e}_$n=$!"
}
for e in eu us; do
  start_agent "$e" 1
  start_agent "$e" 2
done
assigned() { grep -q "assigned" "$TMP/agent-$1.log"; }
ok=0
for a in eu-1 eu-2 us-1 us-2; do wait_for 60 assigned "$a" || ok=1; done
check "four agents joined their environments' groups" $ok

# ---- one run, every environment, one row each ----------------------------------
tbt run --brokers "$B" --env eu,us -f "$ROOT/tests/data/run/exporters.yaml" "${KX[@]:6}" \
  >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/out" "$TMP/err"; }
check "tbt run --env eu,us passes in both environments" $rc
grep -q "\[eu\]" "$TMP/out" && grep -q "\[us\]" "$TMP/out" && has "2 tests: 2 passed" "$TMP/out"
rc=$?
[ $rc -eq 0 ] || cat "$TMP/out"
check "the report has a row per environment" $rc

# ---- the HTML report and the analyzer through Kafka: agents ship the trace
# view and the lint verdict in their results ------------------------------------------
tbt run --brokers "$B" --env eu,us -f "$ROOT/tests/data/run/exporters.yaml" "${KX[@]:6}" \
  --report "$TMP/report.html" --required-gates test-specs,analyzer-score -o json >"$TMP/rep.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/rep.json" "$TMP/err"; }
check "tbt run --report --required-gates over the cluster passes" $rc
python3 - "$TMP/report.html" "$TMP/rep.json" <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
rep = json.load(open(sys.argv[2]))
assert rep["gates"]["required"] == ["test-specs", "analyzer-score"], rep.get("gates")
for t in rep["tests"]:
    assert t["analyzer"]["score"] > 0 and len(t["analyzer"]["rules"]) == 7, t.get("analyzer")
views = re.findall(r'<script type="application/json" id="tbt-view-(\d+)">(.*?)</script>', html, re.S)
assert len(views) == 2, len(views)
for _, v in views:
    v = json.loads(v)
    names = {v["strings"][s[2]] for s in v["spans"]}
    assert v["spanCount"] >= 5 and "process payment" in names, (v["spanCount"], names)
    assert "payment-service" in v["strings"], "service names travel"
PY
check "the report holds each environment's trace (from the agents, over Kafka) and the analyzer's verdict" $?

# ---- the messages on the wire match their documented schemas (proto/*.schema.json)
kcat -C -b "$B" -t tbt.jobs.eu -o beginning -e -q >"$TMP/jobs.jsonl" 2>/dev/null
kcat -C -b "$B" -t tbt.results -o beginning -e -q >"$TMP/results.jsonl" 2>/dev/null
/usr/bin/python3 - "$ROOT/proto" "$TMP/jobs.jsonl" "$TMP/results.jsonl" <<'PY'
import json, sys
from jsonschema import Draft202012Validator
root, jobs, results = sys.argv[1:4]
bad = 0
for schema, path, kind in (("job.schema.json", jobs, "job"), ("result.schema.json", results, "result")):
    v = Draft202012Validator(json.load(open(f"{root}/{schema}")))
    msgs = [json.loads(l) for l in open(path) if l.strip()]
    assert msgs, f"no {kind} message read"
    for m in msgs:
        for e in v.iter_errors(m):
            bad += 1
            print(f"{kind}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    if kind == "job":
        assert any("want" in m for m in msgs), "the --report run's jobs ask for views and lint"
    else:
        assert any("traceView" in m["test"] and "analyzer" in m["test"] for m in msgs)
    print(f"  {len(msgs)} {kind} messages checked")
sys.exit(1 if bad else 0)
PY
check "jobs and results on the wire match proto/job.schema.json and proto/result.schema.json" $?

# ---- a small campaign per environment: jobs land on both agents -------------------
tbt run --brokers "$B" --env eu,us -f "$ROOT/tests/data/run/exporters.yaml" --runs 8 --concurrency 2 \
  -o json "${KX[@]:6}" >"$TMP/camp.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/camp.json" "$TMP/err"; }
check "an 8-run campaign passes in both environments" $rc
python3 - "$TMP/camp.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = {r["environment"]: r for r in d["campaign"]}
assert set(rows) == {"eu", "us"}, rows.keys()
for r in rows.values():
    assert r["runs"] == 8 and r["passedRuns"] == 8, r
    assert r["traceDuration"]["count"] == 8 and r["traceDuration"]["p50"] > 0, r["traceDuration"]
    assert r["verdictLatency"]["count"] == 8, r["verdictLatency"]
PY
check "campaign JSON: 8 runs per environment, trace durations and verdict latencies" $?

# ---- poison: a record that is not a job is dead-lettered ---------------------------
printf 'this is not a job' | kcat -P -b "$B" -t tbt.jobs.eu -k poison 2>"$TMP/kcat.err"
wait_for 20 grep -q "dead-lettered" "$TMP/agent-eu-1.log" "$TMP/agent-eu-2.log"
check "the poison record is logged as dead-lettered" $?
kcat -C -b "$B" -t tbt.dead-letter -o beginning -e -f '%s|%h\n' >"$TMP/dead" 2>/dev/null
has "this is not a job|" "$TMP/dead" && has "tbt-error=" "$TMP/dead"
check "the poison record is on tbt.dead-letter with its error" $?
tbt run --brokers "$B" --env eu -f "$ROOT/tests/data/run/exporters.yaml" "${KX[@]:6}" >"$TMP/out" 2>&1
check "the environment keeps running jobs after the poison record" $?

# ---- no agent: a clear error naming the environment -----------------------------------
tbt run --brokers "$B" --env nowhere -f "$EX/checkout.yaml" --agent-wait 2s >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && has "no agent alive in environment 'nowhere'" "$TMP/err"
check "an environment without an agent is an error naming it (exit $rc)" $?

# ---- the relay: the first agents received no span, yet their jobs passed ---------------
for e in eu us; do
  eval "kill -TERM \$AGENT_${e}_1 \$AGENT_${e}_2"
done
for e in eu us; do
  eval "wait \$AGENT_${e}_1 \$AGENT_${e}_2"
done
ok=0
for e in eu us; do
  in=$(sed -n 's/.*relay [0-9]* out, \([0-9]*\) in.*/\1/p' "$TMP/agent-$e-1.log")
  out=$(sed -n 's/.*relay \([0-9]*\) out.*/\1/p' "$TMP/agent-$e-2.log")
  jobs=$(sed -n 's/.*signal [0-9]*: \([0-9]*\) jobs.*/\1/p' "$TMP/agent-$e-1.log")
  echo "  $e-1 ran $jobs jobs and took $in relayed batches; $e-2 relayed $out"
  { [ "${jobs:-0}" -gt 0 ] && [ "${in:-0}" -gt 0 ] && [ "${out:-0}" -gt 0 ]; } || ok=1
done
check "agents that received no span ran jobs on spans relayed over Kafka" $ok

# ---- kill -9 during a 1,000-run campaign: none lost, none twice -------------------------
SLOW=$(free_port)
python3 - "$SLOW" >"$TMP/slow.log" 2>&1 <<'PY' &
import sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.02)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)
wait_for 20 curl -fsS "http://127.0.0.1:$SLOW/"
cat >"$TMP/slow.yaml" <<EOF
type: Test
spec:
  id: slow
  name: slow endpoint
  trigger:
    type: http
    httpRequest:
      method: GET
      url: http://127.0.0.1:$SLOW/
  skipTraceCollection: true
  specs:
    - selector: span[name="Tracetest trigger"]
      assertions:
        - attr:tracetest.response.status = 200
EOF
HTTP[load-1]=0
HTTP[load-2]=0
start_agent load 1 --concurrency 8
start_agent load 2 --concurrency 8
ok=0
for a in load-1 load-2; do wait_for 60 assigned "$a" || ok=1; done
check "two load agents joined" $ok
tbt run --brokers "$B" --env load -f "$TMP/slow.yaml" --runs 1000 --concurrency 16 --rate 200 -o json "${KX[@]:6}" \
  >"$TMP/load.json" 2>"$TMP/load.err" &
RUN=$!
ran() { [ "$(grep -c . "$TMP/agent-load-1.log")" -ge 1 ] && sleep 1.5; }
wait_for 30 ran
kill -9 "$AGENT_load_1"
wait "$RUN"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/load.json" "$TMP/load.err"; }
check "the campaign completes after kill -9 of an agent" $rc
python3 - "$TMP/load.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["campaign"][0]
print("  kill -9: runs %d, passed %d, errors %d, duplicates dropped %d" % (r["runs"], r["passedRuns"], r["errorRuns"], r["duplicates"]))
assert r["runs"] == 1000 and r["passedRuns"] == 1000, r
PY
check "exactly 1,000 results counted, all passed, none twice" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
