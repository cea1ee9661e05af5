package inventory

import "github.com/scp-exporter/scp_exporter/internal/metric"

// Families are the families of the account's listings: discovery, and the
// images other accounts offer to it or share with it. Those that judge an
// offer against the expected owners are the account runtime's.
var Families = []metric.Family[*State]{
	{
		Name: "scp_discovery_images",
		Help: "Images in the discovered list in use (the last good listing).",
		Series: func(st *State, s metric.Sink) {
			if st.Discovering {
				s.Value(float64(st.Status.Images))
			}
		},
	},
	{
		Name: "scp_discovery_last_success_timestamp_seconds",
		Help: "When image discovery last listed the account's images successfully, in Unix seconds; 0 if it never has.",
		Series: func(st *State, s metric.Sink) {
			if st.Discovering {
				s.Value(metric.Timestamp(st.Status.LastSuccess))
			}
		},
	},
	{
		Name:   "scp_discovery_dropped_images",
		Help:   "Images the last listing returned that are not ours (their owner is not the owner of our private images, or scp.account_id before any is known), and are not watched.",
		Series: func(st *State, s metric.Sink) { s.Value(float64(st.Status.Dropped)) },
	},
	{
		Name:   "scp_pending_images_last_success_timestamp_seconds",
		Help:   "When the images offered to this account were last listed successfully, in Unix seconds; 0 if never.",
		Series: func(st *State, s metric.Sink) { s.Value(metric.Timestamp(st.Status.PendingLastSuccess)) },
	},
	{
		Name: "scp_pending_images",
		Help: "Images other accounts offer to this one, awaiting an answer, as last listed.",
		Series: func(st *State, s metric.Sink) {
			if !st.Status.PendingLastSuccess.IsZero() { // never listed: no count to report
				s.Value(float64(len(st.Pending)))
			}
		},
	},
	{
		Name:   "scp_shared_images_last_success_timestamp_seconds",
		Help:   "When the images this account accepted from others were last listed successfully (with our owner value known), in Unix seconds; 0 if never.",
		Series: func(st *State, s metric.Sink) { s.Value(metric.Timestamp(st.Status.AcceptedLastSuccess)) },
	},
	{
		Name: "scp_shared_images",
		Help: "Images other accounts share with this one that it has accepted, as last listed. Absent until a listing could tell ours from others' (see scp_shared_images_last_success_timestamp_seconds).",
		Series: func(st *State, s metric.Sink) {
			if !st.Status.AcceptedLastSuccess.IsZero() {
				s.Value(float64(len(st.Accepted)))
			}
		},
	},
}
