package audit

import (
	"slices"

	"github.com/scp-exporter/scp_exporter/internal/metric"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Families are the families of an account's audit-trail polling; an
// account without the trail has none of them.
var Families = []metric.Family[*Status]{
	{
		Name:   "scp_audit_last_success_timestamp_seconds",
		Help:   "When the audit trail (GET /v1/logs) was last read successfully: the end of the last good window, in Unix seconds; 0 if never. Only with audit.enabled.",
		Series: func(st *Status, s metric.Sink) { s.Value(metric.Timestamp(st.LastSuccess)) },
	},
	{
		Name:   "scp_audit_poll_interval_seconds",
		Help:   "audit.poll_interval in seconds: how often the audit trail is read.",
		Series: func(st *Status, s metric.Sink) { s.Value(st.Interval.Seconds()) },
	},
	{
		Name: "scp_audit_poll_failures_total", Type: metric.Counter,
		Help:   "Reads of the audit trail that failed; the sweep goes on meanwhile, and the next read covers the gap.",
		Series: func(st *Status, s metric.Sink) { s.Value(float64(st.Failures)) },
	},
	{
		Name: "scp_audit_events_total", Type: metric.Counter, Labels: []string{"event_name"},
		Help: "Audit events read (each once, however many windows returned it), by event name (at most 100 names, then \"other\"; \"unknown\" for none).",
		Series: func(st *Status, s metric.Sink) {
			names := make([]string, 0, len(st.Events))
			for name := range st.Events {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				s.Value(float64(st.Events[name]), name)
			}
		},
	},
	{
		Name: "scp_audit_unwatched_events_dropped_total", Type: metric.Counter,
		Help:   "Audit events about images not watched (yet) that were dropped to keep at most 10,000 such events (the oldest first); an image discovery lists later cannot be attributed from them.",
		Series: func(st *Status, s metric.Sink) { s.Value(float64(st.UnwatchedDropped)) },
	},
	{
		Name: "scp_audit_events_skipped_total", Type: metric.Counter, Labels: []string{"reason"},
		Help: "Audit trail entries skipped as malformed, by reason (entry_not_an_object, missing_id, missing_timestamp, bad_timestamp); entries with a field of an odd type are cleaned and kept (scp_api_answer_anomalies_total).",
		Series: func(st *Status, s metric.Sink) {
			for _, reason := range scp.AuditAnomalies {
				if reason != scp.AnomalyFieldType { // such entries are cleaned and kept, not skipped
					s.Value(float64(st.Skipped[reason]), reason)
				}
			}
		},
	},
	{
		Name: "scp_audit_events_future_dated_total", Type: metric.Counter,
		Help:   "Audit events stamped more than a minute after the poll that read them (a clock ahead, or a forged date): kept as if stamped when read, so that they age like any other.",
		Series: func(st *Status, s metric.Sink) { s.Value(float64(st.FutureDated)) },
	},
	{
		Name: "scp_audit_filter_state", Labels: []string{"state"},
		Help: "1 for the state of audit.filter, the audit service's own filter: off, unverified (read unfiltered until a check passes), active (read with it, checked every 10 polls), mismatch or refused (read unfiltered until a reload changes it). See the README.",
		Series: func(st *Status, s metric.Sink) {
			for _, state := range FilterStates {
				s.Value(metric.Bool(st.Filter == state), string(state))
			}
		},
	},
	{
		Name: "scp_audit_filter_checks_total", Type: metric.Counter, Labels: []string{"result"},
		Help: "Windows of the audit trail read both without and with the service's filter, by result: match, mismatch (it left out an event on a watched image), inconclusive (no such event to compare), error (the filtered read failed) or refused.",
		Series: func(st *Status, s metric.Sink) {
			for _, r := range FilterResults {
				s.Value(float64(st.FilterChecks[r]), string(r))
			}
		},
	},
}
