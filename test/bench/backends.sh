#!/usr/bin/env bash
# Backend cost benchmark (issue 15, item 4), in one run on one lab
# (test/lab/synflood.sh: a victim namespace whose listener answers SYNs, an
# attacker namespace whose flooder sends raw SYNs from 198.51.100.0/24 and
# drops the SYN-ACKs). The victim has a stateful host ruleset (ct state
# established,related accept, so conntrack runs) in each case:
#   none      nothing drops the flood: the kernel answers every SYN
#   nftables  synguard's nftables backend blocks 198.51.100.0/24 (SYN drop
#             at prerouting, priority raw, before conntrack)
#   firewalld a real firewalld in the victim namespace, the prefix in an
#             ipset bound to its drop zone (filter hook, after conntrack)
# For each: CPU per million flood SYNs at one fixed rate (the whole
# machine's busy time during the flood, less the same length of time idle
# just before, its irq+softirq part, where the kernel counts the packet
# path, and the flooder's own CPU; medians of REPEAT), and the highest rate of RAMP at which a
# control client (203.0.113.200, not blocked) still connects within 1 s, or
# the flooder's own limit if that comes first (the ramp ends with 100,000
# SYNs as fast as the flooder sends). Writes
# test/bench/results/backends.md (and prints it). Needs root.
#
# Bounded: a flood is at most 100,000 SYNs (lab_flood refuses more
# SYN_RECV sockets than that), at a fixed rate for a fixed time; SYN-ACK
# retries are 1, so sockets expire within ~3 s; every wait has a deadline.
#
# Env: RATE [20000] SYNs/s and SECS [4] of the CPU floods, REPEAT [5],
#      RAMP ["10000 25000 50000 100000"] SYNs/s, RAMP_SECS [1] each,
#      OUT [test/bench/results/backends.md], LAB_NAME [sgn-bench-$$]
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
RATE=${RATE:-20000}
SECS=${SECS:-4}
REPEAT=${REPEAT:-5}
RAMP=${RAMP:-10000 25000 50000 100000}
RAMP_SECS=${RAMP_SECS:-1}
OUT=${OUT:-$repo/test/bench/results/backends.md}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces, nftables, firewalld)" >&2; exit 1; }
(( RATE * SECS <= 100000 )) || { echo "bench: RATE*SECS must be at most 100000 SYNs" >&2; exit 1; }
for r in $RAMP; do (( r * RAMP_SECS <= 100000 )) || { echo "bench: ramp rate $r: $RAMP_SECS s of it exceed 100000 SYNs" >&2; exit 1; }; done

export LAB_NAME=${LAB_NAME:-sgn-bench-$$} LAB_PORTS=25 LAB_SYNACK_RETRIES=1
export LAB_STATE=/tmp/$LAB_NAME FW_NS=$LAB_NAME-v FW_STATE=/tmp/$LAB_NAME-fw
# shellcheck source=../lab/synflood.sh
. test/lab/synflood.sh
# shellcheck source=../lab/firewalld.sh
. test/lab/firewalld.sh
FLOOD=198.51.100.0/24
CONTROL=203.0.113.200

work=$(mktemp -d /tmp/sgn-bench.XXXXXX)
root_before=$(nft list tables 2>/dev/null)
fw_started=0
cleanup() {
  local rc=$?
  [ "$fw_started" = 0 ] || fw_down >/dev/null 2>&1 || true
  lab_down >/dev/null 2>&1 || true
  rm -rf "$work"
  [ "$rc" != 0 ] || rm -rf "$FW_STATE"
  if [ "$(nft list tables 2>/dev/null)" != "$root_before" ]; then
    echo "bench: the root namespace's nft tables changed!" >&2
    exit 1
  fi
}
trap cleanup EXIT

echo "== lab $LAB_NAME" >&2
lab_up
go test -c -o "$work/nft.test" ./internal/nftables/
helper() { # NS MODE ARGS...: the nftables package's bench helper in NS
  local ns=$1 mode=$2; shift 2
  ip netns exec "$ns" env SGN_BENCH="$mode" SGN_BENCH_ARGS="$*" "$work/nft.test" -test.run '^TestBenchHelper$' -test.count=1
}
# The control address lives on the attacker's side; its SYN-ACKs are let
# through the attacker's drop-everything-from-the-victim rule.
lab_ax ip addr add "$CONTROL/32" dev "$LAB_VETH_A"
lab_ax nft insert rule inet synlab pre ip daddr "$CONTROL" accept
host_ruleset() {
  lab_vx nft -f - <<'NFT'
table inet host {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
  }
}
NFT
}

# cpu: the machine's busy jiffies (all but idle and iowait) and its irq and
# softirq part, where the kernel counts packet processing (receive,
# netfilter, conntrack, SYN-ACKs), apart from other users' processes.
cpu() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $7 + $8}' /proc/stat; }
hz=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }

# kids FILE: CPU seconds of this shell's reaped children (the flooder, once
# lab_flood returns), from `times` run in this shell (a subshell has its own).
kids() { awk 'NR == 2 { split($1, a, /[ms]/); split($2, b, /[ms]/); print a[1] * 60 + a[2] + b[1] * 60 + b[2] }' "$1"; }

# measure CASE: REPEAT floods of RATE*SECS SYNs; appends per flood
# "CASE busy_per_M irq_per_M flooder_per_M achieved_rate syn_recv": the
# machine's busy CPU-s less the same time idle before, its irq+softirq part,
# and the flooder's own CPU-s, each per million SYNs.
measure() {
  local name=$1 n=$(( RATE * SECS )) i b0 b1 f0 f1 t0 t1 k0 k1 sr
  for ((i = 0; i < REPEAT; i++)); do
    lab_wait_count 0 60
    read -r -a b0 <<<"$(cpu)"; sleep "$SECS"; read -r -a b1 <<<"$(cpu)"
    times >"$work/times0"; read -r -a f0 <<<"$(cpu)"; t0=$(now_ms)
    lab_flood "$FLOOD" "$n" 25 "$RATE"
    t1=$(now_ms); read -r -a f1 <<<"$(cpu)"; times >"$work/times1"
    k0=$(kids "$work/times0"); k1=$(kids "$work/times1")
    sr=$(lab_syn_recv_count)
    awk -v name="$name" -v n="$n" -v hz="$hz" -v secs="$SECS" -v ms=$(( t1 - t0 )) -v sr="$sr" -v k0="$k0" -v k1="$k1" \
      -v fb=$(( f1[0] - f0[0] )) -v fs=$(( f1[1] - f0[1] )) -v bb=$(( b1[0] - b0[0] )) -v bs=$(( b1[1] - b0[1] )) \
      'BEGIN { k = ms / 1000 / secs
        busy = (fb - bb * k) / hz; irq = (fs - bs * k) / hz; if (busy < 0) busy = 0; if (irq < 0) irq = 0
        printf "%s %.3f %.3f %.3f %.0f %d\n", name, busy / n * 1e6, irq / n * 1e6, (k1 - k0) / n * 1e6, n / (ms / 1000), sr }' >>"$work/cpu.txt"
    echo "   $(tail -1 "$work/cpu.txt")" >&2
  done
}

# ramp CASE: for each rate of RAMP, RAMP_SECS of flood with three control
# connections during it (from 0.2 s in, 0.2 s apart, 1 s each at most);
# appends "CASE rate achieved ok|fail".
ramp() {
  local name=$1 r rate n res pid
  for r in $RAMP max; do
    lab_wait_count 0 60
    # max: as fast as the flooder sends, 100,000 SYNs (the lab's bound).
    if [ "$r" = max ]; then rate=0 n=100000; else rate=$r n=$(( r * RAMP_SECS )); fi
    ( t0=$(now_ms); lab_flood "$FLOOD" "$n" 25 "$rate"; echo $(( $(now_ms) - t0 )) >"$work/flood.ms" ) &
    pid=$!
    sleep 0.2
    res=$(helper "$LAB_ANS" connect "$CONTROL" "$LAB_VICTIM4:25" 3 | grep -Eo '^(ok|fail) [0-9]+.*' || echo "fail ?")
    wait "$pid"
    echo "$name $r $(( n * 1000 / $(cat "$work/flood.ms") )) ${res%% *}" >>"$work/ramp.txt"
    echo "   $name rate $r: control $res" >&2
  done
}

host_ruleset
echo "== none: nothing drops the flood" >&2
measure none
ramp none

echo "== nftables: synguard's backend blocks $FLOOD" >&2
helper "$LAB_VNS" block "$FLOOD" >/dev/null
lab_vx nft list table inet synguard >"$work/synguard-table.txt"
grep -q "198.51.100.0/24" "$work/synguard-table.txt" || { echo "bench: the block is not in table inet synguard" >&2; exit 1; }
measure nftables
ramp nftables
lab_vx nft list chain inet synguard prerouting >"$work/synguard-counters.txt"
helper "$LAB_VNS" purge >/dev/null

echo "== firewalld: drop zone with an ipset" >&2
lab_vx nft delete table inet host
fw_started=1
fw_up 2>"$work/fw.log"
fw_cmd --permanent --new-ipset=synguard4 --type=hash:net >/dev/null
fw_reload
# Runtime, after the reload that loads the ipset (a reload drops runtime).
fw_cmd --zone=public --add-port=25/tcp >/dev/null
fw_cmd --ipset=synguard4 --add-entry="$FLOOD" >/dev/null
fw_cmd --zone=drop --add-source=ipset:synguard4 >/dev/null
measure firewalld
ramp firewalld
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# col CASE FIELD: the median of FIELD over CASE's floods; span: min-max.
col() { awk -v c="$1" -v f="$2" '$1 == c {print $f}' "$work/cpu.txt" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
span() { awk -v c="$1" -v f="$2" '$1 == c {print $f}' "$work/cpu.txt" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }
# path CASE: the median over CASE's floods of irq+softirq plus the flooder.
path() { awk -v c="$1" '$1 == c {print $3 + $4}' "$work/cpu.txt" | sort -g | awk '{a[NR] = $1} END {printf "%.3f", a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
best() { # the highest ramp rate before CASE's control first failed (max: the rate the flooder reached), and where the flooder fell short
  awk -v c="$1" '$1 == c && !failed { if ($4 == "ok") r = ($2 == "max" ? $3 "/s, the flooder'"'"'s most" : $2 "/s"); else failed = 1 }
    $1 == c && $2 != "max" && $3 < 0.8 * $2 { lim = lim " " $2 "→" $3 }
    END { printf "%s%s", (r ? r : "none of the ramp"), (lim ? " (flooder short of:" lim ")" : "") }' "$work/ramp.txt"
}
maxrate() { awk -v c="$1" '$1 == c && $2 == "max" {print $3}' "$work/ramp.txt"; }
row() { # row CASE LABEL
  echo "| $2 | $(col "$1" 3) ($(span "$1" 3)) | $(ratio "$(col "$1" 3)" "$(col none 3)") | $(path "$1") | $(ratio "$(path "$1")" "$(path none)") | $(col "$1" 2) | $(col "$1" 6) | $(best "$1") |"
}
{
  echo "# Backends: CPU per million flood SYNs, and the flood a control client survives"
  echo
  echo "Command: \`sudo test/bench/backends.sh\` (RATE=$RATE SECS=$SECS REPEAT=$REPEAT RAMP=\"$RAMP\" RAMP_SECS=$RAMP_SECS), $(date -u +%Y-%m-%dT%H:%MZ),"
  echo "kernel $(uname -r), $(nproc) cores, nftables $(nft --version | awk '{print $2}'), firewalld $(dpkg-query -W -f='${Version}' firewalld 2>/dev/null || echo '?') (nftables backend)."
  echo "One lab (test/lab/synflood.sh), one run, flood from $FLOOD to the victim's :25, SYN-ACK retries 1; the victim"
  echo "has a stateful host ruleset (\`ct state established,related accept\`; firewalld's own in its case)."
  echo "CPU per million SYNs sent, medians of $REPEAT floods of $(( RATE * SECS )) at $RATE/s: the machine's irq and softirq time"
  echo "during the flood (where the kernel counts the packet path: the victim's receive, netfilter, conntrack,"
  echo "SYN-ACKs and the attacker's drop of them; the machine's other users add about 0.1 s a minute), that plus"
  echo "the flooder's own CPU (the sending), and the whole machine's busy time less the same length of time"
  echo "idle just before (shared with other builds: noisy). /proc/stat counts in 10 ms ticks."
  echo "Load average at the end: $load_after."
  echo
  echo "| case | irq+softirq CPU-s per 1M SYNs, median (range) | vs none | with the flooder's own CPU | vs none | whole machine, less idle (noisy) | SYN_RECV after a flood | control connects within 1 s up to |"
  echo "|---|---|---|---|---|---|---|---|"
  row none "none (the kernel answers)"
  row nftables "nftables backend (prerouting, raw)"
  row firewalld "firewalld drop zone + ipset (filter)"
  echo
  echo "nftables backend vs firewalld, irq+softirq CPU per flood SYN: $(ratio "$(col nftables 3)" "$(col firewalld 3)") (firewalld costs $(ratio "$(col firewalld 3)" "$(col nftables 3)")x as much); with the flooder's own: $(ratio "$(path nftables)" "$(path firewalld)")."
  echo "One 10 ms tick in a flood of $(( RATE * SECS )) is $(awk -v n=$(( RATE * SECS )) 'BEGIN {printf "%.3f", 0.01 / n * 1e6}') CPU-s per 1M: irq+softirq figures near it are at the"
  echo "measurement's resolution, and the column with the flooder's own CPU (which carries the receive"
  echo "path the kernel runs inline in the sender's system calls) is the steadier comparison."
  echo "The ramp ends with 100,000 SYNs as fast as the flooder sends them (the lab's bound is 100,000 a flood): a"
  echo "control that still connects there means the flooder's limit came first, not the victim's. The"
  echo "flooder's most is itself a measure of the victim's cost per SYN, since that cost is paid inline:"
  echo "$(maxrate nftables) SYN/s into the nftables backend, $(maxrate firewalld) into firewalld, $(maxrate none) into no block."
  echo
  echo "Per flood (case, whole machine CPU-s/1M, irq+softirq CPU-s/1M, flooder CPU-s/1M, achieved SYN/s, SYN_RECV after):"
  echo
  echo '```'
  cat "$work/cpu.txt"
  echo '```'
  echo
  echo "Ramp (case, target SYN/s, achieved SYN/s, control):"
  echo
  echo '```'
  cat "$work/ramp.txt"
  echo '```'
  echo
  echo "synguard's prerouting chain after the nftables floods (\`nft list chain inet synguard prerouting\`):"
  echo
  echo '```'
  cat "$work/synguard-counters.txt"
  echo '```'
} >"$OUT"
cat "$OUT"
