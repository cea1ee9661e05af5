package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	imageA     = "70a599e0-31e7-49b7-b260-868f441e862b"
	imageB     = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
	imageC     = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140"
	imageGone  = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
	memberOK   = "a8f10467abfc4b87b64614ab36eb9ae4"
	memberOdd  = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
	memberGone = "ffee0011223344556677889900aabbcc"
)

func TestBinaryServesMembersFromFakeAPI(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA,
		scptest.Member{MemberID: memberOK, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: memberOdd, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00Z"})
	fake.SetMembers(imageB, scptest.Member{MemberID: memberGone, Status: "rejected"})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", configYAML(url, map[string][]string{
		imageA: {memberOK}, imageB: nil, imageGone: nil,
	}, ""))
	exp := startExporter(t, cfg)

	status, body := httpGet(t, exp.URL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics answered %d:\n%s", status, body)
	}
	for _, want := range []string{
		`scp_image_members{image_id="` + imageA + `",status="pending"} 1`,
		`scp_image_members{image_id="` + imageA + `",status="accepted"} 1`,
		`scp_image_members{image_id="` + imageA + `",status="rejected"} 0`,
		`scp_image_member_info{expected="true",image_id="` + imageA + `",member_id="` + memberOK + `",status="accepted"} 1`,
		`scp_image_member_info{expected="false",image_id="` + imageA + `",member_id="` + memberOdd + `",status="pending"} 1`,
		`scp_image_member_info{expected="false",image_id="` + imageB + `",member_id="` + memberGone + `",status="rejected"} 1`,
		`scp_image_member_updated_timestamp_seconds{image_id="` + imageA + `",member_id="` + memberOdd + `"} 1.7620722e+09`,
		`scp_image_members_scrape_success{image_id="` + imageA + `"} 1`,
		`scp_image_members_scrape_success{image_id="` + imageGone + `"} 0`,
		`scp_image_members_scrape_error{image_id="` + imageGone + `",reason="not_found"} 1`,
		`scp_image_info{image_id="` + imageA + `",name="image-70a599e0"} 1`,
		`scp_api_requests_total{code="200",operation="list_image_members"} 2`,
		`scp_api_requests_total{code="404",operation="list_image_members"} 1`,
		`scp_api_request_errors_total{operation="list_image_members",reason="not_found"} 1`,
		`scp_api_request_errors_total{operation="list_image_members",reason="unauthorized"} 0`,
		`scp_api_version_info{service="virtualserver",state="current",version="1.3"} 1`,
		`scp_exporter_build_info{branch="e2e",`,
		`scp_exporter_config_last_reload_successful 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `image_id="`+imageGone+`",status=`) {
		t.Errorf("a failed image must have no member series:\n%s", body)
	}
	if fake.AuthFailures() != 0 {
		t.Errorf("the fake refused %d requests: the exporter's signatures do not verify", fake.AuthFailures())
	}

	status, body = httpGet(t, exp.URL+"/")
	if status != http.StatusOK || !strings.Contains(body, "scp_exporter") || !strings.Contains(body, "/metrics") {
		t.Errorf("landing page: %d\n%s", status, body)
	}

	promtool := requireTool(t, "promtool", "apt-get install -y prometheus")
	_, metrics := httpGet(t, exp.URL+"/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
