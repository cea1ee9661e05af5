package e2e

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	acceptedRule = "SCPImageAcceptedFromUnexpectedOwner"
	tooManyRule  = "SCPImageSharedWithTooManyAccounts"
	listFileRule = "SCPExpectedListFileUnreadable"
	// ourOwner is the owner value of our own images in the fake: a private
	// image teaches it to the exporter, which then tells the images others
	// share with us from ours in the shared listing.
	ourOwner = "0c0ffee00c0ffee00c0ffee00c0ffee0"
)

// TestPrometheusHandsOverAnAcceptedOffer runs the rules in a real Prometheus
// against the exporter in the accounts form (prod and dev, one fake API),
// scraped and evaluated every second, with the listings refreshed every
// 10s (the least discovery.refresh_interval allows).
//
// A stranger offers an image to both accounts; only prod does not expect
// its owner. SCPImageOfferedByUnexpectedOwner fires for prod; then the offer
// is accepted (it leaves /v1/pending-images and shows in the shared listing,
// owned by the stranger, in one step) and SCPImageAcceptedFromUnexpectedOwner
// takes over: at no evaluation in between is neither firing.
//
// While the offer alert waits out its `for`, the test checks max_members
// (prod: 1 for its images, served once as the account's default; imageA has
// two members and is over it, imageB has one and is at it; dev has no
// default, and imageA there has its own limit, 2, which it is at) and
// prod's expected_members_file: an edit makes
// memberOdd expected without a reload, and deleting the file keeps its last
// good list and says so.
func TestPrometheusHandsOverAnAcceptedOffer(t *testing.T) {
	promBin := requireTool(t, "prometheus", "apt-get install -y prometheus")
	start := time.Now()
	defer func() { t.Logf("wall time %s", time.Since(start).Round(100*time.Millisecond)) }()

	fake, apiURL := startFake(t, scptest.Options{})
	fake.SetMembers(imageA,
		scptest.Member{MemberID: memberOK, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: memberOdd, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00Z"})
	fake.SetMembers(imageB, scptest.Member{MemberID: memberOK, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"})
	fake.AddImages(
		scptest.Image{ID: imageA, Name: "golden", Visibility: "shared", Owner: ourOwner},
		scptest.Image{ID: imageB, Name: "base", Visibility: "private", Owner: ourOwner},
	)
	fake.SetPendingImages(offeredByStranger)

	dir := t.TempDir()
	listFile := writeFile(t, dir, "prod-trusted.txt", "# accounts prod's images may be shared with\n")
	scp := fmt.Sprintf("{endpoint: %q, access_key: %s, secret_key: %s}", apiURL, testAccessKey, testSecretKey)
	nameA, nameB := "image-"+imageA[:8], "image-"+imageB[:8]
	exp := startExporter(t, writeFile(t, dir, "config.yml", `accounts:
  - name: prod
    scp: `+scp+`
    expected_members: [`+memberOK+`]
    expected_members_file: `+listFile+`
    expected_image_owners: [`+memberOK+`]
    max_members: 1
    images:
      - {id: `+imageA+`, name: `+nameA+`}
      - {id: `+imageB+`, name: `+nameB+`}
    discovery: {refresh_interval: 10s}
  - name: dev
    scp: `+scp+`
    expected_members: [`+memberOK+`, `+memberOdd+`]
    expected_image_owners: [`+memberGone+`]
    images:
      - {id: `+imageA+`, name: `+nameA+`, max_members: 2}
    discovery: {refresh_interval: 10s}
`))
	prom := startPrometheus(t, promBin, dir, strings.TrimPrefix(exp.URL, "http://"))
	prom.waitRulesHealthy(t)

	// The offer is pending in prod's alerts (for: 1m), and imageA is over
	// prod's limit (pending too: for: 15m).
	// Up to 30s, here and below: two listing rounds at the least refresh
	// interval.
	active := prom.waitAlerts(t, 30*time.Second, "the offer and the share count to alert for prod", func(active map[string][]promAlert) bool {
		return len(active[offerRule]) > 0 && len(active[tooManyRule]) > 0
	}, offerRule, tooManyRule)
	for _, a := range active[offerRule] {
		if a.Labels["account"] != "prod" || a.Labels["image_id"] != offeredByStranger.ID || a.Labels["owner"] != memberGone {
			t.Errorf("%s is active for %v, want only prod's offer by %s", offerRule, a.Labels, memberGone)
		}
	}
	over := active[tooManyRule]
	if len(over) != 1 || over[0].Labels["account"] != "prod" || over[0].Labels["image_id"] != imageA || over[0].Labels["image_name"] != nameA || over[0].Labels["severity"] != "warning" {
		t.Errorf("%s: %v, want one alert, for prod's %s", tooManyRule, over, imageA)
	} else if d := over[0].Annotations["description"]; !strings.Contains(d, "shared with 2 accounts") || !strings.Contains(d, "max_members of 1") {
		t.Errorf("%s description does not say 2 accounts against max_members of 1: %q", tooManyRule, d)
	}
	// prod's limit is exported once, as its default, not per image; dev has
	// none, and only its imageA's own limit has a series of its own.
	for metric, want := range map[string]map[string]string{
		"scp_image_member_limit_default": {"prod/": "1"},
		"scp_image_member_limit":         {"dev/" + imageA: "2"},
	} {
		limits := map[string]string{}
		for _, s := range prom.query(t, metric) {
			limits[s.Metric["account"]+"/"+s.Metric["image_id"]] = fmt.Sprint(s.Value[1])
		}
		if !maps.Equal(limits, want) {
			t.Errorf("%s: %v, want %v", metric, limits, want)
		}
	}

	// prod's list file: memberOdd is not in it yet...
	oddInProd := func(expected string) string {
		return `scp_image_member_info{account="prod", image_id="` + imageA + `", member_id="` + memberOdd + `", expected="` + expected + `"}`
	}
	prom.waitNonEmpty(t, oddInProd("false"))
	// ...an edit adds it, and it is expected within one check of the file
	// (every 5s) and a scrape, without a reload.
	edited := time.Now()
	writeFile(t, dir, "prod-trusted.txt", "# accounts prod's images may be shared with\n"+memberOdd+"  # the QA account\n")
	prom.waitNonEmpty(t, oddInProd("true"))
	t.Logf("the file edit took effect in %s", time.Since(edited).Round(100*time.Millisecond))
	if v := prom.query(t, oddInProd("false")); len(v) != 0 {
		t.Errorf("memberOdd still unexpected in prod after the edit: %v", v)
	}
	if n := strings.Count(exp.Output.String(), "config reloaded"); n != 0 {
		t.Errorf("the config was reloaded %d times; the file edit needs none", n)
	}
	// Deleted: the last good list stays in use, and the file's gauge says
	// it could not be read.
	if err := os.Remove(listFile); err != nil {
		t.Fatal(err)
	}
	failed := prom.waitNonEmpty(t, `scp_expected_list_file_last_read_successful == 0`)
	if len(failed) != 1 || failed[0].Metric["file"] != listFile {
		t.Errorf("unreadable list files: %v, want %s", failed, listFile)
	}
	if v := prom.query(t, `scp_expected_list_file_entries{file="`+listFile+`"}`); len(v) != 1 || v[0].Value[1] != "1" {
		t.Errorf("entries of the deleted file: %v, want its last good list's 1", v)
	}
	if v := prom.query(t, oddInProd("true")); len(v) != 1 {
		t.Errorf("memberOdd is no longer expected in prod after the file was deleted: %v", v)
	}
	prom.waitAlerts(t, 30*time.Second, listFileRule+" to be active", func(active map[string][]promAlert) bool {
		return len(active[listFileRule]) == 1 && active[listFileRule][0].Labels["file"] == listFile
	}, listFileRule)

	// The offer alert fires once its minute has passed...
	firingAt := func(at time.Time) map[string]bool {
		got := map[string]bool{}
		for _, s := range prom.queryAt(t, `ALERTS{alertstate="firing", alertname=~"`+offerRule+`|`+acceptedRule+`"}`, at) {
			got[s.Metric["account"]+"/"+s.Metric["alertname"]] = true
		}
		return got
	}
	testwait.ForWithin(t, 90*time.Second, func() bool { return firingAt(time.Now())["prod/"+offerRule] }, offerRule+" to fire for prod")

	// ...and the accepted image's alert takes over from it, with one of
	// the two firing at every evaluation: polled here, then checked at each
	// evaluation from the series ALERTS has.
	accepted := time.Now()
	if !fake.AcceptPendingImage(offeredByStranger.ID) {
		t.Fatal("the fake had no offer to accept")
	}
	var gaps []time.Time
	testwait.ForWithin(t, 30*time.Second, func() bool {
		at := time.Now()
		f := firingAt(at)
		if !f["prod/"+offerRule] && !f["prod/"+acceptedRule] {
			gaps = append(gaps, at)
		}
		return f["prod/"+acceptedRule] && len(prom.query(t, `ALERTS{account="prod", alertname="`+offerRule+`"}`)) == 0
	}, acceptedRule+" to fire and "+offerRule+" to resolve for prod")
	t.Logf("handed over %s after the accept", time.Since(accepted).Round(100*time.Millisecond))
	// Prometheus commits each rule's results in turn: a poll that lands
	// inside the evaluation that hands over, after the offer rule (first in
	// the file) and before the accepted one, sees neither. Asked again at
	// the same time, now that the evaluation is over, each must show one.
	for _, at := range gaps {
		if f := firingAt(at); !f["prod/"+offerRule] && !f["prod/"+acceptedRule] {
			t.Errorf("neither alert was firing for prod %s after the accept", at.Sub(accepted).Round(time.Millisecond))
		} else {
			t.Logf("a poll %s after the accept landed inside an evaluation; the evaluation's result has one alert firing", at.Sub(accepted).Round(time.Millisecond))
		}
	}
	// Every evaluation from the accept (the offer alert was firing then) to
	// now, at a step a quarter of the evaluation interval: a gap of one
	// evaluation shows.
	step := 250 * time.Millisecond
	from := accepted.Truncate(step).Add(step)
	to := time.Now().Truncate(step)
	series := prom.queryRange(t, `count(ALERTS{alertstate="firing", account="prod", alertname=~"`+offerRule+`|`+acceptedRule+`"})`, from, to, step)
	want := int(to.Sub(from)/step) + 1
	if len(series) != 1 || len(series[0].Values) != want {
		got := 0
		if len(series) == 1 {
			got = len(series[0].Values)
		}
		t.Errorf("a firing alert for prod at %d of the %d steps from the accept to %s after it: %v", got, want, to.Sub(accepted).Round(time.Millisecond), series)
	}

	acc := prom.alertsByName(t, acceptedRule)[acceptedRule]
	if len(acc) != 1 {
		t.Fatalf("%s: %v, want one alert, for prod", acceptedRule, acc)
	}
	l := acc[0].Labels
	if l["account"] != "prod" || l["image_id"] != offeredByStranger.ID || l["owner"] != memberGone || l["image_name"] != offeredByStranger.Name || l["severity"] != "critical" {
		t.Errorf("%s labels: %v", acceptedRule, l)
	}
	if d := acc[0].Annotations["description"]; !strings.Contains(d, "Account prod") || !strings.Contains(d, memberGone) || !strings.Contains(d, offeredByStranger.ID) {
		t.Errorf("%s description does not name account prod, owner %s and image %s: %q", acceptedRule, memberGone, offeredByStranger.ID, d)
	}
	// Both accounts list the image as accepted, expected in dev only; no
	// account lists it as offered any more.
	shared := map[string]string{}
	for _, s := range prom.query(t, `scp_shared_image_info{image_id="`+offeredByStranger.ID+`", owner="`+memberGone+`", name="`+offeredByStranger.Name+`"}`) {
		shared[s.Metric["account"]] = s.Metric["expected"]
	}
	if want := map[string]string{"prod": "false", "dev": "true"}; !maps.Equal(shared, want) {
		t.Errorf("scp_shared_image_info by account => expected: %v, want %v", shared, want)
	}
	if v := prom.query(t, `scp_pending_image_info`); len(v) != 0 {
		t.Errorf("the accepted image is still offered: %v", v)
	}

	// Over the whole run, only these were ever active.
	hist := map[string]bool{}
	for _, s := range prom.alertHistory(t, []string{offerRule, acceptedRule, tooManyRule}, "alertname", "account", "image_id") {
		hist[s.Metric["alertname"]+" "+s.Metric["account"]+" "+s.Metric["image_id"]] = true
	}
	wantHist := map[string]bool{
		offerRule + " prod " + offeredByStranger.ID:    true,
		acceptedRule + " prod " + offeredByStranger.ID: true,
		tooManyRule + " prod " + imageA:                true,
	}
	if !maps.Equal(hist, wantHist) {
		t.Errorf("alerts over the run: %v, want %v", hist, wantHist)
	}
	prom.neverActive(t, refreshRule)
}

// queryAt evaluates expr at a given time, as query does now.
func (p *promServer) queryAt(t *testing.T, expr string, at time.Time) []promSample {
	t.Helper()
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	params := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64)}}
	if err := p.api("/api/v1/query", params, &data); err != nil {
		t.Fatalf("query %s at %s: %v", expr, at, err)
	}
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s, want vector", expr, data.ResultType)
	}
	return data.Result
}

// promSeries is one series of a range query's matrix.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// queryRange evaluates expr at every step from start to end.
func (p *promServer) queryRange(t *testing.T, expr string, start, end time.Time, step time.Duration) []promSeries {
	t.Helper()
	unix := func(tm time.Time) string { return strconv.FormatFloat(float64(tm.UnixNano())/1e9, 'f', 3, 64) }
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSeries `json:"result"`
	}
	params := url.Values{"query": {expr}, "start": {unix(start)}, "end": {unix(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	if err := p.api("/api/v1/query_range", params, &data); err != nil {
		t.Fatalf("query_range %s: %v", expr, err)
	}
	if data.ResultType != "matrix" {
		t.Fatalf("query_range %s: result type %s, want matrix", expr, data.ResultType)
	}
	return data.Result
}
