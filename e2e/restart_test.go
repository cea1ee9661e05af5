package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// stopGracefully sends SIGTERM and waits for the exporter to exit 0.
func stopGracefully(t *testing.T, exp *exporterProcess) {
	t.Helper()
	if err := exp.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := exp.Proc.Exited(15 * time.Second); st == nil || st.ExitCode() != 0 {
		t.Fatalf("the exporter did not exit 0 after SIGTERM: %v\n%s", st, exp.Output)
	}
}

// A restart with --storage.path (issue 23): the first scrape after it shows
// the share known before, before any call; a share made, with its audit
// event, while the exporter was stopped is found within one audit poll of
// the restart (the trail is read from where the last run left off), and
// its user named, though the restored images are not due for an hour.
func TestRestartContinuesFromItsStorage(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	fake.SetMembers(imageB)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeFile(t, dir, "config.yml", withAuditEndpoint(configYAML(url, map[string][]string{imageA: nil, imageB: nil}, "audit: {enabled: true, poll_interval: 5s}\nmembers: {refresh_interval: 1h}\n"), url))

	first := startExporter(t, cfg, "--storage.path="+data)
	line := `scp_image_member_info{expected="false",image_id="` + imageA + `",member_id="` + memberOK + `",status="accepted"} 1`
	testwait.ForWithin(t, 20*time.Second, func() bool {
		_, b := httpGet(t, first.URL+"/metrics")
		return hasLine(b, line) && fake.Requests(imageB) > 0
	}, "the first run's fetch of both images")
	testwait.ForWithin(t, 20*time.Second, func() bool {
		_, b := httpGet(t, first.URL+"/metrics")
		return !strings.Contains(b, `scp_audit_last_success_timestamp_seconds 0`)
	}, "the first run's first audit poll")
	stopGracefully(t, first)
	if _, err := os.Stat(filepath.Join(data, "account-default.json.gz")); err != nil {
		t.Fatalf("no state written on shutdown: %v", err)
	}

	// While the exporter is down, image B is shared, and the share logged.
	// In the background at an interval of an hour, with B's members
	// restored, only the trail can bring B's next fetch forward.
	time.Sleep(time.Second)
	fake.SetMembers(imageB, scptest.Member{MemberID: memberOdd, Status: "pending"})
	fake.AddAuditEvents(scptest.AuditEvent{ID: "ev-while-down", Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		EventName: "CreateImageMember", ResourceID: imageB, ResourceType: "Image", UserID: shareUser})
	time.Sleep(time.Second)
	before := fake.Requests(imageA)
	restarted := time.Now()

	second := startExporter(t, cfg, "--storage.path="+data)
	// The first scrape, with a timeout too short for any call: the saved
	// share is there.
	_, body := httpGet(t, second.URL+"/metrics")
	if !hasLine(body, line) || !hasLine(body, `scp_storage_restore_result{result="restored"} 1`) {
		t.Errorf("the first scrape after the restart lacks the saved share or the restore:\n%s", grepSCP(body))
	}
	shared := `scp_image_member_info{expected="false",image_id="` + imageB + `",member_id="` + memberOdd + `",status="pending"} 1`
	named := `scp_image_change_info{event_name="CreateImageMember",image_id="` + imageB + `",user_id="` + shareUser + `"} 1`
	testwait.ForWithin(t, 20*time.Second, func() bool {
		_, b := httpGet(t, second.URL+"/metrics")
		return hasLine(b, shared) && hasLine(b, named)
	}, "the share made while the exporter was down, and its user")
	if took := time.Since(restarted); took > 10*time.Second {
		t.Errorf("found %s after the restart, want within one audit poll (5 s) and a fetch", took.Round(time.Second))
	}
	if n := fake.Requests(imageA) - before; n != 0 {
		t.Errorf("image A, restored, was fetched %d times after the restart; want none before its turn an hour on", n)
	}
	if out := second.Output.String(); !strings.Contains(out, "state restored") || strings.Contains(out, "level=warn component=storage") {
		t.Errorf("the restart's log:\n%s", out)
	}
}
