package scp_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// AIMD: throttling multiplies the rate by 0.7, at most once a second; calls
// that go through add back 1 % of the maximum (at least 1/s) per second of
// calls; the rate stays between 1/s and the maximum.
func TestBudgetDecreasesMultiplicativelyAndRecoversAdditively(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	b := scp.NewBudget(200, 8, clock.now)
	reg := prometheus.NewRegistry()
	b.Report(registeredMetrics(reg))
	if b.Rate() != 200 {
		t.Fatalf("starts at %v, want the maximum 200", b.Rate())
	}
	b.Throttled()
	if got := b.Rate(); math.Abs(got-140) > 1e-9 {
		t.Fatalf("after a 429: %v, want 140", got)
	}
	b.Throttled() // an answer to a call sent before the decrease took effect
	if got := b.Rate(); math.Abs(got-140) > 1e-9 {
		t.Errorf("a second 429 within the window lowered the rate again, to %v", got)
	}
	for range 20 {
		clock.advance(time.Second)
		b.Throttled()
	}
	if got := b.Rate(); got != 1 {
		t.Errorf("after 21 throttled seconds: %v, want the floor of 1/s", got)
	}
	if n, err := testutil.GatherAndCount(reg, "scp_api_rate_limit_decreases_total"); err != nil || n != 1 {
		t.Fatalf("decreases series: %d, %v", n, err)
	}
	if got := counterValue(t, reg, "scp_api_rate_limit_decreases_total"); got != 21 {
		t.Errorf("%v decreases counted, want 21", got)
	}

	// Recovery: step is 200·1% = 2/s for each second of calls at the
	// current rate, i.e. 2/rate per call.
	b2 := scp.NewBudget(200, 8, clock.now)
	b2.Throttled() // 140
	for range 140 {
		b2.Succeeded() // one second of calls at 140/s
	}
	if got := b2.Rate(); got < 141.9 || got > 142.1 {
		t.Errorf("after a second of calls at 140/s: %v, want about 142", got)
	}
	for range 100000 {
		b2.Succeeded()
	}
	if got := b2.Rate(); got != 200 {
		t.Errorf("after long recovery: %v, want the maximum 200 and no more", got)
	}
}

// A cut starts from the rate actually sent when that is lower than the
// rate allowed: an exporter that can send 80 calls/s cuts 200/s to 56/s,
// not to 140/s, which would change nothing.
func TestBudgetCutsFromTheRateSent(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	b := scp.NewBudget(200, 8, clock.now)
	ctx := context.Background()
	for range 3 { // three seconds of 80 calls
		for range 80 {
			release, err := b.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			release()
			clock.advance(time.Second / 80)
		}
	}
	b.Throttled()
	if got := b.Rate(); math.Abs(got-56) > 1e-9 {
		t.Errorf("after a 429 at 80 calls/s sent: %v, want 0.7 × 80 = 56", got)
	}
}

// The client tells its budget about 429s and Retry-After, and the effective
// rate and its decreases are exported.
func TestClientLowersItsBudgetOnThrottling(t *testing.T) {
	budget := scp.NewBudget(100, 4, nil)
	e := newEnv(t, nil, func(o *scp.Options) { o.Budget = budget; o.MaxRetries = 0; budget.Report(o.Metrics) })
	e.reg.MustRegister(metric.NewCollector(func() *scp.Budget { return budget }, scp.BudgetFamilies...))
	e.fake.SetMembers(testImageID)
	if got := valueOf(t, e, "scp_api_rate_limit_requests_per_second"); got != 100 {
		t.Errorf("effective rate exported as %v before any call, want 100", got)
	}
	e.fake.SetFault(testImageID, scptest.Fault{Status: http.StatusTooManyRequests, Times: 1})
	if _, err := e.client.ListImageMembers(context.Background(), testImageID); scp.ReasonOf(err) != scp.ReasonRateLimited {
		t.Fatalf("err = %v, want rate_limited", err)
	}
	if got := budget.Rate(); math.Abs(got-70) > 1e-9 {
		t.Errorf("after a 429 the rate is %v, want 70", got)
	}
	if got := valueOf(t, e, "scp_api_rate_limit_requests_per_second"); math.Abs(got-70) > 1e-9 {
		t.Errorf("effective rate exported as %v, want 70", got)
	}
	if got := valueOf(t, e, "scp_api_rate_limit_decreases_total"); got != 1 {
		t.Errorf("decreases exported as %v, want 1", got)
	}
	before := budget.Rate()
	if _, err := e.client.ListImageMembers(context.Background(), testImageID); err != nil {
		t.Fatal(err)
	}
	if budget.Rate() <= before {
		t.Errorf("a call that went through did not raise the rate (%v, was %v)", budget.Rate(), before)
	}
}

// valueOf is the value of a metric family's one series in e's registry.
func valueOf(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}

// counterValue is the value of a metric family's one series.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}

// panickingTransport panics on its first request, then passes them on.
type panickingTransport struct {
	next     http.RoundTripper
	panicked atomic.Bool
}

func (p *panickingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("transport bug")
	}
	return p.next.RoundTrip(r)
}

// A panic inside an attempt gives its budget slot back: with one slot, the
// next call still goes through.
func TestPanicInAnAttemptReleasesItsSlot(t *testing.T) {
	budget := scp.NewBudget(100, 1, nil)
	var transport *panickingTransport
	e := newEnv(t, nil, func(o *scp.Options) {
		o.Budget = budget
		transport = &panickingTransport{next: o.HTTPClient.Transport}
		o.HTTPClient = &http.Client{Transport: transport}
	})
	e.fake.SetMembers(testImageID)
	func() {
		defer func() { _ = recover() }()
		_, _ = e.client.ListImageMembers(context.Background(), testImageID)
	}()
	if !transport.panicked.Load() {
		t.Fatal("the first call did not reach the panicking transport")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := e.client.ListImageMembers(ctx, testImageID); err != nil {
		t.Fatalf("the call after a panic: %v", err)
	}
}

// A budget that replaces another (a reload changed the account's client)
// starts where the old one's throttling had brought it, never above its
// own maximum.
func TestBudgetContinuesFromTheOneItReplaces(t *testing.T) {
	old := scp.NewBudget(200, 8, nil)
	old.Throttled() // 140
	b := scp.NewBudget(100, 8, nil)
	b.Continue(old)
	if b.Rate() != 100 {
		t.Errorf("rate %v, want its own maximum 100 (below the old 140)", b.Rate())
	}
	c := scp.NewBudget(300, 8, nil)
	c.Continue(old)
	if math.Abs(c.Rate()-140) > 1e-9 {
		t.Errorf("rate %v, want the old budget's 140", c.Rate())
	}
}

// A Retry-After stops every Virtual Server call of the account, not only
// the retry of the call that got it (issue 22): 3600 s, capped at MaxPause.
// A call whose deadline comes before the pause ends fails at once, without
// a request; the wait is exported.
func TestRetryAfterPausesTheWholeAccount(t *testing.T) {
	budget := scp.NewBudget(100, 4, nil)
	e := newEnv(t, nil, func(o *scp.Options) { o.Budget = budget; o.MaxRetries = 0; budget.Report(o.Metrics) })
	e.reg.MustRegister(metric.NewCollector(func() *scp.Budget { return budget }, scp.BudgetFamilies...))
	e.fake.SetMembers(testImageID)
	e.fake.SetFault(testImageID, scptest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600", Times: 1})
	if _, err := e.client.ListImageMembers(context.Background(), testImageID); scp.ReasonOf(err) != scp.ReasonRateLimited {
		t.Fatalf("err = %v, want rate_limited", err)
	}
	if left := budget.PauseLeft(); left <= scp.MaxPause-time.Minute || left > scp.MaxPause {
		t.Errorf("paused for %v, want Retry-After 3600 s capped at %v", left, scp.MaxPause)
	}
	if got := valueOf(t, e, "scp_api_rate_limit_pause_seconds"); got <= 240 || got > 300 {
		t.Errorf("scp_api_rate_limit_pause_seconds = %v, want about 300", got)
	}
	if got := valueOf(t, e, "scp_api_rate_limit_pauses_total"); got != 1 {
		t.Errorf("scp_api_rate_limit_pauses_total = %v, want 1", got)
	}
	before := e.fake.TotalRequests()
	for _, call := range []func(ctx context.Context) error{
		func(ctx context.Context) error { _, err := e.client.ListImageMembers(ctx, testImageID); return err },
		func(ctx context.Context) error { _, err := e.client.ListImages(ctx, "private"); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := call(ctx)
		cancel()
		if !errors.Is(err, scp.ErrPaused) || scp.ReasonOf(err) != scp.ReasonRateLimited {
			t.Errorf("a call within the pause: %v; want ErrPaused, rate_limited", err)
		}
	}
	if n := e.fake.TotalRequests() - before; n != 0 {
		t.Errorf("%d requests made within the pause, want none", n)
	}
	// A reload's new budget keeps the pause.
	next := scp.NewBudget(100, 4, nil)
	next.Continue(budget)
	if left := next.PauseLeft(); left < scp.MaxPause-time.Minute {
		t.Errorf("a reload's budget is paused for %v, want the pause carried over", left)
	}
}
