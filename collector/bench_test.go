package collector

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// End-to-end benchmarks of one scrape: N images, three members each, served
// by the fake API in this process over loopback with a given latency, through
// the client the exporter builds (its HTTP client, rate limiter, metrics,
// retries), at most benchConcurrency calls in flight.
//
// The matrix is images × latency; set SCP_BENCH_IMAGES (e.g. "100,1000") and
// SCP_BENCH_LATENCY (e.g. "0,50ms") to choose others. By default latency=0
// runs for 100, 1,000 and 10,000 images and latency=10ms for 1,000.

const benchConcurrency = 16

type benchCase struct {
	images  int
	latency time.Duration
}

func (c benchCase) String() string {
	l := "0"
	if c.latency > 0 {
		l = c.latency.String()
	}
	return fmt.Sprintf("images=%d/latency=%s", c.images, l)
}

func benchCases(b *testing.B) []benchCase {
	images, latencies := os.Getenv("SCP_BENCH_IMAGES"), os.Getenv("SCP_BENCH_LATENCY")
	if images == "" && latencies == "" {
		return []benchCase{{100, 0}, {1000, 0}, {10000, 0}, {1000, 10 * time.Millisecond}}
	}
	if images == "" {
		images = "100,1000,10000"
	}
	if latencies == "" {
		latencies = "0"
	}
	var cases []benchCase
	for _, n := range strings.Split(images, ",") {
		for _, l := range strings.Split(latencies, ",") {
			ni, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil {
				b.Fatalf("SCP_BENCH_IMAGES: %v", err)
			}
			l = strings.TrimSpace(l)
			if l == "0" {
				l = "0s"
			}
			d, err := time.ParseDuration(l)
			if err != nil {
				b.Fatalf("SCP_BENCH_LATENCY: %v", err)
			}
			cases = append(cases, benchCase{ni, d})
		}
	}
	return cases
}

// benchImageID is the i-th image's ID, a valid UUID.
func benchImageID(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
}

// benchFixture is a fake with n images of three members each, all in its
// image list, so that the engine's discovery learns their visibility from
// the listing rather than one look-up each.
func benchFixture(n int, latency time.Duration) (*scptest.Fake, []engine.Image) {
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk", Latency: latency})
	images := make([]engine.Image, n)
	listed := make([]scptest.Image, n)
	expected := map[string]bool{acctExpected: true}
	for i := range images {
		id := benchImageID(i)
		fake.SetMembers(id,
			scptest.Member{MemberID: acctExpected, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
			scptest.Member{MemberID: acctOther, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"},
			scptest.Member{MemberID: fmt.Sprintf("%032x", i), Status: "rejected", CreatedAt: "2025-01-02T03:04:05Z", UpdatedAt: "2025-02-03T04:05:06Z"},
		)
		images[i] = engine.Image{ID: id, Name: fmt.Sprintf("image-%d", i), Expected: expected}
		listed[i] = scptest.Image{ID: id, Name: images[i].Name, Visibility: "private"}
	}
	fake.AddImages(listed...)
	return fake, images
}

// benchScope serves the fixture and returns a target built the way the
// exporter builds one (see account.New and its engineOptions): a client
// within a budget (a huge one here) counting its requests for the account,
// an on-demand engine running until the benchmark ends, its discovery's
// first round done; with a registry to serve as the base gatherer (empty:
// the request series are the collector's).
func benchScope(b testing.TB, n int, latency time.Duration) (Scope, *scptest.Fake, *prometheus.Registry) {
	b.Helper()
	fake, images := benchFixture(n, latency)
	srv := httptest.NewServer(fake)
	b.Cleanup(srv.Close)
	hc, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{EnableHTTP2: true},
		"scp_exporter", commoncfg.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(hc.CloseIdleConnections)
	reg := prometheus.NewRegistry()
	v, _ := scp.LookupAPIVersion(scp.DefaultAPIVersion)
	budget := scp.NewBudget(1e6, benchConcurrency, nil)
	requests := scp.NewMetrics()
	budget.Report(requests)
	client, err := scp.NewClient(scp.Options{
		BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", APIVersion: v,
		HTTPClient: hc, RequestTimeout: 30 * time.Second, MaxRetries: 2,
		Budget:    budget,
		Metrics:   requests,
		UserAgent: "scp_exporter/bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	e := startEngine(b, engine.Options{
		Client:      client,
		Budget:      budget,
		Images:      images,
		Inventory:   inventory.Options{Visibility: []string{"private", "shared"}, Interval: time.Hour},
		Concurrency: benchConcurrency,
		CallTimeout: 10 * time.Minute,
	})
	testwait.For(b, func() bool { return !e.Snapshot().Inventory.Status.PendingLastSuccess.IsZero() }, "discovery's first round")
	t := Scope{
		Accounts:      []Account{&testAccount{Source: e, APIVersion: v, Requests: requests, Budget: budget}},
		ScrapeTimeout: 10 * time.Minute,
		// As the exporter's: a secret key, the image names redacted.
		Redact: config.NewRedactor("Qm8vT3xLp2Rk9WzYc4HnQm8vT3xLp2Rk9WzYc4Hn").Redact,
	}
	return t, fake, reg
}

// membersCalls is how many members calls the fake received for images.
func membersCalls(fake *scptest.Fake, images int) int {
	n := 0
	for i := range images {
		n += fake.Requests(benchImageID(i))
	}
	return n
}

// BenchmarkCollect is one collection: every image's API call, then the
// const metrics, drained from the channel. It reports per-image figures
// beside the per-scrape ones.
func BenchmarkCollect(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.String(), func(b *testing.B) {
			t, fake, _ := benchScope(b, bc.images, bc.latency)
			c := New(t, log.NewNopLogger())
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan int)
			go func() {
				n := 0
				for range ch {
					n++
				}
				done <- n
			}()
			// One warm-up round opens the connections, as in a running exporter.
			c.Collect(ch)
			before := membersCalls(fake, bc.images)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.Collect(ch)
			}
			b.StopTimer()
			close(ch)
			<-done
			if got, want := membersCalls(fake, bc.images)-before, b.N*bc.images; got != want {
				b.Fatalf("%d API calls for %d scrapes of %d images, want %d", got, b.N, bc.images, want)
			}
			perImage := float64(b.Elapsed().Nanoseconds()) / float64(b.N*bc.images)
			b.ReportMetric(perImage, "ns/image")
			if bc.latency > 0 {
				floor := time.Duration((bc.images+benchConcurrency-1)/benchConcurrency) * bc.latency
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(floor), "x_floor")
			}
		})
	}
}

// BenchmarkScrape is a whole /metrics answer: the collection, the exporter's
// own metrics, and rendering, gzip-compressed as Prometheus asks for it.
func BenchmarkScrape(b *testing.B) {
	for _, bc := range benchCases(b) {
		if bc.latency > 0 {
			continue // the API round is BenchmarkCollect's; this one is about rendering
		}
		b.Run(bc.String(), func(b *testing.B) {
			t, _, reg := benchScope(b, bc.images, 0)
			c := New(t, log.NewNopLogger())
			h := c.Handler(reg, 500*time.Millisecond, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
			scrape := func() int {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
				req.Header.Set("Accept-Encoding", "gzip")
				rec := &countingWriter{header: http.Header{}}
				h.ServeHTTP(rec, req)
				if rec.code != 0 && rec.code != http.StatusOK {
					b.Fatalf("status %d", rec.code)
				}
				return rec.n
			}
			size := scrape()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				scrape()
			}
			b.ReportMetric(float64(size), "gzip_bytes")
		})
	}
}

// BenchmarkEmit is only turning a finished collection into series: const
// metrics for Collect (sink=const), or the text /metrics writes, discarded
// (sink=text).
func BenchmarkEmit(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		t, _, _ := benchScope(b, n, 0)
		c := New(t, log.NewNopLogger())
		res := c.Scrape(context.Background())
		b.Run(fmt.Sprintf("images=%d/sink=const", n), func(b *testing.B) {
			ch := make(chan prometheus.Metric, 1024)
			go func() {
				for range ch {
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				c.write(exposition.ConstMetrics(ch), res)
			}
			close(ch)
		})
		b.Run(fmt.Sprintf("images=%d/sink=text", n), func(b *testing.B) {
			bw := bufio.NewWriter(io.Discard)
			b.ReportAllocs()
			for b.Loop() {
				w := exposition.NewWriter(bw, false)
				c.write(w, res)
			}
		})
	}
}

// BenchmarkRender is a /metrics answer from a state already fetched (the
// engine's, frozen in a source that waits for nothing, as in background
// mode): series, text, gzip (gzip=true) or not, the base gatherer's
// metrics. It reports the answer's size and series per image.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("images=%d/gzip=%v", n, gz), func(b *testing.B) {
				t, _, reg := benchScope(b, n, 0)
				a := testAccountOf(t, 0)
				e := a.Source
				e.Wait(context.Background())
				a.Source = newStaticSource(e.Snapshot())
				c := New(t, log.NewNopLogger())
				h := c.Handler(reg, 500*time.Millisecond, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
				var size int
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
					if gz {
						req.Header.Set("Accept-Encoding", "gzip")
					}
					rec := &countingWriter{header: http.Header{}}
					h.ServeHTTP(rec, req)
					size = rec.n
				}
				b.ReportMetric(float64(size)/float64(n), "bytes/image")
				series := 0
				c.write(valueFunc(func(d *exposition.Desc, _ float64, _ ...string) {
					if slices.Contains(d.Labels(), "image_id") {
						series++
					}
				}), c.Scrape(context.Background()))
				b.ReportMetric(float64(series)/float64(n), "series/image")
			})
		}
	}
}

// countingWriter is an http.ResponseWriter that counts and drops the body.
type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) WriteHeader(code int)        { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
