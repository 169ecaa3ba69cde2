#!/bin/sh
# synguard-responder prerm (deb: "remove", "upgrade new-version", ...) and
# %preun (rpm: 0 erase, 1 upgrade). On removal: stop the responder and lift
# every block it owns (synguard-responder purge), since once it is gone
# nothing would ever lift them. On upgrade: nothing (blocks stay).
set -e
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now synguard-responder.service || true
fi
if [ -f /etc/default/synguard-responder ] && [ "$1" = remove ]; then
  envfile=/etc/default/synguard-responder
else
  envfile=/etc/sysconfig/synguard-responder
fi
ARGS="--config.file=/etc/synguard/responder.yml"
# shellcheck disable=SC1090
[ -f "$envfile" ] && . "$envfile"
config=$(printf '%s\n' $ARGS | sed -n 's/^--config.file=//p' | tail -n 1)
state=$(sed -n 's/^state_file:[[:space:]]*//p' "${config:-/etc/synguard/responder.yml}" 2>/dev/null | tr -d "\"'" | head -n 1)
# Never started (no state file): it made no block.
[ -n "$state" ] && [ -e "$state" ] || exit 0
# shellcheck disable=SC2086
if /usr/bin/synguard-responder $ARGS purge; then
  # purge ran as root: the state file stays the responder's.
  chown -R synguard-responder:synguard-responder "$(dirname "$state")" 2>/dev/null || true
else
  echo "synguard-responder: purge failed: its blocks may still be in firewalld." >&2
  echo "  Lift them with: synguard-responder $ARGS purge (firewalld must run)," >&2
  echo "  or by hand: firewall-cmd --zone=drop --list-sources; firewall-cmd --get-ipsets" >&2
fi
exit 0
