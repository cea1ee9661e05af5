package collector

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
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

// resultCollector writes a scrape already made, for promhttp.
type resultCollector struct {
	*Collector
	res *Result
}

func (rc resultCollector) Collect(ch chan<- prometheus.Metric) {
	rc.write(exposition.ConstMetrics(ch), rc.res)
}

// Handler serves /metrics: the collector's families under a deadline taken
// from Prometheus's timeout header, then everything base gathers (build
// info, process and Go runtime metrics). The accounts work for the scrape
// first, so the API calls it waited for show in its request counters.
//
// Reading the snapshots and writing the page cost CPU and memory (at
// 10,000 images a few MiB a scrape while it writes): scrapes do it at
// most GOMAXPROCS at once, the others waiting their turn, so that many
// scrapes at once (up to --web.max-requests) cost no more memory than that,
// and no more time than one after the other.
func (c *Collector) Handler(base prometheus.Gatherer, offset time.Duration, opts promhttp.HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := ScrapeTimeout(r.Header.Get(ScrapeTimeoutHeader), offset, c.scope.Load().ScrapeTimeout)
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		scope, waited := c.wait(ctx)
		select {
		case c.renders <- struct{}{}:
			defer func() { <-c.renders }()
		case <-r.Context().Done():
			return // the client has gone
		}
		res := c.read(scope, waited)
		exposition.Serve(w, r, func(s exposition.Sink) { c.write(s, res) }, resultCollector{c, res}, base, opts)
	})
}
