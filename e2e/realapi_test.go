package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// iamYAML is a config that finds the Virtual Server through IAM's catalog,
// served by the fake at iam.
func iamYAML(iam, region, extra string) string {
	return fmt.Sprintf("scp:\n  region: %s\n  environment: e\n  iam_endpoint: %s\n  access_key: %s\n  secret_key: %s\n  max_retries: 0\n%simages:\n  - id: %s\n",
		region, iam, testAccessKey, testSecretKey, extra, imageA)
}

// The binary takes the region's Virtual Server URL from IAM's catalog
// (scp-compute or scp-virtualserver), keeps it when IAM later fails on a
// reload that rebuilds the client, and says so in its metrics.
func TestBinaryEndpointFromCatalog(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	for _, st := range []string{"scp-compute", "scp-virtualserver"} {
		t.Run(st, func(t *testing.T) {
			fake.SetCatalog(
				scptest.Endpoint{Region: "kr-west1", ServiceType: st, URL: "http://127.0.0.1:1"},
				scptest.Endpoint{Region: "kr-east1", ServiceType: st}, // the fake
			)
			fake.SetFault(scptest.EndpointsKey, scptest.Fault{})
			dir := t.TempDir()
			path := writeFile(t, dir, "config.yml", iamYAML(url, "kr-east1", ""))
			exp := startExporter(t, path, "--web.enable-lifecycle")
			_, body := httpGet(t, exp.URL+"/metrics")
			for _, want := range []string{
				`scp_api_endpoint_info{service="virtualserver",source="catalog",url="` + url + `"} 1`,
				`scp_image_members_scrape_success{image_id="` + imageA + `"} 1`,
				`scp_api_request_errors_total{operation="list_endpoints",reason="server_error"} 0`,
			} {
				if !hasLine(body, want) {
					t.Errorf("no %s in\n%s", want, body)
				}
			}

			// IAM fails; a reload that changes the scp block keeps the last good URL.
			fake.SetFault(scptest.EndpointsKey, scptest.Fault{Status: 503})
			writeFile(t, dir, "config.yml", iamYAML(url, "kr-east1", "  request_timeout: 4s\n"))
			if code, msg := reload(t, exp); code != http.StatusOK {
				t.Fatalf("reload: %d %s", code, msg)
			}
			_, body = httpGet(t, exp.URL+"/metrics")
			for _, want := range []string{
				`scp_api_endpoint_info{service="virtualserver",source="catalog",url="` + url + `"} 1`,
				`scp_api_request_errors_total{operation="list_endpoints",reason="server_error"} 1`,
				`scp_image_members_scrape_success{image_id="` + imageA + `"} 1`,
			} {
				if !hasLine(body, want) {
					t.Errorf("after IAM failed: no %s in\n%s", want, body)
				}
			}
			if !strings.Contains(exp.Output.String(), "keeping the last good Virtual Server URL") {
				t.Errorf("log:\n%s", exp.Output)
			}
		})
	}
}

// endpoint: skips IAM.
func TestBinaryEndpointOverrideSkipsIAM(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	path := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, path)
	_, body := httpGet(t, exp.URL+"/metrics")
	if want := `scp_api_endpoint_info{service="virtualserver",source="override",url="` + url + `"} 1`; !hasLine(body, want) {
		t.Errorf("no %s in\n%s", want, body)
	}
	if n := fake.Requests(scptest.EndpointsKey); n != 0 {
		t.Errorf("%d catalog calls with endpoint set", n)
	}
}

// A server that does not offer the configured version: one log line names
// it, a metric says so, and its refusals have their own reason.
func TestBinaryVersionNotOffered(t *testing.T) {
	fake, url := startFake(t, scptest.Options{Versions: []scptest.Version{{ID: "v1.0", Status: "CURRENT", NotBefore: "2026-07-01T00:00:00Z"}}})
	fake.SetMembers(imageA)
	path := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, "")) // the default, 1.3
	exp := startExporter(t, path)
	_, body := httpGet(t, exp.URL+"/metrics")
	for _, want := range []string{
		`scp_api_version_offered{service="virtualserver",version="1.3"} 0`,
		`scp_api_server_version_info{service="virtualserver",status="current",version="1.0"} 1`,
		`scp_image_members_scrape_error{image_id="` + imageA + `",reason="unsupported_version"} 1`,
		`scp_api_request_errors_total{operation="list_image_members",reason="unsupported_version"} 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	out := exp.Output.String()
	if n := strings.Count(out, "does not offer the configured API version"); n != 1 || !strings.Contains(out, `version=1.3 offered="1.0 (current)"`) {
		t.Errorf("%d lines about the version; log:\n%s", n, out)
	}
}

// api_version latest requests the server's CURRENT version: 1.2 here, not
// the exporter's default 1.3, so a fallback to the default would show.
func TestBinaryAPIVersionLatest(t *testing.T) {
	fake, url := startFake(t, scptest.Options{Versions: []scptest.Version{
		{ID: "v1.1", Status: "SUPPORTED"}, {ID: "v1.2", Status: "CURRENT"}, {ID: "v1.4", Status: "PLANNED"},
	}})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "pending"})
	// api_version goes in the scp block.
	cfg := strings.Replace(configYAML(url, map[string][]string{imageA: nil}, ""), "scp:\n", "scp:\n  api_version: latest\n", 1)
	path := writeFile(t, t.TempDir(), "config.yml", cfg)
	exp := startExporter(t, path)
	var body string
	testwait.For(t, func() bool {
		_, body = httpGet(t, exp.URL+"/metrics")
		return hasLine(body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 1`)
	}, "members fetched")
	for _, want := range []string{
		`scp_api_version_info{service="virtualserver",state="current",version="1.2"} 1`,
		`scp_api_version_offered{service="virtualserver",version="1.2"} 1`,
		`scp_api_server_version_info{service="virtualserver",status="planned",version="1.4"} 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}
