// Helpers shared by the rules and alerts of the mixin. Plain jsonnet, no
// library: import it as 'lib/utils.libsonnet' relative to mixin/.
{
  // fold joins the lines of a text block with single spaces and drops the
  // final newline, as a YAML folded scalar (>-) does: long annotations are
  // written on several lines here and read as one line of text.
  fold(s):: std.join(' ', std.split(std.rstripChars(s, '\n'), '\n')),

  // secondsExpr writes a number of seconds as PromQL the way the rules have
  // always written their thresholds: whole days as `N * 86400`, whole
  // minutes as `N * 60`, anything else as the plain number.
  secondsExpr(s)::
    assert std.isNumber(s) && s >= 0 : 'want a number of seconds, got %s' % [s];
    if s > 0 && s % 86400 == 0 then '%d * 86400' % (s / 86400)
    else if s > 0 && s % 60 == 0 then '%d * 60' % (s / 60)
    else std.toString(s),

  // humanizeDuration is Prometheus' template function of that name for
  // whole seconds: 900 -> "15m 0s", 90000 -> "1d 1h 0m 0s".
  humanizeDuration(s)::
    local d = std.floor(s / 86400),
          h = std.floor(s % 86400 / 3600),
          m = std.floor(s % 3600 / 60),
          sec = s % 60;
    if d > 0 then '%dd %dh %dm %ds' % [d, h, m, sec]
    else if h > 0 then '%dh %dm %ds' % [h, m, sec]
    else if m > 0 then '%dm %ds' % [m, sec]
    else '%ds' % sec,

  // promDuration writes whole seconds as a Prometheus duration in its
  // largest whole unit: 900 -> "15m", 3600 -> "1h".
  promDuration(s)::
    if s > 0 && s % 86400 == 0 then '%dd' % (s / 86400)
    else if s > 0 && s % 3600 == 0 then '%dh' % (s / 3600)
    else if s > 0 && s % 60 == 0 then '%dm' % (s / 60)
    else '%ds' % s,

  // durationWords writes a Prometheus duration of one unit in words for
  // alert texts: "15m" -> "15 minutes", "1h" -> "1 hour"; anything else
  // (such as "1h30m") as it is.
  durationWords(d)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
    local n = std.substr(d, 0, std.length(d) - 1), u = d[std.length(d) - 1];
    if std.length(d) > 1 && std.objectHas(units, u) && std.all([std.member('0123456789', ch) for ch in std.stringChars(n)])
    then '%s %s%s' % [n, units[u], if n == '1' then '' else 's']
    else d,

  // subst replaces each $(name) in s by vars[name] (a string or number), for
  // the rules' knobs: PromQL and alert templates both use % (printf), so the
  // knobs go in with this one mark instead. A $(name) left over is an error.
  subst(s, vars)::
    local out = std.foldl(function(acc, k) std.strReplace(acc, '$(' + k + ')', std.toString(vars[k])), std.objectFields(vars), s);
    assert std.length(std.findSubstr('$(', out)) == 0 : 'unknown $(...) in: ' + out;
    out,
}
