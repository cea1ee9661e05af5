package exporter

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	image  = "70a599e0-31e7-49b7-b260-868f441e862b"
	member = "a8f10467abfc4b87b64614ab36eb9ae4"
)

func newFake() *scptest.Fake {
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	fake.SetMembers(image, scptest.Member{MemberID: member, Status: "accepted"})
	return fake
}

// start writes the config and builds an exporter from it.
func start(t *testing.T, cfg string, now time.Time) (*Exporter, *testproc.Buffer) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testproc.Buffer{}
	e, err := New(Options{
		ConfigFile: path,
		Logger:     log.NewLogfmtLogger(logs),
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, logs
}

func fetchOne(t *testing.T, e *Exporter) error {
	t.Helper()
	res := e.Collector().Scrape(context.Background())
	if len(res.Accounts) != 1 || len(res.Accounts[0].Members.Images) != 1 {
		t.Fatalf("%d accounts, want 1 with 1 image", len(res.Accounts))
	}
	return res.Accounts[0].Members.Images[0].Err
}

func baseConfig(endpoint, extra string) string {
	return "scp:\n  endpoint: " + endpoint + "\n  access_key: ak\n  secret_key: sk\n  max_retries: 0\n" + extra +
		"images:\n  - id: " + image + "\n"
}

func TestTLSVerifiedWithConfiguredCA(t *testing.T) {
	srv := httptest.NewTLSServer(newFake())
	defer srv.Close()

	// Without the CA the certificate is refused: a network error, not a crash.
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	err := fetchOne(t, e)
	if scp.ReasonOf(err) != scp.ReasonNetwork || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unverified certificate: err %v, want a network error about the certificate", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	e, _ = start(t, baseConfig(srv.URL, "  tls_config:\n    ca_file: "+ca+"\n"), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Errorf("with ca_file: %v", err)
	}
}

func TestInsecureSkipVerifyWarnsLoudly(t *testing.T) {
	srv := httptest.NewTLSServer(newFake())
	defer srv.Close()
	e, logs := start(t, baseConfig(srv.URL, "  tls_config:\n    insecure_skip_verify: true\n"), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
	if !strings.Contains(logs.String(), "level=warn") || !strings.Contains(logs.String(), "NOT verified") {
		t.Errorf("no loud warning:\n%s", logs)
	}
}

func TestProxyURLCarriesSignedRequests(t *testing.T) {
	fake := newFake()
	api := httptest.NewServer(fake)
	defer api.Close()
	var mu sync.Mutex
	proxied := map[string]int{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied[r.URL.Path]++
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		w.Write(b.Bytes())
	}))
	defer proxy.Close()

	e, _ := start(t, baseConfig(api.URL, "  proxy_url: "+proxy.URL+"\n"), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := proxied["/v1/images/"+image+"/members"]; n != 1 {
		t.Errorf("proxy saw %d members requests, want 1 (all: %v)", n, proxied)
	}
	if fake.AuthFailures() != 0 {
		t.Error("the signature did not verify through the proxy")
	}
}

func TestAPIVersionWarnings(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	at := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		version, want, notWant string
		now                    time.Time
	}{
		{"1.3", "", "SCP API version", at},
		{"1.2", "level=warn", "past its support date", at},                                    // supported, date ahead
		{"1.2", "level=error", "", time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)},               // the day after 2026-08-31
		{"1.2", "level=warn", "level=error", time.Date(2026, 8, 31, 23, 59, 59, 0, time.UTC)}, // last supported second
		{"1.0", "level=error", "", at},
	} {
		_, logs := start(t, baseConfig(srv.URL, "  api_version: \""+tc.version+"\"\n"), tc.now)
		out := logs.String()
		if tc.want != "" && !strings.Contains(out, tc.want) {
			t.Errorf("version %s at %s: log lacks %q:\n%s", tc.version, tc.now, tc.want, out)
		}
		if tc.notWant != "" && strings.Contains(out, tc.notWant) {
			t.Errorf("version %s at %s: log has %q:\n%s", tc.version, tc.now, tc.notWant, out)
		}
	}
}

func TestReadyWaitsForTheFirstDiscovery(t *testing.T) {
	fake := newFake()
	fake.AddImages(scptest.Image{ID: image, Name: "discovered", Visibility: "private"})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/images" {
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := "scp:\n  endpoint: " + srv.URL + "\n  access_key: ak\n  secret_key: sk\ndiscovery:\n  enabled: true\n  visibility: [private]\n"
	e, _ := start(t, cfg, time.Now())
	defer e.Close()

	ready := func() int {
		rec := httptest.NewRecorder()
		e.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/ready", nil))
		return rec.Code
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("before the first listing: /-/ready %d, want 503", code)
	}
	close(release) // the private listing, and the shared one that follows it
	testwait.For(t, func() bool { return ready() == http.StatusOK }, "ready after the first listing")
	if err := fetchOne(t, e); err != nil {
		t.Errorf("the discovered image: %v", err)
	}
	// A good reload keeps readiness: the engine and its listings stay.
	for range 5 {
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
		if code := ready(); code != http.StatusOK {
			t.Fatalf("after a good reload: /-/ready %d, want 200", code)
		}
	}
}
