// Helpers the rules and the dashboard share.
{
  // selector('m', ['a="b"']) is m{a="b"}, with the config's metricSelector
  // first when set, and the bare name when nothing matches.
  selector(cfg, metric, matchers=[])::
    local all = std.filter(function(m) m != '', [cfg.metricSelector] + matchers);
    if std.length(all) == 0 then metric else metric + '{' + std.join(', ', all) + '}',

  // The host's name in an annotation: the host label, else the instance
  // (a scrape job without the label still says where).
  hostRef(cfg):: '{{ with $labels.%s }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }}' % cfg.hostLabel,

  runbook(pattern, alert):: pattern % std.asciiLower(alert),

  // A percentage as the descriptions write it (0.8 -> 80%).
  percent(r):: '%d%%' % std.round(r * 100),
}
