package scp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// The Logging & Audit service (shared/scp-api.md, "The audit trail"): a
// service of its own, signed like every call, whose URL comes from IAM's
// endpoint catalog or an explicit override (Options.AuditEndpoint).
const (
	// AuditService is the service name sent in Scp-Api-Version, and what a
	// catalog entry's service type or name must contain (ignoring case and
	// anything but letters and digits) to name the service.
	AuditService = "loggingaudit"
	// DefaultAuditAPIVersion is the Logging & Audit version requested when
	// the service's version list names none the client reads: the one the
	// official Terraform provider sends.
	DefaultAuditAPIVersion = "1.1"
	// AuditPageSize is the page size of GET /v1/logs. No maximum is
	// documented; 100 is modest enough for any server to accept.
	AuditPageSize = 100
	// MaxAuditPages bounds the pages read for one window, so a server that
	// ignores page cannot keep the client paging: a window with more is
	// read again as two halves (down to one second).
	MaxAuditPages = 100
	// maxAuditIDLen: a longer event ID is not an ID; the entry is skipped.
	maxAuditIDLen = 256
)

// auditVersions are the Logging & Audit versions this client reads (their
// answers are the same {logs, count, page, size, sort}): 1.0, whose support
// the SDK's spec ends on 2026-02-23 (its not_before), and 1.1, which the
// provider sends.
var auditVersions = map[string]APIVersion{
	"1.0": {Service: AuditService, ID: "1.0", State: StateDeprecated, SupportedUntil: day(2026, time.February, 23)},
	"1.1": {Service: AuditService, ID: "1.1", State: StateCurrent},
}

// LookupAuditAPIVersion returns the Logging & Audit version with the given
// ID ("1.1").
func LookupAuditAPIVersion(id string) (APIVersion, error) {
	v, ok := auditVersions[id]
	if !ok {
		return APIVersion{}, fmt.Errorf("unknown audit api_version %q (known: 1.0, 1.1, latest)", id)
	}
	return v, nil
}

// Kinds of anomaly that only audit answers have; AuditAnomalies lists those
// the list_audit_logs operation can report.
const (
	AnomalyMissingID        = "missing_id"        // an event without a usable id: skipped
	AnomalyMissingTimestamp = "missing_timestamp" // an event without a timestamp: skipped
)

// AuditAnomalies are the anomaly kinds of list_audit_logs. Of these, every
// kind but AnomalyFieldType skips the entry; AnomalyBadTimestamp is a
// timestamp that does not parse.
var AuditAnomalies = []string{AnomalyNotAnObject, AnomalyFieldType, AnomalyMissingID, AnomalyMissingTimestamp, AnomalyBadTimestamp}

var (
	// ErrNoAuditEndpoint is wrapped when the client knows no Logging & Audit
	// URL: no override, and no IAM catalog to ask (Resolve has not run).
	ErrNoAuditEndpoint = errors.New("no Logging & Audit endpoint")
	// ErrNoAuditCatalogEntry is wrapped when IAM's catalog has no usable
	// Logging & Audit entry.
	ErrNoAuditCatalogEntry = errors.New("no Logging & Audit entry in the endpoint catalog")
	// ErrAuditTooManyEvents is wrapped when one second of the trail holds
	// more than MaxAuditPages pages of events: too many to read.
	ErrAuditTooManyEvents = errors.New("too many audit events in the window")
	// ErrAuditFilterRefused is wrapped when the service refuses a filtered
	// GET /v1/logs with a client error (400, 422, …) that is not about the
	// version: it does not take the filter, or not that value.
	ErrAuditFilterRefused = errors.New("the Logging & Audit service refuses the filter")
)

// AuditFilter narrows GET /v1/logs with the service's own query filters
// (shared/scp-api.md lists service_type and resource_type among them).
// Their values are not documented: a value the service does not use may
// match nothing, so callers verify a filter against an unfiltered read
// before trusting it. The zero value filters nothing.
type AuditFilter struct {
	ServiceType  string
	ResourceType string
}

// IsZero reports whether f filters nothing.
func (f AuditFilter) IsZero() bool { return f.ServiceType == "" && f.ResourceType == "" }

// String is the filter as query parameters ("service_type=scp-virtualserver").
func (f AuditFilter) String() string { return f.query().Encode() }

func (f AuditFilter) query() url.Values {
	q := url.Values{}
	if f.ServiceType != "" {
		q.Set("service_type", f.ServiceType)
	}
	if f.ResourceType != "" {
		q.Set("resource_type", f.ResourceType)
	}
	return q
}

// AuditEvent is one entry of the audit trail. Every field but ID and
// Timestamp may be empty: the API declares them all nullable strings.
// Text fields are cut to a safe length and hold printable characters only.
type AuditEvent struct {
	ID string
	// Timestamp is when the event happened, in UTC; a zone-less time is
	// read as UTC, as the SDK does.
	Timestamp time.Time
	EventName string
	EventType string
	// ResourceID names what the event is about (an image ID for image
	// events); RootResourceID the resource it belongs to, when the API
	// sends it.
	ResourceID     string
	RootResourceID string
	ResourceName   string
	ResourceType   string
	ProductName    string
	ProductType    string
	Status         string
	Region         string
	AccountID      string
	UserID         string
	UserName       string
}

// AuditEvents is what ListAuditEvents read of one window.
type AuditEvents struct {
	// Events are the usable entries, in the order the API sent them.
	Events []AuditEvent
	// Skipped counts the entries left out, by anomaly kind (see
	// AuditAnomalies); they are also counted in the anomaly metric.
	Skipped map[string]int
	// Pages is how many pages were read; Splits how many times a window
	// with more than MaxAuditPages pages was read again as two halves.
	Pages, Splits int
}

// auditState is where the Logging & Audit URL comes from when
// Options.AuditEndpoint is empty: IAM's catalog, as Resolve last named it.
type auditState struct {
	mu     sync.Mutex
	iam    string // IAM's base URL, from Resolve
	region string
	url    string // from the catalog; empty until read
	// read: a catalog for this IAM and region has been read; with url
	// empty, it named no Logging & Audit service, and the audit calls do
	// not ask IAM again until Resolve reads the catalog anew.
	read    bool
	pickErr error // why that catalog named none

	// The version the audit calls request, chosen from the service's
	// version list (see chooseAuditVersion); chosen is false until then,
	// and reread set when the service refused it.
	chosen       bool
	reread       bool
	version      APIVersion
	offered      bool
	versions     []ServerVersion
	versionsRead bool
	base         string // the URL whose list was read

	// pause is the service's own Retry-After: it stops the audit calls
	// only (see Client.budgeted).
	pause pause
}

// remember notes the IAM endpoint and region Resolve was given; a change
// forgets a URL learnt from another catalog.
func (a *auditState) remember(rc ResolveConfig) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.iam != rc.IAMEndpoint || a.region != rc.Region {
		a.iam, a.region, a.url, a.read, a.pickErr = rc.IAMEndpoint, rc.Region, "", false, nil
	}
}

// fromCatalog keeps what a catalog read for region says of the Logging &
// Audit URL, so the audit calls need not ask IAM again: the URL, or why it
// names none.
func (a *auditState) fromCatalog(catalog []Endpoint, region string) (string, error) {
	u, err := PickAuditEndpoint(catalog, region)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.region == region {
		a.url, a.read, a.pickErr = u, true, err
	}
	return u, err
}

// AuditEndpoint returns the Logging & Audit URL the audit calls go to and
// where it came from (SourceOverride or SourceCatalog); ok is false while
// none is known: no override, and the catalog not read yet.
func (c *Client) AuditEndpoint() (u string, source EndpointSource, ok bool) {
	if c.opts.AuditEndpoint != "" {
		return strings.TrimRight(c.opts.AuditEndpoint, "/"), SourceOverride, true
	}
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	return c.audit.url, SourceCatalog, c.audit.url != ""
}

// auditBase is the Logging & Audit URL: the override, else the one IAM's
// catalog named, reading the catalog (one attempt, under the budget) when
// it has not been read yet. A catalog that named no such service is not
// asked again until Resolve reads it anew (KeepResolving's schedule).
func (c *Client) auditBase(ctx context.Context) (string, error) {
	if u, _, ok := c.AuditEndpoint(); ok {
		return u, nil
	}
	c.audit.mu.Lock()
	iam, region, read, pickErr := c.audit.iam, c.audit.region, c.audit.read, c.audit.pickErr
	c.audit.mu.Unlock()
	if read && pickErr != nil {
		return "", fmt.Errorf("%s: %w", OpListAuditLogs, pickErr)
	}
	if iam == "" {
		return "", fmt.Errorf("%s: %w: set the audit endpoint, or resolve the client from IAM's catalog first", OpListAuditLogs, ErrNoAuditEndpoint)
	}
	catalog, err := c.ListEndpoints(ctx, iam)
	if err != nil {
		return "", fmt.Errorf("%s: reading IAM's endpoint catalog: %w", OpListAuditLogs, err)
	}
	u, err := c.audit.fromCatalog(catalog, region)
	if err != nil {
		return "", fmt.Errorf("%s: %w", OpListAuditLogs, err)
	}
	return u, nil
}

// isAuditService reports whether a catalog entry names the Logging & Audit
// service: its service type or name contains "loggingaudit" once lower-cased
// and stripped of everything but letters and digits ("scp-loggingaudit",
// "Logging & Audit", "logging-audit"). The SDK documents no service type.
func isAuditService(e Endpoint) bool {
	squash := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return strings.Contains(squash(e.ServiceType), AuditService) || strings.Contains(squash(e.ServiceName), AuditService)
}

// PickAuditEndpoint returns the Logging & Audit URL from a catalog, without
// a trailing slash: the entry naming the service (see AuditService) for
// region (case-insensitive); else one without a region or with region
// "global"; else, when every entry naming the service has the same URL,
// that URL (a global service listed under one region). Whether the service
// is regional is not documented; these preferences are assumptions. Entries
// whose URL is not a valid endpoint are passed over.
func PickAuditEndpoint(catalog []Endpoint, region string) (string, error) {
	var regional, global, all []string
	var invalid error
	for _, e := range catalog {
		if !isAuditService(e) {
			continue
		}
		u := strings.TrimRight(strings.TrimSpace(e.URL), "/")
		if err := ValidateEndpoint(u); err != nil {
			invalid = fmt.Errorf("%w: the %s entry for %q: %w", ErrNoAuditCatalogEntry, sanitize(e.ServiceType, 64), sanitize(e.Region, 64), err)
			continue
		}
		switch r := strings.TrimSpace(e.Region); {
		case strings.EqualFold(r, region):
			regional = append(regional, u)
		case r == "", strings.EqualFold(r, "global"):
			global = append(global, u)
		}
		all = append(all, u)
	}
	switch {
	case len(regional) > 0:
		return regional[0], nil
	case len(global) > 0:
		return global[0], nil
	case len(all) > 0 && allSame(all):
		return all[0], nil
	case len(all) > 0:
		return "", fmt.Errorf("%w for region %s: it lists the service for other regions only, at different URLs", ErrNoAuditCatalogEntry, sanitize(region, 64))
	case invalid != nil:
		return "", invalid
	}
	return "", fmt.Errorf("%w (region %s; %d entries)", ErrNoAuditCatalogEntry, sanitize(region, 64), len(catalog))
}

func allSame(list []string) bool {
	for _, s := range list[1:] {
		if s != list[0] {
			return false
		}
	}
	return true
}

// auditTime formats a window bound as start_at and end_at want it: RFC 3339
// in UTC, to the second.
func auditTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ListAuditEvents lists the audit events of [start, end] (GET /v1/logs with
// start_at and end_at). start is rounded down and end up to the second, so
// no event of the window is left out. Paging (page from 0, AuditPageSize a
// page) ends at an empty page, or a page shorter than the page size the
// server uses (the answer's size when it is smaller than asked: a server
// may cap it); the answer's count is only a hint that more pages follow
// (whether it is the window's total or the page's own is not documented).
// A window of more than MaxAuditPages pages is read again as two halves
// sharing their middle second, down to windows of one second; one with
// that many wraps ErrAuditTooManyEvents. Each page is one call under the client's budget
// and retries, signed, with the Scp-Api-Version chosen from the service's list. An entry
// that is not an object, or has no id or no readable timestamp, is
// skipped, counted and logged at debug level; the others are kept. A page
// that repeats the one before it (a server that ignores page) is a
// *DecodeError. Events of two halves that share their boundary second may
// come twice: callers de-duplicate by ID. A non-zero filter is sent with
// every page; a client error answering it that is not a version refusal
// wraps ErrAuditFilterRefused.
func (c *Client) ListAuditEvents(ctx context.Context, start, end time.Time, filter AuditFilter) (AuditEvents, error) {
	start, end = start.Truncate(time.Second), end.Add(time.Second-1).Truncate(time.Second)
	if end.Before(start) {
		return AuditEvents{}, fmt.Errorf("%s: the window ends (%s) before it starts (%s)", OpListAuditLogs, auditTime(end), auditTime(start))
	}
	base, err := c.auditBase(ctx)
	if err != nil {
		return AuditEvents{}, err
	}
	c.chooseAuditVersion(ctx, base)
	out := AuditEvents{Skipped: map[string]int{}}
	if err := c.listAuditWindow(ctx, base, filter, start, end, &out); err != nil {
		if !filter.IsZero() && ReasonOf(err) == ReasonClientError {
			return AuditEvents{}, fmt.Errorf("%w (%s): %w", ErrAuditFilterRefused, sanitize(filter.String(), 200), err)
		}
		if ReasonOf(err) == ReasonUnsupportedVersion {
			// The service refuses the version: read its list again before
			// the next call (it may have retired one since).
			c.audit.mu.Lock()
			c.audit.reread = true
			c.audit.mu.Unlock()
		}
		return AuditEvents{}, err
	}
	return out, nil
}

// chooseAuditVersion picks, unless one is chosen for base already, the
// Logging & Audit version the audit calls request: the configured one
// (Options.AuditAPIVersion), or with "latest" the newest the service lists
// as CURRENT among those this client reads, else the newest it offers of
// those, else DefaultAuditAPIVersion. Support ends come from the list's
// not_before for a version it does not call CURRENT (the provider reads it
// so), the table otherwise. The list is the unsigned GET on base.
func (c *Client) chooseAuditVersion(ctx context.Context, base string) {
	c.audit.mu.Lock()
	done := c.audit.chosen && !c.audit.reread && c.audit.base == base
	c.audit.mu.Unlock()
	if done {
		return
	}
	list, err := c.listVersionsAt(ctx, OpListAuditVersions, base)
	read := err == nil
	requested := cmp.Or(c.opts.AuditAPIVersion, APIVersionLatest)
	var pick *ServerVersion
	if requested == APIVersionLatest {
		for i := range list {
			if _, known := auditVersions[list[i].ID]; known && list[i].Offered() &&
				(pick == nil || list[i].Status == ServerStatusCurrent || pick.Status != ServerStatusCurrent) {
				pick = &list[i] // the list is sorted: the newest wins, a CURRENT one over any other
			}
		}
	}
	id := DefaultAuditAPIVersion
	switch {
	case requested != APIVersionLatest:
		id = requested
	case pick != nil:
		id = pick.ID
	}
	v, lookupErr := LookupAuditAPIVersion(id)
	if lookupErr != nil {
		v, _ = LookupAuditAPIVersion(DefaultAuditAPIVersion) // config validates the ID
	}
	for _, sv := range list {
		if sv.ID == v.ID {
			v = serverVersion(v, sv)
		}
	}
	if !read {
		level.Debug(c.opts.Logger).Log("msg", "cannot read the Logging & Audit version list; requesting the configured or default version", "version", v.ID, "err", err)
	}
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	c.audit.chosen, c.audit.reread, c.audit.version, c.audit.base = true, false, v, base
	c.audit.versions, c.audit.versionsRead, c.audit.offered = list, read, offered(list, v.ID)
}

// serverVersion is v as the service lists it: its status there, and for a
// version the service does not call CURRENT, support ending on the list's
// not_before when it is a date.
func serverVersion(v APIVersion, sv ServerVersion) APIVersion {
	if sv.Status == ServerStatusCurrent {
		v.State, v.SupportedUntil = StateCurrent, time.Time{}
		return v
	}
	if sv.Status != "" && sv.Status != "unknown" {
		v.State = VersionState(sv.Status)
	}
	if d, ok := notBeforeDate(sv.NotBefore); ok {
		v.SupportedUntil = d
	}
	return v
}

// notBeforeDate reads a version list's not_before: a date (YYYY-MM-DD) or
// an RFC 3339 time, as the day it names.
func notBeforeDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(24 * time.Hour), true
	}
	return time.Time{}, false
}

// auditHeader is the Scp-Api-Version of the audit calls.
func (c *Client) auditHeader() string {
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	if !c.audit.chosen {
		v, _ := LookupAuditAPIVersion(DefaultAuditAPIVersion)
		return v.HeaderValue()
	}
	return c.audit.version.HeaderValue()
}

// AuditStatus is what a scrape shows of the Logging & Audit service: where
// the audit calls go and which version they request; ok is false before
// the first audit call chose one.
func (c *Client) AuditStatus() (ServiceStatus, bool) {
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	if !c.audit.chosen {
		return ServiceStatus{}, false
	}
	source := SourceCatalog
	if c.opts.AuditEndpoint != "" {
		source = SourceOverride
	}
	return ServiceStatus{
		Info: ServiceInfo{URL: c.audit.base, Source: source, Requested: cmp.Or(c.opts.AuditAPIVersion, APIVersionLatest),
			APIVersion: c.audit.version, VersionsRead: c.audit.versionsRead, Versions: c.audit.versions, Offered: c.audit.offered},
		Resolved: true,
		Client:   c.audit.version,
	}, true
}

// listAuditWindow reads [start, end] into out, splitting it in two when it
// holds more than MaxAuditPages pages.
func (c *Client) listAuditWindow(ctx context.Context, base string, filter AuditFilter, start, end time.Time, out *AuditEvents) error {
	got := AuditEvents{Skipped: map[string]int{}}
	err := c.listAuditPages(ctx, base, filter, start, end, &got)
	if errors.Is(err, ErrAuditTooManyEvents) && end.Sub(start) >= 2*time.Second {
		// Bounds are whole seconds and inclusive: the halves share the
		// second at mid (its events may come twice), and each is shorter.
		out.Pages += got.Pages
		out.Splits++
		mid := start.Add((end.Sub(start) / 2).Truncate(time.Second))
		if err := c.listAuditWindow(ctx, base, filter, start, mid, out); err != nil {
			return err
		}
		return c.listAuditWindow(ctx, base, filter, mid, end, out)
	}
	if err != nil {
		return err
	}
	out.Events = append(out.Events, got.Events...)
	out.Pages += got.Pages
	for k, n := range got.Skipped {
		out.Skipped[k] += n
	}
	return nil
}

// listAuditPages reads the pages of [start, end] into out.
func (c *Client) listAuditPages(ctx context.Context, base string, filter AuditFilter, start, end time.Time, out *AuditEvents) error {
	report := c.anomalies(OpListAuditLogs, "start_at", auditTime(start), "end_at", auditTime(end))
	read := 0
	var prev uint64
	for page := 0; ; page++ {
		if page == MaxAuditPages {
			return fmt.Errorf("%s: %w: more than %d pages of %d between %s and %s",
				OpListAuditLogs, ErrAuditTooManyEvents, MaxAuditPages, AuditPageSize, auditTime(start), auditTime(end))
		}
		q := filter.query()
		q.Set("start_at", auditTime(start))
		q.Set("end_at", auditTime(end))
		q.Set("page", strconv.Itoa(page))
		q.Set("size", strconv.Itoa(AuditPageSize))
		var body auditLogsJSON
		if err := c.getURL(ctx, OpListAuditLogs, base+"/v1/logs?"+q.Encode(), true, &body); err != nil {
			return err
		}
		out.Pages++
		list, err := rawList(body.Logs, "logs")
		if err != nil {
			c.opts.Metrics.decodeFailed(OpListAuditLogs)
			return &DecodeError{Operation: string(OpListAuditLogs), Err: err}
		}
		sum := pageSum(list)
		if page > 0 && len(list) > 0 && sum == prev {
			c.opts.Metrics.decodeFailed(OpListAuditLogs)
			return &DecodeError{Operation: string(OpListAuditLogs), Err: fmt.Errorf("page %d repeats page %d: the server seems to ignore page", page, page-1)}
		}
		prev = sum
		for i, raw := range list {
			ev, kind, ok := decodeAuditEvent(raw, read+i, report)
			if !ok {
				out.Skipped[kind]++
				continue
			}
			out.Events = append(out.Events, ev)
		}
		read += len(list)
		// The page size the server uses: ours, or the smaller one its
		// answer names. A page as long as that may have a next one; a
		// shorter one is the last unless count (a hint: the window's total,
		// or only the page's) says more follow. An empty page is the last.
		size := AuditPageSize
		if n, err := strconv.Atoi(body.Size.s); err == nil && n > 0 && n < size {
			size = n
		}
		count, _ := strconv.Atoi(body.Count.s)
		if len(list) == 0 || (len(list) < size && count <= read) {
			return nil
		}
	}
}

// pageSum identifies a page's entries, to tell a page that repeats.
func pageSum(list []json.RawMessage) uint64 {
	h := fnv.New64a()
	for _, raw := range list {
		h.Write(raw)
		h.Write([]byte{0})
	}
	return h.Sum64()
}

type auditLogsJSON struct {
	Logs  json.RawMessage `json:"logs"`
	Count flexString      `json:"count"`
	Size  flexString      `json:"size"`
}

type auditEventJSON struct {
	ID             flexString `json:"id"`
	Timestamp      flexString `json:"timestamp"`
	EventName      flexString `json:"event_name"`
	EventType      flexString `json:"event_type"`
	ResourceID     flexString `json:"resource_id"`
	RootResourceID flexString `json:"root_resource_id"`
	ResourceName   flexString `json:"resource_name"`
	ResourceType   flexString `json:"resource_type"`
	ProductName    flexString `json:"product_name"`
	ProductType    flexString `json:"product_type"`
	Status         flexString `json:"status"`
	Region         flexString `json:"region"`
	AccountID      flexString `json:"account_id"`
	UserID         flexString `json:"user_id"`
	UserName       flexString `json:"user_name"`
}

// decodeAuditEvent reads one entry of a logs answer (the i-th of the
// window); when it cannot be used it returns the anomaly kind, reported.
func decodeAuditEvent(raw json.RawMessage, i int, report anomalyFunc) (AuditEvent, string, bool) {
	var e auditEventJSON
	if !isObject(raw) || json.Unmarshal(raw, &e) != nil {
		report(AnomalyNotAnObject, fmt.Sprintf("log %d is not an object", i))
		return AuditEvent{}, AnomalyNotAnObject, false
	}
	fields := []flexString{e.ID, e.Timestamp, e.EventName, e.EventType, e.ResourceID, e.RootResourceID, e.ResourceName,
		e.ResourceType, e.ProductName, e.ProductType, e.Status, e.Region, e.AccountID, e.UserID, e.UserName}
	for _, f := range fields {
		if f.odd {
			report(AnomalyFieldType, fmt.Sprintf("log %d has a field that is not a string", i))
			break
		}
	}
	id := strings.TrimSpace(e.ID.s)
	if id == "" || len(id) > maxAuditIDLen || sanitize(id, maxAuditIDLen) != id {
		report(AnomalyMissingID, fmt.Sprintf("log %d has no usable id (%q)", i, sanitize(id, 80)))
		return AuditEvent{}, AnomalyMissingID, false
	}
	ts := strings.TrimSpace(e.Timestamp.s)
	if ts == "" {
		report(AnomalyMissingTimestamp, "log "+id+" has no timestamp")
		return AuditEvent{}, AnomalyMissingTimestamp, false
	}
	t, ok := parseTime(ts)
	if !ok {
		report(AnomalyBadTimestamp, fmt.Sprintf("log %s: timestamp %q is not a time", id, sanitize(ts, 40)))
		return AuditEvent{}, AnomalyBadTimestamp, false
	}
	text := func(f flexString, n int) string { return sanitize(strings.TrimSpace(f.s), n) }
	return AuditEvent{
		ID:             id,
		Timestamp:      t,
		EventName:      text(e.EventName, 128),
		EventType:      text(e.EventType, 64),
		ResourceID:     text(e.ResourceID, 256),
		RootResourceID: text(e.RootResourceID, 256),
		ResourceName:   text(e.ResourceName, 256),
		ResourceType:   text(e.ResourceType, 64),
		ProductName:    text(e.ProductName, 64),
		ProductType:    text(e.ProductType, 64),
		Status:         text(e.Status, 64),
		Region:         text(e.Region, 64),
		AccountID:      text(e.AccountID, 128),
		UserID:         text(e.UserID, 128),
		UserName:       text(e.UserName, 128),
	}, "", true
}
