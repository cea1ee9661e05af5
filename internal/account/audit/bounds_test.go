package audit_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/scp"
)

// The de-duplication state is bounded by count and bytes, however many new
// events each poll reads and however long their IDs (issue 22: 9,000 new
// events of 230-character IDs every 5 s grew it to 165 MB). Events read
// again in the overlap are still reported once.
func TestDedupeStateIsBounded(t *testing.T) {
	const perPoll, polls, idLen = 9000, 40, 230
	now := base
	poll := 0
	p, err := audit.New(audit.Options{
		Interval: 5 * time.Second,
		Now:      func() time.Time { return now },
		Lister: listerFunc(func(_ context.Context, _, end time.Time) (scp.AuditEvents, error) {
			// Every poll returns its own new events and the previous
			// poll's again (the overlap).
			var out scp.AuditEvents
			for _, k := range []int{poll - 1, poll} {
				for i := range perPoll {
					if k >= 0 {
						id := fmt.Sprintf("%d-%d-", k, i)
						out.Events = append(out.Events, scp.AuditEvent{ID: id + strings.Repeat("x", idLen-len(id)), Timestamp: end, EventName: "Login"})
					}
				}
			}
			return out, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for ; poll < polls; poll++ {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(5 * time.Second)
	}
	grown := int64(heap()) - int64(before)
	st := p.Status()
	t.Logf("%d polls of %d new events (%d-byte IDs): %d IDs kept, heap grown by %.1f MB", polls, perPoll, idLen, st.SeenIDs, float64(grown)/1e6)
	if st.SeenIDs > audit.MaxSeenIDs {
		t.Errorf("%d event IDs kept, want at most %d", st.SeenIDs, audit.MaxSeenIDs)
	}
	if grown > 20e6 {
		t.Errorf("the poller's state grew by %.1f MB, want under 20 MB", float64(grown)/1e6)
	}
	if n := st.Events["Login"]; n != perPoll*polls {
		t.Errorf("%d events counted, want %d: each once, the overlap's again as duplicates", n, perPoll*polls)
	}
}

// An event dated in the future is kept as read then (issue 22: eight events
// dated 2030 hid every real event of their image for good). A real event
// after them still explains a change.
func TestFutureDatedEventsCannotCrowdOutRealOnes(t *testing.T) {
	img := imageID(1)
	now := base
	var events []scp.AuditEvent
	for i := range audit.MaxEventsPerImage {
		events = append(events, scp.AuditEvent{ID: fmt.Sprintf("future-%d", i), Timestamp: time.Date(2030, 1, 1, 0, 0, i, 0, time.UTC), ResourceID: img, UserID: "mallory"})
	}
	p, err := audit.New(audit.Options{
		Interval: 30 * time.Second,
		Now:      func() time.Time { return now },
		Watched:  func(id string) bool { return id == img },
		Lister: listerFunc(func(context.Context, time.Time, time.Time) (scp.AuditEvents, error) {
			return scp.AuditEvents{Events: events}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.FutureDated != uint64(audit.MaxEventsPerImage) {
		t.Errorf("%d events counted as future-dated, want %d", st.FutureDated, audit.MaxEventsPerImage)
	}
	// Ten minutes later, the real change and its event.
	now = base.Add(10 * time.Minute)
	events = []scp.AuditEvent{{ID: "real", Timestamp: now.Add(-5 * time.Second), ResourceID: img, UserID: "alice"}}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev, ok := p.Explain(img, now.Add(-30*time.Second), now)
	if !ok || ev.ID != "real" || ev.UserID != "alice" {
		t.Errorf("Explain = %+v, %v; want the real event by alice", ev, ok)
	}
}

// After a restart the first poll reads from where the last run left off,
// past MaxWindow, within the catch-up limit; the kept events come back for
// attribution.
func TestRestoreReadsFromTheSavedPosition(t *testing.T) {
	now := base
	var starts []time.Time
	lister := listerFunc(func(_ context.Context, start, _ time.Time) (scp.AuditEvents, error) {
		starts = append(starts, start)
		return scp.AuditEvents{Events: []scp.AuditEvent{{ID: "e1", Timestamp: base.Add(-10 * time.Second), ResourceID: imageID(1), UserID: "alice"}}}, nil
	})
	o := audit.Options{Interval: 30 * time.Second, Now: func() time.Time { return now }, Lister: lister, Watched: func(string) bool { return true }}
	first, err := audit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := first.Save()

	for _, tc := range []struct {
		down, catchUp time.Duration
		want          time.Time
	}{
		{3 * time.Hour, 0, saved.NextStart},                                 // past MaxWindow (1h), within a day
		{3 * time.Hour, 2 * time.Hour, base.Add(3*time.Hour - 2*time.Hour)}, // cut to the catch-up limit
	} {
		now = base.Add(tc.down)
		starts = nil
		p, err := audit.New(o)
		if err != nil {
			t.Fatal(err)
		}
		p.Restore(saved, tc.catchUp)
		if ev, ok := p.Explain(imageID(1), base.Add(-time.Minute), base); !ok || ev.UserID != "alice" {
			t.Errorf("down %v: the kept event did not come back: %+v %v", tc.down, ev, ok)
		}
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(starts) != 1 || !starts[0].Equal(tc.want) {
			t.Errorf("down %v, catch-up %v: the first poll read from %v, want %v", tc.down, tc.catchUp, starts, tc.want)
		}
	}
}
