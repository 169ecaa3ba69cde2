# shellcheck shell=bash
# A synguard fleet between network namespaces, built on test/lab/loop.sh:
# N victims (each with its own private firewalld, services, exporter and
# responder named victim<i>), one attacker namespace that can flood any of
# them, and a monitoring namespace with ONE Prometheus and TWO Alertmanagers
# clustered over their real gossip, all on configs derived from
# deploy/fleet/ (docs/fleet.md). Source this file; it defines functions only.
#
#   netns $LOOP_NAME-v<i>
#     synguard-exporter   https://203.0.113.(8i+1):9817  deploy/fleet/exporter-web.yml
#     synguard-responder  https://203.0.113.(8i+1):9818  deploy/fleet/responder-web.yml
#   netns $LOOP_NAME-mon
#     Prometheus  127.0.0.1:9090  (deploy/fleet/prometheus.yml, rules/*.yml)
#     am1         127.0.0.1:9093, gossip 127.0.0.1:9094 \  deploy/fleet/alertmanager.args,
#     am2         127.0.0.2:9093, gossip 127.0.0.2:9094 /  addresses replaced
#
# As deploy/fleet/ has it, every exporter and responder listens on its
# host's own (management) address, serves TLS and requires a client
# certificate of the fleet's CA with an allowed SAN: Prometheus scrapes with
# its own (prometheus.example.net), each Alertmanager posts its webhooks with
# its own (am1.example.net, am2.example.net) and the bearer token
# $LOOP_STATE/webhook.token. fleet_up writes the PKI into $LOOP_STATE/pki
# (fleet_pki_up: labconfig pki, internal/lab/labpki): ca.crt, victim<i>
# (SANs victim<i> and its management address), the three clients and
# intruder.example.net (signed by the CA, allowed nowhere). The lab's own
# reads of a victim go through TLS as Prometheus.
#
# Parameters: those of loop.sh, and
#   FLEET_PEER_TIMEOUT  Alertmanager --cluster.peer-timeout [5s]: how long
#                       the second member waits for the first's notification

FLEET__DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=loop.sh
. "$FLEET__DIR/loop.sh"

fleet_am_ip() { printf '127.0.0.%s' "$1"; }

# fleet_pki: the lab's PKI directory (written by internal/lab/labpki).
fleet_pki() { printf '%s/pki' "$(loop__state)"; }

# fleet_curl NS CLIENT CURL_ARGS...: curl in namespace NS over TLS verified
# by the lab's CA, with CLIENT's certificate (none when CLIENT is "none").
fleet_curl() {
  local ns=$1 c=$2 pki
  pki=$(fleet_pki); shift 2
  if [ "$c" = none ]; then
    ip netns exec "$ns" curl --cacert "$pki/ca.crt" "$@"
  else
    ip netns exec "$ns" curl --cacert "$pki/ca.crt" --cert "$pki/$c.crt" --key "$pki/$c.key" "$@"
  fi
}

# fleet_pki_up N: the fleet's throw-away PKI for victims 1..N (labconfig pki:
# crypto/x509 in Go; the CA's key is never written).
fleet_pki_up() {
  local n=$1 i hosts=()
  for (( i = 1; i <= n; i++ )); do hosts+=(-host "victim$i=$(loop_victim_mgmt_ip "$i")"); done
  "$(loop__bin)/lab/labconfig" pki -pki "$(fleet_pki)" "${hosts[@]}" \
    -clients prometheus.example.net,am1.example.net,am2.example.net,intruder.example.net
}

# fleet_webconfig I NAME: victim I's --web.config.file for NAME (exporter or
# responder), derived from deploy/fleet/NAME-web.yml; prints its path.
fleet_webconfig() {
  local f
  f="$(loop__state)/$2$1-web.yml"
  "$(loop__bin)/lab/labconfig" webconfig -in "$(loop__repo)/deploy/fleet/$2-web.yml" \
    -pki "$(fleet_pki)" -server "victim$1" >"$f" || return 1
  printf '%s' "$f"
}

# fleet_victim_url I PORT PATH: the https URL of victim I's PORT.
fleet_victim_url() { printf 'https://%s:%s%s' "$(loop_victim_mgmt_ip "$1")" "$2" "$3"; }

# fleet_exporter_up I / fleet_responder_up I: victim I's exporter (:9817) and
# responder (:9818) as deploy/fleet/ has them: on the victim's own address,
# with --web.config.file; up once they answer Prometheus's certificate.
fleet_exporter_up() {
  local i=$1 vns cfg web
  vns=$(loop_victim_ns "$i")
  cfg=$(loop_exporter_config "$i")
  if ! "$(loop_binary exporter)" --config.file="$cfg" --config.check >"$(loop__state)/logs/exporter$i.check" 2>&1; then
    loop_log "exporter refuses the probes section ($(tail -1 "$(loop__state)/logs/exporter$i.check")): running without probes"
    cfg=$(LOOP_PROBES=0 loop_exporter_config "$i")
  fi
  web=$(fleet_webconfig "$i" exporter) || return 1
  loop__spawn "exporter$i" "$vns" "$(loop_binary exporter)" --config.file="$cfg" \
    --web.listen-address="$(loop_victim_mgmt_ip "$i"):9817" --web.config.file="$web"
  loop_wait_until 20 fleet_curl "$vns" prometheus.example.net -fsS -o /dev/null --max-time 2 "$(fleet_victim_url "$i" 9817 /metrics)" || {
    loop_log "exporter in $vns did not come up"; tail -20 "$(loop__state)/logs/exporter$i.log" >&2; return 1; }
}
fleet_responder_up() {
  local i=$1 vns cfg web
  vns=$(loop_victim_ns "$i")
  cfg=$(LOOP_RESPONDER_SET="${LOOP_RESPONDER_SET:-} webhook.bearer_token_file=$(loop__state)/webhook.token" loop_responder_config "$i") || return 1
  web=$(fleet_webconfig "$i" responder) || return 1
  mkdir -p "$(loop__state)/responder$i"
  loop__spawn "responder$i" "$vns" env DBUS_SYSTEM_BUS_ADDRESS="$(loop_victim_bus "$i")" \
    "$(loop_binary responder)" --config.file="$cfg" \
    --web.listen-address="$(loop_victim_mgmt_ip "$i"):9818" --web.config.file="$web"
  loop_wait_until 20 fleet_curl "$vns" prometheus.example.net -fsS -o /dev/null --max-time 2 "$(fleet_victim_url "$i" 9818 /metrics)" || {
    loop_log "responder in $vns did not come up"; tail -20 "$(loop__state)/logs/responder$i.log" >&2; return 1; }
}

# fleet_victim_up I: victim I whole (loop_victim_up's stages), its exporter
# and responder served as deploy/fleet/ has them.
fleet_victim_up() {
  local i=$1
  loop_victim_net_up "$i" || return 1
  loop_victim_fw_up "$i" || return 1
  loop_services_up "$i" || return 1
  fleet_exporter_up "$i" || return 1
  fleet_responder_up "$i" || return 1
}

# fleet_https_code I PORT PATH CLIENT [TOKEN|-] [BODY]: from the monitoring
# namespace (where Prometheus and the Alertmanagers dial from), the HTTP
# status victim I's PORT answers PATH with to CLIENT's certificate (none:
# no certificate; plain: plain http, no TLS); with TOKEN ("-" for the lab's
# webhook token) as bearer and BODY, a POST. 000 when no HTTP answer came
# (the TLS handshake was refused).
fleet_https_code() {
  local i=$1 port=$2 path=$3 c=$4 tok=${5:-} body=${6:-} args=(-sS -o /dev/null -w '%{http_code}' --max-time 3)
  [ "$tok" = - ] && tok=$(cat "$(loop__state)/webhook.token")
  [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  if [ "$c" = plain ]; then
    ip netns exec "$(loop_mon_ns)" curl "${args[@]}" "http://$(loop_victim_mgmt_ip "$i"):$port$path" 2>/dev/null
  else
    fleet_curl "$(loop_mon_ns)" "$c" "${args[@]}" "$(fleet_victim_url "$i" "$port" "$path")" 2>/dev/null
  fi
  true   # curl fails with no answer; the code (000) says so
}

# fleet_am_args K: Alertmanager K's flags, the line "amK: ..." of
# deploy/fleet/alertmanager.args with the lab's paths and addresses.
fleet_am_args() {
  local k=$1 other st line
  other=$(( 3 - k )); st=$(loop__state)
  line=$(grep -E "^am$k: " "$(loop__repo)/deploy/fleet/alertmanager.args") || return 1
  line=${line#"am$k: "}
  sed -E \
    -e "s#--config.file=[^ ]+#--config.file=$st/alertmanager$k.yml#" \
    -e "s#--storage.path=[^ ]+#--storage.path=$st/am$k-data#" \
    -e "s#--web.listen-address=[^ ]+#--web.listen-address=$(fleet_am_ip "$k"):9093#" \
    -e "s#--cluster.listen-address=[^ ]+#--cluster.listen-address=$(fleet_am_ip "$k"):9094#" \
    -e "s#--cluster.advertise-address=[^ ]+#--cluster.advertise-address=$(fleet_am_ip "$k"):9094#" \
    -e "s#--cluster.peer=[^ ]+#--cluster.peer=$(fleet_am_ip "$other"):9094#" <<<"$line"
  printf ' --cluster.peer-timeout=%s\n' "${FLEET_PEER_TIMEOUT:-5s}"
}

# fleet_am_up K: start Alertmanager K (1 or 2) in the monitoring namespace.
fleet_am_up() {
  local k=$1 args
  args=$(fleet_am_args "$k") || { loop_log "no am$k line in deploy/fleet/alertmanager.args"; return 1; }
  mkdir -p "$(loop__state)/am$k-data"
  # shellcheck disable=SC2086
  loop__spawn "am$k" "$(loop_mon_ns)" prometheus-alertmanager $args
  loop_http_up "http://$(fleet_am_ip "$k"):9093/-/ready" 30 "$(loop_mon_ns)" || {
    loop_log "am$k not ready"; tail -20 "$(loop__state)/logs/am$k.log" >&2; return 1; }
}

# fleet_am_status K: Alertmanager K's /api/v2/status (JSON).
fleet_am_status() {
  ip netns exec "$(loop_mon_ns)" curl -fsS --max-time 2 "http://$(fleet_am_ip "$1"):9093/api/v2/status"
}

# fleet_am_peers K: how many cluster members Alertmanager K sees (itself included).
fleet_am_peers() { fleet_am_status "$1" | jq -r '.cluster.peers | length'; }

# fleet_cluster_whole: both Alertmanagers see two members and are ready.
fleet_cluster_whole() {
  local k
  for k in 1 2; do
    fleet_am_status "$k" | jq -e '.cluster.status == "ready" and (.cluster.peers | length) == 2' >/dev/null || return 1
  done
}

# fleet_am_first: which Alertmanager (1 or 2) is first in the cluster's
# order (peer names sorted), the one that notifies without waiting.
fleet_am_first() {
  local s1 s2 first
  s1=$(fleet_am_status 1) && s2=$(fleet_am_status 2) || return 1
  first=$(jq -r '[.cluster.peers[].name] | sort | .[0]' <<<"$s1")
  if [ "$(jq -r '.cluster.name' <<<"$s1")" = "$first" ]; then echo 1
  elif [ "$(jq -r '.cluster.name' <<<"$s2")" = "$first" ]; then echo 2
  else return 1; fi
}

# fleet_am_webhooks K: webhook notifications Alertmanager K has sent.
fleet_am_webhooks() {
  ip netns exec "$(loop_mon_ns)" curl -fsS --max-time 2 "http://$(fleet_am_ip "$1"):9093/metrics" |
    awk '/^alertmanager_notifications_total\{/ && /integration="webhook"/ {s += $NF} END {print s + 0}'
}

# fleet_mon_up N: Prometheus and the Alertmanager pair, watching victims
# 1..N, configs derived from deploy/fleet/ (labconfig: lab addresses, 1 s
# intervals, the lab's PKI and token; one config per Alertmanager, as each
# presents its own client certificate). Waits until the pair is one cluster
# and Prometheus has discovered both.
fleet_mon_up() {
  local n=$1 st repo mon i hosts=()
  st=$(loop__state); repo=$(loop__repo); mon=$(loop_mon_ns)
  for (( i = 1; i <= n; i++ )); do hosts+=(-host "victim$i=$(loop_victim_mgmt_ip "$i")"); done
  "$(loop__bin)/lab/labconfig" prometheus -in "$repo/deploy/fleet/prometheus.yml" -rules "$repo/rules" \
    -alertmanager "$(fleet_am_ip 1):9093,$(fleet_am_ip 2):9093" "${hosts[@]}" \
    -pki "$(fleet_pki)" -client prometheus.example.net >"$st/prometheus.yml" || return 1
  promtool check config "$st/prometheus.yml" >"$st/logs/promtool.log" 2>&1 || { cat "$st/logs/promtool.log" >&2; return 1; }
  for i in 1 2; do
    "$(loop__bin)/lab/labconfig" alertmanager -in "$repo/deploy/fleet/alertmanager.yml" "${hosts[@]}" \
      -pki "$(fleet_pki)" -client "am$i.example.net" -token "$st/webhook.token" >"$st/alertmanager$i.yml" || return 1
    amtool check-config "$st/alertmanager$i.yml" >"$st/logs/amtool$i.log" 2>&1 || { cat "$st/logs/amtool$i.log" >&2; return 1; }
  done
  fleet_am_up 1 || return 1
  fleet_am_up 2 || return 1
  mkdir -p "$st/prometheus-data"
  loop__spawn prometheus "$mon" prometheus --config.file="$st/prometheus.yml" \
    --storage.tsdb.path="$st/prometheus-data" --web.listen-address=127.0.0.1:9090 \
    --storage.tsdb.retention.time=1d
  loop_http_up http://127.0.0.1:9090/-/ready 30 "$mon" || { loop_log "Prometheus not ready"; tail -20 "$st/logs/prometheus.log" >&2; return 1; }
  loop_wait_until 60 fleet_cluster_whole || { loop_log "the Alertmanagers did not form one cluster within 60 s"; return 1; }
  loop_wait_until 30 loop_prom_true 'prometheus_notifications_alertmanagers_discovered >= 2' || {
    loop_log "Prometheus did not discover both Alertmanagers within 30 s"; return 1; }
  loop_log "Prometheus and the Alertmanager pair up (one cluster, both discovered)"
}

# fleet_up N: the whole fleet: attacker and monitoring namespaces, victims
# 1..N, monitoring, every target scraped (over TLS). The PKI and the
# webhook token are made here, fresh per lab.
fleet_up() {
  local n=$1 i
  fleet_pki_up "$n" || { loop_log "cannot write the fleet's PKI"; return 1; }
  ( umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$(loop__state)/webhook.token" )
  loop_net_up || return 1
  for (( i = 1; i <= n; i++ )); do
    fleet_victim_up "$i" || return 1
  done
  fleet_mon_up "$n" || return 1
  loop_targets_up "$n" 60 || { loop_log "not every exporter and responder is scraped"; return 1; }
}

# fleet_gossip_cut / fleet_gossip_restore: drop (nft, in the monitoring
# namespace only) the Alertmanagers' gossip, TCP and UDP, both ways.
fleet_gossip_cut() {
  ip netns exec "$(loop_mon_ns)" nft -f - <<EOF
table inet sgz_gossip_cut {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp dport 9094 drop
    udp dport 9094 drop
  }
}
EOF
}
fleet_gossip_restore() { ip netns exec "$(loop_mon_ns)" nft delete table inet sgz_gossip_cut 2>/dev/null || true; }

# fleet_kernel_blocked I PREFIX: true when PREFIX is in the kernel's drop
# set of victim I's firewalld (nft, the responder's ipset mode) or is a
# source of the nft rules firewalld wrote for the drop zone (zone mode).
# (Not `nft ... | grep -q`: under pipefail, grep leaving early fails the
# pipeline with nft's SIGPIPE whenever the ruleset outgrows one write.)
fleet_kernel_blocked() {
  local rules
  rules=$(ip netns exec "$(loop_victim_ns "$1")" nft list table inet firewalld 2>/dev/null) || return 1
  [[ $rules == *"$2"* ]]
}

# fleet_fw_count I PREFIX: how many times firewalld itself lists PREFIX among
# victim I's drops.
fleet_fw_count() { loop_fw_blocked "$1" | grep -cxF -- "$2"; }

# fleet_resp_metric I SERIES: the value of one series of victim I's
# responder (0 when absent), e.g.
# 'synguard_responder_actions_total{action="block",result="ok"}'.
fleet_resp_metric() {
  fleet_curl "$(loop_mon_ns)" prometheus.example.net -fsS --max-time 2 "$(fleet_victim_url "$1" 9818 /metrics)" |
    awk -v s="$2" 'index($0, s " ") == 1 {v = $2} END {print v + 0}'
}

# fleet_ss_count I PREFIX: SYN_RECV sockets from PREFIX in victim I.
fleet_ss_count() { loop_ss_counts "$1" | awk -v p="$2" '$1 == p {n = $2} END {print n + 0}'; }

# fleet_flood_wait_all PREFIX TIMEOUT_S RATE N THRESHOLD FLOODED...: flood
# PREFIX at each FLOODED victim (RATE SYN/s), then wait (bounded) until
# PREFIX is in the kernel drop set of every victim 1..N. One watcher per
# victim follows `nft monitor` (fleet__block_watch: the times neither drift
# nor load the machine as N grows); the threshold is polled by ss every
# 100 ms. Sets START_MS
# (the floods began), CROSS_MS (the last flooded victim reached THRESHOLD
# SYN_RECV sockets from PREFIX, by ss; "" if one never did) and BLOCK_MS
# (the last victim's kernel dropped PREFIX). The floods go on: stop them.
# shellcheck disable=SC2034,SC2010  # START_MS, CROSS_MS, BLOCK_MS are its results; the names are ours
fleet_flood_wait_all() {
  local p=$1 timeout=$2 rate=$3 n=$4 threshold=$5 h i deadline w pids=() ok=0
  shift 5
  CROSS_MS="" BLOCK_MS=""
  w="$(loop__state)/watch.$$.$RANDOM"
  mkdir -p "$w"
  deadline=$(( $(loop__now_ms) + timeout * 1000 ))
  for (( i = 1; i <= n; i++ )); do
    fleet__block_watch "$i" "$p" "$deadline" "$w/block.$i" &
    pids+=($!)
  done
  sleep 0.3   # every nft monitor subscribed before the first SYN
  START_MS=$(loop__now_ms)
  for h in "$@"; do loop_flood_start "$h" "$rate" "$p" 2>/dev/null || return 1; done
  for h in "$@"; do
    ( while (( $(loop__now_ms) < deadline )); do
        (( $(fleet_ss_count "$h" "$p") >= threshold )) && { loop__now_ms >"$w/cross.$h"; exit 0; }
        sleep 0.1
      done ) &
    pids+=($!)
  done
  # The watchers end by themselves at the deadline at the latest.
  wait "${pids[@]}" 2>/dev/null
  if (( $(ls "$w" | grep -c '^block\.') == n )); then
    ok=1
    BLOCK_MS=$(cat "$w"/block.* | sort -n | tail -1)
    if (( $(ls "$w" | grep -c '^cross\.') == $# )); then CROSS_MS=$(cat "$w"/cross.* | sort -n | tail -1); fi
  fi
  cat "$w"/events.* >>"$(loop__state)/logs/nft-events.log" 2>/dev/null
  rm -rf "$w"
  (( ok ))
}

# fleet_alert_active_ms ALERTNAME PREFIX: when Prometheus began the alert
# (activeAt: with for: 0s, the evaluation that fired it), in unix ms; fails
# when no such alert is active.
fleet_alert_active_ms() {
  local at
  at=$(ip netns exec "$(loop_mon_ns)" curl -fsS --max-time 3 http://127.0.0.1:9090/api/v1/alerts |
    jq -r --arg a "$1" --arg p "$2" '[.data.alerts[] | select(.labels.alertname == $a and .labels.prefix == $p) | .activeAt][0] // empty') || return 1
  [ -n "$at" ] || return 1
  date -d "$at" +%s%3N
}

# fleet__block_watch I PREFIX DEADLINE_MS FILE: write the time (unix ms) at
# which PREFIX is in victim I's nft ruleset to FILE: now if it is there
# already, else when it appears. Follows `nft monitor` and looks at the
# ruleset on every element event (so the time is the event's, without
# polling), and every 2 s without one (a missed or oddly printed event costs
# at most 2 s). Gives up at DEADLINE_MS; the monitor is stopped by its PID.
# Every event line goes to events.I beside FILE, for the record.
fleet__block_watch() {
  local i=$1 p=$2 deadline=$3 f=$4 fd mpid line secs rc
  secs=$(( (deadline - $(loop__now_ms)) / 1000 + 1 ))
  exec {fd}< <(exec timeout "$secs" ip netns exec "$(loop_victim_ns "$i")" nft monitor new elements)
  mpid=$!
  while (( $(loop__now_ms) < deadline )); do
    if fleet_kernel_blocked "$i" "$p"; then loop__now_ms >"$f"; break; fi
    IFS= read -r -t 2 line <&"$fd"; rc=$?
    if (( rc == 0 )); then
      printf '%s %s\n' "$(loop__now_ms)" "$line" >>"${f%/*}/events.$i"
    elif (( rc <= 128 )); then
      sleep 1   # the monitor is gone: poll
    fi
  done
  kill "$mpid" 2>/dev/null
  exec {fd}<&-
}

# fleet_threshold: the fleet rule's per-host threshold, read from the rule.
fleet_threshold() {
  grep -oE '^ +\) >= [0-9]+$' "$(loop__repo)/rules/fleet.rules.yml" | head -1 | grep -oE '[0-9]+$'
}
