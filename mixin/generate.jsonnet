// The files committed under rules/ and dashboards/, as strings (jsonnet -S -m):
//   go tool -modfile=tools/jsonnet/go.mod jsonnet -S -m . mixin/generate.jsonnet
// test/checks/mixin.sh regenerates them and fails on any difference.
local mixin = import 'mixin.libsonnet';

local header(src) =
  '# Generated from mixin/%s by test/checks/mixin.sh --write: do not edit,\n' % src +
  '# edit the mixin (the why-comments are there) and regenerate.\n';

local yaml(v) = std.manifestYamlDoc(v, indent_array_in_object=true, quote_keys=false) + '\n';

{
  'rules/synguard.rules.yml': header('alerts.libsonnet') + yaml(mixin.prometheusAlerts),
  'rules/fleet.rules.yml': header('fleet.libsonnet') + yaml(mixin.prometheusFleetAlerts),
  // Grafana dashboard-linter's exclusions, which tools/dashcheck reads too.
  'dashboards/.lint': header('dashboards/lint.libsonnet') + yaml(mixin.grafanaDashboardLint),
} + {
  ['dashboards/' + name]: std.manifestJsonEx(mixin.grafanaDashboards[name], '  ') + '\n'
  for name in std.objectFields(mixin.grafanaDashboards)
}
