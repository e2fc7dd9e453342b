#!/usr/bin/env bash
# tbt as a load tool, beside wrk and Locust, against the checkout demo (issue #4).
#
#   bench/campaign_vs_load_tools.sh [C] [DURATION_S]      (defaults: 32 20)
#
# Starts the checkout system (examples/checkout-system/start.sh) exporting its
# spans to a free port, warms it up, then runs at the same concurrency C, one
# after the other, against the same system (nothing reset in between):
#   1. tbt     a campaign of bench/campaign/checkout-load.yaml: every run fires
#              POST /checkout, collects its whole trace and asserts it
#              (build-release/tbt run --duration Ds --concurrency C -o json,
#              embedded broker and agent, OTLP/HTTP on the system's port)
#   2. wrk     the same POST, -c C -t 2 -d Ds (bench/campaign/checkout.lua)
#   3. Locust  distributed: a master and 2 workers, headless, -u C, FastHttpUser
#              (bench/campaign/locustfile.py), --run-time Ds
# and prints one table: rate, failures, and tbt's ratio to wrk (goal >= 80 %)
# and to Locust (goal > 100 %). During the warm-up, wrk and Locust, a span sink
# (tbt run -f bench/campaign/span-sink.yaml) listens on the same port, so the
# system exports the same spans in every phase (SINK=none to leave the port
# closed instead).
#
# Builds nothing: needs build-release/tbt (meson setup build-release
# --buildtype=release -Dtests=false && ninja -C build-release), wrk, locust
# (Debian: apt-get install wrk python3-locust), python3, PostgreSQL 15 and
# examples/checkout-system/node_modules. Stops everything it started, by PID.
#
# Environment:
#   TBT_BIN                  tbt binary (default build-release/tbt)
#   OTEL_BSP_SCHEDULE_DELAY  the services' span batch delay in ms (default 10)
#   WARMUP_S                 wrk warm-up before the measured phases (default 30: the
#                            services' JIT needs ~30 s of load to reach full speed; 0: none)
#   QUIET_PERIOD             run the campaign with this completion.quietPeriod instead of
#                            the one in checkout-load.yaml (20ms), e.g. 100ms
#   RUNS                     tbt --runs RUNS instead of --duration DURATION_S
#   LOCUST_WORKERS           Locust workers (default 2)
#   SINK                     tbt (default) or none: what listens on the OTLP port
#                            while wrk and Locust run (the warm-up always has the
#                            sink: without it the exporters would still be dropping
#                            spans when the tbt campaign starts)
#   WORK_DIR                 where outputs go (default: a new /tmp/tbt-bench-campaign.*;
#                            kept, its path is printed)
#   BUGS                     passed to start.sh (e.g. double-charge: tbt must fail)
# Exit: 0 every phase ran and nothing failed; 1 a phase did not run or gave no
# figures; 2 all ran but some requests or runs failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CAMPAIGN_DIR=$ROOT/bench/campaign
SYSTEM_DIR=$ROOT/examples/checkout-system

C=${1:-32}
D=${2:-20}
TBT_BIN=${TBT_BIN:-$ROOT/build-release/tbt}
BSP_DELAY=${OTEL_BSP_SCHEDULE_DELAY:-10}
WARMUP_S=${WARMUP_S:-30}
RUNS=${RUNS:-}
LOCUST_WORKERS=${LOCUST_WORKERS:-2}
SINK=${SINK:-tbt}
QUIET_PERIOD=${QUIET_PERIOD:-}

die() { echo "campaign_vs_load_tools: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

case $C in '' | *[!0-9]* | 0) die "C must be a positive integer, got '$C'" ;; esac
case $D in '' | *[!0-9]* | 0) die "DURATION_S must be a positive integer, got '$D'" ;; esac
case $WARMUP_S in '' | *[!0-9]*) die "WARMUP_S must be an integer, got '$WARMUP_S'" ;; esac
case $LOCUST_WORKERS in '' | *[!0-9]* | 0) die "LOCUST_WORKERS must be a positive integer" ;; esac
case $RUNS in '' ) ;; *[!0-9]* | 0) die "RUNS must be a positive integer, got '$RUNS'" ;; esac
case $SINK in tbt | none) ;; *) die "SINK must be tbt or none, got '$SINK'" ;; esac
case $QUIET_PERIOD in '' | [0-9]*ms | [0-9]*s) ;; *) die "QUIET_PERIOD must be a duration such as 20ms, got '$QUIET_PERIOD'" ;; esac
[ $# -le 2 ] || die "usage: $0 [C] [DURATION_S]"

[ -x "$TBT_BIN" ] || die "tbt binary not found at $TBT_BIN (meson setup build-release --buildtype=release -Dtests=false && ninja -C build-release; or set TBT_BIN)"
"$TBT_BIN" run --help 2>&1 | grep -q -- '--concurrency' || die "$TBT_BIN has no campaigns (tbt run --concurrency): rebuild it"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
LOCUST=$(command -v locust || true)
[ -n "$LOCUST" ] || die "locust not found (apt-get install python3-locust)"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"
[ -d "$SYSTEM_DIR/node_modules" ] || die "$SYSTEM_DIR/node_modules missing (cd $SYSTEM_DIR && npm ci)"
for f in checkout-load.yaml checkout.lua locustfile.py span-sink.yaml; do
  [ -f "$CAMPAIGN_DIR/$f" ] || die "$CAMPAIGN_DIR/$f missing"
done

WORK=${WORK_DIR:-$(mktemp -d /tmp/tbt-bench-campaign.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
STATE=$WORK/system

# ---- processes we start: tracked by PID, stopped on any exit -----------------
PIDS=()
SYSTEM_STARTED=0

ours() { # PID still runs as our child (not reaped, not reused)
  local pid=$1 ppid
  ppid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ') || return 1
  [ "$ppid" = "$$" ]
}

stop_pid() { # TERM, then KILL after 10 s
  local pid=$1 i
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    ours "$pid" && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ] || break
    sleep 0.05
  done
  if ours "$pid" && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; then
    log "killing PID $pid (no exit 10 s after SIGTERM)"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$pid"; done
  if [ "$SYSTEM_STARTED" = 1 ]; then
    "$SYSTEM_DIR/stop.sh" "$STATE" >"$WORK/stop.out" 2>&1 || log "stop.sh failed, see $WORK/stop.out"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# CPU seconds (user+system, all threads) a live process has used so far.
cpu_s() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # fields after "(comm) ": state=1 ... utime=12 stime=13
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($12 + $13) / tck }' <<<"$stat"
}

# Machine-wide busy/total jiffies, for the CPU use of a phase.
cpu_snapshot() { awk '/^cpu /{ idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t - idle, t }' /proc/stat; }
cpu_busy_pct() { # "busy0 total0" "busy1 total1"
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$1"
  read -r b1 t1 <<<"$2"
  awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v n="$(nproc)" 'BEGIN { printf "%.0f%% of %d cores", t ? 100 * b / t : 0, n }'
}

# wait_watched LIMIT_S PID...: waits for the PIDs (our children), sampling their
# CPU time; after LIMIT_S seconds they are stopped and HUNG=1. Sets WAIT_RC (the
# first PID's exit status) and CPU_USED (summed CPU seconds of all PIDs).
wait_watched() {
  local limit=$1; shift
  local deadline=$(( $(date +%s) + limit )) pid alive v
  declare -A last=()
  HUNG=0
  while :; do
    alive=0
    for pid in "$@"; do
      if ours "$pid" && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; then
        alive=1
        # keep the largest sample: the process may exit between the checks
        if v=$(cpu_s "$pid") && awk -v a="$v" -v b="${last[$pid]:-0}" 'BEGIN { exit !(a >= b) }'; then
          last[$pid]=$v
        fi
      fi
    done
    [ $alive = 1 ] || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      HUNG=1
      log "still running after ${limit}s: stopping PID(s) $*"
      for pid in "$@"; do stop_pid "$pid"; done
      break
    fi
    sleep 0.1
  done
  WAIT_RC=0
  wait "$1" 2>/dev/null || WAIT_RC=$?
  shift
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
  CPU_USED=$(for pid in "${!last[@]}"; do echo "${last[$pid]}"; done | awk '{ s += $1 } END { printf "%.1f", s }')
}

# wait_http URL PID WHAT: polls until URL answers anything over HTTP.
wait_http() {
  local url=$1 pid=$2 what=$3 deadline=$(( $(date +%s) + 30 ))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
             -H 'Content-Type: application/x-protobuf' --data-binary '' "$url" 2>/dev/null)" != 000 ]; do
    ours "$pid" || die "$what exited before it listened, see $WORK"
    [ "$(date +%s)" -lt "$deadline" ] || die "$what not listening on $url after 30 s"
    sleep 0.05
  done
}

# wait_tcp PORT PID WHAT: polls until 127.0.0.1:PORT accepts connections.
wait_tcp() {
  local port=$1 pid=$2 what=$3 deadline=$(( $(date +%s) + 30 ))
  until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; do
    ours "$pid" || die "$what exited before it listened, see $WORK"
    [ "$(date +%s)" -lt "$deadline" ] || die "$what not listening on port $port after 30 s"
    sleep 0.05
  done
}

SINK_PID=
sink_start() { # sink_start [always]: the warm-up always has one (see SINK)
  [ "$SINK" = tbt ] || [ "${1:-}" = always ] || return 0
  "$TBT_BIN" run -f "$CAMPAIGN_DIR/span-sink.yaml" --otlp-http "127.0.0.1:$OTLP_PORT" --otlp-grpc off \
    </dev/null >>"$WORK/sink.out" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  wait_http "http://127.0.0.1:$OTLP_PORT/v1/traces" "$SINK_PID" "the span sink (tbt run -f span-sink.yaml)"
}
sink_stop() {
  [ -n "$SINK_PID" ] || return 0
  # Not a readiness wait: the load tool has just stopped, and the services are
  # still exporting its last spans. A receiver killed under an export makes the
  # OpenTelemetry JS exporter retry it ~1 s later and export nothing else
  # meanwhile, so the first runs of the campaign that follows would wait ~1 s
  # for their spans. 0.5 s of idle system lets those exports finish.
  sleep 0.5
  stop_pid "$SINK_PID"
  SINK_PID=
}

# ---- the system ---------------------------------------------------------------
OTLP_PORT=$(free_port)
log "work dir $WORK; C=$C, D=${D}s, OTEL_BSP_SCHEDULE_DELAY=${BSP_DELAY}ms, span sink: $SINK"
log "load average before start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
log "starting the checkout system (OTLP/HTTP to 127.0.0.1:$OTLP_PORT)"
SYSTEM_STARTED=1
OTEL_BSP_SCHEDULE_DELAY=$BSP_DELAY "$SYSTEM_DIR/start.sh" "$STATE" "http://127.0.0.1:$OTLP_PORT/v1/traces" \
  </dev/null >"$WORK/start.out" 2>&1 || { cat "$WORK/start.out" >&2; die "start.sh failed"; }
GATEWAY_URL=$(sed -n 's/^GATEWAY_URL=//p' "$STATE/env")
[ -n "$GATEWAY_URL" ] || die "no GATEWAY_URL in $STATE/env"
log "system up: $(tail -n 1 "$WORK/start.out")"

WRK_THREADS=2
[ "$C" -ge 2 ] || WRK_THREADS=1

if [ "$WARMUP_S" -gt 0 ]; then
  sink_start always
  log "warm-up: wrk -c $C for ${WARMUP_S}s (not counted)"
  wrk -t "$WRK_THREADS" -c "$C" -d "${WARMUP_S}s" --timeout 30s -s "$CAMPAIGN_DIR/checkout.lua" \
    "$GATEWAY_URL/checkout" </dev/null >"$WORK/warmup.out" 2>&1 || log "warm-up wrk failed, see $WORK/warmup.out"
  log "warm-up: $(grep -E 'Requests/sec' "$WORK/warmup.out" || echo '?')"
  sink_stop
fi

# ---- 1. tbt ---------------------------------------------------------------------
TEST_FILE=$CAMPAIGN_DIR/checkout-load.yaml
if [ -n "$QUIET_PERIOD" ]; then
  TEST_FILE=$WORK/checkout-load.yaml
  sed "s/^\( *quietPeriod:\).*/\1 $QUIET_PERIOD/" "$CAMPAIGN_DIR/checkout-load.yaml" >"$TEST_FILE"
fi
QUIET_USED=$(sed -n 's/^ *quietPeriod: *//p' "$TEST_FILE")
if [ -n "$RUNS" ]; then bound=(--runs "$RUNS"); limit=$(( RUNS / 5 + 120 )); else bound=(--duration "${D}s"); limit=$(( D + 120 )); fi
TBT_CMD=("$TBT_BIN" run -f "$TEST_FILE" --var "GATEWAY_URL=$GATEWAY_URL"
  "${bound[@]}" --concurrency "$C" -o json --progress never
  --otlp-http "127.0.0.1:$OTLP_PORT" --otlp-grpc off)
log "1/3 tbt: ${TBT_CMD[*]#$ROOT/}"
cpu0=$(cpu_snapshot)
"${TBT_CMD[@]}" </dev/null >"$WORK/tbt.json" 2>"$WORK/tbt.err" &
tbt_pid=$!
PIDS+=("$tbt_pid")
wait_watched "$limit" "$tbt_pid"
TBT_RC=$WAIT_RC TBT_HUNG=$HUNG TBT_CPU=$CPU_USED TBT_MACHINE=$(cpu_busy_pct "$cpu0" "$(cpu_snapshot)")
log "tbt exited $TBT_RC$([ "$TBT_HUNG" = 1 ] && echo ' (HUNG: stopped by the watchdog)')"
if [ "$TBT_RC" != 0 ] && [ -s "$WORK/tbt.err" ]; then sed 's/^/    tbt stderr: /' "$WORK/tbt.err" | head -n 20 >&2; fi

# ---- 2. wrk ---------------------------------------------------------------------
sink_start
WRK_CMD=(wrk -t "$WRK_THREADS" -c "$C" -d "${D}s" --timeout 30s --latency -s "$CAMPAIGN_DIR/checkout.lua" "$GATEWAY_URL/checkout")
log "2/3 wrk: ${WRK_CMD[*]#$ROOT/}"
cpu0=$(cpu_snapshot)
"${WRK_CMD[@]}" </dev/null >"$WORK/wrk.out" 2>&1 &
wrk_pid=$!
PIDS+=("$wrk_pid")
wait_watched $(( D + 60 )) "$wrk_pid"
WRK_RC=$WAIT_RC WRK_CPU=$CPU_USED WRK_MACHINE=$(cpu_busy_pct "$cpu0" "$(cpu_snapshot)")
[ "$WRK_RC" = 0 ] || log "wrk exited $WRK_RC, see $WORK/wrk.out"

# ---- 3. Locust (distributed) ------------------------------------------------------
MASTER_PORT=$(free_port)
LOCUST_MASTER=("$LOCUST" -f "$CAMPAIGN_DIR/locustfile.py" --master --master-bind-host 127.0.0.1
  --master-bind-port "$MASTER_PORT" --expect-workers "$LOCUST_WORKERS" --expect-workers-max-wait 60
  --headless -u "$C" -r "$C" -t "${D}s" --host "$GATEWAY_URL" --csv "$WORK/locust" --only-summary)
log "3/3 Locust: ${LOCUST_MASTER[*]#$ROOT/} + $LOCUST_WORKERS workers (FastHttpUser)"
cpu0=$(cpu_snapshot)
(cd "$WORK" && exec "${LOCUST_MASTER[@]}") </dev/null >"$WORK/locust-master.out" 2>&1 &
master_pid=$!
PIDS+=("$master_pid")
wait_tcp "$MASTER_PORT" "$master_pid" "the Locust master"
worker_pids=()
for ((i = 1; i <= LOCUST_WORKERS; i++)); do
  (cd "$WORK" && exec "$LOCUST" -f "$CAMPAIGN_DIR/locustfile.py" --worker --master-host 127.0.0.1 \
    --master-port "$MASTER_PORT") </dev/null >"$WORK/locust-worker$i.out" 2>&1 &
  worker_pids+=("$!")
  PIDS+=("$!")
done
wait_watched $(( D + 120 )) "$master_pid" "${worker_pids[@]}"
LOCUST_RC=$WAIT_RC LOCUST_CPU=$CPU_USED LOCUST_MACHINE=$(cpu_busy_pct "$cpu0" "$(cpu_snapshot)")
sink_stop
log "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table --------------------------------------------------------------------
export C D WORK TBT_RC TBT_HUNG TBT_CPU TBT_MACHINE WRK_RC WRK_CPU WRK_MACHINE LOCUST_RC LOCUST_CPU \
  LOCUST_MACHINE LOCUST_WORKERS WRK_THREADS BSP_DELAY QUIET_USED
python3 - <<'PY'
import csv, json, os, re, sys

env = os.environ
work, C, D = env["WORK"], int(env["C"]), int(env["D"])
rows, notes, ran_all, failed_any = [], [], True, False

def ms(ns):
    return f"{ns / 1e6:.1f}ms"

# tbt: the campaign JSON
tbt = None
try:
    with open(f"{work}/tbt.json") as f:
        doc = json.load(f)
    tbt = doc["campaign"][0]
except Exception as e:
    ran_all = False
    notes.append(f"tbt: no campaign JSON ({e}); exit {env['TBT_RC']}, see {work}/tbt.err")
if env["TBT_HUNG"] == "1":
    ran_all = False
    notes.append("tbt: HUNG, stopped by the watchdog")
if tbt:
    fails = tbt["failedRuns"] + tbt["errorRuns"]
    failed_any |= fails > 0
    rows.append(("tbt campaign (every trace asserted)", tbt["runsPerSecond"], "runs/s", tbt["runs"],
                 f"{tbt['failedRuns']} failed + {tbt['errorRuns']} errors", env["TBT_CPU"], env["TBT_MACHINE"]))
    td, vl = tbt["traceDuration"], tbt["verdictLatency"]
    notes.append(f"tbt: passRatio {tbt['passRatio']:.6f} ({tbt['passedRuns']}/{tbt['runs']}), exit {env['TBT_RC']}; "
                 f"traceDuration p50 {ms(td.get('p50', 0))} p95 {ms(td.get('p95', 0))} max {ms(td.get('max', 0))}; "
                 f"verdictLatency p50 {ms(vl.get('p50', 0))} p95 {ms(vl.get('p95', 0))} max {ms(vl.get('max', 0))}")
    for s in tbt.get("failingSpecs", []):
        notes.append(f"tbt: failing spec {s['count']}x {s['spec']}: {s.get('example')}")
    if tbt.get("error"):
        notes.append(f"tbt: error (e.g.): {tbt['error']}")

# wrk: its text report
wrk = None
try:
    out = open(f"{work}/wrk.out").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int((re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    se = [int(x) for x in sock.groups()] if sock else [0, 0, 0, 0]
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    wrk = rps
    fails = non2xx + sum(se)
    failed_any |= fails > 0
    rows.append((f"wrk -t {env['WRK_THREADS']}", rps, "req/s", total,
                 f"{non2xx} non-2xx + {sum(se)} socket errors", env["WRK_CPU"], env["WRK_MACHINE"]))
    notes.append(f"wrk: latency p50 {lat.get('50', '?')} p90 {lat.get('90', '?')} p99 {lat.get('99', '?')}; "
                 f"socket errors connect {se[0]}, read {se[1]}, write {se[2]}, timeout {se[3]}; exit {env['WRK_RC']}")
except Exception as e:
    ran_all = False
    notes.append(f"wrk: no figures ({e}); exit {env['WRK_RC']}, see {work}/wrk.out")

# Locust: the aggregated row of its CSV
loc = None
try:
    with open(f"{work}/locust_stats.csv") as f:
        agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
    n, nf, rps = int(agg["Request Count"]), int(agg["Failure Count"]), float(agg["Requests/s"])
    if n == 0:
        raise ValueError("no request was made (did the workers connect? see locust-master.out)")
    loc = rps
    failed_any |= nf > 0
    rows.append((f"Locust, {env['LOCUST_WORKERS']} workers, FastHttpUser", rps, "req/s", n, f"{nf} failures",
                 env["LOCUST_CPU"], env["LOCUST_MACHINE"]))
    notes.append(f"Locust: p50 {agg['50%']}ms p95 {agg['95%']}ms p99 {agg['99%']}ms; exit {env['LOCUST_RC']} "
                 f"(1 when any request failed)")
    try:
        with open(f"{work}/locust_failures.csv") as f:
            for r in csv.DictReader(f):
                notes.append(f"Locust: failure {r.get('Occurrences')}x {r.get('Error')}")
    except FileNotFoundError:
        pass
except Exception as e:
    ran_all = False
    notes.append(f"Locust: no figures ({e}); exit {env['LOCUST_RC']}, see {work}/locust-master.out")

print()
print(f"checkout POST /checkout, concurrency C={C}, {D}s per tool, OTEL_BSP_SCHEDULE_DELAY={env['BSP_DELAY']}ms, "
      f"quietPeriod {env['QUIET_USED']}, {os.cpu_count()} cores")
hdr = ("tool", "C", "rate", "unit", "count", "failures", "tool CPU s", "machine CPU")
w = (38, 4, 9, 6, 7, 32, 10, 16)
fmt = "  ".join(f"{{:{'<' if i in (0, 3, 5, 7) else '>'}{w[i]}}}" for i in range(len(w)))
print(fmt.format(*hdr))
print(fmt.format(*("-" * x for x in w)))
for name, rate, unit, count, fails, cpu, mach in rows:
    print(fmt.format(name, C, f"{rate:.1f}", unit, count, fails, cpu, mach))
print()
if tbt and wrk:
    r = tbt["runsPerSecond"] / wrk
    print(f"tbt / wrk    = {100 * r:5.1f} %   (goal >= 80 %: {'met' if r >= 0.8 else 'NOT met'})")
if tbt and loc:
    r = tbt["runsPerSecond"] / loc
    print(f"tbt / Locust = {100 * r:5.1f} %   (goal > 100 %: {'met' if r > 1 else 'NOT met'})")
print()
for n in notes:
    print("  " + n)
print(f"  raw outputs: {work}")
sys.exit(1 if not ran_all else 2 if failed_any else 0)
PY
