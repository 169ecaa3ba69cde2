# shellcheck shell=bash
# test/lab/loop.sh, stage "monitoring": Prometheus and Alertmanager in the
# monitoring namespace, queries to Prometheus, and the loopback forwards
# into the lab. Sourced by test/lab/loop.sh; defines functions only.

# loop_prom_query EXPR: an instant query to the lab's Prometheus (JSON).
loop_prom_query() {
  ip netns exec "$(loop_mon_ns)" curl -fsS --max-time 3 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1"
}

# loop_mon_up N: Prometheus and Alertmanager in the monitoring namespace,
# watching victims 1..N, with configs derived from deploy/ (labconfig) and
# the project's rules/ (LOOP_RULES), scraping and evaluating every
# LOOP_PROM_INTERVAL (1s; a scrape job or rule group with its own interval
# keeps it). Waits until Prometheus has discovered Alertmanager: an alert
# that fires before that waits a minute for its first webhook.
loop_mon_up() {
  local n=${1:-1} st repo mon i hosts=()
  st=$(loop__state); repo=$(loop__repo); mon=$(loop_mon_ns)
  for (( i = 1; i <= n; i++ )); do hosts+=(-host "victim$i=$(loop_victim_mgmt_ip "$i")"); done
  "$(loop__bin)/lab/labconfig" prometheus -in "${LOOP_PROM_CONFIG:-$repo/deploy/prometheus/prometheus.yml}" \
    -rules "${LOOP_RULES:-$repo/rules}" -alertmanager 127.0.0.1:9093 -interval "${LOOP_PROM_INTERVAL:-1s}" \
    "${hosts[@]}" >"$st/prometheus.yml" || return 1
  loop_tokens || return 1
  "$(loop__bin)/lab/labconfig" alertmanager -in "${LOOP_AM_CONFIG:-$repo/deploy/alertmanager/alertmanager.yml}" \
    "${hosts[@]}" -token "$st/webhook.token" >"$st/alertmanager.yml" || return 1
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
# 1..N is up: one per synguard job of the derived config (the exporter's
# two, SYN_RECV at 1 s and the rest, and the responder's) and victim.
loop_targets_up() {
  local jobs want
  jobs=$(grep -c '^ *- job_name: synguard-' "$(loop__state)/prometheus.yml") || jobs=2
  [ -x "$(loop_binary responder)" ] || jobs=$(( jobs - 1 ))
  want=$(( jobs * ${1:-1} ))
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
