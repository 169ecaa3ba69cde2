#!/usr/bin/env bash
# What deploy/polkit/50-synguard-responder.rules really grants, asked of the
# real polkitd and of a real firewalld that consults it:
#  1. pkcheck: synguard-responder may do firewalld's config and config.info
#     actions and nothing more (direct, policies, all, systemd's
#     manage-units denied); another user may do none of them;
#  2. the responder as the unprivileged synguard-responder, with exactly the
#     capabilities its systemd unit gives it: a block alert lands in
#     firewalld (ipset mode: it creates its permanent ipsets, reloads, adds
#     the entry) and its conntrack cut succeeds;
#  3. the same responder as another unprivileged user: firewalld refuses it
#     (NotAuthorized).
#
# Everything runs inside a network namespace and a private mount namespace
# made for the test (test/lab/firewalld.sh): its own dbus-daemon as the
# system bus, its own /etc/passwd entry and polkit rules, never the host's
# bus, firewall or users. Root only.
#
# usage: polkit-firewalld.sh RESPONDER_BINARY RULES_FILE
set -euo pipefail
responder=$1 rules=$2
here=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=../../lab/firewalld.sh
. "$here/test/lab/firewalld.sh"

export FW_NS="sgd-pk-$$" FW_STATE="/tmp/sgd-pkfw-$$"
st=$FW_STATE
uid_ok=61990 uid_other=61991
pids=()
log() { printf '[%s] polkit-firewalld: %s\n' "$(date +%T.%3N)" "$*" >&2; }
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do fw_wait_until 5 fw__dead "$p" || kill -KILL "$p" 2>/dev/null || true; done
  fw__kill polkitd TERM 5
  fw_down
  rm -rf "$st"
}
trap cleanup EXIT

fw_prepare
# The lab's bus admits root only; here unprivileged users must reach it.
sed -i 's#<allow user="root"/>#<allow user="*"/>#' "$st/bus.conf"
chmod 0755 "$st"
fw_netns_up
fw_bus_start
dbus_pid=$(fw_dbus_pid)

# Users and polkit rules inside the bus's mount namespace only.
mkdir -p "$st/rules.d" "$st/empty"
cp "$rules" "$st/rules.d/"
chmod 0755 "$st/rules.d" "$st/empty"; chmod 0644 "$st/rules.d/"*
cp /etc/passwd "$st/passwd"; cp /etc/group "$st/group"
cat >>"$st/passwd" <<EOP
synguard-responder:x:$uid_ok:$uid_ok::/nonexistent:/usr/sbin/nologin
sgd-other:x:$uid_other:$uid_other::/nonexistent:/usr/sbin/nologin
EOP
printf 'synguard-responder:x:%s:\nsgd-other:x:%s:\n' "$uid_ok" "$uid_other" >>"$st/group"
chmod 0644 "$st/passwd" "$st/group"
nsenter -t "$dbus_pid" -m -- sh -ec "
  mount --bind '$st/passwd' /etc/passwd
  mount --bind '$st/group' /etc/group
  mkdir -p /etc/polkit-1/rules.d /usr/share/polkit-1/rules.d
  mount --bind '$st/rules.d' /etc/polkit-1/rules.d
  mount --bind '$st/empty' /usr/share/polkit-1/rules.d"

DBUS_SYSTEM_BUS_ADDRESS="$(fw_bus_address)" nsenter -t "$dbus_pid" -m -n -- \
  /usr/lib/polkit-1/polkitd >"$st/polkitd.log" 2>&1 </dev/null &
echo $! >"$st/polkitd.pid"
fw_wait_until 15 grep -q "Acquired the name" "$st/polkitd.log" || { cat "$st/polkitd.log" >&2; log "polkitd did not start"; exit 1; }
fw_start

rc=0
# check WANT UID ACTION: is a process of UID authorised for ACTION? The uid
# is numeric: the test users exist only inside the lab's mount namespace.
check() {
  local want=$1 uid=$2 action=$3 got p
  setpriv --reuid="$uid" --regid="$uid" --clear-groups sleep 30 &
  p=$!
  pids+=("$p")
  # Until setpriv has switched users the process is still root's, whom
  # polkit authorises for everything: wait for the exec of sleep.
  fw_wait_until 5 sh -c "[ \"\$(cat /proc/$p/comm)\" = sleep ] && [ \"\$(stat -c %u /proc/$p)\" = $uid ]" ||
    { log "could not start a process as uid $uid"; exit 1; }
  if DBUS_SYSTEM_BUS_ADDRESS="$(fw_bus_address)" pkcheck --action-id "$action" --process "$p" >/dev/null 2>&1; then got=yes; else got=no; fi
  kill "$p" 2>/dev/null || true
  printf '  uid %-6s %-45s %-3s (want %s)\n' "$uid" "$action" "$got" "$want" >&2
  [ "$got" = "$want" ] || rc=1
}
log "pkcheck: what the rule grants (uid $uid_ok is synguard-responder)"
check yes "$uid_ok" org.fedoraproject.FirewallD1.config
check yes "$uid_ok" org.fedoraproject.FirewallD1.config.info
check yes "$uid_ok" org.fedoraproject.FirewallD1.info
check no  "$uid_ok" org.fedoraproject.FirewallD1.direct
check no  "$uid_ok" org.fedoraproject.FirewallD1.policies
check no  "$uid_ok" org.fedoraproject.FirewallD1.all
check no  "$uid_ok" org.freedesktop.systemd1.manage-units
check no  "$uid_other" org.fedoraproject.FirewallD1.config
check no  "$uid_other" org.fedoraproject.FirewallD1.config.info
if grep -Eq "Error (compiling|evaluating|executing|loading)|SyntaxError|TypeError|ReferenceError" "$st/polkitd.log"; then
  log "FAIL: polkitd reported a problem with the rules:"; cat "$st/polkitd.log" >&2; rc=1
fi

# run_responder UID NAME IPSET_PREFIX: start the responder in the lab netns as UID with
# the unit's capability set (CAP_NET_ADMIN only, for conntrack), no others.
run_responder() {
  local uid=$1 name=$2 set=$3 dir="$st/$2"
  mkdir -p "$dir/state"
  echo "sgd-token-$$" >"$dir/webhook.token"
  cat >"$dir/responder.yml" <<EOC
state_file: $dir/state/state.json
webhook:
  bearer_token_file: $dir/webhook.token
# Only the webhook is used here: the API stays closed (no token needed).
api:
  read_only: true
policy:
  allowlist_own_addresses: false
firewall:
  reconcile_interval: 5s
  firewalld:
    mode: ipset
    ipset_ipv4: ${set}4
    ipset_ipv6: ${set}6
    allow_reload: true
EOC
  chown -R "$uid:$uid" "$dir"
  ip netns exec "$FW_NS" env DBUS_SYSTEM_BUS_ADDRESS="$(fw_bus_address)" \
    setpriv --reuid="$uid" --regid="$uid" --clear-groups \
      --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
      --no-new-privs \
    "$responder" --config.file="$dir/responder.yml" --web.listen-address=127.0.0.1:19818 \
    >"$dir/log" 2>&1 </dev/null &
  pids+=($!)
  echo $! >"$dir/pid"
  fw_wait_until 15 ip netns exec "$FW_NS" curl -sf http://127.0.0.1:19818/-/healthy || { cat "$dir/log" >&2; log "$name: responder did not start"; exit 1; }
}

# post_block PREFIX TOKENFILE: a firing block alert as Alertmanager sends it.
post_block() {
  ip netns exec "$FW_NS" curl -s -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$2")" -H 'Content-Type: application/json' \
    --data-binary @- http://127.0.0.1:19818/webhook <<EOJ
{"version":"4","status":"firing","receiver":"synguard-responder","groupKey":"{}:{alertname=\"SynguardPrefixFlooding\", prefix=\"$1\"}","truncatedAlerts":0,
 "groupLabels":{"alertname":"SynguardPrefixFlooding","prefix":"$1"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
 "alerts":[{"status":"firing","labels":{"alertname":"SynguardPrefixFlooding","action":"block","scope":"host","severity":"warning","prefix":"$1","family":"ipv4"},
   "annotations":{},"startsAt":"2026-11-26T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0000000000000001"}]}
EOJ
}
entries() { fw_cmd --ipset="$1" --get-entries 2>/dev/null || true; }
stop_responder() { local p; p=$(cat "$st/$1/pid"); kill "$p"; fw_wait_until 10 fw__dead "$p" || kill -KILL "$p"; }

log "as synguard-responder (uid $uid_ok): a block must land"
run_responder "$uid_ok" ok synguard
code=$(post_block 198.51.100.32/27 "$st/ok/webhook.token")
[ "$code" = 200 ] || { log "webhook answered $code"; rc=1; }
landed() { entries synguard4 | grep -qx 198.51.100.32/27; }
if fw_wait_until 30 landed; then
  log "ok: firewalld ipset synguard4 holds 198.51.100.32/27, added by the unprivileged responder"
else
  log "FAIL: the block did not land; responder log:"; tail -20 "$st/ok/log" >&2; rc=1
fi
# With CAP_NET_ADMIN (the unit's only capability) it also cuts the blocked
# prefix's established connections (conntrack over netlink); without it,
# it would warn "could not cut".
if [ "$rc" -ne 0 ]; then
  : # no block landed, so no cut was attempted
elif grep -q "could not cut established" "$st/ok/log"; then
  log "FAIL: the responder could not cut established connections with CAP_NET_ADMIN:"; grep "could not cut" "$st/ok/log" >&2; rc=1
else
  log "ok: with CAP_NET_ADMIN alone the conntrack dump and cut of the blocked prefix succeeded"
fi
stop_responder ok

log "as another unprivileged user (uid $uid_other): polkit must refuse"
# Its own ipset names: it has to create them, which firewalld must refuse.
run_responder "$uid_other" other sgdother
post_block 198.51.100.64/27 "$st/other/webhook.token" >/dev/null
sleep 3
if entries sgdother4 | grep -q 198.51.100.64/27 || fw_cmd --permanent --get-ipsets | grep -qw sgdother4; then
  log "FAIL: a user without the polkit grant changed firewalld"; rc=1
elif grep -q "NotAuthorized" "$st/other/log"; then
  log "ok: firewalld refused the other user (NotAuthorized)"
else
  log "FAIL: no NotAuthorized refusal in the other user's log:"; tail -20 "$st/other/log" >&2; rc=1
fi
stop_responder other
exit $rc
