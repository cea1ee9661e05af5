package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

func TestAccountsForm(t *testing.T) {
	cfg, err := config.Parse([]byte(`
expected_members: [aaaa]
accounts:
  - name: prod
    scp: {region: kr-west1, environment: e, access_key: ak1, secret_key: sk1, max_concurrency: 4}
    expected_members: [bbbb]
    images:
      - id: 70a599e0-31e7-49b7-b260-868f441e862b
        expected_members: [cccc]
  - name: staging-kr-east1
    scp: {region: kr-east1, environment: s, access_key: ak2, secret_key: sk2}
    discovery:
      enabled: true
      name_regex: golden-.*
`), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.MultiAccount() || len(cfg.Accounts) != 2 {
		t.Fatalf("MultiAccount %v with %d accounts", cfg.MultiAccount(), len(cfg.Accounts))
	}
	prod, staging := &cfg.Accounts[0], &cfg.Accounts[1]
	if prod.Name != "prod" || prod.SCP.MaxConcurrency != 4 || staging.SCP.MaxConcurrency != config.DefaultMaxConcurrency {
		t.Errorf("accounts %+v %+v", prod, staging)
	}
	if got := staging.SCP.BaseURL(); got != "https://virtualserver.kr-east1.s.samsungsdscloud.com" {
		t.Errorf("staging endpoint %s", got)
	}
	settings := cfg.Settings()
	exp := settings[0].Expected(prod.Images[0], cfg.FileList)
	if len(exp) != 3 || !exp["aaaa"] || !exp["bbbb"] || !exp["cccc"] {
		t.Errorf("expected members of the prod image: %v", exp)
	}
	if exp := settings[1].Expected(config.Image{}, cfg.FileList); len(exp) != 1 || !exp["aaaa"] {
		t.Errorf("expected members of a discovered staging image: %v", exp)
	}
	d := staging.Discovery
	if !d.Enabled || len(d.Visibility) != 2 || d.Visibility[0] != "private" || d.Visibility[1] != "shared" ||
		time.Duration(d.RefreshInterval) != config.DefaultRefreshInterval {
		t.Errorf("discovery defaults: %+v", d)
	}
	if !d.Matches("golden-ubuntu") || d.Matches("my-golden-ubuntu") || d.Matches("scratch") {
		t.Error("name_regex must match whole names")
	}
}

func TestSingleAccountFormIsOneUnnamedAccount(t *testing.T) {
	cfg, err := config.Parse([]byte(`
scp: {endpoint: "http://127.0.0.1:1", access_key: ak, secret_key: sk}
expected_members: [aaaa]
discovery: {enabled: true, visibility: [private]}
`), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MultiAccount() || len(cfg.Accounts) != 1 || cfg.Accounts[0].Name != "" {
		t.Fatalf("single form: multi %v, accounts %+v", cfg.MultiAccount(), cfg.Accounts)
	}
	a := &cfg.Accounts[0]
	if !a.Discovery.Enabled || len(a.Discovery.Visibility) != 1 || a.SCP.APIVersion != "1.3" {
		t.Errorf("account %+v", a)
	}
	if exp := cfg.Settings()[0].Expected(config.Image{}, cfg.FileList); !exp["aaaa"] {
		t.Errorf("top-level expected members lost: %v", exp)
	}
}

func TestAccountsFormErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"mixed forms", `
scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
images: [{id: 70a599e0-31e7-49b7-b260-868f441e862b}]
accounts:
  - {name: a, scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, images: [{id: 70a599e0-31e7-49b7-b260-868f441e862b}]}
`, []string{"accounts: with accounts, move the top-level scp, images into each account"}},
		{"names", `
accounts:
  - {name: prod, scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, discovery: {enabled: true}}
  - {name: prod, scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, discovery: {enabled: true}}
  - {name: "bad name", scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, discovery: {enabled: true}}
  - {scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, discovery: {enabled: true}}
`, []string{
			`accounts[1].name: "prod" is used again (first at accounts[0])`,
			`accounts[2].name: "bad name" must match`,
			`accounts[3].name: "" must match`,
		}},
		{"per-account problems are prefixed", `
accounts:
  - name: a
    scp: {region: kr-south1, environment: e, access_key: a, secret_key: s}
    expected_members: ["no good"]
    images: [{id: nope}]
  - name: b
    scp: {region: kr-west1, environment: e, secret_key: s}
    discovery: {enabled: true, visibility: [private, secret], name_regex: "(", refresh_interval: 1s}
  - name: c
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
`, []string{
			`accounts[0].scp.region: "kr-south1" is not a region of environment "e"`,
			`accounts[0].expected_members[0]: invalid id`,
			`accounts[0].images[0].id: invalid id: image id "nope" is not a UUID`,
			`accounts[1].scp.access_key: missing`,
			`accounts[1].discovery.visibility[1]: "secret" is not one of public, community, shared, private`,
			`accounts[1].discovery.name_regex: "(" is not a regular expression (Go RE2 syntax): missing closing )`,
			`accounts[1].discovery.refresh_interval: 1s is shorter than 10s`,
			`accounts[2].images: no images configured and discovery is not enabled`,
		}},
		{"unknown key inside an account", `
accounts:
  - {name: a, scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}, imagez: []}
`, []string{"line 3: accounts[0].imagez: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), t.TempDir(), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// In the accounts form, list files add to the top-level ones, max_members
// and the audit block of an account replace the top-level ones.
func TestAccountsFormListFilesLimitsAudit(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"all.txt": "aaaa\n", "prod.txt": "bbbb # dr\n", "owners.txt": "oooo\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse([]byte(`
expected_members_file: all.txt
max_members: 5
audit: {enabled: true, poll_interval: 10s}
accounts:
  - name: prod
    scp: {region: kr-west1, environment: e, access_key: ak1, secret_key: sk1}
    expected_members_file: prod.txt
    expected_image_owners_file: owners.txt
    max_members: 2
    audit: {enabled: false}
    images:
      - id: 70a599e0-31e7-49b7-b260-868f441e862b
        max_members: 0
      - id: 11111111-2222-3333-4444-555555555555
  - name: staging
    scp: {endpoint: "https://vs.example", audit_endpoint: "https://audit.example/", access_key: ak2, secret_key: sk2}
    discovery: {enabled: true}
`), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod, staging := &cfg.Accounts[0], &cfg.Accounts[1]
	settings := cfg.Settings()
	prodS, stagingS := &settings[0], &settings[1]
	if got := prodS.Expected(prod.Images[0], cfg.FileList); len(got) != 2 || !got["aaaa"] || !got["bbbb"] {
		t.Errorf("prod expected members %v", got)
	}
	if got := stagingS.Expected(config.Image{}, cfg.FileList); len(got) != 1 || !got["aaaa"] {
		t.Errorf("staging expected members %v", got)
	}
	if got := prodS.ExpectedOwners(cfg.FileList); len(got) != 1 || !got["oooo"] {
		t.Errorf("prod expected owners %v", got)
	}
	if got := stagingS.ExpectedOwners(cfg.FileList); len(got) != 0 {
		t.Errorf("staging expected owners %v", got)
	}
	if m, o := prodS.ExpectedMembersFiles, prodS.ExpectedImageOwnersFiles; len(m) != 2 || m[0] != filepath.Join(dir, "all.txt") || m[1] != filepath.Join(dir, "prod.txt") ||
		len(o) != 1 || o[0] != filepath.Join(dir, "owners.txt") {
		t.Errorf("list files of prod: %q, %q", m, o)
	}
	for _, tc := range []struct {
		s    *config.Settings
		img  config.Image
		want int
	}{
		{prodS, prod.Images[0], 0}, // the image's own 0 lifts the account's limit
		{prodS, prod.Images[1], 2},
		{prodS, config.Image{}, 2},
		{stagingS, config.Image{}, 5},
	} {
		if got := tc.s.MaxMembersOf(tc.img); got != tc.want {
			t.Errorf("MaxMembersOf(%s, %q) = %d, want %d", tc.s.Name, tc.img.ID, got, tc.want)
		}
	}
	// prod's own block replaces the top-level one whole: its poll_interval
	// is the default, not the top-level 10s.
	if a := prod.Audit; a.Enabled || time.Duration(a.PollInterval) != config.DefaultAuditPollInterval {
		t.Errorf("prod audit %+v", a)
	}
	if a := staging.Audit; !a.Enabled || time.Duration(a.PollInterval) != 10*time.Second {
		t.Errorf("staging audit %+v", a)
	}
	if a, b := prod.Audit, staging.Audit; a == b || a == &cfg.Audit || b == &cfg.Audit {
		t.Error("accounts share an audit block")
	}
}

func TestAccountsFormListFilesLimitsAuditErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.txt"), []byte("aaaa\nb/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse([]byte(`
audit: {enabled: true, poll_interval: 3s}
accounts:
  - name: a
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
    discovery: {enabled: true}
    audit: {poll_interval: 1s}
    max_members: -1
  - name: b
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
    discovery: {enabled: true}
    expected_members_file: missing.txt
    expected_image_owners_file: bad.txt
  - name: c
    scp: {endpoint: "https://vs.example", access_key: a, secret_key: s}
    discovery: {enabled: true}
  - name: d
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
    discovery: {enabled: true}
    audit: true
`), dir, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"accounts[0].audit.poll_interval: 1s is shorter than 5s",
		"accounts[0].max_members: -1 is negative (0 or unset: no limit)",
		"accounts[1].expected_members_file: stat " + filepath.Join(dir, "missing.txt") + ": no such file or directory",
		"accounts[1].expected_image_owners_file: " + filepath.Join(dir, "bad.txt") + ` line 2: invalid id: member id "b/b"`,
		"accounts[2].scp.audit_endpoint: missing: audit is enabled and scp.endpoint is set",
		`line 20: accounts[3].audit: "true" is not a mapping of settings`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// The top-level block is one problem, however many accounts use it.
	if n := strings.Count(msg, "audit.poll_interval: 3s"); n != 1 || !slices.Contains(strings.Split(msg, "\n"), "line 2: audit.poll_interval: 3s is shorter than 5s") {
		t.Errorf("the top-level audit block reported %d times:\n%s", n, msg)
	}
}
