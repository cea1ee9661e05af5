package exporter

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// iamConfig is an account found through IAM's catalog at iam.
func iamConfig(iam, extra string) string {
	return "scp:\n  region: kr-west1\n  environment: e\n  iam_endpoint: " + iam + "\n  access_key: ak\n  secret_key: sk\n  max_retries: 0\n" + extra +
		"images:\n  - id: " + image + "\n"
}

// gathered renders every family of the exporter's collector.
func gathered(t *testing.T, e *Exporter) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// series renders the collector's families named.
func series(t *testing.T, e *Exporter, names ...string) string {
	t.Helper()
	out, err := testutil.CollectAndFormat(e.Collector(), expfmt.TypeTextPlain, names...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func serviceInfo(t *testing.T, e *Exporter) scp.ServiceInfo {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.accounts[""].Snapshot().Service
	if !st.Resolved {
		t.Fatal("not resolved")
	}
	return st.Info
}

func TestEndpointFromCatalog(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, st := range scp.ServiceTypes {
		fake.SetCatalog(
			scptest.Endpoint{Region: "kr-east1", ServiceType: st, URL: "http://127.0.0.1:1"},
			scptest.Endpoint{Region: "kr-west1", ServiceType: st}, // the fake
		)
		e, _ := start(t, iamConfig(srv.URL, ""), time.Now())
		if err := fetchOne(t, e); err != nil {
			t.Fatalf("%s: members through the catalog's URL: %v", st, err)
		}
		if info := serviceInfo(t, e); info.Source != scp.SourceCatalog || info.URL != srv.URL {
			t.Errorf("%s: %+v", st, info)
		}
		if got := series(t, e, "scp_api_endpoint_info"); !strings.Contains(got, `scp_api_endpoint_info{service="virtualserver",source="catalog",url="`+srv.URL+`"} 1`) {
			t.Errorf("%s: %s", st, got)
		}
		e.Close()
	}
}

// A reload that rebuilds the client while IAM fails keeps the catalog's
// last good URL; a reload of an unchanged file asks IAM nothing.
func TestCatalogFailureKeepsLastGoodURL(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, logs := start(t, iamConfig(srv.URL, ""), time.Now())
	if n := fake.Requests(scptest.EndpointsKey); n != 1 {
		t.Fatalf("%d catalog calls at start, want 1", n)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if n, v := fake.Requests(scptest.EndpointsKey), fake.VersionListRequests(); n != 1 || v != 1 {
		t.Errorf("an unchanged reload made %d catalog and %d version calls in all, want 1 and 1", n, v)
	}
	fake.SetFault(scptest.EndpointsKey, scptest.Fault{Status: 503})
	if err := os.WriteFile(e.opts.ConfigFile, []byte(iamConfig(srv.URL, "  request_timeout: 5s\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := fake.Requests(scptest.EndpointsKey); n != 2 {
		t.Errorf("%d catalog calls, want 2 (one on the changed scp block)", n)
	}
	if info := serviceInfo(t, e); info.Source != scp.SourceCatalog || info.URL != srv.URL {
		t.Errorf("after IAM failed: %+v; want the last good URL", info)
	}
	if !strings.Contains(logs.String(), "keeping the last good Virtual Server URL") {
		t.Errorf("log:\n%s", logs)
	}
	if err := fetchOne(t, e); err != nil {
		t.Errorf("members after IAM failed: %v", err)
	}
	got := series(t, e, "scp_api_endpoint_info")
	if !strings.Contains(got, `source="catalog"`) {
		t.Errorf("%s", got)
	}
}

// With no URL known, a failing catalog falls back to the built host, with
// one warning, and the metric says so.
func TestCatalogFailureFallsBack(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fallback := httptest.NewServer(newFake()) // stands for the built host
	defer fallback.Close()
	old := fallbackURL
	fallbackURL = func(region, environment string) string {
		if region != "kr-west1" || environment != "e" {
			t.Errorf("fallback for %s %s", region, environment)
		}
		return fallback.URL
	}
	defer func() { fallbackURL = old }()
	fake.SetFault(scptest.EndpointsKey, scptest.Fault{Status: 500})

	e, logs := start(t, iamConfig(srv.URL, ""), time.Now())
	if info := serviceInfo(t, e); info.Source != scp.SourceFallback || info.URL != fallback.URL {
		t.Errorf("%+v; want the fallback", info)
	}
	if n := strings.Count(logs.String(), "using the host built from region and environment"); n != 1 {
		t.Errorf("%d fallback warnings, want 1:\n%s", n, logs)
	}
	if err := fetchOne(t, e); err != nil {
		t.Errorf("members from the fallback: %v", err)
	}
	if got := series(t, e, "scp_api_endpoint_info"); !strings.Contains(got, `source="fallback"`) {
		t.Errorf("%s", got)
	}
	if v := gathered(t, e); !strings.Contains(v, `scp_api_request_errors_total{operation="list_endpoints",reason="server_error"} 1`) {
		t.Errorf("request errors:\n%s", v)
	}
}

func TestEndpointOverrideSkipsIAM(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, ""), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Fatal(err)
	}
	if n := fake.Requests(scptest.EndpointsKey); n != 0 {
		t.Errorf("%d catalog calls with endpoint set", n)
	}
	if info := serviceInfo(t, e); info.Source != scp.SourceOverride {
		t.Errorf("%+v", info)
	}
}

func TestVersionNotOffered(t *testing.T) {
	fake := newFake()
	fake.SetVersions(scptest.Version{ID: "v1.0", Status: "CURRENT", NotBefore: "2026-07-01T00:00:00Z"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, logs := start(t, baseConfig(srv.URL, "  api_version: \"1.3\"\n"), time.Now())
	if !strings.Contains(logs.String(), `msg="the SCP API does not offer the configured API version`) ||
		!strings.Contains(logs.String(), `version=1.3 offered="1.0 (current)"`) {
		t.Errorf("log:\n%s", logs)
	}
	got := series(t, e, "scp_api_version_offered", "scp_api_server_version_info")
	for _, want := range []string{
		`scp_api_version_offered{service="virtualserver",version="1.3"} 0`,
		`scp_api_server_version_info{service="virtualserver",status="current",version="1.0"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in\n%s", want, got)
		}
	}
	if err := fetchOne(t, e); scp.ReasonOf(err) != scp.ReasonUnsupportedVersion {
		t.Errorf("members: %v (reason %s), want unsupported_version", err, scp.ReasonOf(err))
	}
}

func TestAPIVersionLatest(t *testing.T) {
	fake := newFake()
	fake.SetVersions(scptest.Version{ID: "v1.0", Status: "DEPRECATED"}, scptest.Version{ID: "v1.2", Status: "CURRENT"}, scptest.Version{ID: "v1.3", Status: "PLANNED"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, logs := start(t, baseConfig(srv.URL, "  api_version: latest\n"), time.Now())
	if err := fetchOne(t, e); err != nil {
		t.Fatal(err)
	}
	got := series(t, e, "scp_api_version_info", "scp_api_version_offered")
	for _, want := range []string{
		`scp_api_version_info{service="virtualserver",state="current",version="1.2"} 1`,
		`scp_api_version_offered{service="virtualserver",version="1.2"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in\n%s", want, got)
		}
	}
	// The server calls 1.2 CURRENT: its word wins over the reference
	// table, so no support end is shown and no warning logged.
	if got := series(t, e, "scp_api_version_support_end_timestamp_seconds"); got != "" {
		t.Errorf("support end for the server's CURRENT version:\n%s", got)
	}
	if !strings.Contains(logs.String(), "requesting the server's CURRENT API version") || strings.Contains(logs.String(), "the SCP API version in use is") {
		t.Errorf("log:\n%s", logs)
	}
}

// An iam_endpoint copied from the provider, whose auth URL ends in /v1,
// reads the same catalog as the base URL (not /v1/v1/endpoints).
func TestIAMEndpointWithOrWithoutV1(t *testing.T) {
	fake := newFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.SetCatalog(scptest.Endpoint{Region: "kr-west1", ServiceType: "scp-virtualserver"})
	for _, iam := range []string{srv.URL, srv.URL + "/v1", srv.URL + "/v1/"} {
		e, _ := start(t, iamConfig(iam, ""), time.Now())
		if info := serviceInfo(t, e); info.Source != scp.SourceCatalog || info.URL != srv.URL {
			t.Errorf("iam_endpoint %s: %+v, want the catalog's URL", iam, info)
		}
		e.Close()
	}
}

// The server's not_before is when a version's support ends (the provider
// reads it so): it beats the table, which only fills in where the server
// gives no date; a CURRENT version has no end.
func TestSupportEndFromTheServersNotBefore(t *testing.T) {
	fake := newFake()
	fake.SetVersions(scptest.Version{ID: "v1.2", Status: "SUPPORTED", NotBefore: "2026-10-15"}, scptest.Version{ID: "v1.3", Status: "CURRENT", NotBefore: "2026-12-31"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, _ := start(t, baseConfig(srv.URL, "  api_version: \"1.2\"\n"), time.Now())
	end := time.Date(2026, 10, 16, 0, 0, 0, 0, time.UTC).Unix()
	if got := series(t, e, "scp_api_version_support_end_timestamp_seconds"); !strings.Contains(got, fmt.Sprintf(`{service="virtualserver",version="1.2"} %d`, end)) &&
		!strings.Contains(got, fmt.Sprintf(`{service="virtualserver",version="1.2"} %g`, float64(end))) {
		t.Errorf("support end of 1.2: %s, want the day after the server's 2026-10-15", got)
	}
	e2, _ := start(t, baseConfig(srv.URL, "  api_version: \"1.3\"\n"), time.Now())
	if got := series(t, e2, "scp_api_version_support_end_timestamp_seconds"); got != "" {
		t.Errorf("a CURRENT version has a support end:\n%s", got)
	}
}
