#!/usr/bin/env bash
# The exporter needs no capability: run as nobody with an empty capability
# bounding set and no_new_privs (what its systemd unit gives it), inside a
# victim namespace holding real SYN_RECV sockets from a /27 (test/lab/
# synflood.sh: spoofed SYNs from an attacker namespace, SYN-ACKs dropped),
# it must count every one of them over netlink sock_diag, with the collector
# succeeding. Root only; nothing touches the root namespace.
#
# usage: exporter-unprivileged.sh EXPORTER_BINARY
set -euo pipefail
exporter=$1
here=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=../../lab/synflood.sh
. "$here/test/lab/synflood.sh"
export LAB_NAME="sgd-ex-$$" LAB_STATE="/tmp/sgd-exlab-$$" LAB_SYNACK_RETRIES=2 LAB_PORTS=25
n=200
log() { printf '[%s] exporter-unprivileged: %s\n' "$(date +%T.%3N)" "$*" >&2; }
trap 'lab_down >/dev/null 2>&1 || true' EXIT

lab_up
# Sockets expire after ~7 s (synack_retries 2): flood, count, scrape at once.
lab_flood 198.51.100.32/27 "$n" 25
lab_wait_count "$n" 5
lab_vx_bg exporter setpriv --reuid=65534 --regid=65534 --clear-groups \
  --bounding-set=-all --inh-caps=-all --no-new-privs \
  "$exporter" --collector.syn-recv.source=netlink --web.listen-address=127.0.0.1:19917 --web.disable-exporter-metrics
metrics=""
for _ in $(seq 50); do
  metrics=$(lab_vx curl -sf http://127.0.0.1:19917/metrics) && break
  sleep 0.1
done
got=$(sed -n 's#^synguard_syn_recv_sockets{family="ipv4",prefix="198.51.100.32/27"} \([0-9]*\)$#\1#p' <<<"$metrics")
ok=$(sed -n 's#^synguard_scrape_collector_success{collector="syn_recv"} \([0-9]*\)$#\1#p' <<<"$metrics")
uid=$(stat -c %u "/proc/$(cat "$LAB_STATE/exporter.pid")")
log "exporter uid $uid, CapEff $(awk '/^CapEff/ {print $2}' "/proc/$(cat "$LAB_STATE/exporter.pid")/status"): syn_recv collector success '$ok', 198.51.100.32/27 counted '$got' of $n"
[ "$uid" = 65534 ] && [ "$ok" = 1 ] && [ "$got" = "$n" ] || { log "FAIL"; exit 1; }
log "ok: the exporter counts SYN_RECV sockets without any capability"
