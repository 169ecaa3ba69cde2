#!/usr/bin/env bash
# test/hostlab/rpm.sh ROOTFS_TAR NEWRPMS OLDRPMS: the .rpms' scriptlets,
# run by this machine's rpm with --root in a chroot of a Debian rootfs (no
# RHEL host runs here). There is no systemd in a chroot, so the scriptlets'
# systemctl steps are skipped, as on an image build; what runs is rpm's
# argument handling ($1 = 1 install, 2 upgrade, 0 erase), the users made
# with systemd-sysusers, the generated tokens, config files kept across an
# upgrade (%config(noreplace): .rpmnew) and the erase.
set -euo pipefail
tarball=$1 newrpms=$2 oldrpms=$3
root=/var/tmp/sgh-rpm-$$
fail() { echo "rpm.sh FAIL: $*" >&2; exit 1; }
log() { echo "rpm.sh $(date +%T) $*"; }
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"
tar -C "$root" -xf "$tarball"
rpmq() { rpm --root="$root" "$@"; }
pkgs() { echo "$1"/synguard-exporter-*.x86_64.rpm "$1"/synguard-responder-*.x86_64.rpm; }

log "install the first packaged commit's .rpms"
# shellcheck disable=SC2046
rpmq --nodeps -i $(pkgs "$oldrpms") >"$root/install.log" 2>&1 || { cat "$root/install.log"; fail "rpm -i"; }
grep -q "installed but not started" "$root/install.log" || fail "no next steps printed"
grep -q "/etc/sysconfig/synguard-responder" "$root/install.log" || fail "next steps do not name /etc/sysconfig"
chroot "$root" id synguard-exporter >/dev/null || fail "no synguard-exporter user"
chroot "$root" id synguard-responder >/dev/null || fail "no synguard-responder user"
[ "$(chroot "$root" stat -c '%a %G' /etc/synguard/webhook.token)" = "640 synguard-responder" ] ||
  fail "webhook.token: $(stat -c '%a %G' "$root/etc/synguard/webhook.token")"
tok=$(cat "$root/etc/synguard/webhook.token")
[ "${#tok}" -ge 32 ] || fail "webhook.token too short"
echo "# edited" >>"$root/etc/sysconfig/synguard-responder"
echo "# edited" >>"$root/etc/synguard/responder.yml"

log "upgrade to the current .rpms"
# shellcheck disable=SC2046
rpmq --nodeps -U $(pkgs "$newrpms") >"$root/upgrade.log" 2>&1 || { cat "$root/upgrade.log"; fail "rpm -U"; }
grep -q "installed but not started" "$root/upgrade.log" && fail "an upgrade printed the install's next steps"
grep -q "# edited" "$root/etc/sysconfig/synguard-responder" || fail "upgrade replaced the edited EnvironmentFile"
grep -q "# edited" "$root/etc/synguard/responder.yml" || fail "upgrade replaced the edited responder.yml"
[ "$(cat "$root/etc/synguard/webhook.token")" = "$tok" ] || fail "upgrade replaced the token"
[ "$(rpmq -q synguard-responder)" = "$(rpm -qp "$newrpms"/synguard-responder-*.x86_64.rpm 2>/dev/null)" ] ||
  fail "installed $(rpmq -q synguard-responder) after the upgrade"

log "erase"
rpmq -e synguard-responder synguard-exporter >"$root/erase.log" 2>&1 || { cat "$root/erase.log"; fail "rpm -e"; }
[ ! -e "$root/usr/bin/synguard-responder" ] || fail "binary left after erase"
[ -e "$root/etc/synguard/responder.yml.rpmsave" ] || fail "the edited responder.yml was not kept as .rpmsave"
chroot "$root" id synguard-responder >/dev/null || fail "rpm erase removed the user (rpm convention keeps it)"
log "PASS (install, upgrade with edited configs kept, erase: .rpmsave and users kept)"
