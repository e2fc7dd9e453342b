#!/usr/bin/env bash
# test_schemas.sh TBT SOURCE_ROOT - the documented schemas hold for what tbt
# really writes: the JSON report (docs/schemas/report.schema.json), the
# campaign JSON report (campaign-report.schema.json), the JUnit XML of runs
# and campaigns (junit.xsd, checked by xmllint), and the job and result
# messages (proto/*.schema.json). Validators: Debian's python3-jsonschema
# and libxml2-utils. A schema that drifts from the code fails here.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
EX=$ROOT/examples
SCH=$ROOT/docs/schemas
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
# Debian's python3 (with python3-jsonschema), not a pyenv one without it
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

validate_json() { # schema, file...
  "$PY" - "$@" <<'PY'
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
bad = 0
for f in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(f))):
        bad += 1
        print(f"{f}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
sys.exit(1 if bad else 0)
PY
}

# ---- run reports: passing, failing, erroring, suites, outputs, linked traces ----
tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" -o json --junit "$TMP/j1.xml" >"$TMP/r1.json"
tbt eval -f "$EX/checkout.yaml" --trace "$EX/traces/checkout-buggy.otlp.json" -o json --junit "$TMP/j2.xml" >"$TMP/r2.json"
tbt eval -f "$ROOT/tests/data/cli/suite.yaml" --trace "$EX/traces/checkout-healthy.otlp.json" \
  --vars "$ROOT/tests/data/cli/vars.yaml" -o json --junit "$TMP/j3.xml" >"$TMP/r3.json"
for f in r1 r2 r3; do [ -s "$TMP/$f.json" ] || echo "FAIL: no report $f"; done
"$PY" -c 'import json,sys; d=[json.load(open(f)) for f in sys.argv[1:]]; assert d[0]["passed"] and not d[1]["passed"]' \
  "$TMP/r1.json" "$TMP/r2.json"
check "the reports under test cover a pass and a failure" $?
validate_json "$SCH/report.schema.json" "$TMP"/r1.json "$TMP"/r2.json "$TMP"/r3.json
check "JSON reports match docs/schemas/report.schema.json" $?
for j in "$TMP"/j*.xml; do
  name=$(basename "$j")
  xmllint --noout --schema "$SCH/junit.xsd" "$j" 2>"$TMP/xerr" || { cat "$TMP/xerr"; false; }
  check "JUnit $name matches docs/schemas/junit.xsd" $?
done

# ---- the schema rejects what it should (it is not vacuous) ----------------------
"$PY" - "$TMP/r2.json" "$TMP/bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tests"][0]["status"] = "flaky"
json.dump(d, open(sys.argv[2], "w"))
PY
! validate_json "$SCH/report.schema.json" "$TMP/bad.json" >/dev/null
check "the report schema rejects an unknown status" $?

# ---- campaign reports -------------------------------------------------------------
CAMP=$ROOT/tests/data/campaign
tbt run -f "$CAMP/strict.yaml" -f "$CAMP/noop.yaml" --otlp-http 0 --otlp-grpc 0 -o json --junit "$TMP/cj.xml" \
  >"$TMP/c1.json" 2>/dev/null
validate_json "$SCH/campaign-report.schema.json" "$TMP/c1.json"
check "campaign JSON matches docs/schemas/campaign-report.schema.json" $?
xmllint --noout --schema "$SCH/junit.xsd" "$TMP/cj.xml" 2>"$TMP/xerr" || { cat "$TMP/xerr"; false; }
check "campaign JUnit matches docs/schemas/junit.xsd" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
