// Package config reads and validates the exporter's YAML configuration, and
// derives from it what each account's runtime needs (Settings).
package config

import (
	"regexp"

	commoncfg "github.com/prometheus/common/config"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Environment variables that supply keys the file leaves out.
const (
	EnvAccessKey = "SCP_ACCESS_KEY"
	EnvSecretKey = "SCP_SECRET_KEY" //nolint:gosec // G101: the name of an environment variable, not a credential
	// EnvSecretKeyFile names a file holding the secret key (as
	// secret_key_file, re-read on every reload; a relative path is relative
	// to the working directory), for an account whose config sets neither
	// secret_key nor secret_key_file. It and EnvSecretKey may not both be
	// set. The Helm chart sets it to the mounted Secret.
	EnvSecretKeyFile = "SCP_SECRET_KEY_FILE" //nolint:gosec // G101: as above
)

// Config is the whole configuration file. It has one of two forms: a single
// account (scp, expected_members, images, discovery at the top level) or a
// list of accounts, each with those fields of its own. After Load, Accounts
// holds every account in both forms.
type Config struct {
	SCP SCP `yaml:"scp"`
	// ExpectedMembers are accounts every image may be shared with; in the
	// accounts form they apply to every account.
	ExpectedMembers []ExpectedAccount `yaml:"expected_members"`
	Images          []Image           `yaml:"images"`
	Discovery       Discovery         `yaml:"discovery"`
	// Accounts is the several-accounts form; each has a unique name that
	// becomes the account label of its series.
	Accounts []Account `yaml:"accounts"`
	// AllowedVisibility lists the visibilities images may have (default
	// private and shared); an image with another is reported unexpected.
	AllowedVisibility []string `yaml:"allowed_visibility"`
	// ExpectedImageOwners are accounts whose offers of images (pending
	// images) are expected; in the accounts form they apply to every account.
	ExpectedImageOwners []ExpectedAccount `yaml:"expected_image_owners"`
	// ScrapeTimeout caps a scrape's deadline; Prometheus's own timeout
	// header, less the offset, is used when it is shorter. It also bounds
	// each members call with its retries.
	ScrapeTimeout Duration `yaml:"scrape_timeout"`
	// Members configures how every account's members are refreshed; in the
	// accounts form an account's own members block replaces it.
	Members Members `yaml:"members"`
	// MinRefreshInterval is no longer supported (see Members); it is kept
	// only to say so.
	MinRefreshInterval *Duration `yaml:"min_refresh_interval"`
	// ExpectedMembersFile and ExpectedImageOwnersFile name files of account
	// IDs (see package trustlist) that add to ExpectedMembers and
	// ExpectedImageOwners; in the accounts form they apply to every
	// account. After Load a relative path is joined to the config file's
	// directory. Load refuses a file that is missing or malformed.
	ExpectedMembersFile     string `yaml:"expected_members_file"`
	ExpectedImageOwnersFile string `yaml:"expected_image_owners_file"`
	// MaxMembers is how many accounts (pending or accepted) an image may be
	// shared with; 0 (the default) is no limit. See Settings.MaxMembersOf.
	MaxMembers int `yaml:"max_members"`
	// Audit configures following every account's audit trail; in the
	// accounts form an account's own audit block replaces it.
	Audit Audit `yaml:"audit"`

	single bool // the single-account form, normalised into Accounts[0]
	// lists holds the lists Load read from each list file, by path. Load
	// reads them only to refuse a bad file; the running exporter's
	// watchers read them again, so only tests look at what was read.
	lists map[string]trustlist.List
	// redactor hides the secrets the document held or pointed at when
	// Load read it (see Redact).
	redactor *Redactor
}

// Account is one SCP account (or one region of it) and the images watched there.
type Account struct {
	// Name labels the account's series; empty in the single-account form.
	Name            string            `yaml:"name"`
	SCP             SCP               `yaml:"scp"`
	ExpectedMembers []ExpectedAccount `yaml:"expected_members"`
	Images          []Image           `yaml:"images"`
	Discovery       Discovery         `yaml:"discovery"`
	// ExpectedImageOwners adds to the top-level list for this account.
	ExpectedImageOwners []ExpectedAccount `yaml:"expected_image_owners"`
	// Members, when set, replaces the top-level members block for this
	// account; after Load it is always set.
	Members *Members `yaml:"members"`
	// ExpectedMembersFile and ExpectedImageOwnersFile add to the top-level
	// lists and files for this account.
	ExpectedMembersFile     string `yaml:"expected_members_file"`
	ExpectedImageOwnersFile string `yaml:"expected_image_owners_file"`
	// MaxMembers, when set, replaces the top-level max_members for this
	// account's images (0: no limit).
	MaxMembers *int `yaml:"max_members"`
	// Audit, when set, replaces the top-level audit block for this
	// account; after Load it is always set.
	Audit *Audit `yaml:"audit"`
}

// Audit configures following the account's audit trail (the Logging &
// Audit service's GET /v1/logs) to re-check a changed image at once.
type Audit struct {
	Enabled bool `yaml:"enabled"`
	// PollInterval is how often the trail is read; default 30s, at least 5s.
	PollInterval Duration `yaml:"poll_interval"`
	// Filter narrows the trail's reads with the service's own filters.
	Filter AuditFilter `yaml:"filter"`
}

// AuditFilter is the Logging & Audit service's own filters, sent to read
// only Virtual Server events. Their values are not documented, so a filter
// is trusted only once a read with it has returned every event on a
// watched image that an unfiltered read of the same window returned; one
// the service refuses, or that misses an event, is dropped for unfiltered
// reads (see docs/running.md).
type AuditFilter struct {
	// Enabled: default true.
	Enabled *bool `yaml:"enabled"`
	// ServiceType is the service_type filter; default
	// DefaultAuditServiceType, the catalog's name for the Virtual Server.
	ServiceType string `yaml:"service_type"`
	// ResourceType is the resource_type filter; default none (an image
	// member's events may name another resource type than the image's).
	ResourceType string `yaml:"resource_type"`
}

// On reports whether the filter is enabled (the default).
func (f AuditFilter) On() bool { return f.Enabled == nil || *f.Enabled }

// Members configures how the members of images are refreshed.
type Members struct {
	// RefreshInterval is 0 (the default) to fetch on demand: a scrape
	// begins a pass over every image, which goes on between scrapes until
	// done, and the next follows at once when a scrape came during it.
	// Otherwise it is how often each image should be fetched in the
	// background, scrapes then reading what is known without waiting.
	RefreshInterval Duration `yaml:"refresh_interval"`
}

// Discovery lists the account's images in the background and watches them
// beside the static list.
type Discovery struct {
	Enabled bool `yaml:"enabled"`
	// Visibility lists which images to discover; default private and shared.
	Visibility []string `yaml:"visibility"`
	// NameRegex, when set, keeps only images whose whole name matches.
	NameRegex string `yaml:"name_regex"`
	// RefreshInterval is how often the list is fetched again; default 10m.
	RefreshInterval Duration `yaml:"refresh_interval"`

	nameRE *regexp.Regexp
}

// Matches reports whether a discovered image's name passes name_regex.
func (d *Discovery) Matches(name string) bool {
	return d.nameRE == nil || d.nameRE.MatchString(name)
}

// Visibilities an image can have, as the API names them.
var Visibilities = []string{"public", "community", "shared", "private"}

// SCP is how to reach and authenticate to the API.
type SCP struct {
	Region      string `yaml:"region"`
	Environment string `yaml:"environment"`
	// Endpoint, when set, is used as is instead of region and environment:
	// IAM's endpoint catalog is not read.
	Endpoint string `yaml:"endpoint"`
	// IAMEndpoint replaces IAM's URL (https://iam.{environment}.samsungsdscloud.com),
	// whose endpoint catalog names the region's Virtual Server URL.
	IAMEndpoint string `yaml:"iam_endpoint"`
	// AuditEndpoint, when set, is the Logging & Audit service's URL, used
	// as is; otherwise IAM's endpoint catalog names it. It is required for
	// audit with Endpoint, which reads no catalog.
	AuditEndpoint string `yaml:"audit_endpoint"`
	// AuditAPIVersion is the Logging & Audit version to request ("1.0",
	// "1.1"), or latest (the default) for the newest the service lists as
	// CURRENT among those the exporter reads.
	AuditAPIVersion string           `yaml:"audit_api_version"`
	AccessKey       string           `yaml:"access_key"`
	SecretKey       commoncfg.Secret `yaml:"secret_key"`
	SecretKeyFile   string           `yaml:"secret_key_file"`
	AccountID       string           `yaml:"account_id"`
	// APIVersion is a version ID such as "1.3", or "latest" for the
	// server's CURRENT version.
	APIVersion string `yaml:"api_version"`
	Language   string `yaml:"language"`
	// RequestTimeout bounds one API request.
	RequestTimeout Duration `yaml:"request_timeout"`
	// MaxConcurrency is how many API calls a scrape has in flight at once.
	MaxConcurrency int `yaml:"max_concurrency"`
	// MaxRetries is how often a failed GET is retried (network error, 429, 502-504).
	MaxRetries *int `yaml:"max_retries"`
	// RequestsPerSecond is a client-side rate limit shared by all scrapes.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// TLSConfig and ProxyURL shape the connection to the API.
	TLSConfig commoncfg.TLSConfig `yaml:"tls_config"`
	ProxyURL  commoncfg.URL       `yaml:"proxy_url"`
}

// BaseURL is the Virtual Server endpoint this config points at before IAM's
// endpoint catalog is read: endpoint, else the host built from region and
// environment (the fallback when the catalog gives none).
func (s *SCP) BaseURL() string {
	if s.Endpoint != "" {
		return s.Endpoint
	}
	return scp.BaseURLFor(s.Region, s.Environment)
}

// IAMBaseURL is the URL of IAM, whose endpoint catalog is read when no
// endpoint is set: iam_endpoint, else the environment's IAM host.
func (s *SCP) IAMBaseURL() string {
	if s.IAMEndpoint != "" {
		return s.IAMEndpoint
	}
	return scp.IAMBaseURLFor(s.Environment)
}

// Image is one image whose members are watched.
type Image struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// ExpectedMembers are accounts this image may be shared with, besides
	// the top-level list.
	ExpectedMembers []ExpectedAccount `yaml:"expected_members"`
	// AllowedVisibility, when set, replaces the top-level list for this image.
	AllowedVisibility []string `yaml:"allowed_visibility"`
	// MaxMembers, when set, replaces the account's and top-level
	// max_members for this image (0: no limit).
	MaxMembers *int `yaml:"max_members"`
}

// MultiAccount reports whether the config uses the accounts form, whose
// series carry an account label.
func (c *Config) MultiAccount() bool { return !c.single }
