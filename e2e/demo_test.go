package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoScriptShowsMetrics runs what `make demo` runs, in one-shot mode on
// free ports, and checks a new user would see real metrics.
func TestDemoScriptShowsMetrics(t *testing.T) {
	requireTool(t, "curl", "apt-get install -y curl")
	fakeBin := filepath.Join(t.TempDir(), "scp-fake-api")
	if out, err := exec.Command("go", "build", "-o", fakeBin, fakeAPIPackage).CombinedOutput(); err != nil {
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
		`scp_image_members{image_id="70a599e0-31e7-49b7-b260-868f441e862b",status="pending"} 1`,
		`scp_image_member_info{expected="false",image_id="70a599e0-31e7-49b7-b260-868f441e862b",member_id="3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f",status="pending"} 1`,
		`scp_image_member_info{expected="false",image_id="c4e1a7b2-3f5d-4a60-9b8c-7d6e5f4a3b2c"`,
		`scp_image_members_scrape_error{image_id="9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a",reason="not_found"} 1`,
		`scp_image_visibility_unexpected{image_id="5d3c2b1a-0f9e-4d8c-b7a6-958473625140",visibility="public"} 1`,
		`scp_pending_image_info{expected="false",image_id="deadbeef-0000-4000-8000-00000000beef",name="free-gpu-drivers"`,
		"/metrics",
		// The share the fake logs in its audit trail a few seconds after
		// start, found through the trail with the user who made it; an
		// image accepted from a stranger beside a trusted vendor's;
		// the default max_members, once, and golden-ubuntu's own.
		`scp_image_member_info{expected="false",image_id="` + rocky + `",member_id="5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",status="pending"} 1`,
		`scp_image_change_info{event_name="CreateImageMember",image_id="` + rocky + `",user_id="jane.doe"} 1`,
		`scp_image_change_timestamp_seconds{image_id="` + rocky + `"} `,
		`scp_shared_image_info{expected="false",image_id="f00dcafe-1234-4abc-8def-0123456789ab",name="fast-ml-runtime",owner="99999999999999999999999999999999"} 1`,
		`scp_shared_image_info{expected="true",image_id="b2c3d4e5-f6a7-4b89-9cde-f0123456789a",name="vendor-hardened-rhel-8",owner="0123456789abcdef0123456789abcdef"} 1`,
		"scp_image_member_limit_default 3\n",
		`scp_image_member_limit{image_id="70a599e0-31e7-49b7-b260-868f441e862b"} 1`,
		`scp_audit_last_success_timestamp_seconds `,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %s\n%s", want, out)
		}
	}
	// Only the image whose max_members differs from the default has a
	// limit series of its own.
	if n := strings.Count(string(out), "scp_image_member_limit{"); n != 1 {
		t.Errorf("%d scp_image_member_limit lines in the demo output, want 1\n%s", n, out)
	}
	// Only the share that was logged has a user.
	if n := strings.Count(string(out), "scp_image_change_info{"); n != 1 {
		t.Errorf("%d scp_image_change_info lines in the demo output, want 1\n%s", n, out)
	}
}
