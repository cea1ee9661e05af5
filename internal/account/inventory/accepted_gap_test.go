package inventory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

type listFails struct{ *fakeLister }

func (l listFails) ListImages(context.Context, string) ([]scp.Image, error) {
	return nil, errors.New("500")
}

// An offer accepted between two rounds stays in one of the two lists when
// the next round's listing fails while its pending call works: no alert
// loses sight of it.
func TestAcceptedOfferNeverInNeitherList(t *testing.T) {
	const ours, stranger, img = "owner-ours", "owner-x", "img-1"
	f := &fakeLister{byVis: map[string][]scp.Image{
		"private": {{ID: "mine", Owner: ours, Visibility: "private"}},
	}, pending: []scp.PendingImage{{ID: img, Owner: stranger}}}
	d := New(Options{Lister: f, Interval: time.Hour, Now: time.Now})
	_ = d.Refresh(context.Background())
	if st := d.Snapshot(); len(st.Pending) != 1 || len(st.Accepted) != 0 {
		t.Fatalf("round 1: pending %d, accepted %d; want 1, 0", len(st.Pending), len(st.Accepted))
	}
	// Accepted between rounds; the next round's listing fails, the pending call does not.
	f.update(func(f *fakeLister) {
		f.pending = nil
		f.byVis["shared"] = []scp.Image{{ID: img, Owner: stranger, Visibility: "shared"}}
	})
	d.Update(Options{Lister: listFails{f}, Interval: time.Hour, Now: time.Now})
	_ = d.Refresh(context.Background())
	if st := d.Snapshot(); len(st.Pending) != 1 || st.Pending[0].ID != img {
		t.Errorf("round 2 (listing failed): pending %v, accepted %v; want the offer kept as pending", st.Pending, st.Accepted)
	}
	// A round whose listings work shows it accepted, and no longer offered.
	d.Update(Options{Lister: f, Interval: time.Hour, Now: time.Now})
	_ = d.Refresh(context.Background())
	if st := d.Snapshot(); len(st.Pending) != 0 || len(st.Accepted) != 1 {
		t.Errorf("round 3: pending %v, accepted %v; want it accepted only", st.Pending, st.Accepted)
	}
}
