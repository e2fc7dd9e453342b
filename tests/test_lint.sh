#!/usr/bin/env bash
# test_lint.sh TBT SOURCE_ROOT - `tbt lint` end to end: exit codes, pretty
# and JSON output, Analyzer and TestRunner resources, gates, missing files,
# bad flags, bad Analyzer YAML, and no credential ever printed.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
DATA=$ROOT/tests/data/analyzer
EX=$ROOT/examples/traces
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

run 0 tbt lint --trace "$DATA/clean.otlp.json"
check "a clean trace passes" $?
has "Analyzer score 100/100 (minimum 0) ✔" "$TMP/out" && has "Summary: score 100 reaches the minimum 0; every rule passed" "$TMP/out"
check "the clean trace scores 100" $?
has "Required gates analyzer-score,analyzer-rules: passed" "$TMP/out"
check "lint's default gates are both analyzer gates" $?

run 2 tbt lint --trace "$DATA/bad.otlp.json" --color never
check "a badly instrumented trace fails analyzer-rules (exit 2)" $?
has "✘ span-naming            error    weight 25   1 span" "$TMP/out"
check "rule lines show level, weight and span count" $?
has '#0000000000000001 handle: span name "handle" does not follow the convention for http server spans: expected "GET /cart"' "$TMP/out"
check "span-naming finding names the span and the expected name" $?
has "attribute http.request.header.authorization records a credential: Bearer ****" "$TMP/out"
check "the leaked credential is reported masked" $?
! grep -q "SUPERSECRET" "$TMP/out" "$TMP/err"
check "the secret is not printed" $?
has "Required gates analyzer-score,analyzer-rules: analyzer-rules failed" "$TMP/out"
check "the failed gate is named" $?

run 0 tbt lint --trace "$DATA/bad.otlp.json" --required-gates analyzer-score
check "only analyzer-score required: the score (minimum 0) passes" $?

run 2 tbt lint --trace "$DATA/bad.otlp.json" --required-gates analyzer-score --minimum-score 95
check "--minimum-score raises the bar" $?
has "Required gates analyzer-score: analyzer-score failed" "$TMP/out"
check "analyzer-score failure named" $?

run 0 tbt lint --trace "$DATA/bad.otlp.json" --required-gates ""
check "no required gate: exit 0" $?

run 0 tbt lint --trace "$DATA/clean.otlp.json" -f "$DATA/analyzer-strict.yaml" --minimum-score 100
check "a clean trace reaches even minimum 100" $?

run 2 tbt lint --trace "$DATA/bad.otlp.json" -f "$DATA/analyzer-strict.yaml" -o json
check "json output exits 2" $?
python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["passed"] is False and d["spans"] == 3, d
assert d["requiredGates"] == ["analyzer-score", "analyzer-rules"], d
assert set(d["failedGates"]) == {"analyzer-score", "analyzer-rules"}, d
a = d["analyzer"]
assert a["minimumScore"] == 90 and a["scorePassed"] is False, a
rules = {r["id"]: r for r in a["rules"]}
assert rules["secure-https-protocol"]["level"] == "warning", rules
assert rules["no-api-key-leak"]["findings"][0]["message"].endswith("Bearer ****"), rules
assert "SUPERSECRET" not in open(sys.argv[1]).read()
PY
check "json: gates, minimum from the Analyzer resource, warning level, masked secret" $?

run 0 tbt lint --trace "$DATA/bad.otlp.json" -f "$DATA/testrunner-score.yaml"
check "a TestRunner's requiredGates decide (analyzer-score only)" $?
has "Required gates analyzer-score: passed" "$TMP/out"
check "test-specs from the TestRunner is ignored by lint" $?

run 0 tbt lint --trace "$DATA/bad.otlp.json" -f "$DATA/analyzer-off.yaml"
check "an Analyzer with enabled: false checks nothing (exit 0)" $?
has "disables the analyzer" "$TMP/err"
check "and says so" $?

run 1 tbt lint --trace "$DATA/bad.otlp.json" -f "$DATA/analyzer-bad.yaml"
check "a bad Analyzer resource is an error (exit 1)" $?
has "analyzer-bad.yaml:7:19: Analyzer plugins[0].rules[0].weight: expected a whole number from 0 to 100, found 250" "$TMP/err"
check "the error is at file:line:col" $?

run 1 tbt lint --trace "$DATA/bad.otlp.json" -f "$DATA/analyzer-strict.yaml" -f "$DATA/analyzer-off.yaml"
check "two Analyzer resources are an error" $?
has "a second Analyzer resource (the first is at" "$TMP/err"
check "naming both" $?

run 3 tbt lint --trace "$TMP/nope.otlp.json"
check "missing trace file: exit 3" $?
has "nope.otlp.json" "$TMP/err"
check "the missing trace is named" $?
run 3 tbt lint --trace "$DATA/clean.otlp.json" -f "$TMP/nope.yaml"
check "missing definition file: exit 3" $?

run 1 tbt lint
check "no --trace: exit 1" $?
has "no trace given" "$TMP/err"
check "and says what is missing" $?
run 1 tbt lint --trace "$DATA/clean.otlp.json" --required-gates analyzer-scores
check "a bad gate: exit 1" $?
has "unknown gate 'analyzer-scores' (valid gates: test-specs, analyzer-score, analyzer-rules)" "$TMP/err"
check "the bad gate is named with the valid ones" $?
run 1 tbt lint --trace "$DATA/clean.otlp.json" --minimum-score 101
check "--minimum-score out of range: exit 1" $?
run 1 tbt lint --trace "$DATA/clean.otlp.json" -o xml
check "unknown output format: exit 1" $?
run 1 tbt lint --trace "$DATA/clean.otlp.json" --bogus
check "unknown option: exit 1" $?
run 1 tbt lint --trace "$DATA/clean.otlp.json" extra
check "stray argument: exit 1" $?
run 0 tbt lint --help
check "--help exits 0" $?
has "--required-gates LIST" "$TMP/out"
check "--help lists the options" $?

# The demo's captured traces (real OpenTelemetry JS SDK output).
for t in "$EX"/*.otlp.json "$ROOT"/tests/data/checkout.otlp.json "$ROOT"/tests/data/checkout.otlp.pb; do
  [ -f "$t" ] || continue
  run 2 tbt lint --trace "$t"
  check "lint $(basename "$t") runs (the demo's instrumentation has findings)" $?
  has "Analyzer score" "$TMP/out"
  check "lint $(basename "$t") prints a score" $?
done

echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
