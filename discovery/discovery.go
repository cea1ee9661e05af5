// Package discovery lists an account's images in the background, so the
// exporter watches images nobody put in its config. A failed listing keeps
// the last good list.
package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Lister is the part of the SCP client discovery uses.
type Lister interface {
	ListImages(ctx context.Context, visibility string) ([]scp.Image, error)
}

// Options configure a Discoverer.
type Options struct {
	Lister     Lister
	Visibility []string // one listing per visibility
	// Match, when set, keeps only images whose name it accepts.
	Match func(name string) bool
	// Owner, when set, keeps only images this account owns: a listing of
	// shared images may include other accounts' images, whose members this
	// account cannot read.
	Owner    string
	Interval time.Duration
	// Timeout bounds one refresh (all its pages and visibilities).
	Timeout time.Duration
	Logger  log.Logger
	Now     func() time.Time
}

// Status is what the last refreshes achieved.
type Status struct {
	Images      int       // images in the list in use
	LastSuccess time.Time // zero until a listing succeeds
	Tried       bool      // a first listing has finished, well or not
}

// Discoverer keeps an account's discovered image list.
type Discoverer struct {
	opts Options

	mu          sync.RWMutex
	images      []scp.Image
	lastSuccess time.Time
	tried       bool
}

// New returns a discoverer; Run starts it.
func New(o Options) *Discoverer {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = min(o.Interval, 2*time.Minute)
	}
	return &Discoverer{opts: o}
}

// Seed starts the discoverer with another's list (the one it replaces after a
// config reload), so a reload leaves no gap before the first listing.
func (d *Discoverer) Seed(from *Discoverer) {
	if from == nil {
		return
	}
	images, st := from.Snapshot()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images, d.lastSuccess = images, st.LastSuccess
}

// Snapshot returns the list in use and the status.
func (d *Discoverer) Snapshot() ([]scp.Image, Status) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.images, Status{Images: len(d.images), LastSuccess: d.lastSuccess, Tried: d.tried}
}

// Run refreshes now and then every interval until ctx ends.
func (d *Discoverer) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		_ = d.Refresh(ctx) // logged, and visible in Status
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh lists the images once. On failure the previous list stays in use.
func (d *Discoverer) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	images, err := d.list(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tried = true
	if err != nil {
		level.Warn(d.opts.Logger).Log("msg", "image discovery failed; keeping the last good list", "images", len(d.images), "err", err)
		return err
	}
	d.images, d.lastSuccess = images, d.opts.Now()
	level.Debug(d.opts.Logger).Log("msg", "images discovered", "images", len(images))
	return nil
}

func (d *Discoverer) list(ctx context.Context) ([]scp.Image, error) {
	seen := map[string]bool{}
	var out []scp.Image
	for _, v := range d.opts.Visibility {
		images, err := d.opts.Lister.ListImages(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("listing %s images: %w", v, err)
		}
		for _, im := range images {
			if seen[im.ID] || (d.opts.Owner != "" && im.Owner != d.opts.Owner) ||
				(d.opts.Match != nil && !d.opts.Match(im.Name)) {
				continue
			}
			seen[im.ID] = true
			out = append(out, im)
		}
	}
	slices.SortFunc(out, func(a, b scp.Image) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}
