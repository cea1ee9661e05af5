package exporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// These tests check that each scp: and top-level setting reaches the client
// or collector it is meant for, through the exporter's own wiring.

func TestAccountIDAndLanguageAreSent(t *testing.T) {
	fake := newFake()
	var mu sync.Mutex
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/members") {
			mu.Lock()
			got = r.Header.Clone()
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, "  account_id: acct-x\n  language: ko-KR\n"), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if v := got.Get(scp.HeaderAccountID); v != "acct-x" {
		t.Errorf("Scp-AccountId %q, want acct-x", v)
	}
	if v := got.Get("Accept-Language"); v != "ko-KR" {
		t.Errorf("Accept-Language %q, want ko-KR", v)
	}
}

func TestMaxRetriesZeroMeansOneAttempt(t *testing.T) {
	fake := newFake()
	fake.SetFault(image, scptest.Fault{Status: http.StatusServiceUnavailable})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now()) // baseConfig sets max_retries: 0
	if err := fetchOne(t, e); scp.ReasonOf(err) != scp.ReasonServerError {
		t.Fatalf("err %v, want a server error", err)
	}
	if n := fake.Requests(image); n != 1 {
		t.Errorf("%d requests with max_retries: 0, want 1", n)
	}
}

// members.refresh_interval moves members calls to the background: scrapes
// read what is known and make no call of their own.
func TestMembersRefreshIntervalFromConfig(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, "members:\n  refresh_interval: 1h\n"+baseConfig(srv.URL, ""), time.Now())
	testwait.For(t, func() bool { return fake.Requests(image) == 1 }, "the background fetch")
	testwait.For(t, func() bool { return fetchOne(t, e) == nil }, "the fetch recorded")
	for range 3 {
		if err := fetchOne(t, e); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.Requests(image); n != 1 {
		t.Errorf("%d members calls for four scrapes with refresh_interval 1h, want 1", n)
	}
}

// A call outlives the scrape that wanted it, bounded by scrape_timeout:
// the scrape answers at its deadline, and the stalled call ends soon after
// as a timeout, long before request_timeout (10s).
func TestScrapeTimeoutFromConfig(t *testing.T) {
	fake := newFake()
	fake.SetFault(image, scptest.Fault{Delay: time.Minute})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, "scrape_timeout: 300ms\n"+baseConfig(srv.URL, ""), time.Now())
	start := time.Now()
	err := fetchOne(t, e)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("scrape took %v with scrape_timeout 300ms", took)
	}
	if err == nil {
		t.Fatal("a stalled image was reported fetched")
	}
	testwait.For(t, func() bool {
		res := e.Collector().Scrape(t.Context())
		return res.Accounts[0].Members.Images[0].Reason == scp.ReasonTimeout
	}, "the stalled call to end as a timeout")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the stalled call took %v to end with scrape_timeout 300ms", took)
	}
}

func TestRequestsPerSecondFromConfig(t *testing.T) {
	fake := newFake()
	ids := []string{image, "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"}
	for _, id := range ids {
		fake.SetMembers(id)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := "scp:\n  endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\n  max_concurrency: 1\n  requests_per_second: 1\n" +
		"images:\n  - id: " + strings.Join(ids, "\n  - id: ") + "\n"
	e, _ := start(t, cfg, time.Now())
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	res := e.Collector().Scrape(ctx)
	notFetched := 0
	for _, r := range res.Accounts[0].Members.Images {
		if r.Err != nil {
			notFetched++
		}
	}
	// At one request a second, three images (and the background listings
	// sharing the budget) cannot all be fetched within 1.5s.
	if notFetched == 0 {
		t.Errorf("every image was fetched within 1.5s at requests_per_second: 1")
	}
}

// A reload of an unchanged file keeps the account's client and engine,
// with all they know, and costs no API call; a changed scp block gets a
// new client and the engine keeps its state.
func TestReloadKeepsWhatIsKnown(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	write := func(cfg string) {
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("members:\n  refresh_interval: 1h\n" + baseConfig(srv.URL, ""))
	e, err := New(Options{ConfigFile: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	testwait.For(t, func() bool { return fetchOne(t, e) == nil }, "the first fetch")
	testwait.For(t, func() bool {
		return fake.Requests(scptest.PendingImagesKey) == 1 && fake.Requests(scptest.ListImagesKey) == 2 &&
			fake.Requests(scptest.ShowImagePrefix+image) == 1 && fake.Requests(scptest.VersionsKey) == 1
	}, "the first refresh: its listings (pending, private and shared images), the look-up of the image they do not cover, the version check")
	calls := fake.TotalRequests()
	// A client comes with its budget: the budget in use tells the client.
	client := e.accounts[""].Snapshot().Budget

	for range 20 {
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Holds(t, 200*time.Millisecond, func() bool { return fake.TotalRequests() == calls }, "no API call after 20 reloads of an unchanged file")
	if e.accounts[""].Snapshot().Budget != client {
		t.Error("a reload of an unchanged scp block built a new client")
	}

	write("members:\n  refresh_interval: 1h\n" + baseConfig(srv.URL, "  request_timeout: 7s\n"))
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if e.accounts[""].Snapshot().Budget == client {
		t.Error("a changed scp block kept the old client")
	}
	if err := fetchOne(t, e); err != nil {
		t.Errorf("after a changed scp block the image lost its state: %v", err)
	}
	if n := fake.Requests(image); n != 1 {
		t.Errorf("%d members calls after reloads with refresh_interval 1h, want the first one only", n)
	}
}

func TestReloadRefusesToSwitchConfigForms(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	accounts := "accounts:\n  - name: a\n    scp: {endpoint: \"" + srv.URL + "\", access_key: ak, secret_key: sk}\n    images: [{id: " + image + "}]\n"
	if err := os.WriteFile(e.opts.ConfigFile, []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	err := e.Reload()
	if err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Reload: %v, want a refusal asking for a restart", err)
	}
	if got := series(t, e, "scp_exporter_config_last_reload_successful"); !strings.Contains(got, "scp_exporter_config_last_reload_successful 0\n") {
		t.Errorf("want scp_exporter_config_last_reload_successful 0 in\n%s", got)
	}
	if err := fetchOne(t, e); err != nil {
		t.Errorf("the running config stopped working: %v", err)
	}
}

func TestReloadWarnsWhenTheAPIVersionChanges(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	// The clock is not the fake's, so API calls fail: only the version
	// warnings matter here.
	e, logs := start(t, baseConfig(srv.URL, ""), time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	if strings.Contains(logs.String(), "API version") {
		t.Fatalf("warned at start with the current version:\n%s", logs)
	}
	if err := os.WriteFile(e.opts.ConfigFile, []byte(baseConfig(srv.URL, "  api_version: \"1.2\"\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "not the current one") {
		t.Errorf("no warning after reloading to API version 1.2:\n%s", logs)
	}
}

// Reload requests that arrive while one runs share the next: 50 requests
// made during a reload cost one more, and every request gets its answer.
func TestReloadsArrivingTogetherShareOne(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	e, logs := start(t, baseConfig(srv.URL, ""), time.Now())
	e.mu.Lock() // a reload under way
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := e.Reload(); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // all 50 are waiting
	e.mu.Unlock()
	wg.Wait()
	if n := strings.Count(logs.String(), "config reloaded"); n != 1 {
		t.Errorf("50 reload requests during a reload ran %d reloads after it, want 1", n)
	}
}

// A reload that fails on one account changes nothing on another: not its
// client, not its budget's rate gauge.
func TestFailedReloadChangesNothing(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	account := func(name, extra string) string {
		return "  - name: " + name + "\n    scp: {endpoint: \"" + srv.URL + "\", access_key: ak, secret_key: sk, max_retries: 0" + extra + "}\n" +
			"    images: [{id: " + image + "}]\n"
	}
	e, _ := start(t, "accounts:\n"+account("a", ", requests_per_second: 100")+account("b", ""), time.Now())
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	rate := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "scp_api_rate_limit_requests_per_second" && m.GetLabel()[0].GetValue() == "a" {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatal("no rate gauge for account a")
		return 0
	}
	if got := rate(); got != 100 {
		t.Fatalf("rate of a: %v, want 100", got)
	}
	clientA := e.accounts["a"].Snapshot().Budget
	bad := "accounts:\n" + account("a", ", requests_per_second: 5") +
		account("b", ", tls_config: {ca_file: /nonexistent/ca.pem}")
	if err := os.WriteFile(e.opts.ConfigFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil {
		t.Fatal("a reload with an unreadable CA file succeeded")
	}
	if got := rate(); got != 100 {
		t.Errorf("after a failed reload the rate of a shows %v, want 100 still", got)
	}
	if e.accounts["a"].Snapshot().Budget != clientA {
		t.Error("a failed reload replaced a client")
	}

	// Removing an account stops its engine.
	if err := os.WriteFile(e.opts.ConfigFile, []byte("accounts:\n"+account("a", ", requests_per_second: 100")), 0o600); err != nil {
		t.Fatal(err)
	}
	done := e.accounts["b"].Done()
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the removed account's engine is still running")
	}
}

// Readiness does not wait for a reload under way (which may be resolving
// endpoints), and once ready the process stays ready.
func TestReadyDoesNotWaitForAReload(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	if !e.Ready() {
		t.Fatal("not ready without discovery")
	}
	e.mu.Lock() // a reload under way
	done := make(chan bool)
	go func() { done <- e.Ready() }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("not ready during a reload")
		}
	case <-time.After(2 * time.Second):
		t.Error("Ready waited for the reload")
	}
	e.mu.Unlock()
}

// A redirect is an answer, not a hop: signed headers never reach another
// host.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.Header.Get(scp.HeaderSignature) != "" || r.Header.Get(scp.HeaderAccessKey) != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	fake := newFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/members") {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	if err := fetchOne(t, e); scp.ReasonOf(err) != scp.ReasonClientError {
		t.Errorf("a redirected call: %v, want a client error", err)
	}
	if leaked.Load() {
		t.Error("signed headers followed the redirect to another host")
	}
}

// Once ready, the process stays ready: a reload that adds an account with
// discovery does not wait for that account's first listing.
func TestReloadAddingAnAccountKeepsReadiness(t *testing.T) {
	fake := newFake()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/images" {
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	defer slow.Close()
	defer close(release)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	account := func(name, url, extra string) string {
		return "  - name: " + name + "\n    scp: {endpoint: \"" + url + "\", access_key: ak, secret_key: sk}\n" + extra
	}
	e, _ := start(t, "accounts:\n"+account("a", srv.URL, "    images: [{id: "+image+"}]\n"), time.Now())
	if !e.Ready() {
		t.Fatal("not ready without discovery")
	}
	cfg := "accounts:\n" + account("a", srv.URL, "    images: [{id: "+image+"}]\n") +
		account("b", slow.URL, "    discovery: {enabled: true}\n")
	if err := os.WriteFile(e.opts.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if !e.Ready() {
		t.Error("a reload adding an account with discovery made the process not ready")
	}
}

// A reload that removes an account and adds one whose endpoint takes a
// request_timeout to resolve does not hold scrapes meanwhile: they read the
// accounts running until the new set is in use, and the removed account
// stops only then.
func TestScrapesDoNotWaitForAReloadThatRemovesAnAccount(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	old := fallbackURL
	fallbackURL = func(string, string) string { return srv.URL }
	defer func() { fallbackURL = old }()
	account := func(name, scp string) string {
		return "  - name: " + name + "\n    scp: {" + scp + ", access_key: ak, secret_key: sk}\n    images: [{id: " + image + "}]\n"
	}
	endpoint := `endpoint: "` + srv.URL + `"`
	e, _ := start(t, "accounts:\n"+account("a", endpoint)+account("b", endpoint), time.Now())
	e.Collector().Scrape(t.Context()) // a first pass of both accounts
	cfg := "accounts:\n" + account("a", endpoint) +
		account("c", `region: kr-west1, environment: e, iam_endpoint: "`+hang.URL+`", request_timeout: 3s`)
	if err := os.WriteFile(e.opts.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.Reload() }()
	time.Sleep(300 * time.Millisecond) // the reload resolves c's endpoint
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	e.Collector().Scrape(ctx)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("a scrape during the reload took %v, want it not held by the reload", took)
	}
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
}
