package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scp-exporter/scp_exporter/scp"
)

// How a scrape behaves at scale: goroutines bounded by the concurrency, not
// the number of images; simultaneous scrapes share the API calls and the
// rendering; nothing is kept between scrapes. Behaviour only, no timings.

// sleepyLister answers every image after a short pause, counting calls.
type sleepyLister struct {
	pause time.Duration
	calls atomic.Int64
}

func (l *sleepyLister) ListImageMembers(ctx context.Context, _ string) ([]scp.Member, error) {
	l.calls.Add(1)
	select {
	case <-time.After(l.pause):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []scp.Member{{ID: acctOther, Status: "pending"}}, nil
}

// peakGoroutines runs f while sampling runtime.NumGoroutine, and returns the
// highest count seen beside the count before f (the sampler included).
func peakGoroutines(f func()) (baseline, peak int) {
	stop := make(chan struct{})
	var highest atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if n := int64(runtime.NumGoroutine()); n > highest.Load() {
				highest.Store(n)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	time.Sleep(5 * time.Millisecond) // let the sampler start
	baseline = runtime.NumGoroutine()
	f()
	close(stop)
	wg.Wait()
	return baseline, int(highest.Load())
}

func manyImages(n int) []Image {
	images := make([]Image, n)
	for i := range images {
		images[i] = Image{ID: benchImageID(i)}
	}
	return images
}

func TestGoroutinesDuringARoundAreBoundedByConcurrency(t *testing.T) {
	const images, concurrency = 2000, 16
	l := &sleepyLister{pause: 200 * time.Microsecond}
	tg := target(l, manyImages(images)...)
	tg.Accounts[0].MaxConcurrency = concurrency
	c := New(tg, log.NewNopLogger(), nil)
	baseline, peak := peakGoroutines(func() { c.Fetch(context.Background()) })
	if got := l.calls.Load(); got != images {
		t.Fatalf("%d calls, want %d", got, images)
	}
	// The round's workers, and a few for the round itself.
	if limit := baseline + concurrency + 4; peak > limit {
		t.Errorf("%d goroutines during a round of %d images (baseline %d), want at most %d: baseline + %d workers + 4",
			peak, images, baseline, limit, concurrency)
	}
	t.Logf("baseline %d, peak %d goroutines for %d images at concurrency %d", baseline, peak, images, concurrency)
}

func TestGoroutinesDuringAScrapeOverHTTPAreBoundedByConcurrency(t *testing.T) {
	const images = 2000
	tg, _, reg := benchTarget(t, images, 200*time.Microsecond)
	c := New(tg, log.NewNopLogger(), nil)
	h := c.Handler(reg, 0, promhttp.HandlerOpts{})
	scrape := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	scrape() // opens the connections, which then stay open
	baseline, peak := peakGoroutines(scrape)
	// With the connections already open, a scrape adds its workers; a
	// connection the transport opens anew brings a reader and a writer, and
	// the in-process server one more per connection.
	if limit := baseline + benchConcurrency + 3*benchConcurrency + 8; peak > limit {
		t.Errorf("%d goroutines during a scrape of %d images (baseline %d), want at most %d", peak, images, baseline, limit)
	}
	t.Logf("baseline %d, peak %d goroutines for %d images at concurrency %d", baseline, peak, images, benchConcurrency)
}

func TestSimultaneousScrapesShareOneRoundAndOneRendering(t *testing.T) {
	const images, scrapes = 300, 4
	l := &sleepyLister{pause: time.Millisecond}
	tg := target(l, manyImages(images)...)
	c := New(tg, log.NewNopLogger(), nil)
	h := c.Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{})

	var wg sync.WaitGroup
	bodies := make([]string, scrapes)
	gate := make(chan struct{})
	for i := range scrapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			bodies[i] = rec.Body.String()
		}()
	}
	close(gate)
	wg.Wait()
	if got := l.calls.Load(); got > images*105/100 {
		t.Errorf("%d simultaneous scrapes made %d API calls for %d images, want at most %d", scrapes, got, images, images*105/100)
	}
	for i := 1; i < scrapes; i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("scrape %d got a different answer from scrape 0", i)
		}
	}
	c.rendering.mu.Lock()
	kept := c.rendering.cur
	c.rendering.mu.Unlock()
	if kept != nil {
		t.Error("a rendering is kept after every scrape has finished")
	}
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if last != nil {
		t.Error("a collection is kept between scrapes without min_refresh_interval")
	}
}

func TestJoinedScrapesReuseTheRendering(t *testing.T) {
	l := &countingLister{calls: map[string]int{}, release: make(chan struct{}), started: make(chan struct{}, 1)}
	c := New(target(l, Image{ID: imgA}, Image{ID: imgB}), log.NewNopLogger(), nil)
	res := make(chan *rendering, 2)
	go func() {
		r, cached := c.Fetch(context.Background())
		rd := c.rendering.acquire(c, r, cached)
		res <- rd
	}()
	<-l.started
	go func() {
		r, cached := c.Fetch(context.Background())
		rd := c.rendering.acquire(c, r, cached)
		res <- rd
	}()
	waitFor(t, func() bool { return c.waiting() == 1 })
	close(l.release)
	a, b := <-res, <-res
	if a != b {
		t.Error("two scrapes of one round rendered its series twice")
	}
	c.rendering.release(a)
	c.rendering.release(b)
	if c.rendering.cur != nil {
		t.Error("rendering kept after both released it")
	}
}
