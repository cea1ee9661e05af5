package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
)

// An entry of expected_members or expected_image_owners is an ID alone or
// a mapping of id and name; both forms mix in one list, and the IDs of
// both count as expected. NamedMembers and NamedOwners give every ID of
// the lists in use with its name: the config's, else the account's list
// file's, else the top level's.
func TestExpectedNames(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"top.txt":     "aaaa Top name for aaaa\ncccc Top name for cccc\nffff\n",
		"prod.txt":    "cccc Prod name for cccc   # wins over the top level's\ngggg\naaaa\n",
		"owners.txt":  "oooo Owner from the file\n",
		"unnamed.txt": "hhhh\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Parse([]byte(`
expected_members:
  - a8f10467abfc4b87b64614ab36eb9ae4
  - {id: bbbb, name: Build farm}
expected_members_file: top.txt
expected_image_owners:
  - id: pppp
    name: "파트너 (Partner)"
accounts:
  - name: prod
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
    expected_members_file: prod.txt
    expected_image_owners_file: owners.txt
    expected_image_owners: [oooo]
    images:
      - id: 70a599e0-31e7-49b7-b260-868f441e862b
        expected_members:
          - {id: dddd, name: Image-only partner}
          - bbbb
          - {id: aaaa, name: Config name for aaaa}
  - name: staging
    scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}
    expected_members:
      - {id: bbbb, name: Build farm}
    expected_members_file: unnamed.txt
    discovery: {enabled: true}
`), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod, staging := c.Settings()[0], c.Settings()[1]
	if got := keys(prod.Expected(prod.Images[0], c.FileList)); !slices.Equal(got, []string{"a8f10467abfc4b87b64614ab36eb9ae4", "aaaa", "bbbb", "cccc", "dddd", "ffff", "gggg"}) {
		t.Errorf("Expected = %q", got)
	}
	if got := keys(prod.ExpectedOwners(c.FileList)); !slices.Equal(got, []string{"oooo", "pppp"}) {
		t.Errorf("ExpectedOwners = %q", got)
	}
	for _, tc := range []struct {
		what string
		got  []config.Named
		want string
	}{
		{"prod members", prod.NamedMembers(c.FileList),
			"a8f10467abfc4b87b64614ab36eb9ae4= aaaa=Config name for aaaa bbbb=Build farm cccc=Prod name for cccc dddd=Image-only partner ffff= gggg="},
		{"prod owners", prod.NamedOwners(c.FileList), "oooo=Owner from the file pppp=파트너 (Partner)"},
		{"staging members", staging.NamedMembers(c.FileList), "a8f10467abfc4b87b64614ab36eb9ae4= aaaa=Top name for aaaa bbbb=Build farm cccc=Top name for cccc ffff= hhhh="},
		{"staging owners", staging.NamedOwners(c.FileList), "pppp=파트너 (Partner)"},
		// Without the files (nil lists): the config's lists alone.
		{"prod members without files", prod.NamedMembers(nil), "a8f10467abfc4b87b64614ab36eb9ae4= aaaa=Config name for aaaa bbbb=Build farm dddd=Image-only partner"},
	} {
		var parts []string
		for _, n := range tc.got {
			parts = append(parts, n.ID+"="+n.Name)
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.what, got, tc.want)
		}
	}
	// An edited file (as a watcher gives it) changes the names.
	edited := func(path string) trustlist.List {
		if filepath.Base(path) == "prod.txt" {
			return trustlist.List{IDs: []string{"cccc"}, Names: map[string]string{"cccc": "Renamed"}}
		}
		return c.FileList(path)
	}
	if got := prod.NamedMembers(edited); len(got) != 6 || got[3] != (config.Named{ID: "cccc", Name: "Renamed"}) {
		t.Errorf("after an edit: %q", got)
	}
}

// A name in a list file that holds a piece of a secret key is a malformed
// line of that file for --config.check (Load), named by file and line and
// not quoted.
func TestListFileNameHoldingASecret(t *testing.T) {
	dir := t.TempDir()
	const secret = "Qm8vT3xLp2Rk9WzYc4Hn"
	if err := os.WriteFile(filepath.Join(dir, "list.txt"), []byte("aaaa\nbbbb team Rk9WzYc4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse([]byte("scp: {region: kr-west1, environment: e, access_key: a, secret_key: "+secret+"}\n"+
		"expected_members_file: list.txt\ndiscovery: {enabled: true}\n"), dir, nil)
	want := "line 2: expected_members_file: " + filepath.Join(dir, "list.txt") + " line 2: account bbbb: the name contains a piece of a secret key (6 or more of its characters in a row); /metrics would show it as a label value: choose another name"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// An unknown key of an entry is named as written, whatever it holds.
func TestExpectedEntryUnknownKeyAsWritten(t *testing.T) {
	_, err := config.Parse([]byte("scp: {region: kr-west1, environment: e, access_key: a, secret_key: s}\n"+
		"discovery: {enabled: true}\nexpected_members:\n  - {id: aaaa, \"50%s\": x}\n"), t.TempDir(), nil)
	if want := "line 4: expected_members[0].50%s: unknown field (an entry has id and name)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}
