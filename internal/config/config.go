// Package config reads and validates the exporter's YAML configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
)

// Environment variables that supply keys the file leaves out.
const (
	EnvAccessKey = "SCP_ACCESS_KEY"
	EnvSecretKey = "SCP_SECRET_KEY" //nolint:gosec // G101: the name of an environment variable, not a credential
)

// Defaults.
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
)

// Config is the whole configuration file. It has one of two forms: a single
// account (scp, expected_members, images, discovery at the top level) or a
// list of accounts, each with those fields of its own.
type Config struct {
	SCP SCP `yaml:"scp"`
	// ExpectedMembers are accounts every image may be shared with; in the
	// accounts form they apply to every account.
	ExpectedMembers []string  `yaml:"expected_members"`
	Images          []Image   `yaml:"images"`
	Discovery       Discovery `yaml:"discovery"`
	// Accounts is the several-accounts form; each has a unique name that
	// becomes the account label of its series.
	Accounts []Account `yaml:"accounts"`
	// AllowedVisibility lists the visibilities images may have (default
	// private and shared); an image with another is reported unexpected.
	AllowedVisibility []string `yaml:"allowed_visibility"`
	// ExpectedImageOwners are accounts whose offers of images (pending
	// images) are expected; in the accounts form they apply to every account.
	ExpectedImageOwners []string `yaml:"expected_image_owners"`
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
	// account. After Parse a relative path is joined to the config file's
	// directory. The file must be readable and well-formed at every load.
	ExpectedMembersFile     string `yaml:"expected_members_file"`
	ExpectedImageOwnersFile string `yaml:"expected_image_owners_file"`
	// MaxMembers is how many accounts (pending or accepted) an image may be
	// shared with; 0 (the default) is no limit. See MaxMembersFor.
	MaxMembers int `yaml:"max_members"`
	// Audit configures following every account's audit trail; in the
	// accounts form an account's own audit block replaces it.
	Audit Audit `yaml:"audit"`

	single bool                // the single-account form, normalised into Accounts[0]
	lists  map[string][]string // the IDs of each list file, as read by Parse
}

// Account is one SCP account (or one region of it) and the images watched there.
type Account struct {
	// Name labels the account's series; empty in the single-account form.
	Name            string    `yaml:"name"`
	SCP             SCP       `yaml:"scp"`
	ExpectedMembers []string  `yaml:"expected_members"`
	Images          []Image   `yaml:"images"`
	Discovery       Discovery `yaml:"discovery"`
	// ExpectedImageOwners adds to the top-level list for this account.
	ExpectedImageOwners []string `yaml:"expected_image_owners"`
	// Members, when set, replaces the top-level members block for this
	// account; after Parse it is always set.
	Members *Members `yaml:"members"`
	// ExpectedMembersFile and ExpectedImageOwnersFile add to the top-level
	// lists and files for this account.
	ExpectedMembersFile     string `yaml:"expected_members_file"`
	ExpectedImageOwnersFile string `yaml:"expected_image_owners_file"`
	// MaxMembers, when set, replaces the top-level max_members for this
	// account's images (0: no limit).
	MaxMembers *int `yaml:"max_members"`
	// Audit, when set, replaces the top-level audit block for this
	// account; after Parse it is always set.
	Audit *Audit `yaml:"audit"`
}

// Audit configures following the account's audit trail (the Logging &
// Audit service's GET /v1/logs) to re-check a changed image at once.
type Audit struct {
	Enabled bool `yaml:"enabled"`
	// PollInterval is how often the trail is read; default 30s, at least 5s.
	PollInterval Duration `yaml:"poll_interval"`
}

// Members configures how the members of images are refreshed.
type Members struct {
	// RefreshInterval is 0 (the default) to fetch while scrapes wait, or
	// how often each image should be fetched in the background, scrapes
	// then reading what is known without waiting.
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

// DefaultRefreshInterval is discovery's default refresh interval.
const DefaultRefreshInterval = 10 * time.Minute

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
	AuditEndpoint string           `yaml:"audit_endpoint"`
	AccessKey     string           `yaml:"access_key"`
	SecretKey     commoncfg.Secret `yaml:"secret_key"`
	SecretKeyFile string           `yaml:"secret_key_file"`
	AccountID     string           `yaml:"account_id"`
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

// Image is one image whose members are watched.
type Image struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// ExpectedMembers are accounts this image may be shared with, besides
	// the top-level list.
	ExpectedMembers []string `yaml:"expected_members"`
	// AllowedVisibility, when set, replaces the top-level list for this image.
	AllowedVisibility []string `yaml:"allowed_visibility"`
	// MaxMembers, when set, replaces the account's and top-level
	// max_members for this image (0: no limit).
	MaxMembers *int `yaml:"max_members"`
}

// Load reads the file at path, with keys from the environment (getenv, e.g.
// os.Getenv) where the file leaves them out, and secret_key_file read now.
func Load(path string, getenv func(string) string) (*Config, error) {
	return load(path, getenv, false)
}

// LoadSkippingLists is Load for a running exporter: it resolves the paths
// of the list files but does not read them. The exporter's watchers do
// (package trustlist): a file that is missing, unreadable or malformed is
// a problem of that file, whose last good list stays in use (none at
// start), not of the config. --config.check uses Load, which refuses it.
func LoadSkippingLists(path string, getenv func(string) string) (*Config, error) {
	return load(path, getenv, true)
}

func load(path string, getenv func(string) string, skipLists bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := parse(data, filepath.Dir(path), getenv, skipLists)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Redact removes from msg every piece of a secret the config holds: the
// secret keys and the passwords of its URLs. For messages about files the
// config names, such as a list file's line, which may quote whatever was
// pasted into it.
func (c *Config) Redact(msg string) string {
	var r redactor
	for _, a := range c.Accounts {
		r.add(string(a.SCP.SecretKey))
		for _, u := range []string{a.SCP.Endpoint, a.SCP.IAMEndpoint, a.SCP.AuditEndpoint} {
			for _, p := range urlPasswords(u) {
				r.add(p)
			}
		}
		if u := a.SCP.ProxyURL.URL; u != nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				r.add(p)
			}
		}
	}
	return r.redact(msg)
}

// Parse decodes and validates a config. Relative file paths are taken from
// dir. It returns every problem it finds, joined.
func Parse(data []byte, dir string, getenv func(string) string) (*Config, error) {
	return parse(data, dir, getenv, false)
}

func parse(data []byte, dir string, getenv func(string) string, skipLists bool) (*Config, error) {
	cfg := &Config{}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// Not YAML at all: nothing further can be checked.
			return nil, errors.New(secretsIn(data, dir, getenv).redact(strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		// A field of the wrong type or an unknown key: the decoder went on,
		// so the rest of the file is checked too.
		errs = append(errs, typeErrors(te, data)...)
	}
	if cfg.ScrapeTimeout == 0 {
		cfg.ScrapeTimeout = Duration(DefaultScrapeTimeout)
	}
	formErrs := cfg.validateForm()
	errs = append(errs, formErrs...)
	if len(cfg.Accounts) == 0 && len(formErrs) == 0 {
		cfg.Accounts = []Account{{SCP: cfg.SCP, ExpectedMembers: nil, Images: cfg.Images, Discovery: cfg.Discovery}}
		cfg.single = true
	}
	cfg.Audit.setDefaults()
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if a.Members == nil {
			m := cfg.Members
			a.Members = &m
		}
		if a.Audit == nil {
			au := cfg.Audit
			a.Audit = &au
		} else {
			// Only the accounts form has blocks of its own; the top-level
			// one is checked once, by validate.
			a.Audit.setDefaults()
			errs = append(errs, prefixErrs(fmt.Sprintf("accounts[%d].", i), a.Audit.validate())...)
		}
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		prefix := ""
		if !cfg.single {
			prefix = fmt.Sprintf("accounts[%d].", i)
		}
		a.SCP.setDefaults()
		a.Discovery.setDefaults()
		a.SCP.TLSConfig.SetDirectory(dir)
		if err := a.SCP.resolveKeys(prefix, dir, getenv); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, a.validate(prefix, cfg.single)...)
	}
	errs = append(errs, cfg.validate()...)
	errs = append(errs, cfg.readLists(dir, !skipLists)...)
	if len(errs) > 0 {
		// Validation quotes values, and a secret can sit in the wrong field.
		r := secretsIn(data, dir, getenv)
		for i, err := range errs {
			if msg := r.redact(err.Error()); msg != err.Error() {
				errs[i] = errors.New(msg) // the cause is dropped with the secret
			}
		}
		return nil, errors.Join(errs...)
	}
	if cfg.single {
		cfg.SCP = cfg.Accounts[0].SCP
	}
	return cfg, nil
}

// MultiAccount reports whether the config uses the accounts form, whose
// series carry an account label.
func (c *Config) MultiAccount() bool { return !c.single }

func (s *SCP) setDefaults() {
	if s.APIVersion == "" {
		s.APIVersion = scp.DefaultAPIVersion
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
}

func (au *Audit) validate() []error {
	if au.PollInterval < Duration(MinAuditPollInterval) {
		return []error{fmt.Errorf("audit.poll_interval: %s is shorter than %s", au.PollInterval, Duration(MinAuditPollInterval))}
	}
	return nil
}

func (d *Discovery) setDefaults() {
	if d.Visibility == nil {
		d.Visibility = []string{"private", "shared"}
	}
	if d.RefreshInterval == 0 {
		d.RefreshInterval = Duration(DefaultRefreshInterval)
	}
}

// resolveKeys fills the keys from the environment or secret_key_file.
func (s *SCP) resolveKeys(prefix, dir string, getenv func(string) string) error {
	if s.AccessKey == "" {
		s.AccessKey = getenv(EnvAccessKey)
	}
	switch {
	case s.SecretKey != "" && s.SecretKeyFile != "":
		return fmt.Errorf("%sscp: set secret_key or secret_key_file, not both", prefix)
	case s.SecretKeyFile != "":
		path := s.SecretKeyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%sscp.secret_key_file: %w", prefix, err)
		}
		s.SecretKey = commoncfg.Secret(strings.TrimRight(string(data), "\r\n"))
		if s.SecretKey == "" {
			return fmt.Errorf("%sscp.secret_key_file: %s is empty", prefix, path)
		}
	case s.SecretKey == "":
		s.SecretKey = commoncfg.Secret(getenv(EnvSecretKey))
	}
	return nil
}

// regions lists the regions of each environment (shared/scp-api.md).
var regions = map[string][]string{
	"s": {"kr-west1", "kr-east1"},
	"g": {"kr-south1", "kr-south2", "kr-south3"},
	"e": {"kr-west1", "kr-east1"},
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

// validateForm checks that the file uses one form, not a mix.
func (c *Config) validateForm() []error {
	if len(c.Accounts) == 0 {
		return nil
	}
	var mixed []string
	if !reflect.DeepEqual(c.SCP, SCP{}) {
		mixed = append(mixed, "scp")
	}
	if len(c.Images) > 0 {
		mixed = append(mixed, "images")
	}
	if !reflect.DeepEqual(c.Discovery, Discovery{}) {
		mixed = append(mixed, "discovery")
	}
	if len(mixed) > 0 {
		return []error{fmt.Errorf("accounts: with accounts, move the top-level %s into each account", strings.Join(mixed, ", "))}
	}
	return nil
}

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// validate checks what is common to all accounts.
func (c *Config) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ScrapeTimeout < 0 {
		add("scrape_timeout: must be positive")
	}
	if c.MinRefreshInterval != nil {
		add("min_refresh_interval: no longer supported: members are kept by a refresh engine and each scrape serves the last known state; for refresh in the background, set members.refresh_interval")
	}
	errs = append(errs, validateMembers("expected_members", c.ExpectedMembers)...)
	errs = append(errs, validateMembers("expected_image_owners", c.ExpectedImageOwners)...)
	errs = append(errs, validateVisibilities("allowed_visibility", c.AllowedVisibility)...)
	errs = append(errs, validateMaxMembers("max_members", &c.MaxMembers)...)
	errs = append(errs, c.Audit.validate()...)
	names := map[string]int{}
	for i, a := range c.Accounts {
		if c.single {
			break
		}
		switch j, dup := names[a.Name]; {
		case !accountNameRE.MatchString(a.Name):
			add("accounts[%d].name: %q must match ^[A-Za-z0-9_.-]{1,64}$", i, a.Name)
		case dup:
			add("accounts[%d].name: %q is used again (first at accounts[%d])", i, a.Name, j)
		default:
			names[a.Name] = i
		}
	}
	return errs
}

// validate checks one account; prefix names it in messages.
func (a *Account) validate(prefix string, single bool) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+format, args...))
	}
	s := &a.SCP
	if s.Endpoint != "" {
		if !validEndpoint(s.Endpoint) {
			add("scp.endpoint: %q is not an absolute http or https URL without user info, query or fragment", s.Endpoint)
		}
		if s.IAMEndpoint != "" {
			add("scp.iam_endpoint: has no effect with scp.endpoint, which is used as is; remove one")
		}
		if a.Audit.Enabled && s.AuditEndpoint == "" {
			add("scp.audit_endpoint: missing: audit is enabled and scp.endpoint is set, so IAM's endpoint catalog, which names the audit service, is not read")
		}
	} else {
		if s.IAMEndpoint != "" && !validEndpoint(s.IAMEndpoint) {
			add("scp.iam_endpoint: %q is not an absolute http or https URL without user info, query or fragment", s.IAMEndpoint)
		}
		known, ok := regions[s.Environment]
		switch {
		case s.Environment == "" && s.Region == "":
			add("scp: set endpoint, or region and environment")
		case !ok:
			add("scp.environment: %q is not one of s, g, e", s.Environment)
		case !slices.Contains(known, s.Region):
			add("scp.region: %q is not a region of environment %q (known: %s)", s.Region, s.Environment, strings.Join(known, ", "))
		}
	}
	if s.AuditEndpoint != "" && !validEndpoint(s.AuditEndpoint) {
		add("scp.audit_endpoint: %q is not an absolute http or https URL without user info, query or fragment", s.AuditEndpoint)
	}
	if s.AccessKey == "" {
		add("scp.access_key: missing (set it, or the environment variable %s)", EnvAccessKey)
	}
	if s.SecretKey == "" && s.SecretKeyFile == "" {
		add("scp.secret_key: missing (set it, secret_key_file, or the environment variable %s)", EnvSecretKey)
	}
	if s.AccountID != "" && !printableASCII(s.AccountID, 64) {
		add("scp.account_id: must be at most 64 printable ASCII characters")
	}
	if _, err := scp.LookupAPIVersion(s.APIVersion); err != nil && s.APIVersion != scp.APIVersionLatest {
		add("scp.api_version: %w, or %s", err, scp.APIVersionLatest)
	}
	if s.Language != "en-US" && s.Language != "ko-KR" {
		add("scp.language: %q is not en-US or ko-KR", s.Language)
	}
	if s.RequestTimeout < 0 {
		add("scp.request_timeout: must be positive")
	}
	if s.MaxConcurrency < 1 || s.MaxConcurrency > 256 {
		add("scp.max_concurrency: %d is not between 1 and 256", s.MaxConcurrency)
	}
	if *s.MaxRetries < 0 || *s.MaxRetries > 10 {
		add("scp.max_retries: %d is not between 0 and 10", *s.MaxRetries)
	}
	if s.RequestsPerSecond < 0 {
		add("scp.requests_per_second: must be positive")
	}
	if err := s.TLSConfig.Validate(); err != nil {
		add("scp.tls_config: %w", err)
	}

	d := &a.Discovery
	errs = append(errs, prefixErrs(prefix, validateVisibilities("discovery.visibility", d.Visibility))...)
	if d.NameRegex != "" {
		re, err := regexp.Compile("^(?:" + d.NameRegex + ")$")
		if err != nil {
			add("discovery.name_regex: %w", err)
		}
		d.nameRE = re
	}
	if d.RefreshInterval < Duration(10*time.Second) {
		add("discovery.refresh_interval: %s is shorter than 10s", d.RefreshInterval)
	}
	if m := a.Members.RefreshInterval; m < 0 || (m > 0 && m < Duration(time.Second)) {
		add("members.refresh_interval: %s is neither 0 (refresh while scrapes wait) nor at least 1s", m)
	}

	if !single {
		errs = append(errs, prefixErrs(prefix, validateMembers("expected_members", a.ExpectedMembers))...)
		errs = append(errs, prefixErrs(prefix, validateMembers("expected_image_owners", a.ExpectedImageOwners))...)
		errs = append(errs, prefixErrs(prefix, validateMaxMembers("max_members", a.MaxMembers))...)
	}
	if len(a.Images) == 0 && !d.Enabled {
		add("images: no images configured and discovery is not enabled")
	}
	seen := map[string]int{}
	for i, img := range a.Images {
		field := fmt.Sprintf("images[%d]", i)
		if err := scp.ValidateImageID(img.ID); err != nil {
			add("%s.id: %w", field, err)
		} else if j, dup := seen[strings.ToLower(img.ID)]; dup {
			add("%s.id: %s is listed again (first at images[%d])", field, img.ID, j)
		} else {
			seen[strings.ToLower(img.ID)] = i
		}
		if img.Name != "" && !printable(img.Name, 128) {
			add("%s.name: must be at most 128 printable characters", field)
		}
		errs = append(errs, prefixErrs(prefix, validateMembers(field+".expected_members", img.ExpectedMembers))...)
		errs = append(errs, prefixErrs(prefix, validateVisibilities(field+".allowed_visibility", img.AllowedVisibility))...)
		errs = append(errs, prefixErrs(prefix, validateMaxMembers(field+".max_members", img.MaxMembers))...)
	}
	return errs
}

// validEndpoint reports whether u is an absolute http or https URL without
// user info, query or fragment.
// validEndpoint is the client's own check, so --config.check accepts
// exactly what start-up does.
func validEndpoint(u string) bool { return scp.ValidateEndpoint(u) == nil }

func validateVisibilities(field string, list []string) []error {
	var errs []error
	for i, v := range list {
		if !slices.Contains(Visibilities, v) {
			errs = append(errs, fmt.Errorf("%s[%d]: %q is not one of %s", field, i, v, strings.Join(Visibilities, ", ")))
		}
	}
	return errs
}

func prefixErrs(prefix string, errs []error) []error {
	if prefix == "" {
		return errs
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s%w", prefix, err)
	}
	return errs
}

func validateMembers(field string, ids []string) []error {
	var errs []error
	for i, id := range ids {
		if err := scp.ValidateMemberID(id); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
		}
	}
	return errs
}

func validateMaxMembers(field string, n *int) []error {
	if n != nil && *n < 0 {
		return []error{fmt.Errorf("%s: %d is negative (0 or unset: no limit)", field, *n)}
	}
	return nil
}

// readLists resolves the paths of the list files against dir and, with
// read, reads each once: a file missing, unreadable or malformed is then a
// config error (so --config.check finds a typo). A running exporter leaves
// the files to its watchers (package trustlist), which keep the last good
// list.
func (c *Config) readLists(dir string, read bool) []error {
	c.lists = map[string][]string{}
	tried := map[string]error{}
	var errs []error
	do := func(field string, path *string) {
		if *path == "" {
			return
		}
		if !filepath.IsAbs(*path) {
			*path = filepath.Join(dir, *path)
		}
		if !read {
			return
		}
		err, done := tried[*path]
		if !done {
			var ids []string
			ids, err = trustlist.ReadFile(*path)
			tried[*path] = err
			if err == nil {
				c.lists[*path] = ids
			}
		}
		if err == nil {
			return
		}
		// One problem a line: each malformed line of the file is one.
		list := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			list = j.Unwrap()
		}
		for _, e := range list {
			errs = append(errs, fmt.Errorf("%s: %w", field, e))
		}
	}
	do("expected_members_file", &c.ExpectedMembersFile)
	do("expected_image_owners_file", &c.ExpectedImageOwnersFile)
	for i := range c.Accounts {
		if c.single {
			break
		}
		a := &c.Accounts[i]
		do(fmt.Sprintf("accounts[%d].expected_members_file", i), &a.ExpectedMembersFile)
		do(fmt.Sprintf("accounts[%d].expected_image_owners_file", i), &a.ExpectedImageOwnersFile)
	}
	return errs
}

func printable(s string, maxLen int) bool {
	n := 0
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
		n++
	}
	return n <= maxLen
}

func printableASCII(s string, maxLen int) bool {
	if len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ExpectedFor returns the set of accounts an image of account a may be
// shared with: the top-level list, the account's and the image's own, and
// the IDs of the expected_members_file files (top level and the account's)
// as Parse read them. ExpectedWith takes the files' current lists instead.
func (c *Config) ExpectedFor(a *Account, img Image) map[string]bool {
	return c.ExpectedWith(a, img, c.FileList)
}

// ExpectedWith is ExpectedFor with the IDs of each list file given by
// lists, called with the path as it is after Parse: e.g. a lookup of
// trustlist.Watcher.IDs by path, so an edited file counts without a reload.
func (c *Config) ExpectedWith(a *Account, img Image, lists func(path string) []string) map[string]bool {
	return setOf(c.ExpectedMembers, a.ExpectedMembers, img.ExpectedMembers,
		listOf(lists, c.ExpectedMembersFile), listOf(lists, a.ExpectedMembersFile))
}

// FileList returns the IDs Parse read from the list file at path (as it
// is after Parse), or nil for a path it did not read.
func (c *Config) FileList(path string) []string { return c.lists[path] }

// ListFiles returns the list files that apply to account a, as they are
// after Parse: its expected_members_file files (top level, then the
// account's) and its expected_image_owners_file files, without empty ones.
func (c *Config) ListFiles(a *Account) (members, owners []string) {
	for _, p := range []string{c.ExpectedMembersFile, a.ExpectedMembersFile} {
		if p != "" {
			members = append(members, p)
		}
	}
	for _, p := range []string{c.ExpectedImageOwnersFile, a.ExpectedImageOwnersFile} {
		if p != "" {
			owners = append(owners, p)
		}
	}
	return members, owners
}

func listOf(lists func(string) []string, path string) []string {
	if path == "" {
		return nil
	}
	return lists(path)
}

// MaxMembersFor returns how many accounts an image of account a may be
// shared with, 0 for no limit: the image's max_members, else the
// account's, else the top-level one. A discovered image (no entry of its
// own) is passed as Image{}.
func (c *Config) MaxMembersFor(a *Account, img Image) int {
	switch {
	case img.MaxMembers != nil:
		return *img.MaxMembers
	case a.MaxMembers != nil:
		return *a.MaxMembers
	}
	return c.MaxMembers
}

// DefaultAllowedVisibility is allowed_visibility when the config sets none.
var DefaultAllowedVisibility = []string{"private", "shared"}

// AllowedVisibilityFor returns the visibilities img may have: its own list,
// else the top-level one, else private and shared.
func (c *Config) AllowedVisibilityFor(img Image) map[string]bool {
	list := img.AllowedVisibility
	if list == nil {
		list = c.AllowedVisibility
	}
	if list == nil {
		list = DefaultAllowedVisibility
	}
	return setOf(list)
}

// ExpectedOwnersFor returns the accounts whose image offers to account a
// are expected: the top-level list and the account's, and the IDs of the
// expected_image_owners_file files (top level and the account's) as Parse
// read them. ExpectedOwnersWith takes the files' current lists instead.
func (c *Config) ExpectedOwnersFor(a *Account) map[string]bool {
	return c.ExpectedOwnersWith(a, c.FileList)
}

// ExpectedOwnersWith is ExpectedOwnersFor with the IDs of each list file
// given by lists (see ExpectedWith).
func (c *Config) ExpectedOwnersWith(a *Account, lists func(path string) []string) map[string]bool {
	return setOf(c.ExpectedImageOwners, a.ExpectedImageOwners,
		listOf(lists, c.ExpectedImageOwnersFile), listOf(lists, a.ExpectedImageOwnersFile))
}

// setOf returns the union of lists as a set.
func setOf(lists ...[]string) map[string]bool {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	set := make(map[string]bool, n)
	for _, l := range lists {
		for _, v := range l {
			set[v] = true
		}
	}
	return set
}
