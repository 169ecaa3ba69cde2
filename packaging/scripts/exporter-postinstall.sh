#!/bin/sh
# synguard-exporter postinst (deb: "configure [old-version]") and %post
# (rpm: 1 install, 2 upgrade). The exporter only reads (sockets, /proc), so it
# is enabled and started on install; an upgrade restarts it if it runs.
set -e
case "$1" in
  configure) if [ -z "$2" ]; then action=install; else action=upgrade; fi ;;
  1) action=install ;;
  [0-9]*) action=upgrade ;;
  *) exit 0 ;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/synguard-exporter.conf
elif ! getent passwd synguard-exporter >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "synguard exporter" synguard-exporter
fi

# No running systemd (a chroot, an image build): nothing to start.
[ -d /run/systemd/system ] || exit 0
systemctl daemon-reload
if [ "$action" = install ]; then
  systemctl enable --now synguard-exporter.service ||
    echo "synguard-exporter: could not start; see: journalctl -u synguard-exporter" >&2
  if [ "$1" = configure ]; then envfile=/etc/default/synguard-exporter; else envfile=/etc/sysconfig/synguard-exporter; fi
  echo "synguard-exporter: enabled and started, metrics on :9817 (flags: $envfile)."
else
  systemctl try-restart synguard-exporter.service || true
fi
exit 0
