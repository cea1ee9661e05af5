package engine

import (
	"cmp"
	"slices"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Saved is what the engine keeps across a restart: the last known members
// of every image fetched, with when, and the listings.
type Saved struct {
	Images    []SavedImage    `json:"images"`
	Inventory inventory.Saved `json:"inventory"`
	// Prioritized are the images an audit event named whose fetch had not
	// ended: fetched first again after the restart.
	Prioritized []string `json:"prioritized,omitempty"`
}

// SavedImage is what is known of one image's members (see ImageView).
type SavedImage struct {
	ID           string       `json:"id"`
	Members      []scp.Member `json:"members"`
	Fetched      time.Time    `json:"fetched"`
	FirstFetched time.Time    `json:"first_fetched"`
	// Started is when the last successful fetch was started.
	Started      time.Time `json:"started"`
	ChangedAt    time.Time `json:"changed_at,omitzero"`
	ChangedSince time.Time `json:"changed_since,omitzero"`
}

// Save returns what Restore needs to continue after a restart: every
// watched image with known members, in watch order.
func (e *Engine) Save() Saved {
	inv := e.inv.Save()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Saved{Inventory: inv}
	for _, im := range e.order {
		k := &e.images[im.ID].knowledge
		if !k.known {
			continue
		}
		out.Images = append(out.Images, SavedImage{ID: im.ID, Members: k.members, Fetched: k.fetched, FirstFetched: k.firstFetched,
			Started: k.okStart, ChangedAt: k.changedAt, ChangedSince: k.changedSince})
	}
	for _, st := range e.queue.prio {
		out.Prioritized = append(out.Prioritized, st.id)
	}
	return out
}

// Restore starts the engine from what Save returned before a restart,
// before Run: the listings first, then the members of every image watched
// now, served at once with their true age (staleness counts from when they
// were fetched). The queue resumes stalest first: images never fetched,
// then the saved ones by when they were fetched, oldest first. Images not
// watched now are dropped, and a time after now (a clock that went back)
// is taken as now.
func (e *Engine) Restore(s Saved) {
	e.inv.Restore(s.Inventory)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshWatched()
	now := e.opts.Now()
	saved := slices.Clone(s.Images)
	slices.SortStableFunc(saved, func(a, b SavedImage) int { return cmp.Compare(a.Fetched.UnixNano(), b.Fetched.UnixNano()) })
	restored := 0
	var stalest time.Time
	clamp := func(t time.Time) time.Time {
		if t.After(now) {
			return now
		}
		return t
	}
	for _, si := range saved {
		st := e.images[si.ID]
		if st == nil || st.known {
			continue
		}
		fetched, first := clamp(si.Fetched), clamp(cmp.Or(si.FirstFetched, si.Fetched))
		st.knowledge = knowledge{
			members: slices.Clone(si.Members), known: true, fetched: fetched, answered: fetched,
			added: first, firstFetched: first,
			okStart: clamp(si.Started), changedAt: clamp(si.ChangedAt), changedSince: clamp(si.ChangedSince),
		}
		if restored == 0 {
			stalest = fetched
		}
		restored++
		e.queue.takes++
		st.taken = e.queue.takes
	}
	if restored > 0 {
		e.queue.rebuild(e.order, e.images)
	}
	for _, id := range s.Prioritized {
		if st := e.images[id]; st != nil {
			e.queue.prioritize(st)
		}
	}
	if e.background() && restored > 0 {
		// The stalest restored image's turn comes an interval after its
		// fetch, and each next a gap after that: after a long outage the
		// turns are all past, and the engine catches up as fast as the
		// budget allows, as after a fresh start.
		e.pace.due = stalest.Add(e.opts.RefreshInterval)
	}
}
