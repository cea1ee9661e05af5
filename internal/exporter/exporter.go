// Package exporter ties the config to the collector: it loads the config,
// builds an SCP client and a refresh engine for each account, and reloads
// them on request, keeping the running config when a new one is bad. A
// reload keeps each account's engine, and all it knows; it builds a new
// client only for an account whose scp block changed.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/collector"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Options configure an Exporter.
type Options struct {
	ConfigFile string
	Getenv     func(string) string // os.Getenv in production
	Logger     log.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	UserAgent  string
	// Series chooses the optional series (--collector.* flags).
	Series collector.Series
}

// Exporter owns the running config and the collector built from it.
type Exporter struct {
	opts       Options
	multi      bool // the accounts form; fixed at start, as it shapes the labels
	apiMetrics *scp.Metrics
	collector  *collector.Collector

	mu        sync.Mutex // serialises reloads
	accounts  map[string]*account
	cfg       *config.Config // the running config
	lists     *lists         // the expected-list files, watched
	quit      chan struct{}  // closed by Close
	closeOnce sync.Once
	following sync.WaitGroup // followLists
	closed    bool           // Close has run; e.mu

	queueMu sync.Mutex
	queued  *reloadRound      // the reload that requests arriving now will share
	version map[string]string // API version in use per account, to warn on change

	// Readiness is read without e.mu, which a reload holds while it
	// resolves endpoints: the running engines, and whether the process has
	// been ready once.
	engines   atomic.Pointer[[]*engine.Engine]
	readyOnce atomic.Bool
	// pollers are the running audit pollers by account, read by metrics
	// without e.mu.
	pollers atomic.Pointer[map[string]*audit.Poller]

	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
}

// account is one account's running parts.
type account struct {
	scp    config.SCP // the block client was built from
	http   *http.Client
	client *scp.Client
	budget *scp.Budget
	engine *engine.Engine
	stop   context.CancelFunc
	done   chan struct{} // closed when the engine has stopped
	// stopResolve ends the client's background resolution (see resolve);
	// resolved is closed when it has ended.
	stopResolve context.CancelFunc
	resolved    chan struct{}
	auditing    *auditing // the audit-trail poller, with audit.enabled
}

// retire stops the client's background resolution and waits for it.
func (a *account) retire() {
	if a.stopResolve != nil {
		a.stopResolve()
		<-a.resolved
	}
}

// New loads the config file and builds the collector. A bad config is an
// error. Discovery starts at once; Close stops it.
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
	e := &Exporter{
		opts:     o,
		multi:    cfg.MultiAccount(),
		version:  map[string]string{},
		accounts: map[string]*account{},
		lists:    newLists(o.Now, log.With(o.Logger, "component", "lists")),
		quit:     make(chan struct{}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scp_exporter_config_last_reload_successful",
			Help: "1 when the last config load succeeded, 0 when it failed and the previous config is still in use.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scp_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully, in Unix seconds.",
		}),
	}
	if e.multi {
		e.apiMetrics = scp.NewAccountMetrics(o.Registerer)
	} else {
		e.apiMetrics = scp.NewMetrics(o.Registerer)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(e.reloadSuccess, e.reloadTimestamp, e.lists, newAuditMetrics(e))
	}
	e.lists.read(cfg)
	scope, err := e.build(cfg)
	if err != nil {
		e.lists.close()
		return nil, err
	}
	e.collector = collector.New(scope, log.With(o.Logger, "component", "collector"))
	e.loaded(cfg)
	e.following.Go(func() { e.followLists(e.quit) })
	return e, nil
}

// Collector is the collector serving the running config.
func (e *Exporter) Collector() *collector.Collector { return e.collector }

// Ready reports whether every account with discovery has tried its first
// listing, so a scrape sees the whole estate. A reload keeps it.
func (e *Exporter) Ready() bool {
	if e.readyOnce.Load() {
		return true // a reload, even one adding an account, keeps it
	}
	engines := e.engines.Load()
	if engines == nil {
		return false
	}
	for _, en := range *engines {
		if !en.Inventory().Snapshot().Status.Tried {
			return false
		}
	}
	e.readyOnce.Store(true)
	return true
}

// Close stops every account's engine and waits for them.
func (e *Exporter) Close() {
	e.closeOnce.Do(func() { close(e.quit) })
	e.following.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true // a reload after this builds nothing
	e.lists.close()
	for _, a := range e.accounts {
		a.stopAuditing()
		a.stop()
	}
	for name, a := range e.accounts {
		<-a.done
		a.retire()
		a.http.CloseIdleConnections()
		delete(e.accounts, name)
	}
}

// reloadRound is one reload that several requests share.
type reloadRound struct {
	done chan struct{}
	err  error
}

// Reload re-reads the config file (and secret_key_file). On failure the
// running config stays in use and the error says why. Requests that arrive
// while a reload runs share the one after it, which reads the file as it is
// then: a burst of reloads costs at most two.
func (e *Exporter) Reload() error {
	e.queueMu.Lock()
	r := e.queued
	if r != nil {
		e.queueMu.Unlock()
		<-r.done
		return r.err
	}
	r = &reloadRound{done: make(chan struct{})}
	e.queued = r
	e.queueMu.Unlock()

	e.mu.Lock() // after the reload under way, if any
	e.queueMu.Lock()
	e.queued = nil // requests from now on need a reload that reads the file after them
	e.queueMu.Unlock()
	r.err = e.reload()
	e.mu.Unlock()
	close(r.done)
	return r.err
}

// reload does one reload. e.mu must be held.
func (e *Exporter) reload() error {
	if e.closed {
		return errors.New("the exporter is shutting down")
	}
	cfg, err := config.LoadSkippingLists(e.opts.ConfigFile, e.opts.Getenv)
	var scope collector.Scope
	if err == nil && cfg.MultiAccount() != e.multi {
		err = errors.New("switching between the single-account form and accounts: changes the metrics' labels; restart the exporter instead")
	}
	if err == nil {
		e.lists.read(cfg)
		scope, err = e.build(cfg)
	}
	if err != nil {
		e.reloadSuccess.Set(0)
		level.Error(e.opts.Logger).Log("msg", "config reload failed; keeping the running config", "err", err)
		return err
	}
	e.collector.Update(scope)
	e.loaded(cfg)
	e.lists.prune(cfg)
	level.Info(e.opts.Logger).Log("msg", "config reloaded", "accounts", len(cfg.Accounts))
	return nil
}

func (e *Exporter) loaded(cfg *config.Config) {
	e.cfg = cfg
	e.reloadSuccess.Set(1)
	e.reloadTimestamp.Set(float64(e.opts.Now().UnixNano()) / 1e9)
	for _, a := range cfg.Accounts {
		logger := e.opts.Logger
		if a.Name != "" {
			logger = log.With(logger, "account", a.Name)
		}
		if acc, ok := e.accounts[a.Name]; ok {
			// The version in use: with api_version latest, the server's choice.
			v := acc.client.APIVersion()
			if key := a.SCP.APIVersion + " " + v.ID; key != e.version[a.Name] {
				e.version[a.Name] = key
				warnVersion(logger, v, e.opts.Now())
			}
		}
		if a.SCP.TLSConfig.InsecureSkipVerify {
			level.Warn(logger).Log("msg", "scp.tls_config.insecure_skip_verify is set: the API's certificate is NOT verified, and anyone on the path can read the signed requests and forge answers")
		}
	}
}

// warnVersion logs when the API version in use is not the current one, and
// louder when its guaranteed support has ended.
func warnVersion(logger log.Logger, v scp.APIVersion, now time.Time) {
	switch {
	case v.Expired(now):
		level.Error(logger).Log("msg", "the SCP API version in use is past its support date; the API may stop answering it. Set scp.api_version to "+scp.DefaultAPIVersion,
			"version", v.ID, "state", v.State, "supported_until", v.SupportedUntil.Format(time.DateOnly))
	case v.State != scp.StateCurrent:
		level.Warn(logger).Log("msg", "the SCP API version in use is not the current one", "version", v.ID, "state", v.State,
			"supported_until", v.SupportedUntil.Format(time.DateOnly), "current", scp.DefaultAPIVersion)
	}
}

// build turns cfg into running accounts and the collector's scope. It
// first builds a client for each account that is new or whose scp block
// changed; only when all of them build does it touch anything running: the
// engines of kept accounts take their new options (and client), new
// accounts start, removed ones stop. e.mu must be held.
func (e *Exporter) build(cfg *config.Config) (collector.Scope, error) {
	fresh := map[string]*account{}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if old, ok := e.accounts[a.Name]; ok && reflect.DeepEqual(old.scp, a.SCP) {
			continue
		}
		acc, err := e.newClient(a)
		if err != nil {
			if a.Name != "" {
				err = fmt.Errorf("account %s: %w", a.Name, err)
			}
			return collector.Scope{}, err
		}
		fresh[a.Name] = acc
	}
	e.resolve(cfg, fresh)

	scope := collector.Scope{MultiAccount: cfg.MultiAccount(), ScrapeTimeout: time.Duration(cfg.ScrapeTimeout), Series: e.opts.Series}
	keep := map[string]bool{}
	// Replaced clients close their idle connections once nothing new
	// will use them: after the engines have their new options.
	var retired []*http.Client
	defer func() {
		for _, c := range retired {
			c.CloseIdleConnections()
		}
	}()
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		keep[a.Name] = true
		acc, running := e.accounts[a.Name]
		if f, ok := fresh[a.Name]; ok {
			if running {
				acc.retire()
				retired = append(retired, acc.http)
				f.budget.Continue(acc.budget)
				acc.budget.Report(nil) // calls still under way on it no longer show
				f.engine, f.stop, f.done, f.auditing = acc.engine, acc.stop, acc.done, acc.auditing
			}
			f.budget.Report(e.apiMetrics.ForAccount(a.Name))
			acc = f
			e.accounts[a.Name] = acc
		}
		opts := e.engineOptions(cfg, a, acc)
		if acc.engine == nil {
			acc.engine = engine.New(opts)
			ctx, cancel := context.WithCancel(context.Background())
			acc.stop, acc.done = cancel, make(chan struct{})
			go func() { defer close(acc.done); acc.engine.Run(ctx) }()
		} else {
			acc.engine.Update(opts)
		}
		if err := e.follow(a, acc); err != nil {
			level.Error(accountLogger(e.opts.Logger, "audit", a.Name)).Log("msg", "cannot follow the audit trail; the sweep alone finds changes", "err", err)
		}
		scope.Accounts = append(scope.Accounts, collector.Account{
			Name:           a.Name,
			APIVersion:     acc.client.APIVersion(),
			Service:        acc.client.ServiceInfo,
			Source:         acc.engine,
			ExpectedOwners: cfg.ExpectedOwnersWith(a, e.lists.lookup),
			MaxMembers:     maxMembers(cfg, a),
			Changes:        acc.changes(),
		})
	}
	running := make([]*engine.Engine, 0, len(cfg.Accounts))
	for i := range cfg.Accounts {
		running = append(running, e.accounts[cfg.Accounts[i].Name].engine)
	}
	e.engines.Store(&running)
	pollers := map[string]*audit.Poller{}
	for i := range cfg.Accounts {
		if acc := e.accounts[cfg.Accounts[i].Name]; acc.auditing != nil {
			pollers[cfg.Accounts[i].Name] = acc.auditing.poller
		}
	}
	e.pollers.Store(&pollers)
	for name, acc := range e.accounts {
		if !keep[name] {
			acc.stopAuditing()
			acc.stop()
			acc.retire()
			acc.budget.Report(nil)
			retired = append(retired, acc.http)
			delete(e.accounts, name)
		}
	}
	return scope, nil
}

// newClient builds an account's HTTP client, budget and SCP client.
func (e *Exporter) newClient(a *config.Account) (*account, error) {
	s := a.SCP
	httpClient, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{
		TLSConfig:   s.TLSConfig,
		ProxyConfig: commoncfg.ProxyConfig{ProxyURL: s.ProxyURL},
		EnableHTTP2: true,
	}, "scp_exporter", commoncfg.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		return nil, fmt.Errorf("scp: building the HTTP client: %w", err)
	}
	// Signed headers must not follow a redirect to another host (Go drops
	// only Authorization and cookies): a redirect is an answer, not a hop.
	httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	version, err := scp.LookupAPIVersion(s.APIVersion)
	if s.APIVersion == scp.APIVersionLatest {
		// Until the server's version list is read (see resolve).
		version, err = scp.LookupAPIVersion(scp.DefaultAPIVersion)
	}
	if err != nil {
		return nil, err
	}
	budget := scp.NewBudget(s.RequestsPerSecond, s.MaxConcurrency, e.opts.Now) // config keeps concurrency in 1..256
	client, err := scp.NewClient(scp.Options{
		BaseURL:        s.BaseURL(),
		AuditEndpoint:  s.AuditEndpoint,
		AccessKey:      s.AccessKey,
		SecretKey:      string(s.SecretKey),
		AccountID:      s.AccountID,
		APIVersion:     version,
		Language:       s.Language,
		HTTPClient:     httpClient,
		RequestTimeout: time.Duration(s.RequestTimeout),
		MaxRetries:     *s.MaxRetries,
		Budget:         budget,
		Metrics:        e.apiMetrics.ForAccount(a.Name),
		Now:            e.opts.Now,
		UserAgent:      e.opts.UserAgent,
		Logger:         accountLogger(e.opts.Logger, "scp", a.Name),
	})
	if err != nil {
		return nil, fmt.Errorf("scp: %w", err)
	}
	return &account{scp: s, http: httpClient, client: client, budget: budget}, nil
}

// resolve points each fresh client at its Virtual Server URL and API
// version (see scp.Client.Resolve): the configured endpoint, else IAM's
// endpoint catalog, else the URL the running client had from the catalog,
// else the host built from region and environment; and the server's
// version list. It runs when a client is built (at start, and on a reload
// that changed the account's scp block): a reload of an unchanged block
// asks nothing. The clients resolve in parallel, each call one attempt
// bounded by request_timeout; what failed is retried in the background
// until it succeeds or the client is replaced. e.mu must be held.
func (e *Exporter) resolve(cfg *config.Config, fresh map[string]*account) {
	var wg sync.WaitGroup
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		acc, ok := fresh[a.Name]
		if !ok {
			continue
		}
		rc := resolveConfig(&a.SCP)
		if old, ok := e.accounts[a.Name]; ok && a.SCP.Endpoint == "" && old.scp.Endpoint == "" &&
			old.scp.Region == a.SCP.Region && old.scp.IAMBaseURL() == a.SCP.IAMBaseURL() {
			if info, ok := old.client.ServiceInfo(); ok && info.Source == scp.SourceCatalog {
				rc.LastGood = info.URL
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		acc.stopResolve, acc.resolved = cancel, make(chan struct{})
		timeout := time.Duration(a.SCP.RequestTimeout)
		wg.Go(func() {
			// The first resolution waits at most one request_timeout in
			// all; what it did not finish goes on in the background.
			first, stop := context.WithTimeout(ctx, timeout)
			done := acc.client.Resolve(first, rc)
			stop()
			if done {
				close(acc.resolved)
				return
			}
			go func() { defer close(acc.resolved); acc.client.KeepResolving(ctx, rc) }()
		})
	}
	wg.Wait()
}

// fallbackURL builds the host used while IAM's catalog gives none; tests
// point it elsewhere.
var fallbackURL = scp.BaseURLFor

// resolveConfig is what resolution needs of an scp block.
func resolveConfig(s *config.SCP) scp.ResolveConfig {
	return scp.ResolveConfig{
		Endpoint:    s.Endpoint,
		IAMEndpoint: s.IAMBaseURL(),
		Region:      s.Region,
		Fallback:    fallbackURL(s.Region, s.Environment),
		APIVersion:  s.APIVersion,
	}
}

// engineOptions are the engine options of account a.
func (e *Exporter) engineOptions(cfg *config.Config, a *config.Account, acc *account) engine.Options {
	images := make([]engine.Image, len(a.Images))
	// Images without lists of their own share one set each (read-only): a
	// map per image would cost about 0.5 KiB an image.
	lists := e.lists.lookup
	expected, visibility := cfg.ExpectedWith(a, config.Image{}, lists), cfg.AllowedVisibilityFor(config.Image{})
	for i, img := range a.Images {
		images[i] = engine.Image{ID: img.ID, Name: img.Name, Expected: expected, AllowedVisibility: visibility}
		if len(img.ExpectedMembers) > 0 {
			images[i].Expected = cfg.ExpectedWith(a, img, lists)
		}
		if img.AllowedVisibility != nil {
			images[i].AllowedVisibility = cfg.AllowedVisibilityFor(img)
		}
	}
	logger := accountLogger(e.opts.Logger, "engine", a.Name)
	return engine.Options{
		Client: acc.client,
		Budget: acc.budget,
		Images: images,
		// Every account lists its images in the background, for their
		// visibility, and the images offered to it; discovery also watches
		// the images it lists.
		Inventory: inventory.Options{
			Discover:   a.Discovery.Enabled,
			Visibility: a.Discovery.Visibility,
			Match:      a.Discovery.Matches,
			MatchKey:   a.Discovery.NameRegex,
			Owner:      a.SCP.AccountID,
			Interval:   time.Duration(a.Discovery.RefreshInterval),
		},
		DefaultExpected:          expected,
		DefaultAllowedVisibility: visibility,
		RefreshInterval:          time.Duration(a.Members.RefreshInterval),
		CallTimeout:              time.Duration(cfg.ScrapeTimeout),
		Concurrency:              a.SCP.MaxConcurrency,
		Logger:                   logger,
		Now:                      e.opts.Now,
	}
}

// ReloadHandler serves POST /-/reload: 200 when the new config is in use,
// 500 with the reason when it is not, 405 for other methods.
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

// accountLogger is logger for a component of an account; the account is
// named only in the accounts form.
func accountLogger(logger log.Logger, component, account string) log.Logger {
	logger = log.With(logger, "component", component)
	if account != "" {
		logger = log.With(logger, "account", account)
	}
	return logger
}

// maxMembers is the share-count limit of each of a's images: max_members
// of the image, the account or the top level; 0 for none.
func maxMembers(cfg *config.Config, a *config.Account) collector.MaxMembers {
	limits := collector.MaxMembers{Default: cfg.MaxMembersFor(a, config.Image{})}
	for _, img := range a.Images {
		if n := cfg.MaxMembersFor(a, img); n != limits.Default {
			if limits.PerImage == nil {
				limits.PerImage = map[string]int{}
			}
			limits.PerImage[img.ID] = n
		}
	}
	return limits
}
