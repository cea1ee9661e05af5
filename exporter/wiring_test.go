package exporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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

func TestMinRefreshIntervalFromConfig(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, "min_refresh_interval: 1m\n"+baseConfig(srv.URL, ""), time.Now())
	fetchOne(t, e)
	if _, cached := e.Collector().Fetch(t.Context()); !cached {
		t.Error("a second scrape within min_refresh_interval was not served from the cache")
	}
	if n := fake.Requests(image); n != 1 {
		t.Errorf("%d members calls for two scrapes, want 1", n)
	}
}

func TestScrapeTimeoutFromConfig(t *testing.T) {
	fake := newFake()
	fake.SetFault(image, scptest.Fault{Delay: time.Minute})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, "scrape_timeout: 300ms\n"+baseConfig(srv.URL, ""), time.Now())
	start := time.Now()
	want := `
# HELP scp_image_members_scrape_error 1 for an image whose members could not be fetched in this scrape, labelled with why; absent on success.
# TYPE scp_image_members_scrape_error gauge
scp_image_members_scrape_error{image_id="` + image + `",reason="timeout"} 1
`
	if err := testutil.CollectAndCompare(e.Collector(), strings.NewReader(want), "scp_image_members_scrape_error"); err != nil {
		t.Error(err)
	}
	// request_timeout is 10s: only scrape_timeout ends the stall this soon.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("scrape took %v with scrape_timeout 300ms", took)
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
	res, _ := e.Collector().Fetch(ctx)
	timedOut := 0
	for _, r := range res.Accounts[0].Images {
		if r.Reason == scp.ReasonTimeout {
			timedOut++
		}
	}
	// At one request a second, three images (and the background look-ups
	// sharing the limit) cannot all be fetched within 1.5s.
	if timedOut == 0 {
		t.Errorf("every image was fetched within 1.5s at requests_per_second: 1")
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
	if v := testutil.ToFloat64(e.reloadSuccess); v != 0 {
		t.Errorf("scp_exporter_config_last_reload_successful %v, want 0", v)
	}
	if err := fetchOne(t, e); err != nil {
		t.Errorf("the running config stopped working: %v", err)
	}
}

func TestReloadWarnsWhenTheAPIVersionChanges(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	e, logs := start(t, baseConfig(srv.URL, ""), time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	if strings.Contains(logs.String(), "level=warn") {
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
