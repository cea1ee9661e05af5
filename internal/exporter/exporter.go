// Package exporter turns the config file into running accounts: one
// account runtime (package account) per configured account, and the
// collector that reads them. A reload is a config diff: accounts that stay
// take their new settings (an unchanged one calls nothing), new ones start,
// removed ones stop; a config with any bad account changes nothing.
package exporter

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/collector"
	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Options configure an Exporter.
type Options struct {
	ConfigFile string
	Getenv     func(string) string // os.Getenv in production
	Logger     log.Logger
	Now        func() time.Time
	UserAgent  string
	// Series chooses the optional series (--collector.* flags).
	Series account.SeriesOptions
	// Storage is where the accounts keep their state across restarts
	// (--storage.*); the zero value keeps nothing.
	Storage account.Storage
}

// Exporter owns the running config, its account runtimes and the
// collector that reads them.
type Exporter struct {
	opts      Options
	multi     bool // the accounts form; fixed at start, as it shapes the labels
	collector *collector.Collector
	lists     *account.ListFiles // shared by every account
	reloads   coalescer

	mu       sync.Mutex // serialises reloads and Close
	accounts map[string]*account.Runtime
	closed   bool

	// status is read by scrapes, readiness and the list-file watchers'
	// redaction without mu, which a reload holds while it resolves
	// endpoints.
	status struct {
		sync.Mutex
		cfg         *config.Config // the config in use, or being taken into use
		reloadOK    bool
		lastSuccess time.Time
		ready       bool // ready once: a reload never takes readiness away
		accounts    []*account.Runtime
	}
}

// New loads the config file and starts every account. A bad config is an
// error. Close stops the accounts.
func New(o Options) (*Exporter, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	cfg, err := config.LoadSkippingLists(o.ConfigFile, o.Getenv)
	if err != nil {
		return nil, err
	}
	e := &Exporter{opts: o, multi: cfg.MultiAccount(), accounts: map[string]*account.Runtime{}}
	interval := cfg.Settings()[0].Timing.ListFileInterval // the same for every account
	if listFileInterval > 0 {
		interval = listFileInterval
	}
	e.lists = account.NewListFiles(account.ListFileOptions{Interval: interval, Now: o.Now, Redact: e.redact,
		Logger: log.With(o.Logger, "component", "lists")})
	e.collector = collector.New(collector.Scope{MultiAccount: e.multi, Series: o.Series, Process: e.families()},
		log.With(o.Logger, "component", "collector"))
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.apply(cfg); err != nil {
		e.lists.Close()
		return nil, err
	}
	return e, nil
}

// Collector is the collector serving the running config.
func (e *Exporter) Collector() *collector.Collector { return e.collector }

// Ready reports whether every account has tried its first listing, so a
// scrape sees the whole estate. Once ready, the process stays ready.
func (e *Exporter) Ready() bool {
	e.status.Lock()
	defer e.status.Unlock()
	if e.status.ready {
		return true
	}
	for _, a := range e.status.accounts {
		if !a.Ready() {
			return false
		}
	}
	e.status.ready = true
	return true
}

// Close stops every account and waits for them. A reload after it builds
// nothing.
func (e *Exporter) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var wg sync.WaitGroup
	for name, r := range e.accounts {
		wg.Go(r.Stop)
		delete(e.accounts, name)
	}
	wg.Wait()
	e.lists.Close()
}

// Reload re-reads the config file (and secret_key_file). On failure the
// running config stays in use and the error says why. Requests that arrive
// while a reload runs share the one after it, which reads the file as it is
// then: a burst of reloads costs at most two.
func (e *Exporter) Reload() error { return e.reloads.do(&e.mu, e.reload) }

// reload does one reload. e.mu must be held.
func (e *Exporter) reload() error {
	if e.closed {
		return errors.New("the exporter is shutting down")
	}
	cfg, err := config.LoadSkippingLists(e.opts.ConfigFile, e.opts.Getenv)
	if err == nil && cfg.MultiAccount() != e.multi {
		err = errors.New("switching between the single-account form and accounts: changes the metrics' labels; restart the exporter instead")
	}
	if err == nil {
		e.lists.Reread() // once, however many accounts name a file
		err = e.apply(cfg)
	}
	if err != nil {
		e.status.Lock()
		e.status.reloadOK = false
		e.status.Unlock()
		level.Error(e.opts.Logger).Log("msg", "config reload failed; keeping the running config", "err", err)
		return err
	}
	level.Info(e.opts.Logger).Log("msg", "config reloaded", "accounts", len(cfg.Accounts))
	return nil
}

// apply takes cfg into use: it prepares every account first (a new client
// for a new account or a changed scp block) and changes nothing running
// unless all of them are good; then kept accounts take their settings and
// new ones start, in parallel (each may wait up to one request timeout for
// its endpoint), scrapes read the new set, and removed accounts stop.
// e.mu must be held.
func (e *Exporter) apply(cfg *config.Config) error {
	e.status.Lock()
	running := e.status.cfg
	e.status.cfg = cfg // list files read now are redacted with cfg's secrets
	e.status.Unlock()

	settings := cfg.Settings()
	plans := map[string]account.Plan{}
	fresh := map[string]*account.Runtime{}
	for _, s := range settings {
		var err error
		if r, ok := e.accounts[s.Name]; ok {
			plans[s.Name], err = r.Prepare(s)
		} else {
			fresh[s.Name], err = account.New(s, e.accountOptions())
		}
		if err != nil {
			for _, p := range plans {
				p.Discard()
			}
			for _, r := range fresh {
				if r != nil {
					r.Stop()
				}
			}
			e.status.Lock()
			e.status.cfg = running
			e.status.Unlock()
			if s.Name != "" {
				err = fmt.Errorf("account %s: %w", s.Name, err)
			}
			return err
		}
	}

	var removed []*account.Runtime
	for name, r := range e.accounts {
		if _, kept := plans[name]; !kept {
			removed = append(removed, r)
			delete(e.accounts, name)
		}
	}
	var wg sync.WaitGroup
	for name, p := range plans {
		wg.Go(func() { e.accounts[name].Apply(p) })
	}
	for _, r := range fresh {
		wg.Go(r.Start)
	}
	wg.Wait()
	scope := collector.Scope{MultiAccount: e.multi, ScrapeTimeout: time.Duration(cfg.ScrapeTimeout), Series: e.opts.Series, Process: e.families(),
		Redact: cfg.Redactor().Redact}
	runtimes := make([]*account.Runtime, 0, len(settings))
	for _, s := range settings {
		r, ok := e.accounts[s.Name]
		if !ok {
			r = fresh[s.Name]
			e.accounts[s.Name] = r
		}
		scope.Accounts = append(scope.Accounts, r)
		runtimes = append(runtimes, r)
	}
	e.collector.Update(scope)

	e.status.Lock()
	e.status.reloadOK, e.status.lastSuccess, e.status.accounts = true, e.opts.Now(), runtimes
	e.status.Unlock()
	// Removed accounts stop once scrapes no longer read them (a scrape
	// that began before still does: a stopped runtime's Wait returns).
	for _, r := range removed {
		wg.Go(r.Stop)
	}
	wg.Wait()
	return nil
}

// listFileInterval, when set, replaces how often every account's list
// files are checked: tests shorten it.
var listFileInterval time.Duration

// fallbackURL builds the host used while IAM's catalog gives none; tests
// point it elsewhere.
var fallbackURL = scp.BaseURLFor

// accountOptions are what every account runtime shares.
func (e *Exporter) accountOptions() account.Options {
	return account.Options{
		Logger:      e.opts.Logger,
		Now:         e.opts.Now,
		UserAgent:   e.opts.UserAgent,
		Lists:       e.lists,
		FallbackURL: func(region, environment string) string { return fallbackURL(region, environment) },
		Storage:     e.opts.Storage,
	}
}

// redact removes the config's secrets from msg.
func (e *Exporter) redact(msg string) string {
	e.status.Lock()
	cfg := e.status.cfg
	e.status.Unlock()
	if cfg == nil {
		return msg
	}
	return cfg.Redact(msg)
}

// families are the exporter's own families: how config loads went.
func (e *Exporter) families() []metric.Family[struct{}] {
	return []metric.Family[struct{}]{
		{
			Name: "scp_exporter_config_last_reload_successful",
			Help: "1 when the last config load succeeded, 0 when it failed and the previous config is still in use.",
			Series: func(_ struct{}, s metric.Sink) {
				ok, _ := e.reloadStatus()
				s.Value(metric.Bool(ok))
			},
		},
		{
			Name: "scp_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully, in Unix seconds.",
			Series: func(_ struct{}, s metric.Sink) {
				_, at := e.reloadStatus()
				s.Value(metric.UnixSeconds(at))
			},
		},
	}
}

// reloadStatus tells whether the last config load succeeded, and when one
// last did.
func (e *Exporter) reloadStatus() (ok bool, lastSuccess time.Time) {
	e.status.Lock()
	defer e.status.Unlock()
	return e.status.reloadOK, e.status.lastSuccess
}

// coalescer lets requests that arrive while a reload runs share the one
// after it.
type coalescer struct {
	mu     sync.Mutex
	queued *round // the reload that requests arriving now will share
}

// round is one reload that several requests share.
type round struct {
	done chan struct{}
	err  error
}

// do runs f under lock (after the run under way, if any), or waits for
// the run of f that requests arriving now share.
func (c *coalescer) do(lock sync.Locker, f func() error) error {
	c.mu.Lock()
	if r := c.queued; r != nil {
		c.mu.Unlock()
		<-r.done
		return r.err
	}
	r := &round{done: make(chan struct{})}
	c.queued = r
	c.mu.Unlock()

	lock.Lock() // after the run under way, if any
	c.mu.Lock()
	c.queued = nil // requests from now on need a run that reads the file after them
	c.mu.Unlock()
	r.err = f()
	lock.Unlock()
	close(r.done)
	return r.err
}

// ReloadHandler serves POST /-/reload: 200 when the new config is in use,
// 500 with the reason when it is not, 405 for other methods. Who may
// reload, and how often, is decided in front of it (package lifecycle).
func (e *Exporter) ReloadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "this endpoint requires a POST request", http.StatusMethodNotAllowed)
			return
		}
		if err := e.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
}

// ReadyHandler serves /-/ready: 200 once Ready, 503 before.
func (e *Exporter) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !e.Ready() {
			http.Error(w, "waiting for the first image discovery", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}
