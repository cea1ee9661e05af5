package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// The /metrics answer written through exposition must say what promhttp
// says from const metrics: the same families, HELP, TYPE and samples.

// awkwardScope has what the text formats must escape or order with care:
// quotes, backslashes, newlines and non-ASCII in label values, an unknown
// status, fractional and missing timestamps and durations, an image that
// failed after a good fetch (its members kept), one gone (not_found), one
// not fetched yet, a discovered image, discovery and offers, a default
// share-count limit with one image below it and one (0) without any,
// request counters and durations, a rate, an audit trail and two
// expected-list files (shown once however many accounts name them). Its
// accounts' sources return their view at once.
func awkwardScope(multi bool) Scope {
	t1 := time.Date(2025, 7, 22, 9, 0, 0, 0, time.UTC)
	t2 := time.Date(2025, 11, 2, 8, 30, 0, 500_000_000, time.UTC)
	const discovered = "11111111-2222-4333-8444-555555555555"
	const notYet = "99999999-8888-4777-8666-555555555555"
	v, _ := scp.LookupAPIVersion("1.1")
	view := engine.View{
		Images: []engine.ImageView{
			{
				Image: engine.Image{ID: imgA, Name: `gold "ubuntu" \ 24.04`, Expected: map[string]bool{acctExpected: true}, AllowedVisibility: map[string]bool{"private": true}},
				Members: []scp.Member{
					{ID: acctExpected, Status: "accepted", CreatedAt: t1, UpdatedAt: t2},
					{ID: acctOther, Status: "pending", CreatedAt: t2},
					{ID: acctThird, Status: "revoked"},
				},
				Known: true, Fetched: t2, ChangedSince: t1, ChangedAt: t2,
			},
			{Image: engine.Image{ID: imgB, Name: "Ωmega\nnext"}, Members: []scp.Member{}, Known: true, Fetched: t2},
			{Image: engine.Image{ID: imgC, Name: "gone"}, Err: &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}, Reason: scp.ReasonNotFound},
			{
				Image:   engine.Image{ID: discovered, Name: "disc\\overed \"one\"\nline2", Expected: map[string]bool{acctOther: true}},
				Members: []scp.Member{{ID: acctOther, Status: "accepted", CreatedAt: t1}},
				Known:   true, Fetched: t1,
				Err: &scp.APIError{StatusCode: 503, Reason: scp.ReasonServerError}, Reason: scp.ReasonServerError, // failed since
			},
			{Image: engine.Image{ID: notYet, Name: "new"}, Err: errors.New("not yet"), Reason: engine.ReasonNotFetchedYet},
		},
		Inventory: inventory.State{
			Discovered:  []scp.Image{{ID: discovered, Name: "disc\\overed \"one\"\nline2"}},
			Visibility:  map[string]string{imgA: "private", imgB: "public", discovered: "shared"},
			Pending:     []scp.PendingImage{{ID: imgC, Name: "offered é", Owner: acctThird}},
			Accepted:    []scp.Image{{ID: notYet + "0", Name: "taken \"in\"", Owner: acctThird}, {ID: notYet + "1", Name: "vendor", Owner: acctExpected}},
			Status:      inventory.Status{Images: 1, LastSuccess: t1, PendingLastSuccess: t2, AcceptedLastSuccess: t2, Tried: true},
			Discovering: true,
		},
		StalestAge:      1234567890 * time.Nanosecond,
		PassDuration:    3*time.Minute + 250*time.Millisecond,
		Passes:          2,
		MinPassDuration: 20 * time.Millisecond,
	}
	info := scp.ServiceInfo{
		URL: "https://virtualserver.kr-west1.e.samsungsdscloud.com", Source: scp.SourceCatalog, Requested: "1.1", APIVersion: v,
		VersionsRead: true, Versions: []scp.ServerVersion{{ID: "1.1", Status: "deprecated"}, {ID: "1.3", Status: "current"}}, Offered: true,
	}
	trail := &audit.Status{
		LastSuccess: t2, Interval: 5 * time.Minute, Failures: 2,
		Events:  map[string]uint64{"UpdateImageMember": 3, audit.UnnamedEvent: 1, `odd "name" \ é`: 2},
		Skipped: map[string]uint64{scp.AnomalyMissingID: 1},
	}
	lists := []trustlist.Status{
		{Path: `/etc/scp/expected "members" \ é.txt`, IDs: []string{acctExpected, acctOther}, LastSuccess: t1, Generation: 2},
		{Path: "/etc/scp/missing.txt", Err: errors.New("no such file")},
	}
	acct := func(name string) Account {
		return &testAccount{Name: name, Source: newStaticSource(view), APIVersion: v, ExpectedOwners: map[string]bool{acctExpected: true},
			Service:    func() (scp.ServiceInfo, bool) { return info, true },
			MaxMembers: account.MaxMembers{Default: 3, PerImage: map[string]int{imgA: 2, imgB: 0}},
			Changes:    changesByWindow{imgA: {{EventName: "UpdateImageMember", UserID: "user-\"7\"", Time: t2.Add(-time.Minute)}}},
			Requests:   awkwardRequests(), Budget: scp.NewBudget(12.5, 4, nil), Audit: trail, Lists: lists,
			ExpectedMembers:     []config.Named{{ID: acctExpected, Name: `Partner "Bank" \ é`}, {ID: acctOther}},
			ExpectedImageOwners: []config.Named{{ID: acctExpected, Name: "Vendor"}},
			Storage:             &account.StorageStatus{Restored: account.RestoreForeign, LastWrite: time.Unix(1.7e9, 0), WriteFailures: 2, Bytes: 1234}}
	}
	t := Scope{Accounts: []Account{acct("")}, ScrapeTimeout: 10 * time.Second}
	if multi {
		t.Accounts = []Account{acct("prod"), acct("staging-east")}
		t.MultiAccount = true
	}
	return t
}

// awkwardRequests are the request counters of a client that has made a
// call of each kind the request families show: answered, retried after a
// 503 then answered, refused (404), answered with an entry skipped. Made
// once: they are only read afterwards.
var awkwardRequests = sync.OnceValue(func() *scp.Metrics {
	m := scp.NewMetrics()
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", RequestTimeout: 10 * time.Second, MaxRetries: 1, Metrics: m})
	if err != nil {
		panic(err)
	}
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB)
	fake.SetFault(imgA, scptest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	fake.SetFault(imgB, scptest.Fault{Status: http.StatusOK, Body: `{"members":["junk"]}`})
	ctx := context.Background()
	if _, err := client.ListImageMembers(ctx, imgA); err != nil {
		panic(err)
	}
	if _, err := client.ListImageMembers(ctx, imgB); err != nil {
		panic(err)
	}
	if _, err := client.ListImageMembers(ctx, imgC); scp.ReasonOf(err) != scp.ReasonNotFound {
		panic(fmt.Sprintf("members of an unknown image: %v, want not found", err))
	}
	return m
})

// baseRegistry is a stand-in for the exporter's own metrics: counters, a
// histogram, labelled gauges, names that sort before, between and after the
// collector's, a help text to escape.
func baseRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scp_other_total", Help: "Between \"image\" and \\ pending."}, []string{"operation", "code"})
	c.WithLabelValues("list_image_members", "200").Add(1234)
	c.WithLabelValues("list_images", "error").Add(0.5)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scp_exporter_test_seconds", Help: "Latency.", Buckets: []float64{.01, .1, 1}})
	h.Observe(0.05)
	h.Observe(2)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scp_exporter_build_info", Help: "Build."}, []string{"version", "goversion"})
	info.WithLabelValues("1.2.3", "go1.26").Set(1)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "aaa_first", Help: "Sorts first."})
	g.Set(-1)
	z := prometheus.NewGauge(prometheus.GaugeOpts{Name: "zzz_last", Help: "Sorts last."})
	z.Set(12345678.5)
	reg.MustRegister(c, h, info, g, z)
	return reg
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(v...))
}

type answer struct {
	code    int
	header  http.Header
	body    string
	encoded bool
}

func serve(t *testing.T, h http.Handler, r *http.Request) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	a := answer{code: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		a.body, a.encoded = string(b), true
	}
	return a
}

// promhttpHandler serves c through the registry and promhttp alone.
func promhttpHandler(c *Collector, base prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		promhttp.HandlerFor(prometheus.Gatherers{reg, base}, opts).ServeHTTP(w, r)
	})
}

// allSeries exports every optional series.
var allSeries = account.SeriesOptions{MemberTimestamps: account.TimestampsAll, ImageVisibility: true}

func withSeries(s Scope, series account.SeriesOptions) Scope {
	s.Series = series
	return s
}

func TestMetricsAnswerMatchesPromhttp(t *testing.T) {
	const prometheus3Accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	const protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	accepts := []string{
		"",
		"text/plain;version=0.0.4",
		"text/plain;version=1.0.0;escaping=underscores",
		"application/openmetrics-text;version=1.0.0",
		"application/openmetrics-text;version=0.0.1;escaping=values",
		prometheus3Accept,
		protobuf,
		"application/json",
	}
	for _, multi := range []bool{false, true} {
		for _, series := range []account.SeriesOptions{{}, allSeries} {
			// Both handlers scrape the same state: the sources' views are fixed.
			c := New(withSeries(awkwardScope(multi), series), log.NewNopLogger())
			base := baseRegistry()
			var errLog logLines
			for _, opts := range []promhttp.HandlerOpts{
				{EnableOpenMetrics: true, ErrorLog: &errLog}, // the exporter's
				{ErrorLog: &errLog},                          // the text format only
				{EnableOpenMetrics: true, DisableCompression: true, ErrorLog: &errLog},
			} {
				// promhttp logs its own quirks (it refuses "gzip;q=0.0" with an
				// error): only this handler's log counts.
				slowOpts := opts
				slowOpts.ErrorLog = nil
				fast, slow := c.Handler(base, 0, opts), promhttpHandler(c, base, slowOpts)
				for _, accept := range accepts {
					for _, enc := range []string{"", "gzip", "GZIP", "identity", "gzip;q=0, identity", "gzip;q=0.0", "br, gzip;q=0.5"} {
						if enc == "gzip;q=0.0" && (accept == protobuf || accept == "application/json") {
							continue // promhttp serves these, and logs an error for that header
						}
						name := fmt.Sprintf("multi=%v/series=%+v/om=%v/nogzip=%v/accept=%q/encoding=%q", multi, series, opts.EnableOpenMetrics, opts.DisableCompression, accept, enc)
						req := func() *http.Request {
							r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
							if accept != "" {
								r.Header.Set("Accept", accept)
							}
							if enc != "" {
								r.Header.Set("Accept-Encoding", enc)
							}
							return r
						}
						got, want := serve(t, fast, req()), serve(t, slow, req())
						if got.code != http.StatusOK || want.code != http.StatusOK {
							t.Fatalf("%s: status %d, promhttp %d: %s", name, got.code, want.code, want.body)
						}
						for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
							if g, w := strings.Join(got.header.Values(h), ", "), strings.Join(want.header.Values(h), ", "); g != w {
								t.Errorf("%s: %s %q, promhttp %q", name, h, g, w)
							}
						}
						if diff := compareFamilies(parseAnswer(t, got), parseAnswer(t, want)); diff != "" {
							t.Errorf("%s: answer differs from promhttp's: %s", name, diff)
						}
					}
				}
			}
			if len(errLog.lines) != 0 {
				t.Errorf("multi=%v: errors logged: %q", multi, errLog.lines)
			}
		}
	}
}

// parseAnswer reads an answer's families: the text format with expfmt's
// parser, OpenMetrics the same way once its EOF marker, HELP escapes and
// counter family names (x for samples named x_total) are put the text
// format's way, protobuf with expfmt's decoder.
func parseAnswer(t *testing.T, a answer) map[string]*dto.MetricFamily {
	t.Helper()
	f := expfmt.Format(a.header.Get("Content-Type"))
	switch f.FormatType() {
	case expfmt.TypeProtoDelim:
		out := map[string]*dto.MetricFamily{}
		dec := expfmt.NewDecoder(strings.NewReader(a.body), f)
		for {
			var mf dto.MetricFamily
			err := dec.Decode(&mf)
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("decoding the protobuf answer: %v", err)
			}
			if out[mf.GetName()] != nil {
				t.Fatalf("family %s twice", mf.GetName())
			}
			out[mf.GetName()] = &mf
		}
	case expfmt.TypeOpenMetrics:
		body, ok := strings.CutSuffix(a.body, "# EOF\n")
		if !ok {
			t.Fatalf("OpenMetrics answer does not end with # EOF:\n%s", a.body)
		}
		lines := strings.SplitAfter(body, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "# HELP ") {
				lines[i] = strings.ReplaceAll(l, `\"`, `"`)
			}
			if name, ok := strings.CutSuffix(strings.TrimPrefix(l, "# TYPE "), " counter\n"); ok && name != l {
				lines[i] = "# TYPE " + name + "_total counter\n"
				if help := "# HELP " + name + " "; i > 0 && strings.HasPrefix(lines[i-1], help) {
					lines[i-1] = "# HELP " + name + "_total " + strings.TrimPrefix(lines[i-1], help)
				}
			}
		}
		a.body = strings.Join(lines, "")
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	out, err := p.TextToMetricFamilies(strings.NewReader(a.body))
	if err != nil {
		t.Fatalf("parsing the answer: %v\n%s", err, a.body)
	}
	return out
}

// parseAnswer keeps OpenMetrics' counters counters, with their help, and
// histograms' buckets, so that comparing answers compares them.
func TestParseAnswerKeepsTypes(t *testing.T) {
	h := promhttpHandler(New(awkwardScope(false), log.NewNopLogger()), baseRegistry(), promhttp.HandlerOpts{EnableOpenMetrics: true})
	for _, accept := range []string{"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept", accept)
		mfs := parseAnswer(t, serve(t, h, r))
		if c := mfs["scp_other_total"]; c.GetType() != dto.MetricType_COUNTER || c.GetHelp() != `Between "image" and \ pending.` || len(c.GetMetric()) != 2 {
			t.Errorf("%s: counter read as %v", accept, c)
		}
		if s := samples(mfs["scp_exporter_test_seconds"]); s["{}_bucket{le=0.1}"] != 1 || s["{}_bucket{le=+Inf}"] != 2 || s["{}_count"] != 2 {
			t.Errorf("%s: histogram read as %v", accept, s)
		}
	}
}

// compareFamilies says how got differs from want: families, HELP, TYPE and
// samples (by label set; the scrape's own duration differs from one scrape
// to the next, so only its presence counts).
func compareFamilies(got, want map[string]*dto.MetricFamily) string {
	var diffs []string
	for name, w := range want {
		g := got[name]
		if g == nil {
			diffs = append(diffs, "missing family "+name)
			continue
		}
		if g.GetHelp() != w.GetHelp() || g.GetType() != w.GetType() {
			diffs = append(diffs, fmt.Sprintf("%s: HELP/TYPE %q %v, want %q %v", name, g.GetHelp(), g.GetType(), w.GetHelp(), w.GetType()))
		}
		gs, ws := samples(g), samples(w)
		if name == "scp_scrape_duration_seconds" {
			if len(gs) != 1 {
				diffs = append(diffs, fmt.Sprintf("%s: %d samples", name, len(gs)))
			}
			continue
		}
		for k, v := range ws {
			if gv, ok := gs[k]; !ok || (gv != v && !(math.IsNaN(gv) && math.IsNaN(v))) {
				diffs = append(diffs, fmt.Sprintf("%s%s = %v (present %v), want %v", name, k, gv, ok, v))
			}
		}
		for k := range gs {
			if _, ok := ws[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("unexpected %s%s", name, k))
			}
		}
	}
	for name := range got {
		if want[name] == nil {
			diffs = append(diffs, "unexpected family "+name)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// samples maps each metric's sorted labels to its value (a histogram's
// buckets, sample count and sum, a counter's or gauge's value).
func samples(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		pairs := make([]string, 0, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		slices.Sort(pairs)
		key := "{" + strings.Join(pairs, ",") + "}"
		switch {
		case m.Gauge != nil:
			out[key] = m.GetGauge().GetValue()
		case m.Counter != nil:
			out[key] = m.GetCounter().GetValue()
		case m.Histogram != nil:
			out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			for _, b := range m.GetHistogram().GetBucket() {
				out[fmt.Sprintf("%s_bucket{le=%v}", key, b.GetUpperBound())] = float64(b.GetCumulativeCount())
			}
		}
	}
	return out
}

// The text formats are written by exposition, the collector's families
// first and base's after; other formats by promhttp, every family in name
// order. baseRegistry has aaa_first, which sorts before every family of
// the collector, so the first family tells which path answered.
func TestTextScrapesTakeTheFastPath(t *testing.T) {
	for _, tc := range []struct {
		accept string
		fast   bool
	}{
		{"", true},
		{"text/plain;version=0.0.4", true},
		{"application/openmetrics-text;version=1.0.0", true},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", false},
	} {
		c := New(awkwardScope(false), log.NewNopLogger())
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		a := serve(t, c.Handler(baseRegistry(), 0, promhttp.HandlerOpts{EnableOpenMetrics: true}), r)
		if a.code != http.StatusOK {
			t.Fatalf("accept %q: status %d", tc.accept, a.code)
		}
		first := "aaa_first"
		if tc.fast {
			first = "scp_scrape_duration_seconds"
		}
		if f := firstFamily(t, a); f != first {
			t.Errorf("accept %q: first family %s, want %s (fast path %v)", tc.accept, f, first, tc.fast)
		}
	}
}

// firstFamily is the name of an answer's first family.
func firstFamily(t *testing.T, a answer) string {
	t.Helper()
	f := expfmt.Format(a.header.Get("Content-Type"))
	if f.FormatType() == expfmt.TypeProtoDelim {
		var mf dto.MetricFamily
		if err := expfmt.NewDecoder(strings.NewReader(a.body), f).Decode(&mf); err != nil {
			t.Fatal(err)
		}
		return mf.GetName()
	}
	line, _, _ := strings.Cut(strings.TrimPrefix(a.body, "# HELP "), " ")
	return line
}

// An invalid UTF-8 label value (an image name from the API) is served with
// the replacement character, not dropped and not breaking the answer.
func TestInvalidUTF8LabelValueIsReplaced(t *testing.T) {
	c := New(sourceScope(newStaticSource(engine.View{Images: []engine.ImageView{
		{Image: engine.Image{ID: imgA, Name: "bad \xff name"}, Known: true},
	}})), log.NewNopLogger())
	var errLog logLines
	a := serve(t, c.Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{ErrorLog: &errLog}),
		httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if a.code != http.StatusOK {
		t.Fatalf("status %d", a.code)
	}
	if !strings.Contains(a.body, `scp_image_info{image_id="`+imgA+`",name="bad `+"\uFFFD"+` name"} 1`) {
		t.Errorf("image info with the name repaired is missing:\n%s", a.body)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Collect: %v", err)
	}
	if len(errLog.lines) != 0 {
		t.Errorf("logged %q", errLog.lines)
	}
}

// The awkward scope with every optional series exercises every family, so
// the comparisons with promhttp above cover each one.
func TestEveryDescriptorIsEmitted(t *testing.T) {
	for _, multi := range []bool{false, true} {
		c := New(withSeries(awkwardScope(multi), allSeries), log.NewNopLogger())
		emitted := map[*prometheus.Desc]int{}
		c.write(valueFunc(func(d *exposition.Desc, _ float64, _ ...string) { emitted[d.Prometheus()]++ }), c.Scrape(context.Background()))
		ch := make(chan *prometheus.Desc, 100)
		c.Describe(ch)
		close(ch)
		n := 0
		for d := range ch {
			n++
			if emitted[d] == 0 {
				t.Errorf("multi=%v: nothing emitted for %s", multi, d)
			}
		}
		if len(emitted) != n {
			t.Errorf("multi=%v: %d families emitted, %d described", multi, len(emitted), n)
		}
	}
}

// The pass gauges are absent until the engine knows them; the stalest age
// is always there.
func TestPassGaugesOnlyWhenKnown(t *testing.T) {
	src := newStaticSource(engine.View{StalestAge: 90 * time.Second})
	c := New(sourceScope(src), log.NewNopLogger())
	want := helpStalestAge + "scp_image_members_stalest_age_seconds 90\n"
	gauges := []string{"scp_image_members_stalest_age_seconds", "scp_image_members_pass_duration_seconds", "scp_image_members_pass_min_duration_seconds"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), gauges...); err != nil {
		t.Error(err)
	}
	src.set(engine.View{StalestAge: 1500 * time.Millisecond, PassDuration: 2 * time.Minute, Passes: 1, MinPassDuration: 250 * time.Millisecond})
	want = helpStalestAge + "scp_image_members_stalest_age_seconds 1.5\n" +
		helpPassDuration + "scp_image_members_pass_duration_seconds 120\n" +
		helpMinPassDuration + "scp_image_members_pass_min_duration_seconds 0.25\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), gauges...); err != nil {
		t.Error(err)
	}
}

// The configured refresh interval is exported, so a rule can compare it
// with the shortest pass the budget allows.
func TestRefreshIntervalIsExported(t *testing.T) {
	src := newStaticSource(engine.View{RefreshInterval: 2 * time.Minute})
	c := New(sourceScope(src), log.NewNopLogger())
	if got := testutil.ToFloat64(gaugeFamily{c, "scp_image_members_refresh_interval_seconds"}); got != 120 {
		t.Errorf("scp_image_members_refresh_interval_seconds %v, want 120", got)
	}
}

// gaugeFamily collects only one family of a collector.
type gaugeFamily struct {
	c    *Collector
	name string
}

func (g gaugeFamily) Describe(ch chan<- *prometheus.Desc) { g.c.Describe(ch) }

func (g gaugeFamily) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { g.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+g.name+`"`) {
			ch <- m
		}
	}
}

// valueFunc is a Sink that hands each series to the function: a gauge's
// or counter's value, a histogram's count.
type valueFunc func(d *exposition.Desc, v float64, labels ...string)

func (f valueFunc) Value(d *exposition.Desc, v float64, labels ...string) { f(d, v, labels...) }

func (f valueFunc) Histogram(d *exposition.Desc, h *metric.HistogramValue, labels ...string) {
	f(d, float64(h.Count), labels...)
}
