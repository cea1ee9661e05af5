// Package engine owns all API work of one account: it refreshes the
// members of every watched image, stalest first, and runs the account's
// listings (discovery, visibility, offered images), every call within the
// account's one budget. Scrapes read what it knows; they never call the API
// themselves.
//
// It has two modes. On demand (refresh interval 0), the engine fetches while
// a scrape waits: a scrape starts a pass over every image (or joins the one
// under way), and answers when the pass is done or its own deadline comes,
// whichever is first; what was not reached goes first next time. In the
// background (refresh interval > 0), passes run continuously, paced so each
// image is fetched about once per interval, and scrapes wait for nothing.
//
// Prioritize puts images at the head of the queue, in either mode: when
// something says they changed (an audit event), their members and
// visibility are fetched before any other image's, as soon as the budget
// allows. Every image's view says when its members last changed.
package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Client is the part of the SCP client the engine uses.
type Client interface {
	ListImageMembers(ctx context.Context, imageID string) ([]scp.Member, error)
	inventory.Lister
}

// Image is one image to watch, with the rules that judge its state.
type Image struct {
	ID   string
	Name string
	// Expected holds the accounts this image may be shared with.
	Expected map[string]bool
	// AllowedVisibility holds the visibilities this image may have.
	AllowedVisibility map[string]bool
}

// Options configure an Engine; Update swaps them in place.
type Options struct {
	Client Client
	// Budget is the account's; the engine reads its effective rate to tell
	// how long a full pass must take.
	Budget *scp.Budget
	// Images are the configured images, watched in this order, before the
	// discovered ones.
	Images []Image
	// Inventory configures the listings; its Lister and Static are set by
	// the engine. With Inventory.Discover, listed images are watched too,
	// with DefaultExpected and DefaultAllowedVisibility.
	Inventory                inventory.Options
	DefaultExpected          map[string]bool
	DefaultAllowedVisibility map[string]bool
	// RefreshInterval is 0 to fetch while scrapes wait, or how often each
	// image should be fetched in the background.
	RefreshInterval time.Duration
	// CallTimeout bounds one members call with its retries (scrape_timeout):
	// a call outlives the scrape that wanted it, never this.
	CallTimeout time.Duration
	// Concurrency is how many members calls may be under way at once.
	Concurrency int
	Logger      log.Logger
	Now         func() time.Time
}

// ReasonNotFetchedYet is the reason of an image whose first fetch has not
// completed.
const ReasonNotFetchedYet scp.Reason = "not_fetched_yet"

// reasonPanic is the reason of a fetch that panicked.
const reasonPanic scp.Reason = "internal_error"

// imageState is what the engine knows of one image.
type imageState struct {
	members []scp.Member // last known; never modified once stored
	known   bool         // members is an answer (possibly empty), not nothing yet
	fetched time.Time    // last successful fetch
	// answered is when the API last answered for sure: a success, or a 404
	// (the image is gone); staleness counts from it.
	answered  time.Time
	attempted time.Time // start of the last attempt; zero if none yet
	added     time.Time // first watched
	err       error     // last attempt's failure; nil after a success
	reason    scp.Reason
	inflight  bool
	// okStart is when the last successful fetch was started; changedAt and
	// changedSince are the last change of members seen (see ImageView).
	okStart      time.Time
	changedAt    time.Time
	changedSince time.Time
	// prio: the image is in Engine.prio, to be fetched before any other.
	prio bool
	// taken is the value of Engine.takes when its last attempt was taken.
	taken uint64
	// adoptedBy is a later pass that counts this image's call under way as
	// its own: it waits for that call instead of making another.
	adoptedBy *pass
}

// pass is one round over the images, in the order they had when it began.
// On demand, scrapes wait for it; it takes new work only while one does.
type pass struct {
	queue    []string
	next     int
	inflight int           // its calls under way, adopted ones included
	waiters  int           // scrapes waiting on it (on-demand mode)
	done     chan struct{} // closed when every image of the queue has been tried
	closed   bool          // done is closed
	// takes is Engine.takes when the pass began: an image taken since (for
	// Prioritize) has been tried within the pass, and is not fetched again.
	takes uint64
}

// Engine is one account's refresh engine. Its methods are safe for
// concurrent use.
type Engine struct {
	disc *inventory.Inventory

	mu     sync.Mutex
	cond   *sync.Cond // signalled when work may be available
	opts   Options
	images map[string]*imageState
	order  []Image // watched images: configured, then discovered
	pass   *pass
	busy   int // members calls under way
	// prio are the images Prioritize queued, in order, each once; they are
	// taken before any pass's. takes counts the attempts taken.
	prio  []string
	takes uint64
	// Background mode spreads calls over the interval: an image fetched
	// before is taken no sooner than nextDue (real time, not opts.Now),
	// and a timer wakes the workers then.
	nextDue time.Time
	wakeAt  time.Time
	wake    *time.Timer
	// discGen is the discovered list the watch list was built from.
	discGen uint64
	// workers are started up to the largest Concurrency seen, once Run has
	// given them a context.
	workers int
	runCtx  context.Context
	wg      sync.WaitGroup
	// behind: the budget cannot refresh every image within the interval
	// (logged once each time it becomes true).
	behind bool

	// A sweep is a full pass: from the start of its first attempt until an
	// attempt for every watched image has finished. On demand it spans the
	// scrapes it took, and the time between them.
	sweepStart    time.Time // zero until the sweep's first attempt
	sweepLeft     map[string]bool
	sweepDuration time.Duration // the last completed
	sweeps        int           // completed
}

// New returns an engine; Run starts it.
func New(o Options) *Engine {
	o = o.withDefaults()
	e := &Engine{opts: o, images: map[string]*imageState{}}
	e.cond = sync.NewCond(&e.mu)
	e.disc = inventory.New(e.discoveryOptions(o))
	e.mu.Lock()
	e.refreshWatched()
	e.mu.Unlock()
	return e
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	o.Concurrency = max(1, o.Concurrency)
	return o
}

func (e *Engine) discoveryOptions(o Options) inventory.Options {
	d := o.Inventory
	d.Lister = o.Client
	d.Static = make([]string, len(o.Images))
	for i, im := range o.Images {
		d.Static[i] = im.ID
	}
	d.Logger = o.Logger
	d.Now = o.Now
	d.Concurrency = o.Concurrency
	d.Changed = func() {
		e.mu.Lock()
		e.syncDiscovered()
		e.cond.Broadcast()
		e.mu.Unlock()
	}
	return d
}

// Update swaps in new options after a config reload. What the engine knows
// of images that stay is kept; images no longer watched are forgotten; new
// ones are fetched first.
func (e *Engine) Update(o Options) {
	o = o.withDefaults()
	e.disc.Update(e.discoveryOptions(o))
	e.mu.Lock()
	defer e.mu.Unlock()
	if o.RefreshInterval != e.opts.RefreshInterval {
		// A new mode or pace starts afresh: scrapes waiting on the pass
		// under way get what is known, and the next pass is ordered anew.
		e.dropPass()
		e.nextDue = time.Time{}
	}
	e.opts = o
	e.refreshWatched() // counts as a change
	e.startWorkers()
	e.cond.Broadcast()
}

// dropPass ends the current pass: its waiters are released and it takes
// no more work. e.mu must be held.
func (e *Engine) dropPass() {
	if p := e.pass; p != nil {
		p.next = len(p.queue)
		e.close(p)
		e.pass = nil
	}
}

// Inventory is the account's listings: discovered images, visibility,
// offered images.
func (e *Engine) Inventory() *inventory.Inventory { return e.disc }

// Run works until ctx ends: the listings on their interval, and members
// calls by Concurrency workers. It returns when all of them have stopped.
func (e *Engine) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	e.runCtx = ctx
	e.wg.Go(func() { e.disc.Run(ctx) })
	e.startWorkers()
	e.mu.Unlock()
	e.wg.Wait()
}

// startWorkers starts workers up to Concurrency. Extra workers left by a
// reload that lowered it stay idle (see take). e.mu must be held.
func (e *Engine) startWorkers() {
	if e.runCtx == nil || e.runCtx.Err() != nil {
		return
	}
	for ; e.workers < e.opts.Concurrency; e.workers++ {
		e.wg.Go(func() { e.work(e.runCtx) })
	}
}

// refreshWatched rebuilds the watch list from the configured images and the
// last discovered list, keeping the state of images that stay. e.mu must be
// held.
func (e *Engine) refreshWatched() {
	o := e.opts
	st := e.disc.Snapshot()
	e.discGen = st.Status.Generation
	order := slices.Clone(o.Images)
	static := make(map[string]bool, len(o.Images))
	for _, im := range o.Images {
		static[im.ID] = true
	}
	if o.Inventory.Discover {
		for _, im := range st.Discovered {
			if !static[im.ID] {
				order = append(order, Image{ID: im.ID, Name: im.Name, Expected: o.DefaultExpected, AllowedVisibility: o.DefaultAllowedVisibility})
				static[im.ID] = true
			}
		}
	}
	now := o.Now()
	added := false
	for _, im := range order {
		if _, ok := e.images[im.ID]; !ok {
			added = true
			e.images[im.ID] = &imageState{added: now}
			if e.sweepLeft != nil {
				e.sweepLeft[im.ID] = true
			}
		}
	}
	if added && o.RefreshInterval > 0 {
		e.dropPass() // new images first: the next pass puts them at its head
	}
	for id, st := range e.images {
		if !static[id] {
			if p := st.adoptedBy; p != nil { // its call's outcome will not be recorded
				p.inflight--
				e.finishIfDone(p)
			}
			delete(e.images, id)
			delete(e.sweepLeft, id)
		}
	}
	e.prio = slices.DeleteFunc(e.prio, func(id string) bool { return e.images[id] == nil })
	e.order = order
	if e.sweepLeft == nil {
		e.startSweep()
	}
	e.checkSweep(now)
}

// syncDiscovered picks up a new discovered list when discovery has one.
// e.mu must be held.
func (e *Engine) syncDiscovered() {
	if e.disc.Snapshot().Status.Generation != e.discGen {
		e.refreshWatched()
	}
}

func (e *Engine) startSweep() {
	e.sweepStart = time.Time{}
	e.sweepLeft = make(map[string]bool, len(e.images))
	for id := range e.images {
		e.sweepLeft[id] = true
	}
}

// checkSweep ends the sweep when every image's attempt has finished, and
// starts the next. e.mu must be held.
func (e *Engine) checkSweep(now time.Time) {
	if len(e.sweepLeft) == 0 && len(e.images) > 0 && !e.sweepStart.IsZero() {
		e.sweepDuration = now.Sub(e.sweepStart)
		e.sweeps++
		e.startSweep()
	}
}

// newPass orders the watched images: never tried first (in watch order),
// then by the start of their last attempt, oldest first. e.mu must be held.
func (e *Engine) newPass() *pass {
	queue := make([]string, len(e.order))
	for i, im := range e.order {
		queue[i] = im.ID
	}
	slices.SortStableFunc(queue, func(a, b string) int {
		return e.images[a].attempted.Compare(e.images[b].attempted)
	})
	return &pass{queue: queue, done: make(chan struct{}), takes: e.takes}
}

// Prioritize puts watched images at the head of the queue: their members
// are fetched before any other image's, as soon as Concurrency (and the
// budget) allow. In background mode the workers take them at once, even if
// they were fetched a moment ago; on demand, the next scrape's pass (or the
// one under way) fetches them first. A call under way for an image when
// Prioritize is called does not count, as the image may have changed after
// it was sent: the image is fetched again after it. Their visibility is
// looked up at once too (see inventory.Inventory.Prioritize). IDs that are
// not watched are ignored; it returns how many distinct IDs were queued.
func (e *Engine) Prioritize(ids ...string) int {
	e.mu.Lock()
	e.syncDiscovered()
	var queued []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		st, ok := e.images[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		queued = append(queued, id)
		if !st.prio {
			st.prio = true
			e.prio = append(e.prio, id)
		}
	}
	if len(queued) > 0 {
		e.cond.Broadcast()
	}
	e.mu.Unlock()
	e.disc.Prioritize(queued...)
	return len(queued)
}

// nextPriority takes the first prioritized image whose call is not under
// way. e.mu must be held.
func (e *Engine) nextPriority() (string, bool) {
	for i := 0; i < len(e.prio); {
		id := e.prio[i]
		st, ok := e.images[id]
		switch {
		case !ok || !st.prio:
			e.prio = slices.Delete(e.prio, i, i+1)
		case st.inflight: // started before Prioritize: wait for it, then fetch again
			i++
		default:
			e.prio = slices.Delete(e.prio, i, i+1)
			st.prio = false
			return id, true
		}
	}
	return "", false
}

// Wait fetches, in on-demand mode, until every watched image has been tried
// in a pass that began no earlier than the one under way, or ctx ends. Calls
// it started finish into the state even when ctx ends first. In background
// mode it returns at once.
func (e *Engine) Wait(ctx context.Context) {
	e.mu.Lock()
	if e.opts.RefreshInterval > 0 {
		e.mu.Unlock()
		return
	}
	e.syncDiscovered()
	p := e.pass
	if p == nil || p.closed || p.waiters == 0 {
		// A pass nobody waits on took no new work since its last waiter
		// left; a scrape now needs one that begins now.
		e.dropPass()
		p = e.newPass()
		e.pass = p
		e.advance(p)
	}
	p.waiters++
	e.cond.Broadcast()
	e.mu.Unlock()

	select {
	case <-p.done:
	case <-ctx.Done():
	}

	e.mu.Lock()
	p.waiters-- // at 0, the pass takes no new work; calls under way finish
	e.mu.Unlock()
}

// work is one worker: it takes the next image and fetches it, until ctx ends.
func (e *Engine) work(ctx context.Context) {
	for {
		id, p, ok := e.take(ctx)
		if !ok {
			return
		}
		e.fetch(ctx, id, p)
	}
}

// take blocks until there is an image to fetch, marks it in flight and
// returns it with its pass.
func (e *Engine) take(ctx context.Context) (string, *pass, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if ctx.Err() != nil {
			return "", nil, false
		}
		if e.busy < e.opts.Concurrency {
			if id, p, ok := e.next(); ok {
				st := e.images[id]
				now := e.opts.Now()
				e.takes++
				st.inflight = true
				st.attempted = now
				st.taken = e.takes
				p.inflight++
				e.busy++
				if e.sweepStart.IsZero() {
					e.sweepStart = now
				}
				return id, p, true
			}
		}
		e.cond.Wait()
	}
}

// next returns the next image to fetch, if one may be fetched now: a
// prioritized one first, whatever the pacing; in background mode it starts
// a new pass when the last is done, and spaces images fetched before over
// the interval. A prioritized image's call counts in the current pass.
// e.mu must be held.
func (e *Engine) next() (string, *pass, bool) {
	background := e.opts.RefreshInterval > 0
	if background {
		e.syncDiscovered()
		if e.pass == nil || e.pass.closed {
			e.pass = e.newPass()
			e.checkBudget()
		}
	}
	p := e.pass
	if p == nil || (!background && p.waiters == 0) {
		return "", nil, false
	}
	if id, ok := e.nextPriority(); ok {
		return id, p, true
	}
	e.advance(p)
	if p.next >= len(p.queue) {
		return "", nil, false
	}
	id := p.queue[p.next]
	if background && !e.images[id].attempted.IsZero() {
		now := time.Now()
		gap := e.opts.RefreshInterval / time.Duration(max(1, len(e.images)))
		if e.nextDue.IsZero() {
			e.nextDue = now.Add(gap) // the first image fetched again waits its turn
		}
		if now.Before(e.nextDue) {
			e.wakeAfter(e.nextDue)
			return "", nil, false
		}
		// Behind schedule (the budget is slower than the interval asks),
		// the next image is due at once: as fast as the budget allows.
		e.nextDue = e.nextDue.Add(gap)
	}
	p.next++
	return id, p, true
}

// advance moves p past the images it need not fetch: those no longer
// watched, those tried since p began (prioritized), and those whose call is
// under way, which p adopts (it waits for that call instead of making
// another). It closes p when nothing is left. e.mu must be held.
func (e *Engine) advance(p *pass) {
	for p.next < len(p.queue) {
		st, ok := e.images[p.queue[p.next]]
		if ok && !st.inflight && st.taken <= p.takes {
			return
		}
		if ok && st.inflight && st.adoptedBy != p {
			if old := st.adoptedBy; old != nil {
				old.inflight--
				e.finishIfDone(old)
			}
			st.adoptedBy = p
			p.inflight++
		}
		p.next++
	}
	e.finishIfDone(p)
}

// wakeAfter makes the workers look for work again at t. e.mu must be held.
func (e *Engine) wakeAfter(t time.Time) {
	if e.wake != nil && !e.wakeAt.After(t) {
		return // an earlier wake-up is set
	}
	if e.wake != nil {
		e.wake.Stop()
	}
	e.wakeAt = t
	e.wake = time.AfterFunc(time.Until(t), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.wake = nil
		e.cond.Broadcast()
	})
}

// checkBudget warns when the configured budget cannot fetch every image
// within the refresh interval; the engine then runs as fast as the budget
// allows. e.mu must be held.
func (e *Engine) checkBudget() {
	b := e.opts.Budget
	if b == nil {
		return
	}
	need := time.Duration(float64(len(e.images)) / b.Max() * float64(time.Second))
	behind := need > e.opts.RefreshInterval
	if behind && !e.behind {
		level.Warn(e.opts.Logger).Log("msg", "the API budget cannot fetch every image within members.refresh_interval; refreshing as fast as it allows",
			"images", len(e.images), "requests_per_second", b.Max(), "refresh_interval", e.opts.RefreshInterval, "shortest_pass", need.Round(time.Second))
	}
	e.behind = behind
}

// finishIfDone closes p when every image of its queue has been tried.
// e.mu must be held.
func (e *Engine) finishIfDone(p *pass) {
	if p.next >= len(p.queue) && p.inflight == 0 {
		e.close(p)
	}
}

// close releases p's waiters. e.mu must be held.
func (e *Engine) close(p *pass) {
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// fetch calls the API for one image's members and records the outcome. The
// bookkeeping is deferred, so a panic in the call costs this image's answer
// and nothing else.
func (e *Engine) fetch(ctx context.Context, id string, p *pass) {
	e.mu.Lock()
	client, timeout, logger := e.opts.Client, e.opts.CallTimeout, e.opts.Logger
	e.mu.Unlock()
	var members []scp.Member
	err := errors.New("fetch did not finish")
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
			level.Error(logger).Log("msg", "fetching image members panicked", "image_id", id, "err", err)
		}
		e.finish(id, p, members, err)
	}()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	members, err = client.ListImageMembers(cctx, id)
}

var errPanic = errors.New("internal error")

// finish records one attempt's outcome. e.mu is taken here.
func (e *Engine) finish(id string, p *pass, members []scp.Member, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.busy--
	e.cond.Broadcast()
	st, ok := e.images[id]
	if ok {
		e.record(st, id, members, err)
	}
	// The passes learn last, so a scrape they release sees the outcome.
	p.inflight--
	e.finishIfDone(p)
	if ok && st.adoptedBy != nil {
		st.adoptedBy.inflight--
		e.finishIfDone(st.adoptedBy)
		st.adoptedBy = nil
	}
}

// record stores one attempt's outcome. e.mu must be held.
func (e *Engine) record(st *imageState, id string, members []scp.Member, err error) {
	st.inflight = false
	now := e.opts.Now()
	delete(e.sweepLeft, id)
	e.checkSweep(now)
	if err == nil {
		if st.known && !sameMembers(st.members, members) {
			st.changedAt, st.changedSince = now, st.okStart
		}
		st.okStart = st.attempted
		st.members, st.known, st.fetched, st.answered, st.err, st.reason = members, true, now, now, nil, ""
		return
	}
	st.err, st.reason = err, scp.ReasonOf(err)
	if errors.Is(err, errPanic) {
		st.reason = reasonPanic
	}
	if st.reason == scp.ReasonNotFound {
		// The image is gone, or this key cannot see it: it has no members
		// we could know of.
		st.members, st.known, st.answered = nil, false, now
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
	// on demand it includes the time between the scrapes it took. Passes
	// is how many have completed; PassDuration means nothing before one.
	PassDuration time.Duration
	Passes       int
	// MinPassDuration is the shortest full pass the budget allows now: the
	// images over the effective rate.
	MinPassDuration time.Duration
	// RefreshInterval is the configured interval (0: on demand).
	RefreshInterval time.Duration
	// Discovering: discovery is enabled, and Inventory.Discovered in use.
	Discovering bool
}

// Snapshot returns what the engine knows now.
func (e *Engine) Snapshot() View {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.syncDiscovered()
	now := e.opts.Now()
	v := View{
		Images:          make([]ImageView, len(e.order)),
		Inventory:       e.disc.Snapshot(),
		PassDuration:    e.sweepDuration,
		Passes:          e.sweeps,
		RefreshInterval: e.opts.RefreshInterval,
		Discovering:     e.opts.Inventory.Discover,
	}
	for i, im := range e.order {
		st := e.images[im.ID]
		iv := ImageView{Image: im, Members: st.members, Known: st.known, Err: st.err, Reason: st.reason, Fetched: st.fetched,
			ChangedAt: st.changedAt, ChangedSince: st.changedSince}
		if st.fetched.IsZero() && st.err == nil {
			iv.Err, iv.Reason = errNotFetchedYet, ReasonNotFetchedYet
		}
		since := st.answered
		if since.IsZero() {
			since = st.added
		}
		v.StalestAge = max(v.StalestAge, now.Sub(since))
		v.Images[i] = iv
	}
	if b := e.opts.Budget; b != nil && len(e.order) > 0 {
		v.MinPassDuration = time.Duration(float64(len(e.order)) / b.Rate() * float64(time.Second))
	}
	return v
}

var errNotFetchedYet = errors.New("the image's members have not been fetched yet")

// Watches reports whether the engine watches the image: configured, or
// discovered.
func (e *Engine) Watches(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.syncDiscovered()
	_, ok := e.images[id]
	return ok
}
