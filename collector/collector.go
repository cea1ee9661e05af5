// Package collector turns SCP API answers into Prometheus metrics at scrape
// time. Every scrape fetches the members of each watched image (sharing one
// round of API calls with any scrape already under way) and emits const
// metrics; nothing is kept between scrapes unless a minimum refresh interval
// is configured.
package collector

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/discovery"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Statuses every fetched image reports, 0 when no member has them.
var baseStatuses = []string{"pending", "accepted", "rejected"}

// MembersLister is the part of the SCP client the collector uses.
type MembersLister interface {
	ListImageMembers(ctx context.Context, imageID string) ([]scp.Member, error)
}

// DiscoverySource is an account's background state: discovered images,
// visibility, offered images.
type DiscoverySource interface {
	Snapshot() discovery.State
}

// Image is one image to watch.
type Image struct {
	ID   string
	Name string
	// Expected holds the accounts this image may be shared with.
	Expected map[string]bool
	// AllowedVisibility holds the visibilities this image may have.
	AllowedVisibility map[string]bool
}

// Account is one SCP account (or region) and the images watched there.
type Account struct {
	// Name is the account label's value; empty in the single-account form,
	// whose series have no account label.
	Name           string
	Lister         MembersLister
	APIVersion     scp.APIVersion
	MaxConcurrency int
	// Images is the static list from the config.
	Images []Image
	// Discovery, when set, supplies visibility and offered images and, with
	// Discover, adds the images it lists; those get the discovered name,
	// DefaultExpected and DefaultAllowedVisibility.
	Discovery                DiscoverySource
	Discover                 bool
	DefaultExpected          map[string]bool
	DefaultAllowedVisibility map[string]bool
	// ExpectedOwners are accounts whose image offers are expected.
	ExpectedOwners map[string]bool

	static map[string]bool // IDs of Images, built by Update
}

// Target is everything one collection covers. It is replaced as a whole on
// config reload.
type Target struct {
	Accounts []Account
	// MultiAccount puts an account label on every per-account series.
	MultiAccount bool
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

// AccountResult is one account's part of a collection.
type AccountResult struct {
	Account *Account
	Images  []ImageResult
	State   *discovery.State // nil without a discovery source
}

// Result is one complete collection.
type Result struct {
	Target   *Target
	Accounts []AccountResult
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
	descs  atomic.Pointer[descs]

	mu       sync.Mutex
	inflight *round
	last     *Result
	joined   atomic.Int32 // scrapes waiting on a round they did not start

	rendering renderShare // /metrics series of a round, shared by its scrapes
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector for target. now is the clock (time.Now in production).
func New(target Target, logger log.Logger, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	c := &Collector{logger: logger, now: now}
	c.Update(target)
	return c
}

// Update swaps in a new target (after a config reload). Scrapes already under
// way finish with the old one; a cached result is dropped.
func (c *Collector) Update(t Target) {
	t.Accounts = slices.Clone(t.Accounts)
	for i := range t.Accounts {
		a := &t.Accounts[i]
		if a.Discover {
			a.static = make(map[string]bool, len(a.Images))
			for _, img := range a.Images {
				a.static[img.ID] = true
			}
		}
	}
	c.target.Store(&t)
	if d := c.descs.Load(); d == nil || d.multi != t.MultiAccount {
		c.descs.Store(newDescs(t.MultiAccount))
	}
	c.mu.Lock()
	c.last = nil
	c.mu.Unlock()
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.descs.Load().describe(ch)
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
	c.emit(chanGauge(ch), res, cached)
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
	// A round clears inflight in the same locked section that finishes it.
	r := c.inflight
	leader := r == nil
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
		if t.MinRefreshInterval > 0 {
			c.last = res // kept only to be served again
		}
		c.inflight = nil
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

// imagesOf is the account's watch list now: the static images, then the
// discovered ones that are not among them.
func imagesOf(a *Account) ([]Image, *discovery.State) {
	if a.Discovery == nil {
		return a.Images, nil
	}
	st := a.Discovery.Snapshot()
	if !a.Discover || len(st.Discovered) == 0 {
		return a.Images, &st
	}
	images := make([]Image, len(a.Images), len(a.Images)+len(st.Discovered))
	copy(images, a.Images)
	for _, im := range st.Discovered {
		if !a.static[im.ID] {
			images = append(images, Image{ID: im.ID, Name: im.Name, Expected: a.DefaultExpected, AllowedVisibility: a.DefaultAllowedVisibility})
		}
	}
	return images, &st
}

// timedOut is the result for a scrape whose deadline passed while it waited
// for a round another scrape started.
func (c *Collector) timedOut(t *Target, err error) *Result {
	res := &Result{Target: t, Accounts: make([]AccountResult, len(t.Accounts)), Finished: c.now()}
	for i := range t.Accounts {
		images, st := imagesOf(&t.Accounts[i])
		ar := AccountResult{Account: &t.Accounts[i], Images: make([]ImageResult, len(images)), State: st}
		for j, img := range images {
			ar.Images[j] = ImageResult{Image: img, Err: err, Reason: scp.ReasonTimeout}
		}
		res.Accounts[i] = ar
	}
	return res
}

// run fetches every image of every account; each account has at most its
// MaxConcurrency calls in flight.
func (c *Collector) run(ctx context.Context, t *Target) *Result {
	start := time.Now()
	res := &Result{Target: t, Accounts: make([]AccountResult, len(t.Accounts))}
	var wg sync.WaitGroup
	for i := range t.Accounts {
		a := &t.Accounts[i]
		images, st := imagesOf(a)
		ar := &res.Accounts[i]
		*ar = AccountResult{Account: a, Images: make([]ImageResult, len(images)), State: st}
		var next atomic.Int64
		for range min(max(1, a.MaxConcurrency), len(images)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j := int(next.Add(1) - 1)
					if j >= len(images) {
						return
					}
					r := ImageResult{Image: images[j]}
					if err := ctx.Err(); err != nil {
						r.Err, r.Reason = err, scp.ReasonTimeout
					} else {
						r.Members, r.Err = a.Lister.ListImageMembers(ctx, r.Image.ID)
						r.Reason = scp.ReasonOf(r.Err)
					}
					ar.Images[j] = r
				}
			}()
		}
	}
	wg.Wait()
	res.Duration = time.Since(start)
	res.Finished = c.now()
	for i := range res.Accounts {
		c.logFailures(&res.Accounts[i])
	}
	return res
}

func (c *Collector) logFailures(ar *AccountResult) {
	logger := c.logger
	if ar.Account.Name != "" {
		logger = log.With(logger, "account", ar.Account.Name)
	}
	failed := 0
	var first *ImageResult
	for i := range ar.Images {
		r := &ar.Images[i]
		if r.Err == nil {
			continue
		}
		failed++
		if first == nil {
			first = r
		}
		level.Debug(logger).Log("msg", "fetching image members failed", "image_id", r.Image.ID, "reason", r.Reason, "err", r.Err)
	}
	if failed > 0 {
		level.Warn(logger).Log("msg", "fetching image members failed", "failed", failed, "images", len(ar.Images),
			"example_image_id", first.Image.ID, "reason", first.Reason, "err", first.Err)
	}
}

// emit turns a collection into series, handing each to gauge: const
// metrics for Collect, a compact buffer for /metrics (see render.go).
func (c *Collector) emit(gauge gaugeFunc, res *Result, cached bool) {
	d := c.descs.Load()
	gauge(d.duration, res.Duration.Seconds())
	age := 0.0
	if cached {
		age = max(0, c.now().Sub(res.Finished).Seconds())
	}
	gauge(d.cacheAge, age)

	for _, ar := range res.Accounts {
		// acct prefixes label values with the account name when series carry one.
		acct := func(values ...string) []string {
			if !d.multi {
				return values
			}
			return append([]string{ar.Account.Name}, values...)
		}
		v := ar.Account.APIVersion
		gauge(d.versionInfo, 1, acct(scp.Service, v.ID, string(v.State))...)
		if end := v.SupportEnd(); !end.IsZero() {
			gauge(d.versionEnd, float64(end.Unix()), acct(scp.Service, v.ID)...)
		}
		if ar.State != nil {
			c.emitState(gauge, d, ar, acct)
		}
		unknown := 0
		for _, r := range ar.Images {
			id := r.Image.ID
			gauge(d.imageInfo, 1, acct(id, r.Image.Name)...)
			if vis, ok := ar.visibility(id); ok {
				gauge(d.visibility, 1, acct(id, vis)...)
				gauge(d.visibilityUnexpected, boolValue(!r.Image.AllowedVisibility[vis]), acct(id, vis)...)
			} else {
				unknown++
			}
			if r.Err != nil {
				gauge(d.success, 0, acct(id)...)
				gauge(d.failure, 1, acct(id, string(r.Reason))...)
				continue
			}
			gauge(d.success, 1, acct(id)...)
			counts := map[string]int{}
			for _, s := range baseStatuses {
				counts[s] = 0
			}
			for _, m := range dedupe(r.Members) {
				counts[m.Status]++
				gauge(d.memberInfo, 1, acct(id, m.ID, m.Status, strconv.FormatBool(r.Image.Expected[m.ID]))...)
				if !m.CreatedAt.IsZero() {
					gauge(d.memberCreated, unixSeconds(m.CreatedAt), acct(id, m.ID)...)
				}
				if !m.UpdatedAt.IsZero() {
					gauge(d.memberUpdated, unixSeconds(m.UpdatedAt), acct(id, m.ID)...)
				}
			}
			statuses := make([]string, 0, len(counts))
			for s := range counts {
				statuses = append(statuses, s)
			}
			sort.Strings(statuses)
			for _, s := range statuses {
				gauge(d.members, float64(counts[s]), acct(id, s)...)
			}
		}
		if ar.State != nil {
			gauge(d.visibilityUnknown, float64(unknown), acct()...)
		}
	}
}

// visibility is the last known visibility of an image of this account.
func (ar *AccountResult) visibility(id string) (string, bool) {
	if ar.State == nil {
		return "", false
	}
	v, ok := ar.State.Visibility[id]
	return v, ok && v != ""
}

// emitState emits what the account's background refresh knows: discovery's
// progress and the images other accounts offer to this one.
func (c *Collector) emitState(gauge func(*prometheus.Desc, float64, ...string), d *descs, ar AccountResult, acct func(...string) []string) {
	st := ar.State
	if ar.Account.Discover {
		gauge(d.discoveryImages, float64(st.Status.Images), acct()...)
		gauge(d.discoverySuccess, timestampOrZero(st.Status.LastSuccess), acct()...)
	}
	gauge(d.pendingSuccess, timestampOrZero(st.Status.PendingLastSuccess), acct()...)
	if st.Status.PendingLastSuccess.IsZero() {
		return // never listed: no count to report
	}
	seen := make(map[string]bool, len(st.Pending))
	for _, p := range st.Pending {
		if seen[p.ID] {
			continue // one series per offered image
		}
		seen[p.ID] = true
		gauge(d.pendingInfo, 1, acct(p.ID, p.Name, p.Owner, strconv.FormatBool(ar.Account.ExpectedOwners[p.Owner]))...)
	}
	gauge(d.pendingImages, float64(len(seen)), acct()...)
}

func timestampOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return unixSeconds(t)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// dedupe keeps one entry per member ID, the last the API listed: two series
// with the same labels would fail the whole scrape.
func dedupe(members []scp.Member) []scp.Member {
	if len(members) <= 32 && !hasDuplicateID(members) {
		return members // the usual case: nothing to merge, nothing to copy
	}
	index := make(map[string]int, len(members))
	out := make([]scp.Member, 0, len(members))
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

// hasDuplicateID reports whether two members have the same ID, without a
// map: lists are a handful long.
func hasDuplicateID(members []scp.Member) bool {
	for i := 1; i < len(members); i++ {
		for j := range i {
			if members[i].ID == members[j].ID {
				return true
			}
		}
	}
	return false
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
