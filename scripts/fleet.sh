#!/usr/bin/env bash
# synguard on a fleet, on one machine (run as root: `bash scripts/fleet.sh`):
# three victims, each with its own private firewalld, services, exporter and
# responder; one Prometheus; two Alertmanagers clustered over their real
# gossip; an attacker namespace that floods any victim (test/lab/fleet.sh,
# configs derived from deploy/fleet/; docs/fleet.md). It checks, in order:
#
#   1 fleet      one /27 floods hosts 1 and 2: blocked on all three hosts by
#                the fleet rule; reports the time from the flood crossing
#                the fleet threshold on the second host to the block in the
#                kernel of the last host (target: under 10 s)
#   2 host       a /27 floods host 3 only: blocked on host 3 (host rule,
#                its own for:) and nowhere else; hosts 1 and 2 got the alert and
#                refused it (other_host)
#   2b           the same /27 then floods hosts 1 and 2: the fleet alert
#                blocks it there; on host 3 the host block and the fleet
#                alert are one block (counted as a duplicate)
#   3 duplicates the Alertmanagers' gossip cut, so BOTH notify: every
#                responder counts duplicates, and applies the block exactly
#                once (one new block, one firewalld entry per host)
#   4 am-killed  the Alertmanager that notifies first SIGKILLed (by its PID):
#                a new /27 on hosts 1 and 2 is still blocked on all three
#
# Everything runs in namespaces made here; the host's firewall and system
# bus are never touched; every process is stopped by its recorded PID and
# every namespace deleted on exit. Exit 0: all passed; 1: a check failed;
# 77: cannot run here (not root, a tool missing), saying why.
#
# Environment: FLEET_HOSTS (3, at least 3), FLEET_RATE SYN/s per flood (300),
# FLEET_RESULTS file for the JSON results ($LOOP_STATE/results.json),
# FLEET_NO_BUILD=1 uses binaries already in LOOP_BIN, LOOP_NAME (sgz<PID>),
# LOOP_STATE (/tmp/$LOOP_NAME), LOOP_BIN ($LOOP_STATE/bin), and
# loop.sh's and fleet.sh's other parameters.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export LOOP_NAME=${LOOP_NAME:-sgz$$}
export LOOP_STATE=${LOOP_STATE:-/tmp/$LOOP_NAME}
export LOOP_BIN=${LOOP_BIN:-$LOOP_STATE/bin}
export LOOP_SECONDS=${LOOP_SECONDS:-900}
HOSTS=${FLEET_HOSTS:-3}
RATE=${FLEET_RATE:-300}
RESULTS=${FLEET_RESULTS:-$LOOP_STATE/results.json}

# The attacking /27s of the four phases (spoofed, inside loop.sh's
# 198.51.100.0/24, which only the attacker routes).
P_FLEET=198.51.100.32/27
P_HOST=198.51.100.64/27
P_DUP=198.51.100.128/27
P_KILL=198.51.100.160/27

say() { printf '[%s] fleet: %s\n' "$(date +%T)" "$*"; }
skip() { printf 'fleet: SKIP: %s\n' "$*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, private firewalld instances)"
for c in ip nft firewalld dbus-daemon prometheus prometheus-alertmanager promtool amtool jq curl ss; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || skip "$c not found (see .ci/packages)"
done
[ -n "${FLEET_NO_BUILD:-}" ] || command -v go >/dev/null || skip "go not found"
(( HOSTS >= 3 )) || { echo "fleet: FLEET_HOSTS must be at least 3" >&2; exit 2; }

# shellcheck source=../test/lab/fleet.sh
. "$REPO/test/lab/fleet.sh"

# The fleet rule's per-host threshold, read from the rule itself.
THRESHOLD=$(fleet_threshold)
[ -n "$THRESHOLD" ] || { echo "fleet: cannot read the per-host threshold from rules/fleet.rules.yml" >&2; exit 1; }

FAILED=()
declare -A RES=()
fail() { say "FAIL: $*"; FAILED+=("$*"); }

cleanup() {
  trap - EXIT INT TERM
  loop_down 2>/dev/null
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qE "^${LOOP_NAME}-"; then
    say "namespaces left behind: $(ip netns list | grep "^${LOOP_NAME}-" | tr '\n' ' ')"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# blocked_on I P: P in the kernel drop set of victim I.
blocked_on() { fleet_kernel_blocked "$1" "$2"; }

# floods_stop: stop every victim's flood (by recorded PID).
floods_stop() { local i; for (( i = 1; i <= HOSTS; i++ )); do loop_flood_stop "$i"; done; }

# resp_all SERIES: SERIES on every responder, space-separated.
resp_all() { local i out=(); for (( i = 1; i <= HOSTS; i++ )); do out+=("$(fleet_resp_metric "$i" "$1")"); done; echo "${out[*]}"; }

dump_logs() {
  local i
  for (( i = 1; i <= HOSTS; i++ )); do say "responder$i log (tail):"; tail -5 "$LOOP_STATE/logs/responder$i.log" 2>/dev/null; done
  for i in 1 2; do say "am$i log (tail):"; tail -5 "$LOOP_STATE/logs/am$i.log" 2>/dev/null; done
}

OK_S='synguard_responder_actions_total{action="block",result="ok"}'
DUP_S='synguard_responder_actions_total{action="block",result="duplicate"}'
OTHER_S='synguard_responder_refused_total{reason="other_host"}'

# ------------------------------------------------------------------ setup
say "state, configs and logs: $LOOP_STATE (namespaces $LOOP_NAME-*)"
loop_init || exit 1
if [ -z "${FLEET_NO_BUILD:-}" ]; then
  loop_build >"$LOOP_STATE/logs/build.log" 2>&1 || { cat "$LOOP_STATE/logs/build.log"; echo "fleet: build failed" >&2; exit 1; }
fi
[ -x "$(loop_binary responder)" ] || { echo "fleet: no synguard-responder in $LOOP_BIN" >&2; exit 1; }
t_up=$(loop__now_ms)
fleet_up "$HOSTS" || { dump_logs; echo "fleet: the fleet did not come up" >&2; exit 1; }
RES[setup_ms]=$(( $(loop__now_ms) - t_up ))
say "fleet up in $(( RES[setup_ms] / 1000 )) s: $HOSTS victims, Prometheus, Alertmanagers am1+am2 in one cluster; fleet threshold $THRESHOLD sockets on 2 hosts"

# ------------------------------------------------------------------ 1 fleet
say "1 fleet: $P_FLEET floods hosts 1 and 2 ($RATE SYN/s each)"
ok0=$(resp_all "$OK_S")
if fleet_flood_wait_all "$P_FLEET" 60 "$RATE" "$HOSTS" "$THRESHOLD" 1 2; then
  if [ -n "$CROSS_MS" ]; then
    RES[fleet_cross_to_block_ms]=$(( BLOCK_MS - CROSS_MS ))
    say "1 fleet: blocked on all $HOSTS hosts; threshold crossed on the second host -> block on the last host: ${RES[fleet_cross_to_block_ms]} ms (target < 10000)"
  else
    fail "1 fleet: blocked everywhere, but ss never showed $THRESHOLD sockets on both flooded hosts"
  fi
  RES[fleet_start_to_block_ms]=$(( BLOCK_MS - START_MS ))
  # Where the time went: Prometheus (scrape, evaluation) up to the alert,
  # then Alertmanager (group_wait), webhooks, responders and firewalld.
  if active=$(fleet_alert_active_ms SynguardFleetPrefixFlooding "$P_FLEET") && [ -n "$CROSS_MS" ]; then
    RES[fleet_cross_to_alert_ms]=$(( active - CROSS_MS ))
    RES[fleet_alert_to_block_ms]=$(( BLOCK_MS - active ))
    say "1 fleet: of which threshold -> alert active in Prometheus ${RES[fleet_cross_to_alert_ms]} ms, alert -> block on the last host ${RES[fleet_alert_to_block_ms]} ms"
  fi
else
  fail "1 fleet: $P_FLEET not blocked on all $HOSTS hosts within 60 s"
fi
floods_stop
for (( i = 1; i <= HOSTS; i++ )); do
  n=$(fleet_fw_count "$i" "$P_FLEET")
  [ "$n" = 1 ] || fail "1 fleet: firewalld on host $i lists $P_FLEET $n times, want 1"
done
ok1=$(resp_all "$OK_S")
for (( i = 1; i <= HOSTS; i++ )); do
  a=$(cut -d' ' -f"$i" <<<"$ok0"); b=$(cut -d' ' -f"$i" <<<"$ok1")
  (( b - a == 1 )) || fail "1 fleet: host $i applied $(( b - a )) new blocks, want exactly 1"
done
say "1 fleet: new blocks per responder: $ok0 -> $ok1"

# ------------------------------------------------------------------ 2 host
say "2 host: $P_HOST floods host 3 only (host rule)"
other0=$(resp_all "$OTHER_S")
loop_flood_start 3 "$RATE" "$P_HOST" 2>/dev/null
t0=$(loop__now_ms)
if loop_wait_until 90 blocked_on 3 "$P_HOST"; then
  RES[host_start_to_block_ms]=$(( $(loop__now_ms) - t0 ))
  say "2 host: blocked on host 3 after $(( RES[host_start_to_block_ms] / 1000 )) s"
else
  fail "2 host: $P_HOST not blocked on host 3 within 90 s"
fi
loop_flood_stop 3
# Every other responder got the same notification and refused it.
others_refused() {
  local i o0
  for (( i = 1; i < HOSTS; i++ )); do
    o0=$(cut -d' ' -f"$i" <<<"$other0")
    (( $(fleet_resp_metric "$i" "$OTHER_S") > o0 )) || return 1
  done
}
loop_wait_until 30 others_refused || fail "2 host: hosts 1..$(( HOSTS - 1 )) never refused host 3's alert (other_host)"
for (( i = 1; i < HOSTS; i++ )); do
  blocked_on "$i" "$P_HOST" && fail "2 host: $P_HOST blocked on host $i"
  [ "$(fleet_fw_count "$i" "$P_HOST")" = 0 ] || fail "2 host: firewalld on host $i lists $P_HOST"
done
[ "$(fleet_fw_count 3 "$P_HOST")" = 1 ] || fail "2 host: firewalld on host 3 does not list $P_HOST once"
loop_prom_true "max_over_time(ALERTS{alertname=\"SynguardFleetPrefixFlooding\",prefix=\"$P_HOST\"}[10m])" &&
  fail "2 host: a fleet alert fired for $P_HOST"
say "2 host: other_host refusals per responder: $other0 -> $(resp_all "$OTHER_S")"

# ------------------------------------------------------------------ 2b host + fleet
# The same /27 now floods hosts 1 and 2: the fleet alert blocks it there, and
# on host 3, where the host alert already blocked it, it is the same block.
say "2b host+fleet: $P_HOST now floods hosts 1 and 2 (already blocked on host 3 by the host alert)"
ok0=$(resp_all "$OK_S"); dup0=$(resp_all "$DUP_S")
fleet_flood_wait_all "$P_HOST" 60 "$RATE" "$HOSTS" "$THRESHOLD" 1 2 || fail "2b host+fleet: $P_HOST not blocked on all $HOSTS hosts within 60 s"
floods_stop
third_dup() { (( $(fleet_resp_metric 3 "$DUP_S") > $(cut -d' ' -f3 <<<"$dup0") )); }
loop_wait_until 20 third_dup || fail "2b host+fleet: host 3 did not count the fleet alert as a duplicate of its host block"
ok1=$(resp_all "$OK_S")
for (( i = 1; i <= HOSTS; i++ )); do
  a=$(cut -d' ' -f"$i" <<<"$ok0"); b=$(cut -d' ' -f"$i" <<<"$ok1")
  want=1; (( i == 3 )) && want=0
  (( b - a == want )) || fail "2b host+fleet: host $i applied $(( b - a )) new blocks, want $want"
  n=$(fleet_fw_count "$i" "$P_HOST")
  [ "$n" = 1 ] || fail "2b host+fleet: firewalld on host $i lists $P_HOST $n times, want 1"
done
say "2b host+fleet: new blocks $ok0 -> $ok1; duplicates $dup0 -> $(resp_all "$DUP_S")"

# ------------------------------------------------------------------ 3 duplicates
say "3 duplicates: Alertmanager gossip cut; $P_DUP floods hosts 1 and 2"
ok0=$(resp_all "$OK_S"); dup0=$(resp_all "$DUP_S")
wh0=("$(fleet_am_webhooks 1)" "$(fleet_am_webhooks 2)")
fleet_gossip_cut || fail "3 duplicates: cannot cut the gossip"
fleet_flood_wait_all "$P_DUP" 60 "$RATE" "$HOSTS" "$THRESHOLD" 1 2 || fail "3 duplicates: $P_DUP not blocked on all $HOSTS hosts within 60 s"
floods_stop
both_sent() {
  (( $(fleet_am_webhooks 1) >= ${wh0[0]} + HOSTS && $(fleet_am_webhooks 2) >= ${wh0[1]} + HOSTS ))
}
all_dups() {
  local i d0
  for (( i = 1; i <= HOSTS; i++ )); do
    d0=$(cut -d' ' -f"$i" <<<"$dup0")
    (( $(fleet_resp_metric "$i" "$DUP_S") > d0 )) || return 1
  done
}
loop_wait_until 40 both_sent || fail "3 duplicates: not both Alertmanagers notified every responder (webhooks am1 ${wh0[0]} -> $(fleet_am_webhooks 1), am2 ${wh0[1]} -> $(fleet_am_webhooks 2))"
loop_wait_until 20 all_dups || fail "3 duplicates: not every responder counted a duplicate ($dup0 -> $(resp_all "$DUP_S"))"
ok1=$(resp_all "$OK_S"); dup1=$(resp_all "$DUP_S")
for (( i = 1; i <= HOSTS; i++ )); do
  a=$(cut -d' ' -f"$i" <<<"$ok0"); b=$(cut -d' ' -f"$i" <<<"$ok1")
  (( b - a == 1 )) || fail "3 duplicates: host $i applied $(( b - a )) new blocks, want exactly 1"
  n=$(fleet_fw_count "$i" "$P_DUP")
  [ "$n" = 1 ] || fail "3 duplicates: firewalld on host $i lists $P_DUP $n times, want 1"
done
RES[dup_webhooks_am1]=$(( $(fleet_am_webhooks 1) - wh0[0] ))
RES[dup_webhooks_am2]=$(( $(fleet_am_webhooks 2) - wh0[1] ))
RES[dup_counts]="$dup0 -> $dup1"
say "3 duplicates: webhooks sent am1 +${RES[dup_webhooks_am1]}, am2 +${RES[dup_webhooks_am2]}; duplicates per responder $dup0 -> $dup1; new blocks $ok0 -> $ok1"
fleet_gossip_restore
loop_wait_until 90 fleet_cluster_whole || fail "3 duplicates: the Alertmanagers did not rejoin within 90 s of the gossip coming back"

# ------------------------------------------------------------------ 4 am-killed
first=$(fleet_am_first) || first=1
survivor=$(( 3 - first ))
say "4 am-killed: SIGKILL am$first (first in the cluster's order, pid $(loop_pid "am$first")); $P_KILL floods hosts 1 and 2"
wh0=$(fleet_am_webhooks "$survivor")
loop_kill "am$first" KILL 5
loop_pid "am$first" >/dev/null && fail "4 am-killed: am$first still alive"
if fleet_flood_wait_all "$P_KILL" 90 "$RATE" "$HOSTS" "$THRESHOLD" 1 2; then
  RES[killed_start_to_block_ms]=$(( BLOCK_MS - START_MS ))
  say "4 am-killed: blocked on all $HOSTS hosts $(( RES[killed_start_to_block_ms] )) ms after the flood began (am$survivor alone; it waits --cluster.peer-timeout while am$first still looks alive)"
else
  fail "4 am-killed: $P_KILL not blocked on all $HOSTS hosts within 90 s with am$first dead"
fi
floods_stop
(( $(fleet_am_webhooks "$survivor") > wh0 )) || fail "4 am-killed: am$survivor sent nothing"

# ------------------------------------------------------------------ summary
(( ${#FAILED[@]} == 0 )) || dump_logs
{
  printf '{"hosts": %s, "threshold": %s, "rate": %s' "$HOSTS" "$THRESHOLD" "$RATE"
  for k in "${!RES[@]}"; do
    if [[ ${RES[$k]} =~ ^[0-9]+$ ]]; then printf ', "%s": %s' "$k" "${RES[$k]}"; else printf ', "%s": "%s"' "$k" "${RES[$k]}"; fi
  done
  printf ', "failures": %s}\n' "$( (( ${#FAILED[@]} )) && printf '%s\n' "${FAILED[@]}" | jq -R . | jq -sc . || echo '[]')"
} >"$RESULTS"
say "results: $RESULTS"
cat "$RESULTS"
if (( ${#FAILED[@]} )); then
  say "${#FAILED[@]} check(s) failed; logs in $LOOP_STATE/logs"
  exit 1
fi
say "all checks passed"
