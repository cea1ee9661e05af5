// Package collector turns SCP API answers into Prometheus metrics at scrape
// time. Every scrape fetches the members of each configured image (sharing
// one round of API calls with any scrape already under way) and emits const
// metrics; nothing is kept between scrapes unless a minimum refresh interval
// is configured.
package collector

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/scp"
)

const namespace = "scp"

// Statuses every fetched image reports, 0 when no member has them.
var baseStatuses = []string{"pending", "accepted", "rejected"}

// MembersLister is the part of the SCP client the collector uses.
type MembersLister interface {
	ListImageMembers(ctx context.Context, imageID string) ([]scp.Member, error)
}

// Image is one image to watch.
type Image struct {
	ID   string
	Name string
	// Expected holds the accounts this image may be shared with.
	Expected map[string]bool
}

// Target is everything one collection covers. It is replaced as a whole on
// config reload.
type Target struct {
	Lister         MembersLister
	Images         []Image
	APIVersion     scp.APIVersion
	MaxConcurrency int
	// ScrapeTimeout caps a scrape's deadline.
	ScrapeTimeout time.Duration
	// MinRefreshInterval, when positive, serves a collection that finished
	// less than this long ago instead of calling the API again.
	MinRefreshInterval time.Duration
}

// ImageResult is how fetching one image went.
type ImageResult struct {
	Image   Image
	Members []scp.Member
	Err     error
	Reason  scp.Reason // why it failed; empty on success
}

// Result is one complete collection.
type Result struct {
	Target   *Target
	Images   []ImageResult
	Duration time.Duration
	Finished time.Time
}

// round is a collection under way that scrapes arriving meanwhile share.
type round struct {
	done   chan struct{}
	result *Result
}

// Collector is the exporter's prometheus.Collector.
type Collector struct {
	logger log.Logger
	now    func() time.Time

	target atomic.Pointer[Target]

	mu       sync.Mutex
	inflight *round
	last     *Result
	joined   atomic.Int32 // scrapes waiting on a round they did not start

	imageInfo, members, memberInfo, memberCreated, memberUpdated *prometheus.Desc
	success, failure, duration, cacheAge                         *prometheus.Desc
	versionInfo, versionEnd                                      *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector for target. now is the clock (time.Now in production).
func New(target Target, logger log.Logger, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	c := &Collector{
		logger: logger,
		now:    now,
		imageInfo: d("image_info",
			"Images this exporter watches, with their configured name; always 1.", "image_id", "name"),
		members: d("image_members",
			"Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds).", "image_id", "status"),
		memberInfo: d("image_member_info",
			"One series per account the image is shared with; expected is \"true\" when the account is in the image's or the top-level expected_members. Always 1.",
			"image_id", "member_id", "status", "expected"),
		memberCreated: d("image_member_created_timestamp_seconds",
			"When the image was shared with the account, in Unix seconds.", "image_id", "member_id"),
		memberUpdated: d("image_member_updated_timestamp_seconds",
			"When the share's status last changed, in Unix seconds.", "image_id", "member_id"),
		success: d("image_members_scrape_success",
			"1 when the image's members were fetched in this scrape, 0 when not.", "image_id"),
		failure: d("image_members_scrape_error",
			"1 for an image whose members could not be fetched in this scrape, labelled with why; absent on success.", "image_id", "reason"),
		duration: d("scrape_duration_seconds",
			"How long collecting all images' members took, in seconds."),
		cacheAge: d("scrape_cache_age_seconds",
			"Age in seconds of the collection served; results may be cached up to min_refresh_interval, 0 when fetched for this scrape."),
		versionInfo: d("api_version_info",
			"The SCP API version the exporter requests and its state in the API reference; always 1.", "service", "version", "state"),
		versionEnd: d("api_version_support_end_timestamp_seconds",
			"When guaranteed support of the API version in use ends (00:00 UTC the day after the announced date), in Unix seconds.", "service", "version"),
	}
	c.Update(target)
	return c
}

// Update swaps in a new target (after a config reload). Scrapes already under
// way finish with the old one; a cached result is dropped.
func (c *Collector) Update(t Target) {
	if t.MaxConcurrency < 1 {
		t.MaxConcurrency = 1
	}
	c.target.Store(&t)
	c.mu.Lock()
	c.last = nil
	c.mu.Unlock()
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.imageInfo, c.members, c.memberInfo, c.memberCreated, c.memberUpdated,
		c.success, c.failure, c.duration, c.cacheAge, c.versionInfo, c.versionEnd,
	} {
		ch <- d
	}
}

// Collect collects with the target's scrape timeout as deadline. Scrapes over
// HTTP go through Handler, which also honours Prometheus's timeout header.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.target.Load().ScrapeTimeout)
	defer cancel()
	c.collectContext(ctx, ch)
}

func (c *Collector) collectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	res, cached := c.Fetch(ctx)
	c.emit(ch, res, cached)
}

// Fetch returns a collection: a cached one when min_refresh_interval allows,
// the one under way if another scrape started it, or a new one. cached
// reports whether the result was finished before this scrape began.
func (c *Collector) Fetch(ctx context.Context) (res *Result, cached bool) {
	t := c.target.Load()
	c.mu.Lock()
	if last := c.last; last != nil && last.Target == t && t.MinRefreshInterval > 0 && c.now().Sub(last.Finished) < t.MinRefreshInterval {
		c.mu.Unlock()
		return last, true
	}
	r := c.inflight
	leader := r == nil || r.result != nil
	if leader {
		r = &round{done: make(chan struct{})}
		c.inflight = r
	}
	c.mu.Unlock()

	if leader {
		// The round serves every scrape that joins it, so it must not end
		// when this scrape's client goes away; it keeps only the deadline.
		rctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(rctx, dl)
			defer cancel()
		}
		res := c.run(rctx, t)
		c.mu.Lock()
		r.result = res
		c.last = res
		if c.inflight == r {
			c.inflight = nil
		}
		c.mu.Unlock()
		close(r.done)
		return res, false
	}
	c.joined.Add(1)
	defer c.joined.Add(-1)
	select {
	case <-r.done:
		return r.result, false
	case <-ctx.Done():
		return c.timedOut(t, ctx.Err()), false
	}
}

// waiting is how many scrapes are waiting on a round another scrape started.
func (c *Collector) waiting() int { return int(c.joined.Load()) }

// timedOut is the result for a scrape whose deadline passed while it waited
// for a round another scrape started.
func (c *Collector) timedOut(t *Target, err error) *Result {
	res := &Result{Target: t, Images: make([]ImageResult, len(t.Images)), Finished: c.now()}
	for i, img := range t.Images {
		res.Images[i] = ImageResult{Image: img, Err: err, Reason: scp.ReasonTimeout}
	}
	return res
}

// run fetches every image with at most MaxConcurrency calls in flight.
func (c *Collector) run(ctx context.Context, t *Target) *Result {
	start := time.Now()
	res := &Result{Target: t, Images: make([]ImageResult, len(t.Images))}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(t.MaxConcurrency, len(t.Images)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(t.Images) {
					return
				}
				img := t.Images[i]
				r := ImageResult{Image: img}
				if err := ctx.Err(); err != nil {
					r.Err, r.Reason = err, scp.ReasonTimeout
				} else {
					r.Members, r.Err = t.Lister.ListImageMembers(ctx, img.ID)
					r.Reason = scp.ReasonOf(r.Err)
				}
				res.Images[i] = r
			}
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	res.Finished = c.now()
	c.logFailures(res)
	return res
}

func (c *Collector) logFailures(res *Result) {
	failed := 0
	var first *ImageResult
	for i := range res.Images {
		r := &res.Images[i]
		if r.Err == nil {
			continue
		}
		failed++
		if first == nil {
			first = r
		}
		level.Debug(c.logger).Log("msg", "fetching image members failed", "image_id", r.Image.ID, "reason", r.Reason, "err", r.Err)
	}
	if failed > 0 {
		level.Warn(c.logger).Log("msg", "fetching image members failed", "failed", failed, "images", len(res.Images),
			"example_image_id", first.Image.ID, "reason", first.Reason, "err", first.Err)
	}
}

// emit turns a collection into const metrics.
func (c *Collector) emit(ch chan<- prometheus.Metric, res *Result, cached bool) {
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	t := res.Target
	v := t.APIVersion
	gauge(c.versionInfo, 1, scp.Service, v.ID, string(v.State))
	if end := v.SupportEnd(); !end.IsZero() {
		gauge(c.versionEnd, float64(end.Unix()), scp.Service, v.ID)
	}
	gauge(c.duration, res.Duration.Seconds())
	age := 0.0
	if cached {
		age = max(0, c.now().Sub(res.Finished).Seconds())
	}
	gauge(c.cacheAge, age)

	for _, r := range res.Images {
		id := r.Image.ID
		gauge(c.imageInfo, 1, id, r.Image.Name)
		if r.Err != nil {
			gauge(c.success, 0, id)
			gauge(c.failure, 1, id, string(r.Reason))
			continue
		}
		gauge(c.success, 1, id)
		counts := map[string]int{}
		for _, s := range baseStatuses {
			counts[s] = 0
		}
		for _, m := range dedupe(r.Members) {
			counts[m.Status]++
			gauge(c.memberInfo, 1, id, m.ID, m.Status, strconv.FormatBool(r.Image.Expected[m.ID]))
			if !m.CreatedAt.IsZero() {
				gauge(c.memberCreated, unixSeconds(m.CreatedAt), id, m.ID)
			}
			if !m.UpdatedAt.IsZero() {
				gauge(c.memberUpdated, unixSeconds(m.UpdatedAt), id, m.ID)
			}
		}
		statuses := make([]string, 0, len(counts))
		for s := range counts {
			statuses = append(statuses, s)
		}
		sort.Strings(statuses)
		for _, s := range statuses {
			gauge(c.members, float64(counts[s]), id, s)
		}
	}
}

// dedupe keeps one entry per member ID, the last the API listed: two series
// with the same labels would fail the whole scrape.
func dedupe(members []scp.Member) []scp.Member {
	index := make(map[string]int, len(members))
	out := members[:0:0]
	for _, m := range members {
		if i, ok := index[m.ID]; ok {
			out[i] = m
			continue
		}
		index[m.ID] = len(out)
		out = append(out, m)
	}
	return out
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
