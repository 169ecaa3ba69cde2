#!/bin/sh
# synguard-exporter postrm (deb: remove, purge, upgrade, ...) and %postun
# (rpm: 0 erase, 1 upgrade). dpkg purge also removes the user; the config
# files go with dpkg's conffile handling. rpm never removes users (files
# may still be owned by the uid) and keeps edited configs as .rpmsave.
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then
  if getent passwd synguard-exporter >/dev/null; then userdel synguard-exporter || true; fi
  if getent group synguard-exporter >/dev/null; then groupdel synguard-exporter || true; fi
  rmdir /etc/synguard 2>/dev/null || true
fi
exit 0
