package scptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// AuditLogsKey addresses SetFault and Requests to the audit trail
// (GET /v1/logs); SetFault(AuditLogsKey, Fault{Status: 500}) makes it fail.
const AuditLogsKey = "list_audit_logs"

// AuditServiceType is the service type of the Logging & Audit entries in
// DefaultCatalog. The SDK documents none; the client matches "loggingaudit".
const AuditServiceType = "scp-loggingaudit"

// DefaultAuditPageSize is the size of a GET /v1/logs page when the call
// sends none; MaxAuditPageSize is the largest size served.
const (
	DefaultAuditPageSize = 20
	MaxAuditPageSize     = 1000
)

// AuditPaging is how GET /v1/logs pages, where the API leaves it open.
// The zero value serves the size asked for and counts the window's total.
type AuditPaging struct {
	// PageCap, when positive, caps a page at that many events whatever
	// size the call asks for, as a server may; the answer's size says so
	// only with SizeShown.
	PageCap   int
	SizeShown bool
	// CountPerPage makes the answer's count the page's own length, not the
	// window's total: the API does not say which it is.
	CountPerPage bool
}

// AuditFilters is how GET /v1/logs treats its service_type and
// resource_type filters, whose values the API does not document. The zero
// value applies them: an event is served when every filter given equals
// its ServiceType or ResourceType.
type AuditFilters struct {
	// Refuse answers a call with either filter 400, as a service that does
	// not take them would.
	Refuse bool
	// Ignore serves every event whatever the filters say.
	Ignore bool
}

// SetAuditFilters sets how GET /v1/logs treats its filters.
func (f *Fake) SetAuditFilters(a AuditFilters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditFilters = a
}

// SetAuditPaging sets how GET /v1/logs pages.
func (f *Fake) SetAuditPaging(p AuditPaging) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditPaging = p
}

// AuditEvent is an audit trail entry (GET /v1/logs), in the API's JSON
// shape: every field a string, sent as null when empty.
type AuditEvent struct {
	ID string `json:"id"`
	// Timestamp is RFC 3339 (or zone-less, read as UTC). One that does not
	// parse is served in every window, as a malformed entry would be.
	Timestamp      string `json:"timestamp"`
	EventName      string `json:"event_name"`
	EventType      string `json:"event_type"`
	ResourceID     string `json:"resource_id"`
	RootResourceID string `json:"root_resource_id"`
	ResourceName   string `json:"resource_name"`
	ResourceType   string `json:"resource_type"`
	ProductName    string `json:"product_name"`
	ProductType    string `json:"product_type"`
	Status         string `json:"status"`
	Region         string `json:"region"`
	AccountID      string `json:"account_id"`
	UserID         string `json:"user_id"`
	UserName       string `json:"user_name"`
	// ServiceType is what the fake matches a service_type filter against.
	// It is not an answer field (shared/scp-api.md): fixtures may set it,
	// answers never carry it. An event without one matches no such filter.
	ServiceType string `json:"service_type"`
	// Raw, when set, is sent instead of the fields, as is, in every window:
	// a way to serve entries that are not objects or have odd fields.
	Raw json.RawMessage `json:"-"`
}

// MarshalJSON sends empty fields as null, as the API's nullable strings,
// and Raw as is.
func (e AuditEvent) MarshalJSON() ([]byte, error) {
	if len(e.Raw) > 0 {
		return e.Raw, nil
	}
	m := map[string]any{}
	for k, v := range map[string]string{
		"id": e.ID, "timestamp": e.Timestamp, "event_name": e.EventName, "event_type": e.EventType,
		"resource_id": e.ResourceID, "root_resource_id": e.RootResourceID, "resource_name": e.ResourceName,
		"resource_type": e.ResourceType, "product_name": e.ProductName, "product_type": e.ProductType,
		"status": e.Status, "region": e.Region, "account_id": e.AccountID, "user_id": e.UserID, "user_name": e.UserName,
	} {
		m[k] = nil
		if v != "" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// AddAuditEvents appends events to the audit trail; safe while the fake
// serves.
func (f *Fake) AddAuditEvents(events ...AuditEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, events...)
}

// AuditEvents returns a copy of the audit trail.
func (f *Fake) AuditEvents() []AuditEvent {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]AuditEvent{}, f.audit...)
}

// auditTime reads an event's timestamp or a window bound.
func auditTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// serveAuditLogs answers GET /v1/logs: the events whose timestamp is within
// [start_at, end_at] (both required, RFC 3339), newest first, paged by page
// (from 0) and size (1 to MaxAuditPageSize), with the count of the window.
func (f *Fake) serveAuditLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, errStart := time.Parse(time.RFC3339Nano, q.Get("start_at"))
	end, errEnd := time.Parse(time.RFC3339Nano, q.Get("end_at"))
	if errStart != nil || errEnd != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "start_at and end_at are required RFC 3339 times")
		return
	}
	page, size := 0, DefaultAuditPageSize
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 0 {
			writeError(w, http.StatusBadRequest, "BadRequest", "page must be a number from 0")
			return
		}
	}
	if v := q.Get("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > MaxAuditPageSize {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("size must be between 1 and %d", MaxAuditPageSize))
			return
		}
	}
	type timed struct {
		e AuditEvent
		t time.Time // zero for raw or unparsable entries: served last
	}
	var list []timed
	var paging AuditPaging
	var filters AuditFilters
	serviceType, resourceType := q.Get("service_type"), q.Get("resource_type")
	filtered := serviceType != "" || resourceType != ""
	if f.arrive(w, r, scp.OpListAuditLogs, AuditLogsKey, func() {
		paging, filters = f.auditPaging, f.auditFilters
		for _, e := range f.audit {
			t, ok := auditTime(e.Timestamp)
			switch {
			case filtered && !filters.Ignore && !filters.Refuse &&
				(serviceType != "" && e.ServiceType != serviceType || resourceType != "" && e.ResourceType != resourceType):
			case len(e.Raw) > 0, !ok:
				list = append(list, timed{e: e})
			case !t.Before(start) && !t.After(end):
				list = append(list, timed{e: e, t: t})
			}
		}
	}) {
		return
	}
	if filtered && filters.Refuse {
		writeError(w, http.StatusBadRequest, "BadRequest", "unknown query parameter: service_type, resource_type")
		return
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].t.After(list[j].t) })
	shown := size
	if paging.PageCap > 0 && size > paging.PageCap {
		size = paging.PageCap
		if paging.SizeShown {
			shown = size
		}
	}
	logs := []AuditEvent{}
	if from := page * size; from < len(list) {
		for _, te := range list[from:min(from+size, len(list))] {
			logs = append(logs, te.e)
		}
	}
	count := len(list)
	if paging.CountPerPage {
		count = len(logs)
	}
	writeJSON(w, map[string]any{"logs": logs, "count": count, "page": page, "size": shown, "sort": []string{"timestamp:desc"}})
}

// AuditVersions are the Logging & Audit versions the fake serves: 1.0 and
// 1.1, the versions the official SDK and provider send.
var AuditVersions = []string{"1.0", "1.1"}

// DefaultAuditVersionList is what GET / lists for the Logging & Audit
// client unless SetAuditVersionList says otherwise: 1.0 with the SDK's
// not_before (2026-02-23) and 1.1 CURRENT.
var DefaultAuditVersionList = []Version{{ID: "v1.0", Status: "DEPRECATED", NotBefore: "2026-02-23"}, {ID: "v1.1", Status: "CURRENT"}}

// SetAuditVersionList sets what GET / lists for the Logging & Audit client
// (a call whose Scp-Api-Version names loggingaudit): the fake is both
// services on one host.
func (f *Fake) SetAuditVersionList(list ...Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditVersionList = append([]Version{}, list...)
}

// RetireAuditVersions makes the fake refuse /v1/logs calls of those
// Logging & Audit versions (400, UnsupportedAPIVersionCode), as a service
// does once a version's date has passed.
func (f *Fake) RetireAuditVersions(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auditRetired = append([]string{}, ids...)
}

// servesAuditVersion reports whether the Scp-Api-Version of a /v1/logs
// call is one the fake serves: none (the latest), or loggingaudit with one
// of AuditVersions not retired.
func (f *Fake) servesAuditVersion(v string) bool {
	if v == "" {
		return true
	}
	id, ok := strings.CutPrefix(v, scp.AuditService+" ")
	f.mu.RLock()
	defer f.mu.RUnlock()
	return ok && slices.Contains(AuditVersions, id) && !slices.Contains(f.auditRetired, id)
}

// TimedAuditEvent is an audit event of the fixtures. Event is added when the
// fixtures load, or After (a Go duration such as "20s") that, its Timestamp
// set to that moment when empty. When Members is set (an empty list too),
// the image named by Event.ResourceID gets those members at the same
// moment: a share made, and logged, while the demo runs.
type TimedAuditEvent struct {
	After   string     `json:"after,omitempty"`
	Event   AuditEvent `json:"event"`
	Members []Member   `json:"members,omitempty"`
}

// loadAudit checks the fixtures' audit events, then adds each at its time.
func (f *Fake) loadAudit(list []TimedAuditEvent) error {
	delays := make([]time.Duration, len(list))
	for i, te := range list {
		if te.After == "" {
			continue
		}
		d, err := time.ParseDuration(te.After)
		if err != nil || d < 0 {
			return fmt.Errorf("reading fixtures: audit_events[%d]: after %q is not a duration from 0", i, te.After)
		}
		delays[i] = d
	}
	for i, te := range list {
		apply := func() {
			if te.Event.Timestamp == "" {
				te.Event.Timestamp = f.opts.Now().UTC().Format(time.RFC3339Nano)
			}
			if te.Members != nil {
				f.SetMembers(te.Event.ResourceID, te.Members...)
			}
			f.AddAuditEvents(te.Event)
		}
		if delays[i] == 0 {
			apply()
			continue
		}
		time.AfterFunc(delays[i], apply)
	}
	return nil
}
