package account_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	if err := os.WriteFile(file, []byte("not/an account id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lists.Reread() // as the reload that adds account b does
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

// With only HTTP_PROXY set (no proxy_url), every call of the account goes
// through that proxy, signed for the URL it names.
func TestCallsGoThroughTheEnvironmentsProxy(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"})
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	target, err := url.Parse(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	proxied := map[string]int{}
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the host the exporter asked for, which it signed
	}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied[r.URL.Path]++
		mu.Unlock()
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")

	// A host name no resolver knows: only the proxy can reach it.
	cfg := "scp: {endpoint: \"http://virtualserver.scp-exporter.test\", access_key: ak, secret_key: sk}\nimages: [{id: " + image + "}]\n"
	r := start(t, settings(t, t.TempDir(), cfg)[0], account.Options{})
	r.Wait(t.Context())
	if img := r.Snapshot().Members.Images[0]; img.Err != nil {
		t.Fatalf("members through the proxy: %v", img.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if proxied["/v1/images/"+image+"/members"] != 1 || proxied["/"] == 0 {
		t.Errorf("the proxy saw %v; want the members call and the version list", proxied)
	}
	if fake.AuthFailures() != 0 {
		t.Error("a call's signature did not verify through the proxy")
	}
}

// A file several accounts name is read once by a reload (ListFiles.Reread),
// not once more per account taking its settings.
func TestAReloadReadsASharedFileOnce(t *testing.T) {
	url := fakeAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "trusted.txt")
	if err := os.WriteFile(file, []byte(trusted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every read of the file asks the clock when it succeeded.
	var reads atomic.Int64
	clock := func() time.Time { reads.Add(1); return time.Now() }
	lists := account.NewListFiles(account.ListFileOptions{Interval: time.Hour, Now: clock})
	t.Cleanup(lists.Close)
	all := settings(t, dir, "expected_members_file: "+file+"\naccounts:\n"+accountYAML("a", url, "")+accountYAML("b", url, "")+accountYAML("c", url, ""))
	var runtimes []*account.Runtime
	for _, s := range all {
		runtimes = append(runtimes, start(t, s, account.Options{Lists: lists}))
	}
	before := reads.Load()
	lists.Reread()
	one := reads.Load() - before
	if one == 0 {
		t.Fatal("Reread did not read the file")
	}
	before = reads.Load()
	for i, r := range runtimes {
		if err := r.Update(all[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load() - before; n != 0 {
		t.Errorf("three accounts taking their settings read the file again (%d clock reads; one read is %d)", n, one)
	}
}
