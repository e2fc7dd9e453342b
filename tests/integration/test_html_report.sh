#!/usr/bin/env bash
# test_html_report.sh TBT SOURCE_ROOT HTML_FIXTURE ARTIFACTS_DIR - the HTML
# report (--report) opened in Debian's chromium by playwright-core
# (tests/browser/check_report.js), checking what a person sees:
#  - a failing spec on tests/data/checkout.otlp.json: 8 span bars, the failing
#    span highlighted, its detail panel with the assertion and observed value;
#  - a linked trace (tests/data/html/linked.otlp.json): the consumer's spans
#    marked, hostile span names shown as text;
#  - a generated 100,000-span trace: the count announced, few DOM rows,
#    the last span reached by scrolling; load time printed, not asserted;
#  - a campaign report (html_fixture campaign): histograms drawn.
# Screenshots go to ARTIFACTS_DIR (or $TBT_ARTIFACTS_DIR).
# Without chromium: skipped (exit 77) on a developer machine, failed in CI.
set -u
TBTBIN=$1
ROOT=$2
FIXTURE=$3
ART=${TBT_ARTIFACTS_DIR:-$4}
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM
BROWSER_DIR=$ROOT/tests/browser
DATA=$ROOT/tests/data

missing() {
  if [ -n "${CI:-}" ]; then
    echo "test_html_report: $1 is missing, and CI is set: failing (scripts/setup.sh installs it)"
    exit 1
  fi
  echo "test_html_report: $1 is missing: skipped (scripts/setup.sh installs it)"
  exit 77
}
[ -x "$CHROMIUM" ] || missing "chromium ($CHROMIUM)"
command -v node >/dev/null || missing node
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  command -v npm >/dev/null || missing npm
  (cd "$BROWSER_DIR" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || {
    echo "test_html_report: npm ci failed in $BROWSER_DIR"; exit 1; }
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$ART"
pass=0
fail=0
check() {
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
# report EXPECTED_EXIT NAME tbt-eval-args...: the report in $TMP/NAME.html
report() {
  local want=$1 name=$2
  shift 2
  tbt eval "$@" --report "$TMP/$name.html" >"$TMP/$name.out" 2>"$TMP/$name.err"
  local got=$?
  if [ "$got" -ne "$want" ] || [ ! -s "$TMP/$name.html" ]; then
    echo "--- $name: tbt eval exit $got, wanted $want"; cat "$TMP/$name.out" "$TMP/$name.err" | head -40
    return 1
  fi
}
browse() { # NAME check_report-args...
  local name=$1
  shift
  echo "--- $name"
  node "$BROWSER_DIR/check_report.js" --report "$TMP/$name.html" --screenshot "$ART/html-$name.png" "$@"
}

# 1. a failing spec: the failing span is the one highlighted
report 2 failing -f "$DATA/html/failing.yaml" --trace "$DATA/checkout.otlp.json"
check "failing: report written" $?
browse failing --spans 8 --failed-span 0f1e2d3c4b5a6978 --observed 153.5ms --attr payment.amount --search payment
check "failing: browser checks" $?

# 2. a linked trace, and span names holding markup
report 2 linked -f "$DATA/html/linked.yaml" --trace "$DATA/html/linked.otlp.json"
check "linked: report written" $?
browse linked --spans 5 --linked-span b000000000000001 --failed-span b000000000000002 --observed false \
  --attr email.template --text 'render </script><script>alert("x")</script> <!-- "q"'
check "linked: browser checks" $?

# 3. 100,000 spans
"$FIXTURE" trace 100000 42 "$TMP/big.otlp.json"
check "large: trace generated" $?
TRACE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"])' "$TMP/big.otlp.json")
t0=$(date +%s%N)
report 0 large -f "$DATA/html/large.yaml" --trace "$TMP/big.otlp.json" --var "TRACE_ID=$TRACE_ID"
check "large: report written" $?
t1=$(date +%s%N)
echo "large: tbt eval --report took $(( (t1 - t0) / 1000000 )) ms; trace $(stat -c %s "$TMP/big.otlp.json") bytes of OTLP/JSON, report $(stat -c %s "$TMP/large.html") bytes"
browse large --large 100000 --search "render receipt"
check "large: browser checks" $?

# 4. a campaign
"$FIXTURE" campaign "$TMP/campaign.html"
check "campaign: report written" $?
browse campaign --campaign
check "campaign: browser checks" $?

# 5. a report that cannot be written is an error that names the path
tbt eval -f "$DATA/html/failing.yaml" --trace "$DATA/checkout.otlp.json" --report "$TMP/no/such/dir/r.html" \
  >/dev/null 2>"$TMP/bad.err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "$TMP/no/such/dir/r.html" "$TMP/bad.err"
check "unwritable --report: exit 1 naming the path (exit $rc)" $?

echo "html report: $pass passed, $fail failed; screenshots in $ART"
[ "$fail" -eq 0 ]
