package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	visibilityRule = "SCPImageVisibilityUnexpected"
	offerRule      = "SCPImageOfferedByUnexpectedOwner"
	discoveryRule  = "SCPDiscoveryFailing"
)

// sharingRules are the rules TestPrometheusAlertsOnSharingBothWays watches.
var sharingRules = []string{visibilityRule, offerRule, discoveryRule}

// Images other accounts offer to ours in these tests: one by memberOK, an
// expected owner, one by memberGone, whom only some configs expect.
var (
	offeredByVendor   = scptest.Image{ID: "11111111-1111-4111-8111-111111111111", Name: "vendor-base", Owner: memberOK, OwnerAccountName: "vendor"}
	offeredByStranger = scptest.Image{ID: "22222222-2222-4222-8222-222222222222", Name: "free-miner", Owner: memberGone}
)

// TestPrometheusAlertsOnSharingBothWays runs the rules in a real Prometheus
// against the exporter in the several-accounts form, so every series carries
// an account label. Two accounts watch the same public image and are offered
// the same two images; only prod must alert: dev allows public for the image
// and expects both owners. The alerts hold while the API fails (the exporter
// keeps what it knew) and resolve once the image is private again and the
// offer is withdrawn. The dashboard is checked in this form too.
//
// Visibility and offers are refreshed every discovery.refresh_interval, here
// the minimum, 10s, which bounds how long each step waits.
func TestPrometheusAlertsOnSharingBothWays(t *testing.T) {
	promBin := requireTool(t, "prometheus", "apt-get install -y prometheus")
	start := time.Now()
	defer func() { t.Logf("wall time %s", time.Since(start).Round(100*time.Millisecond)) }()

	fake, apiURL := startFake(t, scptest.Options{})
	// The dashboard's sharing panels need a share to list: made after the
	// first fetch and logged in the audit trail (changes_test.go), with a
	// stranger's image accepted and a max_members for prod.
	fake.SetMembers(imageA)
	fake.SetMembers(imageB)
	fake.AddImages(
		scptest.Image{ID: imageA, Name: "golden", Visibility: "public", Owner: ourOwner},
		ourPrivateImage,
		acceptedFromStranger,
	)
	fake.SetPendingImages(offeredByVendor, offeredByStranger)

	scp := fmt.Sprintf("{endpoint: %q, audit_endpoint: %q, access_key: %s, secret_key: %s}", apiURL, apiURL, testAccessKey, testSecretKey)
	nameA, nameB := "image-"+imageA[:8], "image-"+imageB[:8]
	dir := t.TempDir()
	exp := startExporter(t, writeFile(t, dir, "config.yml", `accounts:
  - name: prod
    scp: `+scp+`
    expected_image_owners: [`+memberOK+`]
    max_members: 1
    images:
      - {id: `+imageA+`, name: `+nameA+`}
      - {id: `+imageB+`, name: `+nameB+`}
    discovery: {enabled: true, refresh_interval: 10s}
  - name: dev
    scp: `+scp+`
    expected_image_owners: [`+memberOK+`, `+memberGone+`]
    images:
      - {id: `+imageA+`, name: `+nameA+`, allowed_visibility: [private, shared, public]}
    discovery: {refresh_interval: 10s}
audit: {enabled: true, poll_interval: 5s}
`))
	prom := startPrometheus(t, promBin, dir, strings.TrimPrefix(exp.URL, "http://"))
	shareLogged(t, fake, imageA, scptest.Member{MemberID: memberOdd, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00Z"})
	prom.waitRulesHealthy(t)

	// Exactly these two alerts, and nothing for dev, imageB or the vendor.
	want := map[string]map[string]string{
		visibilityRule: {"account": "prod", "image_id": imageA, "visibility": "public"},
		offerRule:      {"account": "prod", "image_id": offeredByStranger.ID, "owner": memberGone},
	}
	both := func(active map[string][]promAlert) error {
		for rule, labels := range want {
			if len(active[rule]) == 0 {
				return fmt.Errorf("%s is not active", rule)
			}
			for _, a := range active[rule] {
				for k, v := range labels {
					if a.Labels[k] != v {
						return fmt.Errorf("%s is active for %v, want only %v", rule, a.Labels, labels)
					}
				}
			}
		}
		if len(active[discoveryRule]) > 0 {
			return fmt.Errorf("%s is active: %v", discoveryRule, active[discoveryRule][0].Labels)
		}
		return nil
	}
	// Up to 30s: two refreshes of the exporter's background state.
	active := prom.waitAlerts(t, 30*time.Second, "both alerts for prod", func(active map[string][]promAlert) bool {
		return both(active) == nil
	}, sharingRules...)

	vis := active[visibilityRule][0]
	if vis.Labels["severity"] != "critical" || vis.Labels["image_name"] != nameA {
		t.Errorf("%s labels: %v", visibilityRule, vis.Labels)
	}
	if s := vis.Annotations["summary"]; !strings.Contains(s, nameA) || !strings.Contains(s, "public") {
		t.Errorf("%s summary does not name image %s and public: %q", visibilityRule, nameA, s)
	}
	offer := active[offerRule][0]
	if offer.Labels["severity"] != "warning" || offer.Labels["image_name"] != offeredByStranger.Name {
		t.Errorf("%s labels: %v", offerRule, offer.Labels)
	}
	if s := offer.Annotations["summary"]; !strings.Contains(s, offeredByStranger.Name) || !strings.Contains(s, memberGone) {
		t.Errorf("%s summary does not name image %s and owner %s: %q", offerRule, offeredByStranger.Name, memberGone, s)
	}
	if d := offer.Annotations["description"]; !strings.Contains(d, offeredByStranger.ID) || !strings.Contains(d, "account prod") {
		t.Errorf("%s description does not name image %s and account prod: %q", offerRule, offeredByStranger.ID, d)
	}

	checkDashboard(t, prom, imageA, imageB)
	checkRefreshKeepsUp(t, prom, "dev", "prod")

	// The API fails: visibility and offers keep their last known values, and
	// so do the alerts, with no hold in the rules.
	fake.SetFault(scptest.PendingImagesKey, scptest.Fault{Status: http.StatusInternalServerError})
	fake.SetFault(scptest.ShowImagePrefix+imageA, scptest.Fault{Status: http.StatusInternalServerError})
	// In each account the image is looked up before the offers are listed.
	prom.waitNonEmpty(t, `count(scp_api_request_errors_total{operation="list_pending_images", reason="server_error"} > 0) == 2`)
	prom.holdAlerts(t, 3*time.Second, "while the API fails", both, sharingRules...)

	// Private again, the offer withdrawn: both resolve at the next refresh.
	fake.AddImages(scptest.Image{ID: imageA, Name: "golden", Visibility: "private", Owner: ourOwner})
	fake.SetPendingImages(offeredByVendor)
	fake.SetFault(scptest.PendingImagesKey, scptest.Fault{})
	fake.SetFault(scptest.ShowImagePrefix+imageA, scptest.Fault{})
	prom.waitAlerts(t, 30*time.Second, "both alerts to resolve", func(active map[string][]promAlert) bool {
		return len(active[visibilityRule]) == 0 && len(active[offerRule]) == 0
	}, sharingRules...)

	// Over the whole run, nothing else was ever active.
	hist := prom.alertHistory(t, sharingRules, "alertname", "account", "image_id", "visibility", "owner")
	if len(hist) != len(want) {
		t.Errorf("alerts over the run: %v, want %v", hist, want)
	}
	for _, s := range hist {
		for k, v := range want[s.Metric["alertname"]] {
			if s.Metric[k] != v {
				t.Errorf("%s was active for %v, want only %v", s.Metric["alertname"], s.Metric, want[s.Metric["alertname"]])
				break
			}
		}
	}
	prom.neverActive(t, refreshRule)
}
