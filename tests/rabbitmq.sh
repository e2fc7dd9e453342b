#!/usr/bin/env bash
# rabbitmq.sh - a throwaway RabbitMQ node for tests, everything in one state
# directory, on free loopback ports, no systemd, no /var/lib/rabbitmq.
#
#   rabbitmq.sh start DIR [OWNER_PID]   start (or find running) the node whose
#                                       state lives in DIR; prints the AMQP port.
#                                       With OWNER_PID, a watchdog stops the node
#                                       once that process is gone (a test that
#                                       crashed or was killed leaves nothing).
#   rabbitmq.sh stop DIR                stop it (no-op when not running)
#   rabbitmq.sh port DIR                the AMQP port of a running node
#   rabbitmq.sh ctl DIR ARGS...         rabbitmqctl ARGS against that node
#                                       (e.g. set_vm_memory_high_watermark 0)
#
# DIR defaults to $TBT_RABBITMQ_DIR, else /tmp/tbt-rabbitmq. Both commands are
# idempotent. Runs as root: the /usr/sbin wrappers switch to the rabbitmq user
# (and the CLI then trips over the cookie), so this calls
# /usr/lib/rabbitmq/bin/rabbitmq-server directly with every path in DIR.
# Readiness is the AMQP handshake answering on the port, polled every 0.1 s
# with a bounded total wait ($TBT_RABBITMQ_START_TIMEOUT, default 60 s).
# Stop is SIGTERM to the server's PID (RabbitMQ shuts down gracefully on it),
# SIGKILL after 15 s, then the node's own epmd by its PID (SIGKILL: epmd
# ignores SIGTERM). TBT_RABBITMQ_ERL_ARGS adds Erlang VM arguments.
set -u

SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
START_TIMEOUT=${TBT_RABBITMQ_START_TIMEOUT:-60}

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }

# Running and not a zombie: the node outlives the start command, so its
# processes are reaped by init, which may take its time.
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] && [ -n "$st" ]
}

readpid() { if [ -s "$1" ]; then cat "$1" 2>/dev/null; fi; return 0; }

# The AMQP 0-9-1 protocol header; a ready broker answers with a
# connection.start method frame (frame type 1).
probe() {
  local c=''
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'AMQP\0\0\011\001' >&3
  IFS= read -r -t 2 -N 1 -d '' c <&3
  exec 3<&- 3>&-
  [ "$c" = $'\001' ]
}

port_free() { # nothing listens on it (ss when present, else a connect)
  if command -v ss >/dev/null 2>&1; then
    [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

pick_port() { # below the ephemeral range, not taken, not in $*
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    case " $* " in *" $p "*) continue ;; esac
    port_free "$p" && { echo "$p"; return 0; }
  done
  return 1
}

stop_pid() { # pid, seconds before SIGKILL (0: SIGKILL at once)
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 $(($2 * 10))); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
}

cmd_stop() {
  local dir=$1 w
  [ -d "$dir" ] || return 0
  w=$(readpid "$dir/watchdog.pid")
  # the watchdog may be the one calling stop: never kill ourselves
  if [ -n "$w" ] && [ "$w" != "$$" ] && [ "$w" != "${BASHPID:-}" ]; then
    stop_pid "$w" 2
  fi
  stop_pid "$(readpid "$dir/server.pid")" 15
  # epmd ignores SIGTERM and holds no state
  stop_pid "$(readpid "$dir/epmd.pid")" 0
  rm -f "$dir/server.pid" "$dir/epmd.pid" "$dir/watchdog.pid" "$dir/port"
  return 0
}

# One attempt on fresh ports: 0 ready, 1 failed (log kept), 2 port clash.
start_once() {
  local dir=$1 amqp dist epmd_port node t0 deadline epmd_pid pid now
  if ! { amqp=$(pick_port) && dist=$(pick_port "$amqp") && epmd_port=$(pick_port "$amqp" "$dist"); }; then
    die "no free port found"
  fi
  node="tbt_rmq_$amqp@localhost"
  rm -rf "$dir/mnesia" "$dir/log"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp
loopback_users = none
log.console = false
log.file.level = info
disk_free_limit.absolute = 1MB
vm_memory_high_watermark.relative = 0.9
EOF
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"

  # Our own epmd in the foreground, so its PID is known (erl reuses it).
  epmd -port "$epmd_port" </dev/null >"$dir/log/epmd.out" 2>&1 &
  epmd_pid=$!
  echo "$epmd_pid" >"$dir/epmd.pid"

  t0=$(date +%s%3N)
  # RUNNING_UNDER_SYSTEMD makes the script exec erl, so $! is the VM itself.
  HOME="$dir/home" \
    RUNNING_UNDER_SYSTEMD=1 \
    RABBITMQ_NODENAME="$node" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$amqp" \
    RABBITMQ_DIST_PORT="$dist" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${TBT_RABBITMQ_ERL_ARGS:-}" \
    ERL_EPMD_PORT="$epmd_port" \
    "$SERVER" </dev/null >"$dir/log/server.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/server.pid"

  deadline=$(($(date +%s) + START_TIMEOUT))
  while :; do
    if ! alive "$pid"; then
      if grep -qiE 'eaddrinuse|address already in use' "$dir/log/"* 2>/dev/null; then
        cmd_stop "$dir"
        return 2
      fi
      echo "rabbitmq.sh: the server exited during start; last lines of its output:" >&2
      tail -n 20 "$dir/log/server.out" >&2
      cmd_stop "$dir"
      return 1
    fi
    if probe "$amqp" 2>/dev/null; then
      echo "$amqp" >"$dir/port"
      echo "$node" >"$dir/node"
      echo "$epmd_port" >"$dir/epmd_port"
      now=$(date +%s%3N)
      echo "ready after $((now - t0)) ms" >"$dir/log/start-time"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "rabbitmq.sh: no AMQP answer on 127.0.0.1:$amqp after ${START_TIMEOUT}s; last lines:" >&2
      tail -n 20 "$dir/log/server.out" >&2
      cmd_stop "$dir"
      return 1
    fi
    sleep 0.1
  done
}

watchdog() { # owner, dir: stop the node when the owner is gone
  local owner=$1 dir=$2
  while alive "$owner" && [ -e "$dir/server.pid" ]; do
    sleep 0.5
  done
  cmd_stop "$dir"
}

cmd_start() {
  local dir=$1 owner=${2:-} port rc
  [ -x "$SERVER" ] || die "$SERVER not found: install rabbitmq-server (scripts/setup.sh)"
  [ "$(id -u)" -eq 0 ] || die "must run as root (see the header of this script)"
  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd)
  port=$(readpid "$dir/port")
  if [ -n "$port" ] && alive "$(readpid "$dir/server.pid")" && probe "$port" 2>/dev/null; then
    echo "$port"
    return 0
  fi
  cmd_stop "$dir"
  rc=2
  for _ in 1 2 3; do
    start_once "$dir"
    rc=$?
    [ "$rc" -eq 2 ] || break
  done
  [ "$rc" -ne 2 ] || die "the ports picked were taken three times over; giving up"
  [ "$rc" -eq 0 ] || exit 1
  if [ -n "$owner" ]; then
    watchdog "$owner" "$dir" </dev/null >/dev/null 2>&1 &
    echo "$!" >"$dir/watchdog.pid"
  fi
  cat "$dir/port"
}

case "${1:-}" in
start) cmd_start "${2:-${TBT_RABBITMQ_DIR:-/tmp/tbt-rabbitmq}}" "${3:-}" ;;
stop) cmd_stop "${2:-${TBT_RABBITMQ_DIR:-/tmp/tbt-rabbitmq}}" ;;
port)
  d=${2:-${TBT_RABBITMQ_DIR:-/tmp/tbt-rabbitmq}}
  p=$(readpid "$d/port")
  if [ -z "$p" ] || ! probe "$p" 2>/dev/null; then die "no node running in $d"; fi
  echo "$p"
  ;;
ctl)
  d=${2:-${TBT_RABBITMQ_DIR:-/tmp/tbt-rabbitmq}}
  if [ ! -s "$d/node" ] || [ ! -s "$d/epmd_port" ]; then die "no node state in $d"; fi
  shift 2
  HOME="$d/home" ERL_EPMD_PORT=$(cat "$d/epmd_port") RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$(cat "$d/node")" "$@"
  ;;
*) die "usage: rabbitmq.sh start|stop|port|ctl [DIR] [OWNER_PID | rabbitmqctl args]" ;;
esac
