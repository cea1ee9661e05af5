// Package exporter ties the config to the collector: it loads the config,
// builds the SCP client for it, and reloads both on request, keeping the
// running config when a new one is bad.
package exporter

import (
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
	apiMetrics *scp.Metrics
	collector  *collector.Collector

	mu         sync.Mutex // serialises reloads
	httpClient *http.Client
	version    string

	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
}

// New loads the config file and builds the collector. A bad config is an error.
func New(o Options) (*Exporter, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	e := &Exporter{
		opts:       o,
		apiMetrics: scp.NewMetrics(o.Registerer),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scp_exporter_config_last_reload_successful",
			Help: "1 when the last config load succeeded, 0 when it failed and the previous config is still in use.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scp_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully, in Unix seconds.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(e.reloadSuccess, e.reloadTimestamp)
	}
	cfg, err := config.Load(o.ConfigFile, o.Getenv)
	if err != nil {
		return nil, err
	}
	target, client, err := e.build(cfg)
	if err != nil {
		return nil, err
	}
	e.collector = collector.New(target, log.With(o.Logger, "component", "collector"), o.Now)
	e.httpClient = client
	e.loaded(cfg)
	return e, nil
}

// Collector is the collector serving the running config.
func (e *Exporter) Collector() *collector.Collector { return e.collector }

// Reload re-reads the config file (and secret_key_file). On failure the
// running config stays in use and the error says why.
func (e *Exporter) Reload() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg, err := config.Load(e.opts.ConfigFile, e.opts.Getenv)
	var target collector.Target
	var client *http.Client
	if err == nil {
		target, client, err = e.build(cfg)
	}
	if err != nil {
		e.reloadSuccess.Set(0)
		level.Error(e.opts.Logger).Log("msg", "config reload failed; keeping the running config", "err", err)
		return err
	}
	old := e.httpClient
	e.collector.Update(target)
	e.httpClient = client
	old.CloseIdleConnections()
	e.loaded(cfg)
	level.Info(e.opts.Logger).Log("msg", "config reloaded", "images", len(cfg.Images))
	return nil
}

func (e *Exporter) loaded(cfg *config.Config) {
	e.reloadSuccess.Set(1)
	e.reloadTimestamp.Set(float64(e.opts.Now().UnixNano()) / 1e9)
	if cfg.SCP.APIVersion != e.version {
		e.version = cfg.SCP.APIVersion
		v, _ := scp.LookupAPIVersion(cfg.SCP.APIVersion)
		warnVersion(e.opts.Logger, v, e.opts.Now())
	}
	if cfg.SCP.TLSConfig.InsecureSkipVerify {
		level.Warn(e.opts.Logger).Log("msg", "scp.tls_config.insecure_skip_verify is set: the API's certificate is NOT verified, and anyone on the path can read the signed requests and forge answers")
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

// build makes the HTTP client, SCP client and collector target for cfg.
func (e *Exporter) build(cfg *config.Config) (collector.Target, *http.Client, error) {
	s := cfg.SCP
	httpClient, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{
		TLSConfig:   s.TLSConfig,
		ProxyConfig: commoncfg.ProxyConfig{ProxyURL: s.ProxyURL},
		EnableHTTP2: true,
	}, "scp_exporter", commoncfg.WithIdleConnTimeout(90*time.Second))
	if err != nil {
		return collector.Target{}, nil, fmt.Errorf("scp: building the HTTP client: %w", err)
	}
	version, err := scp.LookupAPIVersion(s.APIVersion)
	if err != nil {
		return collector.Target{}, nil, err
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
		Limiter:        rate.NewLimiter(rate.Limit(s.RequestsPerSecond), max(1, s.MaxConcurrency)),
		Metrics:        e.apiMetrics,
		Now:            e.opts.Now,
		UserAgent:      e.opts.UserAgent,
	})
	if err != nil {
		return collector.Target{}, nil, fmt.Errorf("scp: %w", err)
	}
	images := make([]collector.Image, len(cfg.Images))
	for i, img := range cfg.Images {
		images[i] = collector.Image{ID: img.ID, Name: img.Name, Expected: cfg.ExpectedFor(img)}
	}
	return collector.Target{
		Lister:             client,
		Images:             images,
		APIVersion:         version,
		MaxConcurrency:     s.MaxConcurrency,
		ScrapeTimeout:      time.Duration(cfg.ScrapeTimeout),
		MinRefreshInterval: time.Duration(cfg.MinRefreshInterval),
	}, httpClient, nil
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
