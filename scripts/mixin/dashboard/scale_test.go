package dashboard

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
)

// Prometheus's default --query.max-samples.
const maxSamples = 50_000_000

// The estate of TestQueriesAtScale: a security team's 50,000 images, each
// shared with 3 accounts none of which is expected yet (a fresh install
// without expected lists, the worst case of the unexpected shares),
// failingImages of them failing their members fetch.
const (
	estateImages  = 50_000
	failingImages = 50
)

// TestQueriesAtScale runs every query of the dashboard, with every
// variable All, on 50,000 images × 3 members (500,000 series), as
// Grafana runs them over the default 6h and over 1d: each loads fewer than
// Prometheus's default --query.max-samples (50M) at once, and no table or
// graph gets more than maxRows rows or series. That takes two minutes and
// 2 GB, so by default it runs on a tenth of the estate against a tenth of
// the limit (the samples a query loads grow with the series); with
// SCP_DASHBOARD_SCALE=1 on all of it. -v logs each query's peak samples and
// rows.
func TestQueriesAtScale(t *testing.T) {
	scaleImages, limit := estateImages/10, maxSamples/10
	if os.Getenv("SCP_DASHBOARD_SCALE") != "" {
		scaleImages, limit = estateImages, maxSamples
	}
	d := defaultDashboard(t)
	db := teststorage.New(t)
	// A sample every 5h from 0 to 25h, seen for 6h (the engine's lookback):
	// every step of a range query up to 1d finds one, as it would find a
	// scrape a minute before.
	times := []int64{}
	for h := 0; h <= 25; h += 5 {
		times = append(times, int64(h)*int64(time.Hour/time.Millisecond))
	}
	type sample struct {
		l labels.Labels
		v float64
	}
	var all []sample
	add := func(v float64, kv ...string) {
		all = append(all, sample{labels.FromStrings(append([]string{"job", "scp_exporter", "instance", "e:9", "account", "prod"}, kv...)...), v})
	}
	now := float64(times[len(times)-1] / 1000)
	for i := range scaleImages {
		img := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		add(1, "__name__", "scp_image_info", "image_id", img, "name", fmt.Sprintf("image-%d", i))
		for m, status := range []string{"accepted", "accepted", "pending"} {
			member := fmt.Sprintf("%032x", i*3+m)
			add(1, "__name__", "scp_image_member_info", "image_id", img, "member_id", member, "status", status, "expected", "false")
		}
		add(now-3600, "__name__", "scp_image_member_updated_timestamp_seconds", "image_id", img, "member_id", fmt.Sprintf("%032x", i*3+2))
		for s, n := range map[string]float64{"accepted": 2, "pending": 1, "rejected": 0} {
			add(n, "__name__", "scp_image_members", "image_id", img, "status", s)
		}
		ok := 1.0
		if i < failingImages {
			ok = 0
			add(1, "__name__", "scp_image_members_scrape_error", "image_id", img, "reason", "server_error")
		}
		add(ok, "__name__", "scp_image_members_scrape_success", "image_id", img)
		add(0, "__name__", "scp_image_visibility_unexpected", "image_id", img, "visibility", "shared")
	}
	for _, kv := range [][]string{
		{"__name__", "scp_api_rate_limit_requests_per_second"},
		{"__name__", "scp_image_member_limit_default"},
		{"__name__", "scp_image_members_stalest_age_seconds"},
	} {
		add(10, kv...)
	}
	// In time order: the head refuses samples far older than its newest.
	refs := make([]storage.SeriesRef, len(all))
	for _, ts := range times {
		app := db.Appender(t.Context())
		for i, s := range all {
			r, err := app.Append(refs[i], s.l, ts, s.v)
			if err != nil {
				t.Fatal(err)
			}
			refs[i] = r
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d series", len(all))

	engine := promqltest.NewTestEngine(t, false, 6*time.Hour, limit)
	end := time.UnixMilli(times[len(times)-1])
	run := func(p panel, refID, expr string, rng time.Duration) (peak, rows int) {
		t.Helper()
		expr = allSelected.ReplaceAllString(strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", rng.String()).Replace(expr), ".*")
		var q promql.Query
		var err error
		ranged := p.Type != "table" && p.Type != "stat"
		if ranged {
			step := stepOf(t, p, rng)
			q, err = engine.NewRangeQuery(t.Context(), db, nil, expr, end.Add(-rng), end, step)
		} else {
			q, err = engine.NewInstantQuery(t.Context(), db, nil, expr, end)
		}
		if err != nil {
			t.Fatalf("panel %q query %s: %v", p.Title, refID, err)
		}
		defer q.Close()
		res := q.Exec(t.Context())
		if res.Err != nil {
			t.Errorf("panel %q query %s over %s: %v", p.Title, refID, rng, res.Err)
			return -1, 0
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			rows = len(v)
		case promql.Matrix:
			rows = len(v)
		}
		return q.Stats().Samples.PeakSamples, rows
	}
	worst := 0
	walk(d.Panels, func(p panel) {
		for _, q := range p.Targets {
			for _, rng := range []time.Duration{6 * time.Hour, 24 * time.Hour} {
				start := time.Now()
				peak, rows := run(p, q.RefID, q.Expr, rng)
				t.Logf("%-40q %s %3s: peak %10d samples, %6d rows or series, %s", p.Title, q.RefID, rng, peak, rows, time.Since(start).Round(time.Millisecond))
				worst = max(worst, peak)
				if rows > maxRows {
					t.Errorf("panel %q query %s over %s: %d rows or series, want %d at most", p.Title, q.RefID, rng, rows, maxRows)
				}
				if p.Type == "table" || p.Type == "stat" {
					break // an instant query: one run, with $__range as 6h
				}
			}
		}
	})
	t.Logf("%d images: the most samples a query loads at once: %d (limit %d)", scaleImages, worst, limit)
}
