#!/usr/bin/env bash
# Starts the checkout system: a throwaway PostgreSQL 15, then payment-service,
# order-service and api-gateway on free ports, all exporting traces over OTLP.
# With ASYNC=1 also the asynchronous half: a Kafka-protocol broker (tbt broker,
# topic shipping-queue), a throwaway RabbitMQ node (tests/rabbitmq.sh), and
# inventory-service (gRPC), shipping-service (Kafka consumer, RabbitMQ
# publisher) and notification-service (RabbitMQ consumer).
#
#   start.sh STATE_DIR OTLP_ENDPOINT [PROTOCOL]
#
#   STATE_DIR      created if missing; receives env, pids, *.log, *.port and pg/
#   OTLP_ENDPOINT  where the services send traces; for http/protobuf and
#                  http/json the full URL http://HOST:PORT/v1/traces (appended
#                  when missing), for grpc http://HOST:PORT
#   PROTOCOL       http/protobuf (default), http/json or grpc
#
# Passed through from the caller's environment: BUGS (e.g. "double-charge"),
# OTEL_BSP_SCHEDULE_DELAY (default 100 ms here), OTEL_EXPORTER_OTLP_COMPRESSION,
# OTEL_LOG_LEVEL, AMQP_CONSUME_LINKS. STARTUP_TIMEOUT (seconds, default 60; 120
# with ASYNC=1) bounds the whole start.
# ASYNC=1 starts the asynchronous half too (default 0). It needs TBT_BIN (the tbt
# binary, default ../../build/tbt from this directory) and root (RabbitMQ).
# On success STATE_DIR/env holds GATEWAY_URL, ORDER_URL, PAYMENT_URL, PG_PORT
# (and DATABASE_URL, PG_DATA, OTLP_*, ASYNC; with ASYNC=1 also KAFKA_BROKERS,
# AMQP_URL, INVENTORY_ADDR and the admin URLs INVENTORY_URL, SHIPPING_URL,
# NOTIFICATION_URL), STATE_DIR/pids one service PID per line, STATE_DIR/broker.pid
# the broker's PID, STATE_DIR/rabbitmq/ the RabbitMQ node.
# On failure everything started so far is stopped again. Stop with stop.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ASYNC=${ASYNC:-0}
# RabbitMQ and four more Node processes: the asynchronous system gets longer.
if [ "$ASYNC" = 1 ]; then STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-120}; else STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-60}; fi
TBT_BIN=${TBT_BIN:-$HERE/../../build/tbt}
RABBITMQ_SH=$HERE/../../tests/rabbitmq.sh

usage() {
  echo "usage: $0 STATE_DIR OTLP_ENDPOINT [http/protobuf|http/json|grpc]" >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 3 ] || [ -z "$1" ] || [ -z "$2" ]; then usage; fi
PROTOCOL=${3:-http/protobuf}

start_ns=$(date +%s%N)

mkdir -p "$1"
STATE_DIR=$(cd "$1" && pwd)

die() {
  echo "start.sh: $*" >&2
  exit 1
}

# Phase timings (ms since start) go to STATE_DIR/start.timings.
mark() {
  echo "$(( ($(date +%s%N) - start_ns) / 1000000 )) $*" >>"$STATE_DIR/start.timings"
}

# --- OTLP endpoint ----------------------------------------------------------
endpoint=$2
case $endpoint in http://* | https://*) ;; *) endpoint="http://$endpoint" ;; esac
endpoint=${endpoint%/}
case $PROTOCOL in
  http/protobuf | http/json)
    case $endpoint in */v1/traces) ;; *) endpoint="$endpoint/v1/traces" ;; esac ;;
  grpc)
    endpoint=${endpoint%/v1/traces} ;;
  *) die "unknown protocol '$PROTOCOL' (use http/protobuf, http/json or grpc)" ;;
esac

# --- refuse to start twice ----------------------------------------------------
if [ -s "$STATE_DIR/pids" ]; then
  while read -r pid; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      die "already running in $STATE_DIR (PID $pid); run stop.sh first"
    fi
  done <"$STATE_DIR/pids"
fi
if [ -s "$STATE_DIR/broker.pid" ] && kill -0 "$(cat "$STATE_DIR/broker.pid")" 2>/dev/null; then
  die "a broker is already running in $STATE_DIR; run stop.sh first"
fi
if [ -s "$STATE_DIR/rabbitmq/server.pid" ] && kill -0 "$(cat "$STATE_DIR/rabbitmq/server.pid")" 2>/dev/null; then
  die "RabbitMQ is already running in $STATE_DIR/rabbitmq; run stop.sh first"
fi
rm -f "$STATE_DIR/env" "$STATE_DIR/pids" "$STATE_DIR"/*.port "$STATE_DIR/start.timings" \
  "$STATE_DIR/broker.pid" "$STATE_DIR/broker.out" "$STATE_DIR/rabbitmq-start.pid" "$STATE_DIR/rabbitmq.out" \
  "$STATE_DIR/amqp.url"
: >"$STATE_DIR/pids"

# From here on, any failure stops whatever was started.
cleanup_on_failure() {
  local rc=$?
  if [ $rc -ne 0 ]; then "$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup_on_failure EXIT
trap 'exit 130' INT TERM

[ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found in $PG_BIN (apt-get install postgresql, or set PG_BIN)"
command -v node >/dev/null || die "node not found on PATH"
command -v curl >/dev/null || die "curl not found on PATH"
case $ASYNC in 0 | 1) ;; *) die "ASYNC must be 0 or 1, not '$ASYNC'" ;; esac

# --- RabbitMQ (ASYNC=1): boots for ~5 s, so it starts first, in the background --
if [ "$ASYNC" = 1 ]; then
  [ -x "$TBT_BIN" ] || die "tbt binary not found at $TBT_BIN (build it: ninja -C build; or set TBT_BIN)"
  [ -f "$RABBITMQ_SH" ] || die "$RABBITMQ_SH not found"
  [ "$(id -u)" -eq 0 ] || die "ASYNC=1 needs root (tests/rabbitmq.sh starts RabbitMQ as root)"
  # No OWNER_PID: the node must outlive this script; stop.sh stops it.
  TBT_RABBITMQ_START_TIMEOUT=$STARTUP_TIMEOUT \
    bash "$RABBITMQ_SH" start "$STATE_DIR/rabbitmq" </dev/null >"$STATE_DIR/rabbitmq.out" 2>&1 &
  rabbit_job=$!
  echo "$rabbit_job" >"$STATE_DIR/rabbitmq-start.pid"
  mark "rabbitmq starting"
fi

if [ ! -d "$HERE/node_modules" ]; then
  (cd "$HERE" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in $HERE"
  mark "npm ci done"
fi
# STARTUP_TIMEOUT bounds everything after npm ci.
deadline=$(( $(date +%s) + STARTUP_TIMEOUT ))

# --- services -----------------------------------------------------------------
export OTEL_EXPORTER_OTLP_PROTOCOL=$PROTOCOL
export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$endpoint
export OTEL_BSP_SCHEDULE_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-100}
export OTEL_METRICS_EXPORTER=none
export OTEL_LOGS_EXPORTER=none
unset OTEL_EXPORTER_OTLP_TRACES_PROTOCOL OTEL_TRACES_EXPORTER
export BUGS=${BUGS:-}

# launch NAME [VAR=VALUE...]: starts NAME.js in the background (PID in $STATE_DIR/pids).
launch() {
  local name=$1; shift
  rm -f "$STATE_DIR/$name.port"
  env "$@" PORT=0 PORT_FILE="$STATE_DIR/$name.port" OTEL_SERVICE_NAME="$name" \
    node "$HERE/$name.js" </dev/null >"$STATE_DIR/$name.log" 2>&1 &
  echo "$!" >>"$STATE_DIR/pids"
  eval "pid_${name//-/_}=\$!"
}

# wait_healthy NAME: waits until NAME answers GET /healthz, then prints its URL.
wait_healthy() {
  local name=$1 pid_var="pid_${1//-/_}" port=
  local pid=${!pid_var} port_file="$STATE_DIR/$name.port" log="$STATE_DIR/$name.log"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$name exited during startup, see $log"
    fi
    if [ -z "$port" ] && [ -s "$port_file" ]; then
      port=$(tr -dc '0-9' <"$port_file")
    fi
    if [ -n "$port" ] && curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
      break
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "$name not healthy within ${STARTUP_TIMEOUT}s, see $log"
    sleep 0.05
  done
  echo "http://127.0.0.1:$port"
}

# wait_port_file NAME FILE: waits for NAME to write a port into FILE, prints it.
wait_port_file() {
  local name=$1 file=$2 pid_var="pid_${1//-/_}"
  local pid=${!pid_var}
  while [ ! -s "$file" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$STATE_DIR/$name.log" >&2 || true
      die "$name exited during startup, see $STATE_DIR/$name.log"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "$name did not write $file within ${STARTUP_TIMEOUT}s"
    sleep 0.05
  done
  tr -dc '0-9' <"$file"
}

# payment-service needs nothing else: it boots while PostgreSQL is prepared.
launch payment-service
mark "payment-service launched"

if [ "$ASYNC" = 1 ]; then
  # The Kafka-protocol broker: its first stdout line is the bootstrap list.
  "$TBT_BIN" broker --topic shipping-queue:4 </dev/null >"$STATE_DIR/broker.out" 2>"$STATE_DIR/broker.log" &
  broker_pid=$!
  echo "$broker_pid" >"$STATE_DIR/broker.pid"
  # gRPC on PORT (inventory-service.port), /healthz on ADMIN_PORT.
  launch inventory-service ADMIN_PORT=0 ADMIN_PORT_FILE="$STATE_DIR/inventory-service.admin.port"
  mark "broker and inventory-service launched"
fi

# --- PostgreSQL ---------------------------------------------------------------
# As root, the cluster runs as the postgres user (initdb refuses root).
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
  pg_own() { chown -R postgres:postgres "$@"; }
else
  as_pg() { "$@"; }
  pg_own() { :; }
fi

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'
}

# The data directory lives in STATE_DIR/pg if the postgres user can reach it
# (a mode 0700 STATE_DIR gets o+x), else in a temp dir that stop.sh removes.
pg_root="$STATE_DIR/pg"
rm -rf "$pg_root"
mkdir -p "$pg_root"
pg_own "$pg_root"
if ! as_pg test -w "$pg_root" 2>/dev/null; then
  chmod o+x "$STATE_DIR" 2>/dev/null || true
fi
case $pg_root in *[[:space:]]*) pg_ok=no ;; *) pg_ok=yes ;; esac
if [ $pg_ok = no ] || ! as_pg test -w "$pg_root" 2>/dev/null; then
  rm -rf "$pg_root"
  pg_root=$(mktemp -d /tmp/tbt-checkout-pg.XXXXXX)
  pg_own "$pg_root"
fi
echo "$pg_root" >"$STATE_DIR/pgroot"
pg_data="$pg_root/data"
as_pg mkdir -p "$pg_root/sock"

as_pg "$PG_BIN/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$STATE_DIR/initdb.log" 2>&1 || die "initdb failed, see $STATE_DIR/initdb.log"
mark "initdb done"

pg_port=
for _ in 1 2 3 4 5; do
  port=$(free_port)
  if as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -l "$pg_root/postgres.log" -w -t 30 start \
      -o "-p $port -k $pg_root/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null 2>&1; then
    pg_port=$port
    break
  fi
done
[ -n "$pg_port" ] || die "PostgreSQL did not start, see $pg_root/postgres.log"
mark "postgres up on $pg_port"

"$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres shop \
  || die "cannot create database shop"
DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/shop"

mark "database shop created"
PAYMENT_URL=$(wait_healthy payment-service)
mark "payment-service healthy"

async_env=()
if [ "$ASYNC" = 1 ]; then
  KAFKA_BROKERS=
  while :; do
    kill -0 "$broker_pid" 2>/dev/null || die "the broker exited during startup, see $STATE_DIR/broker.log"
    if [ -s "$STATE_DIR/broker.out" ]; then
      KAFKA_BROKERS=$(head -n 1 "$STATE_DIR/broker.out")
      case $KAFKA_BROKERS in *:[0-9]*) break ;; esac
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "the broker printed no bootstrap list within ${STARTUP_TIMEOUT}s"
    sleep 0.05
  done
  mark "broker up on $KAFKA_BROKERS"
  INVENTORY_ADDR="127.0.0.1:$(wait_port_file inventory-service "$STATE_DIR/inventory-service.port")"
  inv_admin=$(wait_port_file inventory-service "$STATE_DIR/inventory-service.admin.port")
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$inv_admin/healthz" 2>/dev/null; do
    inv_pid_var=pid_inventory_service
    kill -0 "${!inv_pid_var}" 2>/dev/null || die "inventory-service exited during startup, see $STATE_DIR/inventory-service.log"
    [ "$(date +%s)" -lt "$deadline" ] || die "inventory-service not healthy within ${STARTUP_TIMEOUT}s"
    sleep 0.05
  done
  INVENTORY_URL="http://127.0.0.1:$inv_admin"
  mark "inventory-service healthy (gRPC $INVENTORY_ADDR)"
  async_env=(INVENTORY_ADDR="$INVENTORY_ADDR" KAFKA_BROKERS="$KAFKA_BROKERS")
  # The RabbitMQ clients boot (and shipping-service joins its Kafka group) while
  # RabbitMQ is still starting: they read its URL from amqp.url once it is ready.
  amqp_env=(AMQP_URL= AMQP_URL_FILE="$STATE_DIR/amqp.url" AMQP_CONNECT_TIMEOUT_MS=$((STARTUP_TIMEOUT * 1000)))
  launch notification-service "${amqp_env[@]}"
  launch shipping-service "${amqp_env[@]}" KAFKA_BROKERS="$KAFKA_BROKERS"
  mark "notification-service and shipping-service launched"
fi

launch order-service PAYMENT_URL="$PAYMENT_URL" DATABASE_URL="$DATABASE_URL" "${async_env[@]+"${async_env[@]}"}"
ORDER_URL=$(wait_healthy order-service)
mark "order-service healthy"
launch api-gateway ORDER_URL="$ORDER_URL"

if [ "$ASYNC" = 1 ]; then
  # RabbitMQ: wait for the background start (the gateway boots meanwhile).
  while kill -0 "$rabbit_job" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || die "RabbitMQ not ready within ${STARTUP_TIMEOUT}s, see $STATE_DIR/rabbitmq/log"
    sleep 0.05
  done
  rabbit_rc=0
  wait "$rabbit_job" || rabbit_rc=$?
  rm -f "$STATE_DIR/rabbitmq-start.pid"
  amqp_port=$(head -n 1 "$STATE_DIR/rabbitmq.out" 2>/dev/null | tr -dc '0-9')
  if [ "$rabbit_rc" -ne 0 ] || [ -z "$amqp_port" ]; then
    cat "$STATE_DIR/rabbitmq.out" >&2 || true
    die "RabbitMQ did not start (exit $rabbit_rc), see $STATE_DIR/rabbitmq.out and $STATE_DIR/rabbitmq/log"
  fi
  AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp_port"
  echo "$AMQP_URL" >"$STATE_DIR/amqp.url.tmp"
  mv "$STATE_DIR/amqp.url.tmp" "$STATE_DIR/amqp.url"
  mark "rabbitmq up on $amqp_port"
fi

GATEWAY_URL=$(wait_healthy api-gateway)
mark "api-gateway healthy"

if [ "$ASYNC" = 1 ]; then
  NOTIFICATION_URL=$(wait_healthy notification-service)
  mark "notification-service healthy (queue bound)"
  SHIPPING_URL=$(wait_healthy shipping-service)
  mark "shipping-service healthy (group joined)"
fi

cat >"$STATE_DIR/env.tmp" <<EOF
GATEWAY_URL=$GATEWAY_URL
ORDER_URL=$ORDER_URL
PAYMENT_URL=$PAYMENT_URL
PG_PORT=$pg_port
DATABASE_URL=$DATABASE_URL
PG_DATA=$pg_data
OTLP_ENDPOINT=$endpoint
OTLP_PROTOCOL=$PROTOCOL
ASYNC=$ASYNC
EOF
if [ "$ASYNC" = 1 ]; then
  cat >>"$STATE_DIR/env.tmp" <<EOF
KAFKA_BROKERS=$KAFKA_BROKERS
AMQP_URL=$AMQP_URL
INVENTORY_ADDR=$INVENTORY_ADDR
INVENTORY_URL=$INVENTORY_URL
SHIPPING_URL=$SHIPPING_URL
NOTIFICATION_URL=$NOTIFICATION_URL
EOF
fi
mv "$STATE_DIR/env.tmp" "$STATE_DIR/env"

elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
cat "$STATE_DIR/env"
echo "checkout-system: started in ${elapsed_ms} ms (state in $STATE_DIR)"
