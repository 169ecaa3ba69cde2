#!/bin/sh
# synguard-responder postrm (deb: remove, purge, upgrade, ...) and %postun
# (rpm: 0 erase, 1 upgrade). dpkg purge removes what the package made
# outside its file list: the state directory (the record of lifted blocks),
# the generated tokens and the user; its config files go with dpkg's conffile
# handling. rpm erase keeps the state directory and the user (rpm
# convention: files may still be owned by the uid) and edited configs as
# .rpmsave.
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then
  rm -rf /var/lib/synguard-responder
  rm -f /etc/synguard/webhook.token /etc/synguard/api.token
  if getent passwd synguard-responder >/dev/null; then userdel synguard-responder || true; fi
  if getent group synguard-responder >/dev/null; then groupdel synguard-responder || true; fi
  rmdir /etc/synguard 2>/dev/null || true
fi
exit 0
