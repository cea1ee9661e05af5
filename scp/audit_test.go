package scp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// auditBase is the start of the test windows: a fixed instant.
var auditBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func auditEvent(i int, at time.Time) scptest.AuditEvent {
	return scptest.AuditEvent{
		ID: fmt.Sprintf("ev-%04d", i), Timestamp: at.Format(time.RFC3339Nano), EventName: "CreateImageMember",
		ResourceID: imageID(i), UserID: "user-1", UserName: "alice",
	}
}

// auditEnv is newEnv with the audit endpoint set to the fake, recording the
// query of every /v1/logs call.
func auditEnv(t *testing.T) (*env, func() []url.Values) {
	t.Helper()
	var mu sync.Mutex
	var queries []url.Values
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/logs" {
				mu.Lock()
				queries = append(queries, r.URL.Query())
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}, func(o *scp.Options) { o.AuditEndpoint = o.BaseURL + "/" })
	return e, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return append([]url.Values{}, queries...)
	}
}

// The window is read page by page until a short page, signed, with the
// loggingaudit version header (the fake refuses any other), bounds rounded
// outwards to the second.
func TestListAuditEventsPages(t *testing.T) {
	e, queries := auditEnv(t)
	const n = 2*scp.AuditPageSize + 7
	for i := range n {
		e.fake.AddAuditEvents(auditEvent(i, auditBase.Add(time.Duration(i)*time.Second/10)))
	}
	e.fake.AddAuditEvents(auditEvent(9000, auditBase.Add(-time.Hour)), auditEvent(9001, auditBase.Add(time.Hour)))

	got, err := e.client.ListAuditEvents(context.Background(), auditBase.Add(500*time.Millisecond-time.Second), auditBase.Add(time.Minute-500*time.Millisecond), scp.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != n || got.Pages != 3 || len(got.Skipped) != 0 {
		t.Fatalf("%d events in %d pages (skipped %v), want %d in 3", len(got.Events), got.Pages, got.Skipped, n)
	}
	seen := map[string]bool{}
	for _, ev := range got.Events {
		seen[ev.ID] = true
		if ev.UserID != "user-1" || ev.UserName != "alice" || ev.EventName != "CreateImageMember" || ev.Timestamp.Location() != time.UTC {
			t.Fatalf("event %+v", ev)
		}
	}
	if len(seen) != n || seen["ev-9000"] || seen["ev-9001"] {
		t.Errorf("%d distinct events; out-of-window ones seen: %v %v", len(seen), seen["ev-9000"], seen["ev-9001"])
	}
	qs := queries()
	if len(qs) != 3 {
		t.Fatalf("%d calls, want 3", len(qs))
	}
	for i, q := range qs {
		if q.Get("start_at") != "2026-03-01T11:59:59Z" || q.Get("end_at") != "2026-03-01T12:01:00Z" ||
			q.Get("page") != strconv.Itoa(i) || q.Get("size") != strconv.Itoa(scp.AuditPageSize) {
			t.Errorf("call %d: query %v", i, q)
		}
	}
	if v := counter(t, e.reg, "scp_api_requests_total", map[string]string{"operation": "list_audit_logs", "code": "200"}); v != 3 {
		t.Errorf("list_audit_logs 200 requests = %v, want 3", v)
	}
	if e.fake.Stats().Calls[scptest.AuditLogsKey] != 3 || e.fake.AuthFailures() != 0 {
		t.Errorf("fake stats %+v", e.fake.Stats())
	}
}

// An empty window is one call; an end before the start is refused unasked.
func TestListAuditEventsEmptyAndBadWindow(t *testing.T) {
	e, queries := auditEnv(t)
	got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	if err != nil || len(got.Events) != 0 || got.Pages != 1 {
		t.Fatalf("empty window: %+v, %v", got, err)
	}
	if _, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(-time.Minute), scp.AuditFilter{}); err == nil {
		t.Fatal("a window ending before its start was accepted")
	}
	if len(queries()) != 1 {
		t.Errorf("%d calls, want 1", len(queries()))
	}
}

// Entries that cannot be used are skipped and counted, by kind, and the
// others of the same page kept; zone-less times are UTC; root_resource_id
// and numbers as strings are read.
func TestListAuditEventsReadTolerantly(t *testing.T) {
	e, _ := auditEnv(t)
	e.fake.AddAuditEvents(
		scptest.AuditEvent{Raw: []byte(`7`)},
		scptest.AuditEvent{Raw: []byte(`{"id":null,"timestamp":"2026-03-01T12:00:01Z"}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":"no-time","timestamp":null}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":"bad-time","timestamp":"yesterday"}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":"odd","timestamp":"2026-03-01T12:00:02","event_name":{"x":1},"resource_id":"` + imageID(1) + `"}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":12345,"timestamp":"2026-03-01T21:00:03+09:00","root_resource_id":"` + imageID(2) + `","user_id":"u\u0007x"}`)},
		auditEvent(3, auditBase.Add(4*time.Second)),
	)
	got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{scp.AnomalyNotAnObject: 1, scp.AnomalyMissingID: 1, scp.AnomalyMissingTimestamp: 1, scp.AnomalyBadTimestamp: 1}
	if fmt.Sprint(got.Skipped) != fmt.Sprint(want) {
		t.Errorf("skipped %v, want %v", got.Skipped, want)
	}
	byID := map[string]scp.AuditEvent{}
	for _, ev := range got.Events {
		byID[ev.ID] = ev
	}
	if len(byID) != 3 {
		t.Fatalf("events %+v, want odd, 12345 and ev-0003", got.Events)
	}
	if ev := byID["odd"]; ev.EventName != "" || ev.ResourceID != imageID(1) || !ev.Timestamp.Equal(auditBase.Add(2*time.Second)) || ev.Timestamp.Location() != time.UTC {
		t.Errorf("odd: %+v", ev)
	}
	if ev := byID["12345"]; ev.RootResourceID != imageID(2) || !ev.Timestamp.Equal(auditBase.Add(3*time.Second)) || ev.UserID != "u?x" {
		t.Errorf("12345: %+v", ev)
	}
	for kind, n := range map[string]float64{scp.AnomalyNotAnObject: 1, scp.AnomalyMissingID: 1, scp.AnomalyMissingTimestamp: 1, scp.AnomalyBadTimestamp: 1, scp.AnomalyFieldType: 1} {
		if v := counter(t, e.reg, "scp_api_answer_anomalies_total", map[string]string{"operation": "list_audit_logs", "kind": kind}); v != n {
			t.Errorf("anomalies of kind %s: %v, want %v", kind, v, n)
		}
	}
}

// fixedLogs serves GET /v1/logs from page, without the fake: a server that
// ignores page, or one that never ends.
func fixedLogs(t *testing.T, page func(n int) string) (*scp.Client, *int) {
	t.Helper()
	var mu sync.Mutex
	calls := 0
	e := newEnv(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" { // the version list, read before the first window
				w.Write([]byte(`{"versions":[{"id":"v1.1","status":"CURRENT"}]}`))
				return
			}
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			w.Write([]byte(page(n)))
		})
	}, nil)
	c, err := scp.NewClient(scp.Options{BaseURL: e.srv.URL, AuditEndpoint: e.srv.URL, AccessKey: testAccessKey, SecretKey: testSecretKey, HTTPClient: e.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func fullPage(first int) string {
	var b strings.Builder
	b.WriteString(`{"logs":[`)
	for i := range scp.AuditPageSize {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"e%d","timestamp":"2026-03-01T12:00:00Z"}`, first+i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// Paging ends at a short page or an empty page (count is only a hint that
// more follow), and a server that repeats a page or never ends is an
// error, not an endless loop.
func TestListAuditEventsPagingGuards(t *testing.T) {
	window := func(c *scp.Client) (scp.AuditEvents, error) {
		return c.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	}
	t.Run("count of the page only", func(t *testing.T) {
		// count equal to a full page is not the window's end: with a count
		// per page, stopping there read 100 of 250 events.
		c, calls := fixedLogs(t, func(n int) string {
			if n == 3 {
				return `{"count":1,"logs":[{"id":"last","timestamp":"2026-03-01T12:00:00Z"}]}`
			}
			return strings.Replace(fullPage(n*1000), `{"logs"`, fmt.Sprintf(`{"count":%d,"logs"`, scp.AuditPageSize), 1)
		})
		if got, err := window(c); err != nil || len(got.Events) != 2*scp.AuditPageSize+1 || *calls != 3 {
			t.Fatalf("%d events, %d calls, %v; want every page read", len(got.Events), *calls, err)
		}
	})
	t.Run("pages capped below ours, with a count", func(t *testing.T) {
		const capped, count = 10, 25
		c, calls := fixedLogs(t, func(n int) string {
			var b strings.Builder
			fmt.Fprintf(&b, `{"count":%d,"logs":[`, count)
			for i := range min(capped, count-(n-1)*capped) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"id":"e%d","timestamp":"2026-03-01T12:00:00Z"}`, (n-1)*capped+i)
			}
			b.WriteString(`]}`)
			return b.String()
		})
		if got, err := window(c); err != nil || len(got.Events) != count || *calls != 3 {
			t.Fatalf("%d events, %d calls, %v; want all %d in 3 pages", len(got.Events), *calls, err, count)
		}
	})
	t.Run("empty page", func(t *testing.T) {
		c, calls := fixedLogs(t, func(n int) string {
			if n == 2 {
				return `{"logs":null}`
			}
			return fullPage(n * 1000)
		})
		if got, err := window(c); err != nil || len(got.Events) != scp.AuditPageSize || *calls != 2 {
			t.Fatalf("%d events, %d calls, %v", len(got.Events), *calls, err)
		}
	})
	t.Run("page ignored", func(t *testing.T) {
		c, calls := fixedLogs(t, func(int) string { return fullPage(0) })
		_, err := window(c)
		var de *scp.DecodeError
		if !errors.As(err, &de) || scp.ReasonOf(err) != scp.ReasonDecode || !strings.Contains(err.Error(), "ignore page") || *calls != 2 {
			t.Fatalf("%d calls, %v; want a decode error after 2", *calls, err)
		}
	})
	t.Run("never ends", func(t *testing.T) {
		// The minute is read again in halves down to one second, which
		// still never ends: an error after at most MaxAuditPages a halving.
		c, calls := fixedLogs(t, func(n int) string { return fullPage(n * 1000) })
		_, err := window(c)
		if halvings := 7; !errors.Is(err, scp.ErrAuditTooManyEvents) || *calls < 2*scp.MaxAuditPages || *calls > (halvings+1)*scp.MaxAuditPages {
			t.Fatalf("%d calls, %v; want ErrAuditTooManyEvents after at most %d", *calls, err, (halvings+1)*scp.MaxAuditPages)
		}
	})
	t.Run("no logs key", func(t *testing.T) {
		c, _ := fixedLogs(t, func(int) string { return `{"images":[]}` })
		if _, err := window(c); scp.ReasonOf(err) != scp.ReasonDecode {
			t.Fatalf("%v, want a decode error", err)
		}
	})
}

// A failing trail is an API error with its reason, counted under its own
// operation; the secret is in no error. Throttling lowers the account's
// budget, which the audit calls share. Bodies are bounded.
func TestListAuditEventsFailures(t *testing.T) {
	e, _ := auditEnv(t)
	e.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: http.StatusInternalServerError})
	_, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	var apiErr *scp.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError || scp.ReasonOf(err) != scp.ReasonServerError || !strings.HasPrefix(err.Error(), "list_audit_logs: ") {
		t.Fatalf("%v, want a 500 APIError", err)
	}
	if strings.Contains(err.Error(), testSecretKey) {
		t.Fatal("the secret key is in the error")
	}
	if v := counter(t, e.reg, "scp_api_request_errors_total", map[string]string{"operation": "list_audit_logs", "reason": "server_error"}); v != 1 {
		t.Errorf("list_audit_logs server_error = %v, want 1", v)
	}

	budget := scp.NewBudget(50, 1, nil)
	c, err := scp.NewClient(scp.Options{BaseURL: e.srv.URL, AuditEndpoint: e.srv.URL, AccessKey: testAccessKey, SecretKey: testSecretKey,
		HTTPClient: e.srv.Client(), Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	// The audit service's throttling is its own (issue 22): it neither
	// lowers the account's rate nor stops the Virtual Server calls; its
	// Retry-After stops the audit calls alone, without a request.
	e.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"})
	if _, err := c.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); scp.ReasonOf(err) != scp.ReasonRateLimited {
		t.Fatalf("%v, want rate_limited", err)
	}
	if r, left := budget.Rate(), budget.PauseLeft(); r != 50 || left != 0 {
		t.Errorf("budget rate %v, paused %v after a throttled audit call; want 50, not paused", r, left)
	}
	e.fake.SetMembers(testImageID)
	if _, err := c.ListImageMembers(context.Background(), testImageID); err != nil {
		t.Errorf("a members call after the audit service's Retry-After: %v", err)
	}
	before := e.fake.Stats().Calls[scptest.AuditLogsKey]
	_, err = c.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	if !errors.Is(err, scp.ErrPaused) || scp.ReasonOf(err) != scp.ReasonRateLimited {
		t.Errorf("an audit call within the Retry-After: %v; want ErrPaused, rate_limited", err)
	}
	if n := e.fake.Stats().Calls[scptest.AuditLogsKey]; n != before {
		t.Errorf("%d audit requests made within the Retry-After, want none", n-before)
	}

	// A body beyond the client's cap is a decode error, as for every call.
	e.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{})
	for i := range 50 {
		e.fake.AddAuditEvents(scptest.AuditEvent{ID: strconv.Itoa(i), Timestamp: auditBase.Format(time.RFC3339), EventName: strings.Repeat("x", 100)})
	}
	small, err := scp.NewClient(scp.Options{BaseURL: e.srv.URL, AuditEndpoint: e.srv.URL, AccessKey: testAccessKey, SecretKey: testSecretKey,
		HTTPClient: e.srv.Client(), MaxBodyBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); !errors.Is(err, scp.ErrBodyTooLarge) || scp.ReasonOf(err) != scp.ReasonDecode {
		t.Errorf("%v, want ErrBodyTooLarge", err)
	}

	if _, err := scp.NewClient(scp.Options{BaseURL: e.srv.URL, AuditEndpoint: "logs.example", AccessKey: "a", SecretKey: "b"}); err == nil {
		t.Error("an audit endpoint that is not a URL was accepted")
	}
}

// Without an override the URL comes from IAM's catalog: from the answer
// Resolve read, else from a catalog read of its own (once), else an error.
func TestAuditEndpointFromCatalog(t *testing.T) {
	t.Run("before Resolve", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		if _, _, ok := e.client.AuditEndpoint(); ok {
			t.Fatal("an audit endpoint before any")
		}
		if _, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); !errors.Is(err, scp.ErrNoAuditEndpoint) {
			t.Fatalf("%v, want ErrNoAuditEndpoint", err)
		}
	})
	t.Run("from Resolve's catalog read", func(t *testing.T) {
		e, _ := resolveEnv(t)
		e.fake.AddAuditEvents(auditEvent(1, auditBase.Add(time.Second)))
		e.client.Resolve(context.Background(), scp.ResolveConfig{IAMEndpoint: e.srv.URL, Region: "kr-east1", Fallback: unusedURL, APIVersion: "1.3"})
		if u, src, ok := e.client.AuditEndpoint(); !ok || u != e.srv.URL || src != scp.SourceCatalog {
			t.Fatalf("audit endpoint %q %q %v", u, src, ok)
		}
		got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
		if err != nil || len(got.Events) != 1 {
			t.Fatalf("%+v, %v", got, err)
		}
		if n := e.fake.Requests(scptest.EndpointsKey); n != 1 {
			t.Errorf("%d catalog reads, want 1", n)
		}
	})
	t.Run("read when needed", func(t *testing.T) {
		e, _ := resolveEnv(t)
		e.fake.SetCatalog(
			scptest.Endpoint{Region: "kr-west1", ServiceType: "scp-virtualserver"},
			scptest.Endpoint{Region: "", ServiceType: "logging-audit", ServiceName: "Logging & Audit"},
		)
		// An explicit Virtual Server endpoint: Resolve reads no catalog.
		e.client.Resolve(context.Background(), scp.ResolveConfig{Endpoint: e.srv.URL, IAMEndpoint: e.srv.URL, Region: "kr-west1", APIVersion: "1.3"})
		if n := e.fake.Requests(scptest.EndpointsKey); n != 0 {
			t.Fatalf("%d catalog reads with an explicit endpoint", n)
		}
		for range 2 {
			if _, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.fake.Requests(scptest.EndpointsKey); n != 1 {
			t.Errorf("%d catalog reads, want 1", n)
		}
	})
	t.Run("not in the catalog", func(t *testing.T) {
		e, _ := resolveEnv(t)
		e.fake.SetCatalog(scptest.Endpoint{Region: "kr-west1", ServiceType: "scp-virtualserver"})
		e.client.Resolve(context.Background(), scp.ResolveConfig{IAMEndpoint: e.srv.URL, Region: "kr-west1", Fallback: unusedURL, APIVersion: "1.3"})
		catalogReads := e.fake.Requests(scptest.EndpointsKey)
		for range 3 { // polls: the catalog Resolve read is not asked again
			_, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
			if !errors.Is(err, scp.ErrNoAuditCatalogEntry) || !strings.HasPrefix(err.Error(), "list_audit_logs: ") {
				t.Fatalf("%v, want ErrNoAuditCatalogEntry", err)
			}
		}
		if n := e.fake.Requests(scptest.EndpointsKey) - catalogReads; n != 0 {
			t.Errorf("%d catalog reads by three polls, want none until Resolve reads it again", n)
		}
	})
}

func TestPickAuditEndpoint(t *testing.T) {
	tests := []struct {
		name    string
		catalog []scp.Endpoint
		want    string // empty: an error
	}{
		{name: "the region's entry", want: "https://logs.west", catalog: []scp.Endpoint{
			{Region: "kr-east1", ServiceType: "scp-loggingaudit", URL: "https://logs.east"},
			{Region: "KR-WEST1", ServiceType: "scp-loggingaudit", URL: "https://logs.west/"},
		}},
		{name: "by service name", want: "https://logs.west", catalog: []scp.Endpoint{
			{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west"},
			{Region: "kr-west1", ServiceType: "scp-la", ServiceName: "Logging & Audit", URL: "https://logs.west"},
		}},
		{name: "a global entry", want: "https://logs.global", catalog: []scp.Endpoint{
			{Region: "kr-east1", ServiceType: "scp-loggingaudit", URL: "https://logs.east"},
			{Region: "global", ServiceType: "Logging-Audit", URL: "https://logs.global"},
		}},
		{name: "listed once elsewhere", want: "https://logs", catalog: []scp.Endpoint{
			{Region: "kr-east1", ServiceType: "scp-loggingaudit", URL: "https://logs"},
		}},
		{name: "other regions at other URLs", catalog: []scp.Endpoint{
			{Region: "kr-east1", ServiceType: "scp-loggingaudit", URL: "https://logs.east"},
			{Region: "kr-south1", ServiceType: "scp-loggingaudit", URL: "https://logs.south"},
		}},
		{name: "an invalid URL", catalog: []scp.Endpoint{
			{Region: "kr-west1", ServiceType: "scp-loggingaudit", URL: "https://user:pw@logs.west"},
		}},
		{name: "no entry", catalog: []scp.Endpoint{{Region: "kr-west1", ServiceType: "scp-virtualserver", URL: "https://vs.west"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scp.PickAuditEndpoint(tc.catalog, "kr-west1")
			if tc.want == "" {
				if !errors.Is(err, scp.ErrNoAuditCatalogEntry) || strings.Contains(err.Error(), "pw") {
					t.Fatalf("got %q, %v; want ErrNoAuditCatalogEntry without the password", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// However the server pages — the size asked for or a cap of its own, said
// in the answer or not, count of the window or of the page — every event of
// the window is read.
func TestListAuditEventsReadsEveryPageHoweverTheServerPages(t *testing.T) {
	const n = 250
	for _, p := range []scptest.AuditPaging{
		{},
		{CountPerPage: true},
		{PageCap: scp.AuditPageSize, CountPerPage: true},
		{PageCap: 40, SizeShown: true},
		{PageCap: 40, SizeShown: true, CountPerPage: true},
		{PageCap: 40}, // the window's count says more follow
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			e, _ := auditEnv(t)
			e.fake.SetAuditPaging(p)
			for i := range n {
				e.fake.AddAuditEvents(auditEvent(i, auditBase.Add(time.Duration(i)*time.Second/10)))
			}
			got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if ids := uniqueIDs(got.Events); ids != n {
				t.Errorf("%d of %d events read in %d pages", ids, n, got.Pages)
			}
		})
	}
}

// A window of more events than MaxAuditPages pages hold is read in halves,
// not given up.
func TestListAuditEventsSplitsAWindowTooLargeForThePages(t *testing.T) {
	e, _ := auditEnv(t)
	// Pages of 10 (the server's cap, said in its answers) keep the window
	// small enough to read quickly: more than MaxAuditPages pages of them.
	const pageCap = 10
	e.fake.SetAuditPaging(scptest.AuditPaging{PageCap: pageCap, SizeShown: true})
	const n = scp.MaxAuditPages*pageCap + 50
	events := make([]scptest.AuditEvent, n)
	for i := range n {
		events[i] = auditEvent(i, auditBase.Add(time.Duration(i)*time.Minute/n))
	}
	e.fake.AddAuditEvents(events...)
	got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if ids := uniqueIDs(got.Events); ids != n || got.Splits == 0 {
		t.Errorf("%d of %d events read, %d splits, %d pages", ids, n, got.Splits, got.Pages)
	}
}

func uniqueIDs(events []scp.AuditEvent) int {
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.ID] = true
	}
	return len(seen)
}

// With the audit version unset (latest), the client reads the Logging &
// Audit service's version list and requests the newest CURRENT version it
// reads: 1.1 against a service that lists 1.0 (past its date, refused) and
// 1.1; the support end of a version the service does not call CURRENT is
// the list's not_before.
func TestAuditVersionFromTheServicesList(t *testing.T) {
	e, _ := auditEnv(t)
	e.fake.SetAuditVersionList(scptest.Version{ID: "v1.0", Status: "DEPRECATED", NotBefore: "2026-02-23"}, scptest.Version{ID: "v1.1", Status: "CURRENT"})
	e.fake.RetireAuditVersions("1.0")
	e.fake.AddAuditEvents(auditEvent(1, auditBase))
	got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{})
	if err != nil || len(got.Events) != 1 {
		t.Fatalf("%d events, %v; want the trail read with 1.1", len(got.Events), err)
	}
	st, ok := e.client.AuditStatus()
	if !ok || st.APIVersion().HeaderValue() != "loggingaudit 1.1" || st.APIVersion().State != scp.StateCurrent || !st.Info.Offered || !st.Info.VersionsRead {
		t.Errorf("audit status %+v %v; want loggingaudit 1.1, current, offered", st, ok)
	}
	if n := e.fake.VersionListRequests(); n != 1 {
		t.Errorf("%d version list reads, want 1", n)
	}

	// Pinned to 1.0, retired: refused as unsupported_version, and the list
	// is read again before the next call.
	pinned := newEnv(t, nil, func(o *scp.Options) { o.AuditEndpoint = o.BaseURL; o.AuditAPIVersion = "1.0" })
	pinned.fake.SetAuditVersionList(scptest.Version{ID: "v1.0", Status: "DEPRECATED", NotBefore: "2026-02-23"}, scptest.Version{ID: "v1.1", Status: "CURRENT"})
	pinned.fake.RetireAuditVersions("1.0")
	for range 2 {
		if _, err := pinned.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); scp.ReasonOf(err) != scp.ReasonUnsupportedVersion {
			t.Fatalf("pinned to a retired version: %v, want unsupported_version", err)
		}
	}
	if n := pinned.fake.VersionListRequests(); n != 2 {
		t.Errorf("%d version list reads after two refusals, want 2 (read again after each)", n)
	}
	st, _ = pinned.client.AuditStatus()
	if end := st.APIVersion().SupportEnd(); !end.Equal(time.Date(2026, 2, 24, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("support of 1.0 ends %v, want the day after the list's not_before (2026-02-23)", end)
	}
}

// A service whose list names no version the client reads, or whose list
// cannot be read, gets the default version (1.1).
func TestAuditVersionDefault(t *testing.T) {
	e, _ := auditEnv(t)
	e.fake.SetFault(scptest.VersionsKey, scptest.Fault{Status: 500, Times: 1})
	if _, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	if st, ok := e.client.AuditStatus(); !ok || st.APIVersion().ID != scp.DefaultAuditAPIVersion || st.Info.VersionsRead {
		t.Errorf("audit status %+v, want the default %s without a list", st, scp.DefaultAuditAPIVersion)
	}
}

// A filter is sent with every page of the window; a service that refuses
// it answers ErrAuditFilterRefused (a client error), while a version
// refusal stays unsupported_version whatever the filter.
func TestAuditFilter(t *testing.T) {
	e, queries := auditEnv(t)
	e.fake.SetAuditPaging(scptest.AuditPaging{PageCap: 10, SizeShown: true})
	for i := range 15 {
		e.fake.AddAuditEvents(scptest.AuditEvent{ID: fmt.Sprintf("vs-%d", i), Timestamp: auditBase.Add(time.Second).Format(time.RFC3339),
			ResourceID: "img", ServiceType: "scp-virtualserver", ResourceType: "Image"})
	}
	e.fake.AddAuditEvents(scptest.AuditEvent{ID: "other", Timestamp: auditBase.Add(time.Second).Format(time.RFC3339), ResourceID: "vol", ServiceType: "scp-blockstorage"})
	filter := scp.AuditFilter{ServiceType: "scp-virtualserver", ResourceType: "Image"}
	got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), filter)
	if err != nil || len(got.Events) != 15 || got.Pages != 2 {
		t.Fatalf("filtered: %d events in %d pages, %v; want the 15 Virtual Server events in 2 pages", len(got.Events), got.Pages, err)
	}
	for _, q := range queries() {
		if q.Get("service_type") != "scp-virtualserver" || q.Get("resource_type") != "Image" {
			t.Errorf("a page was asked for without the filter: %v", q)
		}
	}
	if filter.String() != "resource_type=Image&service_type=scp-virtualserver" || !(scp.AuditFilter{}).IsZero() || filter.IsZero() {
		t.Errorf("filter %q", filter.String())
	}

	e.fake.SetAuditFilters(scptest.AuditFilters{Refuse: true})
	_, err = e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), filter)
	if !errors.Is(err, scp.ErrAuditFilterRefused) || scp.ReasonOf(err) != scp.ReasonClientError || !strings.Contains(err.Error(), "service_type=scp-virtualserver") {
		t.Fatalf("refused filter: %v; want ErrAuditFilterRefused naming the filter", err)
	}
	if got, err := e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), scp.AuditFilter{}); err != nil || len(got.Events) != 16 {
		t.Fatalf("unfiltered after a refusal: %d events, %v; want all 16", len(got.Events), err)
	}

	e.fake.RetireAuditVersions("1.1")
	_, err = e.client.ListAuditEvents(context.Background(), auditBase, auditBase.Add(time.Minute), filter)
	if errors.Is(err, scp.ErrAuditFilterRefused) || scp.ReasonOf(err) != scp.ReasonUnsupportedVersion {
		t.Errorf("a version refusal with a filter: %v; want unsupported_version, not a filter refusal", err)
	}
}
