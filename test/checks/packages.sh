#!/usr/bin/env bash
# Release artefacts (make package): for amd64 and arm64, the binaries are
# static and of the right architecture, carry the version in --version and
# in *_build_info; THIRD_PARTY_NOTICES.md is in step with the modules
# linked in; and each .rpm, read with Debian's rpm tool (rpm -qpl, -qpc,
# --scripts, --requires), holds the same files as its .deb (the
# EnvironmentFile at /etc/sysconfig instead of /etc/default), the same
# config files, the maintainer scripts and the dependencies. No RHEL host
# and no arm64 machine runs here: the .rpms are never installed and the
# arm64 binaries never run.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "packages.sh: $*" >&2; exit 1; }
for t in rpm dpkg-deb file readelf curl; do
  command -v "$t" >/dev/null || fail "$t not found (Debian packages rpm, dpkg, file, binutils, curl)"
done

tmp=$(mktemp -d /tmp/sgp-packages.XXXXXX)
trap 'kill "${exporter_pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

echo "-- notices in step with go.mod"
packaging/notices.sh --check

echo "-- make package"
make -s package DIST="$tmp/dist" >"$tmp/package.log" 2>&1 || { cat "$tmp/package.log"; fail "make package failed"; }
version=$(packaging/version.sh)
d=$tmp/dist

for arch in amd64 arm64; do
  case $arch in amd64) elf=x86-64 rpmarch=x86_64 ;; arm64) elf=aarch64 rpmarch=aarch64 ;; esac
  echo "-- $arch"
  tarball=$d/synguard-$version.linux-$arch.tar.gz
  [ -s "$tarball" ] || fail "no tarball $tarball"
  for b in exporter responder; do
    bin=$d/stage/$arch/bin/synguard-$b
    info=$(file -b "$bin")
    case "$info" in *"$elf"*"statically linked"*) ;; *) fail "$bin: not a static $elf binary: $info" ;; esac
    if readelf -l "$bin" | grep INTERP >/dev/null; then fail "$bin has a program interpreter (dynamic)"; fi
    tar -tzf "$tarball" | grep -x "synguard-$version.linux-$arch/synguard-$b" >/dev/null || fail "$tarball lacks synguard-$b"
    for p in deb rpm; do
      if [ $p = deb ]; then f=$d/synguard-${b}_${version}-1_$arch.deb; else f=$d/synguard-$b-$version-1.$rpmarch.rpm; fi
      [ -s "$f" ] || fail "no package $f"
    done
    deb=$d/synguard-${b}_${version}-1_$arch.deb
    rpmf=$d/synguard-$b-$version-1.$rpmarch.rpm
    # Files: the same, but for the EnvironmentFile's directory.
    dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' |
      sed 's#^/etc/default/#/etc/ENV/#' | sort >"$tmp/deb.files"
    rpm -qpl "$rpmf" 2>/dev/null | grep -vx /etc/synguard | sed 's#^/etc/sysconfig/#/etc/ENV/#' | sort >"$tmp/rpm.files"
    diff -u "$tmp/deb.files" "$tmp/rpm.files" || fail "$rpmf and $deb hold different files"
    grep -qx /usr/bin/synguard-$b "$tmp/rpm.files" || fail "$rpmf has no /usr/bin/synguard-$b"
    # Config files: the same set, marked noreplace in the rpm.
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sed 's#^/etc/default/#/etc/ENV/#' | sort >"$tmp/deb.conf"
    rpm -qpc "$rpmf" 2>/dev/null | sed 's#^/etc/sysconfig/#/etc/ENV/#' | sort >"$tmp/rpm.conf"
    diff -u "$tmp/deb.conf" "$tmp/rpm.conf" || fail "config files differ between $deb and $rpmf"
    grep -qx "/etc/synguard/$b.yml" "$tmp/rpm.conf" || fail "$rpmf: /etc/synguard/$b.yml is not a config file"
    rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmf" 2>/dev/null | awk '$2 ~ /c/' |
      while read -r file flags; do
        case "$flags" in *n*) ;; *) fail "$rpmf: $file is a config file an upgrade may replace ($flags)" ;; esac
      done
    # Scripts: the same ones in both (deb postinst/prerm/postrm).
    scripts=$(rpm -qp --scripts "$rpmf" 2>/dev/null)
    for s in "postinstall scriptlet" "preuninstall scriptlet" "postuninstall scriptlet"; do
      grep -q "$s" <<<"$scripts" || fail "$rpmf has no $s"
    done
    for s in postinst prerm postrm; do
      dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -x "./$s" >/dev/null || fail "$deb has no $s"
    done
    # Dependencies.
    req=$(rpm -qp --requires "$rpmf" 2>/dev/null)
    if [ $b = responder ]; then
      for r in firewalld dbus ipset polkit; do grep -qx "$r" <<<"$req" || fail "$rpmf does not require $r"; done
      dep=$(dpkg-deb -f "$deb" Depends)
      for r in firewalld dbus ipset; do grep -qw "$r" <<<"$dep" || fail "$deb does not depend on $r"; done
      grep -q "rpm -qp\|purge" <<<"$scripts" || fail "$rpmf's %preun does not purge"
      for f in /usr/share/polkit-1/rules.d/50-synguard-responder.rules \
               /var/lib/polkit-1/localauthority/10-vendor.d/50-synguard-responder.pkla \
               /usr/share/synguard/examples/alertmanager.yml; do
        grep -qx "$f" "$tmp/rpm.files" || fail "$rpmf lacks $f"
      done
    else
      grep -q polkit "$tmp/rpm.files" && fail "$rpmf (the exporter) carries a polkit grant"
      for f in /usr/share/synguard/rules/synguard.rules.yml /usr/share/synguard/dashboards/synguard.json \
               /usr/share/synguard/examples/prometheus.yml; do
        grep -qx "$f" "$tmp/rpm.files" || fail "$rpmf lacks $f"
      done
    fi
    for f in /usr/lib/systemd/system/synguard-$b.service /usr/lib/sysusers.d/synguard-$b.conf \
             /usr/lib/firewalld/services/synguard-$b.xml /etc/ENV/synguard-$b; do
      grep -qx "$f" "$tmp/rpm.files" || fail "$rpmf lacks ${f/ENV/sysconfig}"
    done
    # The rpm's unit reads /etc/sysconfig, the deb's /etc/default.
    rm -rf "$tmp/x" && mkdir "$tmp/x"
    rpm2archive - <"$rpmf" | tar -xz -C "$tmp/x"
    grep -qx "EnvironmentFile=/etc/sysconfig/synguard-$b" "$tmp/x/usr/lib/systemd/system/synguard-$b.service" ||
      fail "$rpmf's unit does not read /etc/sysconfig/synguard-$b"
    grep -qx "ExecStart=/usr/bin/synguard-$b \$ARGS" "$tmp/x/usr/lib/systemd/system/synguard-$b.service" ||
      fail "$rpmf's unit does not run /usr/bin/synguard-$b \$ARGS"
  done
done

echo "-- packaged units (systemd-analyze verify)"
mkdir "$tmp/units"
for f in deb rpm; do
  for b in exporter responder; do
    sed "s#^ExecStart=/usr/bin/synguard-$b#ExecStart=$d/stage/amd64/bin/synguard-$b#" \
      "$d/stage/amd64/$f/synguard-$b.service" >"$tmp/units/synguard-$b.service"
  done
  out=$(systemd-analyze verify "$tmp"/units/*.service 2>&1) || { echo "$out"; fail "systemd-analyze verify failed on the $f units"; }
  [ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify warned on the $f units"; }
done

echo "-- version stamped (amd64)"
for b in exporter responder; do
  out=$("$d/stage/amd64/bin/synguard-$b" --version 2>&1)
  grep -q "version $version " <<<"$out" || fail "synguard-$b --version: $out"
  grep -q "revision: $(git rev-parse HEAD)" <<<"$out" || fail "synguard-$b --version has no revision: $out"
  grep -Eq "build date: +[0-9]{8}-[0-9:]{8}$" <<<"$out" || fail "synguard-$b --version has no build date: $out"
done
port=$((20000 + RANDOM % 20000))
"$d/stage/amd64/bin/synguard-exporter" --config.file=deploy/synguard/exporter.yml \
  --web.listen-address=127.0.0.1:$port >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics" 2>/dev/null && break; sleep 0.1; done
line=$(grep '^synguard_exporter_build_info{' "$tmp/metrics") || { cat "$tmp/exporter.log"; fail "no synguard_exporter_build_info"; }
for l in "version=\"$version\"" "revision=\"$(git rev-parse HEAD)\"" "branch=\"$(git rev-parse --abbrev-ref HEAD)\"" 'goversion="go' 'build_date="'; do
  grep -qF "$l" <<<"$line" || fail "build_info lacks $l: $line"
done
echo "   $line"
echo "packages ok ($version; .rpm contents equal the .deb's; rpm is never installed here)"
