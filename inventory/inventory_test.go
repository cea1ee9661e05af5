package inventory

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/testproc"
	"github.com/scp-exporter/scp_exporter/scp"
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
