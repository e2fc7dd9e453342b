#!/usr/bin/env bash
# test_async.sh TBT SOURCE_ROOT - the asynchronous checkout: the Node.js
# services with Kafka (tbt broker), RabbitMQ (Debian's rabbitmq-server) and a
# gRPC inventory service, all instrumented with the OpenTelemetry JS SDK.
# Proves: the seed's example passes on the healthy system and fails on the bug
# switches (shipping published twice, inventory failing while the API says
# 200); the notification's trace, which links to the test's trace, is pulled
# in; each trigger kind (kafka, amqp, grpc) works against the real peer.
set -u
TBTBIN=$1
ROOT=$2
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
SYS=$ROOT/examples/checkout-system
EX=$ROOT/examples
DATA=$ROOT/tests/data/async
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
HTTP_PORT=$(free_port)
GRPC_PORT=$(free_port)
RUN=$$

run() { # EXPECTED_EXIT NAME args...
  local want=$1 name=$2
  shift 2
  tbt run --otlp-http "127.0.0.1:$HTTP_PORT" --otlp-grpc "127.0.0.1:$GRPC_PORT" --vars "$EX/vars.yaml" \
    --var "GATEWAY_URL=$GATEWAY_URL" --var "KAFKA_BROKERS=$KAFKA_BROKERS" --var "AMQP_URL=$AMQP_URL" \
    --var "INVENTORY_ADDR=$INVENTORY_ADDR" --var "RUN=$RUN" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "--- $name: exit $got, wanted $want"
    cat "$TMP/out" "$TMP/err" | head -60
    return 1
  fi
  return 0
}
set_bugs() {
  local json
  json=$(python3 -c 'import json,sys; print(json.dumps({"bugs": [b for b in sys.argv[1].split(",") if b]}))' "$1")
  for u in "$GATEWAY_URL" "$ORDER_URL" "$PAYMENT_URL" "$INVENTORY_URL"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$json" "$u/admin/bugs" >/dev/null || return 1
  done
}

if ! ASYNC=1 TBT_BIN="$TBTBIN" OTEL_BSP_SCHEDULE_DELAY=100 "$SYS/start.sh" "$STATE" \
  "http://127.0.0.1:$HTTP_PORT/v1/traces" http/protobuf >"$TMP/start.log" 2>&1; then
  echo "--- the asynchronous checkout system did not start"; cat "$TMP/start.log"
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck disable=SC1091
. "$STATE/env"

run 0 "healthy async checkout" -f "$EX/async-checkout.yaml" -v
check "the seed's example passes on the healthy system" $?
has "linked trace" "$TMP/out"
check "the RabbitMQ consumer's trace, linked to the test's, was pulled in" $?

set_bugs double-shipping
run 2 "double shipping" -f "$EX/async-checkout.yaml"
check "shipping published twice fails the example" $?
has "publish shipping event" "$TMP/out" && grep -qE "✘ attr:tracetest.selected_spans.count = 1" "$TMP/out"
check "double shipping: the count assertion fails" $?

set_bugs inventory-failure
run 2 "inventory failure" -f "$EX/async-checkout.yaml" -o json
check "a failing inventory fails the example while the API says 200" $?
python3 - "$TMP/out" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tests"][0]
specs = {s["name"]: s for s in t["specs"]}
assert specs["The API accepts the checkout"]["passed"], specs["The API accepts the checkout"]
inv = specs["The stock is reserved"]
assert not inv["passed"] and inv["assertions"][0]["spans"][0]["observed"] == "failure", inv
PY
check "inventory failure: 200 from the API, 'failure' observed on the span" $?
set_bugs ""

run 0 "kafka trigger" -f "$DATA/kafka-trigger.yaml" -v
check "kafka trigger: tbt's event is shipped and notified (trace context in the record headers)" $?
run 0 "amqp trigger" -f "$DATA/amqp-trigger.yaml" -v
check "amqp trigger: tbt's notification is confirmed and sent (trace context in the AMQP headers)" $?
run 0 "grpc trigger" -f "$DATA/grpc-trigger.yaml" -v
check "grpc trigger: the reservation reply is decoded and the inventory span found" $?

# brokers that are down: clear reasons
run 1 "kafka down" -f "$DATA/kafka-trigger.yaml" --var "KAFKA_BROKERS=127.0.0.1:1"
check "kafka trigger with no broker is an error" $?
grep -q "no broker answered at 127.0.0.1:1" "$TMP/out"
check "kafka trigger names the broker that did not answer" $?
run 1 "amqp down" -f "$DATA/amqp-trigger.yaml" --var "AMQP_URL=amqp://guest:guest@127.0.0.1:1/"
check "amqp trigger with no broker is an error" $?
grep -q "connection refused" "$TMP/out"
check "amqp trigger says the connection was refused" $?
bad_url=$(echo "$AMQP_URL" | sed -E 's#amqp://[^@]*@#amqp://guest:wrong@#')
run 1 "amqp auth" -f "$DATA/amqp-trigger.yaml" --var "AMQP_URL=$bad_url"
check "amqp trigger with a wrong password is an error" $?
grep -qi "refused for user 'guest'" "$TMP/out"
check "amqp trigger explains the refused login" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
