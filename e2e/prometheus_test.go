package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	rulesPath      = "../alerts/scp_exporter.rules.yml"
	rulesTestPath  = "../alerts/scp_exporter.rules.test.yml"
	dashboardPath  = "../dashboards/scp-image-sharing.json"
	unexpectedRule = "SCPImageSharedWithUnexpectedMember"
	refreshRule    = "SCPMembersRefreshBehind"
)

func TestPromtoolAcceptsAndUnitTestsTheRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "apt-get install -y prometheus")
	for _, args := range [][]string{
		{"check", "rules", rulesPath},
		{"test", "rules", rulesTestPath},
	} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusRunsRulesAndDashboard runs a real Prometheus that scrapes the
// exporter (itself in front of the fake API) every second and evaluates the
// rules file every second. It checks the unexpected-share alert through a
// failed fetch (the exporter keeps the members), a not_found (the recording
// rule holds them) and a removal; that the refresh gauges are scraped and
// SCPMembersRefreshBehind stays quiet; and that every dashboard query
// returns data: the image is also public and two images are offered to the
// account, one by an owner nobody declared, so the "Sharing in both
// directions" panels have something to show (prometheus_sharing_test.go
// checks their alerts); a stranger's image is accepted, the image is at its
// max_members, and its share with memberOdd is made after its first fetch
// and logged in the audit trail (changes_test.go), for the panels of those.
func TestPrometheusRunsRulesAndDashboard(t *testing.T) {
	promBin := requireTool(t, "prometheus", "apt-get install -y prometheus")
	start := time.Now()
	defer func() { t.Logf("wall time %s", time.Since(start).Round(100*time.Millisecond)) }()

	fake, apiURL := startFake(t, scptest.Options{})
	shared := []scptest.Member{
		{MemberID: memberOK, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		{MemberID: memberOdd, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00Z"},
	}
	fake.SetMembers(imageA, shared[0])
	fake.AddImages(scptest.Image{ID: imageA, Name: "golden", Visibility: "public", Owner: ourOwner}, ourPrivateImage, acceptedFromStranger)
	fake.SetPendingImages(offeredByVendor, offeredByStranger)
	dir := t.TempDir()
	exp := startExporter(t, writeFile(t, dir, "config.yml", withAuditEndpoint(configYAML(apiURL, map[string][]string{imageA: {memberOK}},
		"expected_image_owners: ["+memberOK+"]\nmax_members: 2\naudit: {enabled: true, poll_interval: 5s}\n"), apiURL)))
	prom := startPrometheus(t, promBin, dir, strings.TrimPrefix(exp.URL, "http://"))
	shareLogged(t, fake, imageA, shared...)

	prom.waitRulesHealthy(t)

	// byMember returns the active alerts of unexpectedRule by member_id; one
	// for the expected member fails the test at once, whichever wait or hold
	// saw it.
	byMember := func(active map[string][]promAlert) map[string]promAlert {
		m := map[string]promAlert{}
		for _, a := range active[unexpectedRule] {
			if a.Labels["member_id"] == memberOK {
				t.Fatalf("%s is active for the expected member: %v", unexpectedRule, a.Labels)
			}
			m[a.Labels["member_id"]] = a
		}
		return m
	}
	alerting := func(active map[string][]promAlert) bool {
		_, ok := byMember(active)[memberOdd]
		return ok
	}
	stillAlerting := func(active map[string][]promAlert) error {
		if !alerting(active) {
			return fmt.Errorf("the alert for %s resolved", memberOdd)
		}
		return nil
	}

	// The unexpected member becomes active (pending: `for` is 5m); the
	// expected one never does.
	alert := byMember(prom.waitAlerts(t, 20*time.Second, "the share with "+memberOdd+" to alert", alerting, unexpectedRule))[memberOdd]
	if alert.Labels["image_id"] != imageA || alert.Labels["status"] != "pending" || alert.Labels["severity"] != "critical" {
		t.Errorf("alert labels: %v", alert.Labels)
	}
	name := "image-" + imageA[:8]
	if s := alert.Annotations["summary"]; !strings.Contains(s, name) || !strings.Contains(s, memberOdd) {
		t.Errorf("summary does not name image %s and account %s: %q", name, memberOdd, s)
	}

	checkDashboard(t, prom, imageA)
	checkRefreshKeepsUp(t, prom, "")

	// A failed fetch keeps the image's last known member series, with
	// scrape_success 0 and the reason beside them; the alert goes on.
	fake.SetFault(imageA, scptest.Fault{Status: http.StatusInternalServerError})
	prom.waitNonEmpty(t, `scp_image_members_scrape_error{image_id="`+imageA+`", reason="server_error"} == 1`)
	if got := prom.query(t, `scp_image_members_scrape_success{image_id="`+imageA+`"}`); len(got) != 1 || got[0].Value[1] != "0" {
		t.Fatalf("scrape_success of the failed image: %v, want 0", got)
	}
	prom.wantMembers(t, "while the image's fetch fails", memberOK, memberOdd)
	checkFetchFailures(t, prom, imageA, "server_error")
	prom.holdAlerts(t, 3*time.Second, "while the image cannot be fetched", stillAlerting, unexpectedRule)

	// not_found drops them (nobody can know the members of an image that is
	// gone); the recording rule holds the alert on the last members served.
	fake.SetFault(imageA, scptest.Fault{Status: http.StatusNotFound})
	prom.waitNonEmpty(t, `scp_image_members_scrape_error{image_id="`+imageA+`", reason="not_found"} == 1`)
	prom.wantMembers(t, "after not_found")
	prom.holdAlerts(t, 3*time.Second, "while the image is not found", stillAlerting, unexpectedRule)

	// Removing the share resolves it at the next successful fetch...
	fake.SetMembers(imageA, shared[0])
	fake.SetFault(imageA, scptest.Fault{})
	prom.waitAlerts(t, 20*time.Second, "the alert for "+memberOdd+" to resolve", func(active map[string][]promAlert) bool {
		return !alerting(active)
	}, unexpectedRule)
	// ...a failed fetch right after keeps the members of that fetch...
	fake.SetFault(imageA, scptest.Fault{Status: http.StatusInternalServerError})
	prom.waitNonEmpty(t, `scp_image_members_scrape_error{image_id="`+imageA+`", reason="server_error"} == 1`)
	prom.wantMembers(t, "when a fetch fails after the share was removed", memberOK)
	// ...and a not_found, which leaves the recording rule to hold the last
	// members served, does not bring it back either.
	fake.SetFault(imageA, scptest.Fault{Status: http.StatusNotFound})
	prom.waitNonEmpty(t, `scp_image_members_scrape_error{image_id="`+imageA+`", reason="not_found"} == 1`)
	prom.holdAlerts(t, 3*time.Second, "after the share was removed", func(active map[string][]promAlert) error {
		if alerting(active) {
			return fmt.Errorf("the alert for the removed share with %s came back", memberOdd)
		}
		return nil
	}, unexpectedRule)

	// Over the whole run, only the unexpected member ever alerted.
	hist := prom.alertHistory(t, []string{unexpectedRule}, "member_id")
	if len(hist) != 1 || hist[0].Metric["member_id"] != memberOdd {
		t.Errorf("%s alerted for %v, want only %s", unexpectedRule, hist, memberOdd)
	}
	// The failures were short: the refresh was never behind.
	prom.neverActive(t, refreshRule)
}

// wantMembers checks the members the exporter serves for imageA, by the
// member series Prometheus scraped last.
func (p *promServer) wantMembers(t *testing.T, when string, members ...string) {
	t.Helper()
	var got []string
	for _, s := range p.query(t, `scp_image_member_info{image_id="`+imageA+`"}`) {
		got = append(got, s.Metric["member_id"])
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(members)); !slices.Equal(got, want) {
		t.Fatalf("%s: member series of %s: %v, want %v", when, imageA, got, want)
	}
}

// checkRefreshKeepsUp checks, for each account ("" in the single-account
// form, whose series have no account label), that the refresh gauges of the
// exporter are scraped and show it keeping up with the fake, and that
// SCPMembersRefreshBehind is loaded, healthy and inactive.
func checkRefreshKeepsUp(t *testing.T, p *promServer, accounts ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(accounts))
	// Each gauge, and what its value must be here: the fake answers at
	// once, never throttles, and every image is fetched on every scrape.
	gauges := []struct {
		name string
		ok   func(float64) bool
		want string
	}{
		{"scp_image_members_stalest_age_seconds", func(v float64) bool { return v >= 0 && v < 60 }, "under a minute"},
		// Absent until a full pass completes, within a scrape or two here.
		{"scp_image_members_pass_duration_seconds", func(v float64) bool { return v > 0 && v < 60 }, "under a minute"},
		// One or two images at the default 200 requests per second.
		{"scp_image_members_pass_min_duration_seconds", func(v float64) bool { return v > 0 && v < 0.1 }, "images / (200/s), under 0.1s"},
		{"scp_api_rate_limit_requests_per_second", func(v float64) bool { return v == 200 }, "the default 200"},
		{"scp_api_rate_limit_decreases_total", func(v float64) bool { return v == 0 }, "0"},
	}
	for _, g := range gauges {
		var v []promSample
		var got []string
		if !testwait.Until(20*time.Second, func() bool {
			v, got = p.query(t, g.name), nil
			for _, s := range v {
				got = append(got, s.Metric["account"])
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		}) {
			t.Fatalf("%s: series for accounts %q, want %q", g.name, got, want)
		}
		for _, s := range v {
			f, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			if err != nil || !g.ok(f) {
				t.Errorf("%s: %v, want %s", g.name, s, g.want)
			}
		}
	}

	if v := p.query(t, `scp_image_members_stalest_age_seconds < on () group_left () scp:members_refresh_max_age_seconds`); len(v) != len(accounts) {
		t.Errorf("stalest ages under scp:members_refresh_max_age_seconds: %v, want one per account of %q", v, accounts)
	}
	var data struct {
		Groups []struct {
			Rules []struct {
				Name   string `json:"name"`
				Type   string `json:"type"`
				Health string `json:"health"`
				State  string `json:"state"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api("/api/v1/rules", nil, &data); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			if r.Name != refreshRule {
				continue
			}
			found = true
			if r.Type != "alerting" || r.Health != "ok" || r.State != "inactive" {
				t.Errorf("%s: type %s, health %s, state %s; want an alerting rule, ok and inactive", refreshRule, r.Type, r.Health, r.State)
			}
		}
	}
	if !found {
		t.Errorf("%s is not loaded from %s", refreshRule, rulesPath)
	}
	p.neverActive(t, refreshRule)
}

// neverActive checks that the alert has not been pending or firing in the
// last 10 minutes (the whole run).
func (p *promServer) neverActive(t *testing.T, alertname string) {
	t.Helper()
	if v := p.alertHistory(t, []string{alertname}); len(v) != 0 {
		t.Errorf("%s was active: %v", alertname, v)
	}
}

// promServer is a running Prometheus.
type promServer struct {
	url string
	out *testproc.Buffer
}

// startPrometheus runs Prometheus with the rules file, scraping target every
// second in job scp_exporter (the name SCPExporterDown looks for), with its
// storage in dir. It is stopped when the test ends.
func startPrometheus(t *testing.T, bin, dir, target string) *promServer {
	t.Helper()
	rules, err := filepath.Abs(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	return startPrometheusWithRules(t, bin, dir, target, rules)
}

// startPrometheusWithRules is startPrometheus with another rules file.
func startPrometheusWithRules(t *testing.T, bin, dir, target, rules string) *promServer {
	t.Helper()
	cfg := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: scp_exporter
    static_configs:
      - targets: ['%s']
`, rules, target))
	addr := freeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	// Prometheus gets SIGINT to shut down cleanly, SIGKILL if it still runs 10s later.
	proc := testproc.Start(t, "prometheus", cmd, 10*time.Second)
	p := &promServer{url: "http://" + addr, out: proc.Output}
	proc.WaitUntil(t, 20*time.Second, p.ready)
	return p
}

// ready reports whether Prometheus answers /-/ready with 200.
func (p *promServer) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/-/ready", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// api GETs a Prometheus HTTP API path and decodes its data into v.
func (p *promServer) api(path string, params url.Values, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", path, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) String() string { return fmt.Sprintf("%v => %v", s.Metric, s.Value[1]) }

// query evaluates expr now; a query Prometheus refuses fails the test.
func (p *promServer) query(t *testing.T, expr string) []promSample {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s, want vector", expr, data.ResultType)
	}
	var v []promSample
	if err := json.Unmarshal(data.Result, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitNonEmpty polls expr until it returns data.
func (p *promServer) waitNonEmpty(t *testing.T, expr string) []promSample {
	t.Helper()
	v := p.waitData(t, expr)
	if len(v) == 0 {
		t.Fatalf("no data in time for %s", expr)
	}
	return v
}

// waitData polls expr until it returns data, for up to 20s; it returns the
// last (empty) answer when none came.
func (p *promServer) waitData(t *testing.T, expr string) []promSample {
	t.Helper()
	var v []promSample
	testwait.Until(20*time.Second, func() bool {
		v = p.query(t, expr)
		return len(v) > 0
	})
	return v
}

// waitRulesHealthy waits until every rule of the file has been evaluated,
// and fails if any evaluation failed (a many-to-many join, say).
func (p *promServer) waitRulesHealthy(t *testing.T) {
	t.Helper()
	rules, evaluated := 0, 0
	if !testwait.Until(20*time.Second, func() bool {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				File  string `json:"file"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api("/api/v1/rules", nil, &data); err != nil {
			t.Fatal(err)
		}
		rules, evaluated = 0, 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				rules++
				switch r.Health {
				case "ok":
					evaluated++
				case "unknown":
				default:
					t.Fatalf("rule %s in %s: %s: %s", r.Name, g.File, r.Health, r.LastError)
				}
			}
		}
		if rules == 0 {
			t.Fatalf("prometheus loaded no rules from %s", rulesPath)
		}
		return evaluated == rules
	}) {
		t.Fatalf("only %d of %d rules evaluated in time", evaluated, rules)
	}
}

// promAlert is an active (pending or firing) alert.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// alertsByName returns the active (pending or firing) alerts of the rules
// named, by name.
func (p *promServer) alertsByName(t *testing.T, names ...string) map[string][]promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := p.api("/api/v1/alerts", nil, &data); err != nil {
		t.Fatal(err)
	}
	active := map[string][]promAlert{}
	for _, a := range data.Alerts {
		if name := a.Labels["alertname"]; slices.Contains(names, name) {
			active[name] = append(active[name], a)
		}
	}
	return active
}

// waitAlerts polls the active alerts of the rules named until done accepts
// them, for up to within, and fails the test listing the last ones it saw if
// done never does.
func (p *promServer) waitAlerts(t *testing.T, within time.Duration, what string, done func(map[string][]promAlert) bool, names ...string) map[string][]promAlert {
	t.Helper()
	var active map[string][]promAlert
	if !testwait.Until(within, func() bool {
		active = p.alertsByName(t, names...)
		return done(active)
	}) {
		var labels []string
		for _, alerts := range active {
			for _, a := range alerts {
				labels = append(labels, fmt.Sprintf("%s %v", a.State, a.Labels))
			}
		}
		slices.Sort(labels)
		t.Fatalf("timed out after %v waiting for %s; active:\n%s", within, what, strings.Join(labels, "\n"))
	}
	return active
}

// holdAlerts checks the active alerts of the rules named with check for d
// (several evaluations), and fails the test at the first check that fails.
func (p *promServer) holdAlerts(t *testing.T, d time.Duration, when string, check func(map[string][]promAlert) error, names ...string) {
	t.Helper()
	testwait.Holds(t, d, func() bool {
		if err := check(p.alertsByName(t, names...)); err != nil {
			t.Errorf("%s: %v", when, err)
			return false
		}
		return true
	}, "the alerts "+when)
}

// alertHistory returns the series of ALERTS (pending or firing) of the rules
// named in the last 10 minutes (the whole run): counted by the labels in by,
// or each as it is without them.
func (p *promServer) alertHistory(t *testing.T, rules []string, by ...string) []promSample {
	t.Helper()
	expr := `count_over_time(ALERTS{alertname=~"` + strings.Join(rules, "|") + `"}[10m])`
	if len(by) > 0 {
		expr = "count by (" + strings.Join(by, ", ") + ") (" + expr + ")"
	}
	return p.query(t, expr)
}

// grafanaDashboard is the part of the dashboard JSON the test reads.
type grafanaDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Editable      *bool  `json:"editable"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Regex      string          `json:"regex"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   string          `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// loadDashboard decodes dashboards/scp-image-sharing.json (dashboardPath).
func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

type grafanaPanel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // of a collapsed row
}

// checkDashboard reads the dashboard, checks its shape, and runs every query
// with its template variables replaced the way Grafana would, with images
// (the images the exporter watches) selected. The fixture must make every
// query return data: imageA shared with memberOdd, unexpected, and public
// where public is not allowed; offeredByVendor and offeredByStranger offered,
// memberOK an expected owner; a max_members, acceptedFromStranger accepted,
// and the share logged in the audit trail (changes_test.go).
func checkDashboard(t *testing.T, p *promServer, images ...string) {
	t.Helper()
	d := loadDashboard(t)
	if d.SchemaVersion < 39 || d.UID == "" || d.Title == "" {
		t.Errorf("dashboard schemaVersion %d, uid %q, title %q", d.SchemaVersion, d.UID, d.Title)
	}
	// The exporter's job and instance as Prometheus labels them; with
	// accounts, every account selected (Grafana's regexp for several
	// values), so that a query whose series have no account label shows
	// up as empty; in the single-account form All (allValue ".*"), which
	// also matches the absent label.
	build := p.waitNonEmpty(t, "scp_exporter_build_info")
	if len(build) != 1 {
		t.Fatalf("scp_exporter_build_info: %v, want one exporter", build)
	}
	// Grafana escapes a selected value for a regexp inside a PromQL string:
	// 127.0.0.1 becomes 127\\.0\\.0\\.1 in the query text.
	esc := func(v string) string { return strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`) }
	job, instance := esc(build[0].Metric["job"]), esc(build[0].Metric["instance"])
	var accounts []string
	for _, s := range p.waitNonEmpty(t, "count by (account) (scp_api_rate_limit_requests_per_second)") {
		if a := s.Metric["account"]; a != "" {
			accounts = append(accounts, esc(a))
		}
	}
	slices.Sort(accounts)
	account := ".*"
	if len(accounts) > 0 {
		account = "(" + strings.Join(accounts, "|") + ")"
	}
	subst := strings.NewReplacer(
		"${job}", job, "$job", job,
		"${instance}", instance, "$instance", instance,
		"${account}", account, "$account", account,
		"$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m",
	)

	vars := map[string]string{}
	regexes := map[string]string{}
	for _, v := range d.Templating.List {
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			json.Unmarshal(v.Query, &obj)
			q = obj.Query
		}
		vars[v.Name] = v.Type + " " + q
		regexes[v.Name] = v.Regex
		switch v.Name {
		case "image", "job", "instance", "account":
			if !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("the %s variable must allow several values and All, with allValue .*", v.Name)
			}
		}
	}
	if vars["datasource"] != "datasource prometheus" {
		t.Errorf("datasource variable: %q", vars["datasource"])
	}
	// job, instance and account list what the exporter serves.
	for name, want := range map[string][]string{"job": {job}, "instance": {instance}, "account": accounts} {
		m := regexp.MustCompile(`^query label_values\((.+), *(\w+)\)$`).FindStringSubmatch(vars[name])
		if m == nil || m[2] != name {
			t.Errorf("%s variable: %q", name, vars[name])
			continue
		}
		var got []string
		for _, s := range p.waitData(t, fmt.Sprintf("count by (%s) (%s)", m[2], subst.Replace(m[1]))) {
			if v := s.Metric[name]; v != "" {
				got = append(got, esc(v))
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s variable values: %v, want %v", name, got, want)
		}
	}
	// The image picker shows names and selects image IDs: Grafana runs the
	// query_result() query and applies the regexp to each series written as
	// name{label="value",...} value timestamp, labels in Prometheus's order.
	if q, ok := strings.CutPrefix(vars["image"], "query query_result("); !ok || !strings.HasSuffix(q, ")") {
		t.Errorf("image variable: %q", vars["image"])
	} else {
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(regexes["image"], "/"), "/"))
		if err != nil {
			t.Fatalf("image variable regex %q: %v", regexes["image"], err)
		}
		got := map[string]string{}
		for _, s := range p.waitNonEmpty(t, subst.Replace(strings.TrimSuffix(q, ")"))) {
			keys := slices.Sorted(maps.Keys(s.Metric))
			var b strings.Builder
			b.WriteString(s.Metric["__name__"] + "{")
			for _, k := range keys {
				if k != "__name__" {
					fmt.Fprintf(&b, "%s=%q,", k, s.Metric[k])
				}
			}
			line := strings.TrimSuffix(b.String(), ",") + fmt.Sprintf("} %v %v", s.Value[1], s.Value[0])
			m := re.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("image variable regex does not match %s", line)
				continue
			}
			got[m[re.SubexpIndex("value")]] = m[re.SubexpIndex("text")]
		}
		want := map[string]string{}
		for _, id := range images {
			want[id] = "image-" + id[:8] // the names configYAML and the accounts config give
		}
		if !maps.Equal(got, want) {
			t.Errorf("image variable: value => text %v, want %v", got, want)
		}
	}

	// Grafana puts several selected values in a regexp as (a|b).
	quoted := make([]string, len(images))
	for i, id := range images {
		quoted[i] = regexp.QuoteMeta(id)
	}
	selected := strings.Join(quoted, "|")
	if len(images) > 1 {
		selected = "(" + selected + ")"
	}
	// Every member and both expected values: All.
	subst = strings.NewReplacer(
		"${image}", selected, "$image", selected,
		"${job}", job, "$job", job,
		"${instance}", instance, "$instance", instance,
		"${account}", account, "$account", account,
		"${member}", ".*", "$member", ".*",
		"${expected}", ".*", "$expected", ".*",
		"$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m",
	)
	leftover := regexp.MustCompile(`\$\{?[A-Za-z_]`)
	// What some panels must show, beyond returning data.
	want := map[string]func([]promSample) error{
		"Unexpected shares now": func(v []promSample) error {
			for _, s := range v {
				if s.Metric["member_id"] != memberOdd {
					return fmt.Errorf("lists %v", s.Metric)
				}
				if n := s.Metric["name"]; n != "" && n != "image-"+imageA[:8] {
					return fmt.Errorf("image name %q", n)
				}
			}
			return nil
		},
		"Exporters up": wantValue("1"),
		// Every share of the images, the unexpected one among them, each
		// beside its image's name.
		"Every share": func(v []promSample) error {
			unexpected := false
			for _, s := range v {
				m := s.Metric
				if !slices.Contains(images, m["image_id"]) || m["name"] != "image-"+m["image_id"][:8] || m["member_id"] == "" || m["status"] == "" {
					return fmt.Errorf("lists %v", m)
				}
				unexpected = unexpected || m["member_id"] == memberOdd && m["expected"] == "false"
			}
			if !unexpected {
				return fmt.Errorf("the share with %s is not listed as unexpected: %v", memberOdd, v)
			}
			return nil
		},
		// One row per service: the Virtual Server's 1.3 and, with the
		// audit trail, the Logging & Audit service's CURRENT 1.1.
		"API version in use": func(v []promSample) error {
			want := map[string]string{"virtualserver": "1.3", "loggingaudit": "1.1"}
			seen := map[string]bool{}
			for _, s := range v {
				if want[s.Metric["service"]] != s.Metric["version"] || s.Metric["state"] != "current" {
					return fmt.Errorf("got %v", v)
				}
				seen[s.Metric["service"]] = true
			}
			if !seen["virtualserver"] {
				return fmt.Errorf("got %v, want the Virtual Server's 1.3 among them", v)
			}
			return nil
		},
		"Guaranteed support ends in": func(v []promSample) error {
			for _, s := range v {
				if s.Value[1] != "NaN" {
					return fmt.Errorf("got %v, want NaN (no end announced) for the CURRENT versions", v)
				}
			}
			if len(v) == 0 {
				return fmt.Errorf("got no row, want the versions in use")
			}
			return nil
		},
		// imageA is public; where an account allows it, it is not listed.
		"Images with unexpected visibility now": func(v []promSample) error {
			for _, s := range v {
				m := s.Metric
				if m["image_id"] != imageA || m["visibility"] != "public" || m["name"] != "image-"+imageA[:8] || (m["account"] != "" && m["account"] != "prod") {
					return fmt.Errorf("lists %v", m)
				}
			}
			return nil
		},
		// Every image's last fetch succeeded, in every account.
		"Coverage": func(v []promSample) error {
			for _, s := range v {
				if s.Value[1] != "1" {
					return fmt.Errorf("%v, want 1", s)
				}
			}
			return nil
		},
		"Unexpected visibility":         wantValue("1"),
		"Offers from unexpected owners": wantValue("1"),
		"Watched images by visibility": func(v []promSample) error {
			for _, s := range v {
				if s.Metric["visibility"] == "public" {
					return nil
				}
			}
			return fmt.Errorf("no public images in %v", v)
		},
		"Images offered to us": func(v []promSample) error {
			stranger := false
			for _, s := range v {
				m := s.Metric
				switch {
				case m["image_id"] == offeredByVendor.ID && m["name"] == offeredByVendor.Name && m["owner"] == memberOK && m["expected"] == "true":
				case m["image_id"] == offeredByStranger.ID && m["name"] == offeredByStranger.Name && m["owner"] == memberGone:
					stranger = stranger || m["expected"] == "false"
				default:
					return fmt.Errorf("lists %v", m)
				}
			}
			if !stranger {
				return fmt.Errorf("the offer by %s is not listed as unexpected: %v", memberGone, v)
			}
			return nil
		},
		// Every listing has succeeded, moments ago.
		"Time since the last successful listing": func(v []promSample) error {
			offers := false
			for _, s := range v {
				age, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
				if err != nil || math.IsNaN(age) || age < 0 || age > 120 {
					return fmt.Errorf("%v", s)
				}
				offers = offers || s.Metric["listing"] == "images offered to us"
			}
			if !offers {
				return fmt.Errorf("no row for the offered images: %v", v)
			}
			return nil
		},
	}

	var walk func([]grafanaPanel)
	queries, seen := 0, map[string]bool{}
	walk = func(panels []grafanaPanel) {
		for _, panel := range panels {
			walk(panel.Panels)
			if panel.Type == "row" {
				continue
			}
			seen[panel.Title] = true
			if panel.Datasource == nil || panel.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use the datasource variable", panel.Title)
			}
			if len(panel.Targets) == 0 {
				t.Errorf("panel %q has no query", panel.Title)
			}
			for _, target := range panel.Targets {
				expr := subst.Replace(target.Expr)
				if expr == "" || leftover.MatchString(expr) {
					t.Errorf("panel %q query %s: %q", panel.Title, target.RefID, expr)
					continue
				}
				queries++
				if onlyFailures[panel.Title] {
					// Empty while every fetch succeeds; a query error
					// fails the test. checkFetchFailures shows its rows.
					p.query(t, expr)
					continue
				}
				v := p.waitData(t, expr)
				if len(v) == 0 {
					t.Errorf("panel %q query %s returns no data: %s", panel.Title, target.RefID, expr)
					continue
				}
				if check := want[panel.Title]; check != nil {
					if err := check(v); err != nil {
						t.Errorf("panel %q query %s: %v", panel.Title, target.RefID, err)
					}
				}
			}
		}
	}
	walk(d.Panels)
	for title := range want {
		if !seen[title] {
			t.Errorf("no panel %q", title)
		}
	}
	t.Logf("%d dashboard queries returned data", queries)
}

// onlyFailures are the panels that list only images whose members fetch
// failed: empty while every fetch succeeds.
var onlyFailures = map[string]bool{"Members fetch failures per image": true, "Images with failed members fetches": true}

// checkFetchFailures runs the queries of the onlyFailures panels (the
// single-account form, every variable All) while the image's fetch fails
// for reason: each lists the image, and only it.
func checkFetchFailures(t *testing.T, p *promServer, image, reason string) {
	t.Helper()
	d := loadDashboard(t)
	subst := regexp.MustCompile(`\$\{?[A-Za-z_]\w*\}?`)
	ranges := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m")
	seen := 0
	for _, panel := range d.Panels {
		if !onlyFailures[panel.Title] {
			continue
		}
		seen++
		for _, target := range panel.Targets {
			expr := subst.ReplaceAllString(ranges.Replace(target.Expr), ".*")
			v := p.waitData(t, expr)
			for _, s := range v {
				if s.Metric["image_id"] != image || (target.RefID == "A" && s.Metric["reason"]+s.Metric["result"] != reason) {
					t.Errorf("panel %q query %s lists %v, want only %s (%s)", panel.Title, target.RefID, s.Metric, image, reason)
				}
			}
			if len(v) == 0 {
				t.Errorf("panel %q query %s lists nothing while %s fails: %s", panel.Title, target.RefID, image, expr)
			}
		}
	}
	if seen != len(onlyFailures) {
		t.Errorf("%d of the panels %v", seen, onlyFailures)
	}
}

// wantValue checks that a query returns one sample, of value want.
func wantValue(want string) func([]promSample) error {
	return func(v []promSample) error {
		if len(v) != 1 || v[0].Value[1] != want {
			return fmt.Errorf("got %v, want %s", v, want)
		}
		return nil
	}
}
