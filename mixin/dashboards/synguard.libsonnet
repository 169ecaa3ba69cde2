// The synguard dashboard (dashboards/synguard.json): what an operator opens
// during an attack. Every query selects on the job and host variables; the
// host label's name and the thresholds drawn come from _config, so the lines
// on the graphs are the alerts' own numbers.
local util = import '../lib/util.libsonnet';

{
  local cfg = $._config,
  local h = cfg.hostLabel,
  local ds = { type: 'prometheus', uid: '${datasource}' },
  // A metric selected by the dashboard's variables, plus matchers.
  local q(metric, matchers=[]) = util.selector(cfg, metric, ['job=~"$job"', '%s=~"$host"' % h] + matchers),

  grafanaDashboards+:: {
    'synguard.json':
      {
        uid: 'synguard',
        title: 'synguard: SYN floods, blocks and services',
        description: 'What an operator opens during an attack: SYN_RECV by source prefix and port, SYN cookies and listen drops, service probes, and what the responder blocked in the firewall.',
        tags: [
          'synguard',
          'prometheus',
        ],
        editable: false,
        graphTooltip: 1,
        refresh: '10s',
        schemaVersion: 39,
        version: 1,
        time: {
          from: 'now-1h',
          to: 'now',
        },
        timepicker: {},
        timezone: '',
        links: [
          {
            title: 'Runbook',
            type: 'link',
            url: cfg.dashboardRunbookURL,
            targetBlank: true,
          },
        ],
        annotations: {
          list: [
            {
              builtIn: 1,
              datasource: {
                type: 'grafana',
                uid: '-- Grafana --',
              },
              enable: true,
              hide: true,
              iconColor: 'rgba(0, 211, 255, 1)',
              name: 'Annotations & Alerts',
              type: 'dashboard',
            },
            {
              datasource: ds,
              enable: true,
              iconColor: 'red',
              name: 'Block alerts',
              expr: util.selector(cfg, 'ALERTS', ['alertname="SynguardPrefixFlooding"', 'alertstate="firing"', 'job=~"$job"', '%s=~"$host"' % h]),
              titleFormat: '{{alertname}}',
              textFormat: '{{' + h + '}} {{prefix}}',
              step: '30s',
              useValueForTime: false,
            },
          ],
        },
        templating: {
          list: [
            {
              type: 'datasource',
              name: 'datasource',
              label: 'Data source',
              query: 'prometheus',
              current: {},
              hide: 0,
              refresh: 1,
              regex: '',
              options: [],
            },
            {
              type: 'query',
              name: 'job',
              label: 'Job',
              description: "The exporter's two jobs (synguard-exporter-syn-recv: SYN_RECV every 1 s; synguard-exporter: kernel counters, probes, the rest) and the responder's. The SYN_RECV panels need the first.",
              datasource: ds,
              query: {
                query: 'label_values(up{job=~"%s"}, job)' % cfg.jobRegex,
                refId: 'job',
              },
              definition: 'label_values(up{job=~"%s"}, job)' % cfg.jobRegex,
              multi: true,
              includeAll: true,
              allValue: cfg.jobRegex,
              current: {},
              refresh: 2,
              sort: 1,
              regex: '',
              hide: 0,
              options: [],
            },
            {
              type: 'query',
              name: 'host',
              label: 'Host',
              datasource: ds,
              query: {
                query: 'label_values(up{job=~"$job"}, %s)' % h,
                refId: 'host',
              },
              definition: 'label_values(up{job=~"$job"}, %s)' % h,
              multi: true,
              includeAll: true,
              allValue: '.*',
              current: {},
              refresh: 2,
              sort: 1,
              regex: '',
              hide: 0,
              options: [],
            },
          ],
        },
        panels: [
          {
            type: 'row',
            id: 1,
            title: 'Attack: SYN_RECV by source',
            collapsed: false,
            gridPos: {
              x: 0,
              y: 0,
              w: 24,
              h: 1,
            },
            panels: [],
          },
          {
            type: 'timeseries',
            id: 2,
            title: 'SYN_RECV sockets by source prefix (top 10)',
            description: 'Half-open TCP connections per source prefix (IPv4 /27, IPv6 /64 by default): the ten with the highest peak over the range, the same ten all along; the red line is the block threshold of SynguardPrefixFlooding (%d in %s). prefix="other" sums every prefix beyond the exporter\'s top N and is never blocked.' % [cfg.prefixFloodSockets, cfg.prefixFloodConfirm],
            datasource: ds,
            gridPos: {
              x: 0,
              y: 1,
              w: 16,
              h: 9,
            },
            targets: [
              {
                datasource: ds,
                // topk alone would pick ten anew at every step and draw every
                // prefix that was ever in the top ten: pin the ten at the end
                // of the range, by their peak over it.
                expr: q('synguard_syn_recv_sockets', ['prefix!="other"']) + ' and topk(10, max_over_time(' + q('synguard_syn_recv_sockets', ['prefix!="other"']) + '[$__range] @ end()))',
                legendFormat: '{{' + h + '}}' + ' {{prefix}}',
                refId: 'A',
                range: true,
              },
              {
                datasource: ds,
                expr: 'sum by (' + h + ', family) (' + q('synguard_syn_recv_sockets', ['prefix="other"']) + ')',
                legendFormat: '{{' + h + '}}' + ' other ({{family}})',
                refId: 'B',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
                custom: {
                  thresholdsStyle: {
                    mode: 'line',
                  },
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'red',
                      value: cfg.prefixFloodSockets,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'bargauge',
            id: 3,
            title: 'Top source prefixes now',
            description: 'The ten prefixes with the most SYN_RECV sockets at the end of the range, over the selected hosts. These are what the block alert names.',
            datasource: ds,
            gridPos: {
              x: 16,
              y: 1,
              w: 8,
              h: 9,
            },
            targets: [
              {
                datasource: ds,
                expr: 'topk(10, sum by (prefix) (' + q('synguard_syn_recv_sockets', ['prefix!="other"']) + '))',
                legendFormat: '{{prefix}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: cfg.fleetHostSockets,
                    },
                    {
                      color: 'red',
                      value: cfg.prefixFloodSockets,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              displayMode: 'gradient',
              orientation: 'horizontal',
              showUnfilled: true,
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 4,
            title: 'SYN_RECV sockets by local port',
            description: 'Half-open connections per listening local port, all sources: which service is being flooded (25 SMTP, 110 POP3, 80/443 HTTP, 21 FTP, ...).',
            datasource: ds,
            gridPos: {
              x: 0,
              y: 10,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', port) (' + q('synguard_syn_recv_port_sockets') + ')',
                legendFormat: '{{' + h + '}}' + ' :{{port}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 5,
            title: 'Distinct source prefixes and addresses',
            description: 'How spread the SYN_RECV sources are. A few prefixes holding many sockets is a concentrated flood (blocked by prefix); thousands of prefixes with a few sockets each is a spoofed, diffuse flood (SynguardDiffuseFlood: not blocked, rely on SYN cookies).',
            datasource: ds,
            gridPos: {
              x: 8,
              y: 10,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_syn_recv_prefixes'),
                legendFormat: '{{' + h + '}}' + ' prefixes ({{family}})',
                refId: 'A',
                range: true,
              },
              {
                datasource: ds,
                expr: q('synguard_syn_recv_sources'),
                legendFormat: '{{' + h + '}}' + ' sources ({{family}})',
                refId: 'B',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 6,
            title: 'SYN cookies, listen overflows and drops',
            description: 'Kernel TcpExt counters as per-second rates. SYN cookies are sent when a listen queue is full; listen overflows and drops are connection attempts the kernel discarded: clients refused now.',
            datasource: ds,
            gridPos: {
              x: 16,
              y: 10,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'rate(' + q('synguard_tcp_syncookies_sent_total') + '[$__rate_interval])',
                legendFormat: '{{' + h + '}}' + ' SYN cookies sent',
                refId: 'A',
                range: true,
              },
              {
                datasource: ds,
                expr: 'rate(' + q('synguard_tcp_listen_overflows_total') + '[$__rate_interval])',
                legendFormat: '{{' + h + '}}' + ' listen overflows',
                refId: 'B',
                range: true,
              },
              {
                datasource: ds,
                expr: 'rate(' + q('synguard_tcp_listen_drops_total') + '[$__rate_interval])',
                legendFormat: '{{' + h + '}}' + ' listen drops',
                refId: 'C',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'row',
            id: 7,
            title: 'Services: reachability probes',
            collapsed: false,
            gridPos: {
              x: 0,
              y: 18,
              w: 24,
              h: 1,
            },
            panels: [],
          },
          {
            type: 'stat',
            id: 8,
            title: 'Probe status now',
            description: 'One tile per probed service: the result of its last probe (ICMP, TCP, SMTP, POP3, HTTP(S), FTP), run by the exporter in the background.',
            datasource: ds,
            gridPos: {
              x: 0,
              y: 19,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_probe_success'),
                legendFormat: '{{module}} {{target}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'DOWN',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'UP',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'value_and_name',
              orientation: 'auto',
              justifyMode: 'auto',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'state-timeline',
            id: 9,
            title: 'Probe status over time',
            description: "Each probe's result over the range: when services stopped answering, and whether they answered again once the flooding prefix was blocked.",
            datasource: ds,
            gridPos: {
              x: 8,
              y: 19,
              w: 16,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_probe_success'),
                legendFormat: '{{module}} {{target}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'DOWN',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'UP',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              showValue: 'never',
              mergeValues: true,
              rowHeight: 0.8,
              legend: {
                showLegend: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 10,
            title: 'Probe duration',
            description: "How long each service's last probe took, whole dialogue included. A flooded service slows down before it stops answering.",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 27,
              w: 12,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_probe_duration_seconds'),
                legendFormat: '{{module}} {{target}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 11,
            title: 'Probe duration by phase',
            description: "The last probe's time per phase (resolve, connect, tls, banner, dialogue, ...), stacked: a slow connect is the SYN backlog, a slow banner is the service itself.",
            datasource: ds,
            gridPos: {
              x: 12,
              y: 27,
              w: 12,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (module, target, phase) (' + q('synguard_probe_phase_duration_seconds') + ')',
                legendFormat: '{{module}} {{target}} {{phase}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                min: 0,
                custom: {
                  stacking: {
                    mode: 'normal',
                    group: 'A',
                  },
                  fillOpacity: 30,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'row',
            id: 12,
            title: 'Responder: blocks in the firewall',
            collapsed: false,
            gridPos: {
              x: 0,
              y: 35,
              w: 24,
              h: 1,
            },
            panels: [],
          },
          {
            type: 'stat',
            id: 13,
            title: 'Active blocks',
            description: 'Prefixes the responder holds blocked in the firewall now, per host, against the configured cap on active blocks. At the cap new blocks are refused (reason cap_reached) and SynguardBlocksNearCap fires from %s.' % util.percent(std.parseJson(cfg.blocksNearCapRatio)),
            datasource: ds,
            gridPos: {
              x: 0,
              y: 36,
              w: 6,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ') (' + q('synguard_responder_blocks_active') + ')',
                legendFormat: '{{' + h + '}}' + ' active',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
              {
                datasource: ds,
                expr: 'max by (' + h + ') (' + q('synguard_responder_blocks_max') + ')',
                legendFormat: '{{' + h + '}}' + ' cap',
                refId: 'B',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'blue',
                      value: null,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'value',
              graphMode: 'none',
              textMode: 'value_and_name',
              orientation: 'horizontal',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 14,
            title: 'Active blocks by family',
            description: 'Blocks over the range, by address family, with the cap as a dashed line.',
            datasource: ds,
            gridPos: {
              x: 6,
              y: 36,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', family) (' + q('synguard_responder_blocks_active') + ')',
                legendFormat: '{{' + h + '}}' + ' {{family}}',
                refId: 'A',
                range: true,
              },
              {
                datasource: ds,
                expr: 'max by (' + h + ') (' + q('synguard_responder_blocks_max') + ')',
                legendFormat: '{{' + h + '}}' + ' cap',
                refId: 'B',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
              },
              overrides: [
                {
                  matcher: {
                    id: 'byRegexp',
                    options: '.* cap',
                  },
                  properties: [
                    {
                      id: 'custom.lineStyle',
                      value: {
                        fill: 'dash',
                        dash: [
                          10,
                          10,
                        ],
                      },
                    },
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'red',
                      },
                    },
                  ],
                },
              ],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'table',
            id: 15,
            title: 'Blocks and their expiry',
            description: 'Every prefix the responder blocks, with the time left until its block is lifted. Blocks end by expiry (longer for repeat offenders) or by an operator, not when the alert resolves.',
            datasource: ds,
            gridPos: {
              x: 14,
              y: 36,
              w: 10,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_responder_block_expiry_timestamp_seconds') + ' - time()',
                legendFormat: '{{' + h + '}}' + ' {{prefix}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'text',
                      value: null,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              showHeader: true,
              sortBy: [
                {
                  displayName: 'Time left',
                  desc: false,
                },
              ],
            },
            transformations: [
              {
                id: 'reduce',
                options: {
                  reducers: [
                    'lastNotNull',
                  ],
                  mode: 'seriesToRows',
                },
              },
              {
                id: 'organize',
                options: {
                  renameByName: {
                    Field: 'Block',
                    'Last *': 'Time left',
                  },
                },
              },
            ],
          },
          {
            type: 'timeseries',
            id: 16,
            title: 'Responder actions',
            description: "What the responder did to the firewall, per second, by action and result (a failed result is a backend error; see the responder's audit log).",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 44,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', action, result) (rate(' + q('synguard_responder_actions_total') + '[$__rate_interval]))',
                legendFormat: '{{' + h + '}}' + ' {{action}} {{result}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 17,
            title: 'Refusals by reason',
            description: 'Alerts and requests the responder refused, per second, by reason: allowlisted, too_broad, cap_reached, rate_limited, other_host, unauthorized, ... A refusal is policy working, or a misconfiguration.',
            datasource: ds,
            gridPos: {
              x: 8,
              y: 44,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', reason) (rate(' + q('synguard_responder_refused_total') + '[$__rate_interval]))',
                legendFormat: '{{' + h + '}}' + ' {{reason}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 18,
            title: 'Webhook notifications by status code',
            description: 'Alertmanager notifications the responder answered, per second, by HTTP status: 401 is a token mismatch, 400 a payload it cannot use, 500 a state it could not save (Alertmanager retries).',
            datasource: ds,
            gridPos: {
              x: 16,
              y: 44,
              w: 8,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', code) (rate(' + q('synguard_responder_webhooks_total') + '[$__rate_interval]))',
                legendFormat: '{{' + h + '}}' + ' {{code}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'stat',
            id: 19,
            title: 'Firewall backend reachable',
            description: 'Whether the responder reaches its firewall backend (firewalld over D-Bus) now. While it does not, blocks are kept and retried, but nothing is applied or lifted.',
            datasource: ds,
            gridPos: {
              x: 0,
              y: 52,
              w: 4,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_responder_backend_up'),
                legendFormat: '{{' + h + '}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'DOWN',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'UP',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'value_and_name',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'stat',
            id: 20,
            title: 'Responder paused',
            description: 'Whether an operator paused the responder: paused, it acknowledges block alerts and changes nothing in the firewall (SynguardResponderPaused).',
            datasource: ds,
            gridPos: {
              x: 4,
              y: 52,
              w: 4,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_responder_paused'),
                legendFormat: '{{' + h + '}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'ACTIVE',
                        color: 'green',
                        index: 0,
                      },
                      '1': {
                        text: 'PAUSED',
                        color: 'orange',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'value_and_name',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 21,
            title: 'Backend errors by operation',
            description: 'Failed calls of the firewall backend per second, by operation (prepare, add, remove, sync); each is retried with backoff.',
            datasource: ds,
            gridPos: {
              x: 8,
              y: 52,
              w: 8,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ', op) (rate(' + q('synguard_responder_backend_errors_total') + '[$__rate_interval]))',
                legendFormat: '{{' + h + '}}' + ' {{op}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'timeseries',
            id: 22,
            title: 'Reconcile repairs',
            description: 'Entries reconcile put back into the firewall, per second: blocks lost to a firewall reload or restart, or removed by another tool.',
            datasource: ds,
            gridPos: {
              x: 16,
              y: 52,
              w: 8,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: 'sum by (' + h + ') (rate(' + q('synguard_responder_reconcile_repairs_total') + '[$__rate_interval]))',
                legendFormat: '{{' + h + '}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'row',
            id: 23,
            title: 'Health',
            collapsed: false,
            gridPos: {
              x: 0,
              y: 58,
              w: 24,
              h: 1,
            },
            panels: [],
          },
          {
            type: 'stat',
            id: 24,
            title: 'Scrape targets up',
            description: "Whether Prometheus scrapes each synguard job of each host: the exporter's two (synguard-exporter-syn-recv, SYN_RECV every 1 s; synguard-exporter, the rest) and the responder's.",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 59,
              w: 8,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: q('up'),
                legendFormat: '{{' + h + '}}' + ' {{job}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'DOWN',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'UP',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'value_and_name',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'stat',
            id: 25,
            title: 'Exporter collectors',
            description: 'Whether each exporter collector succeeded at the last scrape; a failing one has its metrics missing (SynguardCollectorFailing).',
            datasource: ds,
            gridPos: {
              x: 8,
              y: 59,
              w: 8,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_scrape_collector_success'),
                legendFormat: '{{' + h + '}}' + ' {{collector}}',
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'FAILED',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'OK',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'value_and_name',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 26,
            title: 'Collector duration',
            description: 'Time each exporter collector took per scrape (syn_recv in its 1 s job, the others in the normal one). The sock_diag SYN_RECV dump stays in tens of milliseconds at 100,000 sockets.',
            datasource: ds,
            gridPos: {
              x: 16,
              y: 59,
              w: 8,
              h: 6,
            },
            targets: [
              {
                datasource: ds,
                expr: q('synguard_scrape_collector_duration_seconds'),
                legendFormat: '{{' + h + '}}' + ' {{collector}}',
                refId: 'A',
                range: true,
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                min: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'right',
                calcs: [
                  'lastNotNull',
                  'max',
                ],
                showLegend: true,
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            type: 'row',
            id: 27,
            title: 'Who floods, and across the fleet',
            collapsed: false,
            gridPos: {
              x: 0,
              y: 65,
              w: 24,
              h: 1,
            },
            panels: [],
          },
          {
            type: 'table',
            id: 28,
            title: 'Origin of the flooding prefixes now',
            description: "The runbook's whois step: AS and country of each prefix with its own SYN_RECV series, from the exporter's origin databases (examples/exporter.yml, origin:). Empty without databases.",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 66,
              w: 12,
              h: 9,
            },
            targets: [
              {
                datasource: ds,
                refId: 'A',
                instant: true,
                range: false,
                format: 'table',
                expr: 'topk(20, sum by (prefix, asn, as_org, country) (' + q('synguard_syn_recv_sockets', ['prefix!="other"']) + ' * on (job, instance, family, prefix) group_left (asn, as_org, country) ' + q('synguard_syn_recv_prefix_origin_info') + '))',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
              },
              overrides: [],
            },
            options: {
              showHeader: true,
              sortBy: [
                {
                  displayName: 'Value',
                  desc: true,
                },
              ],
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                  },
                  renameByName: {
                    Value: 'SYN_RECV sockets',
                    as_org: 'AS organisation',
                    asn: 'AS',
                    country: 'country',
                  },
                },
              },
            ],
          },
          {
            type: 'bargauge',
            id: 29,
            title: 'Prefixes by number of hosts flooded',
            description: "How many hosts each prefix floods: hosts holding at least %(sockets)d SYN_RECV sockets from it, the fleet rule's per-host threshold (rules/fleet.rules.yml; counted once per host however often it is scraped). At %(hosts)d hosts (the rule's K, red) SynguardFleetPrefixFlooding blocks the prefix on every host. Keep Host at All for the whole fleet." % { sockets: cfg.fleetHostSockets, hosts: cfg.fleetHosts },
            datasource: ds,
            gridPos: {
              x: 12,
              y: 66,
              w: 12,
              h: 9,
            },
            targets: [
              {
                datasource: ds,
                refId: 'A',
                instant: true,
                range: false,
                format: 'time_series',
                legendFormat: '{{prefix}}',
                expr: 'topk(10, count by (prefix) (max by (prefix, ' + h + ') (' + q('synguard_syn_recv_sockets', ['prefix!="other"']) + ') >= ' + cfg.fleetHostSockets + '))',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
                decimals: 0,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 1,
                    },
                    {
                      color: 'red',
                      value: cfg.fleetHosts,
                    },
                  ],
                },
              },
              overrides: [],
            },
            options: {
              displayMode: 'gradient',
              orientation: 'horizontal',
              showUnfilled: true,
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          },
          {
            type: 'timeseries',
            id: 30,
            title: 'Active blocks per host',
            description: "Blocks each host's responder holds in its firewalld. With fleet-scoped alerts every host holds the fleet's blocks; a host-scoped block shows on its host only.",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 75,
              w: 24,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                refId: 'A',
                legendFormat: '{{' + h + '}}',
                expr: 'sum by (' + h + ') (' + q('synguard_responder_blocks_active') + ')',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                min: 0,
                custom: {
                  drawStyle: 'line',
                  fillOpacity: 10,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'list',
                placement: 'bottom',
              },
              tooltip: {
                mode: 'multi',
              },
            },
          },
          {
            type: 'timeseries',
            id: 31,
            title: 'Packets dropped by the nftables backend',
            description: "Packets from blocked prefixes that the responder's own table (inet synguard, firewall.backend: nftables) dropped, per second, by family and hook (prerouting: SYNs before conntrack; input: other new traffic). Empty with the firewalld backend, whose drops firewalld does not count.",
            datasource: ds,
            gridPos: {
              x: 0,
              y: 83,
              w: 24,
              h: 8,
            },
            targets: [
              {
                datasource: ds,
                refId: 'A',
                legendFormat: '{{' + h + '}} {{family}} {{hook}}',
                expr: 'sum by (' + h + ', family, hook) (rate(' + q('synguard_responder_nftables_dropped_packets_total') + '[$__rate_interval]))',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'pps',
                min: 0,
                custom: {
                  drawStyle: 'line',
                  fillOpacity: 10,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'list',
                placement: 'bottom',
              },
              tooltip: {
                mode: 'multi',
              },
            },
          },
        ],
      },
  },
}
