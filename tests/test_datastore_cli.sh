#!/usr/bin/env bash
# test_datastore_cli.sh TBT SOURCE_ROOT FIXTURE - tbt run with a Jaeger
# DataStore (--datastore FILE, or a DataStore among the -f definitions)
# against the stand-in Jaeger (tests/datastore_fixture_main.c) on a free
# port, receivers off: the spans come only from the backend.
set -u
TBTBIN=$1
ROOT=$2
FIXTURE=$3
read -ra WRAP <<<"${TBT_WRAPPER:-}"
tbt() { "${WRAP[@]}" "$TBTBIN" "$@"; }
DATA=$ROOT/tests/data/datastore
export TBT_TEST_DATA=$ROOT/tests/data
TMP=$(mktemp -d)
FPID=
cleanup() { [ -n "$FPID" ] && kill "$FPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
pass=0
fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
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

# the fixture prints its port once it listens: read it through a fifo
mkfifo "$TMP/port"
"$FIXTURE" --template 5b8aa5a2d2c872e8321cf37308d69df2 jaeger-hotrod.json >"$TMP/port" &
FPID=$!
read -r PORT <"$TMP/port"
[ -n "$PORT" ]
check "the fixture started" $?

cat >"$TMP/jaeger.yaml" <<YAML
type: DataStore
spec:
  id: current
  name: jaeger
  type: jaeger
  default: true
  pollInterval: 100ms
  jaeger:
    endpoint: 127.0.0.1:$PORT
    tls:
      insecure: true
YAML
OFF=(--otlp-http off --otlp-grpc off)

run 0 tbt run -f "$DATA/traceid-test.yaml" --datastore "$TMP/jaeger.yaml" "${OFF[@]}"
check "traceid test passes on the trace from jaeger" $?
has "✔ HotROD dispatch reads the customer once (trace id: 5b8aa5a2d2c872e8321cf37308d69df2)" "$TMP/out"
check "pretty output names the test and trace" $?

run 0 tbt run -f "$DATA/traceid-test.yaml" -f "$TMP/jaeger.yaml" "${OFF[@]}" -o json
check "a DataStore among the -f definitions is used" $?
python3 - "$TMP/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tests"][0]
assert t["status"] == "passed", t
PY
check "json report: passed" $?

run 2 tbt run -f "$DATA/traceid-failing.yaml" --datastore "$TMP/jaeger.yaml" "${OFF[@]}"
check "a failing assertion exits 2" $?
has "HTTP GET /dispatch (frontend): 735.012ms" "$TMP/out"
check "the observed duration comes from jaeger's span" $?

cat >"$TMP/bad.yaml" <<'YAML'
type: DataStore
spec:
  type: jaeger
  jaeger:
    endpoint: ftp://jaeger:16686
YAML
run 1 tbt run -f "$DATA/traceid-test.yaml" --datastore "$TMP/bad.yaml" "${OFF[@]}"
check "a bad DataStore is an error" $?
has "bad.yaml:5:15: DataStore jaeger.endpoint: expected http://host:port, https://host:port or host:port" "$TMP/err"
check "... at file:line:col" $?

run 1 tbt run -f "$DATA/traceid-test.yaml" --otlp-http off --otlp-grpc off
check "receivers off without a DataStore is refused" $?

# ---- a Kafka agent with --datastore: tbt broker, tbt agent, tbt run --brokers ------
wait_for() { # SECONDS CMD...
  local until=$((SECONDS + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$until" ] && return 1
    sleep 0.1
  done
}
(exec "${WRAP[@]}" "$TBTBIN" broker >"$TMP/broker.out" 2>"$TMP/broker.err") &
BPID=$!
wait_for 20 test -s "$TMP/broker.out"
B=$(head -1 "$TMP/broker.out")
KX=(-X fetch.wait.max.ms=10)
(exec "${WRAP[@]}" "$TBTBIN" agent -b "$B" -e ds --agent-id ds-1 --otlp-http off --otlp-grpc off \
  --datastore "$TMP/jaeger.yaml" "${KX[@]}" >"$TMP/agent.log" 2>&1) &
APID=$!
wait_for 60 grep -q "assigned" "$TMP/agent.log"
check "an agent with --datastore and its receivers off joins its group" $?
run 0 tbt run --brokers "$B" --env ds -f "$DATA/traceid-test.yaml" "${KX[@]}"
check "tbt run --brokers: the agent evaluates the trace it fetched from jaeger" $?
has "✔ HotROD dispatch reads the customer once [ds] (trace id: 5b8aa5a2d2c872e8321cf37308d69df2)" "$TMP/out"
check "... in the environment's row" $?
kill -TERM "$APID"; wait "$APID" 2>/dev/null
kill -TERM "$BPID"; wait "$BPID" 2>/dev/null

kill "$FPID"; wait "$FPID" 2>/dev/null; FPID=
sed 's/timeout: 10s/timeout: 1s/' "$DATA/traceid-test.yaml" >"$TMP/short.yaml"
run 1 tbt run -f "$TMP/short.yaml" --datastore "$TMP/jaeger.yaml" "${OFF[@]}"
check "a backend that is down is an error" $?
has "jaeger http://127.0.0.1:$PORT: connection refused" "$TMP/out"
check "... naming the backend and why" $?

echo "datastore cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
