package e2e

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
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

// --web.disable-exporter-metrics leaves out the Go runtime, process and
// promhttp metrics, and nothing else: every line of the page is scanned.
func TestDisableExporterMetrics(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exporterOwn := []string{"go_", "process_", "promhttp_"}
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
		// The metric name of every sample line, and of every HELP and TYPE
		// line, by the prefixes the flag leaves out.
		found := map[string]int{}
		for _, l := range strings.Split(body, "\n") {
			name := l
			if rest, ok := strings.CutPrefix(l, "# HELP "); ok {
				name = rest
			} else if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
				name = rest
			} else if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if i := strings.IndexAny(name, "{ "); i >= 0 {
				name = name[:i]
			}
			for _, prefix := range exporterOwn {
				if strings.HasPrefix(name, prefix) {
					found[prefix]++
					if disabled {
						t.Errorf("disabled: /metrics still has %s", l)
					}
				}
			}
		}
		// Without the flag, the Go runtime and process metrics are there
		// (the exporter's handler adds no promhttp_ metrics of its own).
		if !disabled && (found["go_"] == 0 || found["process_"] == 0) {
			t.Errorf("enabled: go_ lines %d, process_ lines %d; want both", found["go_"], found["process_"])
		}
		if !strings.Contains(body, "scp_exporter_build_info{") || !hasLine(body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 1`) {
			t.Errorf("disabled %v: the exporter's own series are missing:\n%s", disabled, grepSCP(body))
		}
	}
}

// The collector flags, through the binary: which members have timestamp
// series (--collector.member-timestamps) and whether scp_image_visibility is
// served (--collector.image-visibility). imageA, public, is shared with
// memberOK (accepted) and memberOdd (pending).
func TestCollectorFlags(t *testing.T) {
	unix := func(s string) float64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.Unix())
	}
	okCreated, okUpdated := "2025-07-22T09:00:00Z", "2025-07-26T12:00:00Z"
	oddCreated, oddUpdated := "2025-11-02T08:30:00Z", "2025-11-02T08:30:00Z"
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA,
		scptest.Member{MemberID: memberOK, Status: "accepted", CreatedAt: okCreated, UpdatedAt: okUpdated},
		scptest.Member{MemberID: memberOdd, Status: "pending", CreatedAt: oddCreated, UpdatedAt: oddUpdated})
	fake.AddImages(scptest.Image{ID: imageA, Name: "golden", Visibility: "public"})
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: {memberOK}}, ""))

	const (
		created = "scp_image_member_created_timestamp_seconds"
		updated = "scp_image_member_updated_timestamp_seconds"
	)
	// The timestamps by member_id: what the API gave for each.
	pendingOnly := map[string]float64{memberOdd: unix(oddUpdated)}
	everyCreated := map[string]float64{memberOK: unix(okCreated), memberOdd: unix(oddCreated)}
	everyUpdated := map[string]float64{memberOK: unix(okUpdated), memberOdd: unix(oddUpdated)}
	none := map[string]float64{}
	for _, tc := range []struct {
		name             string
		args             []string
		created, updated map[string]float64
		visibility       bool
	}{
		{name: "default", created: none, updated: pendingOnly},
		{name: "pending", args: []string{"--collector.member-timestamps=pending"}, created: none, updated: pendingOnly},
		{name: "all", args: []string{"--collector.member-timestamps=all"}, created: everyCreated, updated: everyUpdated},
		{name: "none", args: []string{"--collector.member-timestamps=none"}, created: none, updated: none},
		{name: "image-visibility", args: []string{"--collector.image-visibility"}, created: none, updated: pendingOnly, visibility: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := startExporter(t, cfg, tc.args...)
			// Once the visibility is known and the members fetched, so that
			// an absent series is left out, not yet to come.
			var m metricsPage
			testwait.For(t, func() bool {
				m = scrapeMetrics(t, exp)
				return m.value("scp_image_visibility_unexpected", map[string]string{"image_id": imageA, "visibility": "public"}) == 1 &&
					m.value("scp_image_members_scrape_success", map[string]string{"image_id": imageA}) == 1
			}, "the visibility and members of "+imageA)
			for name, want := range map[string]map[string]float64{created: tc.created, updated: tc.updated} {
				got := map[string]float64{}
				for _, s := range m[name] {
					if img := string(s.Metric["image_id"]); img != imageA {
						t.Errorf("%s for image %s", name, img)
					}
					got[string(s.Metric["member_id"])] = float64(s.Value)
				}
				if len(m[name]) != len(got) || !maps.Equal(got, want) {
					t.Errorf("%s by member_id: %v (%d series), want %v", name, got, len(m[name]), want)
				}
			}
			vis := m.values("scp_image_visibility", nil)
			if tc.visibility {
				if len(vis) != 1 || m.value("scp_image_visibility", map[string]string{"image_id": imageA, "visibility": "public"}) != 1 {
					t.Errorf("scp_image_visibility: %v, want 1 for %s, public", vis, imageA)
				}
			} else if len(vis) != 0 {
				t.Errorf("scp_image_visibility without --collector.image-visibility: %v", vis)
			}
		})
	}

	// A value the flag does not take: an error naming the flag, before
	// anything starts.
	t.Run("bad value", func(t *testing.T) {
		out, err := exec.Command(exporterBinary(t), "--collector.member-timestamps=some", "--config.file="+cfg, "--web.listen-address="+freeAddr(t)).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("--collector.member-timestamps=some: %v, want a non-zero exit\n%s", err, out)
		}
		if msg := string(out); !strings.Contains(msg, "collector.member-timestamps") || !strings.Contains(msg, "some") || strings.Contains(msg, "panic") {
			t.Errorf("--collector.member-timestamps=some: want a message naming the flag and the value, got:\n%s", msg)
		}
	})
}
