package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestVisibilityAndOfferedImages checks both directions of sharing through
// the binary: an owned image that turned public, and images other accounts
// offer to ours.
func TestVisibilityAndOfferedImages(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	fake.SetMembers(imageB)
	fake.SetMembers(imageC)
	fake.AddImages(
		scptest.Image{ID: imageA, Name: "golden", Visibility: "public"},
		scptest.Image{ID: imageB, Name: "community-base", Visibility: "community"},
		scptest.Image{ID: imageC, Name: "private-base", Visibility: "private"},
	)
	fake.SetPendingImages(
		scptest.Image{ID: "11111111-1111-4111-8111-111111111111", Name: "vendor-base", Owner: memberOK, OwnerAccountName: "vendor"},
		scptest.Image{ID: "22222222-2222-4222-8222-222222222222", Name: "free-miner", Owner: memberGone},
	)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", `
scp: {endpoint: "`+url+`", access_key: `+testAccessKey+`, secret_key: `+testSecretKey+`}
expected_image_owners: [`+memberOK+`]
images:
  - id: `+imageA+`
  - id: `+imageB+`
    allowed_visibility: [community]
  - id: `+imageC+`
`)
	exp := startExporter(t, cfg)

	var body string
	if !testwait.Until(15*time.Second, func() bool {
		_, body = httpGet(t, exp.URL+"/metrics")
		return strings.Contains(body, "scp_pending_images 2") && strings.Contains(body, `scp_image_visibility_unexpected{image_id="`+imageB)
	}) {
		t.Fatalf("visibility and offers never showed:\n%s", grepSCP(body))
	}
	for _, want := range []string{
		`scp_image_visibility_unexpected{image_id="` + imageA + `",visibility="public"} 1`,
		`scp_image_visibility_unexpected{image_id="` + imageB + `",visibility="community"} 0`,
		`scp_pending_image_info{expected="true",image_id="11111111-1111-4111-8111-111111111111",name="vendor-base",owner="` + memberOK + `"} 1`,
		`scp_pending_image_info{expected="false",image_id="22222222-2222-4222-8222-222222222222",name="free-miner",owner="` + memberGone + `"} 1`,
		`scp_image_visibility_unexpected{image_id="` + imageC + `",visibility="private"} 0`,
		// Visibility comes from the listings, private and shared, discovery
		// or not; only the images no listing covers are looked up one by one.
		`scp_api_requests_total{code="200",operation="list_images"} 2`,
		`scp_api_requests_total{code="200",operation="show_image"} 2`,
		`scp_api_requests_total{code="200",operation="list_pending_images"} 1`,
		`scp_api_request_errors_total{operation="list_pending_images",reason="decode"} 0`,
		"scp_image_visibility_unknown_images 0",
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := fake.Requests(scptest.ShowImagePrefix + imageC); got != 0 {
		t.Errorf("an image the listing covers was looked up %d times", got)
	}
}
