// Package inventory keeps, per account, what the exporter learns from the
// API in the background rather than on every scrape: the account's image
// list (when discovery is enabled), the visibility of every watched image,
// and the images other accounts offer to this one. A failed call keeps the
// last good answer.
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
	// each of Visibility). The listing runs without it too, to learn the
	// visibility of the Static images.
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
	// Concurrency bounds the GET /v1/images/{id} calls in flight.
	Concurrency int
	Interval    time.Duration
	// Timeout bounds one refresh.
	Timeout time.Duration
	Logger  log.Logger
	Now     func() time.Time
	// Changed, when set, is called after the discovered list changed.
	Changed func()
}

// State is what the discoverer knows now.
type State struct {
	// Discovered is the last good listing (nil without Discover).
	Discovered []scp.Image
	// Visibility maps watched image IDs to their last known visibility.
	Visibility map[string]string
	// Pending is the last good list of images offered to this account.
	Pending []scp.PendingImage
	// Owners are the owner values of our images, learnt from the last
	// private listing that had any.
	Owners map[string]bool
	Status Status
}

// Status is what the refreshes achieved.
type Status struct {
	Images int // images in the discovered list in use
	// Dropped is how many images the last listing returned that are not
	// ours (their owner is not our owner value) and are not watched.
	Dropped            int
	LastSuccess        time.Time // last good listing; zero until one succeeds
	PendingLastSuccess time.Time // last good pending-images answer
	// Tried: the first listing has finished, well or not (immediately true
	// without Discover). Readiness waits for it.
	Tried bool
	// Generation changes whenever the state does: the discovered list,
	// visibility, offered images, readiness.
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
}

// New returns a discoverer; Run starts it.
func New(o Options) *Inventory {
	d := &Inventory{changed: make(chan struct{}, 1)}
	d.opts = o.withDefaults()
	d.state.Visibility = map[string]string{}
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
	if o.Timeout <= 0 {
		o.Timeout = min(o.Interval, 2*time.Minute)
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
	return d.state
}

// Run refreshes now and then every interval until ctx ends.
func (d *Inventory) Run(ctx context.Context) {
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

// Refresh does one round: the listing, the visibility of static images the
// listing did not cover, and the offered images. The listing runs whether or
// not discovery is enabled: a few pages tell the visibility of thousands of
// configured images, where a look-up each would cost a call per image. What
// fails keeps its last good value; the error joins every failure.
func (d *Inventory) Refresh(ctx context.Context) error {
	o := d.options()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var errs []error
	covered := map[string]string{} // visibility of every image the listing returned

	images, err := d.list(ctx, o, covered)
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
	listed := err == nil
	known := maps.Clone(d.state.Visibility)
	d.mu.Unlock()
	if o.Discover && listed && o.Changed != nil {
		o.Changed()
	}
	if err != nil {
		level.Warn(o.Logger).Log("msg", "listing images failed; keeping the last good list and visibility", "err", err)
		errs = append(errs, err)
	}

	visibility := d.showUncovered(ctx, o, covered, func(id string) bool {
		// After a failed listing, look up only what was never known.
		_, ok := known[id]
		return listed || !ok
	})

	pending, err := o.Lister.ListPendingImages(ctx)
	if err != nil {
		level.Warn(o.Logger).Log("msg", "listing images offered to this account failed; keeping the last good list", "err", err)
		errs = append(errs, fmt.Errorf("listing pending images: %w", err))
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	maps.Copy(visibility, covered)
	// Keep only watched images, with what this round learned over what was known.
	next := make(map[string]string, len(d.opts.Static)+len(d.state.Discovered))
	for _, id := range d.watched() {
		if v, ok := visibility[id]; ok {
			next[id] = v
		} else if v, ok := d.state.Visibility[id]; ok {
			next[id] = v
		}
	}
	for id, v := range visibility {
		if v == "" { // the image is gone
			delete(next, id)
		}
	}
	d.state.Visibility = next
	if err == nil {
		d.state.Pending, d.state.Status.PendingLastSuccess = pending, o.Now()
	}
	d.state.Status.Generation++
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
				img, err := o.Lister.ShowImage(ctx, id)
				r := showResult{image: img, err: err}
				if scp.ReasonOf(err) == scp.ReasonNotFound {
					r = showResult{gone: true}
				}
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
		case (im.Visibility != "private" && !ours(im, d.Snapshot().Owners, o.Owner)) || (o.Match != nil && !o.Match(im.Name)):
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

// list runs the listing for every visibility; covered receives the
// visibility of every image returned, before filtering.
func (d *Inventory) list(ctx context.Context, o Options, covered map[string]string) ([]scp.Image, error) {
	seen := map[string]bool{}
	var out []scp.Image
	owners := d.Snapshot().Owners
	dropped, listed := 0, 0
	// Private first: those images are ours, and teach our owner value.
	order := slices.Clone(o.Visibility)
	slices.SortStableFunc(order, func(a, b string) int { return boolInt(b == "private") - boolInt(a == "private") })
	for _, v := range order {
		images, err := o.Lister.ListImages(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("listing %s images: %w", v, err)
		}
		if v == "private" {
			if learnt := ownersOf(privateOnly(images)); len(learnt) > 0 {
				owners = learnt
			}
		}
		for _, im := range images {
			listed++
			listedPrivate := v == "private" && isPrivate(im) // ours by definition
			if !listedPrivate && !ours(im, owners, o.Owner) {
				dropped++
				continue
			}
			covered[im.ID] = im.Visibility
			if seen[im.ID] || (o.Match != nil && !o.Match(im.Name)) {
				continue
			}
			seen[im.ID] = true
			out = append(out, im)
		}
	}
	d.mu.Lock()
	d.state.Owners, d.state.Status.Dropped = owners, dropped
	warn := listed > 0 && dropped == listed && !d.warnedAllDropped
	d.warnedAllDropped = dropped == listed && listed > 0
	d.mu.Unlock()
	if warn {
		level.Warn(o.Logger).Log("msg", "every listed image was dropped as not ours: their owner matches neither a private image's owner nor scp.account_id; check scp.account_id, or list private images too (discovery.visibility)",
			"dropped", dropped, "account_id", o.Owner)
	}
	slices.SortFunc(out, func(a, b scp.Image) int { return strings.Compare(a.ID, b.ID) })
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

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
