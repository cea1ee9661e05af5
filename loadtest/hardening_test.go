//go:build loadtest

package loadtest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The audit trail can neither slow nor starve the sweep (issue 22).

// sweepRun is one run of the members refresh in the background, at the
// budget, with the audit trail in some state.
type sweepRun struct {
	name  string
	trail func(t *testing.T, fakeURL string) // nil: audit.enabled false
}

// sweepRate runs the exporter with images at rate, refreshed in the
// background as fast as the budget allows, lets it warm up, and returns
// the members calls the fake answered over window, and the effective rate
// the exporter exported at the end.
func sweepRate(t *testing.T, bin string, images int, rate float64, r sweepRun, warmup, window time.Duration) (calls int, exported float64) {
	t.Helper()
	fakeURL := startFake(t, fakeSpec{Images: images, Latency: 20 * time.Millisecond})
	cfg := exporterConfig{images: images, requestsPerSecond: rate, refreshInterval: time.Second}
	if r.trail != nil {
		cfg.auditPollInterval = 5 * time.Second
		r.trail(t, fakeURL)
	}
	exp := startExporter(t, bin, fakeURL, cfg)
	time.Sleep(time.Until(exp.started.Add(warmup)))
	before := apiCalls(t, fakeURL)
	time.Sleep(window)
	calls = apiCalls(t, fakeURL) - before
	pg, err := parsePage(exp.scrape(t).body)
	if err != nil {
		t.Fatal(err)
	}
	return calls, pg.value("scp_api_rate_limit_requests_per_second", nil, -1)
}

// A throttled audit service (429, with or without Retry-After) must not
// lower the members refresh's rate: within 10 % of the run with the trail
// off. Before issue 22, 300 images at 100 calls/s fell from 5,735 members
// calls a minute to 558.
func TestThrottledTrailKeepsTheSweepRate(t *testing.T) {
	bin := buildExporter(t)
	const images, rate = 300, 100.0
	const warmup, window = 15 * time.Second, 60 * time.Second
	runs := []sweepRun{
		{name: "trail off"},
		{name: "trail answering 429", trail: func(t *testing.T, u string) { setAuditFault(t, u, 429) }},
		{name: "trail answering 429, Retry-After: 3600", trail: func(t *testing.T, u string) { setAuditFaultRetry(t, u, 429, "3600") }},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %d images, budget %g/s, background refresh at the budget, audit.poll_interval 5s; members calls over %s after %s\n", t.Name(), images, rate, window, warmup)
	var base int
	for i, r := range runs {
		calls, exported := sweepRate(t, bin, images, rate, r, warmup, window)
		perSec := float64(calls) / window.Seconds()
		if i == 0 {
			base = calls
		}
		ratio := float64(calls) / float64(max(1, base))
		fmt.Fprintf(&b, "- %s: %d members calls = %.1f/s = %.3f× the trail-off run, %.2f× the budget; rate exported at the end %g/s\n",
			r.name, calls, perSec, ratio, perSec/rate, exported)
		if i > 0 && (ratio < 0.9 || exported < rate) {
			t.Errorf("%s: %d members calls (%.3f× the trail-off run's %d), rate %g/s; want within 10 %% and the rate at %g", r.name, calls, ratio, base, exported, rate)
		}
	}
	t.Log(b.String())
}

// A storm of audit events naming many images cannot starve the sweep:
// prioritized work takes at most a quarter of the budget. Before issue 22,
// 10,000 images at 100 calls/s with each 5 s poll naming 271 images had
// 809 images fetched after 76 s (6,156 without the storm).
func TestAuditStormKeepsTheSweep(t *testing.T) {
	bin := buildExporter(t)
	const images, rate, per = 10000, 100.0, 271
	const at = 76 * time.Second
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %d images, budget %g/s, background refresh at the budget, audit.poll_interval 5s; images known %s after the start\n", t.Name(), images, rate, at)
	known := map[bool]int{}
	for _, storm := range []bool{false, true} {
		fakeURL := startFake(t, fakeSpec{Images: images, Latency: 20 * time.Millisecond})
		if storm {
			startAuditStorm(t, fakeURL, per)
		}
		exp := startExporter(t, bin, fakeURL, exporterConfig{images: images, requestsPerSecond: rate, refreshInterval: time.Second, auditPollInterval: 5 * time.Second})
		time.Sleep(time.Until(exp.started.Add(at)))
		pg, err := parsePage(exp.scrape(t).body)
		if err != nil {
			t.Fatal(err)
		}
		st := apiStats(t, fakeURL)
		known[storm] = pg.known()
		fmt.Fprintf(&b, "- storm %v (%d images named every 5 s): %d images known = %.3f× images÷budget×%s; calls: %d members, %d show_image, %d list_audit_logs\n",
			storm, map[bool]int{true: per}[storm], known[storm], float64(known[storm])/(rate*at.Seconds()), fmtDur(at),
			st.Calls["list_image_members"], st.Calls["show_image"], st.Calls["list_audit_logs"])
	}
	ratio := float64(known[true]) / float64(max(1, known[false]))
	fmt.Fprintf(&b, "- with the storm: %.3f× the images known without it (target ≥ 0.75, the share the sweep keeps)\n", ratio)
	t.Log(b.String())
	if ratio < 0.75 {
		t.Errorf("with the storm %d images known after %s, %.3f× the %d without; want at least 0.75×", known[true], at, ratio, known[false])
	}
}
