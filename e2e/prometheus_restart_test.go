package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// quickRules writes the rules with every for: of minutes shortened to as
// many seconds, and the hold of the last known answer ([1h] windows) to
// hold: the same rules, on a time scale a test can wait for.
func quickRules(t *testing.T, dir string, hold time.Duration) string {
	t.Helper()
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`\[1h(:?)\]`).ReplaceAllString(string(b), "["+strconv.Itoa(int(hold.Minutes()))+"m$1]")
	s = regexp.MustCompile(`(?m)^( +)for: ([0-9]+)m$`).ReplaceAllString(s, "${1}for: ${2}s")
	return writeFile(t, dir, "quick.rules.yml", s)
}

// An unexpected share's alert rides over a restart of the exporter with its
// storage, and over two minutes of the target down (issue 23): polled every
// second, it never leaves "firing"; the first scrape after the restart
// already shows the share. It resolves only once a fetch shows the share
// gone. Rules: for: shortened to seconds, the hold to 3 minutes.
func TestPrometheusAlertRidesOverRestarts(t *testing.T) {
	promBin := requireTool(t, "prometheus", "apt-get install -y prometheus")
	fake, apiURL := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOdd, Status: "pending"})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", configYAML(apiURL, map[string][]string{imageA: nil}, ""))
	addr := freeAddr(t)
	args := []string{"--web.listen-address=" + addr, "--storage.path=" + filepath.Join(dir, "state")}
	exp := startExporter(t, cfg, args...)
	prom := startPrometheusWithRules(t, promBin, dir, addr, quickRules(t, dir, 3*time.Minute))
	prom.waitRulesHealthy(t)

	const rule = "SCPImageSharedWithUnexpectedMember"
	firing := func(active map[string][]promAlert) error {
		for _, a := range active[rule] {
			if a.Labels["image_id"] == imageA && a.Labels["member_id"] == memberOdd && a.State == "firing" {
				return nil
			}
		}
		return fmt.Errorf("%s is not firing for image %s: %v", rule, imageA, active[rule])
	}
	prom.waitAlerts(t, 60*time.Second, rule+" firing", func(a map[string][]promAlert) bool { return firing(a) == nil }, rule)

	// A restart with the storage: stopped, started again on the address,
	// the API failing for the image at first: what the first scrape shows
	// can only come from the storage.
	stopGracefully(t, exp)
	fake.SetFault(imageA, scptest.Fault{Status: 500})
	exp = startExporter(t, cfg, args...)
	_, body := httpGet(t, "http://"+addr+"/metrics")
	if line := `scp_image_member_info{expected="false",image_id="` + imageA + `",member_id="` + memberOdd + `",status="pending"} 1`; !hasLine(body, line) {
		t.Errorf("the first scrape after the restart lacks the share:\n%s", grepSCP(body))
	}
	fake.SetFault(imageA, scptest.Fault{})
	prom.holdAlerts(t, 15*time.Second, "after a restart", firing, rule)

	// Two minutes down.
	stopGracefully(t, exp)
	prom.holdAlerts(t, 2*time.Minute, "with the target down", firing, rule)
	if down := prom.alertsByName(t, "SCPExporterDown"); len(down["SCPExporterDown"]) == 0 {
		t.Error("SCPExporterDown is not active after two minutes down (for: 5s here)")
	}
	startExporter(t, cfg, args...)
	prom.holdAlerts(t, 10*time.Second, "after two minutes down", firing, rule)

	// The share removed: a fetch shows it gone, the alert resolves.
	fake.SetMembers(imageA)
	prom.waitAlerts(t, 30*time.Second, rule+" resolved", func(a map[string][]promAlert) bool { return firing(a) != nil && len(a[rule]) == 0 }, rule)
}
