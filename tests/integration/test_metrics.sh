#!/usr/bin/env bash
# test_metrics.sh TBT SOURCE_ROOT - /metrics of a real agent and a real
# coordinator over `tbt broker`, parsed by Prometheus's own text parser
# (Debian's python3-prometheus-client). The system under test is the
# checkout system (Node.js services instrumented with the OpenTelemetry JS
# SDK) exporting to the agent's OTLP/HTTP receiver. Proves: every family
# parses; the agent's jobs completed equal the runs, spans ingested equal
# the spans the store holds, the trigger and job histograms count
# every run, the store gauges and the Kafka lag are there; the
# coordinator's /metrics, scraped while its campaign runs, has jobs
# published, results, live agents and the result latency histogram.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
TMP=$(mktemp -d)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
pass=0
fail=0
PIDS=()
RUNS=10

cleanup() {
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${STOP_SYS:-}" ] && "$ROOT/examples/checkout-system/stop.sh" "$TMP/sys" >/dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

check() {
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
  local until=$((SECONDS + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$until" ] && return 1
    sleep 0.1
  done
}
# the port of "metrics on http://ADDR:PORT/metrics" in a log
metrics_port() { sed -n 's|.*metrics on http://.*:\([0-9][0-9]*\)/metrics.*|\1|p' "$1" | head -1; }

for tool in curl node; do
  command -v $tool >/dev/null || { echo "test_metrics: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
  { echo "test_metrics: python3-prometheus-client is missing (scripts/setup.sh installs it)"; exit 1; }

KX=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X fetch.wait.max.ms=10)

# ---- the broker ----------------------------------------------------------------
(exec "${WRAP[@]}" "$TBTBIN" broker >"$TMP/broker.out" 2>"$TMP/broker.err") &
PIDS+=($!)
wait_for 20 test -s "$TMP/broker.out"
check "tbt broker prints its bootstrap list" $?
B=$(head -1 "$TMP/broker.out")

# ---- the system under test: the checkout system (Node.js, OpenTelemetry JS SDK),
# exporting to the agent's OTLP/HTTP receiver --------------------------------------
SYS=$ROOT/examples/checkout-system
OTLP=$(free_port)
if OTEL_BSP_SCHEDULE_DELAY=100 "$SYS/start.sh" "$TMP/sys" "http://127.0.0.1:$OTLP/v1/traces" >"$TMP/start.log" 2>&1; then
  check "the checkout system starts" 0
else
  cat "$TMP/start.log"
  check "the checkout system starts" 1
fi
STOP_SYS=1
GATEWAY=$(sed -n 's/^GATEWAY_URL=//p' "$TMP/sys/env" | tr -d "'\"")

# ---- the agent, with --metrics on a free port -------------------------------------
(exec "${WRAP[@]}" "$TBTBIN" agent -b "$B" -e metrics --agent-id metrics-1 --otlp-http "127.0.0.1:$OTLP" \
  --otlp-grpc 0 --metrics 127.0.0.1:0 --var "GATEWAY_URL=$GATEWAY" "${KX[@]}" >"$TMP/agent.log" 2>&1) &
PIDS+=($!)
AGENT=$!
has_port() { [ -n "$(metrics_port "$1")" ]; }
wait_for 60 has_port "$TMP/agent.log"
check "the agent logs its metrics port" $?
AP=$(metrics_port "$TMP/agent.log")
curl -fsS "http://127.0.0.1:$AP/healthz" >"$TMP/healthz" 2>&1 && [ "$(cat "$TMP/healthz")" = ok ]
check "the agent's /healthz answers ok" $?
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/nope")
[ "$code" = 404 ]
check "an unknown path is 404 (got $code)" $?
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "http://127.0.0.1:$AP/metrics")
[ "$code" = 405 ]
check "POST /metrics is 405 (got $code)" $?
wait_for 60 grep -q "assigned" "$TMP/agent.log"
check "the agent joined its group" $?

# ---- a campaign through the coordinator, its /metrics scraped while it runs --------
(exec "${WRAP[@]}" "$TBTBIN" run --brokers "$B" --env metrics -f "$ROOT/tests/data/run/exporters.yaml" --runs $RUNS --concurrency 1 \
  --metrics 127.0.0.1:0 --progress never -o json "${KX[@]}" >"$TMP/run.json" 2>"$TMP/run.err") &
RUN=$!
wait_for 60 has_port "$TMP/run.err"
check "the coordinator logs its metrics port" $?
CP=$(metrics_port "$TMP/run.err")
# a scrape taken once a result is in (the run is still going: runs are serial)
scraped_result() {
  curl -fsS "http://127.0.0.1:$CP/metrics" >"$TMP/coord.prom" &&
    grep -q '^tbt_coordinator_results_total{environment="metrics",status="passed"} [1-9]' "$TMP/coord.prom"
}
wait_for 60 scraped_result
check "the coordinator's /metrics is scraped while the campaign runs" $?
wait "$RUN"
rc=$?
[ $rc -eq 0 ] || cat "$TMP/run.json" "$TMP/run.err"
check "the $RUNS-run campaign passes" $rc

cat >"$TMP/check.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
def load(path):
    fams = {}
    for f in text_string_to_metric_families(open(path).read()):
        assert f.name not in fams, "family twice: " + f.name
        fams[f.name] = f
    return fams
def samples(fams, sample_name, **labels):
    out = []
    for f in fams.values():
        for s in f.samples:
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
                out.append(s.value)
    return out
def one(fams, name, **labels):
    v = samples(fams, name, **labels)
    assert len(v) == 1, "%s%s: %r" % (name, labels, v)
    return v[0]
what, path = sys.argv[1], sys.argv[2]
fams = load(path)
assert one(fams, "process_start_time_seconds") > 1e9
assert samples(fams, "tbt_build_info") == [1.0]
if what == "agent":
    runs = int(sys.argv[3])
    env = {"environment": "metrics"}
    assert one(fams, "tbt_agent_jobs_received_total", **env) == runs
    assert one(fams, "tbt_agent_jobs_completed_total", status="passed", **env) == runs
    for st in ("failed", "error", "skipped"):
        assert one(fams, "tbt_agent_jobs_completed_total", status=st, **env) == 0
    assert one(fams, "tbt_agent_jobs_in_flight") == 0
    ingested = one(fams, "tbt_spans_ingested_total", receiver="http")
    assert ingested >= 5 * runs, ingested  # gateway, order, payment, database spans per checkout
    assert one(fams, "tbt_spans_ingested_total", receiver="grpc") == 0
    assert fams["tbt_trigger_duration_seconds"].type == "histogram"
    assert one(fams, "tbt_trigger_duration_seconds_count", trigger="http") == runs
    assert one(fams, "tbt_trigger_duration_seconds_bucket", trigger="http", le="+Inf") == runs
    assert one(fams, "tbt_trigger_duration_seconds_sum", trigger="http") > 0
    assert one(fams, "tbt_job_duration_seconds_count") == runs
    for g in ("tbt_store_bytes", "tbt_store_spans", "tbt_store_traces", "tbt_store_watched_traces",
              "tbt_store_limit_bytes"):
        assert fams[g].type == "gauge", g
        one(fams, g)
    assert one(fams, "tbt_store_spans") == ingested  # all retained: finished traces stay 120 s
    assert one(fams, "tbt_store_watched_traces") == 0
    assert one(fams, "tbt_store_limit_bytes") > 0
    assert fams["tbt_store_evicted_traces"].type == "counter"
    lag = samples(fams, "tbt_kafka_consumer_lag", topic="tbt.jobs.metrics")
    assert lag and all(v >= 0 for v in lag), lag
    print("  agent: %d jobs passed, %d spans, trigger p-sum %.3fs, lag over %d partitions" % (
        runs, one(fams, "tbt_spans_ingested_total", receiver="http"),
        one(fams, "tbt_trigger_duration_seconds_sum", trigger="http"), len(lag)))
else:
    env = {"environment": "metrics"}
    assert one(fams, "tbt_coordinator_jobs_published_total", **env) >= 1
    assert one(fams, "tbt_coordinator_results_total", status="passed", **env) >= 1
    assert one(fams, "tbt_coordinator_agents_alive", **env) >= 1
    assert one(fams, "tbt_coordinator_job_timeouts_total", **env) == 0
    assert one(fams, "tbt_coordinator_duplicate_results_total") == 0
    one(fams, "tbt_coordinator_jobs_in_flight", **env)
    assert fams["tbt_coordinator_result_latency_seconds"].type == "histogram"
    assert one(fams, "tbt_coordinator_result_latency_seconds_count") >= 1
    print("  coordinator (mid-run): %d published, %d results" % (
        one(fams, "tbt_coordinator_jobs_published_total", **env),
        one(fams, "tbt_coordinator_results_total", status="passed", **env)))
PY
"$PY" "$TMP/check.py" coordinator "$TMP/coord.prom"
rc=$?
[ $rc -eq 0 ] || cat "$TMP/coord.prom"
check "the coordinator's /metrics parses with Prometheus's parser and has its families" $rc

# the agent counts a job when Kafka acknowledges its result, which may
# come a moment after the coordinator read it: wait for the count
agent_done() {
  curl -fsS "http://127.0.0.1:$AP/metrics" >"$TMP/agent.prom" &&
    grep -q "^tbt_agent_jobs_completed_total{environment=\"metrics\",status=\"passed\"} $RUNS\$" "$TMP/agent.prom" &&
    grep -q '^tbt_kafka_consumer_lag{' "$TMP/agent.prom"
}
wait_for 30 agent_done
check "the agent's /metrics counts $RUNS completed jobs and has the Kafka lag" $?
curl -fsS -D "$TMP/agent.hdr" -o "$TMP/agent.prom" "http://127.0.0.1:$AP/metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$TMP/agent.hdr"
check "the agent's /metrics has the 0.0.4 content type" $?
"$PY" "$TMP/check.py" agent "$TMP/agent.prom" "$RUNS"
rc=$?
[ $rc -eq 0 ] || cat "$TMP/agent.prom"
check "the agent's /metrics parses with Prometheus's parser: jobs, spans, histograms, store, lag" $rc

kill -TERM "$AGENT"
wait "$AGENT"
check "the agent stops cleanly on SIGTERM" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
