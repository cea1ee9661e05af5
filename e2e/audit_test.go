package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestAuditTrailFindsAShareWithinSeconds runs the binary with audit.enabled
// (poll_interval 5s, the least allowed) and members.refresh_interval 1h: once
// the first pass is done, only the trail can bring an image's members back
// before the hour is over. A share added together with its audit event is
// exported, unexpected, with the user who made it, within 15s; the member
// calls it took are the changed image's only. With GET /v1/logs failing
// (500), the failure shows in the request metrics and
// scp_audit_last_success_timestamp_seconds stops, the exporter serves on,
// and a share made meanwhile is found once the trail answers again: the
// next read covers the gap.
func TestAuditTrailFindsAShareWithinSeconds(t *testing.T) {
	const images = 20
	start := time.Now()
	defer func() { t.Logf("wall time %s", time.Since(start).Round(100*time.Millisecond)) }()

	fake, apiURL := startFake(t, scptest.Options{})
	ids := make([]string, images)
	var list strings.Builder
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fake.SetMembers(ids[i], scptest.Member{MemberID: memberOK, Status: "accepted"})
		fmt.Fprintf(&list, "  - id: %s\n", ids[i])
	}
	exp := startExporter(t, writeFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`scp:
  endpoint: %s
  audit_endpoint: %s
  access_key: %s
  secret_key: %s
expected_members: [%s]
members:
  refresh_interval: 1h
audit:
  enabled: true
  poll_interval: 5s
images:
%s`, apiURL, apiURL, testAccessKey, testSecretKey, memberOK, list.String())))

	// The first pass, and a first good read of the trail.
	fetched := func(m metricsPage) int {
		n := 0
		for _, v := range m.values("scp_image_members_scrape_success", nil) {
			if v == 1 {
				n++
			}
		}
		return n
	}
	m := scrapeMetrics(t, exp)
	testwait.ForWithin(t, 20*time.Second, func() bool {
		m = scrapeMetrics(t, exp)
		return fetched(m) == images &&
			m.value("scp_audit_last_success_timestamp_seconds", nil) > 0
	}, "the first pass and a first read of the audit trail")
	if v := m.value("scp_audit_poll_interval_seconds", nil); v != 5 {
		t.Errorf("scp_audit_poll_interval_seconds %v, want 5", v)
	}

	// A share, and the audit event that made it.
	share := func(id, member, eventID, user string) time.Time {
		fake.SetMembers(id, scptest.Member{MemberID: memberOK, Status: "accepted"}, scptest.Member{MemberID: member, Status: "pending"})
		at := time.Now()
		fake.AddAuditEvents(scptest.AuditEvent{ID: eventID, Timestamp: at.UTC().Format(time.RFC3339Nano),
			EventName: "CreateImageMember", EventType: "Management", ResourceID: id, ResourceType: "Image",
			ProductName: "Virtual Server", Status: "Success", UserID: user, UserName: user + "@example.com"})
		return at
	}
	found := func(m metricsPage, id, member, user string) bool {
		return m.value("scp_image_member_info", map[string]string{"image_id": id, "member_id": member, "expected": "false", "status": "pending"}) == 1 &&
			m.value("scp_image_change_info", map[string]string{"image_id": id, "event_name": "CreateImageMember", "user_id": user}) == 1
	}
	changed := ids[images/2]
	before := fake.Stats().Calls["list_image_members"]
	at := share(changed, memberOdd, "ev-share-1", "user-7f3a")
	testwait.ForWithin(t, 15*time.Second, func() bool { return found(scrapeMetrics(t, exp), changed, memberOdd, "user-7f3a") },
		"the share with "+memberOdd+" and its user, through the audit trail")
	t.Logf("the share was exported %s after its event", time.Since(at).Round(100*time.Millisecond))
	if calls := fake.Stats().Calls["list_image_members"] - before; calls > 2 {
		t.Errorf("%d members calls to find the share, want the changed image's only (not a sweep)", calls)
	}
	m = scrapeMetrics(t, exp)
	if ts := m.value("scp_image_change_timestamp_seconds", map[string]string{"image_id": changed}); ts < float64(at.Unix()-1) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("scp_image_change_timestamp_seconds of %s: %v, want the event's %v", changed, ts, at.Unix())
	}
	if n := m.value("scp_audit_events_total", map[string]string{"event_name": "CreateImageMember"}); n != 1 {
		t.Errorf(`scp_audit_events_total{event_name="CreateImageMember"} %v, want 1`, n)
	}
	if n := len(m.values("scp_image_change_info", nil)); n != 1 {
		t.Errorf("%d scp_image_change_info series, want the changed image's only", n)
	}

	// The trail fails: its errors show, its last success stops...
	fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: http.StatusInternalServerError})
	errs := map[string]string{"operation": "list_audit_logs", "reason": "server_error"}
	testwait.ForWithin(t, 15*time.Second, func() bool {
		m = scrapeMetrics(t, exp)
		return m.value("scp_api_request_errors_total", errs) > 0 && m.value("scp_audit_poll_failures_total", nil) > 0
	}, "a failed read of the audit trail in the metrics")
	last, failures := m.value("scp_audit_last_success_timestamp_seconds", nil), m.value("scp_audit_poll_failures_total", nil)
	// ...and a share made meanwhile is not found, for longer than a poll
	// interval (the sweep would take an hour), while the exporter serves on.
	other := ids[images/4]
	share(other, memberGone, "ev-share-2", "user-9c2d")
	testwait.Holds(t, 8*time.Second, func() bool {
		m := scrapeMetrics(t, exp)
		return ready(t, exp) == http.StatusOK && m.value("scp_audit_last_success_timestamp_seconds", nil) == last &&
			!found(m, other, memberGone, "user-9c2d") && found(m, changed, memberOdd, "user-7f3a") &&
			fetched(m) == images
	}, "the exporter serving, its audit trail's last success stopped and the new share unseen while the trail fails")
	m = scrapeMetrics(t, exp)
	if n := m.value("scp_audit_poll_failures_total", nil); n <= failures {
		t.Errorf("scp_audit_poll_failures_total %v after 8s of failures, want more than %v", n, failures)
	}
	if n := m.value("scp_api_requests_total", map[string]string{"operation": "list_audit_logs", "code": "500"}); n == 0 {
		t.Errorf(`no scp_api_requests_total{operation="list_audit_logs",code="500"}: %v`, m.values("scp_api_requests_total", map[string]string{"operation": "list_audit_logs"}))
	}

	// The trail answers again: the next read covers the gap.
	fake.SetFault(scptest.AuditLogsKey, scptest.Fault{})
	testwait.ForWithin(t, 15*time.Second, func() bool {
		m = scrapeMetrics(t, exp)
		return found(m, other, memberGone, "user-9c2d") && m.value("scp_audit_last_success_timestamp_seconds", nil) > last
	}, "the share made while the trail failed, once it answers again")
	// The failure was logged once, and the recovery.
	out := exp.Output.String()
	if n := strings.Count(out, "reading the audit trail failed"); n != 1 {
		t.Errorf("the failing audit trail was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "the audit trail answers again") {
		t.Errorf("the audit trail's recovery was not logged:\n%s", out)
	}
}

// metricsPage is a scrape of the exporter, parsed.
type metricsPage map[string][]*model.Sample

// scrapeMetrics GETs the exporter's /metrics and parses it.
func scrapeMetrics(t *testing.T, exp *exporterProcess) metricsPage {
	t.Helper()
	status, body := httpGet(t, exp.URL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	page := metricsPage{}
	for name, mf := range families {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mf)
		if err != nil {
			t.Fatal(err)
		}
		page[name] = vec
	}
	return page
}

// values returns the samples of the family whose labels include want (nil
// or empty: all of them), by their labels.
func (m metricsPage) values(name string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[name] {
		ok := true
		for k, v := range want {
			ok = ok && string(s.Metric[model.LabelName(k)]) == v
		}
		if ok {
			out[s.Metric.String()] = float64(s.Value)
		}
	}
	return out
}

// value returns the one sample of the family whose labels include want, or
// -1 when there is none or more than one.
func (m metricsPage) value(name string, want map[string]string) float64 {
	v := m.values(name, want)
	if len(v) != 1 {
		return -1
	}
	return slices.Collect(maps.Values(v))[0]
}
