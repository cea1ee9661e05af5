package collector

import (
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/scp"
)

// The endpoint in use, the server's version list and whether it offers the
// version requested; the version in use comes from resolution.
func TestServiceSeries(t *testing.T) {
	v13, _ := scp.LookupAPIVersion("1.3")
	info := scp.ServiceInfo{
		URL: "http://127.0.0.1:9858", Source: scp.SourceFallback, Requested: "1.3", APIVersion: v13,
		VersionsRead: true, Versions: []scp.ServerVersion{{ID: "1.0", Status: "current"}, {ID: "1.3", Status: "planned"}},
	}
	tg := sourceScope(newStaticSource(engine.View{}))
	testAccountOf(tg, 0).Service = func() (scp.ServiceInfo, bool) { return info, true }
	c := New(tg, log.NewNopLogger())
	families := []string{"scp_api_endpoint_info", "scp_api_server_version_info", "scp_api_version_offered", "scp_api_version_info"}
	want := `# HELP scp_api_endpoint_info The service URL the exporter calls and where it came from: override (scp.endpoint), catalog (IAM's endpoint catalog, or its last good answer) or fallback (the host built from region and environment, while the catalog gives none); always 1.
# TYPE scp_api_endpoint_info gauge
scp_api_endpoint_info{service="virtualserver",source="fallback",url="http://127.0.0.1:9858"} 1
# HELP scp_api_server_version_info The API versions the service lists (the unsigned GET on its URL), with their status there (current, supported, deprecated, planned); always 1. Absent until the list has been read.
# TYPE scp_api_server_version_info gauge
scp_api_server_version_info{service="virtualserver",status="current",version="1.0"} 1
scp_api_server_version_info{service="virtualserver",status="planned",version="1.3"} 1
# HELP scp_api_version_offered 1 when the service lists the API version the exporter requests (and not as planned), 0 when it does not: its calls will likely be refused (reason unsupported_version). Absent until the list has been read.
# TYPE scp_api_version_offered gauge
scp_api_version_offered{service="virtualserver",version="1.3"} 0
` + helpVersionInfo + `
scp_api_version_info{service="virtualserver",state="current",version="1.3"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), families...); err != nil {
		t.Error(err)
	}

	// api_version latest, the server's CURRENT newer than this exporter
	// knows; the list not read yet shows only the endpoint.
	info = scp.ServiceInfo{URL: "https://vs.example", Source: scp.SourceCatalog, Requested: "latest", APIVersion: scp.VersionFor("1.4", "current")}
	want = `# HELP scp_api_endpoint_info The service URL the exporter calls and where it came from: override (scp.endpoint), catalog (IAM's endpoint catalog, or its last good answer) or fallback (the host built from region and environment, while the catalog gives none); always 1.
# TYPE scp_api_endpoint_info gauge
scp_api_endpoint_info{service="virtualserver",source="catalog",url="https://vs.example"} 1
` + helpVersionInfo + `
scp_api_version_info{service="virtualserver",state="current",version="1.4"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), families...); err != nil {
		t.Error(err)
	}
}
