#!/usr/bin/env bash
# Alertmanager CPU with N live block groups (one firing alert each, grouped by alertname and
# prefix as the block route does) at group_interval GI, over 30 s: Debian's Alertmanager 0.25 on
# loopback, a webhook sink that answers 200. Usage: bash test/bench/amgroups.sh [N] [GI] [PORT]
# (2000 250ms 39093). Issue 13: the cost of the block route's short group_interval.
set -euo pipefail
N=${1:-2000} GI=${2:-250ms} PORT=${3:-39093}
d=$(mktemp -d /tmp/amgroups.XXXX)
cat >"$d/am.yml" <<Y
route:
  receiver: sink
  group_by: [alertname, prefix]
  group_wait: 0s
  group_interval: $GI
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs: [{url: "http://127.0.0.1:$((PORT+1))/", send_resolved: true, max_alerts: 0}]
Y
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"])); self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' $((PORT+1)) &
sink=$!
prometheus-alertmanager --config.file="$d/am.yml" --storage.path="$d" --web.listen-address=127.0.0.1:$PORT --cluster.listen-address= >"$d/log" 2>&1 &
am=$!
trap 'kill $am $sink 2>/dev/null; wait $am $sink 2>/dev/null; rm -rf "$d"' EXIT
for i in $(seq 50); do curl -fs http://127.0.0.1:$PORT/-/ready >/dev/null && break; sleep 0.2; done
ends=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)
python3 - "$N" "$ends" >"$d/alerts.json" <<'P'
import json, sys
n, ends = int(sys.argv[1]), sys.argv[2]
print(json.dumps([{"labels": {"alertname": "SynguardPrefixFlooding", "action": "block",
  "prefix": "198.18.%d.%d/27" % (i // 8, (i % 8) * 32)}, "endsAt": ends} for i in range(n)]))
P
curl -fsS -XPOST -H 'Content-Type: application/json' --data @"$d/alerts.json" http://127.0.0.1:$PORT/api/v2/alerts
sleep 5
t() { awk '{print $14 + $15}' /proc/$am/stat; }
c0=$(t); s0=$(date +%s%N)
# The alerts stay firing (endsAt 10 minutes ahead) while the CPU is counted.
sleep 30
c1=$(t); s1=$(date +%s%N)
tck=$(getconf CLK_TCK)
groups=$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '/^alertmanager_dispatcher_aggregation_groups /{print $2}')
awk -v c=$((c1-c0)) -v k=$tck -v w=$(( (s1-s0)/1000000 )) -v n=$N -v gi=$GI -v g=$groups 'BEGIN { printf "alertmanager: %d groups, group_interval %s: %.3f cores (CPU %.2f s over %.1f s)\n", g, gi, c/k/(w/1000), c/k, w/1000 }'
