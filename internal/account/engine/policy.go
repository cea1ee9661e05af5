package engine

import (
	"time"

	"github.com/go-kit/log/level"
)

// The two modes' policies: which image a free worker fetches now, if any.
// They choose and change nothing; take (engine.go) acts on their choice.

// choice is a policy's answer: an image to fetch now, or none. Paced: the
// image waited its turn, which was due. Prioritized: it is fetched ahead of
// the others, within the budget's priority share. With no image, a
// non-zero due is when the next turn comes, and a non-zero retry when the
// priority share allows the next prioritized image.
type choice struct {
	image       *imageState
	paced       bool
	prioritized bool
	due         time.Time
	retry       time.Time
}

// PriorityCost is what one prioritized image costs the budget's priority
// share: its members call and the look-up of its visibility.
const PriorityCost = 2

// next is what the mode's policy chooses now.
func (e *Engine) next(now time.Time) choice {
	if e.background() {
		return e.nextInBackground(now)
	}
	return e.nextOnDemand(now)
}

// nextPrioritized is the first prioritized image, when the budget's
// priority share (scp.PriorityShare) allows one now; ok is false when there
// is none, or with retry set, when the share allows one only then. The
// sweep keeps the rest of the budget whatever audit events say.
func (e *Engine) nextPrioritized(now time.Time) (c choice, ok bool) {
	st := e.queue.prioritized()
	if st == nil {
		return choice{}, false
	}
	if b := e.opts.Budget; b != nil {
		if d := b.PriorityDelay(now, PriorityCost); d > 0 {
			return choice{retry: now.Add(d)}, false
		}
	}
	return choice{image: st, prioritized: true}, true
}

// On demand.

// pass is an on-demand pass: a round over every watched image, begun by a
// scrape when none is under way, that scrapes wait on (a scrape that comes
// while it is under way joins it). It takes work until it is done, between
// scrapes too, as fast as the budget allows: a scrape whose deadline comes
// first leaves it going on. It is done when every image has been tried
// since it began, which bounds it; calls under way when it began count as
// its own (it adopts them rather than call again).
//
// What follows depends on demand. A scrape that joined the pass after one
// of its calls had finished was served members fetched before it came:
// the passes lag behind the scrapes, so the next pass begins as soon as
// this one is done, and each image comes round again within about a pass,
// not a pass and a scrape interval. Without such a scrape, the
// next scrape begins the next pass: a small estate is fetched whole at
// every scrape, and an exporter nobody scrapes any more spends nothing
// after the pass under way.
type pass struct {
	start    uint64        // queue.takes when it began: images taken since are tried
	done     chan struct{} // closed when it is done, or ended early
	finished int           // calls of the pass that have finished
	demand   bool          // a scrape joined it after a call had finished: chain the next
}

// join counts a scrape that joins the pass under way: once a call of the
// pass has finished, it is demand for the next pass.
func (p *pass) join() {
	if p.finished > 0 {
		p.demand = true
	}
}

// nextOnDemand is the on-demand policy: while a pass is under way (whether
// or not a scrape still waits on it), the prioritized images (within the
// priority share), then every image not yet tried in the pass, stalest
// first. With no pass, nothing.
func (e *Engine) nextOnDemand(now time.Time) choice {
	p := e.pass
	if p == nil {
		return choice{}
	}
	pc, ok := e.nextPrioritized(now)
	if ok {
		return pc
	}
	if st := e.queue.head(); st != nil && st.taken <= p.start {
		return choice{image: st}
	}
	return choice{retry: pc.retry}
}

// beginPass begins a pass over every watched image, adopting the calls
// under way; none may be under way.
func (e *Engine) beginPass() *pass {
	p := &pass{start: e.queue.takes, done: make(chan struct{})}
	e.pass = p
	var inflight []*imageState
	for el := e.queue.order.Front(); el != nil; el = el.Next() {
		if st := el.Value.(*imageState); st.inflight {
			inflight = append(inflight, st)
		}
	}
	for _, st := range inflight {
		e.queue.adopt(st)
	}
	e.endPassIfDone() // no image at all
	return p
}

// endPassIfDone ends the pass when no image is left to try in it, and no
// call it waits for is under way: every call of a watched image counts,
// as the pass made or adopted them all. When a scrape came for more while
// it was under way (pass.demand), the next pass begins at once, unless the
// engine has stopped.
func (e *Engine) endPassIfDone() {
	p := e.pass
	if p == nil || e.calls > 0 {
		return
	}
	if st := e.queue.head(); st != nil && st.taken <= p.start {
		return
	}
	e.endPass()
	if p.demand && e.running() {
		e.beginPass() // no demand of its own yet: the last unless a scrape joins it
		e.cond.Broadcast()
	}
}

// endPass releases the scrapes waiting on the pass; it takes no more work.
func (e *Engine) endPass() {
	if p := e.pass; p != nil {
		close(p.done)
		e.pass = nil
	}
}

// In the background.

// nextInBackground is the background policy: the prioritized images and
// those never tried at once; then the stalest, each at its turn.
func (e *Engine) nextInBackground(now time.Time) choice {
	pc, ok := e.nextPrioritized(now)
	if ok {
		return pc
	}
	st := e.queue.head()
	if st == nil {
		return choice{retry: pc.retry}
	}
	if st.taken == 0 {
		return choice{image: st}
	}
	due := e.pace.due
	if due.IsZero() {
		due = now.Add(e.gap()) // the first image fetched again waits its turn
	}
	if now.Before(due) {
		return choice{due: due, retry: pc.retry}
	}
	return choice{image: st, paced: true, due: due}
}

// gap is the pacing's step: the interval over the images, so that each is
// fetched about once per interval.
func (e *Engine) gap() time.Duration {
	return e.opts.RefreshInterval / time.Duration(max(1, len(e.images)))
}

// pacer spaces the background calls for images tried before: one every
// gap. A real timer wakes the workers when the next is due, after a delay
// read from the engine's clock.
type pacer struct {
	due     time.Time   // when the next may go; zero until one waits its turn
	timer   *time.Timer // wakes the workers at timerAt
	timerAt time.Time
}

// waitUntil keeps due as the next turn, and wakes the workers then.
func (e *Engine) waitUntil(due, now time.Time) {
	e.pace.due = due
	e.wakeAt(due, now)
}

// wakeAt wakes the workers at t, unless an earlier wake-up is set.
func (e *Engine) wakeAt(due, now time.Time) {
	pc := &e.pace
	if pc.timer != nil && !pc.timerAt.After(due) {
		return // an earlier wake-up is set
	}
	pc.stop()
	var t *time.Timer
	t = time.AfterFunc(due.Sub(now), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if pc.timer == t {
			pc.timer = nil
		}
		e.cond.Broadcast()
	})
	pc.timer, pc.timerAt = t, due
}

// stop cancels the wake-up.
func (pc *pacer) stop() {
	if pc.timer != nil {
		pc.timer.Stop()
		pc.timer = nil
	}
}

// warnIfBehind warns when the budget cannot fetch every image within the
// refresh interval (the engine then runs as fast as the budget allows),
// once each time it becomes true.
func (e *Engine) warnIfBehind() {
	b := e.opts.Budget
	if b == nil || !e.background() {
		e.behind = false
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
