package collector

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestFaultMatrix puts each way the API can misbehave beside a healthy image
// and checks the exact outcome: the faulty image's reason (or its documented
// handling), the healthy image's success, and that the scrape deadline held.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	// Generous: the machine running the tests may be loaded; the stall case
	// still proves the deadline holds.
	const deadline = 5 * time.Second
	for _, tc := range []struct {
		name       string
		fault      scptest.Fault
		members    []scptest.Member
		wantReason scp.Reason // empty: the image succeeds
		wantErr    error      // errors.Is target, when set
		check      func(t *testing.T, r ImageResult)
		retries    float64
	}{
		{name: "500", fault: scptest.Fault{Status: 500}, wantReason: scp.ReasonServerError},
		{name: "503 persistent, retried then given up", fault: scptest.Fault{Status: 503, RetryAfter: "0"}, wantReason: scp.ReasonServerError, retries: 2},
		{name: "503 once, retried to success", fault: scptest.Fault{Status: 503, Times: 1}, retries: 1},
		{name: "502 html page", fault: scptest.Fault{Status: 502, Body: "<html><body>Bad Gateway</body></html>", Times: 5}, wantReason: scp.ReasonServerError, retries: 2},
		{name: "429 with Retry-After beyond the deadline", fault: scptest.Fault{Status: 429, RetryAfter: "30"}, wantReason: scp.ReasonRateLimited},
		{name: "401", fault: scptest.Fault{Status: 401}, wantReason: scp.ReasonUnauthorized},
		{name: "403", fault: scptest.Fault{Status: 403}, wantReason: scp.ReasonForbidden},
		{name: "400", fault: scptest.Fault{Status: 400, Body: `{"message":"bad"}`}, wantReason: scp.ReasonClientError},
		{name: "200 html page", fault: scptest.Fault{Body: "<!DOCTYPE html><title>maintenance</title>"}, wantReason: scp.ReasonDecode},
		{name: "200 malformed json", fault: scptest.Fault{Body: `{"members":[{"member_id":`}, wantReason: scp.ReasonDecode},
		{name: "200 empty body", fault: scptest.Fault{Body: " "}, wantReason: scp.ReasonDecode},
		{name: "200 no members field", fault: scptest.Fault{Body: `{"images":[]}`}, wantReason: scp.ReasonDecode},
		{name: "200 members null", fault: scptest.Fault{Body: `{"members":null}`}, wantReason: scp.ReasonDecode},
		{name: "200 members not a list", fault: scptest.Fault{Body: `{"members":{"a":1}}`}, wantReason: scp.ReasonDecode},
		{name: "member without id", fault: scptest.Fault{Body: `{"members":[{"status":"pending"}]}`}, wantReason: scp.ReasonDecode},
		{name: "member id that is not an account id", fault: scptest.Fault{Body: `{"members":[{"member_id":"a\"b} 1\nevil","status":"pending"}]}`}, wantReason: scp.ReasonDecode},
		{name: "member with empty status", fault: scptest.Fault{Body: `{"members":[{"member_id":"abc","status":""}]}`}, wantReason: scp.ReasonDecode},
		{name: "64 MiB body over the 4 MiB cap", fault: scptest.Fault{BodySize: 64 << 20}, wantReason: scp.ReasonDecode, wantErr: scp.ErrBodyTooLarge},
		{name: "connection reset", fault: scptest.Fault{Reset: true}, wantReason: scp.ReasonNetwork, retries: 2},
		{name: "truncated body", fault: scptest.Fault{Truncate: true}, wantReason: scp.ReasonNetwork, retries: 2},
		{name: "30s stall", fault: scptest.Fault{Delay: 30 * time.Second}, wantReason: scp.ReasonTimeout},
		{name: "unknown status kept", members: []scptest.Member{{MemberID: acctOther, Status: "revoked"}},
			check: func(t *testing.T, r ImageResult) {
				if len(r.Members) != 1 || r.Members[0].Status != "revoked" {
					t.Errorf("members %+v, want one revoked", r.Members)
				}
			}},
		{name: "unparseable timestamps left zero", members: []scptest.Member{{MemberID: acctOther, Status: "pending", CreatedAt: "2025-13-45", UpdatedAt: "now"}},
			check: func(t *testing.T, r ImageResult) {
				if len(r.Members) != 1 || !r.Members[0].CreatedAt.IsZero() || !r.Members[0].UpdatedAt.IsZero() {
					t.Errorf("members %+v, want one with zero timestamps", r.Members)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			reg := prometheus.NewRegistry()
			metrics := scp.NewMetrics(reg)
			client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", MaxRetries: 2, Metrics: metrics})
			if err != nil {
				t.Fatal(err)
			}
			fake.SetMembers(imgA, scptest.Member{MemberID: acctExpected, Status: "accepted"})
			fake.SetMembers(imgB, tc.members...)
			fake.SetFault(imgB, tc.fault)
			tg := target(client, Image{ID: imgA}, Image{ID: imgB})
			tg.ScrapeTimeout = deadline
			c := New(tg, log.NewNopLogger(), nil)

			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			res, _ := c.Fetch(ctx)
			if took := time.Since(start); took > deadline+3*time.Second {
				t.Errorf("the scrape took %v, past its %v deadline", took, deadline)
			}
			healthy, faulty := res.Accounts[0].Images[0], res.Accounts[0].Images[1]
			if healthy.Err != nil {
				t.Errorf("the healthy image failed beside the fault: %v", healthy.Err)
			}
			if faulty.Reason != tc.wantReason {
				t.Errorf("reason %q (err %v), want %q", faulty.Reason, faulty.Err, tc.wantReason)
			}
			if (tc.wantReason == "") != (faulty.Err == nil) {
				t.Errorf("err %v with reason %q", faulty.Err, faulty.Reason)
			}
			if tc.wantErr != nil && !errors.Is(faulty.Err, tc.wantErr) {
				t.Errorf("err %v, want it to wrap %v", faulty.Err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, faulty)
			}
			if got := counterSum(t, reg, "scp_api_request_retries_total"); got != tc.retries {
				t.Errorf("retries counted %v, want %v", got, tc.retries)
			}
			// The metrics of the whole scrape still render.
			if _, err := testutil.CollectAndLint(c); err != nil {
				t.Errorf("collecting after the fault: %v", err)
			}
		})
	}
}

// counterSum adds up every series of a counter family in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
