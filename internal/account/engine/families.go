package engine

import (
	"slices"
	"strconv"
	"strings"

	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Families are the families of what the engine knows: the watched images,
// their members as last fetched, how each image's last fetch went, and how
// the refresh keeps up. Member series are cached values: their HELP says
// so, and scp_image_members_stalest_age_seconds says how old they can be.
var Families = []metric.Family[*View]{
	{
		Name:   "scp_image_members_stalest_age_seconds",
		Help:   "Age of the oldest sure answer about the watched images' members (a successful fetch, or a 404 saying the image is gone; since it was first watched, for an image with neither), in seconds: how old cached member series can be.",
		Series: func(v *View, s metric.Sink) { s.Value(v.StalestAge.Seconds()) },
	},
	{
		Name:   "scp_image_members_refresh_interval_seconds",
		Help:   "members.refresh_interval in seconds: how often each image should be fetched in the background; 0 on demand, where a scrape begins a pass over every image that goes on between scrapes until done, and the next follows at once when a scrape came during it.",
		Series: func(v *View, s metric.Sink) { s.Value(v.RefreshInterval.Seconds()) },
	},
	{
		Name: "scp_image_members_pass_duration_seconds",
		Help: "How long the last full pass took, in seconds: from its first members call until every watched image had been fetched (or tried) once; on demand, a pass a scrape cannot finish goes on between scrapes, and its duration spans them. Absent until one completes.",
		Series: func(v *View, s metric.Sink) {
			if v.Passes > 0 {
				s.Value(v.PassDuration.Seconds())
			}
		},
	},
	{
		Name: "scp_image_members_pass_min_duration_seconds",
		Help: "The shortest full pass the account's API budget allows now (watched images over scp_api_rate_limit_requests_per_second), in seconds; above members.refresh_interval, the interval cannot be kept.",
		Series: func(v *View, s metric.Sink) {
			if v.MinPassDuration > 0 {
				s.Value(v.MinPassDuration.Seconds())
			}
		},
	},
	{
		Name: "scp_image_info", Labels: []string{"image_id", "name"},
		Help: "Images this exporter watches, with their configured or discovered name; always 1.",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				s.Value(1, v.Images[i].ID, v.Images[i].Name)
			}
		},
	},
	{
		Name: "scp_image_members_scrape_success", Labels: []string{"image_id"},
		Help: "1 when the last fetch of the image's members succeeded, 0 when it failed or none has completed yet (see scp_image_members_scrape_error). Member series are those of the last successful fetch, which may be up to scp_image_members_stalest_age_seconds old.",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				s.Value(metric.Bool(v.Images[i].Err == nil), v.Images[i].ID)
			}
		},
	},
	{
		Name: "scp_image_members_scrape_error", Labels: []string{"image_id", "reason"},
		Help: "1 for an image whose last members fetch failed, labelled with why (not_fetched_yet before the first one completes); absent on success.",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				if r := &v.Images[i]; r.Err != nil {
					s.Value(1, r.ID, string(r.Reason))
				}
			}
		},
	},
	{
		Name: "scp_image_members", Labels: []string{"image_id", "status"},
		Help: "Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds), as last fetched; may be cached (see scp_image_members_stalest_age_seconds).",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				if r := &v.Images[i]; r.Known {
					for _, sc := range statusCounts(r.Members) {
						s.Value(float64(sc.n), r.ID, sc.status)
					}
				}
			}
		},
	},
	{
		Name: "scp_image_member_info", Labels: []string{"image_id", "member_id", "status", "expected"},
		Help: "One series per account the image is shared with, as last fetched; expected is \"true\" when the account is in the image's or the top-level expected_members. Always 1; may be cached (see scp_image_members_stalest_age_seconds).",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				if r := &v.Images[i]; r.Known {
					for _, m := range r.Members {
						s.Value(1, r.ID, m.ID, m.Status, strconv.FormatBool(r.Expected[m.ID]))
					}
				}
			}
		},
	},
}

// MemberCreatedFamily is when each member was shared, as last fetched: for
// --collector.member-timestamps=all.
var MemberCreatedFamily = metric.Family[*View]{
	Name: "scp_image_member_created_timestamp_seconds", Labels: []string{"image_id", "member_id"},
	Help: "When the image was shared with the account, in Unix seconds, as last fetched. Only with --collector.member-timestamps=all; by default a pending share whose updated time the API does not give has this time instead.",
	Series: func(v *View, s metric.Sink) {
		for i := range v.Images {
			if r := &v.Images[i]; r.Known {
				for _, m := range r.Members {
					if !m.CreatedAt.IsZero() {
						s.Value(metric.UnixSeconds(m.CreatedAt), r.ID, m.ID)
					}
				}
			}
		}
	},
}

// MemberUpdatedFamily is when each share's status last changed, as last
// fetched: with all, for every member; otherwise for pending shares only
// (their created time when the API gives no updated one), which is what
// "pending too long" needs.
func MemberUpdatedFamily(all bool) metric.Family[*View] {
	return metric.Family[*View]{
		Name: "scp_image_member_updated_timestamp_seconds", Labels: []string{"image_id", "member_id"},
		Help: "When the share's status last changed, in Unix seconds, as last fetched. By default (--collector.member-timestamps=pending) only for pending shares, so that how long a share has been pending can be told; all for every share, none for no share.",
		Series: func(v *View, s metric.Sink) {
			for i := range v.Images {
				r := &v.Images[i]
				if !r.Known {
					continue
				}
				for _, m := range r.Members {
					if !all && m.Status != "pending" {
						continue
					}
					at := m.UpdatedAt
					if at.IsZero() && !all {
						at = m.CreatedAt // pending since it was offered
					}
					if !at.IsZero() {
						s.Value(metric.UnixSeconds(at), r.ID, m.ID)
					}
				}
			}
		},
	}
}

// statusCount is how many members have a status.
type statusCount struct {
	status string
	n      int
}

// statusCounts counts members by status: pending, accepted and rejected
// always (0 when none has them), any other status the API adds when some
// member has it; in status order.
func statusCounts(members []scp.Member) []statusCount {
	counts := []statusCount{{"accepted", 0}, {"pending", 0}, {"rejected", 0}}
	for _, m := range members {
		i := slices.IndexFunc(counts, func(c statusCount) bool { return c.status == m.Status })
		if i < 0 {
			i = len(counts)
			counts = append(counts, statusCount{m.Status, 0})
		}
		counts[i].n++
	}
	slices.SortFunc(counts, func(a, b statusCount) int { return strings.Compare(a.status, b.status) })
	return counts
}
