package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
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

	"github.com/scp-exporter/scp_exporter/engine"
	"github.com/scp-exporter/scp_exporter/internal/testwait"
	"github.com/scp-exporter/scp_exporter/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// The /metrics answer written by render.go must be the one promhttp writes
// from const metrics: same status, headers and (uncompressed) bytes.

// awkwardScope has what the text formats must escape or order with care:
// quotes, backslashes, newlines and non-ASCII in label values, an unknown
// status, fractional and missing timestamps and durations, an image that
// failed after a good fetch (its members kept), one gone (not_found), one
// not fetched yet, a duplicated image (whose second series the registry
// refuses), a discovered image, discovery and offers. Its accounts' sources
// return their view at once.
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
					{ID: acctOther, Status: "rejected", UpdatedAt: t1}, // listed twice: the last one counts
				},
				Known: true, Fetched: t2,
			},
			{Image: engine.Image{ID: imgB, Name: "Ωmega\nnext"}, Members: []scp.Member{}, Known: true, Fetched: t2},
			{Image: engine.Image{ID: imgC, Name: "gone"}, Err: &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}, Reason: scp.ReasonNotFound},
			{Image: engine.Image{ID: imgB, Name: "Ωmega\nnext"}, Members: []scp.Member{}, Known: true, Fetched: t2}, // the same image twice
			{
				Image:   engine.Image{ID: discovered, Name: "disc\\overed \"one\"\nline2", Expected: map[string]bool{acctOther: true}},
				Members: []scp.Member{{ID: acctOther, Status: "accepted", CreatedAt: t1}},
				Known:   true, Fetched: t1,
				Err: &scp.APIError{StatusCode: 503, Reason: scp.ReasonServerError}, Reason: scp.ReasonServerError, // failed since
			},
			{Image: engine.Image{ID: notYet, Name: "new"}, Err: errors.New("not yet"), Reason: engine.ReasonNotFetchedYet},
		},
		Inventory: inventory.State{
			Discovered: []scp.Image{{ID: discovered, Name: "disc\\overed \"one\"\nline2"}},
			Visibility: map[string]string{imgA: "private", imgB: "public", discovered: "shared"},
			Pending:    []scp.PendingImage{{ID: imgC, Name: "offered é", Owner: acctThird}},
			Status:     inventory.Status{Images: 1, LastSuccess: t1, PendingLastSuccess: t2, Tried: true},
		},
		StalestAge:      1234567890 * time.Nanosecond,
		PassDuration:    3*time.Minute + 250*time.Millisecond,
		Passes:          2,
		MinPassDuration: 20 * time.Millisecond,
		Discovering:     true,
	}
	info := scp.ServiceInfo{
		URL: "https://virtualserver.kr-west1.e.samsungsdscloud.com", Source: scp.SourceCatalog, Requested: "1.1", APIVersion: v,
		VersionsRead: true, Versions: []scp.ServerVersion{{ID: "1.1", Status: "deprecated"}, {ID: "1.3", Status: "current"}}, Offered: true,
	}
	acct := func(name string) Account {
		return Account{Name: name, Source: newStaticSource(view), APIVersion: v, ExpectedOwners: map[string]bool{},
			Service: func() (scp.ServiceInfo, bool) { return info, true }}
	}
	t := Scope{Accounts: []Account{acct("")}, ScrapeTimeout: 10 * time.Second}
	if multi {
		t.Accounts = []Account{acct("prod"), acct("staging-east")}
		t.MultiAccount = true
	}
	return t
}

// durationLine is scp_scrape_duration_seconds' sample: how long one scrape
// waited, which differs from one scrape to the next.
var durationLine = regexp.MustCompile(`(?m)^scp_scrape_duration_seconds \S+$`)

// sameScrape puts one value on the scrape duration, so that the answers of
// two scrapes of the same state compare equal.
func sameScrape(body string) string {
	return durationLine.ReplaceAllString(body, "scp_scrape_duration_seconds DURATION")
}

// baseRegistry is a stand-in for the exporter's own metrics: counters, a
// histogram, labelled gauges, names that sort before, between and after the
// collector's, a help text to escape.
func baseRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	scp.NewMetrics(reg) // scp_api_request_errors_total and scp_api_request_retries_total at 0
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

// promhttpHandler is how Handler served every scrape before render.go.
func promhttpHandler(c *Collector, base prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(contextCollector{Collector: c, ctx: r.Context()})
		promhttp.HandlerFor(prometheus.Gatherers{reg, base}, opts).ServeHTTP(w, r)
	})
}

func TestMetricsAnswerMatchesPromhttp(t *testing.T) {
	const prometheus3Accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	accepts := []string{
		"",
		"text/plain;version=0.0.4",
		"text/plain;version=1.0.0;escaping=underscores",
		"application/openmetrics-text;version=1.0.0",
		"application/openmetrics-text;version=0.0.1;escaping=values",
		prometheus3Accept,
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
		"application/json",
	}
	encodings := []string{"", "gzip", "identity", "gzip;q=0, identity", "zstd", "*", "br, gzip;q=0.5"}
	for _, multi := range []bool{false, true} {
		for _, om := range []bool{true, false} {
			for _, eh := range []promhttp.HandlerErrorHandling{promhttp.ContinueOnError, promhttp.HTTPErrorOnError} {
				// Both handlers scrape the same state: the sources' views are fixed.
				c := New(awkwardScope(multi), log.NewNopLogger())
				base := baseRegistry()
				var fastLog, slowLog logLines
				fast := c.Handler(base, 0, promhttp.HandlerOpts{EnableOpenMetrics: om, ErrorHandling: eh, ErrorLog: &fastLog})
				slow := promhttpHandler(c, base, promhttp.HandlerOpts{EnableOpenMetrics: om, ErrorHandling: eh, ErrorLog: &slowLog})
				for _, accept := range accepts {
					for _, enc := range encodings {
						for _, query := range []string{"", "?name[]=scp_image_info&name[]=scp_exporter_test_seconds&name[]=zzz_last"} {
							name := fmt.Sprintf("multi=%v/om=%v/errors=%d/accept=%q/encoding=%q/query=%q", multi, om, eh, accept, enc, query)
							req := func() *http.Request {
								r := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
								if accept != "" {
									r.Header.Set("Accept", accept)
								}
								if enc != "" {
									r.Header.Set("Accept-Encoding", enc)
								}
								return r
							}
							got, want := serve(t, fast, req()), serve(t, slow, req())
							if got.code != want.code {
								t.Errorf("%s: status %d, promhttp %d", name, got.code, want.code)
							}
							for _, h := range []string{"Content-Type", "Content-Encoding", "Vary"} {
								if g, w := got.header.Values(h), want.header.Values(h); strings.Join(g, "|") != strings.Join(w, "|") {
									t.Errorf("%s: %s %q, promhttp %q", name, h, g, w)
								}
							}
							switch {
							case want.code != http.StatusOK:
								// An error page: the same errors, told in other words.
								const dup = "was collected before with the same name and label values"
								if g, w := strings.Count(got.body, dup), strings.Count(want.body, dup); g != w || !strings.HasPrefix(got.body, "An error has occurred while serving metrics:") {
									t.Errorf("%s: error page reports %d duplicates, promhttp %d:\n%s", name, g, w, got.body)
								}
							case normalized(t, got) != normalized(t, want):
								t.Errorf("%s: body differs from promhttp's\n%s", name, diffLines(normalized(t, got), normalized(t, want)))
							case query == "" && strings.Count(normalized(t, got), "\nscp_scrape_duration_seconds DURATION\n") != 1:
								t.Errorf("%s: no scrape duration:\n%s", name, got.body)
							}
						}
					}
				}
				if len(fastLog.lines) == 0 || len(fastLog.lines) != len(slowLog.lines) {
					t.Errorf("multi=%v om=%v: %d errors logged, promhttp logged %d", multi, om, len(fastLog.lines), len(slowLog.lines))
				}
			}
		}
	}
}

// diffLines shows the first lines where a and b differ.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	shown := 0
	for i := 0; i < max(len(al), len(bl)) && shown < 6; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "line %d:\n  got:      %q\n  promhttp: %q\n", i+1, x, y)
			shown++
		}
	}
	return out.String()
}

// normalized is an answer's body with one value on the scrape duration:
// the text formats as they are, protobuf decoded to the text format.
func normalized(t *testing.T, a answer) string {
	t.Helper()
	f := expfmt.Format(a.header.Get("Content-Type"))
	if a.code != http.StatusOK || f.FormatType() != expfmt.TypeProtoDelim {
		return sameScrape(a.body)
	}
	dec := expfmt.NewDecoder(strings.NewReader(a.body), f)
	var out strings.Builder
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding the protobuf answer: %v", err)
		}
		if mf.GetName() == "scp_scrape_duration_seconds" {
			for _, m := range mf.GetMetric() {
				m.Gauge.Value = new(float64)
			}
		}
		if err := enc.Encode(&mf); err != nil {
			t.Fatal(err)
		}
	}
	return sameScrape(out.String())
}

func TestEveryDescriptorIsRenderedDirectly(t *testing.T) {
	for _, multi := range []bool{false, true} {
		ch := make(chan *prometheus.Desc, 100)
		newDescs(multi).describe(ch)
		close(ch)
		for d := range ch {
			if _, ok := descInfos.Load(d); !ok {
				t.Errorf("multi=%v: %s was not made by newDesc, so every scrape goes through promhttp", multi, d)
			}
		}
	}
}

func TestMetricsAnswerWithUnsupportedOptionsUsesPromhttp(t *testing.T) {
	c := New(awkwardScope(false), log.NewNopLogger())
	base := baseRegistry()
	for _, opts := range []promhttp.HandlerOpts{
		{MaxRequestsInFlight: 3},
		{Timeout: time.Minute},
		{Registry: prometheus.NewRegistry()},
	} {
		got := serve(t, c.Handler(base, 0, opts), httptest.NewRequest(http.MethodGet, "/metrics", nil))
		want := serve(t, promhttpHandler(c, base, opts), httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if normalized(t, got) != normalized(t, want) || got.code != want.code {
			t.Errorf("%+v: answer differs from promhttp's\n%s", opts, diffLines(normalized(t, got), normalized(t, want)))
		}
	}
}

func TestInvalidUTF8LabelValueIsDroppedAndReported(t *testing.T) {
	c := New(sourceScope(newStaticSource(engine.View{Images: []engine.ImageView{
		{Image: engine.Image{ID: imgA, Name: "bad \xff name"}, Known: true},
	}})), log.NewNopLogger())
	var errLog logLines
	a := serve(t, c.Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: &errLog}),
		httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if a.code != http.StatusOK {
		t.Fatalf("status %d", a.code)
	}
	if strings.Contains(a.body, "scp_image_info{") {
		t.Errorf("series with an invalid UTF-8 label value was served:\n%s", a.body)
	}
	if !strings.Contains(a.body, `scp_image_members_scrape_success{image_id="`+imgA+`"} 1`) {
		t.Errorf("the image's other series are missing:\n%s", a.body)
	}
	if len(errLog.lines) != 1 || !strings.Contains(errLog.lines[0], "UTF-8") {
		t.Errorf("logged %q, want one error about UTF-8", errLog.lines)
	}
}

// The awkward target exercises every family, so the comparisons with
// promhttp above cover each one's rendering.
func TestEveryDescriptorIsEmitted(t *testing.T) {
	for _, multi := range []bool{false, true} {
		c := New(awkwardScope(multi), log.NewNopLogger())
		set := newSampleSet()
		c.emit(set.gauge, c.Fetch(context.Background()))
		ch := make(chan *prometheus.Desc, 100)
		c.Describe(ch)
		close(ch)
		n := 0
		for d := range ch {
			n++
			if f := set.families[d]; f == nil || len(f.values) == 0 {
				t.Errorf("multi=%v: nothing emitted for %s", multi, d)
			}
		}
		if len(set.families) != n || set.unknown {
			t.Errorf("multi=%v: %d families emitted (unknown descriptor: %v), %d described", multi, len(set.families), set.unknown, n)
		}
	}
}

// /metrics in a text format is written from the collection directly, not
// by promhttp; other formats go through promhttp. Rendering directly leaves
// a size hint for each of the collector's descriptors, which are made anew
// for each collector, so a hint tells which path a scrape took.
func TestTextScrapesTakeTheFastPath(t *testing.T) {
	for _, tc := range []struct {
		accept string
		fast   bool
	}{
		{"", true},
		{"application/openmetrics-text;version=1.0.0", true},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", false},
	} {
		c := New(awkwardScope(false), log.NewNopLogger())
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		a := serve(t, c.Handler(baseRegistry(), 0, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError}), r)
		if a.code != http.StatusOK {
			t.Fatalf("accept %q: status %d", tc.accept, a.code)
		}
		_, hinted := sizeHints.Load(c.descs.Load().imageInfo)
		if hinted != tc.fast {
			t.Errorf("accept %q: rendered directly %v, want %v", tc.accept, hinted, tc.fast)
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

// Scrapes reading the same state share one rendering, built once; a
// changed state, or another target, gets its own; none is kept after use.
func TestScrapesOfTheSameStateShareOneRendering(t *testing.T) {
	var s sharedRendering
	t1, t2 := &Scope{}, &Scope{}
	builds := 0
	gate := make(chan struct{})
	build := func() *rendering { builds++; <-gate; return &rendering{} }
	first := make(chan *sharedEntry)
	go func() { first <- s.acquire(t1, []uint64{7}, build) }()
	testwait.For(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.cur != nil }, "the first scrape to start building")
	joined := make(chan *sharedEntry)
	go func() { joined <- s.acquire(t1, []uint64{7}, build) }()
	testwait.For(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.cur.users == 2 }, "the second scrape to join")
	close(gate)
	a, b := <-first, <-joined
	if a != b || builds != 1 {
		t.Errorf("two scrapes of one state: %d builds, shared %v", builds, a == b)
	}
	c := s.acquire(t1, []uint64{8}, build)
	d := s.acquire(t2, []uint64{8}, build)
	if builds != 3 || c == a || d == c {
		t.Errorf("a changed state and another target: %d builds, want 3", builds)
	}
	for _, e := range []*sharedEntry{a, b, c, d} {
		s.release(e)
	}
	if s.cur != nil {
		t.Error("a rendering is kept after its scrapes are done")
	}
}
