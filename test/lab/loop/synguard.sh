# shellcheck shell=bash
# test/lab/loop.sh, stage "synguard": synguard-exporter and synguard-
# responder in each victim: their configs (derived from examples/) and
# start-up; loop_victim_up, a whole victim. Sourced by test/lab/loop.sh;
# defines functions only.

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

# loop_tokens: the lab's bearer tokens, $LOOP_STATE/webhook.token (shared
# by the responders and Alertmanager) and api.token (the operator API and
# POST /-/reload), random, made once per lab as the packages make them.
loop_tokens() {
  local st t
  st=$(loop__state)
  mkdir -p "$st"
  for t in webhook api; do
    [ -s "$st/$t.token" ] && continue
    ( umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$st/$t.token" ) || return 1
  done
}

# loop_responder_config I: victim I's responder config, derived from the
# shipped examples/responder.yml (every other knob as shipped) with the
# lab's tokens (loop_tokens), and print its path. LOOP_RESPONDER_SET: more
# KEY.PATH=VALUE settings, space-separated.
loop_responder_config() {
  local i=$1 f st extra=() kv
  st=$(loop__state)
  f="$st/responder$i.yml"
  loop_tokens || return 1
  extra+=(-set "webhook.bearer_token_file=$st/webhook.token" -set "api.bearer_token_file=$st/api.token")
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
