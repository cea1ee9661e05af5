package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// loadDoc writes doc as config.yml into a new directory with files (name:
// content) beside it, and loads it with Load.
func loadDoc(t *testing.T, doc string, files map[string]string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	files["config.yml"] = doc
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(dir, "config.yml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// settingsView is what TestSettings checks of one Settings: what the top
// level folds into the account, and the rules applied to one image of it
// and to a discovered one.
type settingsView struct {
	Name                                             string
	ExpectedMembers, ExpectedImageOwners             []string
	ExpectedMembersFiles, ExpectedImageOwnersFiles   []string // relative to the config's directory
	MaxMembers                                       int
	AllowedVisibility                                []string
	Members                                          config.Members
	Audit                                            config.Audit
	Expected, ExpectedOwners, DiscoveredExpected     []string // the sets, sorted
	MaxMembersOf, DiscoveredMaxMembers               int
	AllowedVisibilityOf, DiscoveredAllowedVisibility []string
}

// idsOf are the IDs of a list, in order; nil for none.
func idsOf(list []config.ExpectedAccount) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

func viewOf(t *testing.T, c *config.Config, dir string, s *config.Settings) settingsView {
	t.Helper()
	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			r, err := filepath.Rel(dir, p)
			if err != nil || !filepath.IsAbs(p) {
				t.Errorf("list file %q is not resolved against %s", p, dir)
			}
			out = append(out, r)
		}
		return out
	}
	var img config.Image
	if len(s.Images) > 0 {
		img = s.Images[0]
	}
	return settingsView{
		Name:                        s.Name,
		ExpectedMembers:             idsOf(s.ExpectedMembers),
		ExpectedImageOwners:         idsOf(s.ExpectedImageOwners),
		ExpectedMembersFiles:        rel(s.ExpectedMembersFiles),
		ExpectedImageOwnersFiles:    rel(s.ExpectedImageOwnersFiles),
		MaxMembers:                  s.MaxMembers,
		AllowedVisibility:           s.AllowedVisibility,
		Members:                     s.Members,
		Audit:                       s.Audit,
		Expected:                    keys(s.Expected(img, c.FileList)),
		ExpectedOwners:              keys(s.ExpectedOwners(c.FileList)),
		DiscoveredExpected:          keys(s.Expected(config.Image{}, c.FileList)),
		MaxMembersOf:                s.MaxMembersOf(img),
		DiscoveredMaxMembers:        s.MaxMembersOf(config.Image{}),
		AllowedVisibilityOf:         keys(s.AllowedVisibilityOf(img)),
		DiscoveredAllowedVisibility: keys(s.AllowedVisibilityOf(config.Image{})),
	}
}

const (
	img1 = "70a599e0-31e7-49b7-b260-868f441e862b"
	img2 = "11111111-2222-3333-4444-555555555555"
)

// listFiles are the list files of TestSettings' documents.
var listFiles = map[string]string{
	"all.txt":         "f-all\n",
	"prod.txt":        "f-prod\n",
	"owners-all.txt":  "o-all\n",
	"owners-prod.txt": "o-prod\n",
}

func TestSettings(t *testing.T) {
	const scpBlock = "{region: kr-west1, environment: e, access_key: AK, secret_key: sk}"
	poll := func(d time.Duration) config.Duration { return config.Duration(d) }
	tests := []struct {
		name string
		doc  string
		want []settingsView
	}{{
		name: "single form, defaults",
		doc:  "scp: " + scpBlock + "\nimages: [{id: " + img1 + "}]\n",
		want: []settingsView{{
			MaxMembers: 0, AllowedVisibility: config.DefaultAllowedVisibility,
			Audit:    config.Audit{PollInterval: poll(config.DefaultAuditPollInterval), Filter: vsFilter},
			Expected: []string{}, ExpectedOwners: []string{}, DiscoveredExpected: []string{},
			AllowedVisibilityOf: []string{"private", "shared"}, DiscoveredAllowedVisibility: []string{"private", "shared"},
		}},
	}, {
		name: "single form, every top-level field",
		doc: "scp: " + scpBlock + `
expected_members: [aaaa]
expected_image_owners: [oooo]
expected_members_file: all.txt
expected_image_owners_file: owners-all.txt
max_members: 4
allowed_visibility: [private]
members: {refresh_interval: 2m}
audit: {enabled: true, poll_interval: 10s}
images:
  - {id: ` + img1 + `, expected_members: [cccc], max_members: 0, allowed_visibility: [shared, public]}
`,
		want: []settingsView{{
			ExpectedMembers: []string{"aaaa"}, ExpectedImageOwners: []string{"oooo"},
			ExpectedMembersFiles: []string{"all.txt"}, ExpectedImageOwnersFiles: []string{"owners-all.txt"},
			MaxMembers: 4, AllowedVisibility: []string{"private"},
			Members: config.Members{RefreshInterval: poll(2 * time.Minute)},
			Audit:   config.Audit{Enabled: true, PollInterval: poll(10 * time.Second), Filter: vsFilter},
			// The image's own list adds; its own max_members and
			// allowed_visibility replace.
			Expected: []string{"aaaa", "cccc", "f-all"}, ExpectedOwners: []string{"o-all", "oooo"},
			DiscoveredExpected: []string{"aaaa", "f-all"},
			MaxMembersOf:       0, DiscoveredMaxMembers: 4,
			AllowedVisibilityOf: []string{"public", "shared"}, DiscoveredAllowedVisibility: []string{"private"},
		}},
	}, {
		name: "accounts form, inherited and overridden",
		doc: `
expected_members: [aaaa]
expected_image_owners: [oooo]
expected_members_file: all.txt
expected_image_owners_file: owners-all.txt
max_members: 5
allowed_visibility: [private, shared, community]
members: {refresh_interval: 2m}
audit: {enabled: true, poll_interval: 10s}
accounts:
  - name: inherits
    scp: ` + scpBlock + `
    discovery: {enabled: true}
  - name: overrides
    scp: ` + scpBlock + `
    expected_members: [bbbb]
    expected_image_owners: [pppp]
    expected_members_file: prod.txt
    expected_image_owners_file: owners-prod.txt
    max_members: 0
    members: {refresh_interval: 0s}
    audit: {enabled: false}
    images:
      - {id: ` + img1 + `, max_members: 9}
      - {id: ` + img2 + `}
`,
		want: []settingsView{{
			Name:            "inherits",
			ExpectedMembers: []string{"aaaa"}, ExpectedImageOwners: []string{"oooo"},
			ExpectedMembersFiles: []string{"all.txt"}, ExpectedImageOwnersFiles: []string{"owners-all.txt"},
			MaxMembers: 5, AllowedVisibility: []string{"private", "shared", "community"},
			Members: config.Members{RefreshInterval: poll(2 * time.Minute)},
			Audit:   config.Audit{Enabled: true, PollInterval: poll(10 * time.Second), Filter: vsFilter},
			// No image of its own: the first image is Image{} too.
			Expected: []string{"aaaa", "f-all"}, ExpectedOwners: []string{"o-all", "oooo"},
			DiscoveredExpected: []string{"aaaa", "f-all"},
			MaxMembersOf:       5, DiscoveredMaxMembers: 5,
			AllowedVisibilityOf: []string{"community", "private", "shared"}, DiscoveredAllowedVisibility: []string{"community", "private", "shared"},
		}, {
			Name:            "overrides",
			ExpectedMembers: []string{"aaaa", "bbbb"}, ExpectedImageOwners: []string{"oooo", "pppp"},
			ExpectedMembersFiles: []string{"all.txt", "prod.txt"}, ExpectedImageOwnersFiles: []string{"owners-all.txt", "owners-prod.txt"},
			// The account's own 0 lifts the top-level limit; its audit
			// block replaces the top-level one whole (poll_interval back
			// to the default).
			MaxMembers: 0, AllowedVisibility: []string{"private", "shared", "community"},
			Members:  config.Members{},
			Audit:    config.Audit{PollInterval: poll(config.DefaultAuditPollInterval), Filter: vsFilter},
			Expected: []string{"aaaa", "bbbb", "f-all", "f-prod"}, ExpectedOwners: []string{"o-all", "o-prod", "oooo", "pppp"},
			DiscoveredExpected: []string{"aaaa", "bbbb", "f-all", "f-prod"},
			MaxMembersOf:       9, DiscoveredMaxMembers: 0,
			AllowedVisibilityOf: []string{"community", "private", "shared"}, DiscoveredAllowedVisibility: []string{"community", "private", "shared"},
		}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range listFiles {
				files[k] = v
			}
			c, dir := loadDoc(t, tc.doc, files)
			settings := c.Settings()
			if len(settings) != len(tc.want) {
				t.Fatalf("%d Settings, want %d", len(settings), len(tc.want))
			}
			for i := range settings {
				if got := viewOf(t, c, dir, &settings[i]); !reflect.DeepEqual(got, tc.want[i]) {
					t.Errorf("Settings[%d]:\n got %+v\nwant %+v", i, got, tc.want[i])
				}
				// The account's own fields, defaults applied, as Load left them.
				a := &c.Accounts[i]
				if s := &settings[i]; !reflect.DeepEqual(s.SCP, a.SCP) || !reflect.DeepEqual(s.Images, a.Images) || !reflect.DeepEqual(s.Discovery, a.Discovery) {
					t.Errorf("Settings[%d] lost the account's own fields: %+v", i, s)
				}
			}
		})
	}
}

// A runtime keeps an account whose Settings did not change: two loads of
// the same file give equal Settings, whatever the file holds (regex, TLS,
// list files, secret files), and so do Load and LoadSkippingLists.
func TestSettingsEqualAcrossLoads(t *testing.T) {
	files, err := filepath.Glob("testdata/good-*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good configs: %v", err)
	}
	env := envWith(map[string]string{config.EnvAccessKey: envAccess, config.EnvSecretKey: envSecret})
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a, err := config.Load(path, env)
			if err != nil {
				t.Fatal(err)
			}
			b, err := config.Load(path, env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Settings(), b.Settings()) {
				t.Errorf("two loads differ:\n%+v\n%+v", a.Settings(), b.Settings())
			}
			s, err := config.LoadSkippingLists(path, env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Settings(), s.Settings()) {
				t.Errorf("Load and LoadSkippingLists differ:\n%+v\n%+v", a.Settings(), s.Settings())
			}
		})
	}
}

// An edit to one account leaves the other's Settings equal; an edit to
// the top level changes every account's.
func TestSettingsOfAnUnchangedAccount(t *testing.T) {
	const doc = `
expected_members: [aaaa]
scrape_timeout: 20s
accounts:
  - name: a
    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk, tls_config: {insecure_skip_verify: true}}
    discovery: {enabled: true, name_regex: "golden-.*"}
  - name: b
    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk}
    images: [{id: ` + img1 + `, max_members: 2}]
`
	before, _ := loadDoc(t, doc, map[string]string{})
	for _, tc := range []struct {
		name, old, new string
		same           []bool
	}{
		{"account b", "max_members: 2", "max_members: 3", []bool{true, false}},
		{"account a", `"golden-.*"`, `"silver-.*"`, []bool{false, true}},
		{"top level", "scrape_timeout: 20s", "scrape_timeout: 25s", []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after, _ := loadDoc(t, strings.Replace(doc, tc.old, tc.new, 1), map[string]string{})
			b, a := before.Settings(), after.Settings()
			for i := range b {
				if got := reflect.DeepEqual(b[i], a[i]); got != tc.same[i] {
					t.Errorf("account %s: equal %v, want %v", b[i].Name, got, tc.same[i])
				}
			}
		})
	}
}

// vsFilter is audit.filter's default.
var vsFilter = config.AuditFilter{ServiceType: config.DefaultAuditServiceType}

// audit.filter: the catalog's Virtual Server service type unless a filter
// is set; enabled: false sends none.
func TestAuditFilterSettings(t *testing.T) {
	const head = "scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk}\nimages: [{id: 70a599e0-31e7-49b7-b260-868f441e862b}]\n"
	for doc, want := range map[string]config.AuditFilter{
		"audit: {enabled: true}":                                      {ServiceType: "scp-virtualserver"},
		"audit: {enabled: true, filter: {resource_type: Image}}":      {ResourceType: "Image"},
		"audit: {enabled: true, filter: {service_type: scp-compute}}": {ServiceType: "scp-compute"},
	} {
		c, _ := loadDoc(t, head+doc, map[string]string{})
		if got := c.Settings()[0].Audit.Filter; got != want || !got.On() {
			t.Errorf("%s: filter %+v (on %v), want %+v, on", doc, got, got.On(), want)
		}
	}
	c, _ := loadDoc(t, head+"audit: {enabled: true, filter: {enabled: false}}", map[string]string{})
	if c.Settings()[0].Audit.Filter.On() {
		t.Error("filter: {enabled: false} is on")
	}
}
