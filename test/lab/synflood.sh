# shellcheck shell=bash
# Real SYN_RECV sockets between two network namespaces, as a bash library.
# Source it; it only defines functions and does nothing until called.
#
#   netns $LAB_NAME-a (attacker)            netns $LAB_NAME-v (victim)
#     $LAB_VETH_A  192.0.2.2/30   <-veth->    $LAB_VETH_V 192.0.2.1/30
#                  2001:db8:ffff::2/64                    2001:db8:ffff::1/64
#     synflood: raw SYNs with spoofed         listener: :25 and :587, v4 + v6,
#     sources from $LAB_SPOOF4/$LAB_SPOOF6    never accepts (test/lab/cmd/listener)
#     nft prerouting raw: drop (and count)    routes $LAB_SPOOF4/6 via attacker,
#     every TCP packet from the victim        pfifo qdisc, static neighbours,
#                                             sysctls set in this ns only
#
# Each SYN leaves exactly one SYN_RECV socket on the victim: its SYN-ACKs are
# dropped before the attacker's stack could answer them with a RST, the qdisc
# keeps a burst of SYN-ACK retransmissions from failing (which would make the
# kernel delete the request sockets), and static neighbours lose no SYN to
# ARP/ND. Nothing is added to the root namespace; there is no default route.
#
# Functions:
#   lab_up                 build the tools, create the pair, start the listener
#   lab_down               stop recorded PIDs, delete the namespaces and state
#   lab_flood SRC COUNT [PORT [RATE]]
#                          SYNs from SRC (prefix, address or comma list, one
#                          family) to the victim's PORT [25]; RATE per second
#                          [0: unlimited]. Source ports never repeat in a lab.
#   lab_syn_recv_count     the victim's SYN_RECV sockets (ss -Htan state syn-recv)
#   lab_wait_count N [SECONDS]  wait until that count is exactly N [30 s]
#   lab_synack_dropped     packets the attacker's nft rule dropped
#   lab_vx CMD...          run CMD in the victim namespace (lab_ax: attacker)
#   lab_vx_bg NAME CMD...  start CMD in the victim namespace in the background,
#                          log in $LAB_STATE/NAME.log, PID recorded for lab_down
#   lab_slab_wait [MAX [SECONDS]]  wait until the kernel holds at most MAX
#                          request sockets [1000; 180 s] (a deleted namespace's
#                          sockets linger until their next SYN-ACK timer)
#
# Parameters (environment, read when a function runs; defaults in brackets):
#   LAB_NAME        namespace prefix [sglab]; give each concurrent lab its own
#   LAB_STATE       state directory: binaries, logs, PIDs [/tmp/$LAB_NAME]
#   LAB_REPO        repository root [two levels above this file]
#   LAB_PORTS       listener ports [25,587]
#   LAB_LISTEN_SECONDS  the listener exits by itself after this [1800]
#   LAB_SYNCOOKIES  victim net.ipv4.tcp_syncookies [0]
#   LAB_SYNACK_RETRIES  victim net.ipv4.tcp_synack_retries [7: ~4 min; 2 expires sockets in ~7 s]
#   LAB_BACKLOG     victim tcp_max_syn_backlog, somaxconn and listen backlog [262144]
#   LAB_VICTIM4 LAB_ATTACKER4 LAB_LINK4_PLEN   [192.0.2.1 192.0.2.2 30]
#   LAB_VICTIM6 LAB_ATTACKER6 LAB_LINK6_PLEN   [2001:db8:ffff::1 2001:db8:ffff::2 64]
#   LAB_SPOOF4      spoofable IPv4 ranges routed back to the attacker
#                   ["198.51.100.0/24 203.0.113.0/24"]
#   LAB_SPOOF6      spoofable IPv6 ranges ["2001:db8::/33"] (must not hold the link /64)
#   LAB_VETH_V LAB_VETH_A  interface names inside the namespaces [lab-v lab-a]
#
# The functions work in shells with and without set -e.
# Safety: only documentation ranges; at most 100,000 SYN_RECV sockets at
# once (lab_flood refuses to go past it); every process stopped by PID.

_lab_defaults() {
  LAB_NAME=${LAB_NAME:-sglab}
  LAB_STATE=${LAB_STATE:-/tmp/$LAB_NAME}
  LAB_REPO=${LAB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
  LAB_PORTS=${LAB_PORTS:-25,587}
  LAB_LISTEN_SECONDS=${LAB_LISTEN_SECONDS:-1800}
  LAB_SYNCOOKIES=${LAB_SYNCOOKIES:-0}
  LAB_SYNACK_RETRIES=${LAB_SYNACK_RETRIES:-7}
  LAB_BACKLOG=${LAB_BACKLOG:-262144}
  LAB_VICTIM4=${LAB_VICTIM4:-192.0.2.1}
  LAB_ATTACKER4=${LAB_ATTACKER4:-192.0.2.2}
  LAB_LINK4_PLEN=${LAB_LINK4_PLEN:-30}
  LAB_VICTIM6=${LAB_VICTIM6:-2001:db8:ffff::1}
  LAB_ATTACKER6=${LAB_ATTACKER6:-2001:db8:ffff::2}
  LAB_LINK6_PLEN=${LAB_LINK6_PLEN:-64}
  LAB_SPOOF4=${LAB_SPOOF4:-198.51.100.0/24 203.0.113.0/24}
  LAB_SPOOF6=${LAB_SPOOF6:-2001:db8::/33}
  LAB_VETH_V=${LAB_VETH_V:-lab-v}
  LAB_VETH_A=${LAB_VETH_A:-lab-a}
  LAB_VNS=$LAB_NAME-v
  LAB_ANS=$LAB_NAME-a
}

lab_vx() { _lab_defaults; ip netns exec "$LAB_VNS" "$@"; }
lab_ax() { _lab_defaults; ip netns exec "$LAB_ANS" "$@"; }

# _lab_build builds the flooder and the listener once per lab.
_lab_build() {
  _lab_defaults
  mkdir -p "$LAB_STATE/bin"
  if [ ! -x "$LAB_STATE/bin/synflood" ] || [ ! -x "$LAB_STATE/bin/listener" ]; then
    (cd "$LAB_REPO" && go build -o "$LAB_STATE/bin/" ./test/lab/cmd/synflood ./test/lab/cmd/listener) || return 1
  fi
}

lab_vx_bg() {
  _lab_defaults
  local name=$1; shift
  # ip netns exec execs the command: $! is its PID.
  ip netns exec "$LAB_VNS" "$@" >"$LAB_STATE/$name.log" 2>&1 &
  echo $! >>"$LAB_STATE/pids"
  echo $! >"$LAB_STATE/$name.pid"
}

lab_up() {
  _lab_defaults
  lab_down >/dev/null 2>&1 || true
  _lab_build || return 1
  mkdir -p "$LAB_STATE"
  : >"$LAB_STATE/pids"
  echo 10000 >"$LAB_STATE/sport_next"
  # A subshell with -e: the first failing step stops the set-up without
  # changing the options of the shell that sourced this file.
  ( set -e
  ip netns add "$LAB_VNS"
  ip netns add "$LAB_ANS"
  ip link add "$LAB_VETH_A" netns "$LAB_ANS" type veth peer name "$LAB_VETH_V" netns "$LAB_VNS"
  local ns r mac_v mac_a
  for ns in "$LAB_VNS" "$LAB_ANS"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
  done
  ip -n "$LAB_VNS" addr add "$LAB_VICTIM4/$LAB_LINK4_PLEN" dev "$LAB_VETH_V"
  ip -n "$LAB_VNS" addr add "$LAB_VICTIM6/$LAB_LINK6_PLEN" dev "$LAB_VETH_V" nodad
  ip -n "$LAB_ANS" addr add "$LAB_ATTACKER4/$LAB_LINK4_PLEN" dev "$LAB_VETH_A"
  ip -n "$LAB_ANS" addr add "$LAB_ATTACKER6/$LAB_LINK6_PLEN" dev "$LAB_VETH_A" nodad
  ip -n "$LAB_VNS" link set "$LAB_VETH_V" up
  ip -n "$LAB_ANS" link set "$LAB_VETH_A" up
  for r in $LAB_SPOOF4; do
    ip -n "$LAB_VNS" route add "$r" via "$LAB_ATTACKER4" dev "$LAB_VETH_V"
    ip -n "$LAB_ANS" route add blackhole "$r"
  done
  for r in $LAB_SPOOF6; do
    ip -n "$LAB_VNS" -6 route add "$r" via "$LAB_ATTACKER6" dev "$LAB_VETH_V"
    ip -n "$LAB_ANS" -6 route add blackhole "$r"
  done
  ip netns exec "$LAB_ANS" nft -f - <<NFT
table inet synlab {
  counter synack_dropped { }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    iifname "$LAB_VETH_A" meta l4proto tcp counter name synack_dropped drop
  }
}
NFT
  # Without a qdisc (veth default: noqueue) a burst of SYN-ACK
  # retransmissions overflows the per-CPU backlog entering the attacker ns;
  # the failed sends make the kernel delete those request sockets.
  ip netns exec "$LAB_VNS" tc qdisc replace dev "$LAB_VETH_V" root pfifo limit 200000
  ip netns exec "$LAB_VNS" sysctl -qw net.ipv4.tcp_syncookies="$LAB_SYNCOOKIES" \
    net.ipv4.tcp_max_syn_backlog="$LAB_BACKLOG" net.core.somaxconn="$LAB_BACKLOG" \
    net.ipv4.tcp_synack_retries="$LAB_SYNACK_RETRIES"
  mac_v=$(ip -n "$LAB_VNS" -br link show "$LAB_VETH_V" | awk '{print $3}')
  mac_a=$(ip -n "$LAB_ANS" -br link show "$LAB_VETH_A" | awk '{print $3}')
  ip -n "$LAB_ANS" neigh replace "$LAB_VICTIM4" lladdr "$mac_v" dev "$LAB_VETH_A" nud permanent
  ip -n "$LAB_ANS" neigh replace "$LAB_VICTIM6" lladdr "$mac_v" dev "$LAB_VETH_A" nud permanent
  ip -n "$LAB_VNS" neigh replace "$LAB_ATTACKER4" lladdr "$mac_a" dev "$LAB_VETH_V" nud permanent
  ip -n "$LAB_VNS" neigh replace "$LAB_ATTACKER6" lladdr "$mac_a" dev "$LAB_VETH_V" nud permanent
  ) || { echo "lab_up: set-up of $LAB_NAME failed" >&2; return 1; }
  lab_vx_bg listener "$LAB_STATE/bin/listener" -ports "$LAB_PORTS" -backlog "$LAB_BACKLOG" -seconds "$LAB_LISTEN_SECONDS"
  local want
  want=$(( $(tr ',' '\n' <<<"$LAB_PORTS" | grep -c .) * 2 ))
  for _ in $(seq 100); do
    [ "$(lab_vx ss -Hltn | wc -l)" -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "lab_up: listener did not come up: $(cat "$LAB_STATE/listener.log")" >&2
  return 1
}

lab_down() {
  # Safe under the caller's set -e: every step may find nothing to undo.
  _lab_defaults
  local pid
  if [ -f "$LAB_STATE/pids" ]; then
    while read -r pid; do
      if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    done <"$LAB_STATE/pids"
    while read -r pid; do
      [ -n "$pid" ] || continue
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done <"$LAB_STATE/pids"
    rm -f "$LAB_STATE/pids"
  fi
  ip netns del "$LAB_VNS" 2>/dev/null || true
  ip netns del "$LAB_ANS" 2>/dev/null || true
  rm -rf "$LAB_STATE"
  return 0
}

lab_flood() {
  _lab_defaults
  local src=$1 count=$2 port=${3:-25} rate=${4:-0} dst base hosts p bits
  [ -n "$src" ] && [ -n "$count" ] || { echo "usage: lab_flood SRC COUNT [PORT [RATE]]" >&2; return 2; }
  if [ $(( $(lab_syn_recv_count) + count )) -gt 100000 ]; then
    echo "lab_flood: would exceed 100000 SYN_RECV sockets" >&2
    return 1
  fi
  dst=$LAB_VICTIM4
  [[ $src == *:* ]] && dst=$LAB_VICTIM6
  # Source ports move on after each flood, so a later flood from the same
  # sources makes new sockets instead of retransmissions.
  base=$(cat "$LAB_STATE/sport_next")
  hosts=0
  for p in ${src//,/ }; do
    bits=${p#*/}; [ "$bits" = "$p" ] && bits=-1
    if [[ $p == *:* ]]; then [ "$bits" = -1 ] && bits=128; bits=$(( 128 - bits ))
    else [ "$bits" = -1 ] && bits=32; bits=$(( 32 - bits )); fi
    [ "$bits" -gt 16 ] && bits=16   # synflood refuses more than 65536 per prefix
    hosts=$(( hosts + (1 << bits) ))
  done
  echo $(( base + (count + hosts - 1) / hosts )) >"$LAB_STATE/sport_next"
  lab_ax "$LAB_STATE/bin/synflood" -dst "$dst" -port "$port" -src "$src" -count "$count" \
    -rate "$rate" -sport-base "$base" -iface "$LAB_VETH_A" >/dev/null
}

lab_syn_recv_count() { lab_vx ss -Htan state syn-recv | wc -l; }

lab_wait_count() {
  # A deadline, not a number of tries: ss itself takes 0.3 s at 100,000.
  local want=$1 secs=${2:-30} n end
  end=$(( SECONDS + secs ))
  while :; do
    n=$(lab_syn_recv_count)
    [ "$n" -eq "$want" ] && return 0
    [ "$SECONDS" -ge "$end" ] && break
    sleep 0.1
  done
  echo "lab_wait_count: $n SYN_RECV sockets after ${secs}s, want $want" >&2
  return 1
}

lab_synack_dropped() {
  lab_ax nft list counter inet synlab synack_dropped | awk '/packets/ {print $2}'
}

lab_slab_wait() {
  local max=${1:-1000} secs=${2:-180} n
  for _ in $(seq "$secs"); do
    n=$(awk '$1 == "request_sock_TCP" || $1 == "request_sock_TCPv6" {s += $2} END {print s + 0}' /proc/slabinfo)
    [ "$n" -le "$max" ] && return 0
    sleep 1
  done
  echo "lab_slab_wait: $n request sockets still in the kernel after ${secs}s" >&2
  return 1
}
