#!/bin/sh
# synguard-responder postinst (deb: "configure [old-version]") and %post
# (rpm: 1 install, 2 upgrade). The responder changes the firewall (and in
# ipset mode reloads firewalld once to create its ipsets), so an install
# never starts it: the operator sets its config and tokens first. An upgrade
# restarts it only if it runs; its blocks stay in firewalld meanwhile and its
# state file keeps them, so nothing is lifted or lost.
set -e
case "$1" in
  configure) if [ -z "$2" ]; then action=install; else action=upgrade; fi ;;
  1) action=install ;;
  [0-9]*) action=upgrade ;;
  *) exit 0 ;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/synguard-responder.conf
elif ! getent passwd synguard-responder >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/synguard-responder \
    --shell /usr/sbin/nologin --comment "synguard responder" synguard-responder
fi

# The two bearer tokens responder.yml names (the responder refuses to
# start without them): random, root:synguard-responder 0640, readable by
# the responder only; never replaced once there.
for t in webhook api; do
  f=/etc/synguard/$t.token
  [ -e "$f" ] && continue
  ( umask 027; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f.new" )
  chgrp synguard-responder "$f.new" && mv "$f.new" "$f"
done

if [ -d /etc/default ] && [ "$1" = configure ]; then envfile=/etc/default/synguard-responder; else envfile=/etc/sysconfig/synguard-responder; fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$action" = upgrade ]; then
    systemctl try-restart synguard-responder.service || true
  fi
fi
[ "$action" = install ] || exit 0
cat <<MSG
synguard-responder is installed but not started: it changes this host's
firewall. Next steps (docs: /usr/share/doc/synguard-responder/):
  1. Edit /etc/synguard/responder.yml: host (the host label Prometheus gives
     this host), policy.allowlist (your own and your monitoring networks),
     and the firewalld mode (ipset, or zone).
  2. Give Alertmanager a copy of the webhook token it can read, e.g.
       install -D -m 0640 -g prometheus /etc/synguard/webhook.token /etc/alertmanager/synguard-responder.token
     (its webhook's http_config.authorization.credentials_file) and route
     action="block" alerts to http://127.0.0.1:9818/webhook:
     /usr/share/synguard/examples/alertmanager.yml. The operator API (and
     synguard-responder blocks ...) takes /etc/synguard/api.token.
     Listen address and TLS: $envfile.
  3. synguard-responder --config.check --config.file=/etc/synguard/responder.yml
  4. systemctl enable --now synguard-responder
Removing the package lifts every block it made (synguard-responder purge).
MSG
exit 0
