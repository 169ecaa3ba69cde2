// synguard's monitoring mixin: prometheusAlerts (host rules),
// prometheusFleetAlerts (fleet rules, for a Prometheus that scrapes every
// host), grafanaDashboards, all driven by _config (config.libsonnet).
// generate.jsonnet writes them to rules/ and dashboards/.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'fleet.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
