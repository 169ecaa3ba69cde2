#!/usr/bin/env bash
# promtool check config on the example Prometheus configuration (with the
# rules it loads) and amtool check-config plus routing tests on the example
# Alertmanager configuration.
set -euo pipefail
cd "$(dirname "$0")/../.."

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
echo "configs.sh: ok"
