// synguard fleet rules (rules/fleet.rules.yml): one source prefix flooding
// several hosts at once.
//
// These rules need every host's exporter scraped with the host target label
// (deploy/fleet/prometheus.yml). They sit beside the host rules:
//
//   SynguardPrefixFlooding (alerts.libsonnet)  host-scoped: a prefix with
//       >= prefixFloodSockets SYN_RECV sockets on one host in two consecutive
//       scrapes blocks it on THAT host (scope="host", the series' own host label).
//   SynguardFleetPrefixFlooding (this file)   fleet-scoped: a prefix with
//       >= fleetHostSockets SYN_RECV sockets on each of at least fleetHosts
//       distinct hosts in the same evaluation blocks it on EVERY host
//       (scope="fleet", no host label), the hosts it has not reached yet
//       included.
//
// Tunables (config.libsonnet; rules/tests/fleet_test.yml pins the defaults):
//
//   fleetHostSockets  25   sockets from the prefix on one host. Lower than
//                          the host rule's 50: a second host seeing the same
//                          prefix at the same time is itself corroboration.
//   fleetHosts (K)    2    distinct host values at or above the threshold.
//                          In a large fleet raise it (e.g. 3, or 10% of the
//                          hosts): K is the number of hosts an attacker may
//                          flood before the whole fleet drops the prefix.
//   fleetFor          0s   no hold: the condition already needs K hosts
//                          flooded in one evaluation, which one host's
//                          blip cannot give, and every second of hold is a
//                          second the flood spends reaching more hosts.
//                          Set e.g. 15s if shared ranges (large NATs,
//                          scanners you tolerate) burst against several
//                          hosts at once.
//
// Hosts are counted, not series: `max by (prefix, family, host)` first, so a
// host scraped twice (two exporters, a relabelled duplicate, SYN_RECV in both
// of the exporter's jobs where the normal one lacks exclude[]=syn_recv)
// counts once, and
// a series without a host label (a misconfigured scrape job) never counts.
// prefix="other" is the exporter's catch-all for ranges outside its top N and
// never names one range: never blocked.
//
// Rule-level labels are not visible as $labels in the same rule's annotations,
// so annotations take every value from the series' labels or from $value.
local util = import 'lib/util.libsonnet';

{
  local cfg = $._config,
  local h = cfg.hostLabel,

  prometheusFleetAlerts+:: {
    groups+: [
      {
        name: 'synguard.fleet',
        rules: [
          {
            alert: 'SynguardFleetPrefixFlooding',
            expr: |||
              count by (prefix, family) (
                max by (prefix, family, %(h)s) (
                  %(sel)s
                ) >= %(sockets)d
              ) >= %(hosts)d
            ||| % {
              h: h,
              sel: util.selector(cfg, 'synguard_syn_recv_sockets', ['prefix!="other"', 'prefix=~".+/[0-9]+"', '%s!=""' % h]),
              sockets: cfg.fleetHostSockets,
              hosts: cfg.fleetHosts,
            },
            'for': cfg.fleetFor,
            labels: {
              action: 'block',
              scope: 'fleet',
              severity: 'warning',
            },
            annotations: {
              summary: 'SYN flood from {{ $labels.prefix }} on {{ $value }} hosts: block requested on every host',
              description: '{{ $labels.prefix }} ({{ $labels.family }}) holds at least %(sockets)d sockets in SYN_RECV on each of {{ $value }} hosts ({{ with printf `max by (%(h)s) (synguard_syn_recv_sockets{prefix=%%q, %(h)s!=""}) >= %(sockets)d` $labels.prefix | query }}{{ range $i, $s := sortByLabel "%(h)s" . }}{{ if $i }}, {{ end }}{{ $s.Labels.%(h)s }}{{ end }}{{ end }}), at or above the fleet threshold of %(hosts)d hosts. Every responder is asked to drop this prefix, on hosts it has not reached yet too.' % { h: h, sockets: cfg.fleetHostSockets, hosts: cfg.fleetHosts },
              runbook_url: util.runbook(cfg.fleetRunbookURLPattern, 'SynguardFleetPrefixFlooding'),
            },
          },
        ],
      },
    ],
  },
}
