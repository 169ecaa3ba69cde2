#!/usr/bin/env bash
# Resource use of the fleet scenario (test/lab/fleet.sh: N victims, each with
# a private firewalld on a private D-Bus, lab services, synguard-exporter
# probing its services every second and synguard-responder; one Prometheus
# with 1 s scrape and evaluation intervals; two clustered Alertmanagers), for
# each fleet size in SIZES, and from it how many hosts this machine holds.
#
#   bash test/bench/fleet.sh                    # SIZES="3 6"
#   SIZES="3 6 10" IDLE=30 bash test/bench/fleet.sh
#
# Per size: time to bring the fleet up; then CPU (% of one core, from
# utime+stime in /proc over the window) and RSS (VmRSS at the window's end)
# per process, summed per kind, first IDLE seconds with no flood, then FLOOD
# seconds from the start of a flood of one /27 at hosts 1 and 2 (RATE SYN/s
# each: the fleet block lands on every host inside the window; a process
# started inside the window, a flooder, counts from its start), with the
# time from the threshold crossed on the second host to the block in the
# last host's kernel. Root only; prints Markdown (and appends it to $BENCH_OUT
# if set). Everything it starts is stopped by recorded PID on exit.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1
SIZES=${SIZES:-3 6}
IDLE=${IDLE:-30}
FLOOD=${FLOOD:-20}
RATE=${RATE:-300}
BASE=/tmp/sgzb-$$
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root (network namespaces)"; exit 1; }
export LOOP_BIN=$BASE/bin LOOP_SECONDS=1800
# shellcheck source=../lab/fleet.sh
. test/lab/fleet.sh

out() { printf '%s\n' "$*"; [ -z "${BENCH_OUT:-}" ] || printf '%s\n' "$*" >>"$BENCH_OUT"; }
TCK=$(getconf CLK_TCK)

cleanup() { trap - EXIT INT TERM; loop_down 2>/dev/null; rm -rf "${BASE:?}/bin"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# procs: "kind pid" for every process of the lab: the recorded ones, each
# victim's firewalld and dbus-daemon, and the flooders under each flood
# wrapper (counted as kind flood).
procs() {
  local st name pid f c
  st=$(loop__state)
  for name in $(cat "$st/pids/order" 2>/dev/null); do
    pid=$(loop_pid "$name") || continue
    echo "${name%%[0-9]*} $pid"
    if [ "${name%%[0-9]*}" = flood ]; then
      for c in $(pgrep -g "$pid" 2>/dev/null); do [ "$c" = "$pid" ] || echo "flood $c"; done
    fi
  done
  for f in "$st"/fw*/firewalld.pid "$st"/fw*/dbus.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f"); kill -0 "$pid" 2>/dev/null || continue
    name=$(basename "$f" .pid); [ "$name" = dbus ] && name=dbus-daemon
    echo "$name $pid"
  done
}

# snap FILE: "kind pid ticks rss_kib" per process.
snap() {
  local kind pid stat ticks rss
  procs | while read -r kind pid; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    ticks=$(( ${12} + ${13} ))
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    echo "$kind $pid $ticks ${rss:-0}"
  done >"$1"
}

# table BEFORE AFTER SECONDS: per kind: processes, CPU % of one core (sum and
# per process), RSS MiB (sum and per process); and the totals.
table() {
  out "| process | count | CPU % of a core (all) | CPU % (each) | RSS MiB (all) | RSS MiB (each) |"
  out "|---|---:|---:|---:|---:|---:|"
  awk -v secs="$3" -v tck="$TCK" '
    NR == FNR { t0[$2] = $3; next }
    { k = $1; n[k]++; cpu[k] += ($3 - (($2 in t0) ? t0[$2] : 0)) / tck / secs * 100; rss[k] += $4 / 1024 }
    END {
      for (k in n) { printf "| %s | %d | %.1f | %.2f | %.0f | %.1f |\n", k, n[k], cpu[k], cpu[k] / n[k], rss[k], rss[k] / n[k] | "sort"
                     tc += cpu[k]; tr += rss[k]; tn += n[k] }
      close("sort")
      printf "| **total** | %d | %.1f | | %.0f | |\n", tn, tc, tr }' "$1" "$2" | while IFS= read -r l; do out "$l"; done
}

out "## Fleet resource use ($(date -u +%F), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg))"
out ""
out "Command: \`SIZES=\"$SIZES\" IDLE=$IDLE FLOOD=$FLOOD RATE=$RATE bash test/bench/fleet.sh\`"
built=""
for n in $SIZES; do
  export LOOP_NAME=sgzb$(( $$ % 10000 ))n$n LOOP_STATE=$BASE/n$n
  loop_init || exit 1
  if [ -z "$built" ]; then loop_build >"$BASE/build.log" 2>&1 || { cat "$BASE/build.log"; exit 1; }; built=yes; fi
  t0=$(loop__now_ms)
  if ! fleet_up "$n"; then out ""; out "### $n hosts: the fleet did not come up (logs: $LOOP_STATE/logs)"; loop_down; break; fi
  up_s=$(( ($(loop__now_ms) - t0) / 1000 ))
  sleep 10   # the first scrapes and probes settle
  snap "$BASE/a"; sleep "$IDLE"; snap "$BASE/b"
  out ""
  out "### $n hosts: up in ${up_s} s; idle, ${IDLE} s, load $(cut -d' ' -f1 /proc/loadavg)"
  out ""
  table "$BASE/a" "$BASE/b" "$IDLE"
  snap "$BASE/a"; t0=$(loop__now_ms)
  lat="not blocked everywhere within ${FLOOD}+30 s"
  if fleet_flood_wait_all 198.51.100.32/27 $(( FLOOD + 30 )) "$RATE" "$n" "$(fleet_threshold)" 1 2; then
    [ -n "$CROSS_MS" ] && lat="$(( BLOCK_MS - CROSS_MS )) ms from the threshold on host 2 to the block on the last of $n hosts"
  fi
  rest=$(( FLOOD * 1000 - ($(loop__now_ms) - t0) ))
  (( rest > 0 )) && sleep "$(( rest / 1000 )).$(( rest % 1000 / 100 ))"
  secs=$(awk -v ms="$(( $(loop__now_ms) - t0 ))" 'BEGIN {printf "%.1f", ms / 1000}')
  snap "$BASE/b"
  out ""
  out "### $n hosts: flood of one /27 at hosts 1 and 2, ${RATE} SYN/s each, ${secs} s; fleet block: $lat"
  out ""
  table "$BASE/a" "$BASE/b" "$secs"
  loop_down
done
