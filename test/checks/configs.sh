#!/usr/bin/env bash
# promtool check config on the example Prometheus configuration (with the
# rules it loads) and amtool check-config plus routing tests on the example
# Alertmanager configuration.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "configs.sh: $*" >&2; exit 1; }

for t in promtool amtool; do
  command -v "$t" >/dev/null || { echo "configs.sh: $t not found (Debian packages prometheus, prometheus-alertmanager)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/sgd-configs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The example expects rules/ beside it, as in /etc/prometheus and in
# docker-compose.yml: check it in that layout so the rules load too.
cp deploy/prometheus/prometheus.yml "$tmp/"
mkdir "$tmp/rules"
cp rules/*.yml "$tmp/rules/"
out=$(promtool check config "$tmp/prometheus.yml" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
grep -q 'SUCCESS: [1-9][0-9]* rules found' <<<"$out" || { echo "configs.sh: prometheus.yml loaded no rules" >&2; exit 1; }

am=deploy/alertmanager/alertmanager.yml
amtool check-config "$am"

# route <expected receivers> <labels...>: the alert reaches exactly these.
route() {
  local want=$1; shift
  if ! amtool config routes test --config.file="$am" --verify.receivers="$want" "$@" 2>/dev/null; then
    echo "configs.sh: alert {$*} does not reach exactly $want" >&2
    exit 1
  fi
}
route synguard-responder,operators alertname=SynguardPrefixFlooding action=block scope=host prefix=198.51.100.32/27 host=mx1
route synguard-responder,operators alertname=SynguardFleetPrefixFlooding action=block scope=fleet prefix=198.51.100.32/27
route operators alertname=SynguardDiffuseFlood severity=critical host=mx1
route operators alertname=SynguardResponderDown severity=critical host=mx1

# The responder route must send resolves, group by prefix and use a bearer token.
for want in 'send_resolved: true' 'group_by: \[alertname, prefix\]' 'type: Bearer'; do
  grep -q "$want" "$am" || { echo "configs.sh: $am lacks '$want'" >&2; exit 1; }
done
# The webhook URL must name a path the responder really serves, on its port,
# and Prometheus must scrape both binaries on their default ports.
url=$(sed -n 's#^ *- url: \(http[^ ]*\)#\1#p' "$am" | head -1)
path="/${url#*://*/}"
port=$(sed -n 's#.*://[^:/]*:\([0-9]*\)/.*#\1#p' <<<"$url")
grep -q "mux.Handle(\"$path\"" cmd/responder/*.go || fail "$am posts to $path, which cmd/responder does not serve"
grep -q "defaultAddr *= *\":$port\"" cmd/responder/*.go || fail "$am posts to port $port, not the responder's default"
for b in exporter responder; do
  p=$(sed -n 's/.*defaultAddr *= *":\([0-9]*\)".*/\1/p' cmd/$b/*.go | head -1)
  [ -n "$p" ] || fail "no defaultAddr in cmd/$b"
  grep -A3 "job_name: synguard-$b" deploy/prometheus/prometheus.yml | grep -q ":$p\"" ||
    fail "deploy/prometheus/prometheus.yml does not scrape synguard-$b on its default port $p"
done
echo "configs.sh: ok"
