package inventory

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

var errDown = errors.New("api down")

// fakeLister answers from in-memory data, or fails.
type fakeLister struct {
	mu      sync.Mutex
	byVis   map[string][]scp.Image
	byID    map[string]scp.Image
	pending []scp.PendingImage
	err     error
	listed  []string
	shown   []string
}

func (f *fakeLister) ListImages(_ context.Context, visibility string) ([]scp.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = append(f.listed, visibility)
	if f.err != nil {
		return nil, f.err
	}
	return f.byVis[visibility], nil
}

func (f *fakeLister) ShowImage(_ context.Context, id string) (scp.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shown = append(f.shown, id)
	if f.err != nil {
		return scp.Image{}, f.err
	}
	im, ok := f.byID[id]
	if !ok {
		return scp.Image{}, &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}
	}
	return im, nil
}

func (f *fakeLister) ListPendingImages(context.Context) ([]scp.PendingImage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.pending, nil
}

func (f *fakeLister) update(fn func(f *fakeLister)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func ids(images []scp.Image) []string {
	out := make([]string, len(images))
	for i, im := range images {
		out[i] = im.ID
	}
	return out
}

func TestRefreshMergesFiltersAndKeepsLastGoodState(t *testing.T) {
	l := &fakeLister{
		byVis: map[string][]scp.Image{
			"private": {{ID: "c", Name: "golden-c", Owner: "me", Visibility: "private"}, {ID: "a", Name: "golden-a", Owner: "me", Visibility: "private"}},
			"shared": {
				{ID: "a", Name: "golden-a", Owner: "me", Visibility: "private"}, // listed twice: once
				{ID: "b", Name: "scratch-b", Owner: "me", Visibility: "shared"}, // name filtered out
				{ID: "d", Name: "golden-d", Owner: "someone"},                   // another account's
				{ID: "e", Name: "golden-e", Owner: "me", Visibility: "shared"},
			},
		},
		byID:    map[string]scp.Image{"s1": {ID: "s1", Visibility: "public"}},
		pending: []scp.PendingImage{{ID: "p", Name: "offer", Owner: "stranger"}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	re := regexp.MustCompile(`^(?:golden-.*)$`)
	d := New(Options{
		Lister: l, Discover: true, Visibility: []string{"private", "shared"}, Owner: "me",
		Match: re.MatchString, Static: []string{"b", "s1", "s-gone"}, Interval: time.Minute,
		Now: func() time.Time { return now },
	})
	if st := d.Snapshot().Status; st.Tried || !st.LastSuccess.IsZero() {
		t.Fatalf("fresh discoverer reports %+v", st)
	}
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if got := ids(s.Discovered); len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "e" {
		t.Errorf("discovered %v, want [a c e]", got)
	}
	if !s.Status.Tried || s.Status.Images != 3 || !s.Status.LastSuccess.Equal(now) || !s.Status.PendingLastSuccess.Equal(now) {
		t.Errorf("status %+v", s.Status)
	}
	// Static b came with the listing, s1 needed a look-up, s-gone is unknown.
	want := map[string]string{"a": "private", "c": "private", "e": "shared", "b": "shared", "s1": "public"}
	if len(s.Visibility) != len(want) {
		t.Errorf("visibility %v, want %v", s.Visibility, want)
	}
	for id, v := range want {
		if s.Visibility[id] != v {
			t.Errorf("visibility of %s: %q, want %q", id, s.Visibility[id], v)
		}
	}
	if len(l.shown) != 2 {
		t.Errorf("looked up %v one by one, want only s1 and s-gone", l.shown)
	}
	if len(s.Pending) != 1 || s.Pending[0].Owner != "stranger" {
		t.Errorf("pending %+v", s.Pending)
	}

	// Everything fails: the last good state stays, with its times.
	l.update(func(f *fakeLister) { f.err = errDown })
	before := now
	now = now.Add(time.Hour)
	if err := d.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh hid the failures")
	}
	s = d.Snapshot()
	if len(s.Discovered) != 3 || !s.Status.LastSuccess.Equal(before) || len(s.Pending) != 1 ||
		!s.Status.PendingLastSuccess.Equal(before) || s.Visibility["s1"] != "public" {
		t.Errorf("after failures: %+v", s)
	}

	// A reload swaps the options and keeps everything learnt, readiness included.
	d.Update(Options{Lister: l, Discover: true, Visibility: []string{"private"}, Interval: time.Minute})
	if s := d.Snapshot(); len(s.Discovered) != 3 || !s.Status.Tried || len(s.Pending) != 1 || s.Visibility["s1"] != "public" {
		t.Errorf("after Update: %+v, want the state kept", s)
	}
	// Turning discovery off drops the discovered list, not what else is known.
	d.Update(Options{Lister: l, Static: []string{"s1"}, Visibility: []string{"private"}, Interval: time.Minute})
	if s := d.Snapshot(); len(s.Discovered) != 0 || s.Status.Images != 0 || len(s.Pending) != 1 {
		t.Errorf("after turning discovery off: %+v", s)
	}
}

func TestImageThatTurnsPublicStaysWatched(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"private": {{ID: "a", Name: "golden", Visibility: "private"}, {ID: "b", Name: "old", Visibility: "private"}},
	}}
	d := New(Options{Lister: l, Discover: true, Visibility: []string{"private", "shared"}, Interval: time.Minute})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a turns public and so leaves the private listing; b is deleted.
	l.update(func(f *fakeLister) {
		f.byVis = map[string][]scp.Image{}
		f.byID = map[string]scp.Image{"a": {ID: "a", Name: "golden", Visibility: "public"}}
	})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if got := ids(s.Discovered); len(got) != 1 || got[0] != "a" {
		t.Errorf("watched %v, want [a]: an image that turned public must stay watched", got)
	}
	if s.Visibility["a"] != "public" || len(s.Visibility) != 1 {
		t.Errorf("visibility %v, want a public and b gone", s.Visibility)
	}
}

// Without discovery the listing still runs, for the visibility of the
// configured images: one call per page, not one per image. Only an image no
// listing covers is looked up by itself.
func TestWithoutDiscoveryVisibilityComesFromListings(t *testing.T) {
	l := &fakeLister{
		byVis: map[string][]scp.Image{
			"private": {{ID: "s1", Visibility: "private"}, {ID: "other", Visibility: "private"}},
			"shared":  {{ID: "s2", Visibility: "shared"}},
		},
		byID: map[string]scp.Image{"s3": {ID: "s3", Visibility: "community"}},
	}
	d := New(Options{Lister: l, Static: []string{"s1", "s2", "s3"}, Visibility: []string{"private", "shared"}, Interval: time.Minute})
	if !d.Snapshot().Status.Tried {
		t.Error("without discovery there is no listing to wait for")
	}
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if len(s.Discovered) != 0 {
		t.Errorf("discovered %v without discovery", ids(s.Discovered))
	}
	want := map[string]string{"s1": "private", "s2": "shared", "s3": "community"}
	if !maps.Equal(s.Visibility, want) {
		t.Errorf("visibility %v, want %v", s.Visibility, want)
	}
	if !slices.Equal(l.shown, []string{"s3"}) {
		t.Errorf("looked up %v one by one, want only s3, which no listing covers", l.shown)
	}

	// A failed listing keeps what is known and looks up only what never was.
	l.update(func(f *fakeLister) { f.shown = nil; f.err = errDown })
	d.Update(Options{Lister: l, Static: []string{"s1", "s2", "s3", "s4"}, Visibility: []string{"private", "shared"}, Interval: time.Minute})
	_ = d.Refresh(context.Background())
	if !slices.Equal(l.shown, []string{"s4"}) {
		t.Errorf("after a failed listing looked up %v, want only s4, never known", l.shown)
	}
	if s := d.Snapshot(); s.Visibility["s1"] != "private" || s.Visibility["s3"] != "community" {
		t.Errorf("a failed listing lost known visibility: %v", s.Visibility)
	}
}

func TestRunRefreshesUntilCancelled(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{"private": {{ID: "a"}}}}
	d := New(Options{Lister: l, Discover: true, Visibility: []string{"private"}, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.listed)
		l.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d listings", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Images listed as private are ours, whatever scp.account_id says: their
// owner value then tells ours from others' in the shared listing.
func TestOurImagesAreLearntFromThePrivateListing(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"private": {{ID: "p1", Visibility: "private", Owner: "proj-ours"}, {ID: "p2", Visibility: "private", Owner: "proj-ours"}},
		"shared":  {{ID: "s1", Visibility: "shared", Owner: "proj-ours"}, {ID: "x1", Visibility: "shared", Owner: "someone-else"}},
	}}
	// An account ID no owner field carries: before, discovery kept nothing.
	d := New(Options{Lister: l, Discover: true, Visibility: []string{"shared", "private"}, Owner: "acct-no-owner-has-this", Interval: time.Minute})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if got := ids(s.Discovered); !slices.Equal(got, []string{"p1", "p2", "s1"}) {
		t.Errorf("discovered %v, want every private image and our shared one", got)
	}
	if s.Status.Dropped != 1 || !s.Owners["proj-ours"] {
		t.Errorf("dropped %d (want 1), owners %v", s.Status.Dropped, s.Owners)
	}
}

// A filter that drops every listed image says so once, and counts them.
func TestEveryImageDroppedIsSaidOnce(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"shared": {{ID: "s1", Visibility: "shared", Owner: "proj-a"}, {ID: "s2", Visibility: "shared", Owner: "proj-b"}},
	}}
	var logs testproc.Buffer
	d := New(Options{Lister: l, Discover: true, Visibility: []string{"shared"}, Owner: "acct-x", Interval: time.Minute, Logger: log.NewLogfmtLogger(&logs)})
	for range 3 {
		_ = d.Refresh(context.Background())
	}
	if n := strings.Count(logs.String(), "every listed image was dropped"); n != 1 {
		t.Errorf("warned %d times in three refreshes, want once:\n%s", n, logs.String())
	}
	if s := d.Snapshot(); s.Status.Dropped != 2 || len(s.Discovered) != 0 {
		t.Errorf("dropped %d, discovered %v", s.Status.Dropped, ids(s.Discovered))
	}
}

// A private listing that ignored its filter teaches nothing: only images
// the answer itself calls private are ours by definition.
func TestOwnersAreLearntOnlyFromImagesTheAnswerCallsPrivate(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"private": {{ID: "p1", Visibility: "private", Owner: "proj-ours"}, {ID: "x1", Visibility: "shared", Owner: "someone-else"}},
		"shared":  {{ID: "x2", Visibility: "shared", Owner: "someone-else"}},
	}}
	d := New(Options{Lister: l, Discover: true, Visibility: []string{"private", "shared"}, Interval: time.Minute})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if got := ids(s.Discovered); !slices.Equal(got, []string{"p1"}) || s.Owners["someone-else"] {
		t.Errorf("discovered %v, owners %v; want only p1, learnt from proj-ours", got, s.Owners)
	}
}

// takeListed returns what the lister was asked to list, and forgets it.
func (f *fakeLister) takeListed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.listed
	f.listed = nil
	return out
}

// Images shared with us from other accounts, and accepted, are in the
// shared listing: Accepted lists them, once our owner value is known, and
// never watches them. The private and shared listings run whatever
// discovery.visibility says, and whether or not discovery is enabled.
func TestAcceptedImagesFromTheSharedListing(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"private": {{ID: "p1", Name: "ours", Visibility: "private", Owner: "proj-ours"}},
		"shared": {
			{ID: "s1", Name: "ours-shared", Visibility: "shared", Owner: "proj-ours"},
			{ID: "x2", Name: "vendor-b", Visibility: "shared", Owner: "vendor"},
			{ID: "x1", Name: "vendor-a", Visibility: "shared", Owner: "vendor"},
		},
	}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name        string
		discover    bool
		visibility  []string
		wantDropped int
	}{
		// Dropped counts only the listings of discovery.visibility.
		{"without discovery, private only", false, []string{"private"}, 0},
		{"discovery of shared only", true, []string{"shared"}, 2},
		{"discovery of both", true, []string{"private", "shared"}, 2},
		{"discovery of public", true, []string{"public"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.takeListed()
			d := New(Options{Lister: l, Discover: tc.discover, Visibility: tc.visibility, Interval: time.Minute, Now: clock})
			if err := d.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			listed := l.takeListed()
			if len(listed) < 2 || listed[0] != "private" || listed[1] != "shared" || len(listed) != len(listingOrder(tc.visibility)) {
				t.Errorf("listed %v, want private, shared, then the rest of %v, each once", listed, tc.visibility)
			}
			s := d.Snapshot()
			if got := ids(s.Accepted); !slices.Equal(got, []string{"x1", "x2"}) || s.Accepted[0].Owner != "vendor" || s.Accepted[0].Name != "vendor-a" {
				t.Errorf("accepted %+v, want x1 and x2 of vendor, not ours", s.Accepted)
			}
			if !s.Status.AcceptedLastSuccess.Equal(now) || s.Status.AcceptedOwnerUnknown {
				t.Errorf("status %+v", s.Status)
			}
			if slices.ContainsFunc(s.Discovered, func(im scp.Image) bool { return strings.HasPrefix(im.ID, "x") }) {
				t.Errorf("discovered %v: another account's image is watched", ids(s.Discovered))
			}
			if s.Status.Dropped != tc.wantDropped {
				t.Errorf("dropped %d, want %d", s.Status.Dropped, tc.wantDropped)
			}
		})
	}
}

// A failed listing keeps the last good Accepted list with its time; with no
// owner value known (no private image, no scp.account_id) none is kept, and
// the status says why; scp.account_id alone tells ours.
func TestAcceptedKeptOnFailureAndUnknownWithoutOwner(t *testing.T) {
	l := &fakeLister{byVis: map[string][]scp.Image{
		"shared": {{ID: "s1", Visibility: "shared", Owner: "acct-ours"}, {ID: "x1", Visibility: "shared", Owner: "vendor"}},
	}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := New(Options{Lister: l, Visibility: []string{"private", "shared"}, Interval: time.Minute, Now: func() time.Time { return now }})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := d.Snapshot(); len(s.Accepted) != 0 || !s.Status.AcceptedOwnerUnknown || !s.Status.AcceptedLastSuccess.IsZero() {
		t.Errorf("without an owner value: accepted %v, status %+v; want none, said so", ids(s.Accepted), s.Status)
	}

	d.Update(Options{Lister: l, Visibility: []string{"private", "shared"}, Owner: "acct-ours", Interval: time.Minute, Now: func() time.Time { return now }})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if got := ids(s.Accepted); !slices.Equal(got, []string{"x1"}) || s.Status.AcceptedOwnerUnknown || !s.Status.AcceptedLastSuccess.Equal(now) {
		t.Errorf("with scp.account_id: accepted %v, status %+v; want x1", got, s.Status)
	}

	good := now
	now = now.Add(time.Hour)
	l.update(func(f *fakeLister) { f.err = errDown })
	if err := d.Refresh(context.Background()); err == nil {
		t.Fatal("the failed listing was not reported")
	}
	if s := d.Snapshot(); !slices.Equal(ids(s.Accepted), []string{"x1"}) || !s.Status.AcceptedLastSuccess.Equal(good) {
		t.Errorf("after a failed listing: accepted %v since %v, want x1 since %v", ids(s.Accepted), s.Status.AcceptedLastSuccess, good)
	}
}

// A change of visibility is recorded with when it happened: after the start
// of the last round that still saw the old one, by the answer that saw the
// new one. The first value learnt is not a change; an image no longer
// watched loses its record.
func TestVisibilityChangeIsRecorded(t *testing.T) {
	l := &fakeLister{
		byVis: map[string][]scp.Image{"private": {{ID: "a", Visibility: "private"}}},
		byID:  map[string]scp.Image{"b": {ID: "b", Visibility: "shared"}},
	}
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	at := func(s int64) time.Time { return time.Unix(1e9+s, 0) }
	set := func(s int64) { mu.Lock(); now = at(s); mu.Unlock() }
	o := Options{Lister: l, Static: []string{"a", "b"}, Visibility: []string{"private"}, Interval: time.Minute,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	d := New(o)
	refresh := func(s int64) State {
		t.Helper()
		set(s)
		if err := d.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		return d.Snapshot()
	}
	if s := refresh(10); len(s.VisibilityChanged) != 0 || s.Visibility["a"] != "private" || s.Visibility["b"] != "shared" {
		t.Fatalf("first refresh: visibility %v, changes %v; want no change", s.Visibility, s.VisibilityChanged)
	}
	refresh(20)
	l.update(func(f *fakeLister) {
		f.byVis = map[string][]scp.Image{"shared": {{ID: "a", Visibility: "shared"}}}
		f.byID["b"] = scp.Image{ID: "b", Visibility: "public"}
	})
	s := refresh(30)
	want := map[string]VisibilityChange{
		"a": {At: at(30), Since: at(20), From: "private", To: "shared"},
		"b": {At: at(30), Since: at(20), From: "shared", To: "public"},
	}
	if !maps.Equal(s.VisibilityChanged, want) {
		t.Errorf("changes %v, want %v", s.VisibilityChanged, want)
	}
	if s := refresh(40); !maps.Equal(s.VisibilityChanged, want) {
		t.Errorf("an unchanged refresh changed the record: %v", s.VisibilityChanged)
	}
	// A failed round learns nothing: the next change is since the last
	// answer, before it.
	l.update(func(f *fakeLister) { f.err = errDown })
	set(50)
	_ = d.Refresh(context.Background())
	l.update(func(f *fakeLister) { f.err = nil; f.byID["b"] = scp.Image{ID: "b", Visibility: "community"} })
	want["b"] = VisibilityChange{At: at(60), Since: at(40), From: "public", To: "community"}
	if s := refresh(60); !maps.Equal(s.VisibilityChanged, want) {
		t.Errorf("after a failed round: changes %v, want %v", s.VisibilityChanged, want)
	}
	o.Static = []string{"b"}
	d.Update(o)
	if s := refresh(70); len(s.VisibilityChanged) != 1 || s.VisibilityChanged["b"] != want["b"] {
		t.Errorf("after a reload unwatching a: changes %v, want b's only", s.VisibilityChanged)
	}
}

// An answer asked for before the one in use does not overwrite it: a
// listing round that started before a prioritized look-up came back.
func TestOlderAnswerDoesNotOverwriteVisibility(t *testing.T) {
	d := New(Options{Lister: &fakeLister{}, Static: []string{"a"}, Interval: time.Minute})
	t0 := time.Unix(1e9, 0)
	d.mu.Lock()
	d.mergeVisibility(map[string]string{"a": "private"}, t0, t0)
	d.mergeVisibility(map[string]string{"a": "public"}, t0.Add(2*time.Second), t0.Add(3*time.Second)) // the look-up
	d.mergeVisibility(map[string]string{"a": "private"}, t0.Add(time.Second), t0.Add(4*time.Second))  // the older round
	d.mu.Unlock()
	s := d.Snapshot()
	if s.Visibility["a"] != "public" || len(s.VisibilityChanged) != 1 || s.VisibilityChanged["a"].To != "public" {
		t.Errorf("visibility %v, changes %v; want public, one change", s.Visibility, s.VisibilityChanged)
	}
}

// Prioritize looks up watched images at once, beside the refresh, within
// the same Concurrency; unwatched IDs are ignored.
func TestPrioritizeLooksUpVisibilityAtOnce(t *testing.T) {
	l := &fakeLister{byID: map[string]scp.Image{}}
	static := []string{"s1", "s2", "s3", "s4"}
	for _, id := range static {
		l.byID[id] = scp.Image{ID: id, Visibility: "private"}
	}
	d := New(Options{Lister: l, Static: static, Visibility: []string{"private"}, Interval: time.Hour, Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.For(t, func() bool { return len(d.Snapshot().Visibility) == 4 }, "the first refresh")

	l.update(func(f *fakeLister) { f.byID["s2"] = scp.Image{ID: "s2", Visibility: "public"}; f.shown = nil })
	if n := d.Prioritize("s2", "not-watched", "s2"); n != 1 {
		t.Errorf("Prioritize queued %d, want 1", n)
	}
	testwait.For(t, func() bool { return d.Snapshot().Visibility["s2"] == "public" }, "s2's new visibility, an hour before the next refresh")
	s := d.Snapshot()
	if c := s.VisibilityChanged["s2"]; c.From != "private" || c.To != "public" || c.At.Before(c.Since) {
		t.Errorf("change %+v, want private to public", c)
	}
	l.mu.Lock()
	shown := slices.Clone(l.shown)
	l.mu.Unlock()
	if !slices.Equal(shown, []string{"s2"}) {
		t.Errorf("looked up %v, want s2 alone", shown)
	}
}

// With the fake API: an image of another account listed as shared with us
// is accepted, ours are not; discovery off, private only in its visibility.
func TestAcceptedWithTheFakeAPI(t *testing.T) {
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const ours, theirs, other = "0a000000-0000-4000-8000-000000000001", "0b000000-0000-4000-8000-000000000002", "0c000000-0000-4000-8000-000000000003"
	fake.AddImages(
		scptest.Image{ID: ours, Name: "golden", Visibility: "private", Owner: "proj-ours"},
		scptest.Image{ID: other, Name: "golden-shared", Visibility: "shared", Owner: "proj-ours"},
		scptest.Image{ID: theirs, Name: "vendor-base", Visibility: "shared", Owner: "proj-vendor"},
	)
	d := New(Options{Lister: client, Static: []string{ours}, Visibility: []string{"private"}, Interval: time.Hour})
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if len(s.Accepted) != 1 || s.Accepted[0].ID != theirs || s.Accepted[0].Owner != "proj-vendor" || s.Accepted[0].Name != "vendor-base" {
		t.Errorf("accepted %+v, want the vendor's image only", s.Accepted)
	}
	if n := fake.Requests(scptest.ListImagesKey); n != 2 {
		t.Errorf("%d listing calls, want 2: private and shared", n)
	}
	fake.SetFault(scptest.ListImagesKey, scptest.Fault{Status: 500})
	_ = d.Refresh(context.Background())
	if s := d.Snapshot(); len(s.Accepted) != 1 || s.Accepted[0].ID != theirs {
		t.Errorf("after a failed listing: accepted %+v, want the last good list", s.Accepted)
	}
}
