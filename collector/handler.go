package collector

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ScrapeTimeoutHeader is the header in which Prometheus sends its scrape timeout.
const ScrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// ScrapeTimeout is how long a scrape may take: Prometheus's timeout from the
// header less offset, capped by limit. Without a usable header it is limit.
// When offset would leave nothing, half the header's timeout is used, so the
// answer still comes before Prometheus gives up.
func ScrapeTimeout(header string, offset, limit time.Duration) time.Duration {
	secs, err := strconv.ParseFloat(header, 64)
	if header == "" || err != nil || secs <= 0 || secs > 1e6 {
		return limit
	}
	prom := time.Duration(secs * float64(time.Second))
	t := prom - offset
	if t <= 0 {
		t = prom / 2
	}
	return min(t, limit)
}

// contextCollector collects under one scrape's context.
type contextCollector struct {
	*Collector
	ctx context.Context
}

func (cc contextCollector) Collect(ch chan<- prometheus.Metric) { cc.collectContext(cc.ctx, ch) }

// resultCollector emits a collection already made.
type resultCollector struct {
	*Collector
	res *Result
}

func (rc resultCollector) Collect(ch chan<- prometheus.Metric) {
	rc.emit(chanGauge(ch), rc.res)
}

// Handler serves /metrics: the collector's metrics under a deadline taken
// from Prometheus's timeout header, beside everything base gathers (the
// exporter's own request metrics, build info, process metrics).
//
// In the text formats the collector's series are written straight from the
// collection (see render.go); otherwise, and for options that path does not
// implement, promhttp serves them.
func (c *Collector) Handler(base prometheus.Gatherer, offset time.Duration, opts promhttp.HandlerOpts) http.Handler {
	var probe http.Handler
	if fastOptions(opts) {
		probe = promhttp.HandlerFor(emptyGatherer, opts)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := ScrapeTimeout(r.Header.Get(ScrapeTimeoutHeader), offset, c.scope.Load().ScrapeTimeout)
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		var coll prometheus.Collector = contextCollector{Collector: c, ctx: ctx}
		if probe != nil {
			if n, ok := negotiate(probe, r); ok {
				// Collect first: the API calls then show in base's counters.
				t, start := c.wait(ctx)
				e := c.shared.acquire(t, generations(t), func() *rendering { return render(c, c.snapshot(t, start)) })
				defer c.shared.release(e)
				if e.r.res != nil && serveText(w, r, n, e.r, base, opts) {
					return
				}
				res := e.r.res
				if res == nil {
					res = c.snapshot(t, start)
				}
				coll = resultCollector{Collector: c, res: res}
			}
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(coll)
		// reg first: the API calls it makes then show in base's counters.
		promhttp.HandlerFor(prometheus.Gatherers{reg, base}, opts).ServeHTTP(w, r)
	})
}
