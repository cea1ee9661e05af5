package scp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// EndpointSource says where the Virtual Server URL in use came from. Values
// are metric label values.
type EndpointSource string

// Endpoint sources.
const (
	// SourceOverride: the configured endpoint, used as is (no IAM call).
	SourceOverride EndpointSource = "override"
	// SourceCatalog: IAM's endpoint catalog, now or (when IAM last failed)
	// the last good answer.
	SourceCatalog EndpointSource = "catalog"
	// SourceFallback: the host built from region and environment, because
	// the catalog gave no URL yet.
	SourceFallback EndpointSource = "fallback"
)

// ResolveConfig is what Resolve needs to know of the configuration.
type ResolveConfig struct {
	// Endpoint, when set, is the Virtual Server URL: the catalog is not read.
	Endpoint string
	// IAMEndpoint is IAM's base URL; the catalog is {IAMEndpoint}/v1/endpoints.
	IAMEndpoint string
	Region      string
	// Fallback is the URL used while the catalog gives none: the host built
	// from region and environment.
	Fallback string
	// APIVersion is the configured version: an ID such as "1.3", or
	// APIVersionLatest for the server's CURRENT one.
	APIVersion string
	// LastGood is a URL the catalog gave before for the same region and
	// IAM endpoint (kept across a client rebuilt on reload); it is used
	// when the catalog fails.
	LastGood string
	// RetryInterval is the first wait of KeepResolving; it doubles up to
	// MaxRetryInterval (config.Timing's ResolveRetry and ResolveMaxRetry).
	// KeepResolving needs both positive.
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration
}

// ServiceInfo is what the client learned about the service it calls.
type ServiceInfo struct {
	URL    string
	Source EndpointSource
	// Requested is the configured version ("1.3" or "latest"); APIVersion
	// is the one requested now.
	Requested  string
	APIVersion APIVersion
	// VersionsRead is true once the server's version list has been read;
	// Versions is that list, oldest first.
	VersionsRead bool
	Versions     []ServerVersion
	// Offered says whether the server offers APIVersion; meaningful only
	// when VersionsRead.
	Offered bool
}

// resolveState is Resolve's memory between calls on one client.
type resolveState struct {
	mu             sync.Mutex
	warnedFallback bool
	warnedLatest   bool
}

// ServiceInfo returns what resolution has learned, and ok false before
// Resolve has run.
func (c *Client) ServiceInfo() (ServiceInfo, bool) {
	p := c.info.Load()
	if p == nil {
		return ServiceInfo{}, false
	}
	return *p, true
}

// Resolve finds the Virtual Server URL (the configured endpoint, else IAM's
// endpoint catalog, else the last good catalog answer, else the fallback
// host, with a warning logged once) and reads the server's version list
// (an unsigned GET), choosing the server's CURRENT version for
// APIVersionLatest and logging when the configured one is not offered. It
// points the client at what it found. Each call is one attempt bounded by
// the request timeout; what has succeeded on this client is not asked
// again. It reports whether anything is left to retry (a fallback URL, or
// an unread version list); see KeepResolving. A catalog read also teaches
// the client the Logging & Audit URL (see ListAuditEvents), and the IAM
// endpoint and region to ask for it otherwise.
func (c *Client) Resolve(ctx context.Context, rc ResolveConfig) (done bool) {
	c.resolve.mu.Lock()
	defer c.resolve.mu.Unlock()
	logger := c.opts.Logger
	info := ServiceInfo{Requested: rc.APIVersion}
	prev, resolvedBefore := c.ServiceInfo()
	c.audit.remember(rc)

	switch {
	case rc.Endpoint != "":
		info.URL, info.Source = rc.Endpoint, SourceOverride
	case resolvedBefore && prev.Source == SourceCatalog:
		info.URL, info.Source = prev.URL, prev.Source
	default:
		u, err := c.catalogURL(ctx, rc)
		switch {
		case err == nil:
			info.URL, info.Source = u, SourceCatalog
			if resolvedBefore && prev.Source == SourceFallback {
				level.Info(logger).Log("msg", "IAM's endpoint catalog answered; calling the Virtual Server URL it names instead of the fallback host", "url", u)
			} else {
				level.Debug(logger).Log("msg", "Virtual Server URL from IAM's endpoint catalog", "url", u)
			}
		case rc.LastGood != "":
			info.URL, info.Source = rc.LastGood, SourceCatalog
			level.Warn(logger).Log("msg", "IAM's endpoint catalog failed; keeping the last good Virtual Server URL", "url", rc.LastGood, "err", err)
		default:
			info.URL, info.Source = rc.Fallback, SourceFallback
			if !c.resolve.warnedFallback {
				c.resolve.warnedFallback = true
				level.Warn(logger).Log("msg", "IAM's endpoint catalog gave no Virtual Server URL; using the host built from region and environment, and asking the catalog again in the background",
					"url", rc.Fallback, "err", err)
			} else {
				level.Debug(logger).Log("msg", "IAM's endpoint catalog failed again", "err", err)
			}
		}
	}
	if err := c.SetBaseURL(info.URL); err != nil {
		// Validated before it got here; keep what the client had.
		level.Error(logger).Log("msg", "cannot use the Virtual Server URL", "err", err)
		info.URL = c.BaseURL()
	}

	known := resolvedBefore && prev.VersionsRead && prev.URL == info.URL // read before from this URL
	if known {
		info.Versions, info.VersionsRead = prev.Versions, true
	} else if list, err := c.ListVersions(ctx); err == nil {
		info.Versions, info.VersionsRead = list, true
	} else {
		level.Warn(logger).Log("msg", "cannot read the API's version list (unsigned GET on the Virtual Server URL); retrying in the background", "url", info.URL, "err", err)
	}
	info.APIVersion, info.Offered = c.chooseVersion(rc, info, !known)
	for _, sv := range info.Versions {
		if sv.ID == info.APIVersion.ID && sv.Status != ServerStatusCurrent {
			// The server's not_before, where it gives one, is when support
			// ends (the provider reads it so); the table only fills in.
			if d, ok := notBeforeDate(sv.NotBefore); ok {
				info.APIVersion.SupportedUntil = d
			}
		}
	}
	c.SetAPIVersion(info.APIVersion)
	c.info.Store(&info)
	return info.Source != SourceFallback && info.VersionsRead
}

// catalogURL asks IAM's catalog for the region's Virtual Server URL.
func (c *Client) catalogURL(ctx context.Context, rc ResolveConfig) (string, error) {
	catalog, err := c.ListEndpoints(ctx, rc.IAMEndpoint)
	if err != nil {
		return "", err
	}
	_, _ = c.audit.fromCatalog(catalog, rc.Region) // the same answer names the audit service (or says why not)
	u, err := PickEndpoint(catalog, rc.Region)
	if err != nil {
		// The call succeeded but its answer is of no use: a decode failure.
		c.opts.Metrics.decodeFailed(OpListEndpoints)
	}
	return u, err
}

// chooseVersion picks the version to request and whether the server offers
// it; log says whether to log what it found (once per list read).
func (c *Client) chooseVersion(rc ResolveConfig, info ServiceInfo, log bool) (APIVersion, bool) {
	logger := c.opts.Logger
	if rc.APIVersion == APIVersionLatest {
		if info.VersionsRead {
			var current *ServerVersion
			for i := range info.Versions {
				if info.Versions[i].Status == ServerStatusCurrent {
					current = &info.Versions[i] // the newest CURRENT: the list is sorted
				}
			}
			if current != nil {
				v := VersionFor(current.ID, current.Status)
				if log {
					level.Info(logger).Log("msg", "api_version latest: requesting the server's CURRENT API version", "version", v.ID)
				}
				return v, true
			}
		}
		v, _ := LookupAPIVersion(DefaultAPIVersion)
		if !c.resolve.warnedLatest {
			c.resolve.warnedLatest = true
			level.Warn(logger).Log("msg", "api_version latest: the server named no CURRENT API version; requesting this exporter's default", "version", v.ID, "versions_read", info.VersionsRead)
		}
		return v, offered(info.Versions, v.ID)
	}
	v, err := LookupAPIVersion(rc.APIVersion)
	if err != nil {
		v, _ = LookupAPIVersion(DefaultAPIVersion) // config validates the ID
	}
	ok := offered(info.Versions, v.ID)
	if info.VersionsRead && !ok && log {
		level.Error(logger).Log("msg", "the SCP API does not offer the configured API version; its calls will likely be refused (reason unsupported_version). Set scp.api_version to one it offers, or to latest",
			"version", v.ID, "offered", describeVersions(info.Versions), "url", info.URL)
	}
	return v, ok
}

func offered(list []ServerVersion, id string) bool {
	for _, sv := range list {
		if sv.ID == id {
			return sv.Offered()
		}
	}
	return false
}

func describeVersions(list []ServerVersion) string {
	if len(list) == 0 {
		return "none"
	}
	parts := make([]string, len(list))
	for i, sv := range list {
		parts[i] = sv.ID + " (" + sv.Status + ")"
	}
	return strings.Join(parts, ", ")
}

// KeepResolving calls Resolve until nothing is left to retry or ctx ends,
// waiting RetryInterval, doubling up to MaxRetryInterval, between tries.
// Without a positive RetryInterval it does not retry.
func (c *Client) KeepResolving(ctx context.Context, rc ResolveConfig) {
	wait, maxWait := rc.RetryInterval, max(rc.MaxRetryInterval, rc.RetryInterval)
	if wait <= 0 {
		return
	}
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if c.Resolve(ctx, rc) || errors.Is(ctx.Err(), context.Canceled) {
			return
		}
		wait = min(2*wait, maxWait)
	}
}
