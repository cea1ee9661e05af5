package discovery

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// fakeLister answers ListImages from a map of visibility to images, or fails.
type fakeLister struct {
	mu     sync.Mutex
	byVis  map[string][]scp.Image
	err    error
	called []string
}

func (f *fakeLister) ListImages(_ context.Context, visibility string) ([]scp.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called = append(f.called, visibility)
	if f.err != nil {
		return nil, f.err
	}
	return f.byVis[visibility], nil
}

func (f *fakeLister) set(err error, byVis map[string][]scp.Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.byVis = err, byVis
}

func ids(images []scp.Image) []string {
	out := make([]string, len(images))
	for i, im := range images {
		out[i] = im.ID
	}
	return out
}

func TestRefreshMergesFiltersAndKeepsLastGoodList(t *testing.T) {
	l := &fakeLister{}
	l.set(nil, map[string][]scp.Image{
		"private": {{ID: "c", Name: "golden-c", Owner: "me"}, {ID: "a", Name: "golden-a", Owner: "me"}},
		"shared": {
			{ID: "a", Name: "golden-a", Owner: "me"},      // also private: listed once
			{ID: "b", Name: "scratch-b", Owner: "me"},     // name filtered out
			{ID: "d", Name: "golden-d", Owner: "someone"}, // another account's image
			{ID: "e", Name: "golden-e", Owner: "me"},
		},
	})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	re := regexp.MustCompile(`^(?:golden-.*)$`)
	d := New(Options{
		Lister: l, Visibility: []string{"private", "shared"}, Owner: "me",
		Match: re.MatchString, Interval: time.Minute, Now: func() time.Time { return now },
	})
	if _, st := d.Snapshot(); st.Tried || !st.LastSuccess.IsZero() {
		t.Fatalf("fresh discoverer reports %+v", st)
	}
	if err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	images, st := d.Snapshot()
	if got := ids(images); len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "e" {
		t.Errorf("discovered %v, want [a c e]", got)
	}
	if !st.Tried || st.Images != 3 || !st.LastSuccess.Equal(now) {
		t.Errorf("status %+v", st)
	}

	// A failed listing keeps the last good list and its time.
	l.set(errors.New("api down"), nil)
	now = now.Add(time.Hour)
	if err := d.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh hid the listing error")
	}
	images, st = d.Snapshot()
	if len(images) != 3 || st.LastSuccess.Equal(now) {
		t.Errorf("after a failure: %v %+v, want the last good list and time", ids(images), st)
	}

	// A reload's new discoverer starts from the old list.
	fresh := New(Options{Lister: l, Visibility: []string{"private"}, Interval: time.Minute})
	fresh.Seed(d)
	if images, st := fresh.Snapshot(); len(images) != 3 || st.Tried {
		t.Errorf("seeded discoverer: %v %+v (it has not tried its own listing yet)", ids(images), st)
	}
}

func TestRunRefreshesUntilCancelled(t *testing.T) {
	l := &fakeLister{}
	l.set(nil, map[string][]scp.Image{"private": {{ID: "a"}}})
	d := New(Options{Lister: l, Visibility: []string{"private"}, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.called)
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
