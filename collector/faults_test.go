package collector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// TestFaultMatrix puts each way the API can misbehave beside a healthy image
// and checks the exact outcome of the first scrape of a fresh engine: the
// faulty image's reason (or its documented handling), the healthy image's
// success, that the scrape deadline held, and that an image whose first
// fetch failed has no member series (it has no last good fetch to show).
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	const (
		// Generous: the machine running the tests may be loaded; the stall
		// case still proves the deadline holds.
		deadline = 5 * time.Second
		// The engine's bound on one call with its retries: longer than the
		// scrape, as in the exporter, where a call may outlive the scrape
		// that wanted it.
		callTimeout = 15 * time.Second
	)
	for _, tc := range []struct {
		name        string
		fault       scptest.Fault
		members     []scptest.Member
		callTimeout time.Duration // the engine's, when not callTimeout
		wantReason  scp.Reason    // empty: the image succeeds
		wantErr     error         // errors.Is target, when set
		check       func(t *testing.T, r engine.ImageView)
		retries     float64
	}{
		{name: "500", fault: scptest.Fault{Status: 500}, wantReason: scp.ReasonServerError},
		{name: "503 persistent, retried then given up", fault: scptest.Fault{Status: 503, RetryAfter: "0"}, wantReason: scp.ReasonServerError, retries: 2},
		{name: "503 once, retried to success", fault: scptest.Fault{Status: 503, Times: 1}, retries: 1},
		{name: "502 html page", fault: scptest.Fault{Status: 502, Body: "<html><body>Bad Gateway</body></html>", Times: 5}, wantReason: scp.ReasonServerError, retries: 2},
		{name: "429 with Retry-After beyond the call timeout", fault: scptest.Fault{Status: 429, RetryAfter: "30"}, wantReason: scp.ReasonRateLimited},
		{name: "401", fault: scptest.Fault{Status: 401}, wantReason: scp.ReasonUnauthorized},
		{name: "403", fault: scptest.Fault{Status: 403}, wantReason: scp.ReasonForbidden},
		{name: "400", fault: scptest.Fault{Status: 400, Body: `{"message":"bad"}`}, wantReason: scp.ReasonClientError},
		{name: "200 html page", fault: scptest.Fault{Body: "<!DOCTYPE html><title>maintenance</title>"}, wantReason: scp.ReasonDecode},
		{name: "200 malformed json", fault: scptest.Fault{Body: `{"members":[{"member_id":`}, wantReason: scp.ReasonDecode},
		{name: "200 empty body", fault: scptest.Fault{Body: " "}, wantReason: scp.ReasonDecode},
		{name: "200 no members field", fault: scptest.Fault{Body: `{"images":[]}`}, wantReason: scp.ReasonDecode},
		// Read as the SDK reads them: a null list is empty, an unusable
		// entry is skipped (counted), an empty status is shown as unknown.
		{name: "200 members null", fault: scptest.Fault{Body: `{"members":null}`}},
		{name: "200 members not a list", fault: scptest.Fault{Body: `{"members":{"a":1}}`}, wantReason: scp.ReasonDecode},
		{name: "member without id", fault: scptest.Fault{Body: `{"members":[{"status":"pending"}]}`}},
		{name: "member id that is not an account id", fault: scptest.Fault{Body: `{"members":[{"member_id":"a\"b} 1\nevil","status":"pending"}]}`}},
		{name: "member with empty status", fault: scptest.Fault{Body: `{"members":[{"member_id":"abc","status":""}]}`},
			members: []scptest.Member{{MemberID: "abc", Status: "unknown"}}},
		{name: "64 MiB body over the 4 MiB cap", fault: scptest.Fault{BodySize: 64 << 20}, wantReason: scp.ReasonDecode, wantErr: scp.ErrBodyTooLarge},
		{name: "connection reset", fault: scptest.Fault{Reset: true}, wantReason: scp.ReasonNetwork, retries: 2},
		{name: "truncated body", fault: scptest.Fault{Truncate: true}, wantReason: scp.ReasonNetwork, retries: 2},
		// The call outlives the scrape: the scrape ends at its deadline, and
		// the image's first fetch has not completed.
		{name: "30s stall", fault: scptest.Fault{Delay: 30 * time.Second}, wantReason: engine.ReasonNotFetchedYet},
		// The engine's call timeout ends the call within the scrape.
		{name: "30s stall beyond the call timeout", fault: scptest.Fault{Delay: 30 * time.Second}, callTimeout: 500 * time.Millisecond,
			wantReason: scp.ReasonTimeout, wantErr: context.DeadlineExceeded},
		{name: "unknown status kept", members: []scptest.Member{{MemberID: acctOther, Status: "revoked"}},
			check: func(t *testing.T, r engine.ImageView) {
				if len(r.Members) != 1 || r.Members[0].Status != "revoked" {
					t.Errorf("members %+v, want one revoked", r.Members)
				}
			}},
		{name: "unparseable timestamps left zero", members: []scptest.Member{{MemberID: acctOther, Status: "pending", CreatedAt: "2025-13-45", UpdatedAt: "now"}},
			check: func(t *testing.T, r engine.ImageView) {
				if len(r.Members) != 1 || !r.Members[0].CreatedAt.IsZero() || !r.Members[0].UpdatedAt.IsZero() {
					t.Errorf("members %+v, want one with zero timestamps", r.Members)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requests := scp.NewMetrics()
			fake, client := setupWith(t, scptest.Options{}, scp.Options{MaxRetries: 2, Metrics: requests})
			fake.SetMembers(imgA, scptest.Member{MemberID: acctExpected, Status: "accepted"})
			fake.SetMembers(imgB, tc.members...)
			fake.SetFault(imgB, tc.fault)
			o := engineOptions(client, engine.Image{ID: imgA}, engine.Image{ID: imgB})
			o.CallTimeout = callTimeout
			if tc.callTimeout > 0 {
				o.CallTimeout = tc.callTimeout
			}
			tg := sourceScope(startEngine(t, o))
			testAccountOf(tg, 0).Requests = requests
			tg.ScrapeTimeout = deadline
			c := New(tg, log.NewNopLogger())

			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			res := c.Scrape(ctx)
			if took := time.Since(start); took > deadline+3*time.Second {
				t.Errorf("the scrape took %v, past its %v deadline", took, deadline)
			}
			images := res.Accounts[0].Members.Images
			if len(images) != 2 || images[0].ID != imgA || images[1].ID != imgB {
				t.Fatalf("images %+v, want A then B", images)
			}
			healthy, faulty := images[0], images[1]
			if healthy.Err != nil || !healthy.Known || len(healthy.Members) != 1 {
				t.Errorf("the healthy image beside the fault: err %v, known %v, members %+v", healthy.Err, healthy.Known, healthy.Members)
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
			// The series of this very scrape: the faulty image has member
			// series only when it was fetched, and they lint.
			rc := resultCollector{Collector: c, res: res}
			if got := membersCounter(t, rc, "scp_api_request_retries_total"); got != tc.retries {
				t.Errorf("members retries counted %v, want %v", got, tc.retries)
			}
			wantInfo, wantCounts := 0, 0
			if tc.wantReason == "" {
				wantInfo, wantCounts = len(tc.members), 3 // pending, accepted, rejected
				for _, m := range tc.members {
					if m.Status != "pending" && m.Status != "accepted" && m.Status != "rejected" {
						wantCounts++
					}
				}
			}
			if n := seriesOf(t, rc, "scp_image_member_info", imgB); n != wantInfo {
				t.Errorf("the faulty image has %d member_info series, want %d", n, wantInfo)
			}
			if n := seriesOf(t, rc, "scp_image_members", imgB); n != wantCounts {
				t.Errorf("the faulty image has %d scp_image_members series, want %d", n, wantCounts)
			}
			if n := seriesOf(t, rc, "scp_image_member_info", imgA); n != 1 {
				t.Errorf("the healthy image has %d member_info series, want 1", n)
			}
			if problems, err := testutil.CollectAndLint(rc); err != nil || len(problems) > 0 {
				t.Errorf("collecting after the fault: %v %v", problems, err)
			}
		})
	}
}

// membersCounter adds up the list_image_members series of a counter family
// that c collects.
func membersCounter(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == string(scp.OpListImageMembers) {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// seriesOf counts the series of family name that c collects for image id.
func seriesOf(t *testing.T, c prometheus.Collector, name, id string) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "image_id" && l.GetValue() == id {
					n++
				}
			}
		}
	}
	return n
}
