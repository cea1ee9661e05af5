package engine

import (
	"errors"
	"maps"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// ImageView is an image as a scrape sees it.
type ImageView struct {
	Image
	// Members are the last known members, each once (the client merges a
	// member the API lists twice); Known reports whether there are any to
	// show (a failed image keeps those of its last good fetch).
	Members []scp.Member
	Known   bool
	// Err and Reason are the last attempt's failure; nil and "" when it
	// succeeded. An image never fetched has ReasonNotFetchedYet.
	Err    error
	Reason scp.Reason
	// Fetched is when the members were last fetched successfully.
	Fetched time.Time
	// ChangedAt is when a successful fetch last returned members different
	// from the last known ones (a member added or removed, or a status
	// changed); the first successful fetch is not a change, nor is one
	// after a 404. ChangedSince is when the last fetch that still returned
	// the previous members was started: the change happened in
	// [ChangedSince, ChangedAt]. Both are zero until a change is seen.
	ChangedAt    time.Time
	ChangedSince time.Time
	// FirstFetched is when the image's first successful fetch ended, zero
	// before: members it showed appeared at some moment before it.
	FirstFetched time.Time
}

// View is what a scrape reads: every watched image, the listings, and how
// far behind the refresh is.
type View struct {
	Images    []ImageView
	Inventory inventory.State
	// StalestAge is the age of the oldest sure answer among the watched
	// images: a successful fetch, or a 404 that says the image is gone
	// (since it was first watched, for an image with neither).
	StalestAge time.Duration
	// PassDuration is how long the last full pass took: from its first
	// attempt until every watched image had been fetched (or tried) once;
	// on demand, a pass a scrape could not finish goes on between scrapes,
	// and its duration spans them. Passes is how many have completed;
	// PassDuration means nothing before one.
	PassDuration time.Duration
	Passes       int
	// MinPassDuration is the shortest full pass the budget allows now: the
	// images over the effective rate.
	MinPassDuration time.Duration
	// RefreshInterval is the configured interval (0: on demand).
	RefreshInterval time.Duration
}

// Snapshot returns what the engine knows now.
func (e *Engine) Snapshot() View {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.syncInventory()
	now := e.opts.Now()
	v := View{
		Images:          make([]ImageView, len(e.order)),
		Inventory:       e.inv.Snapshot(),
		PassDuration:    e.meter.last,
		Passes:          e.meter.count,
		RefreshInterval: e.opts.RefreshInterval,
	}
	for i, im := range e.order {
		k := &e.images[im.ID].knowledge
		v.Images[i] = k.view(im)
		v.StalestAge = max(v.StalestAge, now.Sub(k.sureSince()))
	}
	if b := e.opts.Budget; b != nil && len(e.order) > 0 {
		v.MinPassDuration = time.Duration(float64(len(e.order)) / b.Rate() * float64(time.Second))
	}
	return v
}

// knowledge is what the calls told of one image's members.
type knowledge struct {
	members []scp.Member // last known; never modified once stored
	known   bool         // members is an answer (possibly empty), not nothing yet
	fetched time.Time    // last successful fetch
	// answered is when the API last answered for sure: a success, or a 404
	// (the image is gone); staleness counts from it, or from added.
	answered time.Time
	added    time.Time // first watched
	// firstFetched is when the first successful fetch ended.
	firstFetched time.Time
	err          error // last attempt's failure; nil after a success
	reason       scp.Reason
	// okStart is when the last successful fetch was started; changedAt and
	// changedSince are the last change of members seen (see ImageView).
	okStart      time.Time
	changedAt    time.Time
	changedSince time.Time
}

// reasonPanic is the reason of a fetch that panicked.
const reasonPanic scp.Reason = "internal_error"

// learn records the outcome of a call started at started and ended at now.
func (k *knowledge) learn(started, now time.Time, members []scp.Member, err error) {
	if err == nil {
		if k.known && !sameMembers(k.members, members) {
			k.changedAt, k.changedSince = now, k.okStart
		}
		k.okStart = started
		if k.firstFetched.IsZero() {
			k.firstFetched = now
		}
		k.members, k.known, k.fetched, k.answered, k.err, k.reason = members, true, now, now, nil, ""
		return
	}
	k.err, k.reason = err, scp.ReasonOf(err)
	if errors.Is(err, errPanic) {
		k.reason = reasonPanic
	}
	if k.reason == scp.ReasonNotFound {
		// The image is gone, or this key cannot see it: it has no members
		// we could know of.
		k.members, k.known, k.answered = nil, false, now
	}
}

// sameMembers reports whether two answers list the same members with the
// same statuses, in any order.
func sameMembers(a, b []scp.Member) bool {
	if len(a) != len(b) {
		return false
	}
	am := make(map[string]string, len(a))
	for _, m := range a {
		am[m.ID] = m.Status
	}
	bm := make(map[string]string, len(b))
	for _, m := range b {
		bm[m.ID] = m.Status
	}
	return maps.Equal(am, bm)
}

// view is the image as a scrape sees it.
func (k *knowledge) view(im Image) ImageView {
	iv := ImageView{Image: im, Members: k.members, Known: k.known, Err: k.err, Reason: k.reason, Fetched: k.fetched,
		ChangedAt: k.changedAt, ChangedSince: k.changedSince, FirstFetched: k.firstFetched}
	if k.fetched.IsZero() && k.err == nil {
		iv.Err, iv.Reason = errNotFetchedYet, ReasonNotFetchedYet
	}
	return iv
}

var errNotFetchedYet = errors.New("the image's members have not been fetched yet")

// sureSince is when the image's last sure answer came, or when it was
// first watched if none has.
func (k *knowledge) sureSince() time.Time {
	if k.answered.IsZero() {
		return k.added
	}
	return k.answered
}

// passMeter measures full passes for View.PassDuration: a full pass lasts
// from the start of its first attempt until an attempt for every watched
// image has finished. It is counted apart from the on-demand pass: it also
// measures the background mode, and a full pass that a reload's switch of
// mode cut short goes on in the next mode's work.
type passMeter struct {
	start time.Time       // zero until the pass's first attempt
	left  map[string]bool // watched images not yet tried in the pass
	last  time.Duration   // the last completed
	count int             // completed
}

// watch adds a newly watched image to the pass under way.
func (m *passMeter) watch(id string) { m.left[id] = true }

// forget drops an image no longer watched: the pass needs it no more.
func (m *passMeter) forget(id string) { delete(m.left, id) }

// attempted starts the clock at the pass's first attempt.
func (m *passMeter) attempted(now time.Time) {
	if m.start.IsZero() {
		m.start = now
	}
}

// tried counts an image's finished attempt.
func (m *passMeter) tried(id string) { delete(m.left, id) }

// endIfDone completes the pass when every watched image has been tried in
// it, and begins the next over them.
func (m *passMeter) endIfDone(now time.Time, images map[string]*imageState) {
	if len(m.left) > 0 || len(images) == 0 || m.start.IsZero() {
		return
	}
	m.last, m.count, m.start = now.Sub(m.start), m.count+1, time.Time{}
	for id := range images {
		m.left[id] = true
	}
}
