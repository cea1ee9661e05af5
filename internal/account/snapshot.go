package account

import (
	"time"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Snapshot is what an account's runtime knows at one moment: everything a
// scrape shows of the account.
type Snapshot struct {
	// Name is the account label's value; "" in the single-account form.
	Name string
	// Members is the engine's view: the watched images, their members as
	// last fetched, the listings (Members.Inventory) and how the refresh
	// keeps up.
	Members engine.View
	// Service is where the account's Virtual Server calls go and which API
	// version they request; Audit the same of its Logging & Audit calls,
	// once the trail has chosen a version (nil before, or without the
	// trail).
	Service      scp.ServiceStatus
	AuditService *scp.ServiceStatus
	// Requests are the account's request counters, and Budget its rate
	// now; both are read when the series are written.
	Requests *scp.Metrics
	Budget   *scp.Budget
	// Audit is the trail's polling; nil without audit.enabled.
	Audit *audit.Status
	// Lists are the account's expected-list files, by path.
	Lists []trustlist.Status
	// ExpectedOwners are the accounts whose images (offered or accepted)
	// are expected.
	ExpectedOwners map[string]bool
	// ExpectedMembers and ExpectedImageOwners are every account ID of the
	// expected lists in use (config and list files), sorted, each with the
	// name given to it (config.Settings.NamedMembers, NamedOwners). Shared:
	// do not modify them.
	ExpectedMembers, ExpectedImageOwners []config.Named
	// MaxMembers is how many accounts each image may be shared with.
	MaxMembers MaxMembers
	// Changes are, by image ID, the audit events that explain the latest
	// change the exporter saw of each image (its members or visibility).
	Changes map[string]Change
	// Storage is what the state's storage achieved; nil without
	// --storage.path.
	Storage *StorageStatus
}

// MaxMembers is the share-count limit of an account's images; 0 is none.
// Default is exported once per account (scp_image_member_limit_default) and
// only the images in PerImage have a series of their own
// (scp_image_member_limit), so a limit set for every image costs one series,
// not one per image.
type MaxMembers struct {
	Default  int
	PerImage map[string]int // images whose limit is not Default; 0 lifts it
}

// Override is the image's own limit, when it differs from Default.
func (m MaxMembers) Override(imageID string) (int, bool) {
	n, ok := m.PerImage[imageID]
	return n, ok && n != m.Default
}

// maxMembers is the share-count limit of each of the account's images.
func maxMembers(s config.Settings) MaxMembers {
	limits := MaxMembers{Default: s.MaxMembers}
	for _, img := range s.Images {
		if n := s.MaxMembersOf(img); n != limits.Default {
			if limits.PerImage == nil {
				limits.PerImage = map[string]int{}
			}
			limits.PerImage[img.ID] = n
		}
	}
	return limits
}

// Change is an audit event that explains a change the exporter saw.
type Change struct {
	EventName, UserID string
	Time              time.Time
}

// Snapshot returns what the runtime knows now. Each image's change is
// looked up once, so that every family naming it names the same event.
func (r *Runtime) Snapshot() Snapshot {
	r.mu.Lock()
	snap := Snapshot{
		Name:           r.name,
		Service:        r.conn.client.Status(),
		Requests:       r.metrics,
		Budget:         r.conn.budget,
		ExpectedOwners: r.owners,
		MaxMembers:     r.limits,

		ExpectedMembers:     r.names.members,
		ExpectedImageOwners: r.names.owners,
	}
	if r.opts.Storage.Dir != "" {
		st := r.storage
		snap.Storage = &st
	}
	poller, paths, started, client := r.poller, r.paths, r.startedAt, r.conn.client
	r.mu.Unlock()
	snap.Lists = r.lists.statuses(paths)

	snap.Members = r.engine.Snapshot()
	if poller != nil {
		if st, ok := client.AuditStatus(); ok {
			snap.AuditService = &st
		}
		st := poller.Status()
		snap.Audit = &st
		snap.Changes = ExplainChanges(trail{poller}, &snap.Members, started)
	}
	return snap
}

// Explainer names the audit event that explains a change of an image seen
// between from and to: the account's audit trail.
type Explainer interface {
	Explain(imageID string, from, to time.Time) (Change, bool)
}

// trail is an audit poller as an Explainer.
type trail struct{ p *audit.Poller }

func (t trail) Explain(imageID string, from, to time.Time) (Change, bool) {
	ev, ok := t.p.Explain(imageID, from, to)
	return Change{EventName: ev.Name, UserID: ev.UserID, Time: ev.Time}, ok
}

// ExplainChanges explains, with the trail's events, the latest change the
// exporter saw of each image: of its members (between two fetches, or
// since started, before the first fetch that showed any), or of its
// visibility.
func ExplainChanges(ex Explainer, v *engine.View, started time.Time) map[string]Change {
	var out map[string]Change
	for i := range v.Images {
		im := &v.Images[i]
		var best Change
		found := false
		try := func(from, to time.Time) {
			if to.IsZero() {
				return
			}
			if ch, ok := ex.Explain(im.ID, from, to); ok && (!found || ch.Time.After(best.Time)) {
				best, found = ch, true
			}
		}
		try(im.ChangedSince, im.ChangedAt)
		if len(im.Members) > 0 && !started.IsZero() && !im.FirstFetched.IsZero() {
			// Members the first fetch showed appeared before it: an event
			// since the account's runtime started may explain them, as one
			// between two fetches explains a change (an image shared before
			// the first pass reached it, or before discovery listed it: the
			// trail keeps events of images not watched yet). Only events
			// before that fetch: Explain widens the window by the clock
			// skew it allows, and an event after the first fetch explains
			// a later change, not what the first fetch showed.
			try(started, im.FirstFetched.Add(-audit.ExplainSkew))
		}
		if vc, ok := v.Inventory.VisibilityChanged[im.ID]; ok {
			try(vc.Since, vc.At)
		}
		if found {
			if out == nil {
				out = map[string]Change{}
			}
			out[im.ID] = best
		}
	}
	return out
}

// Visibility is the last known visibility of an image of the account.
func (s *Snapshot) Visibility(id string) (string, bool) {
	v, ok := s.Members.Inventory.Visibility[id]
	return v, ok && v != ""
}
