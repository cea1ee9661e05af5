package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Bounds of the intervals a file may set.
const (
	// minDiscoveryRefreshInterval keeps the listings, several paged calls
	// each, from crowding out the members calls.
	minDiscoveryRefreshInterval = 10 * time.Second
	// minMembersRefreshInterval: a shorter background interval is a typo
	// for on demand (0) rather than a wish.
	minMembersRefreshInterval = time.Second
)

// regions lists the regions of each environment (shared/scp-api.md).
var regions = map[string][]string{
	"s": {"kr-west1", "kr-east1"},
	"g": {"kr-south1", "kr-south2", "kr-south3"},
	"e": {"kr-west1", "kr-east1"},
}

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

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
	errs = append(errs, validateExpected("expected_members", c.ExpectedMembers)...)
	errs = append(errs, validateExpected("expected_image_owners", c.ExpectedImageOwners)...)
	errs = append(errs, c.checkNames()...)
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

// validate checks one account; prefix names it in messages. It also
// compiles discovery.name_regex.
func (a *Account) validate(prefix string, single bool) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+format, args...))
	}
	errs = append(errs, a.SCP.validate(prefix, a.Audit.Enabled)...)

	d := &a.Discovery
	errs = append(errs, prefixErrs(prefix, validateVisibilities("discovery.visibility", d.Visibility))...)
	if d.NameRegex != "" {
		re, err := compileNameRegex(d.NameRegex)
		if err != nil {
			add("discovery.name_regex: %w", err)
		}
		d.nameRE = re
	}
	if d.RefreshInterval < Duration(minDiscoveryRefreshInterval) {
		add("discovery.refresh_interval: %s is shorter than %s", d.RefreshInterval, Duration(minDiscoveryRefreshInterval))
	}
	if m := a.Members.RefreshInterval; m < 0 || (m > 0 && m < Duration(minMembersRefreshInterval)) {
		add("members.refresh_interval: %s is neither 0 (on demand) nor at least %s", m, Duration(minMembersRefreshInterval))
	}

	if !single {
		errs = append(errs, prefixErrs(prefix, validateExpected("expected_members", a.ExpectedMembers))...)
		errs = append(errs, prefixErrs(prefix, validateExpected("expected_image_owners", a.ExpectedImageOwners))...)
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
		errs = append(errs, prefixErrs(prefix, validateExpected(field+".expected_members", img.ExpectedMembers))...)
		errs = append(errs, prefixErrs(prefix, validateVisibilities(field+".allowed_visibility", img.AllowedVisibility))...)
		errs = append(errs, prefixErrs(prefix, validateMaxMembers(field+".max_members", img.MaxMembers))...)
	}
	return errs
}

// compileNameRegex compiles name_regex to match whole names. Its error
// speaks of the expression as written, not of the anchored one compiled.
func compileNameRegex(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		var se *syntax.Error
		if !errors.As(err, &se) {
			return nil, fmt.Errorf("%q is not a regular expression: %w", expr, err)
		}
		msg := fmt.Sprintf("%q is not a regular expression (Go RE2 syntax): %s", expr, se.Code)
		if se.Expr != "" && se.Expr != expr {
			msg += fmt.Sprintf(" in %q", se.Expr)
		}
		return nil, errors.New(msg)
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("%q cannot be matched against whole names: %w", expr, err)
	}
	return re, nil
}

// validate checks an account's scp block; audit says whether the account
// follows its audit trail, which needs the audit service's URL.
func (s *SCP) validate(prefix string, audit bool) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+format, args...))
	}
	if s.Endpoint != "" {
		if !validEndpoint(s.Endpoint) {
			add("scp.endpoint: %q is not an absolute http or https URL without user info, query or fragment", s.Endpoint)
		}
		if s.IAMEndpoint != "" {
			add("scp.iam_endpoint: has no effect with scp.endpoint, which is used as is; remove one")
		}
		if audit && s.AuditEndpoint == "" {
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
		add("scp.secret_key: missing (set it, secret_key_file, or the environment variable %s or %s)", EnvSecretKey, EnvSecretKeyFile)
	}
	if s.AccountID != "" && !printableASCII(s.AccountID, 64) {
		add("scp.account_id: must be at most 64 printable ASCII characters")
	}
	if _, err := scp.LookupAPIVersion(s.APIVersion); err != nil && s.APIVersion != scp.APIVersionLatest {
		add("scp.api_version: %w, or %s", err, scp.APIVersionLatest)
	}
	if _, err := scp.LookupAuditAPIVersion(s.AuditAPIVersion); err != nil && s.AuditAPIVersion != scp.APIVersionLatest {
		add("scp.audit_api_version: %w", err)
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
	return errs
}

func (au *Audit) validate() []error {
	var errs []error
	if au.PollInterval < Duration(MinAuditPollInterval) {
		errs = append(errs, fmt.Errorf("audit.poll_interval: %s is shorter than %s", au.PollInterval, Duration(MinAuditPollInterval)))
	}
	for field, v := range map[string]string{"service_type": au.Filter.ServiceType, "resource_type": au.Filter.ResourceType} {
		if len(v) > 64 || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
			errs = append(errs, fmt.Errorf("audit.filter.%s: %q is not a filter value (at most 64 printable characters, no spaces)", field, v))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// validEndpoint reports whether u is an absolute http or https URL without
// user info, query or fragment. It is the client's own check, so
// --config.check accepts exactly what start-up does.
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

func validateMaxMembers(field string, n *int) []error {
	if n != nil && *n < 0 {
		return []error{fmt.Errorf("%s: %d is negative (0 or unset: no limit)", field, *n)}
	}
	return nil
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
