// Package inventory keeps, per account, what the exporter learns from the
// API in the background rather than on every scrape: the account's image
// list (when discovery is enabled), the visibility of every watched image
// and when it last changed, the images other accounts offer to this one, and
// those it has accepted. A failed call keeps the last good answer.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Lister is the part of the SCP client discovery uses.
type Lister interface {
	ListImages(ctx context.Context, visibility string) ([]scp.Image, error)
	ShowImage(ctx context.Context, imageID string) (scp.Image, error)
	ListPendingImages(ctx context.Context) ([]scp.PendingImage, error)
}

// Options configure a Inventory.
type Options struct {
	Lister Lister
	// Discover watches the images the account lists (GET /v1/images, for
	// each of Visibility). The listings run without it too, to learn the
	// visibility of the Static images. The private and shared listings run
	// whatever Visibility says: the private one teaches our owner value, and
	// the shared one lists the images other accounts share with us (see
	// State.Accepted); images they return are discovered only when their
	// visibility is in Visibility.
	Discover   bool
	Visibility []string
	// Match, when set, keeps only discovered images whose name it accepts;
	// MatchKey identifies it (the regular expression), so Update can tell
	// whether it changed.
	Match    func(name string) bool
	MatchKey string
	// Owner is scp.account_id. Images listed as private are ours by
	// definition, and their owner field tells ours from others' in the
	// other listings (which may include other accounts' images, whose
	// members this account cannot read); Owner is used only until a
	// private listing has taught the owner value, and then not at all.
	Owner string
	// Static are the configured image IDs; their visibility comes from the
	// listing, or from GET /v1/images/{id} when the listing does not cover them.
	Static []string
	// Concurrency bounds the GET /v1/images/{id} calls in flight, those of
	// the refresh and of Prioritize together.
	Concurrency int
	Interval    time.Duration
	// Timeout bounds one refresh (config.Timing's ListingTimeout); 0
	// leaves that to Run's context.
	Timeout time.Duration
	Logger  log.Logger
	Now     func() time.Time
	// Changed, when set, is called after the discovered list changed.
	Changed func()
}

// matches reports whether an image of this name is watched: Match allows
// it, or there is no Match.
func (o Options) matches(name string) bool { return o.Match == nil || o.Match(name) }

// State is what the listings know now.
type State struct {
	// Discovered is the last good listing (nil without Discover).
	Discovered []scp.Image
	// Visibility maps watched image IDs to their last known visibility.
	Visibility map[string]string
	// VisibilityChanged maps watched image IDs to the last change of their
	// visibility the inventory saw; an image whose visibility never changed
	// since it was first learnt has no entry.
	VisibilityChanged map[string]VisibilityChange
	// Pending is the last good list of images offered to this account,
	// each once (the client merges an offer listed twice).
	Pending []scp.PendingImage
	// Accepted is the last good list of images other accounts share with
	// this one that it has accepted: those of the shared listing (GET
	// /v1/images?visibility=shared) whose owner is not ours, sorted by ID.
	// They are never watched (this account cannot read their members).
	// While our owner value is unknown (no private listing has taught it
	// and Options.Owner is empty), ours cannot be told from others': it is
	// empty and Status.AcceptedOwnerUnknown says why.
	Accepted []scp.Image
	// Owners are the owner values of our images, learnt from the last
	// private listing that had any.
	Owners map[string]bool
	Status Status
	// Discovering: Options.Discover is set, and Discovered is in use.
	Discovering bool
}

// VisibilityChange is one change of an image's visibility: it happened in
// [Since, At].
type VisibilityChange struct {
	// At is when the answer that showed the new visibility came.
	At time.Time
	// Since is when the last answer that still showed the old one was
	// asked for (the start of its listing round or look-up).
	Since time.Time
	From  string
	To    string
}

// Status is what the refreshes achieved.
type Status struct {
	Images int // images in the discovered list in use
	// Dropped is how many images the last listings of Options.Visibility
	// returned that are not ours (their owner is not our owner value), and
	// so are not watched; an image listed twice counts twice. The private
	// and shared listings run for the owner value and Accepted even when
	// Visibility leaves them out; only those of Visibility count here. So
	// with "shared" in Visibility every Accepted image counts in Dropped;
	// without it, none does.
	Dropped            int
	LastSuccess        time.Time // last good listing; zero until one succeeds
	PendingLastSuccess time.Time // last good pending-images answer
	// AcceptedLastSuccess is when Accepted was last set from a good shared
	// listing with our owner value known; zero until then.
	AcceptedLastSuccess time.Time
	// AcceptedOwnerUnknown: the last good listing could not tell ours from
	// others' images (no owner value known), so Accepted is empty.
	AcceptedOwnerUnknown bool
	// Tried: the first listing has finished, well or not (immediately true
	// without Discover). Readiness waits for it.
	Tried bool
	// Generation changes whenever the state does: the discovered list,
	// visibility, offered and accepted images, readiness.
	Generation uint64
}

// Inventory keeps one account's background state.
type Inventory struct {
	mu      sync.RWMutex
	opts    Options
	state   State
	changed chan struct{} // Update wakes Run, which may need a new interval
	// warnedAllDropped: the last listing dropped every image, and it was said.
	warnedAllDropped bool
	// visAsOf is, per image of state.Visibility, when the answer that last
	// showed its visibility was asked for: an older answer arriving later
	// does not overwrite it, and a change happened after it.
	visAsOf map[string]time.Time
	// prio holds the images whose visibility Prioritize asked for, in
	// order; prioWake wakes Run's look-up loop.
	prio     []string
	prioSet  map[string]bool
	prioWake chan struct{}
}

// New returns an inventory; Run starts it.
func New(o Options) *Inventory {
	d := &Inventory{changed: make(chan struct{}, 1), prioWake: make(chan struct{}, 1), visAsOf: map[string]time.Time{}}
	d.opts = o.withDefaults()
	d.state.Visibility = map[string]string{}
	d.state.VisibilityChanged = map[string]VisibilityChange{}
	d.state.Status.Tried = !o.Discover
	return d
}

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

// Update swaps in new options (after a config reload), keeping everything
// learnt: the last good listing, visibility, offers, and whether the first
// listing has been tried. When what is listed or watched changed, Run
// refreshes at once; an unchanged reload costs no call. Turning discovery
// off drops the discovered list.
func (d *Inventory) Update(o Options) {
	d.mu.Lock()
	changed := !d.opts.sameListing(o)
	d.opts = o.withDefaults()
	if !o.Discover {
		d.state.Discovered, d.state.Status.Images, d.state.Status.LastSuccess = nil, 0, time.Time{}
		d.state.Status.Tried = true
		d.state.Status.Generation++
	}
	d.mu.Unlock()
	if !changed {
		return
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// sameListing reports whether other lists and watches what o does, with
// the same client, on the same interval.
func (o Options) sameListing(other Options) bool {
	return o.Lister == other.Lister && o.Discover == other.Discover && slices.Equal(o.Visibility, other.Visibility) && o.MatchKey == other.MatchKey &&
		o.Owner == other.Owner && slices.Equal(o.Static, other.Static) && o.Interval == other.Interval
}

func (d *Inventory) options() Options {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.opts
}

// Snapshot returns the current state. Callers must not modify it.
func (d *Inventory) Snapshot() State {
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := d.state
	st.Discovering = d.opts.Discover
	return st
}

// Run refreshes now and then every interval until ctx ends; beside the
// refresh, it looks up at once the visibility of images given to
// Prioritize. It returns when both have stopped.
func (d *Inventory) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.runPriority(ctx) })
	for {
		_ = d.Refresh(ctx) // logged, and visible in the state
		t := time.NewTimer(d.options().Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.changed:
			// A reload: refresh at once with the new options.
		case <-t.C:
		}
		t.Stop()
	}
}

// Refresh does one round: the listings, the visibility of static images the
// listings did not cover, and the offered images. The listings run whether
// or not discovery is enabled: a few pages tell the visibility of thousands
// of configured images, where a look-up each would cost a call per image;
// the private and shared ones run always, for our owner value and the
// images we accepted. What fails keeps its last good value; the error joins
// every failure.
func (d *Inventory) Refresh(ctx context.Context) error {
	o := d.options()
	ctx, cancel := boundedBy(ctx, o.Timeout)
	defer cancel()
	asOf := o.Now()
	var errs []error
	covered := map[string]string{} // visibility of every image the listing returned

	// Offers first, then the listings: an offer accepted between the two
	// calls then shows in both answers rather than in neither, and both
	// lists are taken into use together, so that no scrape (and no alert)
	// sees an accepted offer in neither list.
	pending, pendingErr := o.Lister.ListPendingImages(ctx)

	l, err := d.list(ctx, o, covered)
	images := l.discovered
	if err == nil && o.Discover {
		images = d.keepVanished(ctx, o, images, covered)
	}
	d.mu.Lock()
	if o.Discover {
		d.state.Status.Tried = true
		if err == nil {
			d.state.Discovered, d.state.Status.Images, d.state.Status.LastSuccess = images, len(images), o.Now()
			d.state.Status.Generation++
			level.Debug(o.Logger).Log("msg", "images discovered", "images", len(images))
		}
	}
	if l.sharedListed {
		slices.SortFunc(l.accepted, func(a, b scp.Image) int { return strings.Compare(a.ID, b.ID) })
		d.state.Accepted, d.state.Status.AcceptedOwnerUnknown = l.accepted, !l.ownerKnown
		if l.ownerKnown {
			d.state.Status.AcceptedLastSuccess = o.Now()
		}
	}
	if pendingErr == nil {
		if !l.sharedListed {
			// An offer that left the pending list may have been accepted,
			// which only the shared listing would show: keep it listed
			// until a round tells.
			pending = keepVanishedOffers(pending, d.state.Pending)
		}
		d.state.Pending, d.state.Status.PendingLastSuccess = pending, o.Now()
	}
	d.state.Status.Generation++
	listed := err == nil
	known := maps.Clone(d.state.Visibility)
	d.mu.Unlock()
	if o.Discover && listed && o.Changed != nil {
		o.Changed()
	}
	if err != nil {
		level.Warn(o.Logger).Log("msg", "listing images failed; keeping the last good list, visibility and accepted images", "err", err)
		errs = append(errs, err)
	}

	visibility := d.showUncovered(ctx, o, covered, func(id string) bool {
		// After a failed listing, look up only what was never known.
		_, ok := known[id]
		return listed || !ok
	})

	if pendingErr != nil {
		level.Warn(o.Logger).Log("msg", "listing images offered to this account failed; keeping the last good list", "err", pendingErr)
		errs = append(errs, fmt.Errorf("listing pending images: %w", pendingErr))
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	maps.Copy(visibility, covered)
	d.mergeVisibility(visibility, asOf, o.Now())
	d.state.Status.Generation++
	return errors.Join(errs...)
}

// mergeVisibility records what answers asked for at asOf learnt of the
// visibility of images ("" for an image the API no longer knows), and the
// changes they show, at now. Only watched images are kept; an image whose
// visibility a later answer has already given keeps it. d.mu must be held.
// The maps of the state are replaced, not modified: snapshots share them.
func (d *Inventory) mergeVisibility(learnt map[string]string, asOf, now time.Time) {
	watched := d.watched()
	next := make(map[string]string, len(watched))
	nextAsOf := make(map[string]time.Time, len(watched))
	changes := make(map[string]VisibilityChange, len(d.state.VisibilityChanged))
	for _, id := range watched {
		if c, ok := d.state.VisibilityChanged[id]; ok {
			changes[id] = c
		}
		old, had := d.state.Visibility[id]
		v, ok := learnt[id]
		if ok && asOf.Before(d.visAsOf[id]) {
			ok = false // a later answer is in already
		}
		switch {
		case ok && v == "": // the image is gone
		case ok:
			next[id], nextAsOf[id] = v, asOf
			if had && old != v {
				changes[id] = VisibilityChange{At: now, Since: d.visAsOf[id], From: old, To: v}
			}
		case had:
			next[id], nextAsOf[id] = old, d.visAsOf[id]
		}
	}
	d.state.Visibility, d.state.VisibilityChanged, d.visAsOf = next, changes, nextAsOf
	d.state.Status.Generation++
}

// Prioritize queues watched images for a look-up of their visibility (GET
// /v1/images/{id}) that Run makes at once, beside the refresh rather than
// at its next interval. A look-up under way when it is called does not
// count (the image may have changed after it was sent): another follows.
// IDs not watched are ignored; it returns how many distinct IDs were queued.
func (d *Inventory) Prioritize(ids ...string) int {
	d.mu.Lock()
	watched := d.watchedSet()
	if d.prioSet == nil {
		d.prioSet = map[string]bool{}
	}
	n := 0
	counted := map[string]bool{}
	for _, id := range ids {
		if !watched[id] || counted[id] {
			continue
		}
		counted[id] = true
		n++
		if !d.prioSet[id] {
			d.prioSet[id] = true
			d.prio = append(d.prio, id)
		}
	}
	d.mu.Unlock()
	if n > 0 {
		select {
		case d.prioWake <- struct{}{}:
		default:
		}
	}
	return n
}

// runPriority looks up the images Prioritize queued until ctx ends.
func (d *Inventory) runPriority(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.prioWake:
		}
		for ctx.Err() == nil {
			d.mu.Lock()
			ids := d.prio
			d.prio, d.prioSet = nil, nil
			d.mu.Unlock()
			if len(ids) == 0 {
				break
			}
			_ = d.refreshVisibility(ctx, ids) // logged, and visible in the state
		}
	}
}

// refreshVisibility looks up the visibility of the images Prioritize
// queued (watched, each once) now (GET /v1/images/{id}, under the
// account's budget like every call) and records it as a refresh would,
// changes included; one no longer watched by then is dropped when it is
// merged. An image that fails keeps its last known visibility; the error
// joins the failures.
func (d *Inventory) refreshVisibility(ctx context.Context, todo []string) error {
	o := d.options()
	ctx, cancel := boundedBy(ctx, o.Timeout)
	defer cancel()
	asOf := o.Now()
	results := d.showAll(ctx, o, todo)
	learnt := make(map[string]string, len(todo))
	var errs []error
	for _, id := range todo {
		switch r := results[id]; {
		case r.gone:
			learnt[id] = ""
		case r.err != nil:
			errs = append(errs, fmt.Errorf("looking up image %s: %w", id, r.err))
		case r.image.Visibility != "": // an answer without one teaches nothing
			learnt[id] = r.image.Visibility
		}
	}
	d.mu.Lock()
	d.mergeVisibility(learnt, asOf, o.Now())
	d.mu.Unlock()
	return errors.Join(errs...)
}

// watched lists static and discovered image IDs. d.mu must be held.
func (d *Inventory) watched() []string {
	ids := slices.Clone(d.opts.Static)
	for _, im := range d.state.Discovered {
		ids = append(ids, im.ID)
	}
	return ids
}

// watchedSet is watched as a set. d.mu must be held.
func (d *Inventory) watchedSet() map[string]bool {
	set := make(map[string]bool, len(d.opts.Static)+len(d.state.Discovered))
	for _, id := range d.watched() {
		set[id] = true
	}
	return set
}

// showResult is what GET /v1/images/{id} said of one image.
type showResult struct {
	image scp.Image
	gone  bool  // 404: the image no longer exists (or is no longer visible)
	err   error // any other failure: nothing learned
}

// showAll fetches images one by one, Concurrency at a time.
func (d *Inventory) showAll(ctx context.Context, o Options, ids []string) map[string]showResult {
	out := make(map[string]showResult, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(o.Concurrency, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				r := d.show(ctx, o, id)
				mu.Lock()
				out[id] = r
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	failed := 0
	var first error
	for _, r := range out {
		if r.err != nil {
			failed++
			first = r.err
		}
	}
	if failed > 0 {
		level.Warn(o.Logger).Log("msg", "fetching images one by one failed; keeping what was known", "failed", failed, "images", len(ids), "err", first)
	}
	return out
}

// show looks up one image.
func (d *Inventory) show(ctx context.Context, o Options, id string) showResult {
	img, err := o.Lister.ShowImage(ctx, id)
	if scp.ReasonOf(err) == scp.ReasonNotFound {
		return showResult{gone: true}
	}
	return showResult{image: img, err: err}
}

// keepVanished looks up images the previous listing had and this one lacks.
// One that turned public or community drops out of a listing of private and
// shared images, and is exactly the one to keep watching; one the API no
// longer knows, or that no longer passes the filters, goes.
func (d *Inventory) keepVanished(ctx context.Context, o Options, images []scp.Image, covered map[string]string) []scp.Image {
	now := make(map[string]bool, len(images))
	for _, im := range images {
		now[im.ID] = true
	}
	prev := map[string]scp.Image{}
	var ids []string
	for _, im := range d.Snapshot().Discovered {
		if !now[im.ID] {
			prev[im.ID] = im
			ids = append(ids, im.ID)
		}
	}
	if len(ids) == 0 {
		return images
	}
	for id, r := range d.showAll(ctx, o, ids) {
		im := r.image
		switch {
		case r.gone:
			continue
		case r.err != nil:
			im = prev[id] // unknown: keep what was known
		case (im.Visibility != "private" && !ours(im, d.Snapshot().Owners, o.Owner)) || !o.matches(im.Name):
			continue
		default:
			covered[id] = im.Visibility
		}
		images = append(images, im)
	}
	slices.SortFunc(images, func(a, b scp.Image) int { return strings.Compare(a.ID, b.ID) })
	return images
}

// showUncovered fetches the visibility of static images the listing did not
// return and want accepts. An image the API no longer knows maps to "".
func (d *Inventory) showUncovered(ctx context.Context, o Options, covered map[string]string, want func(id string) bool) map[string]string {
	var todo []string
	for _, id := range o.Static {
		if _, ok := covered[id]; !ok && want(id) {
			todo = append(todo, id)
		}
	}
	out := make(map[string]string, len(todo))
	for id, r := range d.showAll(ctx, o, todo) {
		switch {
		case r.gone:
			out[id] = ""
		case r.err == nil:
			out[id] = r.image.Visibility
		}
	}
	return out
}

// listing is what one round of listings learnt.
type listing struct {
	discovered []scp.Image // ours, of Options.Visibility, that pass Match
	accepted   []scp.Image // others', from the shared listing
	ownerKnown bool        // ours could be told from others'
	// sharedListed: the shared listing succeeded, so accepted holds even
	// when a later listing of the round failed.
	sharedListed bool
}

// listingOrder is the order of the listings: private first (those images
// are ours, and teach our owner value), shared second (it lists the images
// others share with us), then the rest of visibility.
func listingOrder(visibility []string) []string {
	order := []string{"private", "shared"}
	for _, v := range visibility {
		if !slices.Contains(order, v) {
			order = append(order, v)
		}
	}
	return order
}

// list runs the listings; covered receives the visibility of every image
// of ours they returned, before filtering. The first failure ends the
// round: nothing of it is used but the accepted images, when the shared
// listing came before the failure.
func (d *Inventory) list(ctx context.Context, o Options, covered map[string]string) (listing, error) {
	seen, accepted := map[string]bool{}, map[string]bool{}
	var out listing
	owners := d.Snapshot().Owners
	dropped, listed := 0, 0
	for _, v := range listingOrder(o.Visibility) {
		images, err := o.Lister.ListImages(ctx, v)
		if err != nil {
			return listing{accepted: out.accepted, ownerKnown: out.ownerKnown, sharedListed: out.sharedListed},
				fmt.Errorf("listing %s images: %w", v, err)
		}
		if v == "private" {
			if learnt := ownersOf(privateOnly(images)); len(learnt) > 0 {
				owners = learnt
			}
		}
		known := len(owners) > 0 || o.Owner != ""
		if v == "shared" {
			out.sharedListed, out.ownerKnown = true, known
		}
		discover := slices.Contains(o.Visibility, v)
		for _, im := range images {
			listedPrivate := v == "private" && isPrivate(im) // ours by definition
			mine := listedPrivate || ours(im, owners, o.Owner)
			if v == "shared" && !mine && known && !accepted[im.ID] && (im.Visibility == "shared" || im.Visibility == "") {
				// Shared with us by another account, and accepted (an
				// offer not yet accepted is only in the pending images).
				accepted[im.ID] = true
				out.accepted = append(out.accepted, im)
			}
			if discover {
				listed++
			}
			if !mine {
				if discover {
					dropped++
				}
				continue
			}
			covered[im.ID] = im.Visibility
			if !discover || seen[im.ID] || !o.matches(im.Name) {
				continue
			}
			seen[im.ID] = true
			out.discovered = append(out.discovered, im)
		}
	}
	out.ownerKnown = len(owners) > 0 || o.Owner != ""
	d.mu.Lock()
	d.state.Owners, d.state.Status.Dropped = owners, dropped
	// Only when the owner value comes from scp.account_id alone is dropping
	// everything suspect; with a private image's owner it is what it says.
	suspect := listed > 0 && dropped == listed && len(owners) == 0
	warn := suspect && !d.warnedAllDropped
	d.warnedAllDropped = suspect
	d.mu.Unlock()
	if warn {
		level.Warn(o.Logger).Log("msg", "every listed image was dropped as not ours: their owner is not scp.account_id, and no private image taught another owner value; check scp.account_id",
			"dropped", dropped, "account_id", o.Owner)
	}
	slices.SortFunc(out.discovered, func(a, b scp.Image) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.accepted, func(a, b scp.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// isPrivate reports whether the answer itself says the image is private (or
// says nothing): a listing that ignored its filter teaches nothing.
func isPrivate(im scp.Image) bool { return im.Visibility == "private" || im.Visibility == "" }

func privateOnly(images []scp.Image) []scp.Image {
	out := make([]scp.Image, 0, len(images))
	for _, im := range images {
		if isPrivate(im) {
			out = append(out, im)
		}
	}
	return out
}

// ownersOf is the set of owner values of images.
func ownersOf(images []scp.Image) map[string]bool {
	owners := map[string]bool{}
	for _, im := range images {
		if im.Owner != "" {
			owners[im.Owner] = true
		}
	}
	return owners
}

// ours reports whether an image not listed as private is ours: its owner
// is one of our images' owner values, once a private listing has taught
// them; until then, it is scp.account_id (when set) or anything.
func ours(im scp.Image, owners map[string]bool, accountID string) bool {
	switch {
	case len(owners) > 0:
		return owners[im.Owner]
	case accountID != "":
		return im.Owner == accountID
	default:
		return true
	}
}

// keepVanishedOffers adds to pending the offers of old it no longer has.
func keepVanishedOffers(pending, old []scp.PendingImage) []scp.PendingImage {
	out := slices.Clone(pending)
	for _, p := range old {
		if !slices.ContainsFunc(pending, func(n scp.PendingImage) bool { return n.ID == p.ID }) {
			out = append(out, p)
		}
	}
	return out
}

// boundedBy is ctx bounded by timeout, when it is positive.
func boundedBy(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return ctx, func() {}
}
