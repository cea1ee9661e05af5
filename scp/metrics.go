package scp

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Operation names the API call in metric labels.
type Operation string

// Operations of this client.
const (
	OpListImageMembers  Operation = "list_image_members"
	OpListImages        Operation = "list_images"
	OpShowImage         Operation = "show_image"
	OpListPendingImages Operation = "list_pending_images"
	// OpListEndpoints reads IAM's endpoint catalog; OpListVersions reads the
	// service's version list (unsigned).
	OpListEndpoints Operation = "list_endpoints"
	OpListVersions  Operation = "list_versions"
	// OpListAuditLogs reads the Logging & Audit service's trail (GET /v1/logs).
	OpListAuditLogs Operation = "list_audit_logs"
)

// Operations lists every operation, so metrics can start each at zero.
var Operations = []Operation{OpListImageMembers, OpListImages, OpShowImage, OpListPendingImages, OpListEndpoints, OpListVersions, OpListAuditLogs}

// answerOperations are the operations whose answers are read tolerantly,
// counting anomalies; show_image reads one image, whose lacks fail it whole.
var answerOperations = []Operation{OpListImageMembers, OpListImages, OpListPendingImages}

// Metrics are the client's own request metrics. One Metrics is shared by all
// clients of a process (one per account, and across config reloads).
type Metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.ObserverVec
	errors   *prometheus.CounterVec
	retries  *prometheus.CounterVec
	// rate and decreases show the account's Budget.
	rate      *prometheus.GaugeVec
	decreases *prometheus.CounterVec
	// anomalies counts parts of answers skipped or cleaned.
	anomalies *prometheus.CounterVec
	// perAccount: the vectors have an account label, which ForAccount fills.
	perAccount bool
}

// NewMetrics creates the request metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return newMetrics(reg, nil)
}

// NewAccountMetrics creates request metrics with an account label, for the
// several-accounts form; each client gets its account's view from ForAccount.
func NewAccountMetrics(reg prometheus.Registerer) *Metrics {
	return newMetrics(reg, []string{"account"})
}

// ForAccount returns the metrics of one account, every operation × reason
// series started at 0. Without an account label it returns m.
func (m *Metrics) ForAccount(name string) *Metrics {
	if m == nil || !m.perAccount {
		return m
	}
	l := prometheus.Labels{"account": name}
	a := &Metrics{
		requests:  m.requests.MustCurryWith(l),
		duration:  m.duration.MustCurryWith(l),
		errors:    m.errors.MustCurryWith(l),
		retries:   m.retries.MustCurryWith(l),
		rate:      m.rate.MustCurryWith(l),
		decreases: m.decreases.MustCurryWith(l),
		anomalies: m.anomalies.MustCurryWith(l),
	}
	a.init()
	return a
}

func (m *Metrics) init() {
	for _, op := range Operations {
		for _, r := range Reasons {
			m.errors.WithLabelValues(string(op), string(r))
		}
		m.retries.WithLabelValues(string(op))
	}
	m.decreases.WithLabelValues()
	for _, op := range answerOperations {
		for _, k := range Anomalies {
			m.anomalies.WithLabelValues(string(op), k)
		}
	}
	for _, k := range AuditAnomalies {
		m.anomalies.WithLabelValues(string(OpListAuditLogs), k)
	}
}

func newMetrics(reg prometheus.Registerer, extra []string) *Metrics {
	labels := func(l ...string) []string { return append(slices.Clone(extra), l...) }
	m := &Metrics{
		perAccount: len(extra) > 0,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scp_api_requests_total",
			Help: "SCP API requests made, by operation and HTTP status code (\"error\" when no response came). Each retry attempt counts.",
		}, labels("operation", "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scp_api_request_duration_seconds",
			Help:    "Duration of SCP API requests in seconds, from sending to the end of the body, by operation and HTTP status code.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, labels("operation", "code")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scp_api_request_errors_total",
			Help: "Failed SCP API requests, by operation and reason (timeout, network, unauthorized, forbidden, not_found, rate_limited, client_error, server_error, decode, unsupported_version).",
		}, labels("operation", "reason")),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scp_api_request_retries_total",
			Help: "SCP API requests retried after a network error, 429, 502, 503 or 504, by operation.",
		}, labels("operation")),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scp_api_rate_limit_requests_per_second",
			Help: "The request rate the exporter allows itself now for all of the account's API calls: scp.requests_per_second, lowered when the API throttles (429, Retry-After) and recovered additively.",
		}, labels()),
		decreases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scp_api_rate_limit_decreases_total",
			Help: "Times the API's throttling (429, Retry-After) lowered the account's request rate; throttled requests themselves count in scp_api_request_errors_total{reason=\"rate_limited\"}.",
		}, labels()),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scp_api_answer_anomalies_total",
			Help: "Parts of SCP API answers the exporter skipped or cleaned while keeping the rest, by operation and kind (entry_not_an_object, field_type, invalid_member_id, empty_status, odd_status, bad_timestamp, invalid_image_id, invalid_owner, invalid_visibility, missing_owner; for list_audit_logs also missing_id, missing_timestamp); the debug log names the image or the audit window.",
		}, labels("operation", "kind")),
	}
	if !m.perAccount {
		m.init()
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration.(prometheus.Collector), m.errors, m.retries, m.rate, m.decreases, m.anomalies)
	}
	return m
}

// observe records one attempt. status is 0 when no response came.
func (m *Metrics) observe(op Operation, status int, took time.Duration, reason Reason) {
	if m == nil {
		return
	}
	code := "error"
	if status != 0 {
		code = statusCode(status)
	}
	m.requests.WithLabelValues(string(op), code).Inc()
	m.duration.WithLabelValues(string(op), code).Observe(took.Seconds())
	if reason != "" {
		m.errors.WithLabelValues(string(op), string(reason)).Inc()
	}
}

func (m *Metrics) retried(op Operation) {
	if m != nil {
		m.retries.WithLabelValues(string(op)).Inc()
	}
}

func (m *Metrics) setRate(r float64) {
	if m != nil {
		m.rate.WithLabelValues().Set(r)
	}
}

func (m *Metrics) rateDecreased() {
	if m != nil {
		m.decreases.WithLabelValues().Inc()
	}
}

func (m *Metrics) anomaly(op Operation, kind string) {
	if m != nil {
		m.anomalies.WithLabelValues(string(op), kind).Inc()
	}
}

// decodeFailed counts an answer that parsed but failed validation, found
// after the attempt was observed.
func (m *Metrics) decodeFailed(op Operation) {
	if m != nil {
		m.errors.WithLabelValues(string(op), string(ReasonDecode)).Inc()
	}
}

// statusCodes are the code label values of the HTTP statuses, made once.
var statusCodes = func() []string {
	codes := make([]string, 600)
	for i := 100; i < len(codes); i++ {
		codes[i] = strconv.Itoa(i)
	}
	return codes
}()

func statusCode(status int) string {
	if status >= 100 && status < len(statusCodes) {
		return statusCodes[status]
	}
	return strconv.Itoa(status)
}
