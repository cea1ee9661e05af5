package scp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// resolveEnv is newEnv with a captured log and the client first pointed
// somewhere else, so that Resolve has to move it.
func resolveEnv(t *testing.T) (*env, *testproc.Buffer) {
	t.Helper()
	logs := &testproc.Buffer{}
	e := newEnv(t, nil, func(o *scp.Options) {
		o.Logger = log.NewLogfmtLogger(logs)
		o.RequestTimeout = 2 * time.Second
	})
	return e, logs
}

const unusedURL = "http://127.0.0.1:1"

func TestPickEndpoint(t *testing.T) {
	tests := []struct {
		name    string
		catalog []scp.Endpoint
		region  string
		want    string
		wantErr bool
	}{
		{name: "scp-virtualserver", region: "kr-west1", want: "https://vs.west",
			catalog: []scp.Endpoint{{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west/"}}},
		{name: "scp-compute", region: "kr-west1", want: "https://compute.west",
			catalog: []scp.Endpoint{{Region: "kr-west1", ServiceType: "scp-compute", URL: "https://compute.west"}}},
		{name: "the right region", region: "kr-east1", want: "https://vs.east",
			catalog: []scp.Endpoint{
				{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west"},
				{Region: "kr-east1", ServiceType: "scp-iam", URL: "https://iam.east"},
				{Region: "KR-EAST1", ServiceType: "scp-virtualserver", URL: "https://vs.east"},
			}},
		{name: "scp-virtualserver before scp-compute", region: "kr-west1", want: "https://vs.west",
			catalog: []scp.Endpoint{
				{Region: "kr-west1", ServiceType: "scp-compute", URL: "https://compute.west"},
				{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west"},
			}},
		{name: "an invalid URL is passed over", region: "kr-west1", want: "https://compute.west",
			catalog: []scp.Endpoint{
				{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://user:pw@vs.west"},
				{Region: "kr-west1", ServiceType: "scp-compute", URL: "https://compute.west"},
			}},
		{name: "only invalid URLs", region: "kr-west1", wantErr: true,
			catalog: []scp.Endpoint{
				{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "vs.west"},
				{Region: "kr-west1", ServiceType: "scp-compute", URL: "https://compute.west?x=1"},
				{Region: "kr-west1", ServiceType: "scp-compute", URL: "ftp://compute.west"},
				{Region: "kr-west1", ServiceType: "scp-compute", URL: "https://compute.west#f"},
			}},
		{name: "no entry for the region", region: "kr-east1", wantErr: true,
			catalog: []scp.Endpoint{{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west"}}},
		{name: "empty catalog", region: "kr-east1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scp.PickEndpoint(tc.catalog, tc.region)
			if tc.wantErr {
				if !errors.Is(err, scp.ErrNoCatalogEntry) || strings.Contains(err.Error(), "pw") {
					t.Fatalf("got %q, %v; want ErrNoCatalogEntry without the password", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestResolveFromCatalog(t *testing.T) {
	for _, st := range scp.ServiceTypes {
		t.Run(st, func(t *testing.T) {
			e, _ := resolveEnv(t)
			e.fake.SetCatalog(
				scptest.Endpoint{Region: "kr-east1", ServiceType: st, URL: unusedURL},
				scptest.Endpoint{Region: "kr-west1", ServiceType: "scp-image", URL: unusedURL},
				scptest.Endpoint{Region: "kr-west1", ServiceType: st}, // the fake itself
			)
			if err := e.client.SetBaseURL(unusedURL); err != nil {
				t.Fatal(err)
			}
			done := e.client.Resolve(context.Background(), scp.ResolveConfig{
				IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.3",
			})
			info, _ := e.client.ServiceInfo()
			if !done || info.Source != scp.SourceCatalog || info.URL != e.srv.URL || e.client.BaseURL() != e.srv.URL {
				t.Fatalf("done %v, info %+v, base %s; want the catalog's %s", done, info, e.client.BaseURL(), e.srv.URL)
			}
			if !info.VersionsRead || len(info.Versions) != 4 || !info.Offered || info.APIVersion.ID != "1.3" {
				t.Fatalf("versions: %+v", info)
			}
			if n := e.fake.Requests(scptest.EndpointsKey); n != 1 {
				t.Errorf("%d catalog calls, want 1", n)
			}
			e.fake.SetMembers(testImageID)
			if _, err := e.client.ListImageMembers(context.Background(), testImageID); err != nil {
				t.Fatalf("a call after resolution: %v", err)
			}
			// Resolving again asks nothing that already succeeded.
			e.client.Resolve(context.Background(), scp.ResolveConfig{IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.3"})
			if n, v := e.fake.Requests(scptest.EndpointsKey), e.fake.VersionListRequests(); n != 1 || v != 1 {
				t.Errorf("after a second Resolve: %d catalog and %d version calls, want 1 and 1", n, v)
			}
		})
	}
}

func TestResolveCatalogFailureKeepsLastGood(t *testing.T) {
	e, logs := resolveEnv(t)
	e.fake.SetFault(scptest.EndpointsKey, scptest.Fault{Status: 500})
	done := e.client.Resolve(context.Background(), scp.ResolveConfig{
		IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.3", LastGood: e.srv.URL,
	})
	info, _ := e.client.ServiceInfo()
	if !done || info.Source != scp.SourceCatalog || info.URL != e.srv.URL {
		t.Fatalf("done %v, info %+v; want the last good URL", done, info)
	}
	if !strings.Contains(logs.String(), "keeping the last good Virtual Server URL") {
		t.Errorf("log: %s", logs)
	}
	if n := counter(t, e.reg, "scp_api_request_errors_total", map[string]string{"operation": "list_endpoints", "reason": "server_error"}); n != 1 {
		t.Errorf("list_endpoints server_error = %v, want 1", n)
	}
}

func TestResolveFallbackWarnsOnceThenRecovers(t *testing.T) {
	e, logs := resolveEnv(t)
	e.fake.SetCatalog() // IAM knows no Virtual Server
	rc := scp.ResolveConfig{
		IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: e.srv.URL + "/", APIVersion: "1.3",
		RetryInterval: 5 * time.Millisecond, MaxRetryInterval: 20 * time.Millisecond,
	}
	if e.client.Resolve(context.Background(), rc) {
		t.Fatal("Resolve done with a fallback URL")
	}
	e.client.Resolve(context.Background(), rc)
	info, _ := e.client.ServiceInfo()
	if info.Source != scp.SourceFallback || e.client.BaseURL() != e.srv.URL {
		t.Fatalf("info %+v, base %s; want the fallback", info, e.client.BaseURL())
	}
	if n := strings.Count(logs.String(), "using the host built from region and environment"); n != 1 {
		t.Errorf("%d fallback warnings, want 1:\n%s", n, logs)
	}
	if n := counter(t, e.reg, "scp_api_request_errors_total", map[string]string{"operation": "list_endpoints", "reason": "decode"}); n != 2 {
		t.Errorf("list_endpoints decode = %v, want 2 (a catalog without the service)", n)
	}
	// The catalog comes back: KeepResolving finds it and stops.
	e.fake.SetCatalog(scptest.Endpoint{Region: "kr-west1", ServiceType: "scp-compute"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.client.KeepResolving(ctx, rc)
	info, _ = e.client.ServiceInfo()
	if ctx.Err() != nil || info.Source != scp.SourceCatalog {
		t.Fatalf("after KeepResolving: %+v (%v)", info, ctx.Err())
	}
	if !strings.Contains(logs.String(), "IAM's endpoint catalog answered") {
		t.Errorf("no recovery line:\n%s", logs)
	}
}

func TestResolveEndpointOverrideSkipsIAM(t *testing.T) {
	e, _ := resolveEnv(t)
	done := e.client.Resolve(context.Background(), scp.ResolveConfig{
		Endpoint: e.srv.URL, IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.2",
	})
	info, _ := e.client.ServiceInfo()
	if !done || info.Source != scp.SourceOverride || info.URL != e.srv.URL || info.APIVersion.ID != "1.2" || !info.Offered {
		t.Fatalf("done %v, info %+v", done, info)
	}
	if n := e.fake.Requests(scptest.EndpointsKey); n != 0 {
		t.Errorf("%d catalog calls with an endpoint override", n)
	}
}

func TestResolveVersionNotOffered(t *testing.T) {
	e, logs := resolveEnv(t)
	e.fake.SetVersions(scptest.Version{ID: "v1.0", Status: "CURRENT"}, scptest.Version{ID: "v1.3", Status: "PLANNED"})
	e.client.Resolve(context.Background(), scp.ResolveConfig{Endpoint: e.srv.URL, APIVersion: "1.3"})
	info, _ := e.client.ServiceInfo()
	if !info.VersionsRead || info.Offered || info.APIVersion.ID != "1.3" {
		t.Fatalf("info %+v; want 1.3 kept and not offered", info)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "does not offer the configured API version") {
			line = l
		}
	}
	if !strings.Contains(line, "version=1.3") || !strings.Contains(line, `offered="1.0 (current), 1.3 (planned)"`) {
		t.Errorf("log line %q", line)
	}
	// The server refuses the version: a reason of its own.
	e.fake.SetMembers(testImageID)
	_, err := e.client.ListImageMembers(context.Background(), testImageID)
	if scp.ReasonOf(err) != scp.ReasonUnsupportedVersion {
		t.Fatalf("err %v, reason %s; want unsupported_version", err, scp.ReasonOf(err))
	}
	if n := errorsTotal(t, e.reg, scp.ReasonUnsupportedVersion); n != 1 {
		t.Errorf("unsupported_version errors = %v", n)
	}
}

func TestResolveLatest(t *testing.T) {
	e, logs := resolveEnv(t)
	e.fake.SetVersions(
		scptest.Version{ID: "v1.0", Status: "DEPRECATED"},
		scptest.Version{ID: "v1.2", Status: "CURRENT"},
		scptest.Version{ID: "v1.3", Status: "PLANNED"},
	)
	e.client.Resolve(context.Background(), scp.ResolveConfig{Endpoint: e.srv.URL, APIVersion: scp.APIVersionLatest})
	info, _ := e.client.ServiceInfo()
	if info.APIVersion.ID != "1.2" || e.client.APIVersion().ID != "1.2" || !info.Offered || info.Requested != "latest" {
		t.Fatalf("info %+v; want the server's CURRENT 1.2", info)
	}
	e.fake.SetMembers(testImageID)
	if _, err := e.client.ListImageMembers(context.Background(), testImageID); err != nil {
		t.Fatalf("a call with the server's CURRENT version: %v", err)
	}
	if !strings.Contains(logs.String(), "requesting the server's CURRENT API version") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestResolveLatestWithoutAList(t *testing.T) {
	e, logs := resolveEnv(t)
	e.fake.SetFault(scptest.VersionsKey, scptest.Fault{Status: 404})
	if e.client.Resolve(context.Background(), scp.ResolveConfig{Endpoint: e.srv.URL, APIVersion: scp.APIVersionLatest}) {
		t.Fatal("done without a version list")
	}
	info, _ := e.client.ServiceInfo()
	if info.VersionsRead || info.APIVersion.ID != scp.DefaultAPIVersion {
		t.Fatalf("info %+v; want the default version", info)
	}
	if !strings.Contains(logs.String(), "cannot read the API's version list") || !strings.Contains(logs.String(), "requesting this exporter's default") {
		t.Errorf("log:\n%s", logs)
	}
	if n := counter(t, e.reg, "scp_api_request_errors_total", map[string]string{"operation": "list_versions", "reason": "not_found"}); n != 1 {
		t.Errorf("list_versions not_found = %v", n)
	}
}

// The version list is read without signature headers, the catalog with
// them but without a virtualserver version header.
func TestResolveRequestHeaders(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.URL.Path] = r.Header.Clone()
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}, nil)
	e.client.Resolve(context.Background(), scp.ResolveConfig{IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.3"})
	mu.Lock()
	defer mu.Unlock()
	if h := seen["/"]; h == nil || h.Get(scp.HeaderSignature) != "" || h.Get(scp.HeaderAccessKey) != "" {
		t.Errorf("version list headers %v; want none of the signature's", h)
	}
	if h := seen["/v1/endpoints"]; h == nil || h.Get(scp.HeaderSignature) == "" || h.Get(scp.HeaderAPIVersion) != "" {
		t.Errorf("catalog headers %v; want signed, without Scp-Api-Version", h)
	}
}

func TestListVersionsTolerant(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.fake.SetFault(scptest.VersionsKey, scptest.Fault{Body: `{"versions":[{"id":"v1.1","status":"Deprecated"},7,{"id":"latest","status":"CURRENT"},{"id":"v1.10","status":"current"},{"id":"1.2","status":null},{"id":"v1.1","status":"CURRENT"}]}`})
	list, err := e.client.ListVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []scp.ServerVersion{{ID: "1.1", Status: "deprecated"}, {ID: "1.2", Status: "unknown"}, {ID: "1.10", Status: "current"}}
	if len(list) != len(want) {
		t.Fatalf("got %+v, want %+v", list, want)
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, list[i], want[i])
		}
	}
	e.fake.SetFault(scptest.VersionsKey, scptest.Fault{Body: `{"versions":null}`, Times: 1})
	if list, err := e.client.ListVersions(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("null list: %v, %v", list, err)
	}
	e.fake.SetFault(scptest.VersionsKey, scptest.Fault{Body: `{"other":1}`, Times: 1})
	if _, err := e.client.ListVersions(context.Background()); scp.ReasonOf(err) != scp.ReasonDecode {
		t.Errorf("no list: %v", err)
	}
}

func TestUnsupportedVersionReason(t *testing.T) {
	tests := []struct {
		fault scptest.Fault
		want  scp.Reason
	}{
		{scptest.Fault{Status: 400, Body: `{"errors":[{"status":400,"code":"UnsupportedApiVersion","detail":"x"}]}`}, scp.ReasonUnsupportedVersion},
		{scptest.Fault{Status: 400, Body: `{"message":"Invalid Scp-Api-Version header"}`}, scp.ReasonUnsupportedVersion},
		{scptest.Fault{Status: 406, Body: `{"errors":[{"detail":["api version 9.9 is not supported"]}]}`}, scp.ReasonUnsupportedVersion},
		{scptest.Fault{Status: 400, Body: `{"errors":[{"code":"BadRequest","detail":"limit"}]}`}, scp.ReasonClientError},
		{scptest.Fault{Status: 429, Body: `{"message":"api version rate"}`}, scp.ReasonRateLimited},
		{scptest.Fault{Status: 500, Body: `{"message":"api version"}`}, scp.ReasonServerError},
	}
	for _, tc := range tests {
		e := newEnv(t, nil, nil)
		e.fake.SetFault(testImageID, tc.fault)
		_, err := e.client.ListImageMembers(context.Background(), testImageID)
		if got := scp.ReasonOf(err); got != tc.want {
			t.Errorf("%d %s: reason %s, want %s", tc.fault.Status, tc.fault.Body, got, tc.want)
		}
	}
}
