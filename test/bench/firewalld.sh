#!/usr/bin/env bash
# firewalld backend benchmark, in one run against one real firewalld in a lab
# namespace (test/lab/firewalld.sh): the Go Client's Add of 1,000 and 10,000
# prefixes in ipset mode (one batch each) and 1,000 in zone mode, one more
# block at that size, Sync restoring everything after `firewall-cmd --reload`,
# beside a loop of `firewall-cmd --zone=drop --add-source` over a sample of
# the same prefixes. Then, on a second firewalld running in the victim
# namespace of a SYN flood lab (test/lab/synflood.sh), BenchmarkFlood
# (internal/conntrack): the connection cut and the call it follows, idle and
# with FLOOD half-open connections in the conntrack table. Writes
# test/bench/results/firewalld.md (and prints it). Needs root.
#
# Env: SAMPLE [20] firewall-cmd calls, FLOOD [30000] SYN_RECV,
#      OUT [test/bench/results/firewalld.md],
#      FW_NS [sgf-bench-$$], FW_STATE [/tmp/sgf-bench-$$]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
SAMPLE=${SAMPLE:-20}
FLOOD=${FLOOD:-30000}
OUT=${OUT:-$repo/test/bench/results/firewalld.md}
export FW_NS=${FW_NS:-sgf-bench-$$} FW_STATE=${FW_STATE:-/tmp/sgf-bench-$$}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces, firewalld)" >&2; exit 1; }
# shellcheck source=../lab/firewalld.sh
. test/lab/firewalld.sh

work=$(mktemp -d /tmp/sgf-bench.XXXXXX)
# Keep firewalld's state dir (logs) only when the run failed.
trap 'rc=$?; fw_down; rm -rf "$work"; [ "$rc" != 0 ] || rm -rf "$FW_STATE"' EXIT
fw_root_nft_empty || { echo "bench: the root namespace has nft tables; refusing to run beside them" >&2; exit 1; }
fw_up 2>"$work/fw.log"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The i-th /29 of 198.18.0.0/15, as benchPrefixes in bench_test.go.
prefix_n() { local blk=$(( $1 / 32 )); echo "198.$(( 18 + blk / 256 )).$(( blk % 256 )).$(( $1 % 32 * 8 ))/29"; }
us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

echo "== firewall-cmd --zone=drop --add-source x$SAMPLE" >&2
t0=$(us)
for ((i = 0; i < SAMPLE; i++)); do fw_cmd --zone=drop --add-source="$(prefix_n "$i")" >/dev/null; done
t1=$(us)
for ((i = 0; i < SAMPLE; i++)); do fw_cmd --zone=drop --remove-source="$(prefix_n "$i")" >/dev/null; done
cmd_ms_per=$(awk -v d=$((t1 - t0)) -v n="$SAMPLE" 'BEGIN {printf "%.1f", d / 1000 / n}')

echo "== Go benchmarks (BenchmarkIPSet, BenchmarkZone)" >&2
SGF_BENCH_BUS=$(fw_bus_address) SGF_BENCH_NETNS=/run/netns/$FW_NS \
  go test -run '^$' -bench '^Benchmark(IPSet|Zone)$' -benchtime=1x -count=1 -timeout 30m ./internal/firewalld/ \
  | tee "$work/bench.txt" >&2

# metric NAME BENCH: the value reported as NAME on BENCH's result line.
metric() { awk -v b="^Benchmark$2-" -v m="$1" '$1 ~ b { for (i = 3; i < NF; i++) if ($(i+1) == m) print $i }' "$work/bench.txt"; }
ratio() { awk -v a="$cmd_ms_per" -v b="$1" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "n/a" }'; }

# flood_bench: BenchmarkFlood idle ("idle ...") and during a flood
# ("flood ..."), on a firewalld of its own in the flood lab's victim
# namespace; everything it starts is stopped before it returns.
flood_bench() (
  export LAB_NAME=sgfc$$ LAB_STATE=/tmp/sgfc-$$ LAB_SYNACK_RETRIES=7
  # shellcheck source=../lab/synflood.sh
  . test/lab/synflood.sh
  export FW_NS=$LAB_NAME-v FW_STATE=/tmp/sgfc-fw-$$
  trap 'fw_down >/dev/null 2>&1 || true; lab_down >/dev/null 2>&1 || true; rm -rf "$FW_STATE"' EXIT
  lab_up >&2
  fw_up 2>>"$work/fw.log" >&2
  # Permanent: the benchmark's Prepare reloads firewalld.
  fw_cmd --permanent --zone=public --add-port=25/tcp >/dev/null
  fw_reload
  run() {
    SGF_BENCH_BUS=$(fw_bus_address) SGF_BENCH_NETNS=/run/netns/$FW_NS \
      go test -run '^$' -bench '^BenchmarkFlood$' -benchtime=3x -count=1 ./internal/conntrack/ | grep '^BenchmarkFlood'
  }
  echo "idle $(run)"
  lab_flood 198.51.100.0/24 "$FLOOD" 25
  lab_wait_count "$FLOOD" 60 >&2 || true
  echo "flood syn_recv=$(lab_syn_recv_count) $(run)"
)
echo "== BenchmarkFlood: the connection cut, idle and during a flood of $FLOOD SYN_RECV" >&2
fw_down >/dev/null 2>&1
flood_bench >"$work/flood.txt"
cat "$work/flood.txt" >&2
# fm WHEN NAME: BenchmarkFlood's NAME in the idle or flood run.
fm() { awk -v w="$1" -v m="$2" '$1 == w { for (i = 2; i < NF; i++) if ($(i+1) == m) print $i }' "$work/flood.txt"; }

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
i1k=$(metric add1000-ms/prefix IPSet); i10k=$(metric add10000-ms/prefix IPSet); z1k=$(metric add1000-ms/prefix Zone)
fw_root_nft_empty || { echo "bench: the root namespace's firewall changed!" >&2; exit 1; }

{
  echo "# firewalld backend: measured costs"
  echo
  echo "Command: \`sudo test/bench/firewalld.sh\` (SAMPLE=$SAMPLE), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores,"
  echo "firewalld $(dpkg-query -W -f='${Version}' firewalld 2>/dev/null || echo '?') (nftables backend) on a private D-Bus in a network namespace,"
  echo "prefixes: /29s of 198.18.0.0/15. One firewalld, one run; the Go side is \`internal/firewalld\`'s Client over godbus."
  echo "Load average before / after (the machine is shared: compare ratios within one run): $load_before / $load_after."
  echo
  echo "| what | total | per prefix | vs firewall-cmd loop |"
  echo "|---|---|---|---|"
  echo "| \`firewall-cmd --zone=drop --add-source\` loop, $SAMPLE prefixes | $(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.0f ms", d / 1000}') | $cmd_ms_per ms | 1x |"
  echo "| ipset mode: Add of 1,000 (one batch) | $(metric add1000-ms IPSet) ms | $i1k ms | $(ratio "$i1k")x faster |"
  echo "| ipset mode: Add of 10,000 (one batch) | $(metric add10000-ms IPSet) ms | $i10k ms | $(ratio "$i10k")x faster |"
  echo "| zone mode: Add of 1,000 (one batch) | $(metric add1000-ms Zone) ms | $z1k ms | $(ratio "$z1k")x faster |"
  echo
  echo "| what | time |"
  echo "|---|---|"
  echo "| ipset mode: one more block with 10,000 present (addEntry) | $(metric add1at10000-ms IPSet) ms |"
  echo "| ipset mode: ten more blocks with 10,001 present (one engine step's batch, addEntry each) | $(metric add10at10000-ms IPSet) ms |"
  echo "| ipset mode: Sync restoring 10,000 after \`firewall-cmd --reload\` (one setEntries) | $(metric restore10000-ms IPSet) ms |"
  echo "| ipset mode: Sync with nothing to repair, 10,000 blocks | $(metric sync10000noop-ms IPSet) ms |"
  echo "| zone mode: one more block with 1,000 present (addSource) | $(metric add1at1000-ms Zone) ms |"
  echo "| zone mode: Sync restoring 1,000 after a reload (1,000 addSource) | $(metric restore1000-ms Zone) ms |"
  echo "| zone mode: Sync with nothing to repair, 1,000 blocks | $(metric sync1000noop-ms Zone) ms |"
  echo
  echo "The connection cut (firewall.WithCut, internal/conntrack) on a firewalld in the victim namespace of a SYN flood"
  echo "lab, idle and with $(awk '$1 == "flood" { sub("syn_recv=", "", $2); print $2 }' "$work/flood.txt") half-open connections (BenchmarkFlood, mean of 3):"
  echo
  echo "| what | idle | during the flood |"
  echo "|---|---|---|"
  echo "| conntrack entries (assured) | $(fm idle table-entries) ($(fm idle assured-entries)) | $(fm flood table-entries) ($(fm flood assured-entries)) |"
  echo "| read the whole table (the cut before the fix) | $(fm idle dump-all-ms) ms | $(fm flood dump-all-ms) ms |"
  echo "| read the assured entries only (the kernel filters) | $(fm idle dump-assured-ms) ms | $(fm flood dump-assured-ms) ms |"
  echo "| conntrack.Cutter.Cut of the flooding /24 | $(fm idle cut-ms) ms | $(fm flood cut-ms) ms |"
  echo "| ipset Add of one prefix, alone | $(fm idle add-ms) ms | $(fm flood add-ms) ms |"
  echo "| Add, then the cut as it was (what the driver waited for before the fix) | $(fm idle add-then-cut-ms) ms | $(fm flood add-then-cut-ms) ms |"
  echo "| firewall.WithCut's Add now (the cut runs after it returns) | $(fm idle withcut-add-ms) ms | $(fm flood withcut-add-ms) ms |"
  echo
  echo "Raw \`go test -bench\` output:"
  echo
  echo '```'
  grep -E '^(Benchmark|goos|goarch|cpu)' "$work/bench.txt"
  cat "$work/flood.txt"
  echo '```'
} >"$OUT"
cat "$OUT"
