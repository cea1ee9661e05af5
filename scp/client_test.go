package scp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

func TestListImageMembers(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.fake.SetMembers(testImageID,
		scptest.Member{MemberID: testMemberID, Status: "pending", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00.5+09:00"},
		scptest.Member{MemberID: "acct-2", Status: "ACCEPTED", CreatedAt: "yesterday"},
	)
	got, err := e.client.ListImageMembers(context.Background(), testImageID)
	if err != nil {
		t.Fatal(err)
	}
	want := []scp.Member{
		{ID: testMemberID, Status: "pending", CreatedAt: time.Date(2025, 7, 22, 9, 0, 0, 0, time.UTC),
			UpdatedAt: time.Date(2025, 7, 26, 3, 0, 0, 500_000_000, time.UTC)},
		{ID: "acct-2", Status: "accepted"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d members, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Status != w.Status || !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("member %d = %+v, want %+v", i, g, w)
		}
	}
	if n := requestsTotal(t, e.reg, "200"); n != 1 {
		t.Errorf("scp_api_requests_total{code=200} = %v, want 1", n)
	}
	if n := counter(t, e.reg, "scp_api_request_duration_seconds", map[string]string{"operation": op, "code": "200"}); n != 1 {
		t.Errorf("scp_api_request_duration_seconds{code=200} count = %v, want 1", n)
	}
	for _, r := range scp.Reasons {
		if n := errorsTotal(t, e.reg, r); n != 0 {
			t.Errorf("errors_total{reason=%s} = %v after a success", r, n)
		}
	}

	// An image shared with nobody is an empty list, not an error.
	e.fake.SetMembers(testImageID)
	got, err = e.client.ListImageMembers(context.Background(), testImageID)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty image: %v, %v", got, err)
	}
}

// The fake verifies the signature over the full URL, so a client behind a
// path prefix (a proxy or private endpoint) still authenticates.
func TestEndpointWithPathPrefix(t *testing.T) {
	e := newEnv(t, func(h http.Handler) http.Handler { return http.StripPrefix("/private/scp", h) },
		func(o *scp.Options) { o.BaseURL += "/private/scp" })
	e.fake.SetMembers(testImageID, scptest.Member{MemberID: testMemberID, Status: "accepted"})
	got, err := e.client.ListImageMembers(context.Background(), testImageID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != testMemberID {
		t.Fatalf("got %+v", got)
	}
	if e.fake.AuthFailures() != 0 {
		t.Fatalf("the fake refused %d requests", e.fake.AuthFailures())
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts scp.Options
		want string
	}{
		{"relative endpoint", scp.Options{BaseURL: "virtualserver.example", AccessKey: "a", SecretKey: "s"}, "not an absolute http or https URL"},
		{"ftp endpoint", scp.Options{BaseURL: "ftp://example.com", AccessKey: "a", SecretKey: "s"}, "not an absolute http or https URL"},
		{"query", scp.Options{BaseURL: "https://example.com/?a=b", AccessKey: "a", SecretKey: "s"}, "must not have a query"},
		{"user info", scp.Options{BaseURL: "https://u:p@example.com", AccessKey: "a", SecretKey: "s"}, "must not have a query, fragment or user info"},
		{"fragment", scp.Options{BaseURL: "https://example.com/#x", AccessKey: "a", SecretKey: "s"}, "must not have a query, fragment or user info"},
		{"no access key", scp.Options{BaseURL: "https://example.com", SecretKey: "s"}, "access key and secret key are required"},
		{"no secret key", scp.Options{BaseURL: "https://example.com", AccessKey: "a"}, "access key and secret key are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scp.NewClient(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewClient error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// stallAfterHalf answers 200, sends part of the body and then stops sending.
func stallAfterHalf(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "200")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"members":[{"member_id":"abc",`))
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestErrorMapping(t *testing.T) {
	type want struct {
		reason scp.Reason
		status int    // for an *APIError; 0 when the error is not one
		code   string // APIError.Code
		detail string // APIError.Detail
		text   string // a substring of the error text
		// reqCode is the code label of scp_api_requests_total.
		reqCode string
	}
	tests := []struct {
		name    string
		fault   scptest.Fault
		handler http.HandlerFunc // used instead of the fake
		noImage bool             // the fake does not know the image
		ctxTO   time.Duration    // a deadline on the caller's context
		adjust  func(*scp.Options)
		want    want
		orWant  scp.Reason // a second acceptable reason
	}{
		{name: "401", fault: scptest.Fault{Status: 401},
			want: want{reason: scp.ReasonUnauthorized, status: 401, code: "Unauthorized", detail: "injected fault", reqCode: "401", text: "api answered 401 Unauthorized (code Unauthorized): injected fault"}},
		{name: "401 from a real signature check", adjust: func(o *scp.Options) { o.SecretKey = "wrong-" + testSecretKey },
			want: want{reason: scp.ReasonUnauthorized, status: 401, code: "Unauthorized", detail: "signature mismatch", reqCode: "401"}},
		{name: "403", fault: scptest.Fault{Status: 403},
			want: want{reason: scp.ReasonForbidden, status: 403, code: "Forbidden", detail: "injected fault", reqCode: "403"}},
		{name: "404 unknown image", noImage: true,
			want: want{reason: scp.ReasonNotFound, status: 404, code: "NotFound", detail: "image " + testImageID + " not found", reqCode: "404"}},
		{name: "429", fault: scptest.Fault{Status: 429},
			want: want{reason: scp.ReasonRateLimited, status: 429, code: "Too Many Requests", detail: "injected fault", reqCode: "429"}},
		{name: "400", fault: scptest.Fault{Status: 400},
			want: want{reason: scp.ReasonClientError, status: 400, code: "Bad Request", detail: "injected fault", reqCode: "400"}},
		{name: "409", fault: scptest.Fault{Status: 409},
			want: want{reason: scp.ReasonClientError, status: 409, code: "Conflict", detail: "injected fault", reqCode: "409"}},
		{name: "500", fault: scptest.Fault{Status: 500},
			want: want{reason: scp.ReasonServerError, status: 500, code: "Internal Server Error", detail: "injected fault", reqCode: "500"}},
		{name: "502", fault: scptest.Fault{Status: 502},
			want: want{reason: scp.ReasonServerError, status: 502, code: "Bad Gateway", detail: "injected fault", reqCode: "502"}},
		{name: "detail only", fault: scptest.Fault{Status: 404, Body: `{"errors":[{"detail":"x"}]}`},
			want: want{reason: scp.ReasonNotFound, status: 404, detail: "x", reqCode: "404", text: "api answered 404 Not Found: x"}},
		{name: "detail as a list", fault: scptest.Fault{Status: 400, Body: `{"errors":[{"status":400,"code":"E1","detail":["a","b"]},{"code":"E2","detail":"c"}]}`},
			want: want{reason: scp.ReasonClientError, status: 400, code: "E1", detail: "a; b; c", reqCode: "400"}},
		{name: "numeric code", fault: scptest.Fault{Status: 403, Body: `{"errors":[{"code":40301,"detail":"no"}]}`},
			want: want{reason: scp.ReasonForbidden, status: 403, code: "40301", detail: "no", reqCode: "403"}},
		{name: "older message shape", fault: scptest.Fault{Status: 404, Body: `{"message":"image is gone"}`},
			want: want{reason: scp.ReasonNotFound, status: 404, detail: "image is gone", reqCode: "404"}},
		{name: "html error page", fault: scptest.Fault{Status: 502, Body: "<html><body>Bad gateway</body></html>"},
			want: want{reason: scp.ReasonServerError, status: 502, reqCode: "502", text: "api answered 502 Bad Gateway"}},
		{name: "control characters in detail", fault: scptest.Fault{Status: 400, Body: `{"errors":[{"detail":"line1\nline2\u001b[31m"}]}`},
			want: want{reason: scp.ReasonClientError, status: 400, detail: "line1?line2?[31m", reqCode: "400"}},

		{name: "200 with bad JSON", fault: scptest.Fault{Body: `{"members":[`},
			want: want{reason: scp.ReasonDecode, reqCode: "200", text: "malformed response"}},
		{name: "200 with an HTML page", fault: scptest.Fault{Body: "<!doctype html><title>Login</title>"},
			want: want{reason: scp.ReasonDecode, reqCode: "200", text: "malformed response"}},
		{name: "200 without members", fault: scptest.Fault{Body: `{"images":[]}`},
			want: want{reason: scp.ReasonDecode, reqCode: "200", text: `no "members" list`}},
		{name: "200 with members not a list", fault: scptest.Fault{Body: `{"members":{"member_id":"abc"}}`},
			want: want{reason: scp.ReasonDecode, reqCode: "200", text: `"members" is not a list`}},
		{name: "oversized body", fault: scptest.Fault{BodySize: 64 << 20},
			adjust: func(o *scp.Options) { o.MaxBodyBytes = 2 << 20 },
			want:   want{reason: scp.ReasonDecode, reqCode: "200", text: "response body too large: more than 2097152 bytes"}},

		{name: "connection reset", fault: scptest.Fault{Reset: true},
			want: want{reason: scp.ReasonNetwork, reqCode: "error"}},
		{name: "truncated body", fault: scptest.Fault{Truncate: true},
			want: want{reason: scp.ReasonNetwork, reqCode: "200", text: "reading body"}, orWant: scp.ReasonTimeout},
		{name: "no answer within the request timeout", fault: scptest.Fault{Delay: time.Minute},
			adjust: func(o *scp.Options) { o.RequestTimeout = 100 * time.Millisecond },
			want:   want{reason: scp.ReasonTimeout, reqCode: "error"}},
		{name: "no answer within the caller's deadline", fault: scptest.Fault{Delay: time.Minute}, ctxTO: 100 * time.Millisecond,
			want: want{reason: scp.ReasonTimeout, reqCode: "error", text: "context deadline exceeded"}},
		{name: "body stalls", handler: stallAfterHalf,
			adjust: func(o *scp.Options) { o.RequestTimeout = 500 * time.Millisecond },
			want:   want{reason: scp.ReasonTimeout, reqCode: "200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wrap func(http.Handler) http.Handler
			if tc.handler != nil {
				wrap = func(http.Handler) http.Handler { return tc.handler }
			}
			e := newEnv(t, wrap, func(o *scp.Options) {
				o.MaxRetries = 0
				if tc.adjust != nil {
					tc.adjust(o)
				}
			})
			if !tc.noImage {
				e.fake.SetMembers(testImageID, scptest.Member{MemberID: testMemberID, Status: "pending"})
			}
			e.fake.SetFault(testImageID, tc.fault)
			ctx := context.Background()
			if tc.ctxTO > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
				defer cancel()
			}

			members, err := e.client.ListImageMembers(ctx, testImageID)
			if err == nil {
				t.Fatalf("no error; members %+v", members)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			reason := scp.ReasonOf(err)
			if reason != tc.want.reason && (tc.orWant == "" || reason != tc.orWant) {
				t.Errorf("ReasonOf = %q, want %q", reason, tc.want.reason)
			}
			if strings.Contains(msg, testSecretKey) || strings.Contains(msg, "wrong-") {
				t.Errorf("error text carries the secret key: %s", msg)
			}
			if !strings.HasPrefix(msg, op+": ") {
				t.Errorf("error text %q does not start with the operation", msg)
			}
			if tc.want.text != "" && !strings.Contains(msg, tc.want.text) {
				t.Errorf("error text %q does not contain %q", msg, tc.want.text)
			}

			var apiErr *scp.APIError
			isAPI := errors.As(err, &apiErr)
			if isAPI != (tc.want.status != 0) {
				t.Fatalf("errors.As(*APIError) = %v, want %v", isAPI, tc.want.status != 0)
			}
			if isAPI {
				if apiErr.StatusCode != tc.want.status || apiErr.Code != tc.want.code || apiErr.Detail != tc.want.detail ||
					apiErr.Reason != tc.want.reason || apiErr.Operation != op {
					t.Errorf("APIError = %+v, want status %d code %q detail %q reason %q", *apiErr,
						tc.want.status, tc.want.code, tc.want.detail, tc.want.reason)
				}
			}
			var decErr *scp.DecodeError
			if isDecode := errors.As(err, &decErr); isDecode != (tc.want.reason == scp.ReasonDecode) {
				t.Errorf("errors.As(*DecodeError) = %v for reason %s", isDecode, tc.want.reason)
			}
			if tc.fault.BodySize > 0 {
				if !errors.Is(err, scp.ErrBodyTooLarge) {
					t.Errorf("oversized body: error does not wrap ErrBodyTooLarge")
				}
				// The client stops at the cap: it read at most the cap and
				// one byte, not the 64 MiB the server offered.
				if n := e.bodyBytes.Load(); n > 2<<20+1 {
					t.Errorf("client read %d body bytes, cap is %d", n, 2<<20)
				}
			}

			// Exactly one attempt, counted once under its reason.
			if n := requestsTotal(t, e.reg, tc.want.reqCode); n != 1 {
				t.Errorf("scp_api_requests_total{code=%q} = %v, want 1", tc.want.reqCode, n)
			}
			for _, r := range scp.Reasons {
				want := 0.0
				if r == reason {
					want = 1
				}
				if n := errorsTotal(t, e.reg, r); n != want {
					t.Errorf("scp_api_request_errors_total{reason=%q} = %v, want %v", r, n, want)
				}
			}
			if n := retriesTotal(t, e.reg); n != 0 {
				t.Errorf("retries = %v with MaxRetries 0", n)
			}
		})
	}
}

// Every operation × reason series exists at zero before any request.
func TestMetricsStartAtZero(t *testing.T) {
	e := newEnv(t, nil, nil)
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			series[mf.GetName()]++
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s%v = %v before any request", mf.GetName(), m.GetLabel(), v)
			}
		}
	}
	if got, want := series["scp_api_request_errors_total"], len(scp.Operations)*len(scp.Reasons); got != want {
		t.Errorf("%d error series, want %d", got, want)
	}
	for _, o := range scp.Operations {
		for _, r := range scp.Reasons {
			if _, ok := metricValue(t, e.reg, "scp_api_request_errors_total", map[string]string{"operation": string(o), "reason": string(r)}); !ok {
				t.Errorf("no series for operation %s reason %s", o, r)
			}
		}
		if _, ok := metricValue(t, e.reg, "scp_api_request_retries_total", map[string]string{"operation": string(o)}); !ok {
			t.Errorf("no retries series for operation %s", o)
		}
	}
	if len(scp.Reasons) != 10 {
		t.Errorf("%d reasons, the metric help lists 10", len(scp.Reasons))
	}
	// A nil *Metrics is allowed: clients without metrics still work.
	plain := newEnv(t, nil, func(o *scp.Options) { o.Metrics = nil })
	plain.fake.SetFault(testImageID, scptest.Fault{Status: 500})
	if _, err := plain.client.ListImageMembers(context.Background(), testImageID); scp.ReasonOf(err) != scp.ReasonServerError {
		t.Fatalf("without metrics: %v", err)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fault       scptest.Fault
		maxRetries  int
		wantErr     scp.Reason // "" for success
		wantReqs    int        // requests the fake saw
		wantRetries float64
	}{
		{name: "503 then 200", fault: scptest.Fault{Status: 503, Times: 1}, maxRetries: 2, wantReqs: 2, wantRetries: 1},
		{name: "502 twice then 200", fault: scptest.Fault{Status: 502, Times: 2}, maxRetries: 2, wantReqs: 3, wantRetries: 2},
		{name: "504 then 200", fault: scptest.Fault{Status: 504, Times: 1}, maxRetries: 1, wantReqs: 2, wantRetries: 1},
		{name: "reset then 200", fault: scptest.Fault{Reset: true, Times: 1}, maxRetries: 1, wantReqs: 2, wantRetries: 1},
		{name: "stops at MaxRetries", fault: scptest.Fault{Status: 503}, maxRetries: 2, wantErr: scp.ReasonServerError, wantReqs: 3, wantRetries: 2},
		{name: "MaxRetries 0", fault: scptest.Fault{Status: 503}, maxRetries: 0, wantErr: scp.ReasonServerError, wantReqs: 1},
		{name: "404 is not retried", fault: scptest.Fault{Status: 404}, maxRetries: 3, wantErr: scp.ReasonNotFound, wantReqs: 1},
		{name: "401 is not retried", fault: scptest.Fault{Status: 401}, maxRetries: 3, wantErr: scp.ReasonUnauthorized, wantReqs: 1},
		{name: "500 is not retried", fault: scptest.Fault{Status: 500}, maxRetries: 3, wantErr: scp.ReasonServerError, wantReqs: 1},
		{name: "a decode error is not retried", fault: scptest.Fault{Body: "nope"}, maxRetries: 3, wantErr: scp.ReasonDecode, wantReqs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, func(o *scp.Options) { o.MaxRetries = tc.maxRetries })
			e.fake.SetMembers(testImageID, scptest.Member{MemberID: testMemberID, Status: "accepted"})
			e.fake.SetFault(testImageID, tc.fault)
			members, err := e.client.ListImageMembers(context.Background(), testImageID)
			if got := scp.ReasonOf(err); got != tc.wantErr {
				t.Fatalf("error %v (reason %q), want reason %q", err, got, tc.wantErr)
			}
			if err == nil && (len(members) != 1 || members[0].ID != testMemberID) {
				t.Errorf("members %+v", members)
			}
			if got := e.fake.Requests(testImageID); got != tc.wantReqs {
				t.Errorf("fake saw %d requests, want %d", got, tc.wantReqs)
			}
			if got := retriesTotal(t, e.reg); got != tc.wantRetries {
				t.Errorf("scp_api_request_retries_total = %v, want %v", got, tc.wantRetries)
			}
			var attempts float64
			for _, code := range []string{"200", "404", "401", "500", "502", "503", "504", "error"} {
				attempts += requestsTotal(t, e.reg, code)
			}
			if attempts != float64(tc.wantReqs) {
				t.Errorf("scp_api_requests_total sums to %v, want %d (each attempt counts)", attempts, tc.wantReqs)
			}
		})
	}
}

// Retry-After is honoured: the wait is the server's, not the short backoff.
func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, nil, func(o *scp.Options) { o.MaxRetries = 1 })
	e.fake.SetMembers(testImageID, scptest.Member{MemberID: testMemberID, Status: "accepted"})
	e.fake.SetFault(testImageID, scptest.Fault{Status: 429, RetryAfter: "1", Times: 1})
	start := time.Now()
	if _, err := e.client.ListImageMembers(context.Background(), testImageID); err != nil {
		t.Fatal(err)
	}
	// The first backoff is at most 200ms; only Retry-After makes it ~1s.
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("retried after %v, Retry-After asked for 1s", took)
	}
	if got := retriesTotal(t, e.reg); got != 1 {
		t.Errorf("retries = %v, want 1", got)
	}
	if got := errorsTotal(t, e.reg, scp.ReasonRateLimited); got != 1 {
		t.Errorf("errors_total{rate_limited} = %v, want 1", got)
	}
}

// When the context's deadline comes before the wait ends, the client gives
// up at once with the last answer instead of sleeping into the deadline.
func TestNoRetryPastDeadline(t *testing.T) {
	tests := []struct {
		name  string
		fault scptest.Fault
		want  scp.Reason
	}{
		{"Retry-After seconds", scptest.Fault{Status: 429, RetryAfter: "3600"}, scp.ReasonRateLimited},
		{"Retry-After HTTP date", scptest.Fault{Status: 503, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, scp.ReasonServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(o *scp.Options) { o.MaxRetries = 5 })
			e.fake.SetMembers(testImageID)
			e.fake.SetFault(testImageID, tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := e.client.ListImageMembers(ctx, testImageID)
			if scp.ReasonOf(err) != tc.want {
				t.Fatalf("error %v, want reason %s", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Errorf("the client waited until the deadline")
			}
			if got := e.fake.Requests(testImageID); got != 1 {
				t.Errorf("fake saw %d requests, want 1", got)
			}
			if got := retriesTotal(t, e.reg); got != 0 {
				t.Errorf("retries = %v, want 0", got)
			}
		})
	}
}

// A retry wait is cut short when the caller's context ends.
func TestRetryWaitEndsWithContext(t *testing.T) {
	e := newEnv(t, nil, func(o *scp.Options) { o.MaxRetries = 5 })
	e.fake.SetMembers(testImageID)
	e.fake.SetFault(testImageID, scptest.Fault{Status: 503, RetryAfter: "3600"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.client.ListImageMembers(ctx, testImageID)
		done <- err
	}()
	// Cancel once the client has the 503 and waits to retry, not while the
	// answer is still on its way.
	testwait.For(t, func() bool {
		return retriesOf(t, e, op) == 1
	}, "the client to wait for its retry")
	cancel()
	select {
	case err := <-done:
		if scp.ReasonOf(err) != scp.ReasonServerError {
			t.Fatalf("error %v, want the last answer (server_error)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client kept waiting after its context was canceled")
	}
	if got := e.fake.Requests(testImageID); got != 1 {
		t.Errorf("fake saw %d requests, want 1", got)
	}
}

// A budget shared by concurrent calls lets through only what its rate
// allows before the callers' deadline (one call: its burst is one); the
// rest fail as timeouts without reaching the API.
func TestRateLimiterShared(t *testing.T) {
	const burst, callers = 1, 12
	budget := scp.NewBudget(1.0/3600, 3, nil) // one call, then one an hour
	e := newEnv(t, nil, func(o *scp.Options) { o.Budget = budget })
	e.fake.SetMembers(testImageID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.client.ListImageMembers(ctx, testImageID)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, limited := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case scp.ReasonOf(err) == scp.ReasonTimeout && strings.Contains(err.Error(), "rate limit"):
			limited++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != burst || limited != callers-burst {
		t.Errorf("%d calls succeeded and %d were limited, want %d and %d", ok, limited, burst, callers-burst)
	}
	if got := e.fake.TotalRequests(); got != burst {
		t.Errorf("the API saw %d requests, the limiter allows %d", got, burst)
	}
}

// With a budget that refills, concurrent calls all succeed but never run
// ahead of it: n calls at r per second with burst 1 take at least (n-1)/r.
func TestRateLimiterPacesCalls(t *testing.T) {
	const n, perSecond = 6, 50
	e := newEnv(t, nil, func(o *scp.Options) { o.Budget = scp.NewBudget(perSecond, 1, nil) })
	e.fake.SetMembers(testImageID)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.client.ListImageMembers(context.Background(), testImageID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if floor := time.Duration(n-1) * time.Second / perSecond; time.Since(start) < floor-10*time.Millisecond {
		t.Errorf("%d calls took %v, the limiter allows no less than %v", n, time.Since(start), floor)
	}
	if got := e.fake.TotalRequests(); got != n {
		t.Errorf("fake saw %d requests, want %d", got, n)
	}
}

func TestImageIDValidation(t *testing.T) {
	bad := []string{
		"",
		"../../v1/x",
		"a/b",
		"%2e%2e",
		"..",
		testImageID + "/members?x=",
		testImageID + "/",
		testImageID + "\n",
		" " + testImageID,
		testImageID + "?x=1",
		testImageID + "#f",
		"70a599e0-31e7-49b7-b260-868f441e862",   // one short
		"70a599e0-31e7-49b7-b260-868f441e862bb", // one long
		"70a599e031e749b7b260868f441e862b",      // no dashes
		"70a599e0-31e7-49b7-b260-868f441e862g",  // not hex
	}
	e := newEnv(t, nil, nil)
	for _, id := range bad {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			_, err := e.client.ListImageMembers(context.Background(), id)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, scp.ErrInvalidID) {
				t.Errorf("error %v does not wrap ErrInvalidID", err)
			}
			if scp.ReasonOf(err) != scp.ReasonClientError {
				t.Errorf("ReasonOf = %s, want client_error", scp.ReasonOf(err))
			}
			if !strings.Contains(err.Error(), "is not a UUID") || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("unclear error text %q", err.Error())
			}
			if err := scp.ValidateImageID(id); err == nil {
				t.Error("ValidateImageID accepted it")
			}
		})
	}
	if n := e.fake.TotalRequests() + e.fake.AuthFailures(); n != 0 {
		t.Fatalf("the API saw %d requests for invalid IDs", n)
	}
	for _, code := range []string{"200", "404", "error"} {
		if n := requestsTotal(t, e.reg, code); n != 0 {
			t.Errorf("requests_total{code=%s} = %v", code, n)
		}
	}
	for _, good := range []string{testImageID, strings.ToUpper(testImageID)} {
		if err := scp.ValidateImageID(good); err != nil {
			t.Errorf("ValidateImageID(%q) = %v", good, err)
		}
	}
}

func TestValidateMemberID(t *testing.T) {
	for _, id := range []string{"a", testMemberID, "acct-1", strings.Repeat("A", 64)} {
		if err := scp.ValidateMemberID(id); err != nil {
			t.Errorf("ValidateMemberID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("a", 65), "a_b", "a b", "a/b", "a\n", "é"} {
		if err := scp.ValidateMemberID(id); !errors.Is(err, scp.ErrInvalidID) {
			t.Errorf("ValidateMemberID(%q) = %v, want ErrInvalidID", id, err)
		}
	}
}

func TestBaseURLFor(t *testing.T) {
	if got, want := scp.BaseURLFor("kr-west1", "e"), "https://virtualserver.kr-west1.e.samsungsdscloud.com"; got != want {
		t.Fatalf("BaseURLFor = %q, want %q", got, want)
	}
}

// retriesOf is scp_api_request_retries_total for one operation.
func retriesOf(t *testing.T, e *env, operation string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scp_api_request_retries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == operation {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
