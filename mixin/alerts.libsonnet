// synguard's alerting rules (rules/synguard.rules.yml).
//
// Labels the responder relies on: a block alert carries action="block" and the
// series' own prefix and family labels (the exporter's canonical CIDR, so the
// responder needs no translation) and, from the scrape config, the host label.
// It is host-scoped (scope="host"): the responder applies it only on that
// host. Fleet rules (issue 8, fleet.libsonnet) carry scope="fleet" and no host.
//
// Rule-level labels are not visible as $labels in the same rule's annotations,
// so annotations take every value from the series' labels or from $value.
local util = import 'lib/util.libsonnet';

{
  local cfg = $._config,
  local sel(metric, matchers=[]) = util.selector(cfg, metric, matchers),
  local host = util.hostRef(cfg),
  local h = cfg.hostLabel,
  // Every alert links to its own section of the runbook.
  local withRunbooks(rules) = [r { annotations+: { runbook_url: util.runbook(cfg.runbookURLPattern, r.alert) } } for r in rules],

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'synguard.block',
        // Its own evaluation interval: the alert fires at the first
        // evaluation after the confirming sample is seen, so this interval
        // is a delay every block pays (half of it on average).
        interval: cfg.blockGroupInterval,
        rules: withRunbooks([
          // A prefix holding many half-open connections is the runbook's "pile of
          // SYN_RECV from a few source ranges". The alert resolves by itself once
          // the block lands (the kernel stops seeing the SYNs, the sockets time out),
          // while the flood itself may go on: the responder must not read a
          // resolve as "attack over". prefix="other" is the sum of everything
          // outside the exporter's top N and never names one range: never block it.
          //
          // What it waits for: the prefix at or above the threshold in two
          // consecutive scrapes, and nothing else (no `for:`). A legitimate
          // client's sockets leave SYN_RECV within one round trip, so one
          // scrape can catch a burst of them; two in a row is a flood. It
          // fires at the first evaluation after the second sample is seen:
          // about one scrape interval after the first sample, whatever the
          // scrape interval (1s to 15s and more).
          //
          // How: over the last prefixFloodLookback (shorter than any scrape
          // interval, so it can hold at most two samples and no stale marker
          // between them), every look at the series, one per
          // prefixFloodStep, found it at or above the threshold, and its
          // sample timestamp changed: the sample before the newest one and
          // the newest one both count. A prefix the exporter left out of a
          // scrape (no sockets) has a stale marker there, so bursts in two
          // scrapes with a gap between never count as two samples (a plain
          // range such as min_over_time(x[3s]) skips stale markers and would
          // count them). The test holds for about the look-back after each
          // new sample; keep_firing_for (prefixFloodKeepFiringFor, the SYN_RECV
          // scrape interval) bridges the rest of the scrape interval, so a
          // steady flood is one alert, not one per scrape.
          // The subquery's steps are evaluated at the same times by
          // Prometheus 2.x (closed ranges) and 3.x (left-open ones); they
          // differ only on a step exactly at the look-back's start, which
          // sees the same older sample as the steps after it.
          //
          // (issue 13: p50 1.64 s, p95 2.15 s from the first SYN to the first
          // drop at 1 s scrapes, test/bench/results/latency.md; `for: 2s` took
          // 3.9 s.)
          {
            local x = sel('synguard_syn_recv_sockets', ['prefix!="other"', 'prefix=~".+/[0-9]+"']),
            local sq = '[%s:%s]' % [cfg.prefixFloodLookback, cfg.prefixFloodStep],
            alert: 'SynguardPrefixFlooding',
            expr: |||
              %(x)s >= %(t)d
              and min_over_time(%(x)s%(sq)s) >= %(t)d
              and changes(timestamp(%(x)s)%(sq)s) > 0
            ||| % { x: x, t: cfg.prefixFloodSockets, sq: sq },
            [if cfg.prefixFloodKeepFiringFor != null then 'keep_firing_for']: cfg.prefixFloodKeepFiringFor,
            labels: {
              action: 'block',
              scope: 'host',
              severity: 'warning',
            },
            annotations: {
              summary: 'SYN flood from {{ $labels.prefix }} on %s: block requested' % host,
              description: '{{ $value }} sockets in SYN_RECV from {{ $labels.prefix }} ({{ $labels.family }}) on %s, at or above the block threshold of %d in %s. The responder is asked to drop this prefix; this alert resolves once the block lands even if the flood goes on.' % [host, cfg.prefixFloodSockets, cfg.prefixFloodConfirm],
              // The runbook's whois step: who the prefix belongs to, from the
              // exporter's origin databases (examples/exporter.yml, origin:).
              origin: '{{ with printf `synguard_syn_recv_prefix_origin_info{instance=%q,prefix=%q}` $labels.instance $labels.prefix | query }}{{ $o := . | first }}{{ with $o | label `asn` }}AS{{ . }}{{ else }}unknown AS{{ end }}{{ with $o | label `as_org` }} ({{ . }}){{ end }}, {{ with $o | label `country` }}country {{ . }}{{ else }}unknown country{{ end }}{{ else }}unknown (no origin database configured){{ end }}',
            },
          },
        ]),
      },
      {
        name: 'synguard.flood',
        rules: withRunbooks([
          // Many distinct prefixes with a few sockets each is a spoofed or widely
          // distributed flood: blocking prefixes would block innocent ranges and
          // not stop it. No action label: nothing is blocked automatically.
          {
            alert: 'SynguardDiffuseFlood',
            expr: |||
              %s >= %d
              and on (job, instance, family)
              sum by (job, instance, family) (%s) >= %d
            ||| % [sel('synguard_syn_recv_prefixes'), cfg.diffusePrefixes, sel('synguard_syn_recv_sockets'), cfg.diffuseSockets],
            'for': cfg.diffuseFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Diffuse SYN flood on %s: not auto-blocked, rely on SYN cookies' % host,
              description: '{{ $value }} distinct {{ $labels.family }} source prefixes hold {{ with printf `sum(synguard_syn_recv_sockets{instance=%%q,family=%%q})` $labels.instance $labels.family | query }}{{ . | first | value }}{{ end }} sockets in SYN_RECV on %s (thresholds: %d prefixes and %d sockets for %s). Sources this spread are usually spoofed: no prefix is blocked automatically. Check that net.ipv4.tcp_syncookies is 1 and raise the SYN backlog.' % [host, cfg.diffusePrefixes, cfg.diffuseSockets, cfg.diffuseFor],
            },
          },
          // The kernel sends SYN cookies only when a listen queue overflows.
          {
            alert: 'SynguardSynCookiesSent',
            expr: |||
              rate(%s[%s]) > 0
            ||| % [sel('synguard_tcp_syncookies_sent_total'), cfg.kernelRateWindow],
            'for': cfg.kernelFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'SYN cookies being sent on %s' % host,
              description: 'The kernel on %s is sending {{ $value | humanize }} SYN cookies per second (%s average) for %s: a listen queue is full. Cookies keep legitimate clients connecting; look for a flooding prefix or a diffuse flood.' % [host, cfg.kernelRateWindow, cfg.kernelFor],
            },
          },
          {
            alert: 'SynguardListenDrops',
            expr: |||
              rate(%s[%s]) > 0
            ||| % [sel('synguard_tcp_listen_drops_total'), cfg.kernelRateWindow],
            'for': cfg.kernelFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Connections dropped at listen sockets on %s' % host,
              description: '{{ $value | humanize }} connection attempts per second (%s average) are being dropped at listen sockets on %s for %s: clients are being refused now.' % [cfg.kernelRateWindow, host, cfg.kernelFor],
            },
          },
        ]),
      },
      {
        name: 'synguard.services',
        rules: withRunbooks([
          {
            alert: 'SynguardServiceUnreachable',
            expr: |||
              %s == 0
            ||| % sel('synguard_probe_success'),
            'for': cfg.serviceFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: '{{ $labels.module }} probe of {{ $labels.target }} failing from %s' % host,
              description: 'The {{ $labels.module }} probe of {{ $labels.target }} run by %s has failed for %s; its last attempt took {{ with printf `synguard_probe_duration_seconds{instance=%%q,module=%%q,target=%%q}` $labels.instance $labels.module $labels.target | query }}{{ . | first | value | humanizeDuration }}{{ else }}an unknown time{{ end }}.' % [host, cfg.serviceFor],
            },
          },
          // A probe that has not started for probesStoppedIntervals of its
          // own interval: its success series keeps the last verdict, so a
          // stuck scheduler would look healthy forever.
          {
            alert: 'SynguardProbesStopped',
            expr: |||
              time() - %s > %d * %s
            ||| % [sel('synguard_probe_last_run_timestamp_seconds'), cfg.probesStoppedIntervals, sel('synguard_probe_interval_seconds')],
            'for': cfg.probesStoppedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: '{{ $labels.module }} probe of {{ $labels.target }} stopped running on %s' % host,
              description: "The {{ $labels.module }} probe of {{ $labels.target }} on %s last started {{ $value | humanizeDuration }} ago, more than %d of its intervals, for %s: its success and duration are stale. The exporter's log says why." % [host, cfg.probesStoppedIntervals, cfg.probesStoppedFor],
            },
          },
          // The earliest NotAfter of the chain the last TLS probe saw.
          {
            alert: 'SynguardTLSCertExpiringSoon',
            expr: |||
              %s - time() < %d * 86400
            ||| % [sel('synguard_probe_tls_cert_expiry_timestamp_seconds'), cfg.certExpiryDays],
            'for': cfg.certExpiryFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'TLS certificate of {{ $labels.target }} expires soon ({{ $labels.module }} probe from %s)' % host,
              description: 'The certificate chain {{ $labels.target }} presents to the {{ $labels.module }} probe of %s expires in {{ $value | humanizeDuration }}, under %d days. Renew it before clients refuse the service.' % [host, cfg.certExpiryDays],
            },
          },
        ]),
      },
      {
        name: 'synguard.health',
        rules: withRunbooks([
          // The exporter's two scrape jobs (SYN_RECV at 1 s, the rest) fail
          // together when it is down: one alert per target, not one per
          // job, and one too when only one of its jobs fails.
          {
            alert: 'SynguardExporterDown',
            expr: |||
              min without (job) (up{%s}) == 0
            ||| % cfg.exporterSelector,
            'for': cfg.downFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'synguard exporter on %s is down' % host,
              description: 'Prometheus has failed to scrape the exporter at {{ $labels.instance }} for %s ({{ with printf `up{instance=%%q} == 0` $labels.instance | query }}{{ range $i, $s := sortByLabel "job" . }}{{ if $i }}, {{ end }}job {{ $s.Labels.job }}{{ end }}{{ end }}): its SYN_RECV counts, kernel counters or probe results are missing, and without SYN_RECV no block alert can fire for this host.' % cfg.downFor,
            },
          },
          // Every scrape job of the exporter is up, yet none takes SYN_RECV:
          // the 1 s job is missing (or the normal job excludes syn_recv
          // without it), and no block alert can fire for this host.
          {
            alert: 'SynguardSynRecvNotScraped',
            expr: |||
              min without (job) (up{%s}) == 1
              unless on (instance, %s)
              %s
            ||| % [cfg.exporterSelector, h, sel('synguard_scrape_collector_success', ['collector="syn_recv"'])],
            'for': cfg.downFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'No scrape job takes SYN_RECV from the exporter on %s' % host,
              description: 'The exporter at {{ $labels.instance }} is scraped, but no job has taken its syn_recv collector for %s: no SYN_RECV counts from this host, so no block alert can fire for it. Add the 1 s job with params collect[]: [syn_recv] beside the job that excludes it (deploy/prometheus/prometheus.yml).' % cfg.downFor,
            },
          },
          // Two jobs both taking syn_recv (one of them without params, or
          // without exclude[]=syn_recv) double every SYN_RECV series: sums
          // over jobs and the dashboards count each socket twice.
          {
            alert: 'SynguardSynRecvScrapedTwice',
            expr: |||
              count without (job) (%s) > 1
            ||| % sel('synguard_scrape_collector_success', ['collector="syn_recv"']),
            'for': cfg.downFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'SYN_RECV of the exporter on %s is scraped by {{ $value }} jobs' % host,
              description: '{{ $value }} scrape jobs take the syn_recv collector of the exporter at {{ $labels.instance }} ({{ with printf `synguard_scrape_collector_success{instance=%q,collector="syn_recv"}` $labels.instance | query }}{{ range $i, $s := sortByLabel "job" . }}{{ if $i }}, {{ end }}{{ $s.Labels.job }}{{ end }}{{ end }}): every SYN_RECV series is stored once per job and sums count each socket that many times. Give the normal job params exclude[]: [syn_recv] (deploy/prometheus/prometheus.yml).',
            },
          },
          {
            alert: 'SynguardCollectorFailing',
            expr: |||
              %s == 0
            ||| % sel('synguard_scrape_collector_success'),
            'for': cfg.collectorFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'synguard exporter collector {{ $labels.collector }} failing on %s' % host,
              description: "The {{ $labels.collector }} collector of the exporter at {{ $labels.instance }} has failed every scrape for %s; its metrics are missing. The exporter's log says why." % cfg.collectorFor,
            },
          },
          {
            alert: 'SynguardResponderDown',
            expr: |||
              up{%s} == 0
            ||| % cfg.responderSelector,
            'for': cfg.downFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'synguard responder on %s is down' % host,
              description: 'Prometheus has failed to scrape the responder at {{ $labels.instance }} for %s: block alerts for this host are not being applied and due blocks are not being lifted.' % cfg.downFor,
            },
          },
          {
            alert: 'SynguardBackendUnreachable',
            expr: |||
              %s == 0
            ||| % sel('synguard_responder_backend_up'),
            'for': cfg.backendFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'responder on %s cannot reach {{ $labels.backend }}' % host,
              description: 'The responder at {{ $labels.instance }} has not reached its firewall backend ({{ $labels.backend }}{{ with $labels.mode }}, {{ . }} mode{{ end }}) for %s. It keeps the blocks it owns and retries, but none is applied or lifted until the backend answers.' % cfg.backendFor,
            },
          },
          {
            alert: 'SynguardBlocksNearCap',
            expr: |||
              sum by (job, instance, %(h)s) (%(active)s)
              / on (job, instance, %(h)s) %(max)s
              >= %(ratio)s
            ||| % { h: h, active: sel('synguard_responder_blocks_active'), max: sel('synguard_responder_blocks_max'), ratio: cfg.blocksNearCapRatio },
            'for': cfg.blocksNearCapFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'responder on %s is near its cap on active blocks' % host,
              description: '{{ with printf `sum(synguard_responder_blocks_active{instance=%%q})` $labels.instance | query }}{{ . | first | value }}{{ end }} blocks are active on %s, {{ $value | humanizePercentage }} of the cap of {{ with printf `synguard_responder_blocks_max{instance=%%q}` $labels.instance | query }}{{ . | first | value }}{{ end }} (threshold %s for %s). At the cap new block requests are refused (reason cap_reached).' % [host, util.percent(std.parseJson(cfg.blocksNearCapRatio)), cfg.blocksNearCapFor],
            },
          },
          // A repair means a block the responder owns was missing from the
          // firewall (a reload, a restart, another tool) and was put back. The
          // repairs of the sync that follows a reload or restart the backend
          // reported (firewall-cmd --reload drops every runtime entry) are
          // expected and counted apart, in reload_repairs_total: only the rest
          // is drift. A responder without that counter (older) counts every
          // repair, hence the `or ... * 0`.
          {
            alert: 'SynguardReconcileDrift',
            expr: |||
              increase(%(repairs)s[%(w)s])
              - (increase(%(reload)s[%(w)s]) or increase(%(repairs)s[%(w)s]) * 0)
              > 0
            ||| % { repairs: sel('synguard_responder_reconcile_repairs_total'), reload: sel('synguard_responder_reconcile_reload_repairs_total'), w: cfg.driftWindow },
            labels: { severity: 'warning' },
            annotations: {
              summary: "the firewall drifted from the responder's blocks on %s" % host,
              description: 'Reconcile on %s repaired about {{ $value | humanize }} firewall entries in the last %s that no reported reload or restart explains: something removed or changed blocks the responder owns (another tool, a hand edit, a reload the responder did not see).' % [host, cfg.driftWindow],
            },
          },
          // A sync compares the whole firewall with the desired state every
          // reconcile_interval (1m by default) and after every reload. None
          // succeeding for reconcileStaleAfter means the blocks in force are
          // unknown: the backend refuses (BackendUnreachable says so too), or
          // the loop is stuck. Never succeeded (the timestamp is 0) counts.
          {
            alert: 'SynguardReconcileStale',
            expr: |||
              time() - %s > %d
            ||| % [sel('synguard_responder_last_reconcile_success_timestamp_seconds'), cfg.reconcileStaleAfterSeconds],
            'for': cfg.reconcileStaleFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'responder on %s has not reconciled the firewall for a while' % host,
              description: "No full reconcile of the firewall has succeeded on %s for {{ $value | humanizeDuration }} (threshold %ds, for %s): what the firewall blocks now may differ from the responder's state. Its log says which backend call fails." % [host, cfg.reconcileStaleAfterSeconds, cfg.reconcileStaleFor],
            },
          },
          // A block alert the rate limit (policy.rate_per_minute, burst) or
          // the cap refused waits in the responder, which applies it as soon as
          // the bucket refills or a block ends (each at most an hour). Alerts
          // still waiting after alertsWaitingFor mean floods arrive faster than
          // the limit lets blocks land. At the cap SynguardBlockCapReached says
          // more, and Alertmanager's inhibit rule keeps this one quiet.
          {
            alert: 'SynguardAlertsWaiting',
            expr: |||
              %s > 0
            ||| % sel('synguard_responder_alerts_waiting'),
            'for': cfg.alertsWaitingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'block alerts wait for the rate limit on %s' % host,
              description: '{{ $value }} firing block alerts have waited for the rate limit or the cap on %s for %s: their prefixes flood unblocked meanwhile. synguard_responder_refused_total{reason="rate_limited"} counts the refusals; raise policy.rate_per_minute or policy.burst if the floods are real.' % [host, cfg.alertsWaitingFor],
            },
          },
          {
            alert: 'SynguardBlockCapReached',
            expr: |||
              increase(%s[%s]) > 0
            ||| % [sel('synguard_responder_refused_total', ['reason="cap_reached"']), cfg.capWindow],
            labels: { severity: 'critical' },
            annotations: {
              summary: 'responder on %s refuses blocks: cap reached' % host,
              description: 'About {{ $value | humanize }} block requests were refused on %s in the last %s because the cap on active blocks (policy.max_active_blocks) is reached: flooding prefixes are not being blocked.' % [host, cfg.capWindow],
            },
          },
          {
            alert: 'SynguardResponderPaused',
            expr: |||
              %s == 1
            ||| % sel('synguard_responder_paused'),
            'for': cfg.pausedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'responder on %s is paused' % host,
              description: 'The responder at {{ $labels.instance }} has been paused by an operator for %s: it acknowledges block alerts and changes nothing in firewalld.' % cfg.pausedFor,
            },
          },
          // 401: the bearer tokens differ; 400: a payload it cannot use (a custom
          // template, a wrong version); 413: a notification too large.
          {
            alert: 'SynguardWebhookRejected',
            expr: |||
              sum by (job, instance, %s, code) (increase(%s[%s])) > 0
            ||| % [h, sel('synguard_responder_webhooks_total', ['code=~"4.."']), cfg.webhookWindow],
            labels: { severity: 'warning' },
            annotations: {
              summary: 'responder on %s rejects Alertmanager notifications ({{ $labels.code }})' % host,
              description: "About {{ $value | humanize }} webhook notifications were answered {{ $labels.code }} by the responder at {{ $labels.instance }} in the last %s: Alertmanager's webhook config and the responder's do not agree, and those alerts change nothing." % cfg.webhookWindow,
            },
          },
          {
            alert: 'SynguardConfigReloadFailed',
            expr: |||
              %s == 0
              or %s == 0
            ||| % [sel('synguard_exporter_config_last_reload_successful'), sel('synguard_responder_config_last_reload_successful')],
            'for': cfg.reloadFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'synguard config reload failed on %s ({{ $labels.job }})' % host,
              description: 'The last configuration reload of {{ $labels.job }} at {{ $labels.instance }} failed; it runs on its previous configuration. Its log, or --config.check, says which file, line and reason.',
            },
          },
        ]),
      },
    ],
  },
}
