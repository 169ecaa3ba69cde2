#!/usr/bin/env bash
# Detection-to-block latency of the whole loop: from the first SYN of a flood
# to the first SYN that the victim's firewalld drops, over RUNS runs (5), with
# 1 s scrape and evaluation intervals, on the lab of test/lab/loop.sh.
#
#   bash test/bench/latency.sh                # the shipped rules (for: 30s)
#   BENCH_FOR=1s bash test/bench/latency.sh   # the same with the block rule's for: changed
#
# Where the time goes, per run (timestamps from the victim's own nft counters,
# Prometheus's raw samples, the responder's API and audit log):
#   scrape      first SYN -> first scraped sample at or above the threshold
#   rule        that sample -> the alert's first "firing" evaluation (for:)
#   alertmgr    firing -> the responder decides the block (notifier, group_wait, webhook)
#   responder   decision -> firewalld call done (audit line)
#   firewalld   call done -> first SYN dropped (the nft counter behind firewalld stops)
# Between runs the flood stops, the blocks are lifted through the API, and the
# lab waits until SYN_RECV is empty and Alertmanager's group is gone.
# Root only; prints a Markdown table (and writes it to $BENCH_OUT if set).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
RUNS=${RUNS:-5}
export LOOP_NAME=${LOOP_NAME:-sglb}
export LOOP_STATE=${LOOP_STATE:-/tmp/sglb-$$}
export LOOP_SECONDS=${LOOP_SECONDS:-1800}
# Blocks long enough not to expire within a run; lifted by the API after.
export LOOP_BLOCK_DURATION=10m
[ "$(id -u)" = 0 ] || { echo "latency.sh: needs root (network namespaces)"; exit 1; }
. test/lab/loop.sh

PREFIX=198.51.100.32/27       # the measured range (the flood sends from two)
THRESHOLD=50                  # of the shipped SynguardPrefixFlooding rule

rules_for() {
  # A copy of rules/ with the block rule's for: replaced.
  local d="$LOOP_STATE-rules"
  rm -rf "$d"; mkdir -p "$d"
  cp rules/*.yml "$d/"
  awk -v f="$BENCH_FOR" '
    /- alert: SynguardPrefixFlooding/ { inrule = 1 }
    inrule && /^ *for: / { sub(/for: *[0-9a-z]+/, "for: " f); inrule = 0 }
    { print }' rules/synguard.rules.yml >"$d/synguard.rules.yml"
  grep -A4 'alert: SynguardPrefixFlooding' "$d/synguard.rules.yml" | grep -q "for: $BENCH_FOR" || { echo "could not set for:"; exit 1; }
  printf '%s' "$d"
}
FOR_NOTE="shipped rules (for: $(awk '/alert: SynguardPrefixFlooding/{r=1} r&&/^ *for: /{print $2; exit}' rules/synguard.rules.yml))"
if [ -n "${BENCH_FOR:-}" ]; then
  LOOP_RULES=$(rules_for); export LOOP_RULES
  FOR_NOTE="rules/ with SynguardPrefixFlooding's for: set to $BENCH_FOR"
fi

cleanup() { trap - EXIT INT TERM; loop_down; rm -rf "$LOOP_STATE-rules"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

loop_build >/dev/null
loop_init
loop_net_up
loop_victim_up 1
loop_mon_up 1
loop_targets_up 1 30

VNS=$(loop_victim_ns 1)
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

# first_sample SELECTOR SINCE_MS [MIN]: time (ms) of the first raw sample of
# SELECTOR (over the last 5 minutes) at or after SINCE_MS with a value of at
# least MIN.
first_sample() {
  prom_json "$1[5m]" | jq -r --argjson s "$2" --argjson min "${3:-0}" '
    [.data.result[]?.values[]? | select((.[1] | tonumber) >= $min) | (.[0] * 1000 | floor) | select(. >= $s)] | min // empty'
}
quiet_sockets() { [ -z "$(ip netns exec "$VNS" ss -Htan state syn-recv)" ]; }
no_alert() { ! loop_prom_true 'ALERTS{alertname="SynguardPrefixFlooding"}'; }
no_group() {
  ! ip netns exec "$(loop_mon_ns)" curl -fsS http://127.0.0.1:9093/api/v2/alerts/groups |
    jq -e 'map(select(.receiver.name == "synguard-responder" and (.alerts | length) > 0)) | length > 0' >/dev/null
}

results=()
for run in $(seq "$RUNS"); do
  # Quiet lab: no SYN_RECV, no flooding alert, no Alertmanager group left.
  loop_wait_until 60 quiet_sockets || { echo "SYN_RECV sockets stay"; exit 1; }
  loop_wait_until 90 no_alert || { echo "the flooding alert stays"; exit 1; }
  loop_wait_until 60 no_group || { echo "Alertmanager keeps the block alert's group"; exit 1; }
  # Alertmanager sends the resolve at the group's next flush (group_interval,
  # 10s in deploy/), and drops the emptied group only at its next
  # maintenance (every 30 s): an alert firing again into the old group waits
  # for that group's next flush (up to group_interval) instead of
  # group_wait. Each run measures a fresh flood: let the group go.
  (( run > 1 )) && sleep "${BENCH_SETTLE:-35}"
  read -r seen0 passed0 < <(counters)
  rate=${LOOP_FLOOD_RATE:-1000}
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
  [ -n "$t_drop" ] || { echo "run $run: no drop within 180 s"; exit 1; }
  t_scrape=$(first_sample "synguard_syn_recv_sockets{prefix=\"$PREFIX\"}" "$t0" "$THRESHOLD")
  t_fire=$(first_sample "ALERTS{alertname=\"SynguardPrefixFlooding\",alertstate=\"firing\",prefix=\"$PREFIX\"}" "$t0")
  blocks=$(ip netns exec "$VNS" curl -fsS http://127.0.0.1:9818/api/v1/blocks)
  t_since=$(jq -r --arg p "$PREFIX" '.blocks[] | select(.prefix == $p) | .since' <<<"$blocks" | xargs -I{} date -d {} +%s%3N)
  t_audit=$(grep "msg=audit action=block result=ok prefix=$PREFIX " "$(loop__state)/logs/responder1.log" | tail -1 |
    sed -E 's/^time=([^ ]+) .*/\1/' | xargs -I{} date -d {} +%s%3N)
  line=$(printf '%d %d %d %d %d %d %d' "$run" "$((t_drop - t_first))" "$((t_scrape - t_first))" "$((t_fire - t_scrape))" \
    "$((t_since - t_fire))" "$((t_audit - t_since))" "$((t_drop - t_audit))")
  echo "run $line" >&2
  results+=("$line")
  # Lift the blocks for the next run.
  for p in $(jq -r '.blocks[].prefix' <<<"$blocks"); do
    ip netns exec "$VNS" curl -fsS -X DELETE -H "Authorization: Bearer $(cat "$(loop__state)/api.token")" \
      "http://127.0.0.1:9818/api/v1/blocks/$p" >/dev/null
  done
done

# Report: per run, then p50/p95 of the total and the median share of each stage.
{
  echo "Latency from the first SYN of a flood to the first SYN dropped by firewalld"
  echo "($RUNS runs, $FOR_NOTE, 1 s scrape/evaluation, Alertmanager from deploy/ (group_wait 1s), responder in $(awk '/^ *mode:/{print $2; exit}' "$(loop__state)/responder1.yml") mode, flood 1000 SYN/s per /27 from two /27s):"
  echo
  echo "| run | total ms | scrape | rule (for:) | alertmanager | responder | firewalld |"
  echo "|---|---|---|---|---|---|---|"
  for r in "${results[@]}"; do
    # shellcheck disable=SC2086
    set -- $r; echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"
  done
  printf '%s\n' "${results[@]}" | awk '
    { n++; tot[n] = $2; for (i = 3; i <= 7; i++) st[i, n] = $i }
    function pct(a, n, p,   k, tmp, i, j, x) {
      for (i = 1; i <= n; i++) tmp[i] = a[i]
      for (i = 2; i <= n; i++) { x = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > x; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = x }
      k = int(p * (n - 1) + 0.5) + 1; return tmp[k]
    }
    END {
      printf "\np50 %.2f s, p95 %.2f s (nearest rank over %d runs)\n\n", pct(tot, n, 0.5) / 1000, pct(tot, n, 0.95) / 1000, n
      split("scrape rule alertmanager responder firewalld", names, " ")
      printf "| stage | median ms | share of median total |\n|---|---|---|\n"
      for (i = 3; i <= 7; i++) { for (r = 1; r <= n; r++) col[r] = st[i, r]; m = pct(col, n, 0.5)
        printf "| %s | %d | %.0f%% |\n", names[i - 2], m, 100 * m / pct(tot, n, 0.5) }
    }'
} | tee "${BENCH_OUT:-/dev/null}"
