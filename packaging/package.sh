#!/usr/bin/env bash
# packaging/package.sh: what `make package` runs (packaging/package.mk sets
# GO, DIST, PKG_ARCHES, SYNGUARD_VERSION and GO_LDFLAGS). For each arch:
# static binaries (CGO_ENABLED=0), a tarball, and synguard-exporter and
# synguard-responder as .deb and .rpm, built with nfpm from the tools/nfpm
# module (its own go.mod, so nfpm's dependencies never join the binaries'
# version resolution). Output: $DIST/*.tar.gz, *.deb, *.rpm, SHA256SUMS.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-bin/dist}
PKG_ARCHES=${PKG_ARCHES:-amd64 arm64}
: "${SYNGUARD_VERSION:?}" "${GO_LDFLAGS:?}"
fail() { echo "package.sh: $*" >&2; exit 1; }

packaging/notices.sh --check || fail "THIRD_PARTY_NOTICES.md is out of date (run packaging/notices.sh)"

rm -rf "$DIST"
mkdir -p "$DIST/.tools"
case "$DIST" in /*) nfpm=$DIST/.tools/nfpm ;; *) nfpm=$PWD/$DIST/.tools/nfpm ;; esac
$GO -C tools/nfpm build -o "$nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
# The commit's time for every file's mtime: two builds of a commit match.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

# The modules in the notices must be those linked in (go version -m).
notice_mods=$(sed -n 's/^| \([a-z][^ |]*\) | \(v[0-9][^ |]*\) | .*/\1 \2/p' THIRD_PARTY_NOTICES.md | sort -u)

for arch in $PKG_ARCHES; do
  stage=$DIST/stage/$arch
  mkdir -p "$stage/bin" "$stage/sysusers"
  for b in exporter responder; do
    GOARCH=$arch CGO_ENABLED=0 $GO build -trimpath -ldflags "$GO_LDFLAGS" -o "$stage/bin/synguard-$b" "./cmd/$b"
  done
  linked=$($GO version -m "$stage"/bin/* | awk '$1 == "dep" { print $2, $3 } $1 == "=>" { print $2, $3 }' | sort -u)
  [ "$linked" = "$notice_mods" ] || {
    diff <(echo "$notice_mods") <(echo "$linked") >&2 || true
    fail "the modules linked into the $arch binaries differ from THIRD_PARTY_NOTICES.md"
  }
  packaging/units.sh deb "$stage/deb"
  packaging/units.sh rpm "$stage/rpm"
  for u in synguard-exporter synguard-responder; do
    { echo "# systemd-sysusers: the $u system user (from deploy/systemd/synguard.sysusers.conf)."
      grep -E "^u ${u}[[:space:]]" deploy/systemd/synguard.sysusers.conf || fail "no $u in deploy/systemd/synguard.sysusers.conf"
    } >"$stage/sysusers/$u.conf"
  done

  # Tarball: the binaries with everything a manual install (docs/deploy.md,
  # appendix) uses.
  t=synguard-$SYNGUARD_VERSION.linux-$arch
  mkdir -p "$DIST/tar/$t"
  cp "$stage"/bin/* LICENSE NOTICE THIRD_PARTY_NOTICES.md CHANGELOG.md README.md VERSION "$DIST/tar/$t/"
  cp -r deploy rules dashboards docs examples "$DIST/tar/$t/"
  rm -rf "$DIST/tar/$t/rules/tests"
  mkdir -p "$DIST/tar/$t/packaging" && cp -r packaging/firewalld "$DIST/tar/$t/packaging/"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$DIST/tar" -czf "$DIST/$t.tar.gz" "$t"

  for p in synguard-exporter synguard-responder; do
    for f in deb rpm; do
      # nfpm (v2.48.0) globs contents' src before it expands the
      # environment there: expand STAGE, FMT and ENVDIR here.
      envdir=/etc/default; [ "$f" = rpm ] && envdir=/etc/sysconfig
      sed -e "s#\${STAGE}#$stage#g" -e "s#\${FMT}#$f#g" -e "s#\${ENVDIR}#$envdir#g" \
        "packaging/nfpm/$p.yaml" >"$stage/$p.yaml"
      SYNGUARD_VERSION=$SYNGUARD_VERSION ARCH=$arch \
        "$nfpm" package --config "$stage/$p.yaml" --packager "$f" --target "$DIST/" >/dev/null
    done
  done
done
rm -rf "$DIST/tar"
(cd "$DIST" && sha256sum -- *.tar.gz *.deb *.rpm >SHA256SUMS)
(cd "$DIST" && ls -1 -- *.tar.gz *.deb *.rpm SHA256SUMS)
