package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// What the dashboard scenarios (TestPrometheusRunsRulesAndDashboard,
// TestPrometheusAlertsOnSharingBothWays) add to the fake for the panels of
// max_members, images accepted from others and the audit trail: our images
// carry ourOwner, a private one teaches it to the exporter, and a stranger's
// image is in the shared listing, accepted.
var (
	ourPrivateImage      = scptest.Image{ID: imageB, Name: "base", Visibility: "private", Owner: ourOwner}
	acceptedFromStranger = scptest.Image{ID: "33333333-3333-4333-8333-333333333333", Name: "miner-base", Visibility: "shared", Owner: memberGone}
)

// shareUser is who makes the share in shareLogged's audit event.
const shareUser = "user-7f3a"

// withAuditEndpoint adds scp.audit_endpoint to a config of configYAML's, for
// audit.enabled: with scp.endpoint set, the trail's URL is not looked up.
func withAuditEndpoint(cfg, endpoint string) string {
	return strings.Replace(cfg, "scp:\n", "scp:\n  audit_endpoint: "+endpoint+"\n", 1)
}

// shareLogged waits until the exporter has fetched the image's members (as
// the fake has them, before this change), then gives the image members and
// logs that in the audit trail as done by shareUser: a change the exporter
// sees at its next fetch and the trail explains (scp_image_change_info).
func shareLogged(t *testing.T, fake *scptest.Fake, image string, members ...scptest.Member) {
	t.Helper()
	testwait.ForWithin(t, 20*time.Second, func() bool { return fake.Requests(image) > 0 }, "the first fetch of "+image)
	fake.SetMembers(image, members...)
	fake.AddAuditEvents(scptest.AuditEvent{ID: "ev-share-" + image[:8], Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		EventName: "CreateImageMember", ResourceID: image, ResourceType: "Image", UserID: shareUser})
}
