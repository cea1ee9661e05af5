// Small builders for Grafana dashboards in plain jsonnet (the JSON model of
// schemaVersion 39, Grafana 10.3), so that the mixin needs no grafonnet.
// Panels get their id and position from layout(); queries their refId from
// the panel that holds them.
{
  // Every panel and query variable reads the data source variable.
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // sel returns the label matchers of a selector of the exporter's series:
  // the given ones first, then the image, job, instance and account
  // variables. image: the series has an image_id of a watched image;
  // account: false for the exporter's own series, which have no account.
  sel(matchers=[], image=false, account=true)::
    '{' + std.join(', ', [m for m in matchers if m != '']
                         + (if image then ['image_id=~"$image"'] else [])
                         + ['job=~"$job"', 'instance=~"$instance"']
                         + (if account then ['account=~"$account"'] else [])) + '}',

  // imageNames: one series per watched image labelled with its name, the
  // image_id for an image that has none. topk keeps one name per image
  // (as scp:image_display_name:info does) where two exporters name it
  // differently (an HA pair mid-rollout, a name set on one side only), so
  // that the joins on it never fail with "found duplicate series".
  imageNames(image=true)::
    'max by (account, image_id, name) (topk by (account, image_id) (1, label_replace(scp_image_info%s, "name", "$1", "image_id", "(.*)") or scp_image_info%s))'
    % [self.sel(['name=""'], image), self.sel(['name!=""'], image)],

  // bounded keeps expr only while count(rows), the series its rows come
  // from, is at most n: a table of one row per image or share lists none
  // rather than tens of thousands, which no browser shows and nobody reads.
  bounded(expr, rows, n)::
    '(%s) and on () (count(%s) <= %d)' % [expr, rows, n],

  // withImageName adds the image's name label to expr, a vector of series
  // with account and image_id.
  withImageName(expr, image=true)::
    '(%s) * on (account, image_id) group_left (name) %s' % [expr, self.imageNames(image)],

  // withName adds a name label from an _info series of the expected lists to
  // expr, and keeps the series of expr that have no such name with the label
  // absent: info is joined on key, the ID label, as every family has it in
  // job, instance and account.
  withName(expr, info, key, label)::
    '(%(e)s) * on (job, instance, account, %(key)s) group_left (%(label)s) %(info)s%(sel)s or ignoring (%(label)s) (%(e)s)'
    % { e: expr, key: key, label: label, info: info, sel: $.sel() },

  // withMemberName adds member_name (scp_expected_member_info) to series
  // with a member_id.
  withMemberName(expr):: self.withName(expr, 'scp_expected_member_info', 'member_id', 'member_name'),

  // withOwnerName adds owner_name (scp_expected_image_owner_info) to series
  // with an owner.
  withOwnerName(expr):: self.withName(expr, 'scp_expected_image_owner_info', 'owner', 'owner_name'),

  // target is one query; instant for stats and tables, a range for graphs.
  target(expr, legend=null, instant=true, table=false)::
    {
      datasource: $.datasource,
      editorMode: 'code',
      expr: expr,
      range: !instant,
      instant: instant,
      format: if table then 'table' else 'time_series',
    } + (if legend != null then { legendFormat: legend } else {}),

  // steps are threshold steps from [color, value] pairs, the first value null.
  steps(pairs):: {
    mode: 'absolute',
    steps: [{ color: p[0], value: p[1] } for p in pairs],
  },

  // valueMap maps values to text and colour: [value, text, color] triples,
  // text null to keep the value.
  valueMap(triples):: [{
    type: 'value',
    options: {
      [triples[i][0]]: { color: triples[i][2], index: i }
                       + (if triples[i][1] != null then { text: triples[i][1] } else {})
      for i in std.range(0, std.length(triples) - 1)
    },
  }],

  // nanAs shows NaN as text in a colour.
  nanAs(text, color):: [{
    type: 'special',
    options: { match: 'nan', result: { text: text, color: color, index: 0 } },
  }],

  // override sets properties of the field (column or series) of that name.
  override(name, properties):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: k, value: properties[k] } for k in std.objectFields(properties)],
  },

  // colorText colours a table column by mappings or thresholds.
  colorText(name, mappings=null, thresholds=null)::
    $.override(name, { 'custom.cellOptions': { type: 'color-text' } }
                     + (if mappings != null then { mappings: mappings } else {})
                     + (if thresholds != null then { thresholds: thresholds } else {})),

  local withRefIds(targets) = [
    targets[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],

  local panel(type, title, description, targets, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: withRefIds(targets),
    gridPos: { w: w, h: h },
  },

  // stat shows one value per series.
  stat(title,
       description,
       targets,
       unit='none',
       steps=[['green', null]],
       mappings=[],
       overrides=[],
       textMode='auto',
       colorMode='value',
       w=4,
       h=4)::
    panel('stat', title, description, targets, w, h) {
      fieldConfig: {
        defaults: { unit: unit, color: { mode: 'thresholds' }, thresholds: $.steps(steps), mappings: mappings },
        overrides: overrides,
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: 'auto',
        textMode: textMode,
        colorMode: colorMode,
        graphMode: 'none',
        justifyMode: 'auto',
        wideLayout: true,
        showPercentChange: false,
      },
    },

  // timeseries graphs range queries.
  // perImage: the panel reads a series per image, so its step is at least
  // 1m and at most perImageMaxDataPoints points are asked for whatever the
  // time range (a sample per image per step counts against Prometheus's
  // --query.max-samples).
  local perImageStep(perImage) =
    if perImage then { interval: '1m', maxDataPoints: $.perImageMaxDataPoints } else {},

  // perImageMaxDataPoints: the points per series of a range query over a
  // series per image: over 1d, a step of 10m (Grafana rounds 1d/150).
  perImageMaxDataPoints:: 150,

  timeseries(title, description, targets, unit, stack=false, min=null, max=null, overrides=[], w=12, h=8, perImage=false)::
    panel('timeseries', title, description, [t { range: true, instant: false } for t in targets], w, h) + perImageStep(perImage) {
      fieldConfig: {
        defaults: {
          unit: unit,
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: 10,
            showPoints: 'never',
            spanNulls: false,
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
            axisPlacement: 'auto',
            axisSoftMin: 0,
          },
          color: { mode: 'palette-classic' },
          thresholds: $.steps([['green', null]]),
          mappings: [],
        } + (if min != null then { min: min } else {}) + (if max != null then { max: max } else {}),
        overrides: overrides,
      },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // stateTimeline shows a range query's values as coloured bands.
  stateTimeline(title, description, targets, steps, mappings, w=12, h=8, perImage=false)::
    panel('state-timeline', title, description, [t { range: true, instant: false } for t in targets], w, h) + perImageStep(perImage) {
      fieldConfig: {
        defaults: {
          color: { mode: 'thresholds' },
          thresholds: $.steps(steps),
          mappings: mappings,
          custom: { fillOpacity: 80, lineWidth: 0, spanNulls: false },
        },
        overrides: [],
      },
      options: {
        mergeValues: true,
        showValue: 'never',
        alignValue: 'left',
        rowHeight: 0.9,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  // table merges its instant queries (format table) into one row per label
  // set. columns: [field, header] pairs in the order shown; hidden: fields
  // left out besides Time; sortBy: [header, descending]; before: more
  // transformations between the merge and the organize.
  table(title,
        description,
        targets,
        columns,
        hidden=[],
        unit='none',
        steps=[['green', null]],
        mappings=[],
        overrides=[],
        sortBy=null,
        before=[],
        decimals=null,
        w=12,
        h=8)::
    panel('table', title, description, [t { format: 'table' } for t in targets], w, h) {
      transformations: [{ id: 'merge', options: {} }] + before + [{
        id: 'organize',
        options: {
          excludeByName: { Time: true } + { [f]: true for f in hidden },
          renameByName: { [c[0]]: c[1] for c in columns if c[0] != c[1] },
          indexByName: { [columns[i][0]]: i for i in std.range(0, std.length(columns) - 1) },
          includeByName: {},
        },
      }],
      fieldConfig: {
        defaults: {
          custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
          color: { mode: 'thresholds' },
          thresholds: $.steps(steps),
          mappings: mappings,
          unit: unit,
        } + (if decimals != null then { decimals: decimals } else {}),
        overrides: overrides,
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false },
      } + (if sortBy != null then { sortBy: [{ displayName: sortBy[0], desc: sortBy[1] }] } else {}),
    },

  // row starts a section; its panels follow it in the list given to layout.
  row(title):: { type: 'row', title: title, collapsed: false, panels: [], gridPos: { w: 24, h: 1 } },

  // layout numbers the panels from 1 and places them left to right, a new
  // line when the next does not fit in the 24 columns, each row on a line of
  // its own.
  layout(panels)::
    local place(state, p) =
      local w = p.gridPos.w;
      local newLine = p.type == 'row' || state.x + w > 24;
      local x = if newLine then 0 else state.x;
      local y = if newLine then state.y + state.lineH else state.y;
      {
        x: x + w,
        y: y,
        lineH: if newLine then p.gridPos.h else std.max(state.lineH, p.gridPos.h),
        out: state.out + [p { id: std.length(state.out) + 1, gridPos+: { x: x, y: y } }],
      };
    std.foldl(place, panels, { x: 0, y: 0, lineH: 0, out: [] }).out,

  // queryVariable is a variable filled by a Prometheus query, several values
  // and All (.*, which also matches an absent label) allowed.
  queryVariable(name, label, query, description, regex='')::
    {
      name: name,
      label: label,
      description: description,
      type: 'query',
      datasource: $.datasource,
      definition: query,
      query: query,
      current: { selected: true, text: ['All'], value: ['$__all'] },
      hide: 0,
      includeAll: true,
      allValue: '.*',
      multi: true,
      options: [],
      refresh: 2,
      regex: regex,
      skipUrlSync: false,
      sort: 1,
    },

  // datasourceVariable picks among the Prometheus data sources whose name
  // matches regex ('' for all); current: the one shown first ('' for
  // Grafana's default).
  datasourceVariable(regex, current)::
    {
      name: 'datasource',
      label: 'Data source',
      type: 'datasource',
      query: 'prometheus',
      current: if current == '' then {} else { selected: true, text: current, value: current },
      hide: 0,
      includeAll: false,
      multi: false,
      options: [],
      refresh: 1,
      regex: regex,
      skipUrlSync: false,
    },
}
