#!/usr/bin/env bash
# Detection-to-block latency of the whole loop: from the first SYN of a flood
# to the first SYN that the victim's firewalld drops, with the shipped rules
# (rules/) and Alertmanager route (deploy/alertmanager/alertmanager.yml), on
# the lab of test/lab/loop.sh (issue 13).
#
#   bash test/bench/latency.sh                          # 10 fresh floods over 5 phases, then re-floods
#   PHASES=5 RUNS_PER_PHASE=2 REFLOOD="5 15 30" REFLOOD_RUNS=2 bash test/bench/latency.sh   # the same, spelled out
#   LOOP_PROM_INTERVAL=5s SYNRECV_INTERVAL=5s PHASES=2 REFLOOD= bash test/bench/latency.sh   # SYN_RECV at 5 s (15s: the same)
#   BENCH_OUT=FILE ...                                  # the Markdown report, also to FILE
#
# Phases: Prometheus places a target's scrapes and a rule group's evaluations
# at fixed offsets within their intervals, derived from hashes (of the target,
# of the group's name and file): one lab run sees one phase only. Each phase
# here renames the block group (a copy of rules/, synguard.block-pN) and
# reloads Prometheus, which moves its evaluation offset; the scrape offset
# relative to the flood's start is random per run. Each run reports both:
#   scrape offset  the first sample's timestamp modulo the scrape interval
#   eval offset    the firing evaluation's timestamp modulo the block group's interval
#
# Stages, per run (timestamps from the victim's own nft counters,
# Prometheus's raw samples, the responder's API and audit log):
#   scrape      first SYN -> first scraped sample at or above the threshold
#   confirm     that sample -> the next one, also at or above (one scrape interval)
#   eval        that sample -> the alert's first firing evaluation (group interval, subquery step)
#   alertmgr    firing -> the responder decides the block (notifier, group_wait, webhook)
#   responder   decision -> firewalld call done (audit line)
#   firewalld   call done -> first SYN dropped (the nft counter behind firewalld stops)
#
# Fresh floods: before each, the flood stops, the blocks are lifted through
# the API, SYN_RECV empties, the alert resolves and Alertmanager drops the
# emptied groups (its dispatcher's maintenance, every 30 s), so the alert
# opens a new group (group_wait). Re-floods (REFLOOD, seconds): the flood
# starts again that long after the alert resolved (its last firing
# evaluation, plus the random start below), while Alertmanager may still hold
# the emptied group: the alert then waits for that group's next flush
# (group_interval).
#
# Busy legitimate client (issue 13, item 2): during every run, connrate
# (test/lab/cmd/connrate) makes LEGIT_RATE (500) complete HTTP connections a
# second to the victim from the control host's address (192.0.2.0/27). The
# run fails if that /27 ever has a block alert or a block, or if the client
# made fewer than 200 successful connections a second.
#
# Root only; a bounded run (every lab process exits by itself after
# LOOP_SECONDS, 3600 here); documentation ranges only.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
PHASES=${PHASES:-5}
RUNS_PER_PHASE=${RUNS_PER_PHASE:-2}
REFLOOD=${REFLOOD-5 15 30}
REFLOOD_RUNS=${REFLOOD_RUNS:-2}
LEGIT_RATE=${LEGIT_RATE:-500}
export LOOP_NAME=${LOOP_NAME:-sglt$$}
export LOOP_STATE=${LOOP_STATE:-/tmp/sglb-$$}
export LOOP_SECONDS=${LOOP_SECONDS:-3600}
export LOOP_PROM_INTERVAL=${LOOP_PROM_INTERVAL:-1s}
# The SYN_RECV job's own interval (deploy/prometheus/prometheus.yml ships
# 1s); SYNRECV_INTERVAL=15s measures a Prometheus without that fast job.
SYNRECV_INTERVAL=${SYNRECV_INTERVAL:-}
# Blocks long enough not to expire within a run; lifted by the API after.
export LOOP_BLOCK_DURATION=10m
[ "$(id -u)" = 0 ] || { echo "latency.sh: needs root (network namespaces)"; exit 1; }
. test/lab/loop.sh

PREFIX=198.51.100.32/27       # the measured range (the flood sends from two)
LEGIT_PREFIX=192.0.2.0/27     # the busy legitimate client's
THRESHOLD=$(awk '/alert: "?SynguardPrefixFlooding/{r=1} r&&/>= [0-9]+$/{print $NF; exit}' rules/synguard.rules.yml)
[ -n "$THRESHOLD" ] || { echo "latency.sh: no threshold in rules/synguard.rules.yml"; exit 1; }
PROM_CONFIG="$LOOP_STATE-prometheus.yml"
cp deploy/prometheus/prometheus.yml "$PROM_CONFIG"
if [ -n "$SYNRECV_INTERVAL" ]; then
  sed -i -E "s/^(    scrape_interval: )1s(.*)/\1$SYNRECV_INTERVAL/" "$PROM_CONFIG"
fi
export LOOP_PROM_CONFIG=$PROM_CONFIG
synrecv_interval=$(awk '/job_name: synguard-exporter-syn-recv/{j=1} j&&/^    scrape_interval:/{print $2; exit}' "$PROM_CONFIG")
synrecv_interval=${synrecv_interval:-$LOOP_PROM_INTERVAL}
scrape_ms=$(( ${synrecv_interval%s} * 1000 ))
group_ms=$(awk '/name: "?synguard.block"?$/{print p} {p=$0}' rules/synguard.rules.yml | sed -nE 's/.*interval: "?([0-9]+)ms"?.*/\1/p')
[ -n "$group_ms" ] || group_ms=$scrape_ms

RULES_DIR="$LOOP_STATE-rules"
# rules_phase N: rules/ with the block group renamed for phase N.
rules_phase() {
  mkdir -p "$RULES_DIR"
  cp rules/*.yml "$RULES_DIR/"
  sed -i -E "s/name: \"?synguard\.block\"?$/name: \"synguard.block-p$1\"/" "$RULES_DIR/synguard.rules.yml"
  grep -q "synguard.block-p$1" "$RULES_DIR/synguard.rules.yml" || { echo "could not rename the block group"; exit 1; }
}
rules_phase 1
export LOOP_RULES=$RULES_DIR

cleanup() { trap - EXIT INT TERM; loop_kill legit TERM 5 || true; loop_down; rm -rf "$RULES_DIR" "$PROM_CONFIG"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

loop_build >/dev/null
go build -o "$(loop__bin)/lab/" ./test/lab/cmd/connrate
loop_init
loop_net_up
loop_victim_up 1
loop_mon_up 1
loop_targets_up 1 30

VNS=$(loop_victim_ns 1)
MON=$(loop_mon_ns)
# Counters in the victim: SYNs from the measured range to :25 as they arrive
# (before firewalld) and as they leave the input hook (after firewalld's
# filter chain, priority +10). The difference is what firewalld dropped.
ip netns exec "$VNS" nft -f - <<EOF
table inet sgl_bench {
  counter seen { }
  counter passed { }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    ip saddr $PREFIX tcp dport 25 tcp flags & (syn | ack) == syn counter name seen
  }
  chain in {
    type filter hook input priority filter + 20; policy accept;
    ip saddr $PREFIX tcp dport 25 tcp flags & (syn | ack) == syn counter name passed
  }
}
EOF
counters() {
  ip netns exec "$VNS" nft -j list counters table inet sgl_bench |
    jq -r '[.nftables[] | select(.counter) | .counter | {(.name): .packets}] | add | "\(.seen) \(.passed)"'
}
now_ms() { date +%s%3N; }
prom_json() { loop_prom_query "$1"; }

# samples SELECTOR SINCE_MS [MIN]: times (ms) of the raw samples of SELECTOR
# (over the last 10 minutes) at or after SINCE_MS with a value of at least
# MIN, one a line, in order.
samples() {
  prom_json "$1[10m]" | jq -r --argjson s "$2" --argjson min "${3:-0}" '
    [.data.result[]?.values[]? | select((.[1] | tonumber) >= $min) | (.[0] * 1000 | floor) | select(. >= $s)] | sort | .[]'
}
first_sample() { samples "$@" | head -1; }
quiet_sockets() { [ -z "$(ip netns exec "$VNS" ss -Htan state syn-recv)" ]; }
no_alert() { ! loop_prom_true 'ALERTS{alertname="SynguardPrefixFlooding"}'; }
am_groups() {
  ip netns exec "$MON" curl -fsS http://127.0.0.1:9093/metrics | awk '/^alertmanager_dispatcher_aggregation_groups /{print $2}'
}
# No emptied group left: every aggregation group the dispatcher holds has an
# alert (the API lists only those).
groups_gone() {
  local live
  live=$(ip netns exec "$MON" curl -fsS http://127.0.0.1:9093/api/v2/alerts/groups | jq 'map(select((.alerts | length) > 0)) | length')
  (( $(am_groups) <= live ))
}
lift_blocks() {
  local p
  for p in $(ip netns exec "$VNS" curl -fsS http://127.0.0.1:9818/api/v1/blocks | jq -r '.blocks[].prefix'); do
    ip netns exec "$VNS" curl -fsS -X DELETE -H "Authorization: Bearer $(cat "$(loop__state)/api.token")" \
      "http://127.0.0.1:9818/api/v1/blocks/$p" >/dev/null
  done
}

# measure MODE: one flood, from the first SYN to the first drop; sets
# RUN_LINE. MODE is "fresh" or the re-flood's delay after the resolve (s).
t_resolved=0
measure() {
  local mode=$1 rate seen0 passed0 t0 t_first t_drop prev seen passed ta t tp sp pp deadline
  rate=${LOOP_FLOOD_RATE:-1000}
  if [ "$mode" = fresh ]; then
    loop_wait_until 90 groups_gone || { echo "Alertmanager keeps the block alert's groups"; exit 1; }
  else
    local wait_ms=$(( t_resolved + mode * 1000 - $(now_ms) ))
    (( wait_ms > 0 )) || { echo "re-flood $mode s: already $(( -wait_ms )) ms late"; exit 1; }
    sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  fi
  # The busy legitimate client runs through the flood and a few seconds on.
  loop__spawn legit "$(loop_att_ns)" "$(loop__bin)/lab/connrate" -target "$(loop_victim_ip 1):80" \
    -bind "$(loop_control_ip 1)" -rate "$LEGIT_RATE" -seconds 600
  sleep 1
  # A flood starts at any moment of the scrape interval: a random delay of
  # up to one interval, so that the runs' scrape stages spread over it
  # instead of sitting wherever the bench's own waits end (they end on
  # Prometheus's and Alertmanager's own ticks).
  sleep "$(awk -v r="$RANDOM" -v m="$scrape_ms" 'BEGIN { printf "%.3f", (r % m) / 1000 }')"
  read -r seen0 passed0 < <(counters)
  t0=$(now_ms)
  loop_flood_start 1 2>/dev/null
  t_first="" t_drop="" prev=""
  deadline=$(( t0 + 180000 ))
  # Counters are polled (each poll costs tens of ms, more under load); the
  # times in between come from the flood's known, steady rate: the first SYN
  # came (seen - seen0) / rate before the first poll that saw any, and the
  # drop began once the SYNs that still passed in the last interval had.
  while (( $(now_ms) < deadline )); do
    ta=$(now_ms)
    read -r seen passed < <(counters)
    t=$(( (ta + $(now_ms)) / 2 ))
    if [ -z "$t_first" ] && (( seen > seen0 )); then
      t_first=$(( t - (seen - seen0) * 1000 / rate ))
      (( t_first < t0 )) && t_first=$t0
    fi
    # Dropped: more seen than passed since the start (a few in flight allowed).
    if [ -n "$prev" ] && (( (seen - seen0) - (passed - passed0) > 3 )); then
      read -r tp sp pp <<<"$prev"
      if (( seen > sp )); then
        t_drop=$(( tp + (passed - pp) * (t - tp) / (seen - sp) ))
      else
        t_drop=$t
      fi
      break
    fi
    prev="$t $seen $passed"
    sleep 0.02
  done
  loop_flood_stop 1
  [ -n "$t_drop" ] || { echo "run: no drop within 180 s"; exit 1; }
  local t_scrape t_second t_fire blocks t_since t_audit
  t_scrape=$(first_sample "synguard_syn_recv_sockets{prefix=\"$PREFIX\"}" "$t0" "$THRESHOLD")
  t_second=$(first_sample "synguard_syn_recv_sockets{prefix=\"$PREFIX\"}" "$(( t_scrape + 1 ))" "$THRESHOLD")
  t_fire=$(first_sample "ALERTS{alertname=\"SynguardPrefixFlooding\",alertstate=\"firing\",prefix=\"$PREFIX\"}" "$t0")
  blocks=$(ip netns exec "$VNS" curl -fsS http://127.0.0.1:9818/api/v1/blocks)
  t_since=$(jq -r --arg p "$PREFIX" '.blocks[] | select(.prefix == $p) | .since' <<<"$blocks" | xargs -I{} date -d {} +%s%3N)
  t_audit=$(grep "msg=audit action=block result=ok prefix=$PREFIX " "$(loop__state)/logs/responder1.log" | tail -1 |
    sed -E 's/^time=([^ ]+) .*/\1/' | xargs -I{} date -d {} +%s%3N)
  lift_blocks
  # Wait for the legitimate client's last seconds, then its verdict.
  sleep 3
  loop_kill legit INT 5
  local ok secs legit_rate legit_max
  read -r ok secs < <(awk '/^[0-9]+ ok /{n++; if (n > 1) { s += $3; k++ }} END { print s + 0, k + 0 }' "$(loop__state)/logs/legit.log")
  legit_rate=$(( secs > 0 ? ok / secs : 0 ))
  legit_max=$(loop_prom_scalar "max_over_time(synguard_syn_recv_sockets{prefix=\"$LEGIT_PREFIX\"}[10m])")
  if loop_prom_true "max_over_time(ALERTS{prefix=\"$LEGIT_PREFIX\"}[10m])" ||
     grep -q "prefix=$LEGIT_PREFIX " "$(loop__state)/logs/responder1.log"; then
    echo "FAIL: the legitimate client's $LEGIT_PREFIX was alerted or blocked"; exit 1
  fi
  (( legit_rate >= 200 )) || { echo "FAIL: the legitimate client made only $legit_rate connections a second"; exit 1; }
  mv "$(loop__state)/logs/legit.log" "$(loop__state)/logs/legit.$(now_ms).log"
  # The next run waits for the resolve: the alert's last firing evaluation.
  loop_wait_until 60 quiet_sockets || { echo "SYN_RECV sockets stay"; exit 1; }
  loop_wait_until 90 no_alert || { echo "the flooding alert stays"; exit 1; }
  t_resolved=$(samples "ALERTS{alertname=\"SynguardPrefixFlooding\",prefix=\"$PREFIX\"}" "$t0" | tail -1)
  t_resolved=$(( t_resolved + group_ms ))
  RUN_LINE=$(printf '%s %d %d %d %d %d %d %d %d %d %d %s %s' "$mode" "$((t_drop - t_first))" "$((t_scrape - t_first))" \
    "$((t_second - t_scrape))" "$((t_fire - t_second))" "$((t_since - t_fire))" "$((t_audit - t_since))" \
    "$((t_drop - t_audit))" "$((t_scrape % scrape_ms))" "$((t_fire % group_ms))" "$legit_rate" "${legit_max:-0}" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)")
}

results=()
for phase in $(seq "$PHASES"); do
  if (( phase > 1 )); then
    rules_phase "$phase"
    kill -HUP "$(loop_pid prometheus)"
    loop_wait_until 20 loop_prom_true "prometheus_rule_group_last_duration_seconds{rule_group=~\".*synguard.block-p$phase\"}" ||
      { echo "Prometheus did not load phase $phase's rules"; exit 1; }
  fi
  for r in $(seq "$RUNS_PER_PHASE"); do
    measure fresh
    echo "phase $phase run $r: $RUN_LINE" >&2
    results+=("p$phase $RUN_LINE")
  done
done
for gap in $REFLOOD; do
  for r in $(seq "$REFLOOD_RUNS"); do
    measure "$gap"
    echo "re-flood ${gap}s run $r: $RUN_LINE" >&2
    results+=("p$PHASES $RUN_LINE")
  done
done

# Report: per run, then p50/p95 of the totals of the fresh floods and of the
# re-floods, and the median of each stage.
{
  echo "First SYN of a flood to the first SYN dropped by firewalld, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "(shipped rules/ and Alertmanager route, SYN_RECV scraped every $synrecv_interval (the rest and the other rules every $LOOP_PROM_INTERVAL), block group every ${group_ms}ms,"
  echo "responder in $(awk '/^ *mode:/{print $2; exit}' "$(loop__state)/responder1.yml") mode, flood ${LOOP_FLOOD_RATE:-1000} SYN/s per /27 from two /27s,"
  echo "busy legitimate client at $LEGIT_RATE connections/s from $LEGIT_PREFIX; load = 1/5/15-minute load average at the run's end):"
  echo
  echo "| phase | flood | total ms | scrape | confirm | eval | alertmanager | responder | firewalld | scrape offset | eval offset | legit conn/s | legit max SYN_RECV | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for r in "${results[@]}"; do
    # shellcheck disable=SC2086
    set -- $r
    kind=fresh; [ "$2" = fresh ] || kind="re-flood $2 s"
    echo "| $1 | $kind | $3 | $4 | $5 | $6 | $7 | $8 | $9 | ${10} ms | ${11} ms | ${12} | ${13} | ${14} |"
  done
  printf '%s\n' "${results[@]}" | awk '
    function pct(a, n, p,   k, tmp, i, j, x) {
      for (i = 1; i <= n; i++) tmp[i] = a[i]
      for (i = 2; i <= n; i++) { x = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > x; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = x }
      k = int(p * (n - 1) + 0.5) + 1; return tmp[k]
    }
    { g = ($2 == "fresh") ? "fresh" : "re-flood"; n[g]++; tot[g, n[g]] = $3; for (i = 4; i <= 9; i++) st[g, i, n[g]] = $i
      ph[$1 "/" $11] = 1 }
    END {
      split("scrape confirm eval alertmanager responder firewalld", names, " ")
      for (g in n) {
        for (r = 1; r <= n[g]; r++) col[r] = tot[g, r]
        printf "\n%s floods: p50 %.2f s, p95 %.2f s (nearest rank over %d runs)\n\n", g, pct(col, n[g], 0.5) / 1000, pct(col, n[g], 0.95) / 1000, n[g]
        printf "| stage | median ms |\n|---|---|\n"
        for (i = 4; i <= 9; i++) { for (r = 1; r <= n[g]; r++) col[r] = st[g, i, r]; printf "| %s | %d |\n", names[i - 3], pct(col, n[g], 0.5) }
      }
      k = 0; for (p in ph) k++
      printf "\n%d distinct (phase, evaluation offset) pairs\n", k
    }'
} | tee "${BENCH_OUT:-/dev/null}"
