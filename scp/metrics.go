package scp

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/metric"
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
	// OpListAuditVersions reads the Logging & Audit service's version list
	// (unsigned, with that service's Scp-Api-Version).
	OpListAuditVersions Operation = "list_audit_versions"
	// OpListAuditLogs reads the Logging & Audit service's trail (GET /v1/logs).
	OpListAuditLogs Operation = "list_audit_logs"
)

// Operations lists every operation, so metrics can start each at zero.
var Operations = []Operation{OpListImageMembers, OpListImages, OpShowImage, OpListPendingImages, OpListEndpoints, OpListVersions, OpListAuditLogs, OpListAuditVersions}

// answerOperations are the operations whose answers are read tolerantly,
// counting anomalies; show_image reads one image, whose lacks fail it whole.
var answerOperations = []Operation{OpListImageMembers, OpListImages, OpListPendingImages}

// durationBuckets are the bounds of scp_api_request_duration_seconds.
var durationBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics counts one account's API requests: what scp_api_requests_total
// and its siblings show. One Metrics outlives the clients and budgets of its
// account (a reload that rebuilds the client keeps counting on it); the
// collector reads it at scrape time, so an account that is removed takes
// its series with it. Safe for concurrent use; a nil *Metrics counts
// nothing.
type Metrics struct {
	mu        sync.Mutex
	requests  map[opLabel]uint64 // by operation and code
	durations map[opLabel]*histogram
	errors    map[opLabel]uint64 // by operation and reason, every pair from 0
	retries   map[Operation]uint64
	anomalies map[opLabel]uint64 // by operation and kind, every pair from 0
	decreases uint64
	pauses    uint64
}

// opLabel is an operation and its second label's value (a code, reason or
// kind).
type opLabel struct {
	op    Operation
	label string
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

// NewMetrics returns an account's request metrics, every operation ×
// reason (and anomaly kind) started at 0.
func NewMetrics() *Metrics {
	m := &Metrics{
		requests:  map[opLabel]uint64{},
		durations: map[opLabel]*histogram{},
		errors:    map[opLabel]uint64{},
		retries:   map[Operation]uint64{},
		anomalies: map[opLabel]uint64{},
	}
	for _, op := range Operations {
		for _, r := range Reasons {
			m.errors[opLabel{op, string(r)}] = 0
		}
		m.retries[op] = 0
	}
	for _, op := range answerOperations {
		for _, k := range Anomalies {
			m.anomalies[opLabel{op, k}] = 0
		}
	}
	for _, k := range AuditAnomalies {
		m.anomalies[opLabel{OpListAuditLogs, k}] = 0
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
	key := opLabel{op, code}
	secs := took.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[key]++
	h := m.durations[key]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(durationBuckets))}
		m.durations[key] = h
	}
	if i, _ := slices.BinarySearch(durationBuckets, secs); i < len(durationBuckets) {
		h.counts[i]++
	}
	h.count++
	h.sum += secs
	if reason != "" {
		m.errors[opLabel{op, string(reason)}]++
	}
}

func (m *Metrics) retried(op Operation) {
	if m != nil {
		m.mu.Lock()
		m.retries[op]++
		m.mu.Unlock()
	}
}

func (m *Metrics) rateDecreased() {
	if m != nil {
		m.mu.Lock()
		m.decreases++
		m.mu.Unlock()
	}
}

func (m *Metrics) paused() {
	if m != nil {
		m.mu.Lock()
		m.pauses++
		m.mu.Unlock()
	}
}

func (m *Metrics) anomaly(op Operation, kind string) {
	if m != nil {
		m.mu.Lock()
		m.anomalies[opLabel{op, kind}]++
		m.mu.Unlock()
	}
}

// decodeFailed counts an answer that parsed but failed validation, found
// after the attempt was observed.
func (m *Metrics) decodeFailed(op Operation) {
	if m != nil {
		m.mu.Lock()
		m.errors[opLabel{op, string(ReasonDecode)}]++
		m.mu.Unlock()
	}
}

// countSeries sends one series per key of counts, in label order.
func countSeries(m *Metrics, counts func(*Metrics) map[opLabel]uint64, s metric.Sink) {
	if m == nil {
		return
	}
	m.mu.Lock()
	c := counts(m)
	keys := make([]opLabel, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	values := make([]uint64, len(keys))
	slices.SortFunc(keys, compareOpLabels)
	for i, k := range keys {
		values[i] = c[k]
	}
	m.mu.Unlock()
	for i, k := range keys {
		s.Value(float64(values[i]), string(k.op), k.label)
	}
}

func compareOpLabels(a, b opLabel) int {
	if a.op != b.op {
		if a.op < b.op {
			return -1
		}
		return 1
	}
	switch {
	case a.label < b.label:
		return -1
	case a.label > b.label:
		return 1
	}
	return 0
}

// RequestFamilies are the families of an account's request metrics.
var RequestFamilies = []metric.Family[*Metrics]{
	{
		Name: "scp_api_requests_total", Type: metric.Counter, Labels: []string{"operation", "code"},
		Help: "SCP API requests made, by operation and HTTP status code (\"error\" when no response came). Each retry attempt counts.",
		Series: func(m *Metrics, s metric.Sink) {
			countSeries(m, func(m *Metrics) map[opLabel]uint64 { return m.requests }, s)
		},
	},
	{
		Name: "scp_api_request_duration_seconds", Type: metric.Histogram, Labels: []string{"operation", "code"},
		Help: "Duration of SCP API requests in seconds, from sending to the end of the body, by operation and HTTP status code.",
		Series: func(m *Metrics, s metric.Sink) {
			if m == nil {
				return
			}
			m.mu.Lock()
			keys := make([]opLabel, 0, len(m.durations))
			for k := range m.durations {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, compareOpLabels)
			values := make([]metric.HistogramValue, len(keys))
			for i, k := range keys {
				h := m.durations[k]
				v := metric.HistogramValue{Bounds: durationBuckets, Counts: make([]uint64, len(h.counts)), Count: h.count, Sum: h.sum}
				var cum uint64
				for j, n := range h.counts {
					cum += n
					v.Counts[j] = cum
				}
				values[i] = v
			}
			m.mu.Unlock()
			for i, k := range keys {
				s.Histogram(&values[i], string(k.op), k.label)
			}
		},
	},
	{
		Name: "scp_api_request_errors_total", Type: metric.Counter, Labels: []string{"operation", "reason"},
		Help: "Failed SCP API requests, by operation and reason (timeout, network, unauthorized, forbidden, not_found, rate_limited, client_error, server_error, decode, unsupported_version).",
		Series: func(m *Metrics, s metric.Sink) {
			countSeries(m, func(m *Metrics) map[opLabel]uint64 { return m.errors }, s)
		},
	},
	{
		Name: "scp_api_request_retries_total", Type: metric.Counter, Labels: []string{"operation"},
		Help: "SCP API requests retried after a network error, 429, 502, 503 or 504, by operation.",
		Series: func(m *Metrics, s metric.Sink) {
			if m == nil {
				return
			}
			m.mu.Lock()
			retries := make(map[opLabel]uint64, len(m.retries))
			for op, n := range m.retries {
				retries[opLabel{op: op}] = n
			}
			m.mu.Unlock()
			keys := make([]opLabel, 0, len(retries))
			for k := range retries {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, compareOpLabels)
			for _, k := range keys {
				s.Value(float64(retries[k]), string(k.op))
			}
		},
	},
	{
		Name: "scp_api_rate_limit_decreases_total", Type: metric.Counter,
		Help: "Times the API's throttling (429, Retry-After) lowered the account's request rate; throttled requests themselves count in scp_api_request_errors_total{reason=\"rate_limited\"}.",
		Series: func(m *Metrics, s metric.Sink) {
			if m == nil {
				return
			}
			m.mu.Lock()
			n := m.decreases
			m.mu.Unlock()
			s.Value(float64(n))
		},
	},
	{
		Name: "scp_api_rate_limit_pauses_total", Type: metric.Counter,
		Help: "Times a Retry-After stopped, or extended a stop of, every Virtual Server call of the account (at most 5m each; Logging & Audit pauses stop only the audit trail).",
		Series: func(m *Metrics, s metric.Sink) {
			if m == nil {
				return
			}
			m.mu.Lock()
			n := m.pauses
			m.mu.Unlock()
			s.Value(float64(n))
		},
	},
	{
		Name: "scp_api_answer_anomalies_total", Type: metric.Counter, Labels: []string{"operation", "kind"},
		Help: "Parts of SCP API answers the exporter skipped or cleaned while keeping the rest, by operation and kind (entry_not_an_object, field_type, invalid_member_id, empty_status, odd_status, bad_timestamp, invalid_image_id, invalid_owner, invalid_visibility, missing_owner; for list_audit_logs also missing_id, missing_timestamp); the debug log names the image or the audit window.",
		Series: func(m *Metrics, s metric.Sink) {
			countSeries(m, func(m *Metrics) map[opLabel]uint64 { return m.anomalies }, s)
		},
	},
}

// BudgetFamilies are the families of an account's budget.
var BudgetFamilies = []metric.Family[*Budget]{
	{
		Name: "scp_api_rate_limit_requests_per_second",
		Help: "The request rate the exporter allows itself now for all of the account's API calls: scp.requests_per_second, lowered when the API throttles (429, Retry-After) and recovered additively.",
		Series: func(b *Budget, s metric.Sink) {
			if b != nil {
				s.Value(b.Rate())
			}
		},
	},
	{
		Name: "scp_api_rate_limit_pause_seconds",
		Help: "How long every Virtual Server call of the account stays stopped by the API's Retry-After, in seconds (at most 300); 0 when none is.",
		Series: func(b *Budget, s metric.Sink) {
			if b != nil {
				s.Value(b.PauseLeft().Seconds())
			}
		},
	},
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
