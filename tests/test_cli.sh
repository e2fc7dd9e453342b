#!/usr/bin/env bash
# test_cli.sh TBT SOURCE_ROOT - the tbt binary end to end: exit codes,
# pretty/JSON/JUnit outputs, errors with positions, suites and variables.
set -u
TBTBIN=$1
ROOT=$2
# Under `meson test --setup=valgrind`, TBT_WRAPPER runs every tbt call under valgrind
# (exit 99 on a memory error, which no check expects).
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
EX=$ROOT/examples
DATA=$ROOT/tests/data/cli
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

check() { # name, condition result
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
run() { # expected-exit, then the command; output in $TMP/out and $TMP/err
  local want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "--- exit $got, wanted $want: $*"; cat "$TMP/out" "$TMP/err"
    return 1
  fi
  return 0
}
has() { grep -qF -- "$1" "$2"; }

run 0 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "healthy trace passes" $?
has "✔ Checkout places an order and charges the card (trace id: 0af7651916cd43dd8448eb211c80319c)" "$TMP/out"
check "pretty output names the test and trace id" $?

run 2 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json" --junit "$TMP/j.xml"
check "buggy trace fails with exit 2" $?
has "✘ attr:tracetest.selected_spans.count = 1" "$TMP/out" && has "process payment (payment-service): 2" "$TMP/out"
check "the double charge is shown with its observed count" $?
has "pg.query:INSERT shop (order-service): 75ms" "$TMP/out"
check "the slow INSERT is shown with its duration" $?
has 'failures="3"' "$TMP/j.xml" && has '<failure type="attr:tracetest.span.duration &lt; 50ms" message="75ms"/>' "$TMP/j.xml"
check "JUnit report written with the failures" $?

run 2 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json" -o json
check "json output exits 2" $?
python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tests"][0]
assert d["passed"] is False and t["status"] == "failed", d
specs = t["specs"]
assert [s["passed"] for s in specs] == [True, False, True, False], specs
a = specs[1]["assertions"][1]
assert a["assertion"] == "attr:tracetest.selected_spans.count = 1" and len(a["spans"]) == 2
assert all(s["observed"] == "2" and s["error"] is None for s in a["spans"])
assert t["outputs"][0] == {"name": "ORDER_ID", "value": "ord-7f3a"}, t["outputs"]
PY
check "json output has the documented shape and values" $?

run 0 tbt eval -f "$EX/traces/../checkout.yaml" --trace "$ROOT/tests/data/checkout.otlp.pb" -o json
rc=$?
# the protobuf fixture is a different trace: it must decode and be evaluated (pass or fail), not error
if [ $rc -ne 0 ]; then grep -q '"status"' "$TMP/out"; rc=$?; fi
check "protobuf trace accepted by content" $rc

run 3 tbt eval -f "$TMP/missing.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "missing definition exits 3" $?
has "missing.yaml: No such file or directory" "$TMP/err"
check "missing file is named" $?

cat >"$TMP/bad.yaml" <<'YAML'
type: Test
spec:
  id: bad
  name: bad
  trigger:
    type: http
    httpRequest:
      url: http://localhost/
  specs:
    - selector: span[name="x"] span[name=]
      assertions:
        - attr:x = = 1
YAML
run 1 tbt eval -f "$TMP/bad.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "bad definitions exit 1" $?
has "bad.yaml:10:42: invalid selector: expected a value after '='" "$TMP/err" && has "bad.yaml:12:20: invalid assertion:" "$TMP/err"
check "every bad selector and assertion is reported at file:line:col" $?
has "2 errors in the definitions; nothing was run" "$TMP/err"
check "error count reported" $?

printf 'not a trace' >"$TMP/t.bin"
run 1 tbt eval -f "$EX/checkout.yaml" --trace "$TMP/t.bin"
check "garbage trace exits 1" $?
has "invalid OTLP protobuf" "$TMP/err"
check "garbage trace explained" $?

printf '{"resourceSpans": [' >"$TMP/t.json"
run 1 tbt eval -f "$EX/checkout.yaml" --trace "$TMP/t.json"
check "truncated JSON trace exits 1" $?

run 0 tbt eval -f "$DATA/suite.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" -v
check "suite evaluated step by step, outputs flow to later steps" $?
has "Suite: Order flows into payment" "$TMP/out"
check "suite header shown" $?

run 0 tbt eval -f "$DATA/uses-vars.yaml" --vars "$DATA/vars.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "--vars VariableSet feeds var:" $?
run 2 tbt eval -f "$DATA/uses-vars.yaml" --vars "$DATA/vars.yaml" --var MAX_DB=1ms --trace "$EX/traces/checkout-healthy.otlp.json"
check "--var overrides --vars" $?
run 2 tbt eval -f "$DATA/uses-vars.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "undefined variable fails the spec" $?
has "variable 'CURRENCY' is not defined" "$TMP/out"
check "undefined variable named" $?

run 0 tbt eval --help
check "--help exits 0" $?
has "--trace FILE" "$TMP/out"
check "--help lists options" $?
run 1 tbt eval --bogus
check "unknown option exits 1" $?
run 1 tbt eval -f "$EX/checkout.yaml"
check "missing --trace exits 1" $?
run 1 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" -o xml
check "unknown output format exits 1" $?
run 1 tbt frobnicate
check "unknown command exits 1" $?
run 0 tbt --version
check "--version" $?
has "tbt " "$TMP/out"
check "--version prints the version" $?

NO_COLOR=1 run 2 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json" --color always
check "--color always" $?
grep -q $'\033\[' "$TMP/out"
check "--color always colours" $?
run 2 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json"
! grep -q $'\033\[' "$TMP/out"
check "no colour when not a terminal" $?

# ---- tbt broker: the embedded Kafka-protocol broker ----------------------------------
"${WRAP[@]}" "$TBTBIN" broker --brokers-count 2 --topic orders:6 >"$TMP/broker.out" 2>"$TMP/broker.err" &
BPID=$!
for _ in $(seq 300); do [ -s "$TMP/broker.out" ] && break; sleep 0.05; done
boot=$(head -1 "$TMP/broker.out")
echo "$boot" | grep -Eq '^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+)*$'
check "tbt broker prints its bootstrap list first" $?
kcat -b "$boot" -L -t orders -m 10 >"$TMP/meta" 2>&1 && grep -q "6 partitions" "$TMP/meta"
check "the broker answers Kafka metadata requests, with the topic created" $?
echo "hello" | kcat -b "$boot" -P -t orders -p 3 -m 10 >/dev/null 2>&1 &&
  kcat -b "$boot" -C -t orders -p 3 -o beginning -c 1 -e -m 10 2>/dev/null | grep -q hello
check "a message produced to the broker can be consumed" $?
# an agent against it, logging JSON lines; SIGTERM stops it cleanly
("${WRAP[@]}" "$TBTBIN" agent -b "$boot" -e logs --log-format json --otlp-http 0 --otlp-grpc 0 \
  -X session.timeout.ms=6000 2>"$TMP/agent.log") &
APID=$!
for _ in $(seq 300); do grep -q "taking jobs" "$TMP/agent.log" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$APID"
wait "$APID"
check "tbt agent stops cleanly on SIGTERM (exit 0)" $?
python3 - "$TMP/agent.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) >= 3, lines
for l in lines:
    assert set(l) == {"ts", "level", "agent", "environment", "msg"} and l["environment"] == "logs", l
assert any(l["msg"].startswith("taking jobs from tbt.jobs.logs") for l in lines), lines
assert any(l["msg"].startswith("stopping on signal 15: 0 jobs") for l in lines), lines
PY
check "tbt agent --log-format json writes one JSON object per line" $?
kill "$BPID"
wait "$BPID"
check "tbt broker stops cleanly on SIGTERM" $?

# ---- distributed: flags, the Campaign resource, the embedded broker and agent -------
CAMP=$ROOT/tests/data/campaign
run 1 tbt agent -e eu
check "tbt agent needs --brokers (exit 1)" $?
has "--brokers and --environment are required" "$TMP/err"
check "tbt agent says what is missing" $?
run 1 tbt agent -b 127.0.0.1:9 -e "eu west"
check "an environment name that cannot be a topic is refused" $?
has "only letters, digits" "$TMP/err"
check "the environment error says what is allowed" $?
run 1 tbt run -f "$CAMP/noop.yaml" --runs 0
check "--runs 0 is refused" $?
run 1 tbt run -f "$CAMP/noop.yaml" --rate fast
check "--rate fast is refused" $?
has "--rate takes runs per second" "$TMP/err"
check "the --rate error shows the form" $?
run 1 tbt run -f "$CAMP/noop.yaml" --threshold "p95(trace.duraton) < 3s"
check "a misspelt threshold is refused" $?
has "column 5: unknown series 'trace.duraton'" "$TMP/err"
check "the threshold error names the column and the series" $?
run 1 tbt run -f "$CAMP/noop.yaml" -X plugin.library.paths=/tmp/x.so
check "a code-loading Kafka setting is refused" $?
has "loads code" "$TMP/err"
check "the refusal says why" $?
run 1 tbt run -f "$CAMP/noop.yaml" -X no.such.property=1 --otlp-http 0 --otlp-grpc 0
check "an unknown Kafka setting is an error" $?
has "no.such.property" "$TMP/err"
check "the unknown Kafka setting is named" $?
run 0 tbt run -f "$CAMP/noop.yaml" --otlp-http 0 --otlp-grpc 0 --env eu,us
check "the embedded path runs a test in two environments" $?
has "no I/O [eu]" "$TMP/out" && has "no I/O [us]" "$TMP/out" && has "2 tests: 2 passed" "$TMP/out"
check "one row per environment" $?
run 0 tbt run -f "$CAMP/campaign.yaml" --otlp-http 0 --otlp-grpc 0 -o json
check "a Campaign resource runs and passes its thresholds" $?
python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["campaign"][0]
assert d["passed"] is True and r["runs"] == 50 and r["passedRuns"] == 50 and r["passRatio"] == 1, r
assert r["verdictLatency"]["count"] == 50 and r["verdictLatency"]["p99"] >= r["verdictLatency"]["p50"] > 0, r
assert [t["passed"] for t in r["thresholds"]] == [True, True], r["thresholds"]
assert sum(b[2] for b in r["verdictLatency"]["histogram"]["buckets"]) == 50
PY
check "campaign JSON: runs, pass ratio, percentiles, histogram buckets, thresholds" $?
run 2 tbt run -f "$CAMP/strict.yaml" -f "$CAMP/noop.yaml" --otlp-http 0 --otlp-grpc 0 --junit "$TMP/camp.xml"
check "a threshold that does not hold fails the campaign (exit 2)" $?
has "✘ runs >= 1000 (observed 10)" "$TMP/out" && has "CAMPAIGN FAILED" "$TMP/out"
check "the failing threshold is shown with the observed value" $?
has '<failure message="10 runs, 10 passed, 0 failed, 0 errors; runs &gt;= 1000 (observed 10)"' "$TMP/camp.xml"
check "the campaign JUnit report carries the failed threshold" $?
run 0 tbt run -f "$CAMP/strict.yaml" -f "$CAMP/noop.yaml" --otlp-http 0 --otlp-grpc 0 --threshold "pass_ratio >= 1"
check "--threshold replaces the resource's thresholds" $?
run 1 tbt run -f "$CAMP/bad.yaml"
check "a bad Campaign is an error (exit 1)" $?
has "bad.yaml:5:9: campaign rate: expected a positive number of runs per second" "$TMP/err"
check "the Campaign error has file:line:col" $?

# ---- required gates and the analyzer in runs (docs/analyzer.md) -------------------
AN=$ROOT/tests/data/analyzer
run 0 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json" --required-gates analyzer-score
check "failing specs pass the run when test-specs is not a required gate (exit 0)" $?
has "failing specs do not decide the verdict" "$TMP/out" && has "analyzer: score 73/100" "$TMP/out"
check "the report says why failing specs did not fail the run, and shows the score" $?
run 2 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" \
  --required-gates test-specs,analyzer-rules --junit "$TMP/gates.xml"
check "a failing analyzer rule fails the run when analyzer-rules is required (exit 2)" $?
has "required gates test-specs,analyzer-rules: 1 test failed them" "$TMP/out"
check "the summary names the gates that failed" $?
has 'name="Checkout places an order and charges the card / analyzer"' "$TMP/gates.xml" &&
  has '<failure type="security/secure-https-protocol"' "$TMP/gates.xml"
check "JUnit has an analyzer testsuite with the failing rule" $?
run 2 tbt eval -f "$EX/checkout.yaml" -f "$AN/analyzer-strict.yaml" -f "$AN/testrunner-score.yaml" \
  --trace "$EX/traces/checkout-healthy.otlp.json" -o json
check "an Analyzer's minimumScore with a TestRunner's analyzer-score gate fails a low score (exit 2)" $?
python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = d["tests"][0]["analyzer"]
assert d["gates"] == {"required": ["test-specs", "analyzer-score"], "passed": False}, d["gates"]
assert a["minimumScore"] == 90 and a["scorePassed"] is False and a["score"] < 90, a
r = [x for x in a["rules"] if x["id"] == "secure-https-protocol"][0]
assert r["level"] == "warning" and r["passed"] is False and r["findingsTotal"] == 2, r
PY
check "the JSON report carries the analyzer's verdict and the gates" $?
run 0 tbt eval -f "$EX/checkout.yaml" -f "$AN/analyzer-strict.yaml" -f "$AN/testrunner-score.yaml" \
  --trace "$EX/traces/checkout-healthy.otlp.json" --required-gates test-specs
check "--required-gates wins over the TestRunner resource" $?
run 0 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
! has "analyzer:" "$TMP/out"
check "without an Analyzer resource or gate the analyzer does not run" $?
run 1 tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" --required-gates specs
check "an unknown gate is refused (exit 1)" $?
has "unknown gate 'specs' (valid gates: test-specs, analyzer-score, analyzer-rules)" "$TMP/err"
check "the gate error lists the valid gates" $?
run 1 tbt eval -f "$EX/checkout.yaml" -f "$AN/analyzer-off.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" \
  --required-gates analyzer-score
check "an analyzer gate with the analyzer disabled is an error" $?
run 1 tbt eval -f "$EX/checkout.yaml" -f "$AN/analyzer-bad.yaml" --trace "$EX/traces/checkout-healthy.otlp.json"
check "a bad Analyzer resource is an error (exit 1)" $?
has "analyzer-bad.yaml:7:19" "$TMP/err"
check "the Analyzer error has file:line:col" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
