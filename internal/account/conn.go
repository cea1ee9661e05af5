package account

import (
	"context"
	"fmt"
	"net/http"

	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/scp"
)

// conn is what one scp block builds: the HTTP client, the budget and the
// SCP client, and the background resolution of the client's endpoint and
// API version. A reload that changes the scp block builds a new one.
type conn struct {
	http      *http.Client
	client    *scp.Client
	budget    *scp.Budget
	resolving *task // background resolution, until it succeeds; nil when none
}

// newConn builds the connection of s's scp block; it calls nothing.
func (r *Runtime) newConn(s config.Settings) (*conn, error) {
	c := s.SCP
	httpClient, err := commoncfg.NewClientFromConfig(commoncfg.HTTPClientConfig{
		TLSConfig:   c.TLSConfig,
		ProxyConfig: proxyConfig(c),
		EnableHTTP2: true,
	}, "scp_exporter", commoncfg.WithIdleConnTimeout(s.Timing.IdleConnTimeout))
	if err != nil {
		return nil, fmt.Errorf("scp: building the HTTP client: %w", err)
	}
	// Signed headers must not follow a redirect to another host (Go drops
	// only Authorization and cookies): a redirect is an answer, not a hop.
	httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	requested := c.APIVersion
	if requested == scp.APIVersionLatest {
		// Until the server's version list is read (see resolve).
		requested = scp.DefaultAPIVersion
	}
	version, err := scp.LookupAPIVersion(requested)
	if err != nil {
		return nil, err
	}
	budget := scp.NewBudget(c.RequestsPerSecond, c.MaxConcurrency, r.opts.Now) // config keeps concurrency in 1..256
	budget.Report(r.metrics)
	client, err := scp.NewClient(scp.Options{
		BaseURL:         c.BaseURL(),
		AuditEndpoint:   c.AuditEndpoint,
		AuditAPIVersion: c.AuditAPIVersion,
		AccessKey:       c.AccessKey,
		SecretKey:       string(c.SecretKey),
		AccountID:       c.AccountID,
		APIVersion:      version,
		Language:        c.Language,
		HTTPClient:      httpClient,
		RequestTimeout:  s.Timing.RequestTimeout,
		MaxRetries:      *c.MaxRetries,
		Budget:          budget,
		Metrics:         r.metrics,
		Now:             r.opts.Now,
		UserAgent:       r.opts.UserAgent,
		Logger:          r.logger("scp"),
	})
	if err != nil {
		budget.Report(nil)
		return nil, fmt.Errorf("scp: %w", err)
	}
	return &conn{http: httpClient, client: client, budget: budget}, nil
}

// proxyConfig is how an account's calls reach the API: through proxy_url
// when it is set, else as the environment says (HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY, read when the client is built), as the official SDK and the
// Terraform provider do. Go never proxies calls to localhost or loopback
// addresses.
func proxyConfig(c config.SCP) commoncfg.ProxyConfig {
	if c.ProxyURL.URL != nil {
		return commoncfg.ProxyConfig{ProxyURL: c.ProxyURL}
	}
	return commoncfg.ProxyConfig{ProxyFromEnvironment: true}
}

// resolve points c's client at its Virtual Server URL and API version (see
// scp.Client.Resolve): the configured endpoint, else IAM's endpoint
// catalog, else lastGood (the URL the catalog gave the client this one
// replaces), else the host built from region and environment; and the
// server's version list. The first try waits at most one ResolveTimeout;
// what it did not finish is retried in the background until it succeeds
// or the conn is replaced. It runs before c is taken into use, without
// r.mu (scrapes read the runtime meanwhile).
func (r *Runtime) resolve(c *conn, s config.Settings, lastGood string) {
	rc := scp.ResolveConfig{
		Endpoint:         s.SCP.Endpoint,
		IAMEndpoint:      s.SCP.IAMBaseURL(),
		Region:           s.SCP.Region,
		Fallback:         r.opts.FallbackURL(s.SCP.Region, s.SCP.Environment),
		APIVersion:       s.SCP.APIVersion,
		LastGood:         lastGood,
		RetryInterval:    s.Timing.ResolveRetry,
		MaxRetryInterval: s.Timing.ResolveMaxRetry,
	}
	first, cancel := context.WithTimeout(r.tasks.ctx, s.Timing.ResolveTimeout)
	done := c.client.Resolve(first, rc)
	cancel()
	if !done {
		c.resolving = r.tasks.spawn(func(ctx context.Context) { c.client.KeepResolving(ctx, rc) })
	}
}

// stopResolving ends the background resolution, if any, and waits for it.
func (c *conn) stopResolving() {
	if c == nil {
		return
	}
	c.resolving.stop()
	c.resolving = nil
}
