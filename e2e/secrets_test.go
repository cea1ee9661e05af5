package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestSecretKeyNeverLeaks runs the exporter at debug level through every kind
// of failure, a bad reload and a config check, and searches everything it
// wrote and served for the secret key.
func TestSecretKeyNeverLeaks(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	images := map[string]scptest.Fault{
		"11111111-1111-4111-8111-111111111111": {Status: http.StatusInternalServerError},
		"22222222-2222-4222-8222-222222222222": {Body: "<html>bad gateway</html>"},
		"33333333-3333-4333-8333-333333333333": {Reset: true},
		"44444444-4444-4444-8444-444444444444": {Status: http.StatusUnauthorized},
		"55555555-5555-4555-8555-555555555555": {Status: http.StatusTooManyRequests, RetryAfter: "0"},
		"66666666-6666-4666-8666-666666666666": {Delay: 10 * time.Second},
	}
	ids := map[string][]string{imageGone: nil}
	for id, fault := range images {
		fake.SetMembers(id)
		fake.SetFault(id, fault)
		ids[id] = nil
	}
	dir := t.TempDir()
	good := configYAML(url, ids, "scrape_timeout: 2s\n")
	cfg := writeFile(t, dir, "config.yml", good)
	exp := startExporter(t, cfg, "--log.level=debug", "--web.enable-lifecycle")

	var seen []string
	for range 2 {
		_, body := httpGet(t, exp.URL+"/metrics")
		seen = append(seen, body)
	}
	_, landing := httpGet(t, exp.URL+"/")
	seen = append(seen, landing)

	// A broken config that still carries the secret.
	writeFile(t, dir, "config.yml", strings.Replace(good, "images:", "imagez:", 1))
	_, reloadMsg := reload(t, exp)
	seen = append(seen, reloadMsg)
	check, _ := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg).CombinedOutput()
	seen = append(seen, string(check))
	// And one with the secret where a number belongs.
	writeFile(t, dir, "config.yml", good+"min_refresh_interval: "+testSecretKey+"\n")
	_, reloadMsg = reload(t, exp)
	seen = append(seen, reloadMsg)

	seen = append(seen, exp.Output.String())
	if !strings.Contains(exp.Output.String(), "level=debug") {
		t.Fatal("the exporter did not log at debug level; the test proves nothing")
	}
	if !strings.Contains(seen[0], `reason="server_error"`) || !strings.Contains(seen[0], `reason="network"`) {
		t.Fatalf("the failures did not happen:\n%s", grepSCP(seen[0]))
	}
	for i, s := range seen {
		if strings.Contains(s, testSecretKey) {
			t.Errorf("output %d contains the secret key:\n%s", i, s)
		}
	}
}
