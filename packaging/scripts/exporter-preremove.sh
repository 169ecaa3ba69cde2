#!/bin/sh
# synguard-exporter prerm (deb: "remove", "upgrade new-version", ...) and
# %preun (rpm: 0 erase, 1 upgrade): stop and disable only on removal.
set -e
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
[ -d /run/systemd/system ] || exit 0
systemctl disable --now synguard-exporter.service || true
exit 0
