package audit_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// filterLog records which filter each read of the trail used.
type filterLog struct {
	audit.Lister
	mu    sync.Mutex
	reads []scp.AuditFilter
}

func (l *filterLog) ListAuditEvents(ctx context.Context, start, end time.Time, f scp.AuditFilter) (scp.AuditEvents, error) {
	l.mu.Lock()
	l.reads = append(l.reads, f)
	l.mu.Unlock()
	return l.Lister.ListAuditEvents(ctx, start, end, f)
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
		o.Lister, o.Filter, o.FilterCheckInterval = rec, vsFilter, time.Hour
	})
	return h, rec
}

// A filter is trusted only once a window read both ways shows that it
// returns every event on a watched image; it is then used alone, and
// checked again every FilterCheckInterval.
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
	// In use: one read a poll, with the filter.
	h.fake.AddAuditEvents(vsEvent("e2", base.Add(50*time.Second), imageID(2)))
	step(base.Add(time.Minute), []string{"filtered"}, audit.FilterActive)
	// An hour on, checked again: read both ways.
	h.fake.AddAuditEvents(vsEvent("e3", base.Add(time.Hour+50*time.Second), imageID(3)))
	step(base.Add(time.Hour+time.Minute), []string{"all", "filtered"}, audit.FilterActive)
	step(base.Add(time.Hour+90*time.Second), []string{"filtered"}, audit.FilterActive)

	if calls := h.rec.Calls(); !slices.Equal(slices.Concat(calls...), []string{imageID(1), imageID(2), imageID(3)}) {
		t.Errorf("prioritized %v, want images 1, 2 and 3 once each", calls)
	}
	if st := h.poller.Status(); st.FilterChecks != 2 || st.Events["CreateImageMember"] != 3 {
		t.Errorf("status %+v: want 2 checks and 3 events, each counted once", st)
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
	if st := h.poller.Status(); st.Filter != audit.FilterMismatch {
		t.Errorf("filter %s, want mismatch", st.Filter)
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(1)}) {
		t.Errorf("prioritized %v, want image 1", calls)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "level=warn") || !strings.Contains(logs, "left out 1 of the events on watched images") {
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
	o.Filter = scp.AuditFilter{}
	if err := h.poller.Update(o); err != nil || h.poller.Status().Filter != audit.FilterOff {
		t.Errorf("after a reload without a filter: %s, %v; want off", h.poller.Status().Filter, err)
	}
}

// A service that refuses the filter: the window is read unfiltered in the
// same poll, whether the filter was being verified or in use.
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
			at = at.Add(30 * time.Second)
		}
		h.fake.SetAuditFilters(scptest.AuditFilters{Refuse: true})
		h.fake.AddAuditEvents(vsEvent("e1", at.Add(-time.Second), imageID(1)))
		if err := h.poll(t, at); err != nil {
			t.Fatalf("verified %v: %v; want the window read unfiltered", verified, err)
		}
		want := []string{"all", "filtered"}
		if verified {
			want = []string{"filtered", "all"}
		}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("verified %v: reads %v, want %v", verified, got, want)
		}
		if st := h.poller.Status(); st.Filter != audit.FilterRefused || st.LastError != nil {
			t.Errorf("verified %v: filter %s, error %v; want refused, no error", verified, st.Filter, st.LastError)
		}
		if calls := slices.Concat(h.rec.Calls()...); !slices.Contains(calls, imageID(1)) {
			t.Errorf("verified %v: prioritized %v, want image 1", verified, calls)
		}
	}
}
