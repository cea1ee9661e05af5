package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/demo_metrics*.golden from this run")

// variesWithTime are the families whose values depend on when the page was
// read (times, ages, durations, call counts that grow with each poll):
// their series are compared, their values not.
func variesWithTime(name string) bool {
	for _, s := range []string{"_timestamp_seconds", "_duration_seconds", "_age_seconds",
		"scp_api_requests_total", "scp_api_rate_limit_requests_per_second"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

// TestDemoMetricsMatchGolden runs the demo's fake API and config, waits until
// the share logged in the fake's audit trail is attributed (the scenario's
// last step), and compares /metrics with a golden page: the same families
// with the same TYPE and HELP, the same series, and the same values where
// they do not depend on time. The golden pages were recorded before the
// account-runtime renovation: they are the users' contract, which a change
// of the code behind it must not move. The demo's config is read as it is
// (single-account form), and as one account of the accounts form with a
// top-level expected-members file (the account label, and the list-file
// series). go test ./e2e -run DemoMetrics -args -update rewrites them.
func TestDemoMetricsMatchGolden(t *testing.T) {
	cfg, err := os.ReadFile("../demo/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("single", func(t *testing.T) {
		compareDemoMetrics(t, "testdata/demo_metrics.golden", func(string) string { return string(cfg) })
	})
	t.Run("accounts", func(t *testing.T) {
		compareDemoMetrics(t, "testdata/demo_metrics_accounts.golden", func(dir string) string {
			list := writeFile(t, dir, "trusted.txt", "# the platform team's second build account\n00112233445566778899aabbccddeeff  Second build account  # named\n")
			var b strings.Builder
			b.WriteString("expected_members_file: " + list + "\naccounts:\n  - name: demo\n")
			for _, line := range strings.Split(string(cfg), "\n") {
				b.WriteString("    " + line + "\n")
			}
			return b.String()
		})
	})
}

// compareDemoMetrics runs the demo's scenario with the config makeConfig
// returns (given a directory for its files) and compares /metrics with the
// golden page at goldenPath.
func compareDemoMetrics(t *testing.T, goldenPath string, makeConfig func(dir string) string) {
	fakeBin := filepath.Join(t.TempDir(), "scp-fake-api")
	if out, err := exec.Command("go", "build", "-o", fakeBin, fakeAPIPackage).CombinedOutput(); err != nil {
		t.Fatalf("building the fake: %v\n%s", err, out)
	}
	fakeAddr := freeAddr(t)
	fake := testproc.Start(t, "fake", exec.Command(fakeBin, "--listen", fakeAddr, "--fixtures", "../demo/fixtures.json"), 5*time.Second)
	fake.WaitUntil(t, 15*time.Second, func() bool { return strings.Contains(fake.Output.String(), "serving on") })

	dir := t.TempDir()
	path := writeFile(t, dir, "config.yml", strings.ReplaceAll(makeConfig(dir), "http://127.0.0.1:9858", "http://"+fakeAddr))
	exp := startExporter(t, path)

	var page string
	testwait.ForWithin(t, 40*time.Second, func() bool {
		_, page = httpGet(t, exp.URL+"/metrics")
		return strings.Contains(page, "scp_image_change_info{") && strings.Contains(page, "scp_shared_images ") &&
			strings.Contains(page, "scp_image_members_pass_duration_seconds ")
	}, "the demo's audit-trail share attributed, the listings and a first pass done")
	// Addresses and paths of this run.
	page = strings.NewReplacer(fakeAddr, "FAKE_ADDRESS", dir, "TEST_DIR").Replace(page)
	got := normalizePage(t, page)

	if *updateGolden {
		if err := os.WriteFile(goldenPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := lineDiff(string(want), got); diff != "" {
		t.Errorf("/metrics of the demo differs from %s (- golden, + now):\n%s", goldenPath, diff)
	}
}

// normalizePage is a page as its families (name, TYPE, HELP) and series
// (labels sorted, value or * where it varies with time), sorted.
func normalizePage(t *testing.T, page string) string {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	var lines []string
	for name, f := range families {
		lines = append(lines, fmt.Sprintf("# %s %s %q", name, f.GetType(), f.GetHelp()))
		vary := variesWithTime(name)
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			series := name + "{" + strings.Join(labels, ",") + "}"
			lines = append(lines, series+" "+seriesValue(f.GetType(), m, vary))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// seriesValue is a series' value as the golden page holds it.
func seriesValue(typ dto.MetricType, m *dto.Metric, vary bool) string {
	if vary {
		return "*"
	}
	switch typ {
	case dto.MetricType_COUNTER:
		return fmt.Sprint(m.GetCounter().GetValue())
	case dto.MetricType_GAUGE:
		return fmt.Sprint(m.GetGauge().GetValue())
	case dto.MetricType_UNTYPED:
		return fmt.Sprint(m.GetUntyped().GetValue())
	default:
		return "*"
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
