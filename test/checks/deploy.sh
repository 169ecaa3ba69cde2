#!/usr/bin/env bash
# Deployment files: docker-compose.yml (docker-compose config; no Docker
# engine runs here, so it is validated, not run), the Dockerfiles' inputs,
# the systemd units (systemd-analyze verify, offline), the sysusers file,
# the sample configs (each binary's --config.check) and the polkit rule
# (JavaScript syntax, and the real polkitd asked what it grants); as root,
# the exporter without capabilities on real SYN_RECV sockets, and the
# responder as an unprivileged user, with its unit's one capability, against
# a real firewalld authorising it through the real polkitd.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${BIN:-bin}
fail() { echo "deploy.sh: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/sgd-deploy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# binary NAME: the built binary (make build names it after cmd/NAME).
binary() {
  local b
  for b in "$bin/$1" "$bin/synguard-$1"; do
    [ -x "$b" ] || continue
    case "$b" in /*) echo "$b" ;; *) echo "$root/$b" ;; esac
    return
  done
  fail "no built $1 in $bin/ (run make build first)"
}
exporter=$(binary exporter) || exit 1
responder=$(binary responder) || exit 1

echo "-- docker-compose config"
command -v docker-compose >/dev/null || fail "docker-compose not found (Debian package docker-compose)"
export SYNGUARD_RESPONDER_UID=61990 SYNGUARD_RESPONDER_GID=61990 GRAFANA_ADMIN_PASSWORD=check-only
docker-compose -f docker-compose.yml config -q
# Every file or directory the services mount from the repository must exist
# (docker-compose config does not look); the webhook token is the operator's.
docker-compose -f docker-compose.yml config |
  sed -n "s#^ *- \($root/[^:]*\):.*#\1#p" | sort -u | while read -r src; do
    case "$src" in "$root/deploy/secrets/"*) continue ;; esac
    [ -e "$src" ] || fail "docker-compose.yml mounts $src, which does not exist"
  done
# A required variable left unset must stop compose with a message.
if env -u GRAFANA_ADMIN_PASSWORD docker-compose -f docker-compose.yml config -q 2>/dev/null; then
  fail "docker-compose.yml runs without GRAFANA_ADMIN_PASSWORD"
fi

echo "-- Dockerfiles"
for f in deploy/docker/Dockerfile.exporter deploy/docker/Dockerfile.responder; do
  grep -q '^FROM .* AS build' "$f" || fail "$f is not a multi-stage build"
  # What they build and copy must exist.
  for p in $(sed -n 's#.*\(\./cmd/[a-z]*\).*#\1#p; s#^COPY \(examples/[^ ]*\) .*#\1#p' "$f"); do
    [ -e "$p" ] || fail "$f uses $p, which does not exist"
  done
done

echo "-- systemd units"
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found"
mkdir "$tmp/units"
for u in deploy/systemd/*.service; do
  # verify needs ExecStart= to exist: point it at the built binaries.
  sed -e "s#/usr/local/bin/synguard-exporter#$exporter#" \
      -e "s#/usr/local/bin/synguard-responder#$responder#" "$u" >"$tmp/units/$(basename "$u")"
done
out=$(systemd-analyze verify "$tmp"/units/*.service 2>&1) || { echo "$out"; fail "systemd-analyze verify failed"; }
# Unknown or misspelt keys are only warnings there: any output is a failure.
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify warned"; }
for u in deploy/systemd/*.service; do
  for k in 'User=synguard-' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes'; do
    grep -q "^$k" "$u" || fail "$u lacks $k"
  done
done
# Capabilities only where needed: none for the exporter, CAP_NET_ADMIN (for
# conntrack) and nothing else for the responder; the responder test below
# runs with exactly this set.
grep -qx 'CapabilityBoundingSet=' deploy/systemd/synguard-exporter.service || fail "the exporter unit keeps capabilities"
grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' deploy/systemd/synguard-responder.service || fail "the responder unit's capabilities are not exactly CAP_NET_ADMIN"
mkdir -p "$tmp/sysroot/etc"
systemd-sysusers --root="$tmp/sysroot" "$root/deploy/systemd/synguard.sysusers.conf" >/dev/null 2>&1 ||
  fail "systemd-sysusers refused deploy/systemd/synguard.sysusers.conf"
for u in synguard-exporter synguard-responder; do
  grep -q "^$u:" "$tmp/sysroot/etc/passwd" || fail "sysusers did not create $u"
done

echo "-- sample configs"
"$exporter" --config.check --config.file=deploy/synguard/exporter.yml
# The responder reads its token files at load: give them in a scratch copy.
mkdir "$tmp/etc"
echo check-only >"$tmp/etc/webhook.token"
echo check-only >"$tmp/etc/api.token"
sed "s#/etc/synguard/#$tmp/etc/#" deploy/synguard/responder.yml >"$tmp/etc/responder.yml"
"$responder" --config.check --config.file="$tmp/etc/responder.yml"
grep -q "^host: $(sed -n 's/^ *host: \(.*\)$/\1/p' deploy/prometheus/prometheus.yml | head -1)\$" deploy/synguard/responder.yml ||
  fail "deploy/synguard/responder.yml host differs from the host label in deploy/prometheus/prometheus.yml"

echo "-- polkit rule"
rules=deploy/polkit/50-synguard-responder.rules
if command -v node >/dev/null; then
  node -e 'new Function(require("fs").readFileSync(process.argv[1], "utf8"))' "$rules" || fail "$rules is not valid JavaScript"
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deploy.sh: SKIP polkit, exporter and responder privilege checks: they need root (namespaces, polkitd, firewalld)"
else
  for t in /usr/lib/polkit-1/polkitd pkcheck dbus-daemon setpriv unshare nsenter firewalld; do
    command -v "$t" >/dev/null || [ -x "$t" ] || fail "$t not found (Debian packages polkitd, dbus, util-linux, firewalld)"
  done
  # The action ids must be the ones the installed firewalld declares.
  policy=/usr/share/polkit-1/actions/org.fedoraproject.FirewallD1.policy
  for a in org.fedoraproject.FirewallD1.config org.fedoraproject.FirewallD1.config.info; do
    grep -q "\"$a\"" "$rules" || fail "$rules does not name $a"
    grep -q "action id=\"$a\"" "$policy" || fail "the installed firewalld ($policy) declares no polkit action $a"
  done
  echo "-- the exporter without capabilities on real SYN_RECV sockets"
  bash test/checks/lib/exporter-unprivileged.sh "$exporter"
  echo "-- the polkit rule in the real polkitd, and the responder as synguard-responder against a real firewalld"
  bash test/checks/lib/polkit-firewalld.sh "$responder" "$rules"
fi
echo "deploy.sh: ok"
