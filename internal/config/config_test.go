package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
)

const (
	fileSecret = "fK7q2-Zm9xLw-123"
	diskSecret = "dK4-fRom-d1sk-Qx"
	envSecret  = "eN5-vXr-Qp-456"
	envAccess  = "AKenv"
	testImage  = "70a599e0-31e7-49b7-b260-868f441e862b"
)

func noEnv(string) string { return "" }

func envWith(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Each invalid file yields exactly these problems.
func TestInvalidConfigs(t *testing.T) {
	const memberRE = "must match ^[A-Za-z0-9-]{1,64}$"
	tests := map[string][]string{
		"invalid-unknown-key.yml": {"line 4: scp.acess_key: unknown field",
			"scp.access_key: missing (set it, or the environment variable SCP_ACCESS_KEY)"},
		"invalid-unknown-top-key.yml": {"line 8: scrape_interval: unknown field"},
		"invalid-type.yml":            {`line 6: scp.request_timeout: "soon" is not a duration (use e.g. 500ms, 30s, 10m, 1h)`},
		// Type errors and unknown keys do not stop the check: every problem
		// of the file is reported, each with its line and field.
		"invalid-types-many.yml": {
			`line 6: scp.max_retries: "three" is not a whole number`,
			"line 7: scp.requests_per_second: a list is not a number",
			"line 9: scp.proxy_urll: unknown field",
			`line 12: images[0].expected_members: "a8f10467abfc4b87b64614ab36eb9ae4" is not a list`,
			`line 13: images[1]: "nope" is not a mapping of settings`,
			`line 15: discovery.enabled: "maybe" is not true or false`,
			`line 16: scrape_timeout: "soon" is not a duration (use e.g. 500ms, 30s, 10m, 1h)`,
			`line 8: scp.language: "ja-JP" is not en-US or ko-KR`,
		},
		// Both forms of an entry, every problem of the mapping form, and an
		// ID named differently in two lists of one account.
		"invalid-member-names.yml": {
			"line 3: expected_members[1]: missing id (an entry is an account ID, or a mapping of id and name)",
			"line 4: expected_members[2].label: unknown field (an entry has id and name)",
			`line 5: expected_members[3].id: invalid id: member id "not/an/account" must match ^[A-Za-z0-9-]{1,64}$`,
			"line 7: expected_members[4].name: the name is empty",
			"line 8: expected_members[5]: must be an account ID, or a mapping of id and name",
			"line 9: expected_members[6].name: must be text",
			"line 11: expected_image_owners[0].name: the name holds a control or other non-printable character",
			"line 12: expected_image_owners[1].name: the name begins or ends with white space",
			`line 13: expected_image_owners[2].name: the name holds "#", which starts a comment in a list file`,
			`line 14: expected_image_owners[3].name: the name holds a double quote ("), at which the dashboard would cut it short`,
			"line 26: accounts[0].images[0].expected_members[0].name: account a8f10467abfc4b87b64614ab36eb9ae4 is named differently at expected_members[0]: give it one name",
			"line 29: accounts[0].images[0].expected_members[3].name: the name is longer than 128 bytes",
			"line 35: accounts[1].expected_members[0].name: contains a piece of a secret key (6 or more of its characters in a row); /metrics would show it as the member_name label of scp_expected_member_info: choose another value",
		},
		"invalid-environment.yml": {`line 3: scp.environment: "x" is not one of s, g, e`},
		"invalid-region.yml":      {`line 2: scp.region: "kr-south1" is not a region of environment "e" (known: kr-west1, kr-east1)`},
		"invalid-no-location.yml": {"line 1: scp: set endpoint, or region and environment"},
		"invalid-endpoint.yml": {
			`line 2: scp.endpoint: "virtualserver.example.com" is not an absolute http or https URL without user info, query or fragment`},
		"invalid-iam-endpoint.yml": {
			`line 4: scp.iam_endpoint: "https://iam.example.com/?x=1" is not an absolute http or https URL without user info, query or fragment`},
		"invalid-iam-with-endpoint.yml": {"line 3: scp.iam_endpoint: has no effect with scp.endpoint, which is used as is; remove one"},
		"invalid-endpoint-fragment.yml": {
			`line 2: scp.endpoint: "https://virtualserver.example.com/#x" is not an absolute http or https URL without user info, query or fragment`},
		"invalid-missing-access-key.yml": {"scp.access_key: missing (set it, or the environment variable SCP_ACCESS_KEY)"},
		"invalid-missing-secret.yml":     {"scp.secret_key: missing (set it, secret_key_file, or the environment variable SCP_SECRET_KEY or SCP_SECRET_KEY_FILE)"},
		"invalid-both-secrets.yml":       {"line 1: scp: set secret_key or secret_key_file, not both"},
		"invalid-secret-file-unreadable.yml": {
			"line 5: scp.secret_key_file: open " + filepath.Join("testdata", "does-not-exist.txt") + ": no such file or directory"},
		"invalid-secret-file-empty.yml":        {"line 5: scp.secret_key_file: " + filepath.Join("testdata", "empty-secret.txt") + " is empty"},
		"invalid-api-version.yml":              {`line 6: scp.api_version: unknown api_version "2.0" (known: 1.0, 1.1, 1.2, 1.3), or latest`},
		"invalid-language.yml":                 {`line 6: scp.language: "ja-JP" is not en-US or ko-KR`},
		"invalid-max-concurrency.yml":          {"line 6: scp.max_concurrency: 1000 is not between 1 and 256"},
		"invalid-max-concurrency-negative.yml": {"line 6: scp.max_concurrency: -1 is not between 1 and 256"},
		"invalid-max-retries.yml":              {"line 6: scp.max_retries: 11 is not between 0 and 10"},
		"invalid-image-id.yml":                 {`line 7: images[0].id: invalid id: image id "../../v1/x" is not a UUID`},
		"invalid-duplicate-image.yml": {
			"line 9: images[2].id: 70A599E0-31E7-49B7-B260-868F441E862B is listed again (first at images[0])"},
		"invalid-expected-member.yml": {
			`line 8: expected_members[1]: invalid id: member id "not/an/account" ` + memberRE,
			`line 11: images[0].expected_members[1]: invalid id: member id "bad account" ` + memberRE},
		"invalid-no-images.yml": {"line 6: images: no images configured and discovery is not enabled"},
		// A list file missing at load is an error (a typo is found by
		// --config.check); each malformed line is one problem naming the
		// file and the line.
		"invalid-list-files.yml": {
			"line 6: expected_members_file: stat " + filepath.Join("testdata", "no-such-list.txt") + ": no such file or directory",
			"line 7: expected_image_owners_file: " + filepath.Join("testdata", "malformed-list.txt") + ` line 3: invalid id: member id "acct:partner" ` + memberRE,
			"line 7: expected_image_owners_file: " + filepath.Join("testdata", "malformed-list.txt") + ` line 5: invalid id: member id "../etc/passwd" ` + memberRE},
		"invalid-max-members.yml": {
			`line 11: images[1].max_members: "many" is not a whole number`,
			"line 6: max_members: -1 is negative (0 or unset: no limit)",
			"line 9: images[0].max_members: -2 is negative (0 or unset: no limit)"},
		"invalid-audit.yml": {
			`line 4: scp.audit_endpoint: "loggingaudit.example.com" is not an absolute http or https URL without user info, query or fragment`,
			"line 9: audit.poll_interval: 2s is shorter than 5s",
			`line 11: audit.filter.service_type: "scp virtualserver" is not a filter value (at most 64 printable characters, no spaces)`},
		"invalid-audit-with-endpoint.yml": {
			"scp.audit_endpoint: missing: audit is enabled and scp.endpoint is set, so IAM's endpoint catalog, which names the audit service, is not read"},
		"invalid-members.yml": {
			"line 9: members.refresh_interval: 500ms is neither 0 (on demand) nor at least 1s",
			"line 10: min_refresh_interval: no longer supported: members are kept by a refresh engine and each scrape serves the last known state; for refresh in the background, set members.refresh_interval",
		},
		"invalid-discovery.yml": {
			`line 8: discovery.visibility[1]: "secret" is not one of public, community, shared, private`,
			`line 9: discovery.name_regex: "golden-(" is not a regular expression (Go RE2 syntax): missing closing )`,
			"line 10: discovery.refresh_interval: 5s is shorter than 10s"},
		// The expression as written, not the anchored one compiled.
		"invalid-name-regex.yml": {
			`line 6: accounts[0].discovery.name_regex: "golden)" is not a regular expression (Go RE2 syntax): unexpected )`,
			`line 9: accounts[1].discovery.name_regex: "x\\8" is not a regular expression (Go RE2 syntax): invalid escape sequence in "\\8"`},
		"invalid-accounts-mixed.yml": {"line 6: accounts: with accounts, move the top-level scp, images into each account"},
		// Problems of each account are named by its index.
		"invalid-accounts.yml": {
			`line 10: accounts[1].name: "prod" is used again (first at accounts[0])`,
			`line 15: accounts[1].expected_members[0]: invalid id: member id "not an account" ` + memberRE,
			`line 18: accounts[2].name: "dev team" must match ^[A-Za-z0-9_.-]{1,64}$`,
			"accounts[2].scp.secret_key: missing (set it, secret_key_file, or the environment variable SCP_SECRET_KEY or SCP_SECRET_KEY_FILE)",
			"line 23: accounts[2].images: no images configured and discovery is not enabled"},
		// Several problems are all reported at once.
		"invalid-many.yml": {
			`line 2: scp.region: "kr-south1" is not a region of environment "e" (known: kr-west1, kr-east1)`,
			"scp.access_key: missing (set it, or the environment variable SCP_ACCESS_KEY)",
			"scp.secret_key: missing (set it, secret_key_file, or the environment variable SCP_SECRET_KEY or SCP_SECRET_KEY_FILE)",
			`line 5: scp.api_version: unknown api_version "0.9" (known: 1.0, 1.1, 1.2, 1.3), or latest`,
			`line 4: scp.language: "fr-FR" is not en-US or ko-KR`,
			"line 6: scp.max_concurrency: 300 is not between 1 and 256",
			"line 7: scp.max_retries: -1 is not between 0 and 10",
			`line 8: expected_members[0]: invalid id: member id "x y" ` + memberRE,
			`line 10: images[0].id: invalid id: image id "nope" is not a UUID`,
		},
	}
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d invalid-*.yml files, %d table entries: every file needs its expected errors", len(files), len(tests))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("no expected errors for %s", name)
			}
			cfg, err := config.Load(path, noEnv)
			if err == nil {
				t.Fatal("the config was accepted")
			}
			if cfg != nil {
				t.Errorf("a config was returned with the error")
			}
			prefix := "config " + path + ": "
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) {
				t.Fatalf("error %q does not name the file", msg)
			}
			// Every problem, each exactly once; their order is not part of the contract.
			got := strings.Split(strings.TrimPrefix(msg, prefix), "\n")
			want = slices.Clone(want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, secret := range []string{fileSecret, diskSecret, "prod-secret-key"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows the secret key: %s", msg)
				}
			}
		})
	}
}

func TestUnreadableSecretFileWraps(t *testing.T) {
	_, err := config.Load("testdata/invalid-secret-file-unreadable.yml", noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
	}
	_, err = config.Load("testdata/no-such-config.yml", noEnv)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "reading config: ") {
		t.Fatalf("missing config file: %v", err)
	}
}

func TestGoodConfigs(t *testing.T) {
	env := envWith(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKey: envSecret})
	type want struct {
		baseURL, access, secret string
	}
	tests := []struct {
		file   string
		getenv func(string) string
		want   want
		check  func(t *testing.T, c *config.Config)
	}{
		{file: "good-minimal.yml", getenv: env,
			// Keys in the file win over the environment.
			want: want{"https://virtualserver.kr-west1.e.samsungsdscloud.com", "AKfile", fileSecret},
			check: func(t *testing.T, c *config.Config) {
				s := c.SCP
				if s.IAMBaseURL() != "https://iam.e.samsungsdscloud.com" {
					t.Errorf("IAMBaseURL = %q", s.IAMBaseURL())
				}
				if s.APIVersion != "1.3" || s.Language != "en-US" || time.Duration(s.RequestTimeout) != 10*time.Second ||
					s.MaxConcurrency != 8 || s.MaxRetries == nil || *s.MaxRetries != 2 || s.RequestsPerSecond != 200 ||
					time.Duration(c.ScrapeTimeout) != 30*time.Second || c.Accounts[0].Members.RefreshInterval != 0 || s.AccountID != "" {
					t.Errorf("defaults not applied: %+v scrape_timeout %v", s, c.ScrapeTimeout)
				}
				if len(c.Images) != 1 || c.Images[0].ID != testImage {
					t.Errorf("images %+v", c.Images)
				}
			}},
		{file: "good-env-keys.yml", getenv: env,
			want: want{"https://virtualserver.kr-south2.g.samsungsdscloud.com", envAccess, envSecret}},
		{file: "good-secret-file.yml", getenv: env,
			// secret_key_file wins over the environment; its newline is trimmed.
			want: want{"https://virtualserver.kr-east1.s.samsungsdscloud.com", "AKfile", diskSecret}},
		{file: "good-iam.yml", getenv: noEnv,
			want: want{"https://virtualserver.kr-east1.s.samsungsdscloud.com", "AKfile", fileSecret},
			check: func(t *testing.T, c *config.Config) {
				if s := c.SCP; s.IAMBaseURL() != "https://iam.private.example:8443" || s.APIVersion != "latest" {
					t.Errorf("iam %q, api_version %q", s.IAMBaseURL(), s.APIVersion)
				}
			}},
		{file: "good-endpoint.yml", getenv: noEnv,
			want: want{"https://scp-proxy.internal.example:8443/virtualserver", "AKfile", fileSecret}},
		{file: "good-full.yml", getenv: noEnv,
			want: want{"https://virtualserver.kr-west1.s.samsungsdscloud.com", "AKfile", fileSecret},
			check: func(t *testing.T, c *config.Config) {
				s := c.SCP
				if s.AccountID != "acct-0001" || s.APIVersion != "1.2" || s.Language != "ko-KR" ||
					time.Duration(s.RequestTimeout) != 3*time.Second || s.MaxConcurrency != 256 ||
					*s.MaxRetries != 0 || s.RequestsPerSecond != 5.5 ||
					time.Duration(c.ScrapeTimeout) != 20*time.Second || time.Duration(c.Accounts[0].Members.RefreshInterval) != 2*time.Minute {
					t.Errorf("explicit values not kept: %+v", s)
				}
				if len(c.Images) != 2 || c.Images[0].Name != "ubuntu-golden" {
					t.Fatalf("images %+v", c.Images)
				}
				settings := c.Settings()[0]
				exp := settings.Expected(c.Images[0], c.FileList)
				if len(exp) != 2 || !exp["a8f10467abfc4b87b64614ab36eb9ae4"] || !exp["acct-partner"] {
					t.Errorf("Expected(image 0) = %v", exp)
				}
				if exp := settings.Expected(c.Images[1], c.FileList); len(exp) != 1 || !exp["a8f10467abfc4b87b64614ab36eb9ae4"] {
					t.Errorf("Expected(image 1) = %v", exp)
				}
			}},
		{file: "good-trust-files.yml", getenv: noEnv,
			want:  want{"https://scp-proxy.internal.example:8443/virtualserver", "AKfile", fileSecret},
			check: checkTrustFiles},
		{file: "good-discovery.yml", getenv: noEnv,
			want: want{"https://virtualserver.kr-west1.e.samsungsdscloud.com", "AKfile", fileSecret},
			check: func(t *testing.T, c *config.Config) {
				if c.MultiAccount() || len(c.Accounts) != 1 {
					t.Fatalf("single form: MultiAccount %v, %d accounts", c.MultiAccount(), len(c.Accounts))
				}
				d := c.Accounts[0].Discovery
				if !d.Enabled || !slices.Equal(d.Visibility, []string{"private", "shared"}) || time.Duration(d.RefreshInterval) != 10*time.Minute {
					t.Errorf("discovery defaults not applied: %+v", d)
				}
				if a := c.Accounts[0].Audit; a == nil || a.Enabled || time.Duration(a.PollInterval) != 30*time.Second {
					t.Errorf("audit defaults not applied: %+v", a)
				}
				s := c.Settings()[0]
				if got := s.MaxMembersOf(config.Image{}); got != 0 {
					t.Errorf("max_members default %d, want 0 (no limit)", got)
				}
				// name_regex matches the whole name.
				for name, want := range map[string]bool{"golden-ubuntu": true, "old-golden-ubuntu": false, "golden": false} {
					if got := d.Matches(name); got != want {
						t.Errorf("Matches(%q) = %v, want %v", name, got, want)
					}
				}
			}},
	}
	files, _ := filepath.Glob("testdata/good-*.yml")
	if len(files) != len(tests)+1 { // +1: good-accounts.yml has its own test
		t.Errorf("%d good-*.yml files, %d table entries", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, err := config.Load(filepath.Join("testdata", tc.file), tc.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.SCP.BaseURL(); got != tc.want.baseURL {
				t.Errorf("BaseURL = %q, want %q", got, tc.want.baseURL)
			}
			if c.SCP.AccessKey != tc.want.access || string(c.SCP.SecretKey) != tc.want.secret {
				t.Errorf("keys (%q, %q), want (%q, %q)", c.SCP.AccessKey, c.SCP.SecretKey, tc.want.access, tc.want.secret)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// checkTrustFiles checks good-trust-files.yml: list files read relative to
// the config, max_members resolved per image, audit with its own endpoint.
func checkTrustFiles(t *testing.T, c *config.Config) {
	a := &c.Accounts[0]
	s := c.Settings()[0]
	members, owners := filepath.Join("testdata", "trusted-members.txt"), filepath.Join("testdata", "trusted-owners.txt")
	if c.ExpectedMembersFile != members || c.ExpectedImageOwnersFile != owners {
		t.Errorf("list files %q, %q: want them relative to the config's directory", c.ExpectedMembersFile, c.ExpectedImageOwnersFile)
	}
	if m, o := s.ExpectedMembersFiles, s.ExpectedImageOwnersFiles; !slices.Equal(m, []string{members}) || !slices.Equal(o, []string{owners}) {
		t.Errorf("list files %q, %q", m, o)
	}
	if got := c.FileList(members).IDs; !slices.Equal(got, []string{"acct-dr-site", "ffee0011223344556677889900aabbcc"}) {
		t.Errorf("FileList(members) = %q", got)
	}
	// Inline lists and the file's, merged.
	if got := keys(s.Expected(c.Images[1], c.FileList)); !slices.Equal(got, []string{"a8f10467abfc4b87b64614ab36eb9ae4", "acct-dr-site", "acct-partner", "ffee0011223344556677889900aabbcc"}) {
		t.Errorf("Expected(image 1) = %q", got)
	}
	if got := keys(s.ExpectedOwners(c.FileList)); !slices.Equal(got, []string{"0123456789abcdef0123456789abcdef"}) {
		t.Errorf("ExpectedOwners = %q", got)
	}
	// With the files' current lists, as a watcher gives them.
	now := func(p string) trustlist.List {
		if p == members {
			return trustlist.List{IDs: []string{"acct-new"}}
		}
		return trustlist.List{}
	}
	if got := keys(s.Expected(config.Image{}, now)); !slices.Equal(got, []string{"a8f10467abfc4b87b64614ab36eb9ae4", "acct-new"}) {
		t.Errorf("Expected with the current lists = %q", got)
	}
	if got := keys(s.ExpectedOwners(now)); len(got) != 0 {
		t.Errorf("ExpectedOwners with the current lists = %q", got)
	}
	// The image's max_members, even 0, replaces the top-level one.
	for i, want := range []int{0, 10, 3} {
		if got := s.MaxMembersOf(c.Images[i]); got != want {
			t.Errorf("MaxMembersOf(image %d) = %d, want %d", i, got, want)
		}
	}
	if got := s.MaxMembersOf(config.Image{}); got != 3 {
		t.Errorf("MaxMembersOf(a discovered image) = %d, want 3", got)
	}
	if au := a.Audit; !au.Enabled || time.Duration(au.PollInterval) != config.DefaultAuditPollInterval || a.SCP.AuditEndpoint != "https://loggingaudit.internal.example:8443" {
		t.Errorf("audit %+v, endpoint %q", au, a.SCP.AuditEndpoint)
	}
}

func keys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k, v := range set {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestGoodAccounts(t *testing.T) {
	c, err := config.Load("testdata/good-accounts.yml", envWith(map[string]string{config.EnvSecretKey: envSecret}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.MultiAccount() || len(c.Accounts) != 2 {
		t.Fatalf("MultiAccount %v, %d accounts", c.MultiAccount(), len(c.Accounts))
	}
	prod, dev := &c.Accounts[0], &c.Accounts[1]
	if prod.Name != "prod" || dev.Name != "dev.kr-south1" {
		t.Errorf("names %q, %q", prod.Name, dev.Name)
	}
	if got := prod.SCP.BaseURL(); got != "https://virtualserver.kr-west1.e.samsungsdscloud.com" {
		t.Errorf("prod BaseURL %s", got)
	}
	if got := dev.SCP.BaseURL(); got != "https://virtualserver.kr-south1.g.samsungsdscloud.com" {
		t.Errorf("dev BaseURL %s", got)
	}
	// Each account has its own keys; secret_key_file is read per account.
	if prod.SCP.AccessKey != "AKprod" || string(prod.SCP.SecretKey) != "pR0d-k9Vq-Wx-1" ||
		dev.SCP.AccessKey != "AKdev" || string(dev.SCP.SecretKey) != diskSecret {
		t.Errorf("keys: prod (%s, %s), dev (%s, %s)", prod.SCP.AccessKey, prod.SCP.SecretKey, dev.SCP.AccessKey, dev.SCP.SecretKey)
	}
	// Defaults are applied per account; explicit values are kept.
	if prod.SCP.APIVersion != "1.3" || dev.SCP.APIVersion != "1.2" || *prod.SCP.MaxRetries != 2 || dev.SCP.MaxConcurrency != 8 {
		t.Errorf("per-account defaults: prod %+v, dev %+v", prod.SCP, dev.SCP)
	}
	if prod.Discovery.Enabled || !dev.Discovery.Enabled || !slices.Equal(dev.Discovery.Visibility, []string{"shared"}) ||
		time.Duration(dev.Discovery.RefreshInterval) != time.Hour {
		t.Errorf("discovery: prod %+v, dev %+v", prod.Discovery, dev.Discovery)
	}
	// members: the top-level block for every account, unless it has its own.
	if time.Duration(prod.Members.RefreshInterval) != 5*time.Minute || dev.Members.RefreshInterval != 0 {
		t.Errorf("members.refresh_interval: prod %v, dev %v; want 5m (top level) and 0s (its own)", prod.Members.RefreshInterval, dev.Members.RefreshInterval)
	}
	// Expected members: the top-level list, the account's and the image's.
	settings := c.Settings()
	got := settings[0].Expected(prod.Images[0], c.FileList)
	want := []string{"a8f10467abfc4b87b64614ab36eb9ae4", "acct-partner", "acct-prod-dr"}
	if len(got) != len(want) {
		t.Errorf("Expected(prod image) = %v, want %v", got, want)
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("Expected(prod image) lacks %s", id)
		}
	}
	if got := settings[1].Expected(config.Image{ID: testImage}, c.FileList); len(got) != 1 || !got["a8f10467abfc4b87b64614ab36eb9ae4"] {
		t.Errorf("Expected(dev image) = %v", got)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"pR0d-k9Vq-Wx-1", diskSecret} {
		if strings.Contains(string(out), secret) {
			t.Errorf("marshalled config shows %s:\n%s", secret, out)
		}
	}
}

// secret_key_file is read from the config's own directory, not the working
// directory, and only line endings are trimmed.
func TestSecretKeyFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "scp:\n  region: kr-west1\n  environment: e\n  access_key: AK\n  secret_key_file: %s\nimages:\n  - id: " + testImage + "\n"
	tests := []struct {
		name, file, content, want string
	}{
		{"newline", "s1", "abc\n", "abc"},
		{"crlf", "s2", "abc\r\n", "abc"},
		{"several newlines", "s3", "abc\n\n", "abc"},
		{"inner spaces kept", "s4", " a b \n", " a b "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.file, tc.content)
			write("config.yml", strings.Replace(base, "%s", tc.file, 1))
			c, err := config.Load(filepath.Join(dir, "config.yml"), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.SCP.SecretKey) != tc.want {
				t.Errorf("secret %q, want %q", c.SCP.SecretKey, tc.want)
			}
		})
	}
	// An absolute path is used as is.
	write("abs", "absolute-secret\n")
	data := strings.Replace(base, "%s", filepath.Join(dir, "abs"), 1)
	c, err := config.Parse([]byte(data), "/nonexistent", noEnv)
	if err != nil || string(c.SCP.SecretKey) != "absolute-secret" {
		t.Fatalf("absolute secret_key_file: %v", err)
	}
}

// List files are read from the config's own directory, not the working
// directory; an absolute path is used as is.
func TestListFilesRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("members.txt", "aaaa\n")
	abs := write("owners.txt", "bbbb\n")
	cfg := write("config.yml", "scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk}\n"+
		"expected_members_file: members.txt\nexpected_image_owners_file: "+abs+"\nimages: [{id: "+testImage+"}]\n")
	c, err := config.Load(cfg, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpectedMembersFile != filepath.Join(dir, "members.txt") || c.ExpectedImageOwnersFile != abs {
		t.Errorf("paths %q, %q", c.ExpectedMembersFile, c.ExpectedImageOwnersFile)
	}
	s := c.Settings()[0]
	if members, owners := s.Expected(config.Image{}, c.FileList), s.ExpectedOwners(c.FileList); !members["aaaa"] || !owners["bbbb"] {
		t.Errorf("lists not read: members %v, owners %v", members, owners)
	}
	// Parse takes relative paths from its dir argument.
	if _, err := config.Parse([]byte("scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk}\n"+
		"expected_members_file: members.txt\nimages: [{id: "+testImage+"}]\n"), t.TempDir(), noEnv); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a path relative to another directory: %v", err)
	}
}

func TestEmptyDocument(t *testing.T) {
	_, err := config.Parse(nil, ".", nil)
	if err == nil {
		t.Fatal("an empty config was accepted")
	}
	for _, want := range []string{"scp: set endpoint, or region and environment", "scp.access_key: missing", "images: no images configured and discovery is not enabled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// The parsed config marshals back with the secret key hidden, wherever it
// came from.
func TestMarshalHidesSecret(t *testing.T) {
	env := envWith(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKey: envSecret})
	for _, tc := range []struct{ file, secret string }{
		{"good-minimal.yml", fileSecret},
		{"good-env-keys.yml", envSecret},
		{"good-secret-file.yml", diskSecret},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := config.Load(filepath.Join("testdata", tc.file), env)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.SCP.SecretKey) != tc.secret {
				t.Fatalf("secret %q, want %q", c.SCP.SecretKey, tc.secret)
			}
			out, err := yaml.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), tc.secret) {
				t.Fatalf("marshalled config shows the secret:\n%s", out)
			}
			if !strings.Contains(string(out), "secret_key: <secret>") {
				t.Fatalf("marshalled config has no secret_key: <secret>:\n%s", out)
			}
		})
	}
}

// A secret pasted where YAML cannot decode it must not come back in the
// decoding error.
func TestDecodeErrorHidesSecret(t *testing.T) {
	const secret = "TOPSECRET-Zx81"
	env := envWith(map[string]string{config.EnvSecretKey: secret})
	for _, doc := range []string{
		"scp:\n  secret_key: !!int " + secret + "\n",
		"scp:\n  secret_key: !!float " + secret + "\n",
		"scp:\n  secret_key: !!timestamp " + secret + "\n",
		"scp:\n  secret_key: !!bool " + secret + "\n",
		"scp:\n  access_key: !!int " + secret + "\n", // the environment's secret
	} {
		_, err := config.Parse([]byte(doc), ".", env)
		if err == nil {
			t.Fatalf("%q was accepted", doc)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: error shows the secret: %v", doc, err)
		}
	}
}

// A running exporter loads a config whose list file is missing or
// malformed, leaving the files to its watchers; --config.check (Load)
// refuses it.
func TestLoadSkippingListsLeavesTheFilesToTheWatchers(t *testing.T) {
	path := filepath.Join("testdata", "invalid-list-files.yml")
	if _, err := config.Load(path, noEnv); err == nil {
		t.Fatal("Load accepted a missing and a malformed list file")
	}
	cfg, err := config.LoadSkippingLists(path, noEnv)
	if err != nil {
		t.Fatalf("LoadSkippingLists: %v", err)
	}
	if want := filepath.Join("testdata", "no-such-list.txt"); cfg.ExpectedMembersFile != want || cfg.FileList(want).IDs != nil {
		t.Errorf("expected_members_file %q (read %q), want %q resolved and not read", cfg.ExpectedMembersFile, cfg.FileList(want).IDs, want)
	}
}

// Redact hides the config's secrets in messages about the files it names.
func TestRedactHidesTheConfigsSecrets(t *testing.T) {
	cfg, err := config.Parse([]byte("scp:\n  region: kr-west1\n  environment: e\n  proxy_url: http://user:pr0xyPassw0rd@proxy.example:3128\n  access_key: AK\n  secret_key: SuperSecretValue99\nimages: [{id: "+testImage+"}]\n"), t.TempDir(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	msg := cfg.Redact(`trusted.txt line 2: member id "SuperSecretValue99" and "xpr0xyPassw0rd"`)
	if strings.Contains(msg, "SecretVal") || strings.Contains(msg, "Passw0rd") || !strings.Contains(msg, "<secret>") {
		t.Errorf("Redact left a secret: %s", msg)
	}
}
