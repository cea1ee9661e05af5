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

  // selector writes the PromQL selector of the series named metric with
  // the label matchers of matchers, a list of matcher texts without braces
  // ('a="1"', 'b=~"x|y", c!="z"'), those that are '' left out: the plain
  // name when none is left, else metric{m1, m2}.
  selector(metric, matchers=[])::
    assert std.isString(metric) && std.length(metric) > 0 : 'want a metric name, got %s' % [metric];
    local ms = [m for m in matchers if m != ''];
    if ms == [] then metric else '%s{%s}' % [metric, std.join(', ', ms)],

  // series writes each series selector marked in the expression s as
  // ${metric} or ${metric{matchers}} with selector(), extra (label
  // matchers without braces, such as _config.scpSeriesSelector, or '')
  // added to its matchers. The rules and alerts mark every selector of an
  // scp_* or recorded scp:* series this way, so that one knob reaches them
  // all, in subqueries, joins and function arguments alike. Quoted matcher
  // values may hold braces.
  series(s, extra)::
    local parts = std.split(s, '${');
    // close is the index of the first } in p at or after i outside a
    // double-quoted string (whose \ escapes the next character).
    local close(p, i, quoted) =
      assert i < std.length(p) : 'unclosed ${...} in: ' + s;
      if quoted && p[i] == '\\' then close(p, i + 2, quoted)
      else if p[i] == '"' then close(p, i + 1, !quoted)
      else if !quoted && p[i] == '}' then i
      else close(p, i + 1, quoted);
    local mark(p) =
      local braces = [i for i in std.range(0, std.length(p) - 1) if p[i] == '{' || p[i] == '}'];
      assert braces != [] : 'unclosed ${...} in: ' + s;
      local n = braces[0], metric = std.substr(p, 0, n);
      assert std.length(metric) > 0 && std.all([std.member('abcdefghijklmnopqrstuvwxyz0123456789_:', ch) for ch in std.stringChars(metric)])
             && (std.startsWith(metric, 'scp_') || std.startsWith(metric, 'scp:')) :
             'want ${scp_name} or ${scp:name}, got ${%s in: %s' % [metric, s];
      if p[n] == '}' then
        $.selector(metric, [extra]) + std.substr(p, n + 1, std.length(p))
      else
        local end = close(p, n + 1, false);
        assert end + 1 < std.length(p) && p[end + 1] == '}' : 'want } after the matchers of ${%s in: %s' % [metric, s];
        $.selector(metric, [std.substr(p, n + 1, end - n - 1), extra]) + std.substr(p, end + 2, std.length(p));
    parts[0] + std.join('', [mark(p) for p in parts[1:]]),
}
