#!/usr/bin/env bash
# synguard's whole loop on one machine, in a few minutes, with nothing real
# at stake (run as root: `make demo`):
#
#   flood :25 from two /27s -> synguard-exporter counts SYN_RECV per /27 ->
#   Prometheus fires the project's block rule -> Alertmanager -> webhook ->
#   synguard-responder -> a private firewalld drops the /27s -> SMTP answers
#   again, and a control host that behaved normally was never blocked.
#
# Everything runs in network namespaces made here (test/lab/loop.sh): the
# victim runs a private firewalld on a private D-Bus, never the host's; the
# host's firewall and system bus are never touched. Missing Debian packages
# are installed by scripts/install-deps.sh (what .ci/packages lists) with
# service starts prevented, and any service unit the install brought is
# disabled and masked, so the host is left without a firewalld (or
# Prometheus) service it did not have. Everything the demo starts is stopped
# on exit or Ctrl-C.
#
# Environment: DEMO_HOLD=SECONDS keeps the lab (and its pages) up that long
# after the summary; DEMO_TIMEOUT=SECONDS bounds the flood phase (180);
# DEMO_NO_INSTALL=1 (or SYNGUARD_NO_INSTALL=1) never installs packages;
# DEMO_BACKEND=nftables makes the responder block in its own nftables table
# (inet synguard) beside the victim's firewalld instead of in firewalld.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export LOOP_NAME=${LOOP_NAME:-sgl}
export LOOP_STATE=${LOOP_STATE:-/tmp/sgl-demo}
export LOOP_SECONDS=${LOOP_SECONDS:-900}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-180}
DEMO_HOLD=${DEMO_HOLD:-0}
if [ "${DEMO_BACKEND:-firewalld}" != firewalld ]; then
  export LOOP_RESPONDER_SET="${LOOP_RESPONDER_SET:-} firewall.backend=$DEMO_BACKEND"
fi

if [ -t 1 ]; then
  B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' D=$'\e[2m' N=$'\e[0m'
else
  B='' G='' R='' Y='' D='' N=''
fi
say() { printf '%s\n' "$*"; }
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
die() { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, a private firewalld): sudo make demo"
[ "$(uname -s)" = Linux ] || die "Linux only"

# ---------------------------------------------------------------- cleanup
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  step "cleaning up"
  loop_down 2>/dev/null
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qE "^${LOOP_NAME}-(v[0-9]+|att|mon)$"; then
    say "${R}some namespaces remain: $(ip netns list | grep "^${LOOP_NAME}-")${N}"
  else
    say "all namespaces, processes and the private firewalld are gone; logs stay in $LOOP_STATE/logs"
  fi
}

# ---------------------------------------------------------------- progress
prom_json() { loop_prom_query "$1" 2>/dev/null || echo '{}'; }

# One status line: SYN_RECV per prefix, alerts, blocks, probes, control host.
status_line() {
  local t=$1 syn alerts blocks probes ctl
  syn=$(prom_json 'synguard_syn_recv_sockets{prefix!="other"} > 0' |
    jq -r '[.data.result[]? | "\(.metric.prefix)=\(.value[1])"] | if length == 0 then "-" else join(" ") end')
  alerts=$(prom_json 'count by (alertstate) (ALERTS{alertname="SynguardPrefixFlooding"})' |
    jq -r '[.data.result[]? | "\(.value[1]) \(.metric.alertstate)"] | if length == 0 then "-" else join(", ") end')
  blocks=$(resp_blocks | jq -r 'if length == 0 then "-" else join(" ") end' 2>/dev/null || echo "?")
  probes=$(prom_json 'synguard_probe_success' |
    jq -r --arg g "$G" --arg r "$R" --arg n "$N" '[.data.result[]? | "\(.metric.module) \(if .value[1] == "1" then $g + "up" else $r + "DOWN" end)\($n)"] | sort | if length == 0 then "n/a" else join(" ") end')
  case "$(loop_control_last 1)" in ok) ctl="${G}served${N}" ;; fail) ctl="${R}refused${N}" ;; *) ctl="?" ;; esac
  printf '%s+%3ss%s SYN_RECV %s%s%s | alerts %s | blocked %s%s%s | %s | control %s\n' \
    "$D" "$t" "$N" "$Y" "$syn" "$N" "$alerts" "$B" "$blocks" "$N" "$probes" "$ctl"
}

# resp_blocks: the responder's active blocks as a JSON list of prefixes.
resp_blocks() {
  [ -n "$RESPONDER" ] || { echo '[]'; return; }
  ip netns exec "$(loop_victim_ns 1)" curl -fsS --max-time 2 http://127.0.0.1:9818/api/v1/blocks 2>/dev/null |
    jq -c '[.blocks[]? | select(.applied) | .prefix] | unique'
}

blocked_all() {
  local p b
  b=$(resp_blocks)
  for p in $(loop_flood_prefixes); do
    jq -e --arg p "$p" 'index($p) != null' <<<"$b" >/dev/null || return 1
  done
}

# exporter_counts: SYN_RECV per prefix straight from victim 1's exporter.
exporter_counts() {
  ip netns exec "$(loop_victim_ns 1)" curl -fsS --max-time 2 http://127.0.0.1:9817/metrics |
    awk '/^synguard_syn_recv_sockets\{/ && $2 > 0 && !/other/ {match($0, /prefix="[^"]+"/); printf "%s=%s ", substr($0, RSTART+8, RLENGTH-9), $2}'
}

smtp_probe() { loop_prom_scalar 'synguard_probe_success{module="smtp"}'; }

# ---------------------------------------------------------------- main
# shellcheck source=../test/lab/loop.sh
. "$REPO/test/lab/loop.sh"

step "synguard demo: the whole loop between network namespaces"
say "state, configs and logs: $LOOP_STATE"
if [ -e "$LOOP_STATE/.sgl-loop" ] && [ -s "$LOOP_STATE/netns.list" ]; then
  say "a previous demo left its lab behind; removing it"
  loop_down
fi

step "packages"
# Exactly what .ci/packages lists (a no-op when all is there); the
# installer masks the service units its install brings.
bash "$REPO/scripts/install-deps.sh" || die "missing packages (scripts/install-deps.sh)"

step "building (make build, and the lab's tools)"
loop_build || die "build failed"
RESPONDER=""
[ -x "$(loop_binary responder)" ] && RESPONDER=yes

trap cleanup EXIT
trap 'say ""; say "interrupted"; exit 130' INT TERM

step "starting the lab"
loop_init || die "cannot set up $LOOP_STATE"
loop_net_up || die "attacker/monitoring namespaces failed"
loop_victim_up 1 || die "victim failed"
loop_mon_up 1 || die "Prometheus/Alertmanager failed"
loop_forward_up 1 || say "${Y}could not forward the pages to 127.0.0.1 (ports busy?): the lab runs on${N}"
loop_control_up 1
loop_targets_up 1 30 || die "Prometheus does not scrape the victim"
PROM_URL="http://127.0.0.1:${LOOP_PROM_PORT:-29090}"
say "victim  $(loop_victim_ns 1): $(loop_victim_ip 1) (public: SMTP :25, POP3 :110, HTTP :80, FTP :21), private firewalld, exporter :9817${RESPONDER:+, responder :9818}"
say "attacker $(loop_att_ns): spoofs $(loop_flood_prefixes); control host $(loop_control_ip 1)"
say "monitor $(loop_mon_ns): Prometheus + Alertmanager, configs derived from deploy/, rules from rules/"
say ""
say "${B}While it runs, open:${N}"
# Debian's Prometheus serves its classic UI, under /classic/.
say "  Prometheus   $PROM_URL/classic/alerts   and  $PROM_URL/classic/graph?g0.expr=synguard_syn_recv_sockets&g0.tab=0"
say "  Alertmanager http://127.0.0.1:${LOOP_AM_PORT:-29093}/"
if [ -n "$RESPONDER" ]; then
  say "  responder    http://127.0.0.1:${LOOP_RESP_PORT:-29818}/status   (blocks: /api/v1/blocks)"
else
  say "  ${Y}(no synguard-responder built yet: this demo shows detection; nothing gets blocked)${N}"
fi
say "  (on a remote machine: ssh -L 29090:127.0.0.1:29090 -L 29818:127.0.0.1:29818 HOST)"

step "baseline: no flood"
for _ in 1 2 3; do status_line 0; sleep 1; done

step "flood: $(loop_flood_prefixes) -> $(loop_victim_ip 1):25, ${LOOP_FLOOD_RATE:-1000} SYN/s each"
t0=$(date +%s)
loop_flood_start 1 || die "flooder failed to start"
smtp_down_at="" blocked_at="" smtp_back_at="" ctl_down_at="" ctl_back_at="" counts_at="" ss_then="" exp_then=""
while :; do
  now=$(date +%s); t=$(( now - t0 ))
  status_line "$t"
  smtp=$(smtp_probe)
  [ -z "$smtp_down_at" ] && [ "$smtp" = 0 ] && smtp_down_at=$t
  ctl=$(loop_control_last 1)
  [ -z "$ctl_down_at" ] && [ "$ctl" = fail ] && ctl_down_at=$t
  # Once the flood shows, the same sockets as ss and as the exporter see them.
  if [ -z "$counts_at" ] && (( t >= 3 )); then
    ss_then=$(loop_ss_counts 1); exp_then=$(exporter_counts)
    [ -n "$ss_then" ] && counts_at=$t
  fi
  if [ -n "$RESPONDER" ]; then
    [ -z "$blocked_at" ] && blocked_all && blocked_at=$t
    if [ -n "$blocked_at" ]; then
      # "Back" means answering after having failed: the block can land
      # before the flood's queued sockets fill the listen queue, and the
      # services then fail after it, until those sockets expire.
      [ -z "$smtp_back_at" ] && [ -n "$smtp_down_at" ] && [ "$smtp" = 1 ] && smtp_back_at=$t
      [ -z "$ctl_back_at" ] && [ -n "$ctl_down_at" ] && [ "$ctl" = ok ] && ctl_back_at=$t
      # Done when the control host and the SMTP probe (where the exporter
      # has probes) answer again, or were never seen failing 10 s after
      # the block.
      settled=$(( blocked_at + 10 ))
      if { [ -n "$ctl_back_at" ] || { [ -z "$ctl_down_at" ] && (( t >= settled )); }; } &&
         { [ -n "$smtp_back_at" ] || [ -z "$smtp" ] || { [ -z "$smtp_down_at" ] && (( t >= settled )); }; }; then
        # A few more seconds: the flood goes on, dropped, and services answer.
        done_at=${ctl_back_at:-$settled}
        (( t >= done_at + ${DEMO_AFTER:-8} )) && break
      fi
    fi
  else
    # Detection only (no responder built): show the counts for a while after the alert fires.
    (( t >= 45 )) && break
  fi
  (( t >= DEMO_TIMEOUT )) && break
  sleep 1
done
flood_secs=$(( $(date +%s) - t0 ))
loop_flood_stop 1

step "summary"
ok=yes
say "flood: $(loop_flood_prefixes), ${flood_secs}s"
if [ -n "$counts_at" ]; then
  say "SYN_RECV per /27 at +${counts_at}s, ss vs exporter:"
  say "  ss:       $(awk '{printf "%s=%s ", $1, $2}' <<<"$ss_then")"
  say "  exporter: $exp_then"
fi
if [ -n "$smtp_down_at" ]; then say "SMTP probe failed from +${smtp_down_at}s"
elif [ -n "$(smtp_probe)" ]; then say "${Y}SMTP probe never seen failing${N}"
else say "${Y}no probe metrics (the exporter's probes are not in this build)${N}"; fi
if [ -n "$RESPONDER" ]; then
  if [ -n "$blocked_at" ]; then
    say "${G}both /27s blocked by +${blocked_at}s${N}; the flood went on until the end, dropped by ${DEMO_BACKEND:-firewalld}"
    say "  (the sockets it had queued before the block expire within ~7 s: tcp_synack_retries=${LOOP_SYNACK_RETRIES:-2})"
  else say "${R}not both /27s blocked within ${DEMO_TIMEOUT}s${N}"; ok=""; fi
  if [ -n "$smtp_back_at" ]; then say "${G}SMTP probe answering again from +${smtp_back_at}s${N}"
  elif [ -n "$smtp_down_at" ]; then say "${R}SMTP probe did not come back${N}"; ok=""; fi
  if [ -n "$ctl_back_at" ]; then say "${G}control host $(loop_control_ip 1) refused from +${ctl_down_at}s (the listen queue full), served again from +${ctl_back_at}s, never blocked${N}"
  elif [ -z "$ctl_down_at" ] && [ "$(loop_control_last 1)" = ok ]; then say "${G}control host $(loop_control_ip 1) served throughout, never blocked${N}"
  else say "${R}control host not served${N}"; ok=""; fi
  say "victim's firewalld drops (zone drop: $(loop_fw_drop_sources 1 2>/dev/null | tr '\n' ' ')): $(loop_fw_blocked 1 2>/dev/null | tr '\n' ' ')"
  [ "${DEMO_BACKEND:-firewalld}" != nftables ] || say "table inet synguard drops: $(ip netns exec "$(loop_victim_ns 1)" nft list set inet synguard block4 2>/dev/null | grep -o 'elements = {[^}]*}')"
  say "responder's blocks (origin from the lab's own AS/country databases):"
  ip netns exec "$(loop_victim_ns 1)" curl -fsS --max-time 2 http://127.0.0.1:9818/api/v1/blocks 2>/dev/null |
    jq -r '.blocks[]? | "  \(.prefix)  AS\(.origin.asn // "?") \(.origin.as_org // ""), \(.origin.country // "?")  offences \(.offences), until \(.expiry[0:19])Z"' || true
fi
if (( DEMO_HOLD > 0 )); then
  say ""
  say "holding the lab for ${DEMO_HOLD}s (DEMO_HOLD): open the pages above; Ctrl-C ends it"
  sleep "$DEMO_HOLD"
fi
if [ -z "$RESPONDER" ]; then
  say "${Y}${B}demo: detection shown; no responder in this build, so nothing was blocked${N}"
  exit 0
fi
if [ -n "$ok" ]; then
  say "${G}${B}demo: the loop closed${N}"
  exit 0
fi
say "${R}${B}demo: the loop did not close; logs in $LOOP_STATE/logs${N}"
exit 1
