#!/usr/bin/env bash
# install-deps.sh: installs what synguard's tests, demo and CI need, and
# nothing else: exactly the Debian packages listed in .ci/packages, plus
# staticcheck (go install). `make test`, `make demo` and .ci/run all start
# with it; when everything is there it does nothing and says so.
#
#   bash scripts/install-deps.sh          # as root for the Debian packages
#   SYNGUARD_NO_INSTALL=1 ...             # only check: list what is missing, exit 1
#
# The Debian packages go in with apt-get --no-install-recommends and a
# policy-rc.d (exit 101) that keeps every maintainer script from starting its
# service in the root namespace: firewalld started there would close the
# host's ports, and the tests only ever run firewalld, Prometheus, nginx ...
# inside network namespaces they make. A policy-rc.d the host had is put
# back afterwards, even on Ctrl-C or a failed install. On a systemd host
# (PID 1 is systemd), every service, socket and timer unit the install
# brought (firewalld, prometheus, prometheus-alertmanager,
# prometheus-node-exporter, nginx, vsftpd, dovecot, opensmtpd, ... whatever
# the newly installed packages ship) is stopped, disabled and masked, so the
# host never ends up running a service it did not have. Units the host had
# before are left alone, and so are the units of the system's own plumbing
# (dbus, systemd, polkitd, util-linux, procps), which other software needs.
# What it installed and masked is appended to $SYNGUARD_DEPS_RECORD
# (/var/lib/synguard-deps): remove with apt-get remove, systemctl unmask.
#
# Environment: SYNGUARD_NO_INSTALL=1 (or the older DEMO_NO_INSTALL=1)
# refuses to install anything; SYNGUARD_PACKAGES, the list file
# (.ci/packages).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
LIST=${SYNGUARD_PACKAGES:-$REPO/.ci/packages}
RECORD=${SYNGUARD_DEPS_RECORD:-/var/lib/synguard-deps}
STATICCHECK_VERSION=v0.8.2
POLICY=/usr/sbin/policy-rc.d

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

no_install() { [ "${SYNGUARD_NO_INSTALL:-0}" = 1 ] || [ "${DEMO_NO_INSTALL:-0}" = 1 ]; }

# packages: the names in the list, comments and blank lines dropped.
packages() { sed 's/#.*//' "$LIST" | tr -s ' \t' '\n' | sed '/^$/d'; }

installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# all_installed: every package dpkg has, one a line (for the before/after
# difference: the dependencies an install pulls in ship units too).
all_installed() { dpkg-query -W -f='${Status} ${Package}\n' 2>/dev/null | awk '$3 == "installed" {print $4}' | sort -u; }

# systemd_host: PID 1 is systemd (not a container's shell or another init).
systemd_host() { [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }

# known_units: every unit file systemd knows, one a line.
known_units() { systemctl list-unit-files --no-legend 2>/dev/null | awk '{print $1}' | sort -u; }

# package_units PKG...: the service, socket and timer units the packages
# ship, except the system's own plumbing, which stays usable.
package_units() {
  local p
  for p in "$@"; do
    case "$p" in dbus|dbus-*|systemd|systemd-*|libpam-systemd|libsystemd*|polkitd|util-linux|procps|udev) continue ;; esac
    dpkg -L "$p" 2>/dev/null
  done | grep -E '^(/usr)?/lib/systemd/system/[^/@]+\.(service|socket|timer)$' | sed 's#.*/##' | sort -u
}

gopath_bin() { printf '%s/bin' "$(go env GOPATH 2>/dev/null)"; }
have_staticcheck() { command -v staticcheck >/dev/null 2>&1 || [ -x "$(gopath_bin)/staticcheck" ]; }

[ -r "$LIST" ] || die "no package list at $LIST"
command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query): install what $LIST lists by hand"
missing=()
while read -r p; do installed "$p" || missing+=("$p"); done < <(packages)
need_sc=""
command -v go >/dev/null || die "no go on PATH: install Go (go.mod says which version) first"
have_staticcheck || need_sc=yes

if [ ${#missing[@]} -eq 0 ] && [ -z "$need_sc" ]; then
  say "everything is installed (the $(packages | wc -l) packages of ${LIST#"$REPO"/}, staticcheck)"
  exit 0
fi
if no_install; then
  die "missing, and SYNGUARD_NO_INSTALL=1: ${missing[*]}${need_sc:+ staticcheck} (bash scripts/install-deps.sh installs them)"
fi

if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" != 0 ]; then
  # Not root: the tests that need these packages need root too and skip;
  # the rest runs. Say what a root run would install.
  say "not root: not installing ${missing[*]} (sudo bash scripts/install-deps.sh does)"
  missing=()
fi
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them by hand"
  say "installing: ${missing[*]}"
  before_pkgs=$(all_installed)
  before_units=""
  systemd_host && before_units=$(known_units)

  # policy-rc.d: whatever was there is saved and put back on every way out.
  saved=""
  if [ -e "$POLICY" ]; then
    saved=$(mktemp) || die "cannot save $POLICY"
    cp -a "$POLICY" "$saved" || die "cannot save $POLICY"
  fi
  restore_policy() {
    if [ -n "$saved" ]; then cp -a "$saved" "$POLICY" && rm -f "$saved"; else rm -f "$POLICY"; fi
  }
  trap 'restore_policy; exit 130' INT TERM
  trap restore_policy EXIT
  printf '#!/bin/sh\n# synguard install-deps: no service starts during its install\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  restore_policy
  trap - INT TERM EXIT
  [ $rc = 0 ] || die "apt-get install failed ($rc)"

  mapfile -t new_pkgs < <(comm -13 <(printf '%s\n' "$before_pkgs") <(all_installed))
  mkdir -p "$RECORD"
  printf '%s\n' "${new_pkgs[@]}" >>"$RECORD/installed-packages"
  say "installed ${#new_pkgs[@]} packages (${missing[*]} and their dependencies), listed in $RECORD/installed-packages"

  if systemd_host; then
    mapfile -t units < <(comm -12 <(package_units "${new_pkgs[@]}") <(known_units) | comm -23 - <(printf '%s\n' "$before_units"))
    for u in "${units[@]}"; do
      # Never running, never started at boot, by a socket or by D-Bus.
      systemctl stop "$u" >/dev/null 2>&1 || true
      systemctl disable "$u" >/dev/null 2>&1 || true
      systemctl mask "$u" >/dev/null 2>&1 || true
      printf '%s\n' "$u" >>"$RECORD/masked-units"
      say "  $u came with the install: stopped, disabled and masked (systemctl unmask $u to use it)"
    done
  fi
fi

if [ -n "$need_sc" ]; then
  say "installing staticcheck $STATICCHECK_VERSION into $(gopath_bin)"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" || die "go install staticcheck failed"
fi
say "done"
