package scptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

type logsAnswer struct {
	Logs  []map[string]any `json:"logs"`
	Count int              `json:"count"`
	Page  int              `json:"page"`
	Size  int              `json:"size"`
}

// getLogs makes a signed GET /v1/logs with the query and version header.
func getLogs(t *testing.T, srv *httptest.Server, q url.Values, version string) (int, logsAnswer, string) {
	t.Helper()
	spec := goodSpec(time.Now())
	spec.version = version
	req := newRequest(t, srv.URL+"/v1/logs?"+q.Encode(), spec)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a logsAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	return resp.StatusCode, a, string(body)
}

// The trail is signed, wants the loggingaudit version (or none), filters by
// [start_at, end_at] (required), pages newest first and counts the window.
func TestAuditLogs(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		fake.AddAuditEvents(scptest.AuditEvent{ID: "ev" + string(rune('0'+i)), Timestamp: base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
			EventName: "ShareImage", ResourceID: imageID, UserID: "u1"})
	}
	window := url.Values{"start_at": {"2026-03-01T12:01:00Z"}, "end_at": {"2026-03-01T12:03:00Z"}}

	code, a, body := getLogs(t, srv, window, scp.AuditService+" 1.1")
	if code != 200 || a.Count != 3 || len(a.Logs) != 3 || a.Logs[0]["id"] != "ev3" || a.Logs[2]["id"] != "ev1" || a.Size != scptest.DefaultAuditPageSize {
		t.Fatalf("%d %s", code, body)
	}
	if a.Logs[0]["root_resource_id"] != nil || a.Logs[0]["user_id"] != "u1" {
		t.Errorf("empty fields are null, others strings: %v", a.Logs[0])
	}
	paged := url.Values{"start_at": window["start_at"], "end_at": window["end_at"], "page": {"1"}, "size": {"2"}}
	if code, a, body := getLogs(t, srv, paged, ""); code != 200 || a.Count != 3 || a.Page != 1 || len(a.Logs) != 1 || a.Logs[0]["id"] != "ev1" {
		t.Errorf("page 1 of 2: %d %s", code, body)
	}
	paged.Set("page", "5")
	if code, a, body := getLogs(t, srv, paged, ""); code != 200 || len(a.Logs) != 0 || !strings.Contains(body, `"logs":[]`) {
		t.Errorf("past the end: %d %s", code, body)
	}

	for name, q := range map[string]url.Values{
		"no start_at":   {"end_at": window["end_at"]},
		"no end_at":     {"start_at": window["start_at"]},
		"not RFC 3339":  {"start_at": {"2026-03-01 12:00:00"}, "end_at": window["end_at"]},
		"negative page": {"start_at": window["start_at"], "end_at": window["end_at"], "page": {"-1"}},
		"size too big":  {"start_at": window["start_at"], "end_at": window["end_at"], "size": {"100000"}},
	} {
		if code, _, body := getLogs(t, srv, q, scp.AuditService+" 1.1"); code != 400 {
			t.Errorf("%s: %d %s, want 400", name, code, body)
		}
	}
	if code, _, body := getLogs(t, srv, window, "virtualserver 1.3"); code != 400 || !strings.Contains(body, scptest.UnsupportedAPIVersionCode) {
		t.Errorf("virtualserver version on the trail: %d %s, want 400", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/logs?"+window.Encode(), nil)
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: 500})
	if code, _, _ := getLogs(t, srv, window, scp.AuditService+" 1.1"); code != 500 {
		t.Errorf("with the fault: %d, want 500", code)
	}
	fake.SetFault(scptest.AuditLogsKey, scptest.Fault{})
	if code, _, _ := getLogs(t, srv, window, scp.AuditService+" 1.1"); code != 200 {
		t.Errorf("fault cleared: %d, want 200", code)
	}
	// The calls refused for their query or version are not counted; the others are.
	if st := fake.Stats(); st.Calls[scptest.AuditLogsKey] != 5 || fake.Requests(scptest.AuditLogsKey) != 5 {
		t.Errorf("stats %+v", st)
	}
}

// Fixtures add audit events at load or later, with the members they change.
func TestLoadAuditFixtures(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, Now: func() time.Time { return now }})
	err := fake.Load(strings.NewReader(`{"images":{"` + imageID + `":[]},"audit_events":[
		{"event":{"id":"a","timestamp":"2026-02-01T00:00:00Z","resource_id":"` + imageID + `","user_id":"u0"}},
		{"after":"10ms","event":{"id":"b","event_name":"ShareImage","resource_id":"` + imageID + `","user_id":"u1"},
		 "members":[{"member_id":"` + memberID + `","status":"pending"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, func() bool { return len(fake.AuditEvents()) == 2 }, "the delayed audit event")
	got := fake.AuditEvents()
	if got[0].ID != "a" || got[1].ID != "b" || got[1].Timestamp != "2026-03-01T12:00:00Z" {
		t.Errorf("events %+v", got)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	spec := goodSpec(now)
	resp, err := srv.Client().Do(newRequest(t, srv.URL+"/v1/images/"+imageID+"/members", spec))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), memberID) {
		t.Errorf("members after the event: %s", body)
	}
	if err := scptest.New(scptest.Options{}).Load(strings.NewReader(`{"audit_events":[{"after":"soon","event":{}}]}`)); err == nil {
		t.Error("an after that is not a duration was accepted")
	}
}
