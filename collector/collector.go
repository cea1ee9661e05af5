// Package collector turns what each account's refresh engine knows into
// Prometheus metrics at scrape time. A scrape never calls the API itself: in
// the engine's on-demand mode it waits (up to its deadline) while the engine
// fetches, in background mode it reads at once. Every image's series are its
// last known state, with how its last fetch went beside them.
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

	"github.com/scp-exporter/scp_exporter/engine"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Statuses every fetched image reports, 0 when no member has them.
var baseStatuses = []string{"pending", "accepted", "rejected"}

// Source is an account's refresh engine, as scrapes use it.
type Source interface {
	// Wait lets the engine fetch for a scrape, until it has tried every
	// image or ctx ends (on-demand mode); it returns at once otherwise.
	Wait(ctx context.Context)
	Snapshot() engine.View
	// Generation changes whenever what Snapshot shows does (but for ages).
	Generation() uint64
}

// Account is one SCP account (or region) as scrapes see it.
type Account struct {
	// Name is the account label's value; empty in the single-account form,
	// whose series have no account label.
	Name       string
	APIVersion scp.APIVersion
	// Service, when set, tells the endpoint and versions resolution found
	// (the client's ServiceInfo); its APIVersion replaces APIVersion.
	Service func() (scp.ServiceInfo, bool)
	Source  Source
	// ExpectedOwners are accounts whose image offers are expected.
	ExpectedOwners map[string]bool
}

// Scope is everything one collection covers: the accounts and how their series are labelled. It is replaced as a whole on
// config reload.
type Scope struct {
	Accounts []Account
	// MultiAccount puts an account label on every per-account series.
	MultiAccount bool
	// ScrapeTimeout caps a scrape's deadline.
	ScrapeTimeout time.Duration
}

// AccountResult is one account's part of a collection.
type AccountResult struct {
	Account *Account
	View    engine.View
}

// Result is one scrape's collection.
type Result struct {
	Scope    *Scope
	Accounts []AccountResult
	// Duration is how long the scrape waited for the engines.
	Duration time.Duration
}

// Collector is the exporter's prometheus.Collector.
type Collector struct {
	logger log.Logger

	scope atomic.Pointer[Scope]
	descs atomic.Pointer[descs]

	mu       sync.Mutex
	reported map[string]string // last failure summary logged per account

	shared sharedRendering // /metrics series, for the scrapes that read the same state
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector for scope.
func New(scope Scope, logger log.Logger) *Collector {
	c := &Collector{logger: logger, reported: map[string]string{}}
	c.Update(scope)
	return c
}

// Update swaps in a new scope (after a config reload). Scrapes already under
// way finish with the old one.
func (c *Collector) Update(t Scope) {
	c.scope.Store(&t)
	c.mu.Lock()
	for name := range c.reported {
		if !slices.ContainsFunc(t.Accounts, func(a Account) bool { return a.Name == name }) {
			delete(c.reported, name) // a removed account
		}
	}
	c.mu.Unlock()
	if d := c.descs.Load(); d == nil || d.multi != t.MultiAccount {
		c.descs.Store(newDescs(t.MultiAccount))
	}
}

// ScrapeTimeout is the longest a scrape may take, from the running config.
func (c *Collector) ScrapeTimeout() time.Duration { return c.scope.Load().ScrapeTimeout }

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.descs.Load().describe(ch)
}

// Collect collects with the scope's scrape timeout as deadline. Scrapes over
// HTTP go through Handler, which also honours Prometheus's timeout header.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.scope.Load().ScrapeTimeout)
	defer cancel()
	c.collectContext(ctx, ch)
}

func (c *Collector) collectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	c.emit(chanGauge(ch), c.Fetch(ctx))
}

// Fetch lets every account's engine work for this scrape until ctx ends or
// it is done, then reads what they know. ctx bounds only how long this
// scrape waits: calls under way finish into the engines' state, each bounded
// by the engine's own timeouts.
func (c *Collector) Fetch(ctx context.Context) *Result {
	t, start := c.wait(ctx)
	return c.snapshot(t, start)
}

// wait lets every account's engine work for this scrape until ctx ends or
// it is done.
func (c *Collector) wait(ctx context.Context) (*Scope, time.Time) {
	t := c.scope.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range t.Accounts {
		wg.Go(func() { t.Accounts[i].Source.Wait(ctx) })
	}
	wg.Wait()
	return t, start
}

// generations identifies the state of every account of t.
func generations(t *Scope) []uint64 {
	g := make([]uint64, len(t.Accounts))
	for i := range t.Accounts {
		g[i] = t.Accounts[i].Source.Generation()
	}
	return g
}

// snapshot reads what the engines of t know.
func (c *Collector) snapshot(t *Scope, start time.Time) *Result {
	res := &Result{Scope: t, Accounts: make([]AccountResult, len(t.Accounts)), Duration: time.Since(start)}
	for i := range t.Accounts {
		res.Accounts[i] = AccountResult{Account: &t.Accounts[i], View: t.Accounts[i].Source.Snapshot()}
		c.logFailures(&res.Accounts[i])
	}
	return res
}

// logFailures logs the images whose last fetch failed: each at debug level
// on every scrape, and a summary at warning level when it changes, so a
// lasting failure is not logged again on every scrape.
func (c *Collector) logFailures(ar *AccountResult) {
	logger := c.logger
	if ar.Account.Name != "" {
		logger = log.With(logger, "account", ar.Account.Name)
	}
	failed := 0
	var first *engine.ImageView
	for i := range ar.View.Images {
		r := &ar.View.Images[i]
		if r.Err == nil || r.Reason == engine.ReasonNotFetchedYet {
			continue
		}
		failed++
		if first == nil {
			first = r
		}
		level.Debug(logger).Log("msg", "fetching image members failed", "image_id", r.ID, "reason", r.Reason, "err", r.Err)
	}
	summary := ""
	if failed > 0 {
		summary = strconv.Itoa(failed) + " " + first.ID + " " + string(first.Reason)
	}
	c.mu.Lock()
	changed := c.reported[ar.Account.Name] != summary
	c.reported[ar.Account.Name] = summary
	c.mu.Unlock()
	if failed > 0 && changed {
		level.Warn(logger).Log("msg", "fetching image members failed", "failed", failed, "images", len(ar.View.Images),
			"example_image_id", first.ID, "reason", first.Reason, "err", first.Err)
	}
}

// emit turns a collection into series, handing each to gauge: const
// metrics for Collect, a compact buffer for /metrics (see render.go).
func (c *Collector) emit(gauge gaugeFunc, res *Result) {
	d := c.descs.Load()
	gauge(d.duration, res.Duration.Seconds())

	for _, ar := range res.Accounts {
		// acct prefixes label values with the account name when series carry one.
		acct := func(values ...string) []string {
			if !d.multi {
				return values
			}
			return append([]string{ar.Account.Name}, values...)
		}
		v := ar.Account.APIVersion
		if ar.Account.Service != nil {
			if info, ok := ar.Account.Service(); ok {
				v = info.APIVersion
				emitService(gauge, d, info, acct)
			}
		}
		gauge(d.versionInfo, 1, acct(scp.Service, v.ID, string(v.State))...)
		if end := v.SupportEnd(); !end.IsZero() {
			gauge(d.versionEnd, float64(end.Unix()), acct(scp.Service, v.ID)...)
		}
		c.emitState(gauge, d, ar, acct)
		view := &ar.View
		gauge(d.stalestAge, view.StalestAge.Seconds(), acct()...)
		gauge(d.refreshInterval, view.RefreshInterval.Seconds(), acct()...)
		if view.Passes > 0 {
			gauge(d.passDuration, view.PassDuration.Seconds(), acct()...)
		}
		if view.MinPassDuration > 0 {
			gauge(d.minPassDuration, view.MinPassDuration.Seconds(), acct()...)
		}
		unknown := 0
		for _, r := range view.Images {
			id := r.ID
			gauge(d.imageInfo, 1, acct(id, r.Name)...)
			if vis, ok := ar.visibility(id); ok {
				gauge(d.visibility, 1, acct(id, vis)...)
				gauge(d.visibilityUnexpected, boolValue(!r.AllowedVisibility[vis]), acct(id, vis)...)
			} else {
				unknown++
			}
			if r.Err != nil {
				gauge(d.success, 0, acct(id)...)
				gauge(d.failure, 1, acct(id, string(r.Reason))...)
			} else {
				gauge(d.success, 1, acct(id)...)
			}
			if !r.Known {
				continue
			}
			counts := map[string]int{}
			for _, s := range baseStatuses {
				counts[s] = 0
			}
			for _, m := range dedupe(r.Members) {
				counts[m.Status]++
				gauge(d.memberInfo, 1, acct(id, m.ID, m.Status, strconv.FormatBool(r.Expected[m.ID]))...)
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
		gauge(d.visibilityUnknown, float64(unknown), acct()...)
	}
}

// emitService emits where the account's calls go and what versions the
// server offers.
func emitService(gauge gaugeFunc, d *descs, info scp.ServiceInfo, acct func(...string) []string) {
	gauge(d.endpointInfo, 1, acct(scp.Service, string(info.Source), info.URL)...)
	if !info.VersionsRead {
		return
	}
	for _, sv := range info.Versions {
		gauge(d.serverVersion, 1, acct(scp.Service, sv.ID, sv.Status)...)
	}
	gauge(d.versionOffered, boolValue(info.Offered), acct(scp.Service, info.APIVersion.ID)...)
}

// visibility is the last known visibility of an image of this account.
func (ar *AccountResult) visibility(id string) (string, bool) {
	v, ok := ar.View.Inventory.Visibility[id]
	return v, ok && v != ""
}

// emitState emits what the account's background refresh knows: discovery's
// progress and the images other accounts offer to this one.
func (c *Collector) emitState(gauge func(*prometheus.Desc, float64, ...string), d *descs, ar AccountResult, acct func(...string) []string) {
	st := &ar.View.Inventory
	if ar.View.Discovering {
		gauge(d.discoveryImages, float64(st.Status.Images), acct()...)
		gauge(d.discoverySuccess, timestampOrZero(st.Status.LastSuccess), acct()...)
	}
	gauge(d.discoveryDropped, float64(st.Status.Dropped), acct()...)
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
