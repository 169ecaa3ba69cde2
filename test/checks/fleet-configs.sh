#!/usr/bin/env bash
# Checks of deploy/fleet/ (docs/fleet.md): promtool check config on the
# fleet's Prometheus config with rules/ loaded (the fleet rule included),
# amtool check-config and routing tests on the fleet's Alertmanager config,
# one responder webhook per scraped host, the same host labels on each
# host's exporter and responder, and the HA pair's flags accepted by the
# real Alertmanager binary and pointing at each other; TLS with client
# certificates everywhere a synguard port is reached: https scrapes and
# webhooks with a client certificate, and web configs that require one and
# allow exactly the identities that must get in.
set -euo pipefail
cd "$(dirname "$0")/../.."

for t in promtool amtool prometheus-alertmanager; do
  command -v "$t" >/dev/null || { echo "fleet-configs.sh: $t not found (Debian packages prometheus, prometheus-alertmanager)" >&2; exit 1; }
done
fail() { echo "fleet-configs.sh: $*" >&2; exit 1; }

dir=deploy/fleet
prom=$dir/prometheus.yml am=$dir/alertmanager.yml args=$dir/alertmanager.args
tmp=$(mktemp -d /tmp/sgz-fleet-configs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Prometheus: in its installed layout, rules/ beside it. promtool stats the
# tls_config files: they point into $tmp, at empty placeholders.
sed "s#/etc/prometheus/tls/#$tmp/tls/#g" "$prom" >"$tmp/prometheus.yml"
mkdir "$tmp/tls" "$tmp/rules"
grep -oE '/etc/prometheus/tls/[^ ]+' "$prom" | sort -u | while read -r f; do : >"$tmp/tls/${f##*/}"; done
cp rules/*.yml "$tmp/rules/"
out=$(promtool check config "$tmp/prometheus.yml" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
grep -q 'fleet.rules.yml' <<<"$out" || fail "$prom did not load rules/fleet.rules.yml"

# Both Alertmanagers in the alerting section.
grep -A4 '^alerting:' "$prom" | grep -q 'am1.example.net:9093", "am2.example.net:9093' ||
  fail "$prom does not send alerts to both Alertmanagers"

# targets JOB: "host target" lines of a scrape job's static_configs.
targets() {
  awk -v job="$1" '
    /^  - job_name:/ { injob = ($3 == job) }
    injob && /- targets:/ { t = $0; sub(/.*\["/, "", t); sub(/".*/, "", t) }
    injob && /labels: \{host:/ { h = $0; sub(/.*host: */, "", h); sub(/\}.*/, "", h); print h, t }
  ' "$prom"
}
exp=$(targets synguard-exporter) resp=$(targets synguard-responder)
[ -n "$exp" ] || fail "$prom: no exporter targets with a host label"
# Each host's exporter and responder: the same host label, the same machine.
paste -d' ' <(awk '{print $1, $2}' <<<"$exp") <(awk '{print $1, $2}' <<<"$resp") | while read -r h1 t1 h2 t2; do
  [ "$h1" = "$h2" ] || fail "$prom: exporter $t1 has host=$h1 but responder $t2 has host=$h2"
  [ "${t1%:*}" = "${t2%:*}" ] || fail "$prom: host $h1's exporter ($t1) and responder ($t2) are on different machines"
done
[ "$(awk '{print $1}' <<<"$exp" | sort -u | wc -l)" = "$(wc -l <<<"$exp")" ] || fail "$prom: two exporters share a host label"

# Alertmanager.
amtool check-config "$am"
route() {
  local want=$1; shift
  amtool config routes test --config.file="$am" --verify.receivers="$want" "$@" >/dev/null 2>&1 ||
    fail "alert {$*} does not reach exactly $want"
}
route synguard-responder,operators alertname=SynguardPrefixFlooding action=block scope=host prefix=198.51.100.32/27 host=mx3
route synguard-responder,operators alertname=SynguardFleetPrefixFlooding action=block scope=fleet prefix=198.51.100.32/27
route operators alertname=SynguardDiffuseFlood severity=critical host=mx1
grep -q 'group_by: \[alertname, prefix\]' "$am" || fail "$am: block route must group by alertname and prefix"

# One webhook per scraped host, at that host's responder.
urls=$(awk '/^  - name: synguard-responder/ { r = 1; next } /^  - name:/ { r = 0 } r && /url:/ { print $NF }' "$am")
while read -r h t; do
  grep -qx "https://$t/webhook" <<<"$urls" || fail "$am: no webhook for host $h's responder $t"
done <<<"$resp"
[ "$(wc -l <<<"$urls")" = "$(wc -l <<<"$resp")" ] || fail "$am: $(wc -l <<<"$urls") webhooks for $(wc -l <<<"$resp") responders"
[ "$(grep -c 'send_resolved: true' "$am")" -ge "$(wc -l <<<"$urls")" ] || fail "$am: every responder webhook needs send_resolved: true"

# The HA pair's flags: accepted by the real binary (kingpin refuses an
# unknown flag before --version runs), and each member peers with the other.
n=0
while IFS= read -r line; do
  name=${line%%:*} flags=${line#*: }
  # shellcheck disable=SC2086
  prometheus-alertmanager $flags --version >/dev/null 2>&1 || fail "$args: $name's flags are refused by prometheus-alertmanager"
  other=am1; [ "$name" = am1 ] && other=am2
  grep -q -- "--cluster.peer=$other.example.net:9094" <<<"$flags" || fail "$args: $name does not peer with $other"
  grep -q -- "--cluster.listen-address=" <<<"$flags" || fail "$args: $name has no cluster listen address"
  n=$((n + 1))
done < <(grep -E '^am[12]: ' "$args")
[ "$n" = 2 ] || fail "$args: want flags for am1 and am2, found $n"
# TLS: both synguard jobs scrape over https with a client certificate, and
# every webhook carries one and the bearer token.
for job in synguard-exporter synguard-responder; do
  body=$(awk -v job="$job" '/^  - job_name:/ { injob = ($3 == job) } injob' "$prom")
  grep -q '^    scheme: https$' <<<"$body" || fail "$prom: job $job does not scrape over https"
  grep -q '^    tls_config:' <<<"$body" || fail "$prom: job $job has no tls_config (client certificate)"
done
for k in ca_file cert_file key_file; do
  grep -q "^ *$k: /etc/prometheus/tls/" "$prom" || fail "$prom: tls_config has no $k"
  grep -q "^ *$k: /etc/alertmanager/tls/" "$am" || fail "$am: the webhooks' tls_config has no $k"
done
n=$(grep -c 'http_config: [&*]synguard_http' "$am")
[ "$n" = "$(wc -l <<<"$urls")" ] || fail "$am: $n of $(wc -l <<<"$urls") webhooks use the TLS and token http_config"
grep -q 'credentials_file: ' "$am" || fail "$am: the webhooks carry no bearer token"
# The web configs: client certificates required and verified, and exactly
# who must get in: Prometheus everywhere, the Alertmanagers on the responder.
sans() { awk '/client_allowed_sans:/ { s = 1; next } s && /^ +- / { print $2; next } { s = 0 }' "$1" | sort | tr '\n' ' '; }
for w in exporter responder; do
  f=$dir/$w-web.yml
  [ -f "$f" ] || fail "$f missing"
  for k in cert_file key_file client_ca_file; do grep -q "^  $k: /" "$f" || fail "$f: no $k"; done
  grep -q '^  client_auth_type: RequireAndVerifyClientCert$' "$f" || fail "$f: client certificates not required"
done
[ "$(sans "$dir/exporter-web.yml")" = "prometheus.example.net " ] ||
  fail "$dir/exporter-web.yml must allow Prometheus only, allows: $(sans "$dir/exporter-web.yml")"
[ "$(sans "$dir/responder-web.yml")" = "am1.example.net am2.example.net prometheus.example.net " ] ||
  fail "$dir/responder-web.yml must allow Prometheus and both Alertmanagers, allows: $(sans "$dir/responder-web.yml")"
echo "fleet-configs.sh: ok"
