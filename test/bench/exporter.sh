#!/usr/bin/env bash
# Exporter benchmark: real SYN_RECV sockets in a victim namespace (10,000,
# then 100,000, never more at once), read in the same run by the exporter
# (netlink and procfs sources), `ss -Htan state syn-recv` and `netstat -tan`;
# then the aggregation alone on 1,000,000 synthetic netlink messages. At
# CPU_AT sockets, the exporter's CPU under 1 s scrapes: the fast path
# (/metrics?collect[]=syn_recv, the shipped 1 s job) against the whole
# /metrics, and the shipped two-job layout, one exporter process each, in
# the same run. Writes test/bench/results/exporter.md (and prints it).
# Needs root.
#
# Env: STEPS ["10000 100000"], ROUNDS [7] (medians over ROUNDS runs),
#      CPU_AT [10000] (a step of STEPS; none: skip), CPU_SECONDS [120],
#      LAB_NAME [sga-bench], OUT [test/bench/results/exporter.md]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
STEPS=${STEPS:-10000 100000}
ROUNDS=${ROUNDS:-7}
CPU_AT=${CPU_AT:-10000}
CPU_SECONDS=${CPU_SECONDS:-120}
OUT=${OUT:-$repo/test/bench/results/exporter.md}
export LAB_NAME=${LAB_NAME:-sga-bench} LAB_SYNACK_RETRIES=7 LAB_LISTEN_SECONDS=900
export LAB_STATE=/tmp/$LAB_NAME
# shellcheck source=../lab/synflood.sh
source test/lab/synflood.sh
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
for tool in /usr/bin/time netstat ss curl nft tc; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool (Debian: time, net-tools, iproute2, curl, nftables)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sga-bench.XXXXXX)
trap 'lab_down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/synguard-exporter" ./cmd/exporter

# The /27s the flood comes from, as in the reference measurement: six.
PREFIXES="203.0.113.0/27 203.0.113.32/27 203.0.113.64/27 198.51.100.0/27 198.51.100.32/27 198.51.100.64/27"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# wall_us CMD: wall time in microseconds of a shell pipeline in the victim ns.
wall_us() {
  lab_vx bash -c 's=$EPOCHREALTIME; '"$1"' >/dev/null; e=$EPOCHREALTIME; echo $(( (${e/./} - ${s/./}) ))'
}
# maxrss_kib CMD: peak RSS of one command in the victim ns.
maxrss_kib() { lab_vx /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null; cat "$work/rss"; }

# scrape PORT: curl's wall time (us) and the syn_recv collector's own
# duration (us) of one scrape; also checks the sockets add up.
scrape() {
  lab_vx curl -sf -o "$work/m" -w '%{time_total}\n' "http://127.0.0.1:$1/metrics" >"$work/t"
  local t c
  t=$(awk '{printf "%d", $1 * 1e6}' "$work/t")
  c=$(awk -F' ' '/^synguard_scrape_collector_duration_seconds\{collector="syn_recv"\}/ {printf "%d", $2 * 1e6}' "$work/m")
  echo "$t $c"
}
counted() { awk '/^synguard_syn_recv_sockets\{/ {s += $2} END {print s + 0}' "$work/m"; }
# cpu_ticks PID: user + system CPU of a process (all its threads, exited
# ones included), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# cpu_phase N: the exporter's CPU at N sockets under 1 s scrapes, one
# process per layout, all scraped in the same seconds (in alternating
# order): fast = ?collect[]=syn_recv every 1 s; full = /metrics every 1 s
# (the single 1 s job the fast path replaces); shipped = the two jobs of
# deploy/prometheus/prometheus.yml, ?collect[]=syn_recv every 1 s and
# ?exclude[]=syn_recv every 5 s; idle = never scraped (the background).
cpu_phase() {
  local n=$1 l t0 t1
  declare -A c0 c1
  for l in fast full shipped idle; do c0[$l]=$(cpu_ticks "$(cat "$LAB_STATE/exp-$l.pid")"); done
  t0=$EPOCHREALTIME
  # One bash in the victim namespace drives the scrapes: no ip netns exec
  # per scrape. Each scrape's wall time goes to $work/cpu-LAYOUT.
  lab_vx bash -c '
    work=$1 secs=$2
    get() { curl -sf -o "$work/cpu-$1.m" -w "%{time_total}\n" "http://127.0.0.1:$2/metrics$3" >>"$work/cpu-$1" || echo "scrape $1 failed" >&2; }
    for ((i = 0; i < secs; i++)); do
      next=$(( ${EPOCHREALTIME/./} + 1000000 ))
      if (( i % 2 )); then get full 19820 ""; get fast 19819 "?collect%5B%5D=syn_recv"
      else get fast 19819 "?collect%5B%5D=syn_recv"; get full 19820 ""; fi
      get shipped 19821 "?collect%5B%5D=syn_recv"
      (( i % 5 )) || get shipped-rest 19821 "?exclude%5B%5D=syn_recv"
      left=$(( next - ${EPOCHREALTIME/./} ))
      (( left > 0 )) && sleep "$(printf "0.%06d" "$left")"
    done' _ "$work" "$CPU_SECONDS"
  t1=$EPOCHREALTIME
  for l in fast full shipped idle; do c1[$l]=$(cpu_ticks "$(cat "$LAB_STATE/exp-$l.pid")"); done
  for l in fast full; do
    [ "$(awk '/^synguard_syn_recv_sockets\{/ {s += $2} END {print s + 0}' "$work/cpu-$l.m")" = "$n" ] ||
      { echo "bench: the $l exporter did not count $n sockets at the end of the CPU phase" >&2; exit 1; }
  done
  grep -q '^synguard_syn_recv_sockets' "$work/cpu-shipped-rest.m" && { echo "bench: exclude[]=syn_recv served SYN_RECV" >&2; exit 1; }
  local el=$(( ${t1/./} - ${t0/./} ))
  {
    echo
    echo "## Exporter CPU at 1 s scrapes of $n SYN_RECV sockets: the fast path against the whole /metrics"
    echo
    echo "Four exporter processes (netlink source) in the same victim namespace, beside the sockets above, scraped"
    echo "in the same $CPU_SECONDS seconds (one second apart, the fast and full scrapes in alternating order) with curl"
    echo "from inside the namespace: **fast** \`/metrics?collect[]=syn_recv\` every 1 s (the shipped 1 s job),"
    echo "**full** \`/metrics\` every 1 s (one 1 s job for everything), **shipped** the two jobs of"
    echo "deploy/prometheus/prometheus.yml (\`?collect[]=syn_recv\` every 1 s and \`?exclude[]=syn_recv\` every 5 s),"
    echo "**idle** never scraped. CPU = user + system time of the exporter process (/proc/PID/stat, ${hz} Hz ticks)"
    echo "over the phase's $(awk -v e="$el" 'BEGIN {printf "%.1f", e/1e6}') s; per scrape = (CPU - idle's CPU) / scrapes. Wall = median curl time of a scrape."
    echo
    echo "| layout | scrapes | CPU ms/s | CPU ms/s above idle | vs full | CPU ms per scrape (above idle) | median wall ms per scrape |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local idle_ms full_ms
    idle_ms=$(awk -v a="${c0[idle]}" -v b="${c1[idle]}" -v hz="$hz" 'BEGIN {printf "%.3f", (b-a)*1000/hz}')
    full_ms=$(awk -v a="${c0[full]}" -v b="${c1[full]}" -v hz="$hz" -v i="$idle_ms" 'BEGIN {printf "%.3f", (b-a)*1000/hz - i}')
    for l in fast full shipped idle; do
      local k=0 w=""
      case $l in
        shipped) k=$(( $(wc -l <"$work/cpu-shipped") + $(wc -l <"$work/cpu-shipped-rest") ))
                 w="$(awk '{printf "%d\n", $1*1e6}' "$work/cpu-shipped" | median | awk '{printf "%.1f", $1/1000}') (1 s), $(awk '{printf "%d\n", $1*1e6}' "$work/cpu-shipped-rest" | median | awk '{printf "%.1f", $1/1000}') (5 s)" ;;
        idle) ;;
        *) k=$(wc -l <"$work/cpu-$l"); w=$(awk '{printf "%d\n", $1*1e6}' "$work/cpu-$l" | median | awk '{printf "%.1f", $1/1000}') ;;
      esac
      awk -v l="$l" -v a="${c0[$l]}" -v b="${c1[$l]}" -v hz="$hz" -v e="$el" -v i="$idle_ms" -v k="$k" -v f="$full_ms" -v w="$w" 'BEGIN {
        ms = (b-a)*1000/hz; s = e/1e6
        if (k > 0) printf "| %s | %d | %.2f | %.2f | %.2f | %.2f | %s |\n", l, k, ms/s, (ms-i)/s, (ms-i)/f, (ms-i)/k, w
        else printf "| %s | 0 | %.2f | | | | |\n", l, ms/s
      }'
    done
    awk -v a="${c0[fast]}" -v b="${c1[fast]}" -v c="${c0[full]}" -v d="${c1[full]}" -v x="${c0[shipped]}" -v y="${c1[shipped]}" -v i="$idle_ms" -v hz="$hz" 'BEGIN {
      f = (b-a)*1000/hz - i; u = (d-c)*1000/hz - i; s = (y-x)*1000/hz - i
      printf "\nAbove idle, in the same run, per second: the fast path alone costs %.2f of the whole /metrics at 1 s, the shipped two-job layout %.2f (one tick is %.0f ms of %.0f ms).\n", f/u, s/u, 1000/hz, u
    }'
  } >>"$work/cpu"
}
mallocs() { awk '/^go_memstats_mallocs_total / {printf "%d\n", $2}' "$work/m"; }

{
  echo "# Exporter benchmark"
  echo
  echo "Command: \`bash test/bench/exporter.sh\` (or \`make bench\`), $(date -u +'%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) cores, $(go version | awk '{print $3}')."
  echo "Real SYN_RECV sockets from six IPv4 /27s in a victim namespace (test/lab/synflood.sh), read in one run"
  echo "by each reader $ROUNDS times, interleaved; medians. Exporter time = wall time of a whole HTTP scrape"
  echo "(curl, inside the namespace); collector = its synguard_scrape_collector_duration_seconds{collector=\"syn_recv\"}."
  echo "RSS growth = exporter VmRSS after the scrapes at N sockets minus VmRSS after warm-up scrapes at 0 sockets."
  echo
  echo "Allocations per scrape = go_memstats_mallocs_total growth over the scrapes at N sockets, per scrape"
  echo "(the whole exporter: HTTP, encoding, collectors)."
  echo
  echo "| sockets | reader | median wall ms | vs ss | vs netstat | RSS | allocations per scrape |"
  echo "|---:|---|---:|---:|---:|---|---:|"
} >"$work/table"

for n in $STEPS; do
  [ "$n" -le 100000 ] || { echo "bench: refusing $n sockets (max 100000)" >&2; exit 1; }
  echo "== $n sockets: waiting for the kernel to drop earlier request sockets" >&2
  lab_slab_wait 2000 240
  lab_up
  lab_vx_bg exp-netlink "$work/synguard-exporter" --web.listen-address=127.0.0.1:19817 --collector.syn-recv.source=netlink
  lab_vx_bg exp-procfs "$work/synguard-exporter" --web.listen-address=127.0.0.1:19818 --collector.syn-recv.source=procfs
  if [ "$n" = "$CPU_AT" ]; then
    lab_vx_bg exp-fast "$work/synguard-exporter" --web.listen-address=127.0.0.1:19819
    lab_vx_bg exp-full "$work/synguard-exporter" --web.listen-address=127.0.0.1:19820
    lab_vx_bg exp-shipped "$work/synguard-exporter" --web.listen-address=127.0.0.1:19821
    lab_vx_bg exp-idle "$work/synguard-exporter" --web.listen-address=127.0.0.1:19822
    for p in 19819 19820 19821 19822; do
      for _ in $(seq 50); do lab_vx curl -sf -o /dev/null "http://127.0.0.1:$p/metrics" && break; sleep 0.1; done
    done
  fi
  for _ in $(seq 50); do lab_vx curl -sf -o /dev/null http://127.0.0.1:19818/metrics && lab_vx curl -sf -o /dev/null http://127.0.0.1:19817/metrics && break; sleep 0.1; done
  for _ in 1 2 3; do scrape 19817 >/dev/null; scrape 19818 >/dev/null; done
  rss0_nl=$(rss_kib "$(cat "$LAB_STATE/exp-netlink.pid")")
  rss0_pf=$(rss_kib "$(cat "$LAB_STATE/exp-procfs.pid")")

  per=$(( n / 6 )); sent=0; i=0
  start=$EPOCHREALTIME
  for p in $PREFIXES; do
    i=$((i + 1)); c=$per; [ $i -eq 6 ] && c=$(( n - sent ))
    lab_flood "$p" "$c" 25
    sent=$(( sent + c ))
  done
  lab_wait_count "$n" 120
  end=$EPOCHREALTIME
  echo "   flood of $n SYNs to $n SYN_RECV sockets: $(( (${end/./} - ${start/./}) / 1000 )) ms" >&2

  : >"$work/ss"; : >"$work/netstat"; : >"$work/nl"; : >"$work/nlc"; : >"$work/pf"; : >"$work/pfc"
  : >"$work/nlm"; : >"$work/pfm"
  for _ in $(seq "$ROUNDS"); do
    wall_us 'ss -Htan state syn-recv | wc -l' >>"$work/ss"
    wall_us 'netstat -tan | wc -l' >>"$work/netstat"
    read -r t c < <(scrape 19817); echo "$t" >>"$work/nl"; echo "$c" >>"$work/nlc"; mallocs >>"$work/nlm"
    [ "$(counted)" = "$n" ] || { echo "bench: netlink exporter counted $(counted), want $n" >&2; exit 1; }
    read -r t c < <(scrape 19818); echo "$t" >>"$work/pf"; echo "$c" >>"$work/pfc"; mallocs >>"$work/pfm"
    [ "$(counted)" = "$n" ] || { echo "bench: procfs exporter counted $(counted), want $n" >&2; exit 1; }
  done
  rss_ss=$(maxrss_kib ss -Htan state syn-recv)
  rss_ns=$(maxrss_kib netstat -tan)
  rss1_nl=$(rss_kib "$(cat "$LAB_STATE/exp-netlink.pid")")
  rss1_pf=$(rss_kib "$(cat "$LAB_STATE/exp-procfs.pid")")
  ss_us=$(median <"$work/ss"); ns_us=$(median <"$work/netstat")
  row() { # name us rss [allocs]
    awk -v n="$n" -v name="$1" -v us="$2" -v ss="$ss_us" -v ns="$ns_us" -v rss="$3" -v al="${4:-}" \
      'BEGIN {printf "| %d | %s | %.1f | %.2f | %.2f | %s | %s |\n", n, name, us/1000, us/ss, us/ns, rss, al}'
  }
  per_scrape() { awk 'NR == 1 {a = $1} {b = $1} END {if (NR > 1) printf "%d", (b - a) / (NR - 1)}' "$1"; }
  {
    row 'ss -Htan state syn-recv \| wc -l' "$ss_us" "$(awk -v k="$rss_ss" 'BEGIN {printf "%.1f MiB peak", k/1024}')"
    row 'netstat -tan \| wc -l' "$ns_us" "$(awk -v k="$rss_ns" 'BEGIN {printf "%.1f MiB peak", k/1024}')"
    row 'exporter, netlink: whole scrape' "$(median <"$work/nl")" \
      "$(awk -v a="$rss0_nl" -v b="$rss1_nl" 'BEGIN {printf "%.1f -> %.1f MiB (%+.2f MiB)", a/1024, b/1024, (b-a)/1024}')" "$(per_scrape "$work/nlm")"
    row 'exporter, netlink: collector' "$(median <"$work/nlc")" ""
    row 'exporter, procfs: whole scrape' "$(median <"$work/pf")" \
      "$(awk -v a="$rss0_pf" -v b="$rss1_pf" 'BEGIN {printf "%.1f -> %.1f MiB (%+.2f MiB)", a/1024, b/1024, (b-a)/1024}')" "$(per_scrape "$work/pfm")"
    row 'exporter, procfs: collector' "$(median <"$work/pfc")" ""
  } >>"$work/table"
  echo "   done: ss $((ss_us / 1000)) ms, netlink scrape $(( $(median <"$work/nl") / 1000 )) ms" >&2
  if [ "$n" = "$CPU_AT" ]; then
    echo "   CPU phase: $CPU_SECONDS s of 1 s scrapes" >&2
    cpu_phase "$n"
  fi
  lab_down
done

echo "== aggregation alone: synthetic netlink messages" >&2
{
  cat "$work/table"
  [ ! -s "$work/cpu" ] || cat "$work/cpu"
  echo
  echo "## Aggregation alone (1,000,000 synthetic sock_diag messages)"
  echo
  echo "\`go test -run '^\$' -bench 'Aggregate|ProcNetTCP' -benchmem ./internal/synrecv/\`: split, parse and aggregate,"
  echo "as a scrape does, on messages batched in datagrams like the kernel's; allocations per op stay 0 at every size."
  echo "BenchmarkProcNetTCP compares procfs's NetTCP with the streaming parser on a 100,000-line /proc/net/tcp."
  echo
  echo '```'
  go test -run '^$' -bench 'Aggregate|ProcNetTCP' -benchmem ./internal/synrecv/ | grep -E '^(Benchmark|cpu)'
  echo '```'
} >"$work/out"
mkdir -p "$(dirname "$OUT")"
cp "$work/out" "$OUT"
cat "$OUT"
