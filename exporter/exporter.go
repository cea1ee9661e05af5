// Package exporter ties the config to the collector: it loads the config,
// builds an SCP client and image discovery for each account, and reloads
// them on request, keeping the running config when a new one is bad.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"golang.org/x/time/rate"

	"github.com/scp-exporter/scp_exporter/collector"
	"github.com/scp-exporter/scp_exporter/config"
	"github.com/scp-exporter/scp_exporter/discovery"
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
}

// Exporter owns the running config and the collector built from it.
type Exporter struct {
	opts       Options
	multi      bool // the accounts form; fixed at start, as it shapes the labels
	apiMetrics *scp.Metrics
	collector  *collector.Collector

	mu      sync.Mutex // serialises reloads
	running *built
	version map[string]string // API version in use per account, to warn on change

	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
}

// built is what one config turned into.
type built struct {
	target      collector.Target
	httpClients []*http.Client
	discoverers map[string]*discovery.Discoverer // by account name
	stop        context.CancelFunc               // ends the discoverers
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
	cfg, err := config.Load(o.ConfigFile, o.Getenv)
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		opts:    o,
		multi:   cfg.MultiAccount(),
		version: map[string]string{},
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
		o.Registerer.MustRegister(e.reloadSuccess, e.reloadTimestamp)
	}
	b, err := e.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	e.collector = collector.New(b.target, log.With(o.Logger, "component", "collector"), o.Now)
	e.running = b
	e.loaded(cfg)
	return e, nil
}

// Collector is the collector serving the running config.
func (e *Exporter) Collector() *collector.Collector { return e.collector }

// Ready reports whether every account with discovery has tried its first
// listing, so a scrape sees the whole estate.
func (e *Exporter) Ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.running.discoverers {
		if !d.Snapshot().Status.Tried {
			return false
		}
	}
	return true
}

// Close stops the background discovery.
func (e *Exporter) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running.stop()
}

// Reload re-reads the config file (and secret_key_file). On failure the
// running config stays in use and the error says why.
func (e *Exporter) Reload() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg, err := config.Load(e.opts.ConfigFile, e.opts.Getenv)
	var b *built
	if err == nil && cfg.MultiAccount() != e.multi {
		err = errors.New("switching between the single-account form and accounts: changes the metrics' labels; restart the exporter instead")
	}
	if err == nil {
		b, err = e.build(cfg, e.running)
	}
	if err != nil {
		e.reloadSuccess.Set(0)
		level.Error(e.opts.Logger).Log("msg", "config reload failed; keeping the running config", "err", err)
		return err
	}
	old := e.running
	e.collector.Update(b.target)
	e.running = b
	old.stop()
	for _, c := range old.httpClients {
		c.CloseIdleConnections()
	}
	e.loaded(cfg)
	level.Info(e.opts.Logger).Log("msg", "config reloaded", "accounts", len(cfg.Accounts))
	return nil
}

func (e *Exporter) loaded(cfg *config.Config) {
	e.reloadSuccess.Set(1)
	e.reloadTimestamp.Set(float64(e.opts.Now().UnixNano()) / 1e9)
	for _, a := range cfg.Accounts {
		logger := e.opts.Logger
		if a.Name != "" {
			logger = log.With(logger, "account", a.Name)
		}
		if a.SCP.APIVersion != e.version[a.Name] {
			e.version[a.Name] = a.SCP.APIVersion
			v, _ := scp.LookupAPIVersion(a.SCP.APIVersion)
			warnVersion(logger, v, e.opts.Now())
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

// build makes the clients, discoverers and collector target for cfg, and
// starts the discoverers (seeded from prev's, so a reload leaves no gap).
func (e *Exporter) build(cfg *config.Config, prev *built) (*built, error) {
	b := &built{
		target: collector.Target{
			MultiAccount:       cfg.MultiAccount(),
			ScrapeTimeout:      time.Duration(cfg.ScrapeTimeout),
			MinRefreshInterval: time.Duration(cfg.MinRefreshInterval),
		},
		discoverers: map[string]*discovery.Discoverer{},
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		acct, httpClient, disc, err := e.buildAccount(cfg, a)
		if err != nil {
			if a.Name != "" {
				err = fmt.Errorf("account %s: %w", a.Name, err)
			}
			return nil, err
		}
		b.httpClients = append(b.httpClients, httpClient)
		if prev != nil {
			disc.Seed(prev.discoverers[a.Name])
		}
		b.discoverers[a.Name] = disc
		b.target.Accounts = append(b.target.Accounts, acct)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	for _, d := range b.discoverers {
		go d.Run(ctx)
	}
	return b, nil
}

func (e *Exporter) buildAccount(cfg *config.Config, a *config.Account) (collector.Account, *http.Client, *discovery.Discoverer, error) {
	s := a.SCP
	httpClient, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{
		TLSConfig:   s.TLSConfig,
		ProxyConfig: commoncfg.ProxyConfig{ProxyURL: s.ProxyURL},
		EnableHTTP2: true,
	}, "scp_exporter", commoncfg.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		return collector.Account{}, nil, nil, fmt.Errorf("scp: building the HTTP client: %w", err)
	}
	version, err := scp.LookupAPIVersion(s.APIVersion)
	if err != nil {
		return collector.Account{}, nil, nil, err
	}
	client, err := scp.NewClient(scp.Options{
		BaseURL:        s.BaseURL(),
		AccessKey:      s.AccessKey,
		SecretKey:      string(s.SecretKey),
		AccountID:      s.AccountID,
		APIVersion:     version,
		Language:       s.Language,
		HTTPClient:     httpClient,
		RequestTimeout: time.Duration(s.RequestTimeout),
		MaxRetries:     *s.MaxRetries,
		Limiter:        rate.NewLimiter(rate.Limit(s.RequestsPerSecond), s.MaxConcurrency), // config keeps it in 1..256
		Metrics:        e.apiMetrics.ForAccount(a.Name),
		Now:            e.opts.Now,
		UserAgent:      e.opts.UserAgent,
	})
	if err != nil {
		return collector.Account{}, nil, nil, fmt.Errorf("scp: %w", err)
	}
	images := make([]collector.Image, len(a.Images))
	static := make([]string, len(a.Images))
	// Images without lists of their own share one set each (read-only): a
	// map per image would cost about 0.5 KiB an image.
	expected, visibility := cfg.ExpectedFor(a, config.Image{}), cfg.AllowedVisibilityFor(config.Image{})
	for i, img := range a.Images {
		images[i] = collector.Image{ID: img.ID, Name: img.Name, Expected: expected, AllowedVisibility: visibility}
		if len(img.ExpectedMembers) > 0 {
			images[i].Expected = cfg.ExpectedFor(a, img)
		}
		if img.AllowedVisibility != nil {
			images[i].AllowedVisibility = cfg.AllowedVisibilityFor(img)
		}
		static[i] = img.ID
	}
	logger := log.With(e.opts.Logger, "component", "discovery")
	if a.Name != "" {
		logger = log.With(logger, "account", a.Name)
	}
	// Every account refreshes visibility and offered images in the
	// background; discovery adds the listing of its images.
	disc := discovery.New(discovery.Options{
		Lister:      client,
		Discover:    a.Discovery.Enabled,
		Visibility:  a.Discovery.Visibility,
		Match:       a.Discovery.Matches,
		Owner:       s.AccountID,
		Static:      static,
		Concurrency: s.MaxConcurrency,
		Interval:    time.Duration(a.Discovery.RefreshInterval),
		Logger:      logger,
		Now:         e.opts.Now,
	})
	acct := collector.Account{
		Name:                     a.Name,
		Lister:                   client,
		APIVersion:               version,
		MaxConcurrency:           s.MaxConcurrency,
		Images:                   images,
		Discovery:                disc,
		Discover:                 a.Discovery.Enabled,
		DefaultExpected:          expected,
		DefaultAllowedVisibility: visibility,
		ExpectedOwners:           cfg.ExpectedOwnersFor(a),
	}
	return acct, httpClient, disc, nil
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
