#!/usr/bin/env bash
# test_demo.sh TBT SOURCE_ROOT - tbt run against the real checkout system:
# Node.js services instrumented with the OpenTelemetry JS SDK, a throwaway
# PostgreSQL, spans exported to tbt's own receivers over each of the three
# OTLP protocols. Proves: spans arrive intact (http/protobuf, http/json,
# grpc); the healthy system passes; each seeded bug fails with a clear
# message while the API still answers 200; a late duplicate is still caught;
# a target that is down and a selector that never matches are explained.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
SYS=$ROOT/examples/checkout-system
EX=$ROOT/examples
DATA=$ROOT/tests/data/run
TMP=$(mktemp -d)
STATE=$TMP/state
pass=0
fail=0

cleanup() {
  "$SYS/stop.sh" "$STATE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

check() {
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
has() { grep -qF -- "$1" "$2"; }

for tool in node npm curl python3; do
  command -v $tool >/dev/null || { echo "test_demo: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done
[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "test_demo: PostgreSQL 15 is missing (scripts/setup.sh installs it)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# run EXPECTED_EXIT NAME tbt-run-args...: output in $TMP/out, $TMP/err
run() {
  local want=$1 name=$2
  shift 2
  tbt run --otlp-http "127.0.0.1:$HTTP_PORT" --otlp-grpc "127.0.0.1:$GRPC_PORT" \
    --vars "$EX/vars.yaml" --var "GATEWAY_URL=$GATEWAY_URL" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "--- $name: exit $got, wanted $want"
    cat "$TMP/out" "$TMP/err" | head -60
    return 1
  fi
  return 0
}

start_system() { # PROTOCOL
  local endpoint
  if [ "$1" = grpc ]; then endpoint="http://127.0.0.1:$GRPC_PORT"; else endpoint="http://127.0.0.1:$HTTP_PORT/v1/traces"; fi
  "$SYS/stop.sh" "$STATE" >/dev/null 2>&1 || true
  if ! OTEL_BSP_SCHEDULE_DELAY=100 "$SYS/start.sh" "$STATE" "$endpoint" "$1" >"$TMP/start.log" 2>&1; then
    echo "--- the checkout system did not start ($1)"; cat "$TMP/start.log"; tail -20 "$STATE"/*.log 2>/dev/null
    return 1
  fi
  # shellcheck disable=SC1091
  . "$STATE/env"
  return 0
}

set_bugs() { # comma list ("" for none), on every service
  local json
  json=$(python3 -c 'import json,sys; print(json.dumps({"bugs": [b for b in sys.argv[1].split(",") if b]}))' "$1")
  for u in "$GATEWAY_URL" "$ORDER_URL" "$PAYMENT_URL"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$json" "$u/admin/bugs" >/dev/null || return 1
  done
}

HTTP_PORT=$(free_port)
GRPC_PORT=$(free_port)

# ---- each exporter protocol delivers intact spans --------------------------
for proto in http/protobuf http/json grpc; do
  start_system "$proto"
  check "checkout system starts ($proto)" $?
  rm -rf "$TMP/traces"
  run 0 "exporters over $proto" -f "$DATA/exporters.yaml" --save-traces "$TMP/traces"
  check "spans exported over $proto arrive intact" $?
  python3 - "$TMP/traces" <<'PY'
import glob, json, sys
files = glob.glob(sys.argv[1] + "/*.otlp.json")
assert len(files) == 1, files
d = json.load(open(files[0]))
spans = [(rs["resource"], s) for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
pay = [s for r, s in spans if s["name"] == "process payment"]
assert len(pay) == 1, len(pay)
p = pay[0]
assert len(p["traceId"]) == 32 and len(p["spanId"]) == 16 and len(p.get("parentSpanId", "")) == 16
kinds = {a["key"]: list(a["value"].keys())[0] for a in p["attributes"]}
for key, kind in [("payment.amount", "doubleValue"), ("payment.attempt", "intValue"),
                  ("payment.captured", "boolValue"), ("payment.currency", "stringValue"),
                  ("payment.methods", "arrayValue")]:
    assert kinds.get(key) == kind, (key, kinds.get(key))
assert any(e["name"] == "charge.submitted" for e in p.get("events", [])), p.get("events")
links = p.get("links", [])
assert links and len(links[0]["traceId"]) == 32 and len(links[0]["spanId"]) == 16, links
assert p.get("status", {}).get("code") == 1, p.get("status")
services = {a["value"]["stringValue"] for r, s in spans for a in r.get("attributes", []) if a["key"] == "service.name"}
assert {"api-gateway", "order-service", "payment-service", "tracetest"} <= services, services
PY
  check "saved trace ($proto): ids, every attribute type, events, links, status" $?
done

# ---- the example test: healthy passes, fast -----------------------------------
run 0 "healthy checkout" -f "$EX/checkout.yaml" -v
check "healthy system passes examples/checkout.yaml" $?
has "trace id:" "$TMP/out"
check "the run prints the trace id" $?

# ---- seeded bugs: the API still answers 200, the trace test fails ------------
set_bugs double-charge
check "double-charge switched on" $?
run 2 "double charge" -f "$EX/checkout.yaml"
check "double charge fails the test" $?
has "✘ attr:tracetest.selected_spans.count = 1" "$TMP/out" && has "process payment (payment-service): 2" "$TMP/out"
check "double charge: the count assertion shows 2" $?

set_bugs slow-payment
run 2 "slow payment" -f "$EX/checkout.yaml"
check "slow payment fails the test" $?
grep -qE "✘ attr:tracetest.span.duration < 300ms" "$TMP/out" && grep -qE "process payment \(payment-service\): [0-9.]+ms" "$TMP/out"
check "slow payment: the duration assertion shows the observed time" $?

set_bugs late-duplicate
run 2 "late duplicate" -f "$DATA/late-duplicate.yaml" -v
check "a duplicate charge exported 1.5 s late still fails count = 1" $?
has "process payment (payment-service): 2" "$TMP/out"
check "late duplicate: both spans were seen" $?
set_bugs ""

# ---- a selector that never matches: stop and say which ------------------------
run 2 "unmatched" -f "$DATA/unmatched.yaml" -o json
check "an unmatched selector fails the test" $?
python3 - "$TMP/out" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tests"][0]
c = t["completion"]
assert "never matched: span[name=\"publish shipping event\"] (spec \"shipping is published\")" in c, c
assert "timed out after 4s" in c or "still unmatched" in c, c
PY
check "the completion reason names the selector that never matched" $?

# ---- the API itself says nothing is wrong --------------------------------------------
# Last, because these calls' spans have no receiver to go to (tbt run is not
# running): the SDK's exporter then backs off, which would delay later runs.
set_bugs double-charge
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"customerId":"c","items":[{"sku":"S","quantity":1,"price":1}],"payment":{"method":"card","cardToken":"t"}}' \
  "$GATEWAY_URL/checkout")
[ "$code" = 200 ]
check "with double-charge the API still answers 200" $?

# ---- the target is down ------------------------------------------------------------
"$SYS/stop.sh" "$STATE" >/dev/null 2>&1
run 1 "target down" -f "$EX/checkout.yaml"
check "a target that is down is an error (exit 1)" $?
grep -q "connection refused" "$TMP/out"
check "the error says the connection was refused and where" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
