package account

import (
	"slices"
	"strconv"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
)

// The values of --collector.member-timestamps.
const (
	// TimestampsPending, the default: scp_image_member_updated_timestamp_seconds
	// for pending shares only (their created time when the API gives no
	// updated), which is what "pending too long" needs.
	TimestampsPending = "pending"
	// TimestampsAll: created and updated timestamps for every member.
	TimestampsAll = "all"
	// TimestampsNone: no timestamp series.
	TimestampsNone = "none"
)

// SeriesOptions choose the series that are not always exported: each costs
// one series per image or per member, multiplied by tens of thousands of
// images. The zero value is the default.
type SeriesOptions struct {
	// MemberTimestamps says whose share timestamps are exported: one of
	// the Timestamps* values ("" is TimestampsPending).
	MemberTimestamps string
	// ImageVisibility adds scp_image_visibility (always 1), whose label
	// scp_image_visibility_unexpected carries already.
	ImageVisibility bool
}

// Families are every family of an account, in the order they are written:
// those of its parts (read from the snapshot) and those that judge the
// parts' state against the account's config (defined here).
func Families(o SeriesOptions) []metric.Family[*Snapshot] {
	fams := slices.Concat(
		metric.OverEach(func(s *Snapshot) []*scp.ServiceStatus {
			if s.AuditService == nil {
				return []*scp.ServiceStatus{&s.Service}
			}
			return []*scp.ServiceStatus{&s.Service, s.AuditService}
		}, scp.ServiceFamilies...),
		metric.Over(func(s *Snapshot) *inventory.State { return &s.Members.Inventory }, inventory.Families...),
		offerFamilies,
		expectedFamilies,
		metric.Over(func(s *Snapshot) *engine.View { return &s.Members }, engine.Families...),
		visibilityFamilies(o.ImageVisibility),
		limitFamilies,
		changeFamilies,
	)
	members := func(s *Snapshot) *engine.View { return &s.Members }
	if o.MemberTimestamps == TimestampsAll {
		fams = append(fams, metric.Over(members, engine.MemberCreatedFamily)...)
	}
	if o.MemberTimestamps != TimestampsNone {
		fams = append(fams, metric.Over(members, engine.MemberUpdatedFamily(o.MemberTimestamps == TimestampsAll))...)
	}
	return slices.Concat(fams,
		metric.OverOptional(func(s *Snapshot) *audit.Status { return s.Audit }, audit.Families...),
		metric.Over(func(s *Snapshot) *scp.Metrics { return s.Requests }, scp.RequestFamilies...),
		metric.Over(func(s *Snapshot) *scp.Budget { return s.Budget }, scp.BudgetFamilies...),
		metric.OverOptional(func(s *Snapshot) *StorageStatus { return s.Storage }, storageFamilies...),
	)
}

// storageFamilies are the account's state storage (--storage.path).
var storageFamilies = []metric.Family[*StorageStatus]{
	{
		Name: "scp_storage_restore_result", Labels: []string{"result"},
		Help: "1 for what the exporter's start found of the account's saved state (--storage.path): restored, missing (none yet), corrupt, foreign (another account's or endpoint's), old_format or unreadable; all but restored started fresh.",
		Series: func(st *StorageStatus, s metric.Sink) {
			for _, r := range RestoreResults {
				s.Value(metric.Bool(st.Restored == r), string(r))
			}
		},
	},
	{
		Name:   "scp_storage_last_write_success_timestamp_seconds",
		Help:   "When the account's state was last written to --storage.path, in Unix seconds; 0 if never.",
		Series: func(st *StorageStatus, s metric.Sink) { s.Value(metric.Timestamp(st.LastWrite)) },
	},
	{
		Name: "scp_storage_write_failures_total", Type: metric.Counter,
		Help:   "Writes of the account's state to --storage.path that failed (logged); a restart would start from the last good one.",
		Series: func(st *StorageStatus, s metric.Sink) { s.Value(float64(st.WriteFailures)) },
	},
	{
		Name:   "scp_storage_bytes",
		Help:   "Size of the account's state file as last written, in bytes (gzip'd JSON).",
		Series: func(st *StorageStatus, s metric.Sink) { s.Value(float64(st.Bytes)) },
	},
}

// offerFamilies are the images other accounts offer to this one or share
// with it, judged against the expected image owners.
var offerFamilies = []metric.Family[*Snapshot]{
	{
		Name: "scp_pending_image_info", Labels: []string{"image_id", "name", "owner", "expected"},
		Help: "Images other accounts offer to this one, awaiting an answer; expected is \"true\" when the owner is in expected_image_owners. Always 1.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for _, p := range snap.Members.Inventory.Pending {
				s.Value(1, p.ID, p.Name, p.Owner, strconv.FormatBool(snap.ExpectedOwners[p.Owner]))
			}
		},
	},
	{
		Name: "scp_shared_image_info", Labels: []string{"image_id", "name", "owner", "expected"},
		Help: "Images other accounts share with this one that it has accepted (the shared listing's images whose owner is not ours), as last listed, refreshed on the discovery interval; expected is \"true\" when the owner is in expected_image_owners. Always 1.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for _, im := range snap.Members.Inventory.Accepted {
				s.Value(1, im.ID, im.Name, im.Owner, strconv.FormatBool(snap.ExpectedOwners[im.Owner]))
			}
		},
	},
}

// expectedFamilies are the accounts of the expected lists in use, with the
// names the user gave them, for dashboards to show names beside IDs: one
// series per ID of the lists (bounded by them, not by the images).
var expectedFamilies = []metric.Family[*Snapshot]{
	{
		Name: "scp_expected_member_info", Labels: []string{"member_id", "member_name"},
		Help: "One per account ID in the account's expected-members lists in use: expected_members at the top level, of the account and of its configured images, and the expected_members_file lists (the last good read); member_name is the name given beside the ID (the config's, else the account's list file's, else the top level's; \"\" when none). Follows reloads and list-file edits. Always 1.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for _, m := range snap.ExpectedMembers {
				s.Value(1, m.ID, m.Name)
			}
		},
	},
	{
		Name: "scp_expected_image_owner_info", Labels: []string{"owner", "owner_name"},
		Help: "One per account ID in the account's expected-image-owners lists in use: expected_image_owners at the top level and of the account, and the expected_image_owners_file lists (the last good read); owner_name is the name given beside the ID (the config's, else the account's list file's, else the top level's; \"\" when none). Follows reloads and list-file edits. Always 1.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for _, o := range snap.ExpectedImageOwners {
				s.Value(1, o.ID, o.Name)
			}
		},
	},
}

// visibilityFamilies are the watched images' visibility as the listings
// last learned it, judged against each image's allowed_visibility; with
// all, also the visibility alone.
func visibilityFamilies(all bool) []metric.Family[*Snapshot] {
	fams := []metric.Family[*Snapshot]{{
		Name: "scp_image_visibility_unknown_images",
		Help: "Watched images whose visibility is not known (its look-up failed or has not run yet); no visibility alert can fire for them.",
		Series: func(snap *Snapshot, s metric.Sink) {
			unknown := 0
			for i := range snap.Members.Images {
				if _, ok := snap.Visibility(snap.Members.Images[i].ID); !ok {
					unknown++
				}
			}
			s.Value(float64(unknown))
		},
	}}
	if all {
		fams = append(fams, metric.Family[*Snapshot]{
			Name: "scp_image_visibility", Labels: []string{"image_id", "visibility"},
			Help: "The image's visibility (private, shared, community, public) as last learned from the image list or the image itself, refreshed on the discovery interval; always 1. Only with --collector.image-visibility: scp_image_visibility_unexpected carries the same label.",
			Series: func(snap *Snapshot, s metric.Sink) {
				for i := range snap.Members.Images {
					if vis, ok := snap.Visibility(snap.Members.Images[i].ID); ok {
						s.Value(1, snap.Members.Images[i].ID, vis)
					}
				}
			},
		})
	}
	return append(fams, metric.Family[*Snapshot]{
		Name: "scp_image_visibility_unexpected", Labels: []string{"image_id", "visibility"},
		Help: "1 when the image's visibility (the label, as last learned, refreshed on the discovery interval) is outside its allowed_visibility (community or public shares it with every account), 0 when allowed.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for i := range snap.Members.Images {
				im := &snap.Members.Images[i]
				if vis, ok := snap.Visibility(im.ID); ok {
					s.Value(metric.Bool(!im.AllowedVisibility[vis]), im.ID, vis)
				}
			}
		},
	})
}

// limitFamilies are the share-count limits: once per account, and per
// image only where the image's own differs (0 included, which lifts it).
var limitFamilies = []metric.Family[*Snapshot]{
	{
		Name: "scp_image_member_limit_default",
		Help: "The account's default max_members (its own, or the top-level one): how many accounts each of its images may be shared with, pending and accepted shares counted, unless scp_image_member_limit gives the image its own. Absent when there is no default limit.",
		Series: func(snap *Snapshot, s metric.Sink) {
			if n := snap.MaxMembers.Default; n > 0 {
				s.Value(float64(n))
			}
		},
	},
	{
		Name: "scp_image_member_limit", Labels: []string{"image_id"},
		Help: "max_members of the image, only for images whose own limit differs from the account's default (scp_image_member_limit_default): how many accounts it may be shared with, pending and accepted shares counted; 0 means no limit for this image. Every other image has the default.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for i := range snap.Members.Images {
				if n, ok := snap.MaxMembers.Override(snap.Members.Images[i].ID); ok {
					s.Value(float64(n), snap.Members.Images[i].ID)
				}
			}
		},
	},
}

// changeFamilies name who made the latest change the exporter saw of each
// image, from the audit trail.
var changeFamilies = []metric.Family[*Snapshot]{
	{
		Name: "scp_image_change_info", Labels: []string{"image_id", "event_name", "user_id"},
		Help: "Who made the latest change the exporter saw to the image's members or visibility, from the audit trail event that explains it (within its retention, 24h); always 1. Only with audit.enabled and for images with such a change.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for i := range snap.Members.Images {
				id := snap.Members.Images[i].ID
				if ch, ok := snap.Changes[id]; ok {
					s.Value(1, id, ch.EventName, ch.UserID)
				}
			}
		},
	},
	{
		Name: "scp_image_change_timestamp_seconds", Labels: []string{"image_id"},
		Help: "When the audit trail event in scp_image_change_info happened, in Unix seconds.",
		Series: func(snap *Snapshot, s metric.Sink) {
			for i := range snap.Members.Images {
				id := snap.Members.Images[i].ID
				if ch, ok := snap.Changes[id]; ok {
					s.Value(metric.UnixSeconds(ch.Time), id)
				}
			}
		},
	},
}
