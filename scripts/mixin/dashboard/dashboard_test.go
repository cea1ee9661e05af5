package dashboard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-jsonnet"
	"github.com/prometheus/prometheus/promql/parser"
)

const (
	// selector is mixin/config.libsonnet's default scpExporterSelector.
	selector = `job=~".*scp[-_]exporter.*"`
	key      = "scp-image-sharing.json"
)

// dashboard is the part of the Grafana JSON model the tests read.
type dashboard struct {
	UID        string   `json:"uid"`
	Title      string   `json:"title"`
	Tags       []string `json:"tags"`
	Refresh    string   `json:"refresh"`
	Timezone   string   `json:"timezone"`
	Editable   bool     `json:"editable"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      string          `json:"query"`
	Regex      string          `json:"regex"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Current    json.RawMessage `json:"current"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Interval      string `json:"interval"`
	MaxDataPoints int    `json:"maxDataPoints"`
	Targets       []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		SortBy []struct {
			DisplayName string `json:"displayName"`
			Desc        bool   `json:"desc"`
		} `json:"sortBy"`
	} `json:"options"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			RenameByName map[string]string `json:"renameByName"`
			IndexByName  map[string]int    `json:"indexByName"`
		} `json:"options"`
	} `json:"transformations"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// evaluated holds the mixin's output for each snippet evaluate has run:
// the tests ask for the default dashboard a dozen times.
var evaluated sync.Map // snippet -> string

// evaluate returns the JSON of the dashboard the mixin makes with the
// _config fields given (jsonnet), each set overriding the mixin's own and
// those before it, and the dashboard decoded (a copy of its own).
func evaluate(t *testing.T, configs ...string) ([]byte, dashboard) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("(import 'mixin.libsonnet')")
	for _, c := range configs {
		sb.WriteString(" + { _config+:: { " + c + " } }")
	}
	snippet := sb.String()
	cached, ok := evaluated.Load(snippet)
	if !ok {
		vm := jsonnet.MakeVM()
		vm.Importer(&jsonnet.FileImporter{JPaths: []string{"../../../mixin"}})
		out, err := vm.EvaluateAnonymousSnippet("dashboard_test.jsonnet", "("+snippet+").grafanaDashboards")
		if err != nil {
			t.Fatalf("evaluating %s: %v", snippet, err)
		}
		cached, _ = evaluated.LoadOrStore(snippet, out)
	}
	out := cached.(string)
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatal(err)
	}
	raw, ok := all[key]
	if !ok || len(all) != 1 {
		t.Fatalf("grafanaDashboards has %v, want only %s", slices.Sorted(maps.Keys(all)), key)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes(), d
}

func defaultDashboard(t *testing.T) dashboard {
	t.Helper()
	_, d := evaluate(t)
	return d
}

// walk calls f for every panel that is not a row, rows' own panels too.
func walk(panels []panel, f func(p panel)) {
	for _, p := range panels {
		walk(p.Panels, f)
		if p.Type != "row" {
			f(p)
		}
	}
}

// TestDashboardShape: panels with unique ids, placed on the 24-column grid
// without overlapping, each with queries of the data source variable.
func TestDashboardShape(t *testing.T) {
	d := defaultDashboard(t)
	if !strings.Contains(d.Title, "SCP") || d.UID != "scp-image-sharing" || d.Editable {
		t.Errorf("title %q, uid %q, editable %v", d.Title, d.UID, d.Editable)
	}
	ids := map[int]string{}
	var placed []panel
	var all func([]panel)
	all = func(panels []panel) {
		for _, p := range panels {
			all(p.Panels)
			if other, dup := ids[p.ID]; dup || p.ID <= 0 {
				t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, other)
			}
			ids[p.ID] = p.Title
			g := p.GridPos
			if g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, g)
				continue
			}
			for _, q := range placed {
				h := q.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					t.Errorf("panels %q %+v and %q %+v overlap", p.Title, *g, q.Title, *h)
				}
			}
			placed = append(placed, p)
		}
	}
	all(d.Panels)
	titles := map[string]bool{}
	walk(d.Panels, func(p panel) {
		if titles[p.Title] {
			t.Errorf("two panels titled %q", p.Title)
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not read the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: query %q: %q", p.Title, q.RefID, q.Expr)
			}
			refs[q.RefID] = true
		}
	})
	// The panels of the dashboard before the mixin (Config reload is in
	// Config and list files now), and the new ones.
	for _, title := range []string{
		"Images watched", "Unexpected shares", "Pending shares", "Images not fetched", "API version in use",
		"Guaranteed support ends in", "Unexpected shares now", "Members by status", "Pending shares and their age",
		"Share counts against max_members", "Who changed it", "Unexpected visibility", "Offers from unexpected owners",
		"Accepted from unexpected owners", "Watched images by visibility", "Images with unexpected visibility now",
		"Images offered to us", "Images accepted from other accounts", "Time since the last successful listing",
		"Members fetch failures per image", "Images with failed members fetches", "Shares selected", "Coverage", "Stalest members fetch",
		"Full pass over every image", "Effective API rate and 429s", "API requests", "API latency",
		"API errors and retries", "Scrape duration", "Config loaded",
		"Exporters up", "Stalest members answer", "Oldest listing", "API errors", "Config and list files", "Every share",
	} {
		if !titles[title] {
			t.Errorf("no panel %q", title)
		}
	}
	// Exporter health comes first.
	if len(d.Panels) < 2 || d.Panels[0].Type != "row" || d.Panels[0].Title != "Exporter health" || d.Panels[1].Title != "Exporters up" {
		t.Errorf("the dashboard does not start with the exporter's health")
	}
}

// usedVariable finds the variables a query uses: $name and ${name}.
var usedVariable = regexp.MustCompile(`\$\{?([A-Za-z_]\w*)`)

// builtin are Grafana's own variables.
var builtin = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

// TestVariables: every variable a query uses is defined, before the
// variables whose queries use it; each filter variable takes several values
// and All; every filter is used by panels.
func TestVariables(t *testing.T) {
	d := defaultDashboard(t)
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		for _, m := range usedVariable.FindAllStringSubmatch(v.Query, -1) {
			if !defined[m[1]] {
				t.Errorf("variable %s uses $%s, not defined before it", v.Name, m[1])
			}
		}
		defined[v.Name] = true
		if v.Name == "datasource" {
			if v.Type != "datasource" || v.Query != "prometheus" {
				t.Errorf("datasource variable: %+v", v)
			}
			continue
		}
		if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
			t.Errorf("variable %s: type %s, multi %v, includeAll %v, allValue %q", v.Name, v.Type, v.Multi, v.IncludeAll, v.AllValue)
		}
		if v.Regex != "" {
			re, err := regexp.Compile(strings.Trim(v.Regex, "/"))
			if err != nil || re.SubexpIndex("value") < 0 || re.SubexpIndex("text") < 0 {
				t.Errorf("variable %s: regex %q must capture value and text: %v", v.Name, v.Regex, err)
			}
		}
	}
	for _, name := range []string{"datasource", "job", "instance", "account", "image", "member", "expected"} {
		if !defined[name] {
			t.Errorf("no %s variable", name)
		}
	}
	used := map[string]bool{}
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			for _, m := range usedVariable.FindAllStringSubmatch(q.Expr, -1) {
				used[m[1]] = true
				if !defined[m[1]] && !builtin[m[1]] {
					t.Errorf("panel %q query %s uses $%s, which is not defined", p.Title, q.RefID, m[1])
				}
			}
		}
	})
	for name := range defined {
		if name != "datasource" && !used[name] {
			t.Errorf("no panel uses the %s variable", name)
		}
	}
}

// knownSeries returns the metric names a dashboard query may read: the
// families of the demo's golden metrics (single and multi-account), the
// recording rules, Prometheus's own per-target series, and the names of the
// expected lists.
func knownSeries(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{
		"up":                      true,
		"scrape_duration_seconds": true,
		// Not in the demo: only with --collector.member-timestamps=all (the
		// pending-age panel reads it when the updated time is absent), and
		// once the API announces the end of a version's support.
		"scp_image_member_created_timestamp_seconds":    true,
		"scp_api_version_support_end_timestamp_seconds": true,
		// The names given beside the IDs of the expected lists.
		"scp_expected_member_info":      true,
		"scp_expected_image_owner_info": true,
	}
	goldens, err := filepath.Glob("../../../e2e/testdata/demo_metrics*.golden")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden metrics: %v", err)
	}
	// # name TYPE "help"
	family := regexp.MustCompile(`^# (\w+) (GAUGE|COUNTER|HISTOGRAM|SUMMARY|UNTYPED) `)
	for _, path := range goldens {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(f)
		s.Buffer(nil, 1<<20)
		for s.Scan() {
			m := family.FindStringSubmatch(s.Text())
			if m == nil {
				continue
			}
			known[m[1]] = true
			switch m[2] {
			case "HISTOGRAM":
				known[m[1]+"_bucket"], known[m[1]+"_sum"], known[m[1]+"_count"] = true, true, true
			case "SUMMARY":
				known[m[1]+"_sum"], known[m[1]+"_count"] = true, true
			}
		}
		f.Close()
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := os.ReadFile("../../../alerts/scp_exporter.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	records := regexp.MustCompile(`(?m)^\s*-?\s*record:\s*(\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(records) == 0 {
		t.Fatal("no recording rules in the rules file")
	}
	for _, m := range records {
		known[m[1]] = true
	}
	return known
}

// grafana replaces the variables as Grafana does with All selected, and its
// own interval variables.
var grafana = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "6h")

// allSelected replaces each $variable left by grafana with All's value.
var allSelected = regexp.MustCompile(`\$\{?[A-Za-z_]\w*\}?`)

func parse(t *testing.T, expr string) parser.Expr {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(allSelected.ReplaceAllString(grafana.Replace(expr), ".*"))
	if err != nil {
		t.Errorf("%v\n%s", err, expr)
		return nil
	}
	return e
}

// selectors returns the vector selectors of expr.
func selectors(e parser.Expr) []*parser.VectorSelector {
	var vs []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if v, ok := n.(*parser.VectorSelector); ok {
			vs = append(vs, v)
		}
		return nil
	})
	return vs
}

// TestQueriesReadKnownSeries: every query (and query variable) parses as
// PromQL once Grafana has replaced its variables, and reads only series
// the exporter, its recording rules or Prometheus make.
func TestQueriesReadKnownSeries(t *testing.T) {
	d := defaultDashboard(t)
	known := knownSeries(t)
	check := func(where, expr string) {
		e := parse(t, expr)
		if e == nil {
			return
		}
		vs := selectors(e)
		if len(vs) == 0 {
			t.Errorf("%s reads no series: %s", where, expr)
		}
		for _, v := range vs {
			if !known[v.Name] {
				t.Errorf("%s reads %s, a series nothing makes", where, v.Name)
			}
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+), *\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Query
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		} else if inner, ok := strings.CutPrefix(q, "query_result("); ok {
			q = strings.TrimSuffix(inner, ")")
		} else {
			t.Errorf("variable %s: query %q", v.Name, q)
			continue
		}
		check("variable "+v.Name, q)
	}
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			check(fmt.Sprintf("panel %q query %s", p.Title, q.RefID), q.Expr)
		}
	})
}

// TestConfigKnobs: the selector, the thresholds and the dashboard's knobs
// show in what the mixin makes; the selector reaches the job variable and
// the up query, the only series not the exporter's own.
func TestConfigKnobs(t *testing.T) {
	const custom = `job="platform/scp", cluster="eu"`
	out, d := evaluate(t, `scpExporterSelector: '`+custom+`', membersRefreshMaxAgeSeconds: 3600,
		dashboardUID: 'scp-uid', dashboardTitle: 'SCP sharing (eu)', dashboardTags: ['eu'],
		dashboardRefresh: '5m', dashboardTimezone: 'utc',
		dashboardDatasourceRegex: '/^eu-.*/', dashboardDatasource: 'eu-prometheus'`)
	if bytes.Contains(out, []byte(`scp[-_]exporter`)) {
		t.Error("the default selector is left in the dashboard")
	}
	if d.UID != "scp-uid" || d.Title != "SCP sharing (eu)" || !slices.Equal(d.Tags, []string{"eu"}) || d.Refresh != "5m" || d.Timezone != "utc" {
		t.Errorf("uid %q, title %q, tags %v, refresh %q, timezone %q", d.UID, d.Title, d.Tags, d.Refresh, d.Timezone)
	}
	for _, v := range d.Templating.List {
		switch v.Name {
		case "datasource":
			if v.Regex != "/^eu-.*/" || !bytes.Contains(v.Current, []byte(`"eu-prometheus"`)) {
				t.Errorf("datasource variable: regex %q, current %s", v.Regex, v.Current)
			}
		case "job":
			if v.Query != "label_values(scp_exporter_build_info{"+custom+"}, job)" {
				t.Errorf("job variable: %q", v.Query)
			}
		}
	}
	ups := 0
	walk(d.Panels, func(p panel) {
		if p.Title == "Stalest members answer" {
			if steps := p.FieldConfig.Defaults.Thresholds.Steps; len(steps) != 2 || steps[1].Value == nil || *steps[1].Value != 3600 {
				t.Errorf("%s: thresholds %+v, want orange from membersRefreshMaxAgeSeconds", p.Title, p.FieldConfig.Defaults.Thresholds.Steps)
			}
		}
		for _, q := range p.Targets {
			e := parse(t, q.Expr)
			for _, v := range selectors(e) {
				if v.Name != "up" {
					continue
				}
				ups++
				if s := v.String(); !strings.Contains(s, `job="platform/scp"`) || !strings.Contains(s, `cluster="eu"`) {
					t.Errorf("panel %q: %s lacks the selector", p.Title, v)
				}
			}
		}
	})
	if ups == 0 {
		t.Error("no panel reads up")
	}
}

// TestEveryShareTable: the table of every share filters by account, image,
// member and expected, names the member where the expected lists do, and
// lists unexpected shares first.
func TestEveryShareTable(t *testing.T) {
	d := defaultDashboard(t)
	var share *panel
	walk(d.Panels, func(p panel) {
		if p.Title == "Every share" {
			share = &p
		}
	})
	if share == nil {
		t.Fatal(`no "Every share" panel`)
	}
	expr := share.Targets[0].Expr
	for _, want := range []string{`account=~"$account"`, `image_id=~"$image"`, `member_id=~"$member"`, `expected=~"$expected"`, "scp_expected_member_info", "group_left (member_name)"} {
		if !strings.Contains(expr, want) {
			t.Errorf("the query lacks %s: %s", want, expr)
		}
	}
	if s := share.Options.SortBy; len(s) != 1 || s[0].DisplayName != "Expected" || s[0].Desc {
		t.Errorf("sorted by %+v, want Expected ascending (false first)", s)
	}
	var columns []string
	for _, tr := range share.Transformations {
		for _, c := range tr.Options.RenameByName {
			columns = append(columns, c)
		}
	}
	for _, want := range []string{"Image", "Image ID", "Member account", "Member name", "Status", "Expected"} {
		if !slices.Contains(columns, want) {
			t.Errorf("no %s column in %v", want, columns)
		}
	}
}
