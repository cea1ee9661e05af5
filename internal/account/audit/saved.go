package audit

import (
	"maps"
	"slices"
	"time"
)

// DefaultCatchUp is how far back the first poll after a restart reads at
// most: the trail from where the last run left off, up to a day.
const DefaultCatchUp = 24 * time.Hour

// Saved is what the poller keeps across a restart: where the next window
// starts, and the events kept per image (for attribution).
type Saved struct {
	NextStart time.Time          `json:"next_start"`
	Images    map[string][]Event `json:"images,omitempty"`
}

// Save returns what Restore needs to continue after a restart.
func (p *Poller) Save() Saved {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Saved{NextStart: p.status.NextStart, Images: make(map[string][]Event, len(p.images))}
	for id, list := range p.images {
		s.Images[id] = slices.Clone(list)
	}
	return s
}

// Restore starts the poller from what Save returned before a restart,
// before Run: the first poll reads from where the last run left off — at
// most catchUp back (DefaultCatchUp when 0), whatever MaxWindow says — so
// a change made while the exporter was down is read, and its image
// fetched, first. Events past Retention, or beyond MaxEventsPerImage per
// image, are dropped.
func (p *Poller) Restore(s Saved, catchUp time.Duration) {
	if catchUp <= 0 {
		catchUp = DefaultCatchUp
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if !s.NextStart.IsZero() && s.NextStart.Before(now) {
		p.status.NextStart = s.NextStart
		if oldest := now.Add(-catchUp); p.status.NextStart.Before(oldest) {
			p.status.NextStart = oldest
		}
		p.catchUp = catchUp
	}
	oldest := now.Add(-p.opts.Retention)
	for _, id := range slices.Sorted(maps.Keys(s.Images)) {
		for _, ev := range s.Images[id] {
			if ev.Time.Before(oldest) || ev.Time.After(now.Add(ExplainSkew)) || slices.ContainsFunc(p.images[id], func(k Event) bool { return k.ID == ev.ID }) {
				continue
			}
			p.images[id] = insert(p.images[id], ev)
			// Events restored count within MaxUnwatchedEvents whatever
			// their image: which are watched is not known yet.
			p.unwatched = append(p.unwatched, eventRef{image: id, id: ev.ID, at: ev.Time})
		}
	}
	p.trimUnwatched()
}
