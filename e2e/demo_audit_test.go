package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoShowsTheAuditTrailAcceptedImagesAndLimit runs what `make demo`
// runs, in one-shot mode, and checks what issues 15 and 16 add to it: the
// share the fake logs in its audit trail a few seconds after start, found
// through the trail with the user who made it; the image accepted from a
// stranger beside a trusted vendor's; and golden-ubuntu's max_members.
func TestDemoShowsTheAuditTrailAcceptedImagesAndLimit(t *testing.T) {
	requireTool(t, "curl", "apt-get install -y curl")
	fakeBin := filepath.Join(t.TempDir(), "scp-fake-api")
	if out, err := exec.Command("go", "build", "-o", fakeBin, "../cmd/scp-fake-api").CombinedOutput(); err != nil {
		t.Fatalf("building the fake: %v\n%s", err, out)
	}
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(),
		"BIN="+exporterBinary(t), "FAKE_BIN="+fakeBin,
		"EXPORTER_ADDR="+freeAddr(t), "FAKE_ADDR="+freeAddr(t), "DEMO_ONESHOT=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	const rocky = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
	for _, want := range []string{
		`scp_image_member_info{expected="false",image_id="` + rocky + `",member_id="5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",status="pending"} 1`,
		`scp_image_change_info{event_name="CreateImageMember",image_id="` + rocky + `",user_id="jane.doe"} 1`,
		`scp_image_change_timestamp_seconds{image_id="` + rocky + `"} `,
		`scp_shared_image_info{expected="false",image_id="f00dcafe-1234-4abc-8def-0123456789ab",name="fast-ml-runtime",owner="99999999999999999999999999999999"} 1`,
		`scp_shared_image_info{expected="true",image_id="b2c3d4e5-f6a7-4b89-9cde-f0123456789a",name="vendor-hardened-rhel-8",owner="0123456789abcdef0123456789abcdef"} 1`,
		`scp_image_member_limit{image_id="70a599e0-31e7-49b7-b260-868f441e862b"} 1`,
		`scp_audit_last_success_timestamp_seconds `,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %s\n%s", want, out)
		}
	}
	// Only the share that was logged has a user.
	if n := strings.Count(string(out), "scp_image_change_info{"); n != 1 {
		t.Errorf("%d scp_image_change_info lines in the demo output, want 1\n%s", n, out)
	}
}
