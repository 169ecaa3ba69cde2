#!/usr/bin/env bash
# Probe benchmark: the real synguard-exporter probing 200 loopback targets at
# a 1 s interval, half of them silent (accept, never answer, so each probe
# runs into its 1 s timeout). For each probes.concurrency in CONCURRENCY it
# warms up, then samples for RUN_SECONDS: the exporter's CPU (utime+stime
# from /proc/PID/stat), RSS and peak RSS, threads, go_goroutines and
# synguard_probe_in_flight from its own /metrics, and the probes run and
# failed (synguard_probe_runs_total, _failures_total) split by answering and
# silent targets. Then the Go benchmarks of one probe and one scrape.
# Writes test/bench/results/probes.md (and prints it). Needs no root.
#
# Env: CONCURRENCY ["32 200"], RUN_SECONDS [60], WARMUP_SECONDS [10],
#      OUT [test/bench/results/probes.md]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
CONCURRENCY=${CONCURRENCY:-32 200}
RUN_SECONDS=${RUN_SECONDS:-60}
WARMUP_SECONDS=${WARMUP_SECONDS:-10}
OUT=${OUT:-$repo/test/bench/results/probes.md}
N_OK=100 N_SILENT=100

work=$(mktemp -d /tmp/sgb-probebench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/synguard-exporter" ./cmd/exporter
go build -o "$work/probetargets" ./test/bench/probetargets

total=$(( WARMUP_SECONDS + RUN_SECONDS + 60 ))
"$work/probetargets" -ok $N_OK -silent $N_SILENT -duration "$(( total * 3 ))s" >"$work/targets" &
pids+=($!)
for _ in $(seq 100); do [ "$(wc -l <"$work/targets")" -ge $((N_OK + N_SILENT)) ] && break; sleep 0.05; done
[ "$(wc -l <"$work/targets")" -ge $((N_OK + N_SILENT)) ] || { echo "bench: targets did not start" >&2; exit 1; }
awk '$1 == "ok" {print "127.0.0.1:" $2}' "$work/targets" >"$work/ok"

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
metric() { awk -v m="$2" '$1 == m {print $2}' "$1"; }
# probe_sums FILE: runs and failures of answering and silent targets.
probe_sums() {
  awk 'NR == FNR {ok["target=\"" $1 "\"}"] = 1; next}
    /^synguard_probe_(runs|failures)_total\{/ {
      split($1, a, ","); t = a[2]; kind = (t in ok) ? "ok" : "silent"
      if ($1 ~ /^synguard_probe_runs_total/) r[kind] += $2; else f[kind] += $2
    }
    END {printf "%d %d %d %d\n", r["ok"], f["ok"], r["silent"], f["silent"]}' "$work/ok" "$1"
}

{
  echo "# Probe benchmark"
  echo
  echo "Command: \`bash test/bench/probes.sh\` (or \`make bench\`), $(date -u +'%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) cores, $(go version | awk '{print $3}')."
  echo "The real synguard-exporter (no SYN flood: its syn_recv collector idles) probes $((N_OK + N_SILENT)) loopback targets,"
  echo "pop3 module (banner dialogue), timeout 1s, interval 1s: $N_OK answer at once, $N_SILENT accept and never answer (each"
  echo "probe of them times out). Targets are served by test/bench/probetargets in a separate process."
  echo "Measured over ${RUN_SECONDS}s after ${WARMUP_SECONDS}s of warm-up; goroutines and in-flight probes sampled every 2s"
  echo "from the exporter's own /metrics (peak shown). CPU = exporter utime+stime / wall time (100% = one core)."
  echo
  echo "| probes.concurrency | CPU | RSS end / peak | threads | goroutines peak | in flight peak | probes/s answering (failed) | probes/s silent |"
  echo "|---:|---:|---|---:|---:|---:|---|---:|"
} >"$work/table"

for conc in $CONCURRENCY; do
  port=$(( 20000 + RANDOM % 10000 ))
  {
    echo "probes:"
    echo "  concurrency: $conc"
    echo "  modules:"
    echo "    pop3: {prober: pop3, timeout: 1s}"
    echo "  targets:"
    awk '{print "    - {module: pop3, target: \"127.0.0.1:" $2 "\", interval: 1s}"}' "$work/targets"
  } >"$work/exporter.yml"
  "$work/synguard-exporter" --config.file="$work/exporter.yml" --web.listen-address="127.0.0.1:$port" \
    --collector.syn-recv.source=procfs --log.level=warn 2>"$work/exporter.log" &
  exp=$!
  pids+=("$exp")
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.1; done
  sleep "$WARMUP_SECONDS"
  curl -sf -o "$work/m0" "http://127.0.0.1:$port/metrics"
  read -r r0_ok f0_ok r0_si _ < <(probe_sums "$work/m0")
  c0=$(cpu_ticks "$exp"); t0=$EPOCHREALTIME
  gpeak=0; fpeak=0; thr=0
  end=$(( SECONDS + RUN_SECONDS ))
  while [ $SECONDS -lt $end ]; do
    sleep 2
    curl -sf -o "$work/m" "http://127.0.0.1:$port/metrics"
    g=$(metric "$work/m" go_goroutines); f=$(metric "$work/m" synguard_probe_in_flight)
    [ "${g%.*}" -gt "$gpeak" ] && gpeak=${g%.*}
    [ "${f%.*}" -gt "$fpeak" ] && fpeak=${f%.*}
    t=$(status_kib "$exp" Threads); [ "$t" -gt "$thr" ] && thr=$t
  done
  c1=$(cpu_ticks "$exp"); t1=$EPOCHREALTIME
  curl -sf -o "$work/m1" "http://127.0.0.1:$port/metrics"
  read -r r1_ok f1_ok r1_si _ < <(probe_sums "$work/m1")
  rss=$(status_kib "$exp" VmRSS); hwm=$(status_kib "$exp" VmHWM)
  kill "$exp"; wait "$exp" 2>/dev/null || true
  awk -v c="$conc" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v clk="$clk" -v rss="$rss" -v hwm="$hwm" \
      -v thr="$thr" -v g="$gpeak" -v f="$fpeak" -v rok=$((r1_ok - r0_ok)) -v fok=$((f1_ok - f0_ok)) -v rsi=$((r1_si - r0_si)) \
      'BEGIN {w = t1 - t0; printf "| %d | %.1f%% | %.1f / %.1f MiB | %d | %d | %d | %.1f (%.1f) | %.1f |\n",
        c, 100 * (c1 - c0) / clk / w, rss / 1024, hwm / 1024, thr, g, f, rok / w, fok / w, rsi / w}' >>"$work/table"
  echo "== concurrency $conc done" >&2
done

{
  echo
  echo "Go benchmarks (\`go test -run '^\$' -bench . -benchmem ./internal/probe\`):"
  echo
  echo '```'
  go test -run '^$' -bench . -benchmem -benchtime 2s ./internal/probe | grep -E '^(Benchmark|goos|cpu)'
  echo '```'
  echo
  echo "Reading: goroutines stay at one per target plus the exporter's own (about 15), whatever the concurrency,"
  echo "because a probe runs in its target's goroutine and a timed-out probe's connection is closed by its context."
  echo "The semaphore is the bound: when timing-out probes need more slots than probes.concurrency (here"
  echo "$N_SILENT silent x 1s timeout / 1s interval = $N_SILENT slots), every target, answering ones too, is probed less"
  echo "often than its interval, never more goroutines. Size probes.concurrency >= targets x timeout / interval."
} >>"$work/table"

mkdir -p "$(dirname "$OUT")"
cp "$work/table" "$OUT"
cat "$OUT"
