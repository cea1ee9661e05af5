// Package collector is a scrape: it lets each account's runtime work for
// the scrape (on demand, its engine fetches while the scrape waits, up to
// its deadline), reads every account's snapshot, and writes every metric
// family from them. A scrape never calls the API itself. The families are
// defined beside the code that computes their values (package metric's
// Family, in the account packages and scp); the collector only walks them
// and adds the account label, in the accounts form, here and nowhere else.
package collector

import (
	"context"
	"runtime"
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

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/internal/serve/exposition"
)

// Account is one SCP account as scrapes use it: its runtime.
type Account interface {
	// Wait lets the account's engine fetch for a scrape, until it has
	// tried every image or ctx ends (on demand); it returns at once
	// otherwise.
	Wait(ctx context.Context)
	// Snapshot is what the account knows now.
	Snapshot() account.Snapshot
}

// Scope is everything one scrape covers: the accounts, how their series
// are labelled, and the exporter's own families. It is replaced as a
// whole on config reload.
type Scope struct {
	Accounts []Account
	// MultiAccount puts an account label on every per-account series.
	MultiAccount bool
	// ScrapeTimeout caps a scrape's deadline.
	ScrapeTimeout time.Duration
	// Series chooses the optional series.
	Series account.SeriesOptions
	// Process are the exporter's own families (config loads), without an
	// account label.
	Process []metric.Family[struct{}]
	// Redact, when set, removes the pieces of secrets from the label
	// values that are free text from the API (freeText): an image named
	// with a piece of a secret key shows <secret> there. Values from the
	// config are refused by its load instead.
	Redact func(string) string

	// families are the families this scope writes, with their
	// descriptors (set by Update): a scrape writes those of its scope.
	families *families
}

// Result is one scrape: every account's snapshot, and how long the scrape
// waited for them.
type Result struct {
	Scope    *Scope
	Accounts []account.Snapshot
	Duration time.Duration
}

// Collector is the exporter's prometheus.Collector, and what /metrics
// writes.
type Collector struct {
	logger log.Logger

	scope atomic.Pointer[Scope]

	mu       sync.Mutex
	reported map[string]string // last failure summary logged per account

	// renders holds a token for each scrape reading the snapshots and
	// writing its page (see Handler).
	renders chan struct{}
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a collector for scope.
func New(scope Scope, logger log.Logger) *Collector {
	c := &Collector{logger: logger, reported: map[string]string{}, renders: make(chan struct{}, runtime.GOMAXPROCS(0))}
	c.Update(scope)
	return c
}

// Update swaps in a new scope (after a config reload). Scrapes already under
// way finish with the old one.
func (c *Collector) Update(s Scope) {
	s.families = newFamilies(&s)
	c.scope.Store(&s)
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.scope.Load().families.describe(ch)
}

// Collect collects with the scope's scrape timeout as deadline. Scrapes over
// HTTP go through Handler, which also honours Prometheus's timeout header.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.scope.Load().ScrapeTimeout)
	defer cancel()
	c.write(exposition.ConstMetrics(ch), c.Scrape(ctx))
}

// Scrape lets every account work for this scrape until ctx ends or it is
// done, then reads what they know. ctx bounds only how long this scrape
// waits: calls under way finish into the accounts' state, each bounded by
// its own timeouts.
func (c *Collector) Scrape(ctx context.Context) *Result {
	return c.read(c.wait(ctx))
}

// wait lets every account of the scope work for this scrape until ctx ends
// or it is done, and says how long it waited.
func (c *Collector) wait(ctx context.Context) (*Scope, time.Duration) {
	s := c.scope.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for _, a := range s.Accounts {
		wg.Go(func() { a.Wait(ctx) })
	}
	wg.Wait()
	return s, time.Since(start)
}

// read reads what every account of s knows, for a scrape that waited
// waited.
func (c *Collector) read(s *Scope, waited time.Duration) *Result {
	res := &Result{Scope: s, Accounts: make([]account.Snapshot, len(s.Accounts)), Duration: waited}
	names := make(map[string]bool, len(s.Accounts))
	for i, a := range s.Accounts {
		res.Accounts[i] = a.Snapshot()
		names[res.Accounts[i].Name] = true
		c.logFailures(&res.Accounts[i])
	}
	c.mu.Lock()
	for name := range c.reported {
		if !names[name] {
			delete(c.reported, name) // a removed account
		}
	}
	c.mu.Unlock()
	return res
}

// logFailures logs the images whose last fetch failed: each at debug level
// on every scrape, and a summary at warning level when it changes, so a
// lasting failure is not logged again on every scrape.
func (c *Collector) logFailures(snap *account.Snapshot) {
	logger := c.logger
	if snap.Name != "" {
		logger = log.With(logger, "account", snap.Name)
	}
	failed := 0
	first := -1
	images := snap.Members.Images
	for i := range images {
		r := &images[i]
		if r.Err == nil || r.Reason == engine.ReasonNotFetchedYet {
			continue
		}
		failed++
		if first < 0 {
			first = i
		}
		level.Debug(logger).Log("msg", "fetching image members failed", "image_id", r.ID, "reason", r.Reason, "err", r.Err)
	}
	summary := ""
	if failed > 0 {
		summary = strconv.Itoa(failed) + " " + images[first].ID + " " + string(images[first].Reason)
	}
	c.mu.Lock()
	changed := c.reported[snap.Name] != summary
	c.reported[snap.Name] = summary
	c.mu.Unlock()
	if failed > 0 && changed {
		level.Warn(logger).Log("msg", "fetching image members failed", "failed", failed, "images", len(images),
			"example_image_id", images[first].ID, "reason", images[first].Reason, "err", images[first].Err)
	}
}

// families are the collector's families for one label layout and choice
// of optional series, each with its descriptor.
type families struct {
	multi   bool
	redact  func(string) string
	scrape  []described[*Result]
	account []described[*account.Snapshot]
	process []described[struct{}]
}

// described is a family with its descriptor.
type described[T any] struct {
	metric.Family[T]
	desc *exposition.Desc
	// freeText are the indices in Labels of the family's free-text labels.
	freeText []int
}

// scrapeFamilies are the families of a scrape as a whole: how long it
// waited, and the expected-list files, each once however many accounts
// name it.
var scrapeFamilies = slices.Concat([]metric.Family[*Result]{{
	Name:   "scp_scrape_duration_seconds",
	Help:   "How long this scrape waited for the members refresh, in seconds.",
	Series: func(res *Result, s metric.Sink) { s.Value(res.Duration.Seconds()) },
}}, metric.OverEach(listFiles, trustlist.Families...))

// listFiles are the list files of every account, each path once.
func listFiles(res *Result) []*trustlist.Status {
	var out []*trustlist.Status
	seen := map[string]bool{}
	for i := range res.Accounts {
		for j := range res.Accounts[i].Lists {
			st := &res.Accounts[i].Lists[j]
			if !seen[st.Path] {
				seen[st.Path] = true
				out = append(out, st)
			}
		}
	}
	return out
}

func newFamilies(s *Scope) *families {
	return &families{
		multi:   s.MultiAccount,
		redact:  s.Redact,
		scrape:  describe(scrapeFamilies, false),
		account: describe(account.Families(s.Series), s.MultiAccount),
		process: describe(s.Process, false),
	}
}

// freeText are the labels whose values are free text from the API (an
// image's name, which anyone who can create one chooses; a user's ID; a
// URL from IAM's catalog) or from the list files (the names given beside
// account IDs, which their watchers check against the config of the time
// they were read): they are redacted (Scope.Redact), each in a series whose
// other labels tell it apart. The others are IDs, the API's vocabulary, or
// values of the config, which its load checks.
var freeText = map[string]bool{"name": true, "user_id": true, "url": true, "member_name": true, "owner_name": true}

// describe builds each family's descriptor; with perAccount, an account
// label comes first.
func describe[T any](fams []metric.Family[T], perAccount bool) []described[T] {
	out := make([]described[T], len(fams))
	for i, f := range fams {
		labels := f.Labels
		if perAccount {
			labels = append([]string{"account"}, labels...)
		}
		out[i] = described[T]{Family: f, desc: exposition.NewDesc(f.Name, f.Help, f.Type, labels...)}
		for j, l := range f.Labels {
			if freeText[l] {
				out[i].freeText = append(out[i].freeText, j)
			}
		}
	}
	return out
}

func (f *families) describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.scrape {
		ch <- d.desc.Prometheus()
	}
	for _, d := range f.account {
		ch <- d.desc.Prometheus()
	}
	for _, d := range f.process {
		ch <- d.desc.Prometheus()
	}
}

// write hands every series of a scrape to sink, family after family (each
// family's series together, as the text formats need): to const metrics
// for Collect, straight to the answer for /metrics.
func (c *Collector) write(sink exposition.Sink, res *Result) {
	f := res.Scope.families
	out := &seriesSink{sink: sink, redact: f.redact}
	for _, d := range f.scrape {
		out.desc, out.account = d.desc, nil
		out.freeText = d.freeText
		d.Series(res, out)
	}
	for _, d := range f.account {
		out.desc = d.desc
		out.freeText = d.freeText
		for i := range res.Accounts {
			out.account = nil
			if f.multi {
				out.account = &res.Accounts[i].Name
			}
			d.Series(&res.Accounts[i], out)
		}
	}
	for _, d := range f.process {
		out.desc, out.account = d.desc, nil
		out.freeText = d.freeText
		d.Series(struct{}{}, out)
	}
}

// seriesSink passes a family's series on to the exposition, with the
// account label first when there is one, label values made valid UTF-8
// (those from the API may not be; the formats need it), and the free-text
// ones redacted.
type seriesSink struct {
	sink    exposition.Sink
	desc    *exposition.Desc
	account *string
	redact  func(string) string // Scope.Redact, or nil
	// freeText are the indices of the family's labels redact redacts.
	freeText []int
	labels   []string // reused: the exposition copies what it keeps
}

func (s *seriesSink) withAccount(labels []string) []string {
	s.labels = s.labels[:0]
	if s.account != nil {
		s.labels = append(s.labels, *s.account)
	}
	for _, l := range labels {
		if !utf8.ValidString(l) {
			l = strings.ToValidUTF8(l, "\uFFFD")
		}
		s.labels = append(s.labels, l)
	}
	if s.redact != nil {
		off := len(s.labels) - len(labels)
		for _, j := range s.freeText {
			if j < len(labels) {
				s.labels[off+j] = s.redact(s.labels[off+j])
			}
		}
	}
	return s.labels
}

func (s *seriesSink) Value(v float64, labels ...string) {
	s.sink.Value(s.desc, v, s.withAccount(labels)...)
}

func (s *seriesSink) Histogram(h *metric.HistogramValue, labels ...string) {
	s.sink.Histogram(s.desc, h, s.withAccount(labels)...)
}
