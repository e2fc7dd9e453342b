#!/usr/bin/env bash
# Stops what start.sh started in STATE_DIR: the services by PID (TERM, which
# makes them flush their spans, then KILL after STOP_TIMEOUT seconds, default
# 10), then (ASYNC=1) the Kafka-protocol broker by PID and RabbitMQ with
# tests/rabbitmq.sh stop (server and its epmd, by PID), then PostgreSQL with
# pg_ctl. Idempotent: safe to run again, or on a STATE_DIR where nothing (or
# only part) was started. Logs are kept.
#
#   stop.sh STATE_DIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
STOP_TIMEOUT=${STOP_TIMEOUT:-10}
RABBITMQ_SH=$HERE/../../tests/rabbitmq.sh

if [ $# -ne 1 ] || [ -z "$1" ]; then echo "usage: $0 STATE_DIR" >&2; exit 2; fi
[ -d "$1" ] || exit 0
STATE_DIR=$(cd "$1" && pwd)

# Only signal PIDs that still belong to a live node process (PIDs get reused;
# an exited service may linger as a zombie until its new parent reaps it).
is_ours() {
  local info
  info=$(ps -o stat=,comm= -p "$1" 2>/dev/null) || return 1
  case $info in Z* | *'<defunct>'*) return 1 ;; esac
  [ "${info##* }" = node ]
}

# --- services -------------------------------------------------------------------
if [ -f "$STATE_DIR/pids" ]; then
  pids=()
  while read -r pid; do
    case $pid in '' | *[!0-9]*) continue ;; esac
    if is_ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done <"$STATE_DIR/pids"

  deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  while [ ${#pids[@]} -gt 0 ]; do
    alive=()
    for pid in "${pids[@]}"; do
      if is_ours "$pid"; then alive+=("$pid"); fi
    done
    pids=("${alive[@]+"${alive[@]}"}")
    [ ${#pids[@]} -gt 0 ] || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "stop.sh: killing ${pids[*]} (no exit after ${STOP_TIMEOUT}s)" >&2
      kill -KILL "${pids[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  rm -f "$STATE_DIR/pids"
fi

# cmdline_has PID WORD: the live, non-zombie process PID has WORD in its command line.
cmdline_has() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case $stat in Z*) return 1 ;; esac
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pid PID WORD: TERM, then KILL after STOP_TIMEOUT, if PID still runs WORD.
stop_pid() {
  local pid=$1 word=$2 deadline
  case $pid in '' | *[!0-9]*) return 0 ;; esac
  cmdline_has "$pid" "$word" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  while cmdline_has "$pid" "$word"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "stop.sh: killing $pid ($word; no exit after ${STOP_TIMEOUT}s)" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
}

# --- Kafka-protocol broker (tbt broker) ---------------------------------------------
if [ -f "$STATE_DIR/broker.pid" ]; then
  stop_pid "$(cat "$STATE_DIR/broker.pid" 2>/dev/null)" broker
  rm -f "$STATE_DIR/broker.pid"
fi

# --- RabbitMQ ---------------------------------------------------------------------
# A start that is still in progress (start.sh failed meanwhile) goes first.
if [ -f "$STATE_DIR/rabbitmq-start.pid" ]; then
  stop_pid "$(cat "$STATE_DIR/rabbitmq-start.pid" 2>/dev/null)" rabbitmq.sh
  rm -f "$STATE_DIR/rabbitmq-start.pid"
fi
if [ -d "$STATE_DIR/rabbitmq" ]; then
  if [ -f "$RABBITMQ_SH" ]; then
    bash "$RABBITMQ_SH" stop "$STATE_DIR/rabbitmq" >/dev/null 2>&1 || true
  fi
  # Without the script (or if it left something): the server and epmd by PID.
  for f in server epmd; do
    if [ -s "$STATE_DIR/rabbitmq/$f.pid" ]; then
      pid=$(cat "$STATE_DIR/rabbitmq/$f.pid" 2>/dev/null || true)
      case $f in server) word=rabbit ;; *) word=epmd ;; esac
      stop_pid "$pid" "$word"
      rm -f "$STATE_DIR/rabbitmq/$f.pid"
    fi
  done
  # The node is throwaway: drop its database, keep its logs.
  rm -rf "$STATE_DIR/rabbitmq/mnesia"
fi

# --- PostgreSQL -------------------------------------------------------------------
pg_root=
[ -f "$STATE_DIR/pgroot" ] && pg_root=$(cat "$STATE_DIR/pgroot")
if [ -n "$pg_root" ] && [ -d "$pg_root" ]; then
  pg_data="$pg_root/data"
  if [ -f "$pg_data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      as_pg() { (cd / && runuser -u postgres -- "$@"); }
    else
      as_pg() { "$@"; }
    fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -m fast -w -t 30 stop >/dev/null 2>&1; then
      # pg_ctl could not stop it: kill the postmaster if it is still there.
      pm=$(head -n 1 "$pg_data/postmaster.pid" 2>/dev/null || true)
      case $pm in '' | *[!0-9]*) ;; *)
        if [ "$(ps -o comm= -p "$pm" 2>/dev/null)" = postgres ]; then
          kill -QUIT "$pm" 2>/dev/null || true
        fi ;;
      esac
    fi
  fi
  # The cluster is throwaway: drop its data, keep its log.
  if [ "$pg_root" = "$STATE_DIR/pg" ]; then
    rm -rf "$pg_data" "$pg_root/sock"
  else
    cp "$pg_root/postgres.log" "$STATE_DIR/postgres.log" 2>/dev/null || true
    rm -rf "$pg_root"
  fi
fi
rm -f "$STATE_DIR/pgroot"
exit 0
