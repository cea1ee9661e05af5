package audit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	accessKey = "AK-audit-test"
	// secretKey must never appear in a log line.
	secretKey = "SK-audit-test-secret-never-logged"
)

func imageID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// recorder keeps what Prioritize was called with.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (r *recorder) Prioritize(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, slices.Clone(ids))
}

func (r *recorder) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// harness is a poller reading the fake API through a real client, on
// 127.0.0.1, with the first watchedN test image IDs watched.
type harness struct {
	fake   *scptest.Fake
	client *scp.Client
	clock  *testclock.Clock // the poller's; the client signs with the real one
	rec    *recorder
	logs   *testproc.Buffer
	poller *audit.Poller
}

// base is the test windows' "now" at the start: any fixed instant works,
// since the fake filters events by the window the poller asks for.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, watchedN int, adjust func(*audit.Options)) *harness {
	t.Helper()
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AuditEndpoint: srv.URL, AccessKey: accessKey, SecretKey: secretKey,
		HTTPClient: srv.Client(), Budget: scp.NewBudget(1000, 4, nil)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{fake: fake, client: client, clock: testclock.New(base), rec: &recorder{}, logs: &testproc.Buffer{}}
	watched := map[string]bool{}
	for i := range watchedN {
		watched[imageID(i)] = true
	}
	o := audit.Options{
		Lister:     client,
		Interval:   30 * time.Second,
		Watched:    func(id string) bool { return watched[id] },
		Prioritize: h.rec.Prioritize,
		Now:        h.clock.Now,
		Logger:     log.NewLogfmtLogger(h.logs),
	}
	if adjust != nil {
		adjust(&o)
	}
	h.poller, err = audit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) poll(t *testing.T, at time.Time) error {
	t.Helper()
	h.clock.Set(at)
	return h.poller.Poll(context.Background())
}

func event(id string, at time.Time, image string) scptest.AuditEvent {
	return scptest.AuditEvent{ID: id, Timestamp: at.Format(time.RFC3339Nano), EventName: "CreateImageMember",
		ResourceID: image, UserID: "user-" + id, UserName: "alice"}
}

// Run polls at once and at every tick; an event added while it runs is read
// by the next poll, and Prioritize gets the watched images it names, by
// resource_id or root_resource_id, whatever the event's name.
func TestRunReadsEventsAddedWhileRunning(t *testing.T) {
	ticks := make(chan time.Time)
	h := newHarness(t, 3, func(o *audit.Options) {
		o.Now = time.Now
		o.After = func(time.Duration) <-chan time.Time { return ticks }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.poller.Run(ctx) }()
	defer func() {
		cancel()
		testwait.For(t, func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}, "Run to return")
	}()
	testwait.For(t, func() bool { return !h.poller.Status().LastSuccess.IsZero() }, "the first poll")
	if calls := h.rec.Calls(); len(calls) != 0 {
		t.Fatalf("prioritized %v before any event", calls)
	}

	now := time.Now()
	h.fake.AddAuditEvents(
		event("e1", now, imageID(1)),
		scptest.AuditEvent{ID: "e2", Timestamp: now.Format(time.RFC3339Nano), EventName: "SomethingNew", ResourceID: "vol-1", RootResourceID: imageID(2), UserID: "bob"},
		event("e3", now, imageID(7)), // not watched
		scptest.AuditEvent{ID: "e4", Timestamp: now.Format(time.RFC3339Nano), EventName: "Login"},
	)
	ticks <- time.Now()
	testwait.For(t, func() bool { return len(h.rec.Calls()) == 1 }, "Prioritize after the next poll")
	if got := h.rec.Calls()[0]; !slices.Equal(got, []string{imageID(1), imageID(2)}) {
		t.Errorf("prioritized %v, want images 1 and 2", got)
	}
	st := h.poller.Status()
	// Images 1 and 2 have their events kept, and so does image 7, not
	// watched (yet): discovery may list it later. vol-1 is no image ID.
	if st.NotWatched != 2 || st.Events["CreateImageMember"] != 2 || st.Events["SomethingNew"] != 1 || st.Events["Login"] != 1 || st.Prioritized != 2 || st.Images != 3 {
		t.Errorf("status %+v", st)
	}
	ev, ok := h.poller.Explain(imageID(2), now.Add(-time.Second), time.Now())
	if !ok || ev.ID != "e2" || ev.UserID != "bob" || ev.Name != "SomethingNew" {
		t.Errorf("Explain image 2: %+v %v", ev, ok)
	}
}

// Overlapping windows read an event twice; it is reported once.
func TestDuplicatesAcrossWindowsReportedOnce(t *testing.T) {
	h := newHarness(t, 3, func(o *audit.Options) { o.Interval = 30 * time.Second })
	h.fake.AddAuditEvents(event("e1", base.Add(-10*time.Second), imageID(1)))
	for i := range 3 {
		if err := h.poll(t, base.Add(time.Duration(i)*30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(1)}) {
		t.Errorf("prioritized %v, want image 1 once", calls)
	}
	st := h.poller.Status()
	if st.Duplicates != 2 || st.Events["CreateImageMember"] != 1 || st.Polls != 3 {
		t.Errorf("status %+v; want 2 duplicates, 1 event, 3 polls", st)
	}
	// Once no window can return it again, its ID is forgotten.
	if err := h.poll(t, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := h.poll(t, base.Add(time.Hour+30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := h.poller.Status(); st.SeenIDs != 0 {
		t.Errorf("%d event IDs kept an hour later", st.SeenIDs)
	}
}

// A window of several pages is read whole in one poll.
func TestPollReadsSeveralPages(t *testing.T) {
	const n = 2*scp.AuditPageSize + 50
	h := newHarness(t, n, nil)
	for i := range n {
		h.fake.AddAuditEvents(event(fmt.Sprintf("e%d", i), base.Add(-time.Duration(i)*time.Millisecond*100), imageID(i)))
	}
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	calls := h.rec.Calls()
	if len(calls) != 1 || len(calls[0]) != n {
		t.Fatalf("prioritize calls %d, want one with %d images", len(calls), n)
	}
	if got := h.fake.Stats().Calls[scptest.AuditLogsKey]; got != 3 {
		t.Errorf("%d calls, want 3 pages", got)
	}
	if st := h.poller.Status(); st.Images != n || st.Events["CreateImageMember"] != n {
		t.Errorf("status %+v", st)
	}
}

// Malformed entries are skipped and counted by reason; the good ones of the
// same page are kept.
func TestMalformedEntriesSkippedGoodKept(t *testing.T) {
	h := newHarness(t, 3, nil)
	h.fake.AddAuditEvents(
		scptest.AuditEvent{Raw: []byte(`"not an object"`)},
		scptest.AuditEvent{Raw: []byte(`{"timestamp":"2026-03-01T11:59:50Z","resource_id":"` + imageID(1) + `"}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":"no-time","resource_id":"` + imageID(1) + `"}`)},
		scptest.AuditEvent{Raw: []byte(`{"id":"bad-time","timestamp":"noon","resource_id":"` + imageID(1) + `"}`)},
		event("good", base.Add(-5*time.Second), imageID(1)),
		event("unknown-image", base.Add(-5*time.Second), imageID(9)),
	)
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	st := h.poller.Status()
	want := map[string]uint64{scp.AnomalyNotAnObject: 1, scp.AnomalyMissingID: 1, scp.AnomalyMissingTimestamp: 1, scp.AnomalyBadTimestamp: 1}
	if fmt.Sprint(st.Skipped) != fmt.Sprint(want) || st.NotWatched != 1 || st.LastError != nil {
		t.Errorf("status %+v; want skipped %v and 1 not watched", st, want)
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(1)}) {
		t.Errorf("prioritized %v", calls)
	}
	if ev, ok := h.poller.Explain(imageID(1), base.Add(-time.Minute), base); !ok || ev.ID != "good" {
		t.Errorf("Explain: %+v %v", ev, ok)
	}
}

// While the trail fails, the last success stays, the error shows, the
// failure is logged once (without the secret), and the first good poll
// covers the whole gap.
func TestFailuresKeepTheGap(t *testing.T) {
	h := newHarness(t, 3, func(o *audit.Options) { o.Interval = 30 * time.Second })
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	h.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: 500})
	for i := 1; i <= 3; i++ {
		err := h.poll(t, base.Add(time.Duration(i)*30*time.Second))
		if scp.ReasonOf(err) != scp.ReasonServerError {
			t.Fatalf("poll %d: %v, want a server error", i, err)
		}
	}
	st := h.poller.Status()
	if !st.LastSuccess.Equal(base) || st.LastError == nil || st.ConsecutiveFailures != 3 || st.Failures != 3 || !st.NextStart.Equal(base.Add(-time.Minute)) {
		t.Fatalf("status after failures %+v", st)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "level=warn"); n != 1 {
		t.Errorf("%d warnings for one failure repeated, want 1:\n%s", n, logs)
	}
	// An event in the gap, long before the usual window of the next poll.
	h.fake.AddAuditEvents(event("in-gap", base.Add(20*time.Second), imageID(2)))
	h.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{})
	recovered := base.Add(10 * time.Minute)
	if err := h.poll(t, recovered); err != nil {
		t.Fatal(err)
	}
	st = h.poller.Status()
	if !st.LastSuccess.Equal(recovered) || st.LastError != nil || st.ConsecutiveFailures != 0 || st.WindowsCut != 0 {
		t.Errorf("status after recovery %+v", st)
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(2)}) {
		t.Errorf("prioritized %v, want the event in the gap", calls)
	}
	logs = h.logs.String()
	if !strings.Contains(logs, "answers again") || strings.Contains(logs, secretKey) {
		t.Errorf("logs lack the recovery or hold the secret:\n%s", logs)
	}
}

// After an outage longer than MaxWindow, the older part is given up.
func TestGapCappedAtMaxWindow(t *testing.T) {
	h := newHarness(t, 3, func(o *audit.Options) { o.MaxWindow = 10 * time.Minute })
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	h.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: 503})
	if err := h.poll(t, base.Add(time.Minute)); err == nil {
		t.Fatal("no error from a failing trail")
	}
	h.fake.SetFault(scptest.AuditLogsKey, scptest.Fault{})
	h.fake.AddAuditEvents(event("too-old", base.Add(2*time.Minute), imageID(1)), event("recent", base.Add(55*time.Minute), imageID(2)))
	if err := h.poll(t, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st := h.poller.Status(); st.WindowsCut != 1 {
		t.Errorf("WindowsCut %d, want 1", st.WindowsCut)
	}
	if calls := h.rec.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{imageID(2)}) {
		t.Errorf("prioritized %v, want only the image within the last MaxWindow", calls)
	}
}

// listerFunc is a Lister without an API; it reads unfiltered.
type listerFunc func(ctx context.Context, start, end time.Time) (scp.AuditEvents, error)

func (f listerFunc) ListAuditEvents(ctx context.Context, start, end time.Time, _ scp.AuditFilter) (scp.AuditEvents, error) {
	return f(ctx, start, end)
}

// A window too big to read is given up, so the poller does not stall on it.
func TestTooManyEventsGivesTheWindowUp(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	now := base
	p, err := audit.New(audit.Options{
		Interval: 30 * time.Second,
		Now:      func() time.Time { return now },
		Lister: listerFunc(func(_ context.Context, start, _ time.Time) (scp.AuditEvents, error) {
			mu.Lock()
			defer mu.Unlock()
			starts = append(starts, start)
			if len(starts) == 1 {
				return scp.AuditEvents{}, fmt.Errorf("list_audit_logs: %w: many", scp.ErrAuditTooManyEvents)
			}
			return scp.AuditEvents{}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Poll(context.Background()); !errors.Is(err, scp.ErrAuditTooManyEvents) {
		t.Fatalf("%v", err)
	}
	now = base.Add(30 * time.Second)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !starts[1].Equal(base.Add(-time.Minute)) || p.Status().WindowsCut != 1 {
		t.Errorf("second window starts %v (want %v), status %+v", starts[1], base.Add(-time.Minute), p.Status())
	}
}

// fixed is a poller fed the given events by its first poll, at base.
func fixed(t *testing.T, events ...scp.AuditEvent) *audit.Poller {
	t.Helper()
	p, err := audit.New(audit.Options{
		Interval: 30 * time.Second,
		Now:      func() time.Time { return base },
		Watched:  func(id string) bool { return strings.HasPrefix(id, "00000000-") },
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
	return p
}

// Explain returns the latest event of the image within the change's window,
// widened by ExplainSkew on both sides.
func TestExplainWindow(t *testing.T) {
	img := imageID(1)
	at := base.Add
	p := fixed(t,
		scp.AuditEvent{ID: "a", Timestamp: at(-50 * time.Minute), ResourceID: img, UserID: "u-a"},
		scp.AuditEvent{ID: "b", Timestamp: at(-20 * time.Minute), ResourceID: img, UserID: "u-b"},
		scp.AuditEvent{ID: "c", Timestamp: at(-10 * time.Minute), RootResourceID: img, UserID: "u-c"},
		scp.AuditEvent{ID: "other", Timestamp: at(-10 * time.Minute), ResourceID: imageID(2)},
		scp.AuditEvent{ID: "stale", Timestamp: at(-25 * time.Hour), ResourceID: imageID(3)},
	)
	for _, tc := range []struct {
		name     string
		from, to time.Duration
		want     string // "" for none
	}{
		{"latest of several", -time.Hour, 0, "c"},
		{"the window's end bounds it", -time.Hour, -15 * time.Minute, "b"},
		{"within the skew after the end", -time.Hour, -10*time.Minute - 59*time.Second, "c"},
		{"within the skew before the start", -9*time.Minute - 30*time.Second, 0, "c"},
		{"beyond the skew before the start", -8 * time.Minute, 0, ""},
		{"beyond the skew after the end", -3 * time.Hour, -52 * time.Minute, ""},
		{"just the first", -55 * time.Minute, -45 * time.Minute, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := p.Explain(img, at(tc.from), at(tc.to))
			if ok != (tc.want != "") || ev.ID != tc.want {
				t.Errorf("Explain = %+v, %v; want %q", ev, ok, tc.want)
			}
		})
	}
	if _, ok := p.Explain(imageID(9), at(-time.Hour), at(0)); ok {
		t.Error("an event for an image that has none")
	}
	if _, ok := p.Explain(imageID(3), at(-26*time.Hour), at(0)); ok {
		t.Error("an event older than Retention")
	}
}

// Per image only the newest MaxEventsPerImage events are kept.
func TestEventsPerImageBounded(t *testing.T) {
	var events []scp.AuditEvent
	for i := range 3 * audit.MaxEventsPerImage {
		events = append(events, scp.AuditEvent{ID: strconv.Itoa(i), Timestamp: base.Add(-time.Duration(i) * time.Second), ResourceID: imageID(1)})
	}
	p := fixed(t, events...)
	if ev, ok := p.Explain(imageID(1), base.Add(-time.Hour), base); !ok || ev.ID != "0" {
		t.Errorf("latest: %+v %v", ev, ok)
	}
	oldestKept := base.Add(-time.Duration(audit.MaxEventsPerImage-1) * time.Second)
	if ev, ok := p.Explain(imageID(1), base.Add(-time.Hour), oldestKept.Add(-audit.ExplainSkew-time.Millisecond)); ok {
		t.Errorf("an event older than the newest %d: %+v", audit.MaxEventsPerImage, ev)
	}
}

// Event names are counted within a bound; the rest go to "other".
func TestEventNamesBounded(t *testing.T) {
	var events []scp.AuditEvent
	for i := range audit.MaxEventNames + 50 {
		events = append(events, scp.AuditEvent{ID: strconv.Itoa(i), Timestamp: base, EventName: fmt.Sprintf("Name%d", i)})
	}
	events = append(events, scp.AuditEvent{ID: "unnamed", Timestamp: base})
	st := fixed(t, events...).Status()
	if len(st.Events) != audit.MaxEventNames+1 || st.Events[audit.OtherEventName] != 51 {
		t.Errorf("%d names, other %d; want %d and 51", len(st.Events), st.Events[audit.OtherEventName], audit.MaxEventNames+1)
	}
}

// Update keeps the window, the seen IDs and the kept events.
func TestUpdateKeepsState(t *testing.T) {
	h := newHarness(t, 3, nil)
	h.fake.AddAuditEvents(event("e1", base.Add(-time.Second), imageID(1)))
	if err := h.poll(t, base); err != nil {
		t.Fatal(err)
	}
	if err := h.poller.Update(audit.Options{Lister: h.client, Interval: 10 * time.Second, Now: h.clock.Now,
		Watched: func(string) bool { return true }, Prioritize: h.rec.Prioritize}); err != nil {
		t.Fatal(err)
	}
	if err := h.poll(t, base.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := h.poller.Status(); st.Duplicates != 1 || len(h.rec.Calls()) != 1 || !st.NextStart.Equal(base.Add(10*time.Second-time.Minute)) {
		t.Errorf("status %+v, prioritize calls %d", st, len(h.rec.Calls()))
	}
	if _, ok := h.poller.Explain(imageID(1), base.Add(-time.Minute), base); !ok {
		t.Error("the event was forgotten on update")
	}
	if err := h.poller.Update(audit.Options{}); err == nil {
		t.Error("an update without a lister was accepted")
	}
	if _, err := audit.New(audit.Options{}); err == nil {
		t.Error("a poller without a lister was accepted")
	}
}

// Events about images not watched yet are kept (an image created and shared
// before discovery lists it), bounded: past MaxUnwatchedEvents the oldest
// go, and are counted.
func TestEventsOfImagesNotWatchedYetAreKeptWithinABound(t *testing.T) {
	unwatched := func(i int) string { return fmt.Sprintf("11111111-1111-4111-8111-%012d", i) }
	events := make([]scp.AuditEvent, audit.MaxUnwatchedEvents+1)
	for i := range events {
		events[i] = scp.AuditEvent{ID: fmt.Sprintf("u%d", i), Timestamp: base.Add(-time.Duration(len(events)-i) * time.Millisecond),
			EventName: "CreateImageMember", ResourceID: unwatched(i), UserID: "carol"}
	}
	p := fixed(t, events...)
	st := p.Status()
	if st.UnwatchedDropped != 1 || st.Images != audit.MaxUnwatchedEvents || st.NotWatched != uint64(len(events)) {
		t.Errorf("dropped %d, images %d, not watched %d; want 1, %d, %d", st.UnwatchedDropped, st.Images, st.NotWatched, audit.MaxUnwatchedEvents, len(events))
	}
	if _, ok := p.Explain(unwatched(0), base.Add(-time.Hour), base); ok {
		t.Error("the oldest event about an image not watched was kept past the bound")
	}
	if ev, ok := p.Explain(unwatched(len(events)-1), base.Add(-time.Hour), base); !ok || ev.UserID != "carol" {
		t.Errorf("the newest event about an image not watched yet: %+v %v, want it kept", ev, ok)
	}
}
