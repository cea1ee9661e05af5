package account_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	image   = "70a599e0-31e7-49b7-b260-868f441e862b"
	member  = "a8f10467abfc4b87b64614ab36eb9ae4"
	trusted = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
)

// settings loads a config and returns its accounts' settings.
func settings(t *testing.T, dir, cfg string) []config.Settings {
	t.Helper()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadSkippingLists(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Settings()
}

func fakeAPI(t *testing.T) string {
	t.Helper()
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"}, scptest.Member{MemberID: trusted, Status: "pending"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return srv.URL
}

func accountYAML(name, url, extra string) string {
	return "  - name: " + name + "\n    scp: {endpoint: \"" + url + "\", access_key: ak, secret_key: sk}\n    images: [{id: " + image + "}]\n" + extra
}

func start(t *testing.T, s config.Settings, o account.Options) *account.Runtime {
	t.Helper()
	r, err := account.New(s, o)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// A scrape that waits on a runtime stopped meanwhile (an account a reload
// removed) is released at once, not at its deadline: nobody will fetch.
func TestWaitReturnsOnceTheRuntimeStopped(t *testing.T) {
	url := fakeAPI(t)
	s := settings(t, t.TempDir(), "accounts:\n"+accountYAML("a", url, ""))[0]
	r := start(t, s, account.Options{})
	r.Stop()
	<-r.Done()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	began := time.Now()
	r.Wait(ctx)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Wait on a stopped runtime took %v, want it released at once", took)
	}
}

// Accounts that name the same list file share its last good list: an
// account added while the file is bad still trusts what the file last
// listed, as the accounts already running do.
func TestAccountsShareAListFilesLastGoodList(t *testing.T) {
	url := fakeAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "trusted.txt")
	if err := os.WriteFile(file, []byte(trusted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lists := account.NewListFiles(account.ListFileOptions{Interval: time.Hour})
	t.Cleanup(lists.Close)
	cfg := "expected_members_file: " + file + "\naccounts:\n" + accountYAML("a", url, "") + accountYAML("b", url, "")
	all := settings(t, dir, cfg)
	a := start(t, all[0], account.Options{Lists: lists})
	expected := func(r *account.Runtime) bool {
		r.Wait(t.Context())
		snap := r.Snapshot()
		return len(snap.Members.Images) == 1 && snap.Members.Images[0].Expected[trusted]
	}
	testwait.For(t, func() bool { return expected(a) }, "account a trusting the file's account")

	// The file goes bad (a half-written edit); account b starts now.
	if err := os.WriteFile(file, []byte("not an account id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := start(t, all[1], account.Options{Lists: lists})
	if !expected(b) {
		t.Error("account b, added while the file is bad, does not trust the file's last good list")
	}
	for _, r := range []*account.Runtime{a, b} {
		sts := r.Snapshot().Lists
		if len(sts) != 1 || sts[0].Err == nil || len(sts[0].IDs) != 1 {
			t.Errorf("account %s: list status %+v, want the file's error with its last good list of 1", r.Name(), sts)
		}
	}
}
