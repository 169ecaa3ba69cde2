#!/usr/bin/env bash
# Runs the real polkitd with one rules file and asks it, with pkcheck, what
# the user synguard-responder and nobody may do. Run as root inside a private
# mount namespace (deploy.sh does: unshare -m --propagation private), which
# is where the bind mounts below stay: the host's /etc/passwd, polkit rules
# and system bus are never touched. polkitd and pkcheck talk over a private
# dbus-daemon acting as the system bus.
#
# usage: polkit-check.sh RULES_FILE STATE_DIR
set -euo pipefail
rules=$1 st=$2
uid=61990 # a uid no Debian package allocates

mkdir -p "$st/rules.d" "$st/empty"
cp "$rules" "$st/rules.d/"
# polkitd drops to the polkitd user: it must reach the socket and rules.
chmod 0755 "$st" "$st/rules.d" "$st/empty"
chmod 0644 "$st/rules.d/"*
cat >"$st/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$st/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOC
cp /etc/passwd "$st/passwd"
cp /etc/group "$st/group"
echo "synguard-responder:x:$uid:$uid::/nonexistent:/usr/sbin/nologin" >>"$st/passwd"
echo "synguard-responder:x:$uid:" >>"$st/group"
chmod 0644 "$st/passwd" "$st/group"
mount --bind "$st/passwd" /etc/passwd
mount --bind "$st/group" /etc/group
mkdir -p /etc/polkit-1/rules.d /usr/share/polkit-1/rules.d
mount --bind "$st/rules.d" /etc/polkit-1/rules.d
# Only the rule under test: no distribution rules beside it.
mount --bind "$st/empty" /usr/share/polkit-1/rules.d

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

dbus-daemon --config-file="$st/bus.conf" --nofork --nopidfile --nosyslog >"$st/dbus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$st/bus.sock" ] && break; sleep 0.1; done
[ -S "$st/bus.sock" ] || { echo "polkit-check: private dbus-daemon did not start: $(cat "$st/dbus.log")" >&2; exit 1; }
chmod 0666 "$st/bus.sock"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$st/bus.sock"

/usr/lib/polkit-1/polkitd >"$st/polkitd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Acquired the name" "$st/polkitd.log" && break; sleep 0.1; done
grep -q "Acquired the name" "$st/polkitd.log" || { echo "polkit-check: polkitd did not start:" >&2; cat "$st/polkitd.log" >&2; exit 1; }
if grep -Eiq "error|exception|syntax" "$st/polkitd.log"; then
  echo "polkit-check: polkitd reported a problem with the rules:" >&2; cat "$st/polkitd.log" >&2; exit 1
fi

rc=0
# check WANT USER ACTION: is a process of USER authorised for ACTION?
check() {
  local want=$1 user=$2 action=$3 got p u
  u=$(id -u "$user")
  setpriv --reuid="$u" --regid="$(id -g "$user")" --clear-groups sleep 30 &
  p=$!
  pids+=("$p")
  # Until setpriv has switched users the process is still root's, whom
  # polkit authorises for everything: wait for the exec of sleep.
  for _ in $(seq 100); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && [ "$(stat -c %u "/proc/$p")" = "$u" ] && break
    sleep 0.05
  done
  [ "$(stat -c %u "/proc/$p")" = "$u" ] || { echo "polkit-check: could not start a process as $user" >&2; exit 1; }
  if pkcheck --action-id "$action" --process "$p" >/dev/null 2>&1; then got=yes; else got=no; fi
  kill "$p" 2>/dev/null || true
  printf '  %-20s %-45s %-3s (want %s)\n' "$user" "$action" "$got" "$want"
  [ "$got" = "$want" ] || rc=1
}
check yes synguard-responder org.fedoraproject.FirewallD1.config
check yes synguard-responder org.fedoraproject.FirewallD1.config.info
check yes synguard-responder org.fedoraproject.FirewallD1.info
check no  synguard-responder org.fedoraproject.FirewallD1.direct
check no  synguard-responder org.fedoraproject.FirewallD1.policies
check no  synguard-responder org.fedoraproject.FirewallD1.all
check no  synguard-responder org.freedesktop.systemd1.manage-units
check no  nobody             org.fedoraproject.FirewallD1.config
check no  nobody             org.fedoraproject.FirewallD1.config.info
exit $rc
