package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// filterLog records which filter each read of the trail used, and the
// window starts; hook, when set, may answer a filtered read instead of the
// API.
type filterLog struct {
	audit.Lister
	mu     sync.Mutex
	reads  []scp.AuditFilter
	starts []time.Time
	hook   func(start, end time.Time) (scp.AuditEvents, error, bool)
}

func (l *filterLog) ListAuditEvents(ctx context.Context, start, end time.Time, f scp.AuditFilter) (scp.AuditEvents, error) {
	l.mu.Lock()
	l.reads = append(l.reads, f)
	l.starts = append(l.starts, start)
	hook := l.hook
	l.mu.Unlock()
	if hook != nil && !f.IsZero() {
		if got, err, ok := hook(start, end); ok {
			return got, err
		}
	}
	return l.Lister.ListAuditEvents(ctx, start, end, f)
}

func (l *filterLog) setHook(h func(start, end time.Time) (scp.AuditEvents, error, bool)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hook = h
}

// take returns the reads since the last call, "filtered" or "all" each.
func (l *filterLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, f := range l.reads {
		out = append(out, map[bool]string{true: "all", false: "filtered"}[f.IsZero()])
	}
	l.reads = nil
	return out
}

var vsFilter = scp.AuditFilter{ServiceType: "scp-virtualserver"}

func vsEvent(id string, at time.Time, image string) scptest.AuditEvent {
	e := event(id, at, image)
	e.ServiceType = vsFilter.ServiceType
	return e
}

func newFilterHarness(t *testing.T) (*harness, *filterLog) {
	t.Helper()
	var rec *filterLog
	h := newHarness(t, 5, func(o *audit.Options) {
		rec = &filterLog{Lister: o.Lister}
		o.Lister, o.Filter, o.FilterCheckEvery = rec, vsFilter, 2
	})
	return h, rec
}

// A filter is trusted only once a window read both ways shows that it
// returns every event on a watched image; it is then used alone, and
// checked again every FilterCheckEvery polls.
func TestFilterVerifiedBeforeTrusted(t *testing.T) {
	h, rec := newFilterHarness(t)
	step := func(at time.Time, wantReads []string, want audit.FilterState) {
		t.Helper()
		if err := h.poll(t, at); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); !slices.Equal(got, wantReads) {
			t.Errorf("at %v: reads %v, want %v", at.Sub(base), got, wantReads)
		}
		if st := h.poller.Status(); st.Filter != want {
			t.Errorf("at %v: filter %s, want %s", at.Sub(base), st.Filter, want)
		}
	}
	// No event on a watched image: nothing to compare, still unverified.
	h.fake.AddAuditEvents(scptest.AuditEvent{ID: "login", Timestamp: base.Add(-time.Second).Format(time.RFC3339), EventName: "Login"})
	step(base, []string{"all"}, audit.FilterUnverified)
	// An event on image 1: the window is read again with the filter, which
	// returns it.
	h.fake.AddAuditEvents(vsEvent("e1", base.Add(20*time.Second), imageID(1)))
	step(base.Add(30*time.Second), []string{"all", "filtered"}, audit.FilterActive)
	if !strings.Contains(h.logs.String(), "the trail is read with it") {
		t.Errorf("no log line says the filter is in use:\n%s", h.logs)
	}
	// In use: one read a poll, with the filter, two polls; then a check.
	h.fake.AddAuditEvents(vsEvent("e2", base.Add(50*time.Second), imageID(2)))
	step(base.Add(60*time.Second), []string{"filtered"}, audit.FilterActive)
	step(base.Add(90*time.Second), []string{"filtered"}, audit.FilterActive)
	h.fake.AddAuditEvents(vsEvent("e3", base.Add(110*time.Second), imageID(3)))
	step(base.Add(120*time.Second), []string{"all", "filtered"}, audit.FilterActive)
	step(base.Add(150*time.Second), []string{"filtered"}, audit.FilterActive)

	if calls := h.rec.Calls(); !slices.Equal(slices.Concat(calls...), []string{imageID(1), imageID(2), imageID(3)}) {
		t.Errorf("prioritized %v, want images 1, 2 and 3 once each", calls)
	}
	st := h.poller.Status()
	if st.FilterChecks[audit.FilterMatch] != 2 || st.FilterChecks[audit.FilterInconclusive] != 1 || st.Events["CreateImageMember"] != 3 {
		t.Errorf("status %+v: want 2 matching checks, 1 inconclusive, and 3 events, each counted once", st)
	}
}

// A filter that leaves out an event on a watched image (a value the
// service does not use) is dropped: the event is still read, unfiltered,
// and every later poll reads unfiltered.
func TestFilterThatMissesEventsIsDropped(t *testing.T) {
	h, rec := newFilterHarness(t)
	h.fake.AddAuditEvents(event("e1", base.Add(-time.Second), imageID(1))) // no service type: the filter misses it
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Equal(got, []string{"all", "filtered"}) {
		t.Errorf("reads %v", got)
	}
	if st := h.poller.Status(); st.Filter != audit.FilterMismatch || st.FilterChecks[audit.FilterMissed] != 1 {
		t.Errorf("filter %s, checks %v; want mismatch", st.Filter, st.FilterChecks)
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(1)}) {
		t.Errorf("prioritized %v, want image 1", calls)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "level=warn") || !strings.Contains(logs, "left out 1 of the 1 events on watched images") {
		t.Errorf("no warning says why the filter was dropped:\n%s", logs)
	}
	h.fake.AddAuditEvents(vsEvent("e2", base.Add(20*time.Second), imageID(2)))
	for i := 1; i <= 3; i++ {
		if err := h.poll(t, base.Add(time.Duration(i)*30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.take(); !slices.Equal(got, []string{"all", "all", "all"}) {
		t.Errorf("reads after the mismatch %v, want unfiltered only", got)
	}

	// A reload with another filter tries that one afresh; with none, off.
	o := audit.Options{Lister: rec, Interval: 30 * time.Second, Filter: scp.AuditFilter{ServiceType: "scp-compute"}}
	if err := h.poller.Update(o); err != nil || h.poller.Status().Filter != audit.FilterUnverified {
		t.Errorf("after a reload with another filter: %s, %v; want unverified", h.poller.Status().Filter, err)
	}
	if n := h.poller.Status().FilterChecks[audit.FilterMissed]; n != 1 {
		t.Errorf("scp_audit_filter_checks_total{result=\"mismatch\"} %d after the reload, want 1: a counter keeps its count", n)
	}
	o.Filter = scp.AuditFilter{}
	if err := h.poller.Update(o); err != nil || h.poller.Status().Filter != audit.FilterOff {
		t.Errorf("after a reload without a filter: %s, %v; want off", h.poller.Status().Filter, err)
	}
}

// A service that refuses the filter: the window is read unfiltered in the
// same poll, whether the filter was being verified or in use; a second
// refusal in a row drops it.
func TestFilterRefused(t *testing.T) {
	for _, verified := range []bool{false, true} {
		h, rec := newFilterHarness(t)
		at := base
		if verified {
			h.fake.AddAuditEvents(vsEvent("e0", base.Add(-time.Second), imageID(0)))
			if err := h.poll(t, at); err != nil || h.poller.Status().Filter != audit.FilterActive {
				t.Fatalf("filter %s, %v; want active", h.poller.Status().Filter, err)
			}
			rec.take()
		}
		h.fake.SetAuditFilters(scptest.AuditFilters{Refuse: true})
		want := []string{"all", "filtered"}
		if verified {
			want = []string{"filtered", "all"}
		}
		for i, state := range []audit.FilterState{map[bool]audit.FilterState{false: audit.FilterUnverified, true: audit.FilterActive}[verified], audit.FilterRefused} {
			at = at.Add(30 * time.Second)
			h.fake.AddAuditEvents(vsEvent(fmt.Sprintf("e%d", i+1), at.Add(-time.Second), imageID(i+1)))
			if err := h.poll(t, at); err != nil {
				t.Fatalf("verified %v, refusal %d: %v; want the window read unfiltered", verified, i+1, err)
			}
			if got := rec.take(); !slices.Equal(got, want) {
				t.Errorf("verified %v, refusal %d: reads %v, want %v", verified, i+1, got, want)
			}
			if st := h.poller.Status(); st.Filter != state || st.LastError != nil {
				t.Errorf("verified %v, refusal %d: filter %s, error %v; want %s, no error", verified, i+1, st.Filter, st.LastError, state)
			}
			if calls := slices.Concat(h.rec.Calls()...); !slices.Contains(calls, imageID(i+1)) {
				t.Errorf("verified %v: prioritized %v, want image %d", verified, calls, i+1)
			}
		}
	}
}

// A client error on the window itself (both reads refused) fails the poll
// and leaves the filter alone; a failed compare read leaves the
// unfiltered read standing, counted as an error.
func TestFilterKeptWhenTheWindowFails(t *testing.T) {
	h, _ := newFilterHarness(t)
	h.fake.AddAuditEvents(vsEvent("e0", base.Add(-time.Second), imageID(0)))
	if err := h.poll(t, base); err != nil || h.poller.Status().Filter != audit.FilterActive {
		t.Fatalf("filter %s, %v; want active", h.poller.Status().Filter, err)
	}
	h.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: 400, Times: 2})
	if err := h.poll(t, base.Add(30*time.Second)); scp.ReasonOf(err) != scp.ReasonClientError {
		t.Errorf("poll: %v, want the client error", err)
	}
	if st := h.poller.Status(); st.Filter != audit.FilterActive || st.FilterChecks[audit.FilterRefusal] != 0 {
		t.Errorf("filter %s, checks %v: want still active, no refusal", st.Filter, st.FilterChecks)
	}

	// A check whose filtered read fails.
	h2, rec2 := newFilterHarness(t)
	rec2.setHook(func(time.Time, time.Time) (scp.AuditEvents, error, bool) {
		return scp.AuditEvents{}, context.DeadlineExceeded, true
	})
	h2.fake.AddAuditEvents(vsEvent("e0", base.Add(-time.Second), imageID(0)))
	if err := h2.poll(t, base); err != nil {
		t.Fatal(err)
	}
	if st := h2.poller.Status(); st.Filter != audit.FilterUnverified || st.FilterChecks[audit.FilterError] != 1 {
		t.Errorf("filter %s, checks %v: want unverified, one error", st.Filter, st.FilterChecks)
	}
	if calls := slices.Concat(h2.rec.Calls()...); !slices.Equal(calls, []string{imageID(0)}) {
		t.Errorf("prioritized %v, want image 0 from the unfiltered read", calls)
	}
}

// A reload that changes the filter while a poll compares the old one:
// the poll's verdict does not carry over to the new filter.
func TestFilterReloadDuringACheck(t *testing.T) {
	h, rec := newFilterHarness(t)
	entered, release := make(chan struct{}), make(chan struct{})
	rec.setHook(func(time.Time, time.Time) (scp.AuditEvents, error, bool) {
		close(entered)
		<-release
		return scp.AuditEvents{}, nil, false // then read the API
	})
	h.fake.AddAuditEvents(vsEvent("e0", base.Add(-time.Second), imageID(0)))
	h.clock.Set(base)
	done := make(chan error)
	go func() { done <- h.poller.Poll(context.Background()) }()
	<-entered
	o := audit.Options{Lister: rec, Interval: 30 * time.Second, Filter: scp.AuditFilter{ServiceType: "nonsense"}, Watched: func(string) bool { return true }}
	if err := h.poller.Update(o); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := h.poller.Status(); st.Filter != audit.FilterUnverified {
		t.Errorf("after a reload during a check: filter %s, want unverified (the old filter's check proves nothing of the new)", st.Filter)
	}
}

// A check that finds the filter missed an event: the next poll reads
// unfiltered again from the last check the filter passed, so an event it
// left out in between is read late rather than never.
func TestFilterMismatchRereadsFromTheLastPassedCheck(t *testing.T) {
	h, rec := newFilterHarness(t)
	h.fake.AddAuditEvents(vsEvent("e0", base.Add(-time.Second), imageID(0)))
	if err := h.poll(t, base); err != nil || h.poller.Status().Filter != audit.FilterActive {
		t.Fatalf("filter %s, %v; want active", h.poller.Status().Filter, err)
	}
	// Ten minutes of polls with the filter: an event it leaves out (no
	// service type) at 2 minutes, read by none of them.
	h.fake.AddAuditEvents(event("missed", base.Add(2*time.Minute), imageID(1)))
	at := base
	for h.poller.Status().Filter == audit.FilterActive && at.Before(base.Add(10*time.Minute)) {
		at = at.Add(30 * time.Second)
		if at.Equal(base.Add(4*time.Minute + 30*time.Second)) {
			// The check's window holds an event the filter leaves out.
			h.fake.AddAuditEvents(event("seen", at.Add(-time.Second), imageID(2)))
		}
		if err := h.poll(t, at); err != nil {
			t.Fatal(err)
		}
	}
	if st := h.poller.Status(); st.Filter != audit.FilterMismatch {
		t.Fatalf("filter %s after 10 minutes, want mismatch", st.Filter)
	}
	rec.take()
	rec.mu.Lock()
	rec.starts = nil
	rec.mu.Unlock()
	if err := h.poll(t, at.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	starts := slices.Clone(rec.starts)
	rec.mu.Unlock()
	if len(starts) != 1 || starts[0].After(base.Add(-time.Minute)) {
		t.Errorf("the poll after the mismatch read from %v, want from the last passed check less the overlap (%v)", starts, base.Add(-time.Minute))
	}
	if calls := slices.Concat(h.rec.Calls()...); !slices.Contains(calls, imageID(1)) {
		t.Errorf("prioritized %v: the event the filter missed was never read", calls)
	}
}
