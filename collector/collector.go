// Package collector turns what each account's refresh engine knows into
// Prometheus metrics at scrape time. A scrape never calls the API itself: in
// the engine's on-demand mode it waits (up to its deadline) while the engine
// fetches, in background mode it reads at once. Every image's series are its
// last known state, with how its last fetch went beside them.
package collector

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Source is an account's refresh engine, as scrapes use it.
type Source interface {
	// Wait lets the engine fetch for a scrape, until it has tried every
	// image or ctx ends (on-demand mode); it returns at once otherwise.
	Wait(ctx context.Context)
	Snapshot() engine.View
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
	// ExpectedOwners are accounts whose images (offered or accepted) are
	// expected.
	ExpectedOwners map[string]bool
	// MaxMembers is how many accounts each image may be shared with.
	MaxMembers MaxMembers
	// Changes, when set, names who changed an image: the account's audit
	// trail.
	Changes Changes
}

// MaxMembers is the share-count limit of an account's images; 0 is none.
// Default is exported once per account (scp_image_member_limit_default) and
// only the images in PerImage have a series of their own
// (scp_image_member_limit), so a limit set for every image costs one series,
// not one per image.
type MaxMembers struct {
	Default  int
	PerImage map[string]int // images whose limit is not Default; 0 lifts it
}

// Override is the image's own limit, when it differs from Default.
func (m MaxMembers) Override(imageID string) (int, bool) {
	n, ok := m.PerImage[imageID]
	return n, ok && n != m.Default
}

// Change is an audit event that explains a change the exporter saw.
type Change struct {
	EventName, UserID string
	Time              time.Time
}

// Changes explains changes from the audit trail.
type Changes interface {
	// Explain returns the latest event about the image in [from, to]
	// (widened by the clock skew the trail allows), if any.
	Explain(imageID string, from, to time.Time) (Change, bool)
}

// Scope is everything one collection covers: the accounts and how their
// series are labelled. It is replaced as a whole on
// config reload.
type Scope struct {
	Accounts []Account
	// MultiAccount puts an account label on every per-account series.
	MultiAccount bool
	// ScrapeTimeout caps a scrape's deadline.
	ScrapeTimeout time.Duration
	// Series chooses the optional series.
	Series Series
}

// Series chooses the series that are not always exported: each costs one
// series per image or per member, multiplied by tens of thousands of images.
// The zero value is the default.
type Series struct {
	// MemberTimestamps says whose share timestamps are exported ("" is
	// TimestampsPending).
	MemberTimestamps MemberTimestamps
	// ImageVisibility adds scp_image_visibility (always 1), whose label
	// scp_image_visibility_unexpected carries already.
	ImageVisibility bool
}

// MemberTimestamps says which members have timestamp series.
type MemberTimestamps string

// The values of --collector.member-timestamps.
const (
	// TimestampsPending, the default: scp_image_member_updated_timestamp_seconds
	// for pending shares only (their created time when the API gives no
	// updated), which is what "pending too long" needs.
	TimestampsPending MemberTimestamps = "pending"
	// TimestampsAll: created and updated timestamps for every member.
	TimestampsAll MemberTimestamps = "all"
	// TimestampsNone: no timestamp series.
	TimestampsNone MemberTimestamps = "none"
)

// AccountResult is one account's part of a collection.
type AccountResult struct {
	Account *Account
	View    engine.View
	// info is where the account's calls went and what versions the server
	// offers (Account.Service, read once), when resolution has run.
	info   scp.ServiceInfo
	infoOK bool
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
	c.emit(constGauge(ch), c.Fetch(ctx))
}

// constGauge sends each series as a const metric, for Collect.
func constGauge(ch chan<- prometheus.Metric) exposition.Gauge {
	return func(d *exposition.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.Prometheus(), prometheus.GaugeValue, v, labels...)
	}
}

// Fetch lets every account's engine work for this scrape until ctx ends or
// it is done, then reads what they know. ctx bounds only how long this
// scrape waits: calls under way finish into the engines' state, each bounded
// by the engine's own timeouts.
func (c *Collector) Fetch(ctx context.Context) *Result {
	t := c.scope.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range t.Accounts {
		wg.Go(func() { t.Accounts[i].Source.Wait(ctx) })
	}
	wg.Wait()
	res := &Result{Scope: t, Accounts: make([]AccountResult, len(t.Accounts)), Duration: time.Since(start)}
	for i := range t.Accounts {
		a := &t.Accounts[i]
		res.Accounts[i] = AccountResult{Account: a, View: a.Source.Snapshot()}
		if a.Service != nil {
			res.Accounts[i].info, res.Accounts[i].infoOK = a.Service()
		}
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

// emit hands every series of a collection to gauge, family after family
// (each family's series together, as the text formats need): to const
// metrics for Collect, straight to the answer for /metrics.
func (c *Collector) emit(gauge exposition.Gauge, res *Result) {
	d := c.descs.Load()
	series := res.Scope.Series
	g := func(desc *exposition.Desc, v float64, labels ...string) {
		for i, l := range labels {
			if !utf8.ValidString(l) { // from the API; the formats need UTF-8
				labels[i] = strings.ToValidUTF8(l, "\uFFFD")
			}
		}
		gauge(desc, v, labels...)
	}
	g(d.duration, res.Duration.Seconds())

	// accounts and images call fn for each account and each image, with
	// acct prefixing label values with the account name when series carry one.
	accounts := func(fn func(ar *AccountResult, acct labeler)) {
		for i := range res.Accounts {
			ar := &res.Accounts[i]
			fn(ar, labelerFor(d.multi, ar.Account.Name))
		}
	}
	images := func(fn func(ar *AccountResult, r *engine.ImageView, acct labeler)) {
		accounts(func(ar *AccountResult, acct labeler) {
			for j := range ar.View.Images {
				fn(ar, &ar.View.Images[j], acct)
			}
		})
	}

	// Per account: where calls go, which API version, how the refresh keeps up.
	accounts(func(ar *AccountResult, acct labeler) {
		if info, ok := ar.service(); ok {
			g(d.endpointInfo, 1, acct(scp.Service, string(info.Source), info.URL)...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if info, ok := ar.service(); ok && info.VersionsRead {
			for _, sv := range info.Versions {
				g(d.serverVersion, 1, acct(scp.Service, sv.ID, sv.Status)...)
			}
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if info, ok := ar.service(); ok && info.VersionsRead {
			g(d.versionOffered, boolValue(info.Offered), acct(scp.Service, info.APIVersion.ID)...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		v := ar.apiVersion()
		g(d.versionInfo, 1, acct(scp.Service, v.ID, string(v.State))...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if end := ar.apiVersion().SupportEnd(); !end.IsZero() {
			g(d.versionEnd, float64(end.Unix()), acct(scp.Service, ar.apiVersion().ID)...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if ar.View.Discovering {
			g(d.discoveryImages, float64(ar.View.Inventory.Status.Images), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if ar.View.Discovering {
			g(d.discoverySuccess, timestampOrZero(ar.View.Inventory.Status.LastSuccess), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		g(d.discoveryDropped, float64(ar.View.Inventory.Status.Dropped), acct()...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		g(d.pendingSuccess, timestampOrZero(ar.View.Inventory.Status.PendingLastSuccess), acct()...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		for _, p := range ar.View.Inventory.Pending {
			g(d.pendingInfo, 1, acct(p.ID, p.Name, p.Owner, strconv.FormatBool(ar.Account.ExpectedOwners[p.Owner]))...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if !ar.View.Inventory.Status.PendingLastSuccess.IsZero() { // never listed: no count to report
			g(d.pendingImages, float64(len(ar.View.Inventory.Pending)), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		g(d.acceptedSuccess, timestampOrZero(ar.View.Inventory.Status.AcceptedLastSuccess), acct()...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		for _, im := range ar.View.Inventory.Accepted {
			g(d.acceptedInfo, 1, acct(im.ID, im.Name, im.Owner, strconv.FormatBool(ar.Account.ExpectedOwners[im.Owner]))...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if !ar.View.Inventory.Status.AcceptedLastSuccess.IsZero() {
			g(d.acceptedImages, float64(len(ar.View.Inventory.Accepted)), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		g(d.stalestAge, ar.View.StalestAge.Seconds(), acct()...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		g(d.refreshInterval, ar.View.RefreshInterval.Seconds(), acct()...)
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if ar.View.Passes > 0 {
			g(d.passDuration, ar.View.PassDuration.Seconds(), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		if ar.View.MinPassDuration > 0 {
			g(d.minPassDuration, ar.View.MinPassDuration.Seconds(), acct()...)
		}
	})
	accounts(func(ar *AccountResult, acct labeler) {
		unknown := 0
		for _, r := range ar.View.Images {
			if _, ok := ar.visibility(r.ID); !ok {
				unknown++
			}
		}
		g(d.visibilityUnknown, float64(unknown), acct()...)
	})

	// Per image: what it is, whether its last fetch worked, who it is shared with.
	images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
		g(d.imageInfo, 1, acct(r.ID, r.Name)...)
	})
	images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
		g(d.success, boolValue(r.Err == nil), acct(r.ID)...)
	})
	images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
		if r.Err != nil {
			g(d.failure, 1, acct(r.ID, string(r.Reason))...)
		}
	})
	if series.ImageVisibility {
		images(func(ar *AccountResult, r *engine.ImageView, acct labeler) {
			if vis, ok := ar.visibility(r.ID); ok {
				g(d.visibility, 1, acct(r.ID, vis)...)
			}
		})
	}
	images(func(ar *AccountResult, r *engine.ImageView, acct labeler) {
		if vis, ok := ar.visibility(r.ID); ok {
			g(d.visibilityUnexpected, boolValue(!r.AllowedVisibility[vis]), acct(r.ID, vis)...)
		}
	})
	images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
		if r.Known {
			for _, sc := range statusCounts(r.Members) {
				g(d.members, float64(sc.n), acct(r.ID, sc.status)...)
			}
		}
	})
	images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
		if r.Known {
			for _, m := range r.Members {
				g(d.memberInfo, 1, acct(r.ID, m.ID, m.Status, strconv.FormatBool(r.Expected[m.ID]))...)
			}
		}
	})
	// The share-count limit: once per account, and per image only where the
	// image's own differs (0 included, which lifts it).
	accounts(func(ar *AccountResult, acct labeler) {
		if n := ar.Account.MaxMembers.Default; n > 0 {
			g(d.memberLimitDefault, float64(n), acct()...)
		}
	})
	images(func(ar *AccountResult, r *engine.ImageView, acct labeler) {
		if n, ok := ar.Account.MaxMembers.Override(r.ID); ok {
			g(d.memberLimit, float64(n), acct(r.ID)...)
		}
	})
	// Each image's change is looked up once, so that both families name
	// the same event even if the trail is read in between.
	changes := map[*AccountResult]map[string]Change{}
	images(func(ar *AccountResult, r *engine.ImageView, _ labeler) {
		if ch, ok := ar.change(r); ok {
			if changes[ar] == nil {
				changes[ar] = map[string]Change{}
			}
			changes[ar][r.ID] = ch
		}
	})
	images(func(ar *AccountResult, r *engine.ImageView, acct labeler) {
		if ch, ok := changes[ar][r.ID]; ok {
			g(d.changeInfo, 1, acct(r.ID, ch.EventName, ch.UserID)...)
		}
	})
	images(func(ar *AccountResult, r *engine.ImageView, acct labeler) {
		if ch, ok := changes[ar][r.ID]; ok {
			g(d.changeTime, unixSeconds(ch.Time), acct(r.ID)...)
		}
	})
	if series.MemberTimestamps == TimestampsAll {
		images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
			for _, m := range r.Members {
				if r.Known && !m.CreatedAt.IsZero() {
					g(d.memberCreated, unixSeconds(m.CreatedAt), acct(r.ID, m.ID)...)
				}
			}
		})
	}
	if series.MemberTimestamps != TimestampsNone {
		all := series.MemberTimestamps == TimestampsAll
		images(func(_ *AccountResult, r *engine.ImageView, acct labeler) {
			for _, m := range r.Members {
				if !r.Known || (!all && m.Status != "pending") {
					continue
				}
				at := m.UpdatedAt
				if at.IsZero() && !all {
					at = m.CreatedAt // pending since it was offered
				}
				if !at.IsZero() {
					g(d.memberUpdated, unixSeconds(at), acct(r.ID, m.ID)...)
				}
			}
		})
	}
}

// labeler returns a series' label values, with the account's name first
// when series carry an account label.
type labeler func(values ...string) []string

func labelerFor(multi bool, account string) labeler {
	if !multi {
		return func(values ...string) []string { return values }
	}
	return func(values ...string) []string { return append([]string{account}, values...) }
}

// service is where the account's calls go and what versions the server
// offers, once resolution has run.
func (ar *AccountResult) service() (scp.ServiceInfo, bool) { return ar.info, ar.infoOK }

// apiVersion is the API version the account's calls request.
func (ar *AccountResult) apiVersion() scp.APIVersion {
	if info, ok := ar.service(); ok {
		return info.APIVersion
	}
	return ar.Account.APIVersion
}

// visibility is the last known visibility of an image of this account.
func (ar *AccountResult) visibility(id string) (string, bool) {
	v, ok := ar.View.Inventory.Visibility[id]
	return v, ok && v != ""
}

// change is the audit event that explains the latest change the exporter
// saw of the image: of its members, or of its visibility.
func (ar *AccountResult) change(r *engine.ImageView) (Change, bool) {
	if ar.Account.Changes == nil {
		return Change{}, false
	}
	var best Change
	found := false
	try := func(from, to time.Time) {
		if to.IsZero() {
			return
		}
		if ch, ok := ar.Account.Changes.Explain(r.ID, from, to); ok && (!found || ch.Time.After(best.Time)) {
			best, found = ch, true
		}
	}
	try(r.ChangedSince, r.ChangedAt)
	if vc, ok := ar.View.Inventory.VisibilityChanged[r.ID]; ok {
		try(vc.Since, vc.At)
	}
	return best, found
}

// statusCount is how many members have a status.
type statusCount struct {
	status string
	n      int
}

// statusCounts counts members by status: pending, accepted and rejected
// always (0 when none has them), any other status the API adds when some
// member has it; in status order.
func statusCounts(members []scp.Member) []statusCount {
	counts := []statusCount{{"accepted", 0}, {"pending", 0}, {"rejected", 0}}
	for _, m := range members {
		i := slices.IndexFunc(counts, func(c statusCount) bool { return c.status == m.Status })
		if i < 0 {
			i = len(counts)
			counts = append(counts, statusCount{m.Status, 0})
		}
		counts[i].n++
	}
	slices.SortFunc(counts, func(a, b statusCount) int { return strings.Compare(a.status, b.status) })
	return counts
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

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
