// Package engine owns all API work of one account: it refreshes the
// members of every watched image, stalest first, and runs the account's
// inventory (the listings: discovered images, visibility, offered images),
// every call within the account's one budget. Scrapes read what it knows;
// they never call the API themselves.
//
// One queue orders the work of both modes (queue.go): images Prioritize
// named first, then those never tried, in watch order, then the one whose
// last attempt is oldest. One pool of Concurrency workers takes from it; a
// policy per mode says when (policy.go):
//
//   - On demand (refresh interval 0), a scrape begins a pass over every
//     image (or joins the one under way), and answers when the pass is done
//     or its own deadline comes, whichever is first. A pass goes on until
//     done, between scrapes too, as fast as the budget allows. When a
//     scrape came while it was under way and was served members it had
//     fetched before, the next pass follows at once; else the next scrape
//     begins it. So a small estate is fetched whole at every scrape, a
//     large one over and over at the budget's rate while it is scraped, and
//     nothing is fetched once scrapes stop, with no interval to size.
//   - In the background (refresh interval > 0), the workers take images on
//     a pace of their own, so each image is fetched about once per interval,
//     and scrapes wait for nothing.
//
// Every image's view says when its members last changed (view.go).
//
// The engine reads one clock, Options.Now: the times it records and the
// pacing delays (a real timer wakes the workers, after a delay computed from
// Now).
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Client is the part of the SCP client the engine uses: the members call,
// and the listings of the inventory.
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

// Options configure an Engine; Update swaps them in place. The engine takes
// them as given: the defaults of every timeout and interval are the
// config's to derive, in one place.
type Options struct {
	Client Client
	// Budget is the account's; the engine reads its rates to tell how long
	// a full pass must take. Nil: no budget to tell.
	Budget *scp.Budget
	// Images are the configured images, watched in this order, before the
	// discovered ones.
	Images []Image
	// Inventory configures the listings: the caller (the account runtime)
	// sets what comes from the config, and the engine the wiring it owns —
	// Lister, Static, Logger, Now, Concurrency and Changed. With
	// Inventory.Discover, listed images are watched too, with
	// DefaultExpected and DefaultAllowedVisibility.
	Inventory                inventory.Options
	DefaultExpected          map[string]bool
	DefaultAllowedVisibility map[string]bool
	// RefreshInterval is 0 to fetch on demand, in passes scrapes begin, or
	// how often each image should be fetched in the background.
	RefreshInterval time.Duration
	// CallTimeout bounds one members call with its retries (scrape_timeout):
	// a call outlives the scrape that wanted it, never this. It must be
	// positive: under a non-positive one every call fails at once.
	CallTimeout time.Duration
	// Concurrency is how many members calls may be under way at once. It
	// must be positive; below 1 counts as 1, as no worker at all would
	// leave every scrape waiting until its deadline.
	Concurrency int
	// Logger is nil for no logs.
	Logger log.Logger
	// Now is the engine's clock; nil is the real one.
	Now func() time.Time
}

// withDefaults fills what Options may leave out (no logger, the real clock)
// and keeps Concurrency usable. It invents no timeout.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Concurrency = max(1, o.Concurrency)
	return o
}

// ReasonNotFetchedYet is the reason of an image whose first fetch has not
// completed.
const ReasonNotFetchedYet scp.Reason = "not_fetched_yet"

// Engine is one account's refresh engine. Its methods are safe for
// concurrent use.
type Engine struct {
	inv *inventory.Inventory

	// mu guards everything below. The engine's unexported methods run with
	// it held, but for the workers' (work, take, fetch, finish), which take
	// it where they need it. cond is broadcast whenever a worker may find
	// work: a call ended, a scrape came, images were added or prioritized,
	// a pacing delay passed.
	mu     sync.Mutex
	cond   *sync.Cond
	opts   Options
	images map[string]*imageState
	order  []Image // watched images: configured, then discovered
	invGen uint64  // the inventory state order was built from

	queue queue
	busy  int   // members calls under way: workers at work
	calls int   // members calls under way for watched images
	pass  *pass // on demand: the pass under way, nil when none
	pace  pacer // in the background: when the next image tried before may go
	meter passMeter
	// behind: the budget cannot fetch every image within the interval
	// (warned once each time it becomes true).
	behind bool

	// workers are started up to the largest Concurrency seen, once Run has
	// given them a context.
	workers int
	runCtx  context.Context
	wg      sync.WaitGroup
}

// New returns an engine; Run starts it.
func New(o Options) *Engine {
	o = o.withDefaults()
	e := &Engine{opts: o, images: map[string]*imageState{}, meter: passMeter{left: map[string]bool{}}}
	e.cond = sync.NewCond(&e.mu)
	e.inv = inventory.New(e.inventoryOptions(o))
	e.mu.Lock()
	e.refreshWatched()
	e.mu.Unlock()
	return e
}

// inventoryOptions are o.Inventory completed with what the engine shares
// with it: client, configured images, logger, clock, concurrency; and a
// Changed that picks up a new discovered list at once.
func (e *Engine) inventoryOptions(o Options) inventory.Options {
	io := o.Inventory
	io.Lister = o.Client
	io.Static = make([]string, len(o.Images))
	for i, im := range o.Images {
		io.Static[i] = im.ID
	}
	io.Logger = o.Logger
	io.Now = o.Now
	io.Concurrency = o.Concurrency
	io.Changed = func() {
		e.mu.Lock()
		e.syncInventory()
		e.mu.Unlock()
	}
	return io
}

// Update swaps in new options after a config reload. What the engine knows
// of images that stay is kept; images no longer watched are forgotten; new
// ones are fetched first.
func (e *Engine) Update(o Options) {
	o = o.withDefaults()
	e.inv.Update(e.inventoryOptions(o))
	e.mu.Lock()
	defer e.mu.Unlock()
	if o.RefreshInterval != e.opts.RefreshInterval {
		// A new mode or pace starts afresh: scrapes waiting on the pass
		// under way get what is known, and pacing begins anew.
		e.endPass()
		e.pace.due = time.Time{}
	}
	e.opts = o
	e.refreshWatched()
	e.startWorkers()
}

// Inventory is the account's listings: discovered images, visibility,
// offered images.
func (e *Engine) Inventory() *inventory.Inventory { return e.inv }

// Run works until ctx ends: the inventory on its interval, and members
// calls by Concurrency workers. It returns when all of them have stopped.
func (e *Engine) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.pace.stop()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	e.runCtx = ctx
	e.wg.Go(func() { e.inv.Run(ctx) })
	e.startWorkers()
	e.mu.Unlock()
	e.wg.Wait()
}

// Watches reports whether the engine watches the image: configured, or
// discovered.
func (e *Engine) Watches(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.syncInventory()
	_, ok := e.images[id]
	return ok
}

// Prioritize puts watched images at the head of the queue: their members
// are fetched before any other image's, as soon as Concurrency (and the
// budget) allow. In background mode the workers take them at once, even if
// they were fetched a moment ago; on demand, the pass under way (while it
// still has images to try) or the next one, a scrape's or the one that
// follows at once (see pass), fetches them first. A
// call under way for an image when Prioritize is called does not count, as
// the image may have changed after it was sent: the image is fetched again
// after it (on demand, by the next pass when the one under way ends with
// that call). When a worker takes a prioritized image, its visibility is
// looked up too (see inventory.Inventory.Prioritize). Prioritized images
// take at most the budget's priority share (scp.PriorityShare, each
// PriorityCost calls): the sweep keeps the rest, so a burst of events on
// many images is served in order without starving it. IDs that are not
// watched are ignored; it returns how many distinct IDs were queued.
func (e *Engine) Prioritize(ids ...string) int {
	e.mu.Lock()
	e.syncInventory()
	var queued []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if st, ok := e.images[id]; ok && !seen[id] {
			seen[id] = true
			queued = append(queued, id)
			e.queue.prioritize(st)
		}
	}
	if len(queued) > 0 {
		e.cond.Broadcast()
	}
	e.mu.Unlock()
	return len(queued)
}

// Wait joins, in on-demand mode, the pass under way, or begins one when
// none is, and returns when that pass is done (every watched image tried
// since it began) or ctx ends, whichever is first. The pass does not end
// with ctx: it goes on until done, as fast as the budget allows, so what
// ctx left unfetched is fetched before the next scrape. Joining a pass
// after one of its calls has finished begins the next pass as soon as this
// one is done (see pass). In background mode it returns at once.
func (e *Engine) Wait(ctx context.Context) {
	e.mu.Lock()
	if e.background() {
		e.mu.Unlock()
		return
	}
	e.syncInventory()
	p := e.pass
	if p == nil {
		p = e.beginPass()
		e.cond.Broadcast()
	} else {
		p.join()
	}
	e.mu.Unlock()

	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

// background reports the mode: true when the engine fetches on a pace of
// its own, false when it fetches on demand, in passes scrapes begin.
func (e *Engine) background() bool { return e.opts.RefreshInterval > 0 }

// The watch list.

// syncInventory rebuilds the watch list if the inventory's state moved on
// since it was built from it (it may have a new discovered list).
func (e *Engine) syncInventory() {
	if e.inv.Snapshot().Status.Generation != e.invGen {
		e.refreshWatched()
	}
}

// refreshWatched rebuilds the watch list from the configured images and the
// inventory's discovered ones. What is known of images that stay is kept;
// new images go to the head of the queue (never tried); images no longer
// watched are forgotten.
func (e *Engine) refreshWatched() {
	inv := e.inv.Snapshot()
	e.invGen = inv.Status.Generation
	order := e.opts.watchList(inv.Discovered)
	now := e.opts.Now()
	watched := make(map[string]bool, len(order))
	for _, im := range order {
		watched[im.ID] = true
		if e.images[im.ID] == nil {
			e.images[im.ID] = &imageState{id: im.ID, knowledge: knowledge{added: now}}
			e.meter.watch(im.ID)
		}
	}
	for id, st := range e.images {
		if !watched[id] {
			e.forget(st)
		}
	}
	if !slices.EqualFunc(order, e.order, func(a, b Image) bool { return a.ID == b.ID }) {
		e.queue.rebuild(order, e.images)
	}
	e.order = order
	e.meter.endIfDone(now, e.images)
	e.endPassIfDone()
	e.warnIfBehind()
	e.cond.Broadcast() // new images are work
}

// watchList is the images to watch: the configured ones, then, with
// discovery, the discovered ones that are not configured.
func (o Options) watchList(discovered []scp.Image) []Image {
	order := slices.Clone(o.Images)
	if !o.Inventory.Discover {
		return order
	}
	seen := make(map[string]bool, len(order)+len(discovered))
	for _, im := range order {
		seen[im.ID] = true
	}
	for _, im := range discovered {
		if !seen[im.ID] {
			seen[im.ID] = true
			order = append(order, Image{ID: im.ID, Name: im.Name, Expected: o.DefaultExpected, AllowedVisibility: o.DefaultAllowedVisibility})
		}
	}
	return order
}

// forget drops an image no longer watched. The outcome of its call under
// way, if any, will not be recorded, so no pass waits for it.
func (e *Engine) forget(st *imageState) {
	e.queue.remove(st)
	e.meter.forget(st.id)
	if st.inflight {
		e.calls--
	}
	delete(e.images, st.id)
}

// The workers.

// running reports whether Run is working: it has begun, and its context
// has not ended.
func (e *Engine) running() bool { return e.runCtx != nil && e.runCtx.Err() == nil }

// startWorkers starts workers up to Concurrency. Extra workers left by a
// reload that lowered it stay idle (see take).
func (e *Engine) startWorkers() {
	if !e.running() {
		return
	}
	for ; e.workers < e.opts.Concurrency; e.workers++ {
		e.wg.Go(func() { e.work(e.runCtx) })
	}
}

// work is one worker: it makes the calls take gives it, until ctx ends.
func (e *Engine) work(ctx context.Context) {
	for {
		c, ok := e.take(ctx)
		if !ok {
			return
		}
		if c.prioritized {
			e.inv.Prioritize(c.image.id)
		}
		e.fetch(ctx, c)
	}
}

// call is one members call, as a worker makes it.
type call struct {
	image   *imageState
	started time.Time
	// prioritized: an audit event named the image; its visibility is
	// looked up beside the members call.
	prioritized bool
	client      Client
	timeout     time.Duration
	logger      log.Logger
}

// take waits until fewer than Concurrency calls are under way and the
// mode's policy names an image to fetch, and starts its call; when pacing
// holds the next image back, it sets a wake-up for when it is due. It
// takes e.mu. It returns false when ctx ends.
func (e *Engine) take(ctx context.Context) (call, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ctx.Err() == nil {
		if e.busy < e.opts.Concurrency {
			now := e.opts.Now()
			c := e.next(now)
			if c.image != nil {
				return e.start(c, now), true
			}
			if !c.due.IsZero() {
				e.waitUntil(c.due, now)
			}
			if !c.retry.IsZero() {
				e.wakeAt(c.retry, now)
			}
		}
		e.cond.Wait()
	}
	return call{}, false
}

// start begins the call for the chosen image: the image goes to the back
// of the queue, and when it waited its turn, the next turn comes a gap
// later.
func (e *Engine) start(c choice, now time.Time) call {
	st := c.image
	lookUp := st.prio // prioritized, even if the sweep took it first
	e.queue.take(st)
	if b := e.opts.Budget; b != nil {
		switch {
		case c.prioritized:
			b.TakePriority(now, PriorityCost)
		case lookUp:
			// Taken by the sweep: its members call is the sweep's, but
			// the look-up of its visibility is prioritized work.
			b.TakePriority(now, PriorityCost-1)
		}
	}
	if c.paced {
		// From when this one was due, not from now: behind schedule (the
		// budget is slower than the interval asks), the next is due at
		// once, and the engine runs as fast as the budget allows.
		e.pace.due = c.due.Add(e.gap())
	}
	st.inflight = true
	e.busy++
	e.calls++
	e.meter.attempted(now)
	return call{image: st, started: now, prioritized: lookUp, client: e.opts.Client, timeout: e.opts.CallTimeout, logger: e.opts.Logger}
}

// fetch makes one members call and records its outcome. The bookkeeping is
// deferred, so a panic in the call costs this image's answer and nothing
// else.
func (e *Engine) fetch(ctx context.Context, c call) {
	var members []scp.Member
	err := errors.New("fetch did not finish")
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
			level.Error(c.logger).Log("msg", "fetching image members panicked", "image_id", c.image.id, "err", err)
		}
		e.finish(c, members, err)
	}()
	// The engine's context, not a scrape's: a call a scrape started
	// finishes into the state even when the scrape has gone.
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	members, err = c.client.ListImageMembers(cctx, c.image.id)
}

var errPanic = errors.New("internal error")

// finish records a call's outcome, if its image is still watched, and
// frees its worker. It takes e.mu.
func (e *Engine) finish(c call, members []scp.Member, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.busy--
	if st := c.image; e.images[st.id] == st {
		now := e.opts.Now()
		st.inflight = false
		e.calls--
		st.learn(c.started, now, members, err)
		e.meter.tried(st.id)
		e.meter.endIfDone(now, e.images)
		if e.pass != nil {
			e.pass.finished++ // a call under way is always the pass's
		}
	}
	// The pass learns last, so a scrape it releases sees the outcome.
	e.endPassIfDone()
	e.cond.Broadcast()
}
