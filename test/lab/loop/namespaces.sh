# shellcheck shell=bash
# test/lab/loop.sh, stage "namespaces": the lab's names and addresses; the
# attacker, monitoring and victim namespaces, their links and sysctls;
# loop_down. Sourced by test/lab/loop.sh; defines functions only.

# Names and addresses of victim I.
loop_victim_ns() { printf '%s-v%s' "$(loop__name)" "$1"; }

loop_att_ns() { printf '%s-att' "$(loop__name)"; }

loop_mon_ns() { printf '%s-mon' "$(loop__name)"; }

loop_victim_ip() { printf '192.0.2.%s' $(( 8 * $1 + 1 )); }

loop_att_ip() { printf '192.0.2.%s' $(( 8 * $1 + 2 )); }

loop_control_ip() { printf '192.0.2.%s' $(( 8 * $1 + 3 )); }

loop_victim_mgmt_ip() { printf '203.0.113.%s' $(( 8 * $1 + 1 )); }

loop_mon_ip() { printf '203.0.113.%s' $(( 8 * $1 + 2 )); }

loop_flood_prefixes() { printf '%s' "${LOOP_FLOOD_PREFIXES:-198.51.100.32/27 198.51.100.96/27}"; }

# Every spoofed source lies in this range: routed to the attacker, dropped there.
LOOP_SPOOF_RANGE=198.51.100.0/24

# loop__netns_add NS: create NS (lo up) and remember it for loop_down.
loop__netns_add() {
  local ns=$1
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    loop_log "namespace $ns exists already: a lab of the same LOOP_NAME is running (or was not cleaned up; loop_down)"
    return 1
  fi
  ip netns add "$ns" || return 1
  echo "$ns" >>"$(loop__state)/netns.list"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

# loop_net_up: the attacker and monitoring namespaces.
loop_net_up() {
  local att
  att=$(loop_att_ns)
  loop__netns_add "$att" || return 1
  loop__netns_add "$(loop_mon_ns)" || return 1
  # Blackhole routes and an nft drop: SYN-ACKs to spoofed sources die here,
  # unanswered (an RST or ICMP error would free the victim's request socket).
  ip -n "$att" route add blackhole "$LOOP_SPOOF_RANGE"
  ip netns exec "$att" nft -f - <<EOF
table inet sgl_loop {
  counter synack_dropped { }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    ip daddr $LOOP_SPOOF_RANGE meta l4proto tcp counter name synack_dropped drop
  }
}
EOF
}

# loop_victim_net_up I: victim I's namespace, links and sysctls.
loop_victim_net_up() {
  local i=$1 vns att mon va vm av mv mac_v mac_a
  vns=$(loop_victim_ns "$i"); att=$(loop_att_ns); mon=$(loop_mon_ns)
  va=va$i; vm=vm$i; av=av$i; mv=mv$i
  loop__netns_add "$vns" || return 1
  ip link add "$av" netns "$att" type veth peer name "$va" netns "$vns" || return 1
  ip link add "$mv" netns "$mon" type veth peer name "$vm" netns "$vns" || return 1
  ip -n "$vns" addr add "$(loop_victim_ip "$i")/29" dev "$va"
  ip -n "$att" addr add "$(loop_att_ip "$i")/29" dev "$av"
  ip -n "$att" addr add "$(loop_control_ip "$i")/29" dev "$av"
  ip -n "$vns" addr add "$(loop_victim_mgmt_ip "$i")/29" dev "$vm"
  ip -n "$mon" addr add "$(loop_mon_ip "$i")/29" dev "$mv"
  for l in "$vns $va" "$vns $vm" "$att $av" "$mon $mv"; do
    # shellcheck disable=SC2086
    set -- $l; ip -n "$1" link set "$2" up
  done
  ip -n "$vns" route add "$LOOP_SPOOF_RANGE" via "$(loop_att_ip "$i")" dev "$va"
  # A queue on the victim's veth: without one a burst of SYN-ACK
  # retransmissions overflows the backlog into the attacker namespace, the
  # send fails and the kernel drops the request sockets (synflood-lab README).
  ip netns exec "$vns" tc qdisc replace dev "$va" root pfifo limit 100000
  # Static neighbours: no SYN lost while ARP resolves.
  mac_v=$(ip -n "$vns" -br link show "$va" | awk '{print $3}')
  mac_a=$(ip -n "$att" -br link show "$av" | awk '{print $3}')
  ip -n "$att" neigh replace "$(loop_victim_ip "$i")" lladdr "$mac_v" dev "$av" nud permanent
  ip -n "$vns" neigh replace "$(loop_att_ip "$i")" lladdr "$mac_a" dev "$va" nud permanent
  ip -n "$vns" neigh replace "$(loop_control_ip "$i")" lladdr "$mac_a" dev "$va" nud permanent
  # The runbook's server: no SYN cookies and a modest listen queue, so a
  # flood really stops SMTP; short SYN-ACK retries (2: about 7 s), so a
  # blocked range's queued sockets expire within seconds. No saved TCP
  # metrics: a "proven" peer would slip past the SYN-queue drop.
  ip netns exec "$vns" sysctl -qw \
    net.ipv4.tcp_syncookies=0 \
    net.core.somaxconn="${LOOP_BACKLOG:-256}" \
    net.ipv4.tcp_max_syn_backlog=4096 \
    net.ipv4.tcp_synack_retries="${LOOP_SYNACK_RETRIES:-2}" \
    net.ipv4.tcp_no_metrics_save=1
}

# loop_down: stop every process the lab recorded (newest first), every
# victim's firewalld and bus, delete the lab's namespaces. Keeps logs.
loop_down() {
  local st name ns f
  st=$(loop__state)
  [ -e "$st/.sgl-loop" ] || return 0
  if [ -s "$st/pids/order" ]; then
    for name in $(tac "$st/pids/order"); do loop_kill "$name" TERM 10; done
    rm -f "$st/pids/order"
  fi
  for f in "$st"/fw*/firewalld.pid "$st"/fw*/dbus.pid; do
    [ -e "$f" ] || continue
    FW_STATE=$(dirname "$f"); export FW_STATE
    fw_stop; fw__kill dbus TERM 5
  done
  if [ -s "$st/netns.list" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null || true; done <"$st/netns.list"
    rm -f "$st/netns.list"
  fi
}
