// dashboards/.lint: the Grafana dashboard-linter rules synguard's dashboards
// do not follow, each with the reason. tools/dashcheck applies the linter's
// rules and these exclusions, and fails on an exclusion without a reason or
// one that no longer excludes anything.
{
  local cfg = $._config,

  grafanaDashboardLint+:: {
    exclusions: {
      'template-instance-rule': {
        reason: 'The %(h)s label stands in for instance: it names the machine, while the exporter and the responder on one machine have two instances (two ports). The dashboard has a $host variable on the %(h)s label instead; tools/dashcheck requires it.' % { h: cfg.hostLabel },
      },
      'target-instance-rule': {
        reason: 'Every query matches %(h)s=~"$host" instead of instance=~"$instance" (see template-instance-rule); tools/dashcheck requires that matcher on every selector.' % { h: cfg.hostLabel },
      },
    },
  },
}
