package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// maxRows is the default dashboardTableMaxRows: the most rows a panel of
// images or shares may ask for.
const maxRows = 5000

// perRow are the labels that make a row (or a graph's series) per image or
// per share.
var perRow = []string{"image_id", "member_id"}

// perImage reports whether a panel's rows or series are per image or per
// share: a table with an image or member column, or a graph whose legend
// names one.
func perImage(p panel) bool {
	for _, tr := range p.Transformations {
		for _, l := range perRow {
			if _, ok := tr.Options.IndexByName[l]; ok {
				return true
			}
		}
	}
	for _, q := range p.Targets {
		for _, l := range append(perRow, "name") {
			if strings.Contains(q.LegendFormat, "{{"+l+"}}") {
				return true
			}
		}
	}
	return false
}

// bound returns the most rows expr can give: n of its outermost
// `(...) and on () (count(...) <= n)` guard or `topk(n, ...)`; 0 without
// either.
func bound(e parser.Expr) float64 {
	e = unparen(e)
	switch e := e.(type) {
	case *parser.AggregateExpr:
		if e.Op == parser.TOPK {
			if n, ok := e.Param.(*parser.NumberLiteral); ok {
				return n.Val
			}
		}
	case *parser.BinaryExpr:
		m := e.VectorMatching
		if e.Op != parser.LAND || m == nil || !m.On || len(m.MatchingLabels) != 0 {
			return 0
		}
		cmp, ok := unparen(e.RHS).(*parser.BinaryExpr)
		if !ok || cmp.Op != parser.LTE {
			return 0
		}
		count, ok := cmp.LHS.(*parser.AggregateExpr)
		n, isNumber := cmp.RHS.(*parser.NumberLiteral)
		if ok && isNumber && count.Op == parser.COUNT && len(count.Grouping) == 0 {
			return n.Val
		}
	}
	return 0
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// TestPerImagePanelsBounded: every query of a panel with a row or series
// per image or share is bounded by a guard or topk of at most maxRows, so
// that 50,000 images × 3 members never send 150,000 rows to the browser;
// and every query that gives series with image_id or member_id on the test
// series is such a panel's.
func TestPerImagePanelsBounded(t *testing.T) {
	d := defaultDashboard(t)
	bounded := 0
	walk(d.Panels, func(p panel) {
		per := perImage(p)
		for _, q := range p.Targets {
			if !per {
				for _, r := range rows(t, q.Expr, nil) {
					for _, l := range perRow {
						if strings.Contains(r, l+`="`) {
							t.Errorf("panel %q query %s gives a row per image or share (%s) but has no image or member column or legend", p.Title, q.RefID, r)
						}
					}
				}
				continue
			}
			e := parse(t, q.Expr)
			if e == nil {
				continue
			}
			if n := bound(e); n <= 0 || n > maxRows {
				t.Errorf("panel %q query %s: a row per image or share, bounded by %v (want a guard or topk of 1 to %d): %s", p.Title, q.RefID, n, maxRows, q.Expr)
			} else {
				bounded++
			}
		}
	})
	if bounded < 10 {
		t.Errorf("%d bounded queries; the test reads the dashboard wrong", bounded)
	}
	// The bound follows the knob.
	_, small := evaluate(t, "dashboardTableMaxRows: 2")
	walk(small.Panels, func(p panel) {
		if p.Title != "Every share" {
			return
		}
		if n := bound(parse(t, p.Targets[0].Expr)); n != 2 {
			t.Errorf("Every share with dashboardTableMaxRows 2: bounded by %v", n)
		}
	})
}

// TestEveryShareNarrowed: "Every share" lists nothing while the selection
// holds more shares than the bound, and every share once narrowed to at
// most that many; "Shares selected" counts them either way.
func TestEveryShareNarrowed(t *testing.T) {
	_, d := evaluate(t, "dashboardTableMaxRows: 2")
	expr, count := query(t, d, "Every share", "A"), query(t, d, "Shares selected", "A")
	for _, c := range []struct {
		vars  map[string]string
		rows  int
		count string
	}{
		{nil, 0, "4"},
		{map[string]string{"account": "prod"}, 0, "3"},
		{map[string]string{"member": "m1"}, 2, "2"},
		{map[string]string{"expected": "false"}, 1, "1"},
	} {
		if got := rows(t, expr, c.vars); len(got) != c.rows {
			t.Errorf("with %v: %d rows %q, want %d", c.vars, len(got), got, c.rows)
		}
		if got := values(t, count, c.vars); len(got) != 1 || got[0] != c.count {
			t.Errorf("Shares selected with %v: %v, want %s", c.vars, got, c.count)
		}
	}
}

// stepOf returns the step Grafana asks for a range query over rng: the
// range over the panel's maxDataPoints (1000, about a wide panel's pixels,
// when unset), rounded as Grafana rounds intervals, and no finer than the
// panel's interval.
func stepOf(t *testing.T, p panel, rng time.Duration) time.Duration {
	t.Helper()
	points := p.MaxDataPoints
	if points == 0 {
		points = 1000
	}
	step := roundInterval(rng / time.Duration(points))
	if p.Interval != "" {
		d, err := time.ParseDuration(p.Interval)
		if err != nil {
			t.Fatalf("panel %q: interval %q: %v", p.Title, p.Interval, err)
		}
		step = max(step, d)
	}
	return step
}

// roundInterval is Grafana's rounding of a computed interval (rangeutil),
// for the intervals of ranges from an hour to a month.
func roundInterval(d time.Duration) time.Duration {
	for _, r := range []struct{ below, to time.Duration }{
		{7500 * time.Millisecond, 5 * time.Second},
		{12500 * time.Millisecond, 10 * time.Second},
		{17500 * time.Millisecond, 15 * time.Second},
		{25 * time.Second, 20 * time.Second},
		{45 * time.Second, 30 * time.Second},
		{90 * time.Second, time.Minute},
		{210 * time.Second, 2 * time.Minute},
		{450 * time.Second, 5 * time.Minute},
		{750 * time.Second, 10 * time.Minute},
		{1050 * time.Second, 15 * time.Minute},
		{1500 * time.Second, 20 * time.Minute},
		{2700 * time.Second, 30 * time.Minute},
		{5400 * time.Second, time.Hour},
		{9000 * time.Second, 2 * time.Hour},
		{16200 * time.Second, 3 * time.Hour},
		{24300 * time.Second, 6 * time.Hour},
	} {
		if d < r.below {
			return r.to
		}
	}
	return 12 * time.Hour
}

// perImageSeries are the exporter's families with a series per image or
// share.
var perImageSeries = map[string]bool{
	"scp_image_info": true, "scp_image_member_info": true, "scp_image_members": true,
	"scp_image_members_scrape_success": true, "scp_image_members_scrape_error": true,
	"scp_image_visibility_unexpected": true, "scp_image_member_limit": true,
	"scp_image_member_updated_timestamp_seconds": true, "scp_image_member_created_timestamp_seconds": true,
	"scp_image_change_timestamp_seconds": true, "scp_image_change_info": true,
}

// TestPerImageRangeQueriesStep: a graph that reads a series per image asks
// for a step of at least 1m, and over 1d for at most 1440 points (a 1m
// step) — 300 at most, so that 150,000 series stay under Prometheus's
// default --query.max-samples of 50M; a subquery over such series steps
// by 1m or more, 1440 steps at most.
func TestPerImageRangeQueriesStep(t *testing.T) {
	d := defaultDashboard(t)
	graphs := 0
	walk(d.Panels, func(p panel) {
		reads := false
		for _, q := range p.Targets {
			e := parse(t, q.Expr)
			if e == nil {
				continue
			}
			for _, v := range selectors(e) {
				reads = reads || perImageSeries[v.Name]
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				sq, ok := n.(*parser.SubqueryExpr)
				if !ok {
					return nil
				}
				for _, v := range selectors(sq.Expr) {
					if perImageSeries[v.Name] && (sq.Step < time.Minute || sq.Range/sq.Step > 1440) {
						t.Errorf("panel %q query %s: subquery [%s:%s] over %s: want a step of 1m or more, 1440 steps at most", p.Title, q.RefID, sq.Range, sq.Step, v.Name)
					}
				}
				return nil
			})
		}
		if !reads || p.Type == "table" || p.Type == "stat" {
			return
		}
		graphs++
		for _, rng := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
			step := stepOf(t, p, rng)
			if step < time.Minute || rng/step > 300 {
				t.Errorf("panel %q over %s: step %s, %d points per series; want 1m or more, 300 at most (interval %q, maxDataPoints %d)", p.Title, rng, step, rng/step, p.Interval, p.MaxDataPoints)
			}
		}
	})
	if graphs < 3 {
		t.Errorf("%d graphs of per-image series; the test reads the dashboard wrong", graphs)
	}
}

// TestEmptyExporterSelector: an empty scpExporterSelector (every job) still
// gives queries that parse, and the up query reads up of the job chosen.
func TestEmptyExporterSelector(t *testing.T) {
	_, d := evaluate(t, "scpExporterSelector: ''")
	ups := 0
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			e := parse(t, q.Expr)
			if e == nil {
				continue
			}
			for _, v := range selectors(e) {
				if v.Name == "up" {
					ups++
					if !hasMatcher(v.LabelMatchers, "job") {
						t.Errorf("panel %q: %s does not follow the job variable", p.Title, v)
					}
				}
			}
		}
	})
	if ups == 0 {
		t.Error("no panel reads up")
	}
	for _, v := range d.Templating.List {
		if v.Name == "job" {
			parse(t, strings.TrimSuffix(strings.TrimPrefix(v.Query, "label_values("), ", job)"))
		}
	}
}

func hasMatcher(ms []*labels.Matcher, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return true
		}
	}
	return false
}
