package inventory

import (
	"maps"
	"slices"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Saved is what the inventory keeps across a restart: its state as last
// learnt, and when each image's visibility was learnt.
type Saved struct {
	Discovered        []scp.Image                 `json:"discovered,omitempty"`
	Visibility        map[string]string           `json:"visibility,omitempty"`
	VisibilityAsOf    map[string]time.Time        `json:"visibility_as_of,omitempty"`
	VisibilityChanged map[string]VisibilityChange `json:"visibility_changed,omitempty"`
	Pending           []scp.PendingImage          `json:"pending,omitempty"`
	Accepted          []scp.Image                 `json:"accepted,omitempty"`
	Owners            []string                    `json:"owners,omitempty"`
	LastSuccess       time.Time                   `json:"last_success"`
	PendingSuccess    time.Time                   `json:"pending_last_success"`
	AcceptedSuccess   time.Time                   `json:"accepted_last_success"`
}

// Save returns what Restore needs to continue after a restart.
func (d *Inventory) Save() Saved {
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := d.state
	return Saved{
		Discovered:        slices.Clone(st.Discovered),
		Visibility:        maps.Clone(st.Visibility),
		VisibilityAsOf:    maps.Clone(d.visAsOf),
		VisibilityChanged: maps.Clone(st.VisibilityChanged),
		Pending:           slices.Clone(st.Pending),
		Accepted:          slices.Clone(st.Accepted),
		Owners:            slices.Sorted(maps.Keys(st.Owners)),
		LastSuccess:       st.Status.LastSuccess,
		PendingSuccess:    st.Status.PendingLastSuccess,
		AcceptedSuccess:   st.Status.AcceptedLastSuccess,
	}
}

// Restore starts the inventory from what Save returned before a restart,
// before Run: the listings are served at once, with the times they were
// learnt, and refreshed as usual. The discovered list is kept only with
// Discover (an image discovery no longer lists is not resurrected: the
// next listing replaces the list) and only the images the current
// visibility and name filters would list; visibility only for images
// watched now. The first listing is still awaited for readiness.
func (d *Inventory) Restore(s Saved) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.Discover {
		// Only what the discovery configured now would list: an image a
		// visibility or name_regex since changed leaves out stays out.
		var kept []scp.Image
		for _, im := range s.Discovered {
			if slices.Contains(d.opts.Visibility, im.Visibility) && d.opts.matches(im.Name) {
				kept = append(kept, im)
			}
		}
		d.state.Discovered = kept
		d.state.Status.Images, d.state.Status.LastSuccess = len(kept), s.LastSuccess
	}
	watched := d.watchedSet()
	for id, v := range s.Visibility {
		if watched[id] {
			d.state.Visibility[id] = v
			if at, ok := s.VisibilityAsOf[id]; ok {
				d.visAsOf[id] = at
			}
			if c, ok := s.VisibilityChanged[id]; ok {
				d.state.VisibilityChanged[id] = c
			}
		}
	}
	d.state.Pending, d.state.Status.PendingLastSuccess = slices.Clone(s.Pending), s.PendingSuccess
	d.state.Accepted, d.state.Status.AcceptedLastSuccess = slices.Clone(s.Accepted), s.AcceptedSuccess
	if len(s.Owners) > 0 {
		d.state.Owners = make(map[string]bool, len(s.Owners))
		for _, o := range s.Owners {
			d.state.Owners[o] = true
		}
	}
	d.state.Status.Generation++
}
