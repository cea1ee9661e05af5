package exporter

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/collector"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/scp"
)

// auditing is an account's audit-trail poller while audit.enabled.
type auditing struct {
	poller *audit.Poller
	stop   context.CancelFunc
	done   chan struct{}
}

// follow starts, updates or stops the audit poller of account a: with
// audit.enabled, each event naming a watched image puts it at the head of
// the engine's queue. A failing trail only delays detection to the sweep.
func (e *Exporter) follow(a *config.Account, acc *account) error {
	if a.Audit == nil || !a.Audit.Enabled {
		acc.stopAuditing()
		return nil
	}
	en := acc.engine
	o := audit.Options{
		Lister:     acc.client,
		Interval:   time.Duration(a.Audit.PollInterval),
		Watched:    en.Watches,
		Prioritize: func(ids []string) { en.Prioritize(ids...) },
		Now:        e.opts.Now,
		Logger:     accountLogger(e.opts.Logger, "audit", a.Name),
	}
	if acc.auditing != nil {
		return acc.auditing.poller.Update(o)
	}
	p, err := audit.New(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	acc.auditing = &auditing{poller: p, stop: cancel, done: make(chan struct{})}
	go func() { defer close(acc.auditing.done); p.Run(ctx) }()
	return nil
}

// stopAuditing stops the account's audit poller, if any, and waits for it.
func (acc *account) stopAuditing() {
	if acc.auditing != nil {
		acc.auditing.stop()
		<-acc.auditing.done
		acc.auditing = nil
	}
}

// changes is the collector's view of the account's audit trail; nil
// without one.
func (acc *account) changes() collector.Changes {
	if acc.auditing == nil {
		return nil
	}
	return auditChanges{acc.auditing.poller}
}

// auditChanges explains changes with an audit poller's events.
type auditChanges struct{ p *audit.Poller }

func (a auditChanges) Explain(id string, from, to time.Time) (collector.Change, bool) {
	ev, ok := a.p.Explain(id, from, to)
	return collector.Change{EventName: ev.Name, UserID: ev.UserID, Time: ev.Time}, ok
}

// auditMetrics exports each account's audit-trail polling.
type auditMetrics struct {
	e                                                *Exporter
	lastSuccess, interval, events, skipped, failures *prometheus.Desc
}

func newAuditMetrics(e *Exporter) *auditMetrics {
	labels := func(l ...string) []string {
		if e.multi {
			return append([]string{"account"}, l...)
		}
		return l
	}
	return &auditMetrics{
		e: e,
		lastSuccess: prometheus.NewDesc("scp_audit_last_success_timestamp_seconds",
			"When the audit trail (GET /v1/logs) was last read successfully: the end of the last good window, in Unix seconds; 0 if never. Only with audit.enabled.", labels(), nil),
		interval: prometheus.NewDesc("scp_audit_poll_interval_seconds",
			"audit.poll_interval in seconds: how often the audit trail is read.", labels(), nil),
		events: prometheus.NewDesc("scp_audit_events_total",
			"Audit events read (each once, however many windows returned it), by event name (at most 100 names, then \"other\"; \"unknown\" for none).", labels("event_name"), nil),
		skipped: prometheus.NewDesc("scp_audit_events_skipped_total",
			"Audit trail entries skipped as malformed, by reason (entry_not_an_object, missing_id, missing_timestamp, bad_timestamp); entries with a field of an odd type are cleaned and kept (scp_api_answer_anomalies_total).", labels("reason"), nil),
		failures: prometheus.NewDesc("scp_audit_poll_failures_total",
			"Reads of the audit trail that failed; the sweep goes on meanwhile, and the next read covers the gap.", labels(), nil),
	}
}

// Describe implements prometheus.Collector.
func (m *auditMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.lastSuccess, m.interval, m.events, m.skipped, m.failures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *auditMetrics) Collect(ch chan<- prometheus.Metric) {
	pollers := m.e.pollers.Load()
	if pollers == nil {
		return
	}
	for account, p := range *pollers {
		l := func(v ...string) []string {
			if m.e.multi {
				return append([]string{account}, v...)
			}
			return v
		}
		st := p.Status()
		ts := 0.0
		if !st.LastSuccess.IsZero() {
			ts = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(m.lastSuccess, prometheus.GaugeValue, ts, l()...)
		ch <- prometheus.MustNewConstMetric(m.interval, prometheus.GaugeValue, p.Interval().Seconds(), l()...)
		ch <- prometheus.MustNewConstMetric(m.failures, prometheus.CounterValue, float64(st.Failures), l()...)
		for name, n := range st.Events {
			ch <- prometheus.MustNewConstMetric(m.events, prometheus.CounterValue, float64(n), l(name)...)
		}
		for _, reason := range scp.AuditAnomalies {
			if reason == scp.AnomalyFieldType {
				continue // such entries are cleaned and kept, not skipped
			}
			ch <- prometheus.MustNewConstMetric(m.skipped, prometheus.CounterValue, float64(st.Skipped[reason]), l(reason)...)
		}
	}
}
