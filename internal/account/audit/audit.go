// Package audit follows one account's audit trail (the Logging & Audit
// service's GET /v1/logs, see shared/scp-api.md). A Poller reads the trail
// every Interval, hands the watched images an event names to Prioritize so
// they are re-checked before the regular pass would reach them, and keeps each
// watched image's recent events so that a change seen later can be
// attributed to the event, and the user, that explains it (Explain).
//
// Event names are not documented, so none is depended on: an event whose
// resource_id or root_resource_id is a watched image says that image may
// have changed. Names are only counted.
//
// Windows. The first poll reads [now-Overlap, now]; each later one reads
// from Overlap before the end of the last good window to now, so an event
// logged late, or stamped by a clock a little behind ours, is still read.
// Events are de-duplicated by ID; an ID is kept only while a later window
// can return it again, so memory stays bounded. A failed poll keeps its
// window's start: the next poll covers the gap, but never more than
// MaxWindow back (the older part is given up, logged and counted: the pass
// has re-checked every image by then, and reading hours of trail at once
// would take the account's budget from the pass). A window holding more
// events than the client reads at once (scp.ErrAuditTooManyEvents) is given
// up the same way, so one burst cannot stall the poller.
package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Defaults and bounds.
const (
	// MinOverlap is the least re-read overlap: Overlap defaults to
	// max(Interval, MinOverlap).
	MinOverlap = time.Minute
	// DefaultMaxWindow is how far back a poll after failures reaches.
	DefaultMaxWindow = time.Hour
	// DefaultRetention is how long an image's events are kept for Explain.
	DefaultRetention = 24 * time.Hour
	// ExplainSkew widens Explain's window on both sides: the event's
	// timestamp comes from the service's clock, the change from ours, and
	// the change may be seen a little before the event is stamped.
	ExplainSkew = time.Minute
	// MaxEventsPerImage is how many events are kept per image: the newest.
	MaxEventsPerImage = 8
	// MaxUnwatchedEvents bounds the events kept about images not watched
	// (yet): an image created and shared before discovery lists it. The
	// oldest kept go first; Status.UnwatchedDropped counts them.
	MaxUnwatchedEvents = 10000
	// MaxSeenIDs bounds the event IDs kept for de-duplication, each as a
	// 64-bit hash: under 10 MB with the map, however long the IDs.
	MaxSeenIDs = 100000
	// MaxEventNames bounds the names counted in Status.Events; events of
	// further names count under OtherEventName.
	MaxEventNames = 100
	// OtherEventName is the overflow bucket of Status.Events;
	// UnnamedEvent counts events without a name.
	OtherEventName = "other"
	UnnamedEvent   = "unknown"

	// dedupeMargin keeps an event ID a little longer than a later window
	// could return it: the client rounds window bounds to the second.
	dedupeMargin = time.Minute
)

// Lister is the part of the SCP client the poller uses.
type Lister interface {
	ListAuditEvents(ctx context.Context, start, end time.Time, filter scp.AuditFilter) (scp.AuditEvents, error)
}

// Options configure a Poller. Lister is required.
type Options struct {
	Lister Lister
	// Interval is the time between polls; required (config.Timing's
	// AuditPollInterval).
	Interval time.Duration
	// Overlap is how far each window reaches back before the end of the
	// last one. Default max(Interval, MinOverlap).
	Overlap time.Duration
	// MaxWindow bounds a window, after failures. Default DefaultMaxWindow,
	// and never less than Overlap + Interval.
	MaxWindow time.Duration
	// Retention is how long an image's events are kept. Default
	// DefaultRetention.
	Retention time.Duration
	// Timeout bounds one poll, all its pages (config.Timing's
	// AuditPollTimeout); 0 leaves that to Run's context.
	Timeout time.Duration
	// Filter is the service's filter to read with once verified (see
	// FilterState); the zero value reads unfiltered.
	Filter scp.AuditFilter
	// FilterCheckEvery is how many polls with the filter in use go by
	// between two checks. Default DefaultFilterCheckEvery.
	FilterCheckEvery int
	// Watched reports whether an image ID is one the exporter watches; nil
	// watches nothing. It is called without the poller's lock held.
	Watched func(imageID string) bool
	// Prioritize, when set, is called after a poll with the watched image
	// IDs its new events named (resource_id or root_resource_id), each
	// once, in the order first named. It is called without the poller's
	// lock held, and should not block: the next poll waits for it.
	Prioritize func(imageIDs []string)
	// Now is the clock that ends windows. Default time.Now.
	Now func() time.Time
	// After is Run's timer. Default time.After.
	After  func(time.Duration) <-chan time.Time
	Logger log.Logger
}

// check tells what Options lack.
func (o Options) check() error {
	switch {
	case o.Lister == nil:
		return errors.New("audit: a lister is required")
	case o.Interval <= 0:
		return fmt.Errorf("audit: the poll interval %v is not positive", o.Interval)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Overlap <= 0 {
		o.Overlap = max(o.Interval, MinOverlap)
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	o.MaxWindow = max(o.MaxWindow, o.Overlap+o.Interval)
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.FilterCheckEvery <= 0 {
		o.FilterCheckEvery = DefaultFilterCheckEvery
	}
	if o.Watched == nil {
		o.Watched = func(string) bool { return false }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	return o
}

// Event is what is kept of an audit event for an image it names.
type Event struct {
	ID       string
	Time     time.Time // the event's timestamp, UTC
	Name     string    // event_name; may be empty
	Type     string    // event_type
	Status   string
	UserID   string
	UserName string
}

// Status is what the polls achieved. Its maps are copies.
type Status struct {
	// LastSuccess is when the last good poll's window ended; zero until
	// one succeeds. LastAttempt is when the last poll started.
	LastSuccess time.Time
	LastAttempt time.Time
	// LastError is the last poll's error; nil after a good poll.
	LastError error
	// ConsecutiveFailures counts the polls failed since the last good one.
	ConsecutiveFailures int
	Polls, Failures     uint64
	// NextStart is where the next poll's window starts (zero before the
	// first poll).
	NextStart time.Time
	// Events counts new (not duplicate) events read, by event name: at
	// most MaxEventNames names, then OtherEventName; UnnamedEvent for
	// those without one.
	Events map[string]uint64
	// Skipped counts entries of the trail left out as malformed, by reason
	// (the client's anomaly kinds: entry_not_an_object, missing_id,
	// missing_timestamp, bad_timestamp).
	Skipped map[string]uint64
	// NotWatched counts new events that name no watched image: they are
	// kept (MaxUnwatchedEvents) in case discovery lists the image later.
	NotWatched uint64
	// UnwatchedDropped counts events about images not watched that were
	// dropped to keep within MaxUnwatchedEvents.
	UnwatchedDropped uint64
	// FutureDated counts events stamped more than ExplainSkew after the
	// poll that read them: kept as if stamped then.
	FutureDated uint64
	// Duplicates counts events read again (overlapping windows).
	Duplicates uint64
	// Prioritized counts image IDs handed to Prioritize.
	Prioritized uint64
	// WindowsCut counts windows whose older part was given up (MaxWindow)
	// and windows given up whole (too many events).
	WindowsCut uint64
	// Images is how many images have events kept; SeenIDs how many event
	// IDs are kept for de-duplication.
	Images, SeenIDs int
	// Interval is how often the trail is read.
	Interval time.Duration
	// Filter is whether the polls use the service's filter; FilterChecks
	// counts the windows read both with and without it, by FilterResult.
	Filter       FilterState
	FilterChecks map[FilterResult]uint64
}

// Poller follows one account's audit trail. Safe for concurrent use.
type Poller struct {
	pollMu sync.Mutex // one poll at a time

	mu     sync.Mutex
	opts   Options
	status Status
	// seen maps the hashes of event IDs (idHash) to the end of the window
	// that first returned them; seenOrder lists them in the order seen, to
	// forget the oldest first. A hash keeps each entry the same size
	// whatever the ID's length (up to 256 bytes).
	seen      map[uint64]int64 // Unix seconds
	seenOrder []seenRef
	images    map[string][]Event // image ID -> events, oldest first
	// unwatched are the events kept about images not watched when they
	// came, in the order kept, to drop the oldest past MaxUnwatchedEvents.
	unwatched []eventRef
	// logged is the errKey of the failure last logged at warning level
	// ("" after a success).
	logged string
	// f is the filter's state (filter.go).
	f filterState
	// catchUp, until a poll succeeds after a restart, is how far back the
	// window may reach instead of MaxWindow (Restore).
	catchUp time.Duration
	wake    chan struct{}
}

// New returns a poller; Run starts it.
func New(o Options) (*Poller, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return &Poller{
		f:      newFilterState(o.Filter, 0, nil),
		opts:   o.withDefaults(),
		status: Status{Events: map[string]uint64{}, Skipped: map[string]uint64{}},
		seen:   map[uint64]int64{},
		images: map[string][]Event{},
		wake:   make(chan struct{}, 1),
	}, nil
}

// Update swaps in new options (after a config reload), keeping the window,
// the seen event IDs, the kept events and the counters. A changed interval
// takes effect at once.
func (p *Poller) Update(o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	p.mu.Lock()
	changed := p.opts.Interval != o.withDefaults().Interval
	if p.opts.Filter != o.Filter || p.opts.Lister != o.Lister {
		// Another filter, or another service (a rebuilt client): what was
		// learnt does not hold.
		p.f = newFilterState(o.Filter, p.f.gen+1, p.f.checks)
	}
	p.opts = o.withDefaults()
	p.mu.Unlock()
	if changed {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (p *Poller) options() Options {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opts
}

// Run polls now and then every Interval until ctx ends. A failed poll is
// logged and shown in Status; it never stops the loop.
func (p *Poller) Run(ctx context.Context) {
	for {
		_ = p.Poll(ctx) // logged, and visible in Status
		o := p.options()
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-o.After(o.Interval):
		}
	}
}

// Interval is how often the poller reads the trail.
func (p *Poller) Interval() time.Duration { return p.options().Interval }

// Status returns the polls' counters and state.
func (p *Poller) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.Events, s.Skipped = maps.Clone(s.Events), maps.Clone(s.Skipped)
	s.Images, s.SeenIDs = len(p.images), len(p.seen)
	s.Interval = p.opts.Interval
	s.Filter, s.FilterChecks = p.f.state, maps.Clone(p.f.checks)
	return s
}

// Explain returns the latest kept event for imageID whose timestamp is
// within [from-ExplainSkew, to+ExplainSkew]: the event that most likely
// explains a change seen between from and to (from: when the image was
// last seen unchanged; to: when the change was seen). Events older than
// Retention are not returned.
func (p *Poller) Explain(imageID string, from, to time.Time) (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lo, hi := from.Add(-ExplainSkew), to.Add(ExplainSkew)
	oldest := p.opts.Now().Add(-p.opts.Retention)
	list := p.images[imageID]
	for i := len(list) - 1; i >= 0; i-- {
		t := list[i].Time
		if t.Before(oldest) || t.Before(lo) {
			break // older still below
		}
		if !t.After(hi) {
			return list[i], true
		}
	}
	return Event{}, false
}

// Poll reads one window of the trail: from where the last good window left
// off, less Overlap, to now. It records what it read, calls Prioritize, and
// returns the error of a failed read (also logged and shown in Status).
func (p *Poller) Poll(ctx context.Context) error {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	o := p.options()
	now := o.Now()

	p.mu.Lock()
	p.status.LastAttempt = now
	start, cut := p.window(o, now)
	p.mu.Unlock()
	if cut {
		level.Warn(o.Logger).Log("msg", "the audit trail was not read for longer than the longest window; its older part is given up (the regular pass re-checks those images)",
			"from", start, "max_window", o.MaxWindow)
	}

	pctx, cancel := ctx, context.CancelFunc(func() {})
	if o.Timeout > 0 {
		pctx, cancel = context.WithTimeout(ctx, o.Timeout)
	}
	got, err := p.read(pctx, o, start, now)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not the trail's fault
		}
		p.failed(o, start, now, err)
		return err
	}

	fresh := p.succeeded(o, start, now, got)
	// Watched may take the caller's locks, which may be held while the
	// caller calls Explain: it runs without p.mu.
	watched, others := make([][]string, len(fresh)), make([][]string, len(fresh))
	for i, ev := range fresh {
		watched[i], others[i] = namedImages(o.Watched, ev)
	}
	ids := p.keep(o, now, fresh, watched, others)
	if len(ids) > 0 && o.Prioritize != nil {
		o.Prioritize(ids)
	}
	level.Debug(o.Logger).Log("msg", "audit trail read", "from", start, "to", now, "pages", got.Pages,
		"events", len(got.Events), "new", len(fresh), "images", len(ids))
	return nil
}

// window returns the start of the next window, cut to MaxWindow; cut says
// it was. p.mu must be held.
func (p *Poller) window(o Options, now time.Time) (start time.Time, cut bool) {
	start = p.status.NextStart
	if start.IsZero() || start.After(now) { // first poll, or the clock went back
		start = now.Add(-o.Overlap)
	}
	if longest := max(o.MaxWindow, p.catchUp); now.Sub(start) > longest {
		start, cut = now.Add(-longest), true
		p.status.WindowsCut++
	}
	return start, cut
}

// failed records a failed poll. The window's start is kept, so the next
// poll covers the gap; a window with too many events is given up instead.
// A failure is logged at warning level when it differs from the one before
// (see errKey), else at debug level: a trail down for hours logs once.
func (p *Poller) failed(o Options, start, now time.Time, err error) {
	p.mu.Lock()
	p.status.Polls++
	p.status.Failures++
	p.status.ConsecutiveFailures++
	p.status.LastError = err
	p.status.NextStart = start
	tooMany := errors.Is(err, scp.ErrAuditTooManyEvents)
	if tooMany {
		p.status.NextStart = now.Add(-o.Overlap)
		p.status.WindowsCut++
	}
	key := errKey(err)
	warn := key != p.logged
	p.logged = key
	failures := p.status.ConsecutiveFailures
	p.mu.Unlock()

	logger := level.Debug(o.Logger)
	if warn {
		logger = level.Warn(o.Logger)
	}
	what := "reading the audit trail failed; the regular pass goes on, and the next poll covers the gap"
	if tooMany {
		what = "the audit trail holds more events than one poll reads; this window is given up (the regular pass re-checks those images)"
	}
	logger.Log("msg", what, "from", start, "to", now, "failures", failures, "err", err)
}

// succeeded records a good poll of [start, end]: it forgets the event IDs
// no window from start on can return again, and returns the events not
// seen before, marking them seen at end.
func (p *Poller) succeeded(o Options, start, end time.Time, got scp.AuditEvents) []scp.AuditEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logged != "" {
		level.Info(o.Logger).Log("msg", "the audit trail answers again", "failures", p.status.ConsecutiveFailures)
	}
	p.logged = ""
	p.status.Polls++
	p.status.ConsecutiveFailures = 0
	p.status.LastError = nil
	p.status.LastSuccess = end
	p.status.NextStart = end.Add(-o.Overlap)
	p.catchUp = 0
	if r := p.f.rewind; !r.IsZero() {
		// The filter missed events: read again, unfiltered, from the last
		// check it passed (window cuts it to MaxWindow).
		p.status.NextStart, p.f.rewind = r.Add(-o.Overlap), time.Time{}
	}
	for kind, n := range got.Skipped {
		p.status.Skipped[kind] += uint64(n) //nolint:gosec // G115: a count of entries, never negative
	}
	var fresh []scp.AuditEvent
	for _, ev := range got.Events {
		h := idHash(ev.ID)
		if _, dup := p.seen[h]; dup {
			p.status.Duplicates++
			continue
		}
		p.seen[h] = end.Unix()
		p.seenOrder = append(p.seenOrder, seenRef{h, end.Unix()})
		p.countName(ev.EventName)
		fresh = append(fresh, ev)
	}
	p.forgetSeen(start)
	return fresh
}

// seenRef is one entry of Poller.seen, in the order seen.
type seenRef struct {
	hash uint64
	at   int64 // Unix seconds
}

// idHash is what de-duplication keeps of an event ID: 64 bits of FNV-1a.
// Two IDs of one window sharing a hash (odds about n²/2⁶⁵ for n IDs kept,
// 10⁻⁹ at MaxSeenIDs) would count the second as read before.
func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// forgetSeen forgets the event IDs no window from start on can return
// again, and the oldest beyond MaxSeenIDs (a trail of more new events per
// window than that: one forgotten too early, if read again, counts twice).
// p.mu must be held.
func (p *Poller) forgetSeen(start time.Time) {
	n, oldest := 0, start.Add(-dedupeMargin).Unix()
	for n < len(p.seenOrder) && (p.seenOrder[n].at < oldest || len(p.seenOrder)-n > MaxSeenIDs) {
		if p.seen[p.seenOrder[n].hash] == p.seenOrder[n].at {
			delete(p.seen, p.seenOrder[n].hash)
		}
		n++
	}
	if n > 0 {
		p.seenOrder = slices.Delete(p.seenOrder, 0, n)
	}
}

// countName counts an event under its name, within MaxEventNames. p.mu
// must be held.
func (p *Poller) countName(name string) {
	if name == "" {
		name = UnnamedEvent
	}
	if _, ok := p.status.Events[name]; !ok && len(p.status.Events) >= MaxEventNames {
		name = OtherEventName
	}
	p.status.Events[name]++
}

// eventRef names one kept event.
type eventRef struct {
	image, id string
	at        time.Time
}

// namedImages returns the images an event names, each once: those
// watched, and the others that may be images (an image ID is a UUID; the
// trail names volumes, servers and more too), which discovery may list
// later.
func namedImages(watched func(string) bool, ev scp.AuditEvent) (watchedIDs, others []string) {
	for i, id := range []string{ev.ResourceID, ev.RootResourceID} {
		switch {
		case id == "" || (i == 1 && id == ev.ResourceID):
		case watched(id):
			watchedIDs = append(watchedIDs, id)
		case scp.ValidateImageID(id) == nil:
			others = append(others, id)
		}
	}
	return watchedIDs, others
}

// keep stores the events of every image they name — those of images not
// watched yet within MaxUnwatchedEvents, so that an image discovery lists
// later finds them — drops what is past Retention, and returns the watched
// images named, each once, in the order first named.
func (p *Poller) keep(o Options, now time.Time, fresh []scp.AuditEvent, watched, others [][]string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	listed := map[string]bool{}
	oldest := now.Add(-o.Retention)
	for i, ev := range fresh {
		if len(watched[i]) == 0 {
			p.status.NotWatched++
		}
		at := ev.Timestamp
		if at.After(now.Add(ExplainSkew)) {
			// Dated in the future: kept as read now, so that it ages like
			// any other and cannot hold the newest places for good.
			at = now
			p.status.FutureDated++
		}
		if !at.Before(oldest) {
			kept := Event{ID: ev.ID, Time: at, Name: ev.EventName, Type: ev.EventType,
				Status: ev.Status, UserID: ev.UserID, UserName: ev.UserName}
			for _, id := range watched[i] {
				p.images[id] = insert(p.images[id], kept)
			}
			for _, id := range others[i] {
				p.images[id] = insert(p.images[id], kept)
				p.unwatched = append(p.unwatched, eventRef{image: id, id: ev.ID, at: at})
			}
		}
		for _, id := range watched[i] {
			if !listed[id] {
				listed[id] = true
				ids = append(ids, id)
			}
		}
	}
	// Past Retention they go anyway (below); beyond the bound, the oldest
	// kept go first.
	p.unwatched = slices.DeleteFunc(p.unwatched, func(r eventRef) bool { return r.at.Before(oldest) })
	p.trimUnwatched()
	p.status.Prioritized += uint64(len(ids))
	for id, list := range p.images {
		n := sort.Search(len(list), func(i int) bool { return !list[i].Time.Before(oldest) })
		switch {
		case n == len(list):
			delete(p.images, id)
		case n > 0:
			p.images[id] = append([]Event(nil), list[n:]...)
		}
	}
	return ids
}

// trimUnwatched drops the oldest events kept about images not watched
// beyond MaxUnwatchedEvents. p.mu must be held.
func (p *Poller) trimUnwatched() {
	if over := len(p.unwatched) - MaxUnwatchedEvents; over > 0 {
		for _, ref := range p.unwatched[:over] {
			list := p.images[ref.image]
			kept := slices.DeleteFunc(slices.Clone(list), func(e Event) bool { return e.ID == ref.id })
			if len(kept) == len(list) {
				continue // already gone: crowded out by newer events of its image
			}
			p.status.UnwatchedDropped++
			if len(kept) == 0 {
				delete(p.images, ref.image)
			} else {
				p.images[ref.image] = kept
			}
		}
		p.unwatched = slices.Delete(p.unwatched, 0, over)
	}
}

// insert adds ev to list (oldest first), keeping the newest
// MaxEventsPerImage.
func insert(list []Event, ev Event) []Event {
	i := sort.Search(len(list), func(i int) bool { return list[i].Time.After(ev.Time) })
	list = append(list, Event{})
	copy(list[i+1:], list[i:])
	list[i] = ev
	if len(list) > MaxEventsPerImage {
		list = append([]Event(nil), list[len(list)-MaxEventsPerImage:]...)
	}
	return list
}

// errKey is what tells one failure from another for logging: the
// operation and status of an API error, the sentinel of the client's own
// errors, else the reason. Error texts may differ each time (addresses,
// windows) for what is the same failure.
func errKey(err error) string {
	var apiErr *scp.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("%s %d", apiErr.Operation, apiErr.StatusCode)
	}
	for _, sentinel := range []error{scp.ErrNoAuditEndpoint, scp.ErrNoAuditCatalogEntry, scp.ErrAuditTooManyEvents} {
		if errors.Is(err, sentinel) {
			return sentinel.Error()
		}
	}
	return string(scp.ReasonOf(err))
}
