package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func TestLogFormatJSON(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil, imageGone: nil}, ""))
	exp := startExporter(t, cfg, "--log.format=json")
	httpGet(t, exp.URL+"/metrics") // a failed image logs a warning
	lines := strings.Split(strings.TrimSpace(exp.Output.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("too little logged to judge:\n%s", exp.Output)
	}
	for _, l := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(l), &entry); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		// One timestamp and one caller key per line, exporter-toolkit's
		// lines included.
		if _, ok := entry["ts"]; !ok || entry["time"] != nil || entry["caller"] == nil {
			t.Errorf("log line without exactly one ts and caller: %q", l)
		}
	}
	if !strings.Contains(exp.Output.String(), "Listening on") {
		t.Error("exporter-toolkit's lines are missing; the test proves less than it says")
	}
}

// In logfmt, too, every line has one ts and one caller key.
func TestLogfmtKeysOncePerLine(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, cfg)
	httpGet(t, exp.URL+"/metrics")
	out := exp.Output.String()
	if !strings.Contains(out, "Listening on") {
		t.Fatalf("exporter-toolkit's lines are missing:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Count(" "+l, " ts=") != 1 || strings.Count(" "+l, " caller=") != 1 || strings.Contains(l, " time=") {
			t.Errorf("log line without exactly one ts and caller: %q", l)
		}
	}
}

func TestTelemetryPath(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, cfg, "--web.telemetry-path=/probe")
	code, body := httpGet(t, exp.URL+"/probe")
	if code != http.StatusOK || !hasLine(body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 1`) {
		t.Errorf("/probe: %d\n%s", code, grepSCP(body))
	}
	if _, body := httpGet(t, exp.URL+"/metrics"); strings.Contains(body, "scp_image_members") {
		t.Error("/metrics still serves the metrics")
	}
	if _, landing := httpGet(t, exp.URL+"/"); !strings.Contains(landing, "/probe") {
		t.Errorf("the landing page does not link /probe:\n%s", landing)
	}
}

// TestScrapeTimeoutOffset sends Prometheus's timeout header with a stalled
// image: the answer must come at header less offset, long before the header,
// with the image not fetched yet (its call goes on, bounded by
// scrape_timeout, not by this caller's header).
func TestScrapeTimeoutOffset(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	fake.SetFault(imageA, scptest.Fault{Delay: time.Minute})
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, cfg, "--scrape.timeout-offset=3.5s")
	start := time.Now()
	_, body := httpGet(t, exp.URL+"/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "4")
	took := time.Since(start)
	if !hasLine(body, `scp_image_members_scrape_error{image_id="`+imageA+`",reason="not_fetched_yet"} 1`) ||
		!hasLine(body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 0`) {
		t.Errorf("the stalled image is not reported as not fetched yet:\n%s", grepSCP(body))
	}
	// 4s less 3.5s leaves 0.5s; without the offset the answer would take 4s.
	if took > 2500*time.Millisecond {
		t.Errorf("answered after %v; the offset left 0.5s", took)
	}
}

// --web.disable-exporter-metrics leaves out the Go runtime and process
// metrics, and nothing else.
func TestDisableExporterMetrics(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	for _, disabled := range []bool{false, true} {
		args := []string{}
		if disabled {
			args = append(args, "--web.disable-exporter-metrics")
		}
		exp := startExporter(t, cfg, args...)
		_, body := httpGet(t, exp.URL+"/metrics")
		has := strings.Contains(body, "\ngo_goroutines ") || strings.Contains(body, "\nprocess_resident_memory_bytes ")
		if has == disabled {
			t.Errorf("disabled %v: go_/process_ series present %v", disabled, has)
		}
		if !strings.Contains(body, "scp_exporter_build_info{") || !hasLine(body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 1`) {
			t.Errorf("disabled %v: the exporter's own series are missing:\n%s", disabled, grepSCP(body))
		}
	}
}
