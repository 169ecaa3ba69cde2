# shellcheck shell=bash
# The whole synguard loop between network namespaces, for the demo, the
# end-to-end test, the latency benchmark and the fleet scenario. Source this
# file; it defines functions only (and sources firewalld.sh beside it).
#
#   netns $LOOP_NAME-att (attacker + control host)
#     av<i> 192.0.2.(8i+2)  flooder, spoofing the /27s of $LOOP_FLOOD_PREFIXES
#           192.0.2.(8i+3)  control host: an ordinary SMTP client
#        |  veth
#   netns $LOOP_NAME-v<i> (victim i)                                    i = 1, 2, ...
#     va<i> 192.0.2.(8i+1)  zone public: smtp :25, pop3 :110, http :80, ftp :21 (lab services)
#     vm<i> 203.0.113.(8i+1) zone trusted: synguard-exporter :9817, synguard-responder :9818
#     a private firewalld on a private D-Bus (test/lab/firewalld.sh)
#        |  veth
#   netns $LOOP_NAME-mon (monitoring)
#     mv<i> 203.0.113.(8i+2)  Prometheus 127.0.0.1:9090, Alertmanager 127.0.0.1:9093
#
# Nothing is added to the root namespace but, with loop_forward_up, loopback
# listeners (nsforward) that lead into the lab. No default routes: no packet
# can leave the lab. The attacker drops (nft, prerouting, raw) every packet
# sent to the spoofed ranges, so nobody answers the victim's SYN-ACKs and each
# SYN leaves one socket in SYN_RECV until tcp_synack_retries gives up.
#
# Parameters (environment; defaults in brackets):
#   LOOP_NAME      name prefix of namespaces and interfaces' lab [sgl]
#   LOOP_STATE     state directory: configs, logs, PIDs [/tmp/$LOOP_NAME]
#   LOOP_REPO      repository root [two levels above this file]
#   LOOP_BIN       built binaries [$LOOP_REPO/bin]
#   LOOP_FLOOD_PREFIXES  the attacking /27s ["198.51.100.32/27 198.51.100.96/27"]
#   LOOP_FLOOD_RATE      SYNs per second per prefix [1000]
#   LOOP_BACKLOG   victim listen backlog (somaxconn) [256: about 128 sockets
#                  per flooding /27, well above the block rule's 50]
#   LOOP_SYNACK_RETRIES  victim tcp_synack_retries [2: sockets expire in ~7 s]
#   LOOP_BLOCK_DURATION  responder's first block duration [10m]
#   LOOP_BLOCK_MAX       responder's longest block [24h]
#   LOOP_PROM_PORT / LOOP_AM_PORT / LOOP_RESP_PORT  root-ns loopback ports of
#                  loop_forward_up [29090 / 29093 / 29818]
#   LOOP_SECONDS   every long-running process exits by itself after this [1800]
#   LOOP_ORIGIN    1: the exporter and responder read the lab's own AS and
#                  country databases (labconfig origin) [1]

LOOP__DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=firewalld.sh
. "$LOOP__DIR/firewalld.sh"

loop__name() { printf '%s' "${LOOP_NAME:-sgl}"; }
loop__state() { printf '%s' "${LOOP_STATE:-/tmp/$(loop__name)}"; }
loop__repo() { printf '%s' "${LOOP_REPO:-$(cd "$LOOP__DIR/../.." && pwd)}"; }
loop__bin() { printf '%s' "${LOOP_BIN:-$(loop__repo)/bin}"; }
# loop_binary NAME: bin/synguard-NAME, or bin/NAME as `go build -o bin/ ./cmd/...` names it.
loop_binary() {
  if [ -x "$(loop__bin)/synguard-$1" ]; then printf '%s' "$(loop__bin)/synguard-$1"; else printf '%s' "$(loop__bin)/$1"; fi
}
loop__seconds() { printf '%s' "${LOOP_SECONDS:-1800}"; }

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

loop_log() { printf '[%s] loop(%s): %s\n' "$(date +%T.%3N)" "$(loop__name)" "$*" >&2; }
loop__now_ms() { fw__now_ms; }

# loop_wait_until TIMEOUT_S CMD...: poll CMD every 50 ms until it succeeds,
# at most TIMEOUT_S seconds (firewalld.sh's fw_wait_until).
loop_wait_until() { fw_wait_until "$@"; }

# loop_in NS CMD...: run CMD in namespace NS.
loop_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# loop__spawn NAME NS CMD...: start CMD in the background in NS (root ns when
# NS is empty), output to logs/NAME.log, PID to pids/NAME.pid. ip netns exec
# execs CMD (no fork), so the recorded PID is CMD's own.
loop__spawn() {
  local name=$1 ns=$2 st pid
  shift 2
  st=$(loop__state)
  mkdir -p "$st/pids" "$st/logs"
  if [ -n "$ns" ]; then
    ip netns exec "$ns" "$@" >>"$st/logs/$name.log" 2>&1 </dev/null &
  else
    "$@" >>"$st/logs/$name.log" 2>&1 </dev/null &
  fi
  pid=$!
  disown "$pid" 2>/dev/null || true
  echo "$pid" >"$st/pids/$name.pid"
  echo "$name" >>"$st/pids/order"
}

# loop_pid NAME: the recorded PID of NAME if it is alive.
loop_pid() {
  local f pid
  f="$(loop__state)/pids/$1.pid"
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

# loop_kill NAME [SIGNAL] [TIMEOUT_S]: signal NAME's recorded PID, wait
# (bounded), SIGKILL if it outlives the wait, forget the PID.
loop_kill() {
  local name=$1 sig=${2:-TERM} timeout=${3:-10} f pid
  f="$(loop__state)/pids/$name.pid"
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    # A process that leads its own group (the flood wrapper) takes its
    # children with it.
    local target=$pid
    [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target=-$pid
    kill "-$sig" -- "$target" 2>/dev/null || true
    if ! loop_wait_until "$timeout" fw__dead "$pid"; then
      kill -KILL -- "$target" 2>/dev/null || true
      loop_wait_until 5 fw__dead "$pid" || true
    fi
  fi
  rm -f "$f"
}

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

# loop_build: the synguard binaries (make build) and the lab's own tools.
loop_build() {
  local repo bin
  repo=$(loop__repo)
  bin=$(loop__bin)
  (cd "$repo" && make -s build BIN="$bin") || return 1
  (cd "$repo" && go build -o "$bin/lab/" ./test/lab/services ./test/lab/nsforward ./test/lab/labconfig ./test/lab/control) || return 1
  if [ -d "$repo/test/synflood" ] && ls "$repo"/test/synflood/*.go >/dev/null 2>&1; then
    (cd "$repo" && go build -o "$bin/lab/synflood" ./test/synflood) || return 1
  fi
}

# loop_init: a fresh state directory (refuses one it did not make).
loop_init() {
  local st
  st=$(loop__state)
  case "$st" in /|/run|/run/*|/var/log|/var/log/*|"") loop_log "unsafe LOOP_STATE=$st"; return 1 ;; esac
  if [ -e "$st" ] && [ ! -e "$st/.sgl-loop" ]; then
    loop_log "refusing to reuse $st: not a loop state dir"
    return 1
  fi
  if [ -s "$st/netns.list" ]; then
    loop_log "$st lists live namespaces; loop_down first"
    return 1
  fi
  rm -rf "$st"
  mkdir -p "$st/pids" "$st/logs"
  : >"$st/.sgl-loop"
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

# loop_fw_env I: point firewalld.sh at victim I (FW_NS, FW_STATE).
loop_fw_env() {
  FW_NS=$(loop_victim_ns "$1")
  FW_STATE="$(loop__state)/fw$1"
  export FW_NS FW_STATE
}

# loop_victim_bus I: victim I's private D-Bus address.
loop_victim_bus() { (loop_fw_env "$1"; fw_bus_address); }

# loop_victim_fw_up I: victim I's private firewalld; services open in the
# public zone (the attackers' side), the management link trusted.
loop_victim_fw_up() {
  local i=$1 s
  loop_fw_env "$i"
  fw_prepare && fw_bus_start && fw_start || return 1
  for s in smtp pop3 http ftp; do
    fw_cmd --permanent --zone=public --add-service="$s" >/dev/null || return 1
  done
  fw_cmd --permanent --zone=trusted --add-interface="vm$i" >/dev/null || return 1
  fw_cmd --permanent --zone=public --add-interface="va$i" >/dev/null || return 1
  fw_cmd --reload >/dev/null || return 1
}

# loop_services_up I: SMTP/POP3/HTTP/FTP lab servers in victim I.
loop_services_up() {
  local i=$1 vns
  vns=$(loop_victim_ns "$i")
  loop__spawn "services$i" "$vns" "$(loop__bin)/lab/services" -hostname "victim$i.example" -seconds "$(loop__seconds)"
  loop_wait_until 10 ip netns exec "$vns" bash -c "exec 3<>/dev/tcp/$(loop_victim_ip "$i")/25" || {
    loop_log "lab services in $vns did not come up"; cat "$(loop__state)/logs/services$i.log" >&2; return 1; }
}

# loop_exporter_config I: write victim I's exporter config (SYN_RECV per /27;
# probes of the lab services every second) and print its path.
loop_exporter_config() {
  local i=$1 f ip
  f="$(loop__state)/exporter$i.yml"
  ip=$(loop_victim_ip "$i")
  cat >"$f" <<EOF
# synguard-exporter config for victim $i of the loop lab (written by test/lab/loop.sh)
EOF
  if [ -n "${LOOP_EXPORTER_CONFIG_HOOK:-}" ]; then "$LOOP_EXPORTER_CONFIG_HOOK" "$i" "$ip" >>"$f"; else loop__exporter_config_body "$i" "$ip" >>"$f"; fi
  printf '%s' "$f"
}

# loop__exporter_config_body I IP: SYN_RECV per /27 (top 20), and probes of
# victim I's own services every second with a 1 s timeout: a healthy local
# connection takes well under a millisecond, and a SYN dropped by a full
# queue is retransmitted only after 1 s, so a probe fails exactly while the
# queue is full.
loop__exporter_config_body() {
  local ip=$2
  cat <<EOF
syn_recv:
  prefix_lengths: {ipv4: 27, ipv6: 64}
  top_n: 20
EOF
  if loop_origin_dbs; then
    cat <<EOF
origin:
  asn_database: $(loop__state)/origin/asn.mmdb
  country_database: $(loop__state)/origin/country.mmdb
EOF
  fi
  [ "${LOOP_PROBES:-1}" = 1 ] || return 0
  cat <<EOF
probes:
  modules:
    smtp: {prober: smtp, timeout: 1s}
    pop3: {prober: pop3, timeout: 1s}
    http: {prober: http, timeout: 1s}
    ftp: {prober: ftp, timeout: 1s}
    icmp: {prober: icmp, timeout: 1s}
  targets:
    - {module: smtp, target: "$ip:25", interval: 1s}
    - {module: pop3, target: "$ip:110", interval: 1s}
    - {module: http, target: "http://$ip:80/", interval: 1s}
    - {module: ftp, target: "$ip:21", interval: 1s}
    - {module: icmp, target: "$ip", interval: 1s}
EOF
}

# loop_origin_dbs: the lab's small AS and country databases (written once
# into the state dir; each flooding /27 has an AS and country of its own),
# unless LOOP_ORIGIN=0. True when they are there.
loop_origin_dbs() {
  local d
  [ "${LOOP_ORIGIN:-1}" = 1 ] || return 1
  d="$(loop__state)/origin"
  [ -s "$d/asn.mmdb" ] && [ -s "$d/country.mmdb" ] && return 0
  "$(loop__bin)/lab/labconfig" origin -dir "$d" >&2
}

# loop_responder_config I: victim I's responder config, derived from the
# shipped examples/responder.yml (every other knob as shipped), and print its
# path. LOOP_RESPONDER_SET: more KEY.PATH=VALUE settings, space-separated.
loop_responder_config() {
  local i=$1 f st extra=() kv
  st=$(loop__state)
  f="$st/responder$i.yml"
  for kv in ${LOOP_RESPONDER_SET:-}; do extra+=(-set "$kv"); done
  if loop_origin_dbs; then
    extra+=(-add "origin.asn_database=$st/origin/asn.mmdb" -add "origin.country_database=$st/origin/country.mmdb")
  fi
  "$(loop__bin)/lab/labconfig" set -in "${LOOP_RESPONDER_EXAMPLE:-$(loop__repo)/examples/responder.yml}" \
    -set state_file="$st/responder$i/state.json" -set host="victim$i" \
    -set policy.block_duration.base="${LOOP_BLOCK_DURATION:-10m}" \
    -set policy.block_duration.max="${LOOP_BLOCK_MAX:-24h}" \
    "${extra[@]}" >"$f" || return 1
  printf '%s' "$f"
}

# loop_http_up URL [TIMEOUT_S] [NS]: wait until URL answers (from NS).
loop_http_up() {
  local url=$1 timeout=${2:-20} ns=${3:-}
  if [ -n "$ns" ]; then
    loop_wait_until "$timeout" ip netns exec "$ns" curl -fsS -o /dev/null --max-time 2 "$url"
  else
    loop_wait_until "$timeout" curl -fsS -o /dev/null --max-time 2 "$url"
  fi
}

# loop_exporter_up I: synguard-exporter in victim I on :9817.
loop_exporter_up() {
  local i=$1 vns cfg
  vns=$(loop_victim_ns "$i")
  cfg=$(loop_exporter_config "$i")
  if ! "$(loop_binary exporter)" --config.file="$cfg" --config.check >"$(loop__state)/logs/exporter$i.check" 2>&1; then
    loop_log "exporter refuses the probes section ($(tail -1 "$(loop__state)/logs/exporter$i.check")): running without probes"
    cfg=$(LOOP_PROBES=0 loop_exporter_config "$i")
  fi
  loop__spawn "exporter$i" "$vns" "$(loop_binary exporter)" \
    --config.file="$cfg" --web.listen-address=":9817"
  loop_http_up "http://127.0.0.1:9817/metrics" 20 "$vns" || {
    loop_log "exporter in $vns did not come up"; tail -20 "$(loop__state)/logs/exporter$i.log" >&2; return 1; }
}

# loop_responder_up I: synguard-responder in victim I on :9818, talking to
# victim I's private firewalld.
loop_responder_up() {
  local i=$1 vns cfg
  vns=$(loop_victim_ns "$i")
  [ -x "$(loop_binary responder)" ] || { loop_log "no synguard-responder binary (yet)"; return 1; }
  cfg=$(loop_responder_config "$i")
  mkdir -p "$(loop__state)/responder$i"
  loop__spawn "responder$i" "$vns" env DBUS_SYSTEM_BUS_ADDRESS="$(loop_victim_bus "$i")" \
    "$(loop_binary responder)" --config.file="$cfg" --web.listen-address=":9818"
  loop_http_up "http://127.0.0.1:9818/metrics" 20 "$vns" || {
    loop_log "responder in $vns did not come up"; tail -20 "$(loop__state)/logs/responder$i.log" >&2; return 1; }
}

# loop_victim_up I: victim I whole: namespace, firewalld, services, exporter,
# responder (when built).
loop_victim_up() {
  local i=$1
  loop_victim_net_up "$i" || return 1
  loop_victim_fw_up "$i" || return 1
  loop_services_up "$i" || return 1
  loop_exporter_up "$i" || return 1
  if [ -x "$(loop_binary responder)" ]; then loop_responder_up "$i" || return 1; fi
}

# loop_flood_start I [RATE] [PREFIXES]: flood victim I's :25 from each
# prefix (spoofed sources spread over the prefix), RATE SYNs/s per prefix,
# until loop_flood_stop. The start time (ms) goes to flood$i.start.
loop_flood_start() {
  local i=$1 rate=${2:-${LOOP_FLOOD_RATE:-1000}} prefixes=${3:-$(loop_flood_prefixes)}
  loop_log "flood: victim $i :25 from $prefixes at $rate SYN/s per prefix"
  loop__now_ms >"$(loop__state)/flood$i.start"
  loop__flood_spawn "$i" "$rate" "$prefixes"
}

loop_flood_stop() { loop_kill "flood$1" TERM 5; }

# loop_control_smtp I: the control host's SMTP dialogue with victim I; true
# when it read the 220 banner and the reply to EHLO within 3 s.
loop_control_smtp() {
  local i=$1
  ip netns exec "$(loop_att_ns)" timeout 4 bash -c '
    exec 3<>/dev/tcp/'"$(loop_victim_ip "$i")"'/25 || exit 1
    read -r -t 3 banner <&3 || exit 1
    case "$banner" in 220*) ;; *) exit 1 ;; esac
    printf "EHLO control.example\r\nQUIT\r\n" >&3
    read -r -t 3 reply <&3 || exit 1
    case "$reply" in 250*) exit 0 ;; *) exit 1 ;; esac
  ' 2>/dev/null
}

# loop_control_up I: the control host's SMTP client, one session a second
# from its own address; its lines go to logs/control$I.log
# ("<unix ms> ok <ms>" or "<unix ms> fail <reason>").
loop_control_up() {
  local i=$1
  loop__spawn "control$i" "$(loop_att_ns)" "$(loop__bin)/lab/control" \
    -target "$(loop_victim_ip "$i"):25" -bind "$(loop_control_ip "$i")" -seconds "$(loop__seconds)"
}

# loop_control_last I: the control host's last result (ok or fail).
loop_control_last() { tail -n 1 "$(loop__state)/logs/control$1.log" 2>/dev/null | awk '{print $2}'; }

# loop_ss_counts I: SYN_RECV sockets per /27 in victim I, as ss shows them
# ("prefix count" lines, sorted).
loop_ss_counts() {
  ip netns exec "$(loop_victim_ns "$1")" ss -Htan state syn-recv | awk '
    { a = $4; sub(/:[0-9]+$/, "", a); gsub(/[][]/, "", a); sub(/^::ffff:/, "", a)
      if (split(a, o, ".") != 4) next
      printf "%s.%s.%s.%d/27\n", o[1], o[2], o[3], int(o[4] / 32) * 32 }' | sort | uniq -c | awk '{print $2, $1}'
}

# loop_fw_drop_sources I: the sources in victim I's drop zone (runtime).
loop_fw_drop_sources() { loop_fw_env "$1"; fw_cmd --zone=drop --list-sources; }

# loop_prom_query EXPR: an instant query to the lab's Prometheus (JSON).
loop_prom_query() {
  ip netns exec "$(loop_mon_ns)" curl -fsS --max-time 3 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1"
}

# loop_mon_up N: Prometheus and Alertmanager in the monitoring namespace,
# watching victims 1..N, with configs derived from deploy/ (labconfig) and
# the project's rules/. Waits until Prometheus has discovered Alertmanager:
# an alert that fires before that waits a minute for its first webhook.
loop_mon_up() {
  local n=${1:-1} st repo mon i hosts=()
  st=$(loop__state); repo=$(loop__repo); mon=$(loop_mon_ns)
  for (( i = 1; i <= n; i++ )); do hosts+=(-host "victim$i=$(loop_victim_mgmt_ip "$i")"); done
  "$(loop__bin)/lab/labconfig" prometheus -in "${LOOP_PROM_CONFIG:-$repo/deploy/prometheus/prometheus.yml}" \
    -rules "${LOOP_RULES:-$repo/rules}" -alertmanager 127.0.0.1:9093 "${hosts[@]}" >"$st/prometheus.yml" || return 1
  "$(loop__bin)/lab/labconfig" alertmanager -in "${LOOP_AM_CONFIG:-$repo/deploy/alertmanager/alertmanager.yml}" \
    "${hosts[@]}" >"$st/alertmanager.yml" || return 1
  promtool check config "$st/prometheus.yml" >"$st/logs/promtool.log" 2>&1 || { cat "$st/logs/promtool.log" >&2; return 1; }
  mkdir -p "$st/prometheus-data" "$st/alertmanager-data"
  loop__spawn alertmanager "$mon" prometheus-alertmanager --config.file="$st/alertmanager.yml" \
    --storage.path="$st/alertmanager-data" --web.listen-address=127.0.0.1:9093 --cluster.listen-address=
  loop__spawn prometheus "$mon" prometheus --config.file="$st/prometheus.yml" \
    --storage.tsdb.path="$st/prometheus-data" --web.listen-address=127.0.0.1:9090 \
    --storage.tsdb.retention.time=1d
  loop_http_up http://127.0.0.1:9093/-/ready 30 "$mon" || { loop_log "Alertmanager not ready"; tail -20 "$st/logs/alertmanager.log" >&2; return 1; }
  loop_http_up http://127.0.0.1:9090/-/ready 30 "$mon" || { loop_log "Prometheus not ready"; tail -20 "$st/logs/prometheus.log" >&2; return 1; }
  loop_wait_until 30 loop_prom_true 'prometheus_notifications_alertmanagers_discovered >= 1' || {
    loop_log "Prometheus did not discover Alertmanager within 30 s"; return 1; }
  loop_log "Prometheus and Alertmanager up; Alertmanager discovered"
}

# loop_prom_true EXPR: true when EXPR returns at least one series.
loop_prom_true() {
  loop_prom_query "$1" | jq -e '.data.result | length > 0' >/dev/null
}

# loop_prom_scalar EXPR: the first series' value of EXPR ("" when none).
loop_prom_scalar() {
  loop_prom_query "$1" | jq -r '.data.result[0].value[1] // ""'
}

# loop_targets_up N [TIMEOUT_S]: wait until every scrape target of victims
# 1..N is up.
loop_targets_up() {
  local want=$(( 2 * ${1:-1} ))
  [ -x "$(loop_binary responder)" ] || want=${1:-1}
  loop_wait_until "${2:-30}" loop_prom_true "count(up{job=~\"synguard-.*\"} == 1) >= $want"
}

# loop_forward_up [I]: root-namespace loopback ports into the lab: Prometheus,
# Alertmanager and victim I's responder (I = 1).
loop_forward_up() {
  local i=${1:-1}
  loop__spawn nsforward "" "$(loop__bin)/lab/nsforward" -seconds "$(loop__seconds)" \
    -map "127.0.0.1:${LOOP_PROM_PORT:-29090}=$(loop_mon_ns)/127.0.0.1:9090" \
    -map "127.0.0.1:${LOOP_AM_PORT:-29093}=$(loop_mon_ns)/127.0.0.1:9093" \
    -map "127.0.0.1:${LOOP_RESP_PORT:-29818}=$(loop_victim_ns "$i")/127.0.0.1:9818"
  loop_http_up "http://127.0.0.1:${LOOP_PROM_PORT:-29090}/-/ready" 10
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

# loop__flood_spawn I RATE PREFIXES: test/synflood in the attacker namespace,
# again and again (it sends a bounded count per run), each run from fresh
# source ports so its SYNs make new sockets, until loop_flood_stop. The
# wrapper leads its own process group, so stopping it stops the flooder too.
# LOOP_FLOODER, when set, replaces test/synflood (same flags).
loop__flood_spawn() {
  local i=$1 rate=$2 prefixes=$3 count
  count=$(( rate * $(wc -w <<<"$prefixes") * 20 ))   # about 20 s a run
  (( count > 100000 )) && count=100000
  # shellcheck disable=SC2016
  loop__spawn "flood$i" "$(loop_att_ns)" setsid bash -c '
    flooder=$1 dst=$2 src=$3 rate=$4 count=$5 hosts=$6 end=$(( SECONDS + $7 )) base=10000
    while (( SECONDS < end )); do
      "$flooder" -dst "$dst" -port 25 -src "$src" -rate "$rate" -count "$count" -sport-base "$base" || exit 1
      base=$(( base + count / hosts + 1 )); (( base > 60000 )) && base=10000
    done' loop-flood "${LOOP_FLOODER:-$(loop__bin)/lab/synflood}" "$(loop_victim_ip "$i")" "${prefixes// /,}" \
      "$(( rate * $(wc -w <<<"$prefixes") ))" "$count" "$(( 32 * $(wc -w <<<"$prefixes") ))" "$(loop__seconds)"
}

# loop_fw_blocked I: what victim I's firewalld drops, one prefix a line: the
# drop zone's sources, with each ipset source replaced by the set's entries
# (the responder's ipset mode), as firewalld itself reports them.
loop_fw_blocked() {
  local s
  loop_fw_env "$1"
  for s in $(fw_cmd --zone=drop --list-sources); do
    case "$s" in
      ipset:*) fw_cmd --ipset="${s#ipset:}" --get-entries ;;
      *) printf '%s\n' "$s" ;;
    esac
  done
}
