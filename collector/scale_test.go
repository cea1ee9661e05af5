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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/scp"
)

// How a scrape behaves at scale: goroutines bounded by the engine's
// concurrency, not the number of images. Behaviour only, no timings.

// sleepyClient is an engine.Client in memory: it answers every image's
// members after a short pause, counting calls, and lists every image as
// private, so discovery needs no look-up per image.
type sleepyClient struct {
	pause  time.Duration
	images []engine.Image
	calls  atomic.Int64
}

func (l *sleepyClient) ListImageMembers(ctx context.Context, _ string) ([]scp.Member, error) {
	l.calls.Add(1)
	select {
	case <-time.After(l.pause):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []scp.Member{{ID: acctOther, Status: "pending"}}, nil
}

func (l *sleepyClient) ListImages(_ context.Context, visibility string) ([]scp.Image, error) {
	if visibility != "private" {
		return nil, nil
	}
	out := make([]scp.Image, len(l.images))
	for i, im := range l.images {
		out[i] = scp.Image{ID: im.ID, Name: im.Name, Visibility: "private"}
	}
	return out, nil
}

func (l *sleepyClient) ShowImage(context.Context, string) (scp.Image, error) {
	return scp.Image{}, &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}
}

func (l *sleepyClient) ListPendingImages(context.Context) ([]scp.PendingImage, error) {
	return nil, nil
}

// peakGoroutines runs f while sampling runtime.NumGoroutine, and returns the
// highest count seen beside the count before f (the sampler included).
func peakGoroutines(f func()) (baseline, peak int) {
	stop, sampling := make(chan struct{}), make(chan struct{})
	var highest atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for first := true; ; first = false {
			if n := int64(runtime.NumGoroutine()); n > highest.Load() {
				highest.Store(n)
			}
			if first {
				close(sampling)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	<-sampling
	baseline = runtime.NumGoroutine()
	f()
	close(stop)
	wg.Wait()
	return baseline, int(highest.Load())
}

func manyImages(n int) []engine.Image {
	images := make([]engine.Image, n)
	for i := range images {
		images[i] = engine.Image{ID: benchImageID(i)}
	}
	return images
}

// From before the engine starts to the end of a scrape of every image: the
// engine's workers (its concurrency), its discovery and its Run, and the
// scrape's own few, however many images there are.
func TestGoroutinesDuringAScrapeAreBoundedByConcurrency(t *testing.T) {
	const images, concurrency = 2000, 16
	l := &sleepyClient{pause: 200 * time.Microsecond, images: manyImages(images)}
	o := engineOptions(l, l.images...)
	o.Concurrency = concurrency
	var res *Result
	baseline, peak := peakGoroutines(func() {
		c := New(sourceScope(startEngine(t, o)), log.NewNopLogger())
		res = c.Scrape(context.Background())
	})
	if got := l.calls.Load(); got != images {
		t.Fatalf("%d calls, want %d", got, images)
	}
	for _, iv := range res.Accounts[0].Members.Images {
		if iv.Err != nil {
			t.Fatalf("%s not fetched: %v", iv.ID, iv.Err)
		}
	}
	// The workers, and a few for the engine and the scrape: Run,
	// discovery's loop, the scrape's wait on the account, and slack.
	if limit := baseline + concurrency + 8; peak > limit {
		t.Errorf("%d goroutines during a scrape of %d images (baseline %d), want at most %d: baseline + %d workers + 8",
			peak, images, baseline, limit, concurrency)
	}
	t.Logf("baseline %d, peak %d goroutines for %d images at concurrency %d", baseline, peak, images, concurrency)
}

func TestGoroutinesDuringAScrapeOverHTTPAreBoundedByConcurrency(t *testing.T) {
	const images = 2000
	tg, fake, reg := benchScope(t, images, 200*time.Microsecond)
	c := New(tg, log.NewNopLogger())
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
	if got := membersCalls(fake, images); got != 2*images {
		t.Fatalf("%d members calls for two scrapes of %d images, want %d", got, images, 2*images)
	}
	// The engine's workers are already running. A scrape adds a few of its
	// own; a connection the transport opens anew brings a reader and a
	// writer, and the in-process server one more per connection: at most
	// one connection per call in flight.
	if limit := baseline + 3*benchConcurrency + 8; peak > limit {
		t.Errorf("%d goroutines during a scrape of %d images (baseline %d), want at most %d", peak, images, baseline, limit)
	}
	t.Logf("baseline %d, peak %d goroutines for %d images at concurrency %d", baseline, peak, images, benchConcurrency)
}
