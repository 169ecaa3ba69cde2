#!/usr/bin/env bash
# Static checks of dashboards/ and rules/: Grafana dashboard-linter rules,
# PromQL parsing, and metric names, types and labels against the golden
# /metrics outputs of both binaries (tools/dashcheck, its own Go module so
# Prometheus's parser stays out of the binaries' dependencies), and the
# Alertmanager inhibit rules run in a real prometheus-alertmanager.
set -euo pipefail
cd "$(dirname "$0")/../../tools/dashcheck"
go mod download
go vet ./...
go test -count=1 ./...

# The provisioning files must point at the dashboard and the datasource the
# dashboard's variable selects.
cd ../..
grep -q 'type: prometheus' deploy/grafana/provisioning/datasources/*.yml
# A provisioned datasource must not take the default: Grafana refuses a
# second default in an organization and provisions nothing.
if grep -Eq '^\s*isDefault:\s*true' deploy/grafana/provisioning/datasources/*.yml; then
  echo "dashboards.sh: a provisioned datasource sets isDefault: true, which breaks a Grafana that has a default" >&2
  exit 1
fi
grep -q 'path: /var/lib/grafana/dashboards' deploy/grafana/provisioning/dashboards/*.yml
echo "dashboards.sh: ok"
