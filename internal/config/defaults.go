package config

import (
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Defaults of the fields a file may leave out. The timeouts and intervals
// no field sets are in timing.go.
const (
	DefaultMaxConcurrency    = 8
	DefaultRequestTimeout    = 10 * time.Second
	DefaultScrapeTimeout     = 30 * time.Second
	DefaultMaxRetries        = 2
	DefaultRequestsPerSecond = 200
	// DefaultAuditPollInterval is audit.poll_interval when unset, and
	// MinAuditPollInterval the shortest allowed.
	DefaultAuditPollInterval = 30 * time.Second
	MinAuditPollInterval     = 5 * time.Second
	// DefaultAuditServiceType is audit.filter.service_type when neither
	// filter is set: the IAM catalog's service type of the Virtual Server.
	DefaultAuditServiceType = "scp-virtualserver"
)

// DefaultRefreshInterval is discovery's default refresh interval.
const DefaultRefreshInterval = 10 * time.Minute

// DefaultAllowedVisibility is allowed_visibility when the config sets none.
var DefaultAllowedVisibility = []string{"private", "shared"}

func (s *SCP) setDefaults() {
	if s.APIVersion == "" {
		s.APIVersion = scp.DefaultAPIVersion
	}
	if s.AuditAPIVersion == "" {
		s.AuditAPIVersion = scp.APIVersionLatest
	}
	if s.Language == "" {
		s.Language = scp.DefaultLanguage
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = Duration(DefaultRequestTimeout)
	}
	if s.MaxConcurrency == 0 {
		s.MaxConcurrency = DefaultMaxConcurrency
	}
	if s.MaxRetries == nil {
		n := DefaultMaxRetries
		s.MaxRetries = &n
	}
	if s.RequestsPerSecond == 0 {
		s.RequestsPerSecond = DefaultRequestsPerSecond
	}
}

func (au *Audit) setDefaults() {
	if au.PollInterval == 0 {
		au.PollInterval = Duration(DefaultAuditPollInterval)
	}
	if au.Filter.ServiceType == "" && au.Filter.ResourceType == "" {
		au.Filter.ServiceType = DefaultAuditServiceType
	}
}

func (d *Discovery) setDefaults() {
	if d.Visibility == nil {
		d.Visibility = []string{"private", "shared"}
	}
	if d.RefreshInterval == 0 {
		d.RefreshInterval = Duration(DefaultRefreshInterval)
	}
}
