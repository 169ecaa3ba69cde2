// The mixin's knobs. Override any of them from your own jsonnet:
//
//   (import 'synguard/mixin.libsonnet') + { _config+:: { hostLabel: 'node' } }
//
// Every threshold an alert uses sits here once: the expression, its `for:`
// and the sentence in its description all read the same field, so they
// cannot disagree (rules/tests pin the numbers of the defaults).
{
  _config+:: {
    // Selectors of the scrape jobs, for `up` and the dashboard's job
    // variable. The fleet and the single-host deployments name the jobs so
    // (deploy/prometheus/prometheus.yml, deploy/fleet/prometheus.yml): the
    // exporter has two, synguard-exporter-syn-recv (SYN_RECV only, every
    // 1 s) and synguard-exporter (everything else), with the same targets;
    // exporterSelector matches both (a single job of either name works too).
    exporterSelector: 'job=~"synguard-exporter|synguard-exporter-syn-recv"',
    responderSelector: 'job="synguard-responder"',
    // Extra matchers ANDed into every selector of an exporter or responder
    // metric ('' = none): e.g. 'env="prod"' when several synguard
    // deployments share one Prometheus.
    metricSelector: '',
    // The dashboard's job variable offers the jobs matching this: the
    // exporter's two, the responder's.
    jobRegex: 'synguard-.*',

    // The target label naming a machine. The exporter and the responder on
    // one host have different instances, so alerts and the dashboard group
    // by this label, and the responder applies a host-scoped block only on
    // the host this label names (its config's host: must equal the label's
    // value, and its alerts.host_label this name).
    hostLabel: 'host',

    // Where an alert's runbook section is: %s is the alert name in lower
    // case, the anchor docs/ uses.
    runbookURLPattern: 'https://github.com/synguard/synguard/blob/main/docs/runbook.md#%s',
    fleetRunbookURLPattern: 'https://github.com/synguard/synguard/blob/main/docs/fleet.md#%s',
    dashboardRunbookURL: 'https://github.com/synguard/synguard/blob/main/docs/runbook.md',

    // SynguardPrefixFlooding: sockets from one prefix, seen in two
    // consecutive scrapes (alerts.libsonnet says how and why).
    prefixFloodSockets: 50,
    // What the rule waits for, as its description and the dashboard say it.
    prefixFloodConfirm: 'two consecutive scrapes',
    // The look-back of the two-scrapes test, a subquery [lookback:step].
    // Shorter than the shortest scrape interval supported (1s): two samples
    // seen within it are adjacent ones, with no stale marker between. The
    // step bounds how long a new sample goes unseen. Neither is a multiple
    // of the other's offsets in rules/tests, so no step sits on the range's
    // start there (Prometheus 2.x includes it, 3.x does not).
    prefixFloodLookback: '975ms',
    prefixFloodStep: '50ms',
    // How long the alert keeps firing after the test stops holding: it
    // holds for about the look-back after each new sample, so this must
    // cover the rest of a scrape interval, or the alert resolves and fires
    // again every scrape (it still fires at every second sample: noise, never
    // a missed block). 1s fits the shipped 1 s SYN_RECV job; set it to that
    // job's interval if it is longer. Keep it short: it is also how long the
    // alert outlives the flood's sockets, and a block that expires or is
    // lifted while the alert still fires is not asked for again until
    // Alertmanager's repeat_interval (the alert never changed).
    // keep_firing_for needs Prometheus 2.42 or later, which refuses no
    // other field of these rules; null leaves it out, for an older
    // Prometheus (Debian 11 ships 2.24): the alert then resolves and fires
    // again between samples, noise that blocks nothing more or less.
    prefixFloodKeepFiringFor: '1s',
    // The block group's own evaluation interval: how long a confirming
    // sample waits for an evaluation (a rule evaluation of one subquery
    // over the top-N series costs well under a millisecond).
    blockGroupInterval: '100ms',
    // SynguardDiffuseFlood: distinct prefixes AND sockets in one family.
    diffusePrefixes: 64,
    diffuseSockets: 256,
    diffuseFor: '1m',
    // SynguardSynCookiesSent, SynguardListenDrops: the rate window and hold.
    kernelRateWindow: '2m',
    kernelFor: '1m',
    serviceFor: '1m',
    downFor: '1m',
    collectorFor: '5m',
    backendFor: '30s',
    // SynguardBlocksNearCap: share of policy.max_active_blocks, written as
    // PromQL shows it (a string: jsonnet would print 0.8 as 0.80000000000000004).
    blocksNearCapRatio: '0.8',
    blocksNearCapFor: '1m',
    capWindow: '5m',
    driftWindow: '10m',
    pausedFor: '5m',
    webhookWindow: '10m',
    reloadFor: '1m',
    // SynguardReconcileStale: seconds since the last successful full
    // reconcile (reconcile_interval is 1m by default).
    reconcileStaleAfterSeconds: 900,
    reconcileStaleFor: '5m',
    // SynguardAlertsWaiting: how long block alerts may wait for the limit.
    alertsWaitingFor: '5m',
    // SynguardProbesStopped: intervals without a probe start, and the hold.
    probesStoppedIntervals: 3,
    probesStoppedFor: '2m',
    // SynguardTLSCertExpiringSoon: days left, and the hold.
    certExpiryDays: 14,
    certExpiryFor: '10m',

    // Fleet (rules/fleet.rules.yml): per-host sockets, and hosts.
    fleetHostSockets: 25,
    fleetHosts: 2,
    fleetFor: '0s',
  },
}
