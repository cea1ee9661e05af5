// Package scptest is a fake SCP Virtual Server API for tests and the demo,
// with IAM's endpoint catalog and the Logging & Audit service's trail.
// It verifies request signatures and timestamps like the real service, serves
// per-image fixtures, throttles like an API gateway when asked to, and
// injects faults: status codes, delays, stalls, connection resets, malformed
// and oversized bodies.
package scptest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scp-exporter/scp_exporter/scp"
)

// Member is a member fixture, in the API's JSON shape.
type Member struct {
	ImageID   string `json:"image_id"`
	MemberID  string `json:"member_id"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Fault makes the fake misbehave for one image.
type Fault struct {
	Status     int           // answer with this status (and Body, or an SCP error body)
	Body       string        // raw body to send instead of the fixture (with Status, or 200)
	RetryAfter string        // Retry-After header value
	Delay      time.Duration // wait this long before answering (cut short if the client goes away)
	BodySize   int64         // send a valid members body of at least this many bytes
	Reset      bool          // close the connection without an answer
	Truncate   bool          // promise a body, send half of it, close
	// Times is how many requests the fault applies to before it clears; 0 is forever.
	Times int
}

// Options configure a Fake.
type Options struct {
	AccessKey string
	SecretKey string
	// MaxSkew is how far Scp-Timestamp may be from the fake's clock. Default 5m.
	MaxSkew time.Duration
	// Latency is added to every answer, throttled ones included.
	Latency time.Duration
	Now     func() time.Time
	// ThrottleRate, when > 0, is how many authenticated calls a second the
	// fake serves, as an API gateway's token bucket does: a call that comes
	// when the bucket is empty is answered 429 Too Many Requests, with
	// Retry-After: 1 and an SCP error body, and is not served. The decision
	// is taken when the call arrives (before Latency); a throttled call
	// takes no token. Every call counts against the rate, whatever it asks.
	ThrottleRate float64
	// ThrottleBurst is how many calls the bucket holds: how many may come
	// at once after a quiet spell. Default DefaultThrottleBurst.
	ThrottleBurst int
	// Catalog is what GET /v1/endpoints (IAM's endpoint catalog, signed)
	// lists; nil is DefaultCatalog. An entry without a URL names the fake
	// itself, as the request reached it. In production IAM has a host of
	// its own; here one fake serves both.
	Catalog []Endpoint
	// Versions is what the unsigned GET / lists; nil is DefaultVersions.
	// A call whose Scp-Api-Version names a version not listed, or listed
	// as PLANNED, is answered 400 with an SCP error body whose code is
	// UnsupportedAPIVersionCode.
	Versions []Version
}

// Endpoint is an entry of IAM's endpoint catalog, in the API's JSON shape.
type Endpoint struct {
	Region      string `json:"region"`
	ServiceType string `json:"service_type"`
	ServiceName string `json:"service_name,omitempty"`
	URL         string `json:"url"` // empty: the fake itself
}

// Version is an entry of the service's version list, in the API's JSON shape.
type Version struct {
	ID        string `json:"id"`     // "v1.3"
	Status    string `json:"status"` // CURRENT, SUPPORTED, PLANNED, DEPRECATED
	NotBefore string `json:"not_before,omitempty"`
}

// DefaultCatalog names the fake itself as the Virtual Server service
// (service_type scp-virtualserver) of every region of shared/scp-api.md,
// then as the Logging & Audit service (AuditServiceType) of each.
func DefaultCatalog() []Endpoint {
	regions := []string{"kr-west1", "kr-east1", "kr-south1", "kr-south2", "kr-south3"}
	var list []Endpoint
	for _, r := range regions {
		list = append(list, Endpoint{Region: r, ServiceType: "scp-virtualserver", ServiceName: "Virtual Server"})
	}
	for _, r := range regions {
		list = append(list, Endpoint{Region: r, ServiceType: AuditServiceType, ServiceName: "Logging & Audit"})
	}
	return list
}

// DefaultVersions are the versions of the API reference (shared/scp-api.md),
// each non-CURRENT one with its support end as not_before, as the provider
// reads the field.
func DefaultVersions() []Version {
	return []Version{
		{ID: "v1.0", Status: "DEPRECATED", NotBefore: "2025-12-31"},
		{ID: "v1.1", Status: "DEPRECATED", NotBefore: "2026-05-31"},
		{ID: "v1.2", Status: "SUPPORTED", NotBefore: "2026-08-31"},
		{ID: "v1.3", Status: "CURRENT"},
	}
}

// UnsupportedAPIVersionCode is the error code of a call refused for its
// Scp-Api-Version; the detail names the header too.
const UnsupportedAPIVersionCode = "UnsupportedApiVersion"

// EndpointsKey and VersionsKey address SetFault and Requests to IAM's
// catalog (GET /v1/endpoints) and the version list (GET /).
const (
	EndpointsKey = "list_endpoints"
	VersionsKey  = "list_versions"
)

// DefaultThrottleBurst is the throttle's bucket when Options.ThrottleBurst
// is 0: small, but at least the exporter's default max_concurrency, so a
// client that keeps below the rate is not throttled for its first
// concurrent calls.
const DefaultThrottleBurst = 10

// RetryAfterThrottled is the Retry-After a throttled call is answered with.
const RetryAfterThrottled = "1"

// Fake is an http.Handler that acts as the SCP Virtual Server API.
type Fake struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.RWMutex
	members  map[string][]byte // image ID -> encoded members answer
	images   map[string]Image  // the image list
	pending  []Image           // images offered to this account
	faults   map[string]*Fault
	requests map[string]int // image ID -> members calls that passed authentication
	total    int
	authFail int
	// throttle is nil unless Options.ThrottleRate is set.
	throttle     *rate.Limiter
	throttled    int
	calls        map[string]int // operation -> authenticated calls, throttled ones included
	throttledOps map[string]int // operation -> throttled calls
	catalog      []Endpoint
	versions     []Version
	// versionCalls counts the unsigned GET / calls (not in total).
	versionCalls int
	// audit is the audit trail (GET /v1/logs), in the order added.
	audit        []AuditEvent
	auditPaging  AuditPaging
	auditFilters AuditFilters
	auditRetired []string
	// auditVersionList is GET / for the Logging & Audit client.
	auditVersionList []Version
}

// New returns a fake that accepts requests signed with the given keys.
func New(o Options) *Fake {
	if o.MaxSkew == 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Fake{
		opts:         o,
		mux:          http.NewServeMux(),
		members:      map[string][]byte{},
		images:       map[string]Image{},
		faults:       map[string]*Fault{},
		requests:     map[string]int{},
		calls:        map[string]int{},
		throttledOps: map[string]int{},
		catalog:      o.Catalog,
		versions:     o.Versions,
	}
	if f.catalog == nil {
		f.catalog = DefaultCatalog()
	}
	if f.versions == nil {
		f.versions = DefaultVersions()
	}
	f.auditVersionList = append([]Version{}, DefaultAuditVersionList...)
	if o.ThrottleRate > 0 {
		burst := o.ThrottleBurst
		if burst <= 0 {
			burst = DefaultThrottleBurst
		}
		f.throttle = rate.NewLimiter(rate.Limit(o.ThrottleRate), burst)
	}
	f.mux.HandleFunc("GET /v1/images/{image_id}/members", f.serveMembers)
	f.mux.HandleFunc("GET /v1/images", f.serveImages)
	f.mux.HandleFunc("GET /v1/images/{image_id}", f.serveImage)
	f.mux.HandleFunc("GET /v1/pending-images", f.servePending)
	f.mux.HandleFunc("GET /v1/endpoints", f.serveEndpoints)
	f.mux.HandleFunc("GET /v1/logs", f.serveAuditLogs)
	return f
}

// SetCatalog replaces what GET /v1/endpoints lists.
func (f *Fake) SetCatalog(list ...Endpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog = append([]Endpoint{}, list...)
}

// SetVersions replaces what GET / lists, and so which Scp-Api-Version
// values are served.
func (f *Fake) SetVersions(list ...Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions = append([]Version{}, list...)
}

// VersionListRequests returns how many unsigned GET / calls the fake
// received; they are not in TotalRequests, which counts authenticated calls.
func (f *Fake) VersionListRequests() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.versionCalls
}

// serveVersions answers the unsigned GET / with the version list.
func (f *Fake) serveVersions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.versionCalls++
	f.requests[VersionsKey]++
	list := append([]Version{}, f.versions...)
	if strings.HasPrefix(r.Header.Get(scp.HeaderAPIVersion), scp.AuditService) {
		// The fake is both services on one host: a list asked for by the
		// Logging & Audit client is that service's.
		list = append([]Version{}, f.auditVersionList...)
	}
	fault := f.takeFault(VersionsKey)
	f.mu.Unlock()
	if fault != nil && f.misbehave(w, r, fault) {
		return
	}
	type entry struct {
		Version
		Links []map[string]string `json:"links"`
	}
	out := make([]entry, len(list))
	for i, v := range list {
		out[i] = entry{Version: v, Links: []map[string]string{{"href": requestBase(r) + "/", "rel": "self"}}}
	}
	writeJSON(w, map[string]any{"versions": out})
}

// serveEndpoints answers GET /v1/endpoints, IAM's endpoint catalog.
func (f *Fake) serveEndpoints(w http.ResponseWriter, r *http.Request) {
	var list []Endpoint
	if f.arrive(w, r, scp.OpListEndpoints, EndpointsKey, func() { list = append([]Endpoint{}, f.catalog...) }) {
		return
	}
	for i := range list {
		if list[i].URL == "" {
			list[i].URL = requestBase(r)
		}
	}
	if list == nil {
		list = []Endpoint{}
	}
	writeJSON(w, map[string]any{"endpoints": list})
}

// requestBase is the fake's URL as the request reached it.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// servesVersion reports whether the Scp-Api-Version value (without the
// service name) is one the fake serves: listed and not PLANNED. No header
// means the latest CURRENT version, which is served.
func (f *Fake) servesVersion(v string) bool {
	if v == "" {
		return true
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, sv := range f.versions {
		if strings.TrimPrefix(sv.ID, "v") == v {
			return !strings.EqualFold(sv.Status, "PLANNED")
		}
	}
	return false
}

// SetMembers creates the image (or replaces its members).
func (f *Fake) SetMembers(imageID string, members ...Member) {
	for i := range members {
		if members[i].ImageID == "" {
			members[i].ImageID = imageID
		}
	}
	if members == nil {
		members = []Member{}
	}
	body, _ := json.Marshal(map[string]any{"members": members})
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[imageID] = body
}

// Image is an image in the image list, in the API's JSON shape.
type Image struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status,omitempty"`
	Visibility string `json:"visibility"`
	Owner      string `json:"owner,omitempty"`
	// OwnerAccountName is sent by the pending-images list.
	OwnerAccountName string `json:"owner_account_name,omitempty"`
	OSDistro         string `json:"os_distro,omitempty"`
	CreatedAt        string `json:"created_at,omitempty"`
	UpdatedAt        string `json:"updated_at,omitempty"`
}

// ListImagesKey is the key under which SetFault and Requests address the
// image list (GET /v1/images) rather than one image.
const ListImagesKey = "list_images"

// AddImages puts images in the image list (GET /v1/images), replacing any
// with the same ID. It does not create their members.
func (f *Fake) AddImages(images ...Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, im := range images {
		f.images[im.ID] = im
	}
}

// PendingImagesKey and ShowImagePrefix address SetFault and Requests to
// GET /v1/pending-images and GET /v1/images/{id}: "show:" + the image ID.
const (
	PendingImagesKey = "pending_images"
	ShowImagePrefix  = "show:"
)

// SetPendingImages sets what GET /v1/pending-images answers: images other
// accounts offer to this one (set Owner, and OwnerAccountName if wanted).
func (f *Fake) SetPendingImages(images ...Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = images
}

// AcceptPendingImage accepts an image offered to this account, as a user of
// the account would: in one step it leaves the pending images and shows in
// the image list (GET /v1/images?visibility=shared) as shared, its owner
// kept, so no call sees it in neither. It reports whether it was offered.
func (f *Fake) AcceptPendingImage(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, im := range f.pending {
		if im.ID != id {
			continue
		}
		f.pending = append(f.pending[:i:i], f.pending[i+1:]...)
		im.Visibility, im.OwnerAccountName = "shared", ""
		f.images[id] = im
		return true
	}
	return false
}

// DeleteImages takes images out of the image list.
func (f *Fake) DeleteImages(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		delete(f.images, id)
	}
}

// RemoveImage makes the image unknown: its members answer 404.
func (f *Fake) RemoveImage(imageID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.members, imageID)
}

// SetFault makes calls about imageID misbehave; a zero Fault clears it.
func (f *Fake) SetFault(imageID string, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fault == (Fault{}) {
		delete(f.faults, imageID)
		return
	}
	f.faults[imageID] = &fault
}

// Requests returns how many authenticated members calls imageID received,
// throttled ones included. ListImagesKey, PendingImagesKey and
// ShowImagePrefix + an image ID address the other calls.
func (f *Fake) Requests(imageID string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.requests[imageID]
}

// TotalRequests returns how many authenticated calls the fake received.
func (f *Fake) TotalRequests() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.total
}

// AuthFailures returns how many calls were refused for their signature.
func (f *Fake) AuthFailures() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.authFail
}

// Throttled returns how many authenticated calls were answered 429 because
// they came beyond Options.ThrottleRate. They count in TotalRequests too.
func (f *Fake) Throttled() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.throttled
}

// Stats are the fake's counters at one moment.
type Stats struct {
	// Total is TotalRequests: authenticated calls, throttled ones included.
	Total int `json:"total"`
	// Throttled is Throttled: calls answered 429 for the rate.
	Throttled    int `json:"throttled"`
	AuthFailures int `json:"auth_failures"`
	// Calls and ThrottledCalls split Total and Throttled by operation, named
	// as in the client's metrics: list_image_members, list_images,
	// show_image, list_pending_images, list_endpoints, list_audit_logs.
	Calls          map[string]int `json:"calls"`
	ThrottledCalls map[string]int `json:"throttled_calls"`
}

// Stats returns the fake's counters, read together.
func (f *Fake) Stats() Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return Stats{
		Total:          f.total,
		Throttled:      f.throttled,
		AuthFailures:   f.authFail,
		Calls:          maps.Clone(f.calls),
		ThrottledCalls: maps.Clone(f.throttledOps),
	}
}

// ServeHTTP authenticates the request, then routes it. The version list
// (GET /) is unsigned; a call for a version the fake does not serve is
// answered 400 after authentication (IAM's catalog takes any version; the
// audit trail wants a loggingaudit version of AuditVersions not retired, or none).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		f.serveVersions(w, r)
		return
	}
	if msg := f.authenticate(r); msg != "" {
		f.mu.Lock()
		f.authFail++
		f.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "Unauthorized", msg)
		return
	}
	if hv := r.Header.Get(scp.HeaderAPIVersion); r.URL.Path == "/v1/logs" && !f.servesAuditVersion(hv) ||
		r.URL.Path != "/v1/endpoints" && r.URL.Path != "/v1/logs" && !f.servesVersion(strings.TrimPrefix(hv, scp.Service+" ")) {
		writeError(w, http.StatusBadRequest, UnsupportedAPIVersionCode, "unsupported Scp-Api-Version: "+hv)
		return
	}
	if f.throttle != nil && !f.throttle.AllowN(f.opts.Now(), 1) {
		r = r.WithContext(context.WithValue(r.Context(), throttledKey{}, true))
	}
	if f.opts.Latency > 0 {
		select {
		case <-time.After(f.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	f.mux.ServeHTTP(w, r)
}

// authenticate checks the headers and signature; it returns why it refuses.
func (f *Fake) authenticate(r *http.Request) string {
	h := r.Header
	if h.Get(scp.HeaderAccessKey) != f.opts.AccessKey {
		return "unknown access key"
	}
	if h.Get(scp.HeaderClientType) != scp.ClientType {
		return "Scp-ClientType must be " + scp.ClientType
	}
	ms, err := strconv.ParseInt(h.Get(scp.HeaderTimestamp), 10, 64)
	if err != nil {
		return "Scp-Timestamp is not Unix milliseconds"
	}
	if skew := f.opts.Now().Sub(time.UnixMilli(ms)); skew > f.opts.MaxSkew || skew < -f.opts.MaxSkew {
		return "Scp-Timestamp is too far from the server clock"
	}
	want := scp.Sign(scp.SigningInput{
		Method:     r.Method,
		URL:        requestBase(r) + r.RequestURI,
		Timestamp:  h.Get(scp.HeaderTimestamp),
		AccessKey:  h.Get(scp.HeaderAccessKey),
		AccountID:  h.Get(scp.HeaderAccountID),
		ClientType: h.Get(scp.HeaderClientType),
	}, []byte(f.opts.SecretKey))
	if !hmac.Equal([]byte(want), []byte(h.Get(scp.HeaderSignature))) {
		return "signature mismatch"
	}
	return ""
}

func (f *Fake) serveMembers(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("image_id")
	var body []byte
	var ok bool
	if f.arrive(w, r, scp.OpListImageMembers, id, func() { body, ok = f.members[id] }) {
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "image "+id+" not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// serveImages answers GET /v1/images: sorted by ID, filtered by visibility,
// paged by limit (1 to 1000) and marker (the last ID of the previous page).
func (f *Fake) serveImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if q.Get("limit") == "" {
		limit, err = 1000, nil
	}
	if err != nil || limit < 1 || limit > 1000 {
		writeError(w, http.StatusBadRequest, "BadRequest", "limit must be between 1 and 1000")
		return
	}
	list := []Image{} // an empty list, not null
	if f.arrive(w, r, scp.OpListImages, ListImagesKey, func() {
		for _, im := range f.images {
			if v := q.Get("visibility"); v == "" || im.Visibility == v {
				list = append(list, im)
			}
		}
	}) {
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	if marker := q.Get("marker"); marker != "" {
		i := sort.Search(len(list), func(i int) bool { return list[i].ID > marker })
		list = list[i:]
	}
	if len(list) > limit {
		list = list[:limit]
	}
	writeJSON(w, map[string]any{"images": list})
}

// serveImage answers GET /v1/images/{image_id} from the image list.
func (f *Fake) serveImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("image_id")
	var im Image
	var ok bool
	if f.arrive(w, r, scp.OpShowImage, ShowImagePrefix+id, func() { im, ok = f.images[id] }) {
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "image "+id+" not found")
		return
	}
	writeJSON(w, im)
}

// servePending answers GET /v1/pending-images.
func (f *Fake) servePending(w http.ResponseWriter, r *http.Request) {
	var list []Image
	if f.arrive(w, r, scp.OpListPendingImages, PendingImagesKey, func() { list = append([]Image{}, f.pending...) }) {
		return
	}
	writeJSON(w, map[string]any{"images": list})
}

// throttledKey marks, in a request's context, a call that came beyond the
// throttle's rate.
type throttledKey struct{}

// arrive counts an authenticated call of op under key; a throttled call is
// then answered 429. Otherwise it runs read under the lock, then acts out
// any fault set for key. It reports whether the call has been answered.
func (f *Fake) arrive(w http.ResponseWriter, r *http.Request, op scp.Operation, key string, read func()) bool {
	throttled, _ := r.Context().Value(throttledKey{}).(bool)
	f.mu.Lock()
	f.total++
	f.requests[key]++
	f.calls[string(op)]++
	if throttled {
		f.throttled++
		f.throttledOps[string(op)]++
		f.mu.Unlock()
		w.Header().Set("Retry-After", RetryAfterThrottled)
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "request rate limit exceeded; retry later")
		return true
	}
	read()
	fault := f.takeFault(key)
	f.mu.Unlock()
	return fault != nil && f.misbehave(w, r, fault)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// takeFault returns the fault for id and counts its use. f.mu must be held.
func (f *Fake) takeFault(id string) *Fault {
	fault, ok := f.faults[id]
	if !ok {
		return nil
	}
	if fault.Times > 0 {
		fault.Times--
		if fault.Times == 0 {
			delete(f.faults, id)
		}
	}
	c := *fault
	return &c
}

// misbehave acts out a fault; it reports whether it answered.
func (f *Fake) misbehave(w http.ResponseWriter, r *http.Request, fault *Fault) bool {
	if fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case fault.Reset:
		hijackClose(w, nil)
		return true
	case fault.Truncate:
		hijackClose(w, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"members\":[{\"member_id\":"))
		return true
	case fault.BodySize > 0:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"members":[`)
		// Whole members only, so the body stays valid JSON at any size.
		const member = `{"member_id":"a","status":"pending"},`
		io.CopyN(w, repeatReader(member), fault.BodySize/int64(len(member))*int64(len(member)))
		io.WriteString(w, `{"member_id":"a","status":"pending"}]}`)
		return true
	}
	if fault.RetryAfter != "" {
		w.Header().Set("Retry-After", fault.RetryAfter)
	}
	status := fault.Status
	if status == 0 {
		status = http.StatusOK
	}
	if fault.Body != "" {
		w.WriteHeader(status)
		io.WriteString(w, fault.Body)
		return true
	}
	if status != http.StatusOK {
		writeError(w, status, http.StatusText(status), "injected fault")
		return true
	}
	return false
}

func hijackClose(w http.ResponseWriter, prefix []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("scptest: response writer cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if len(prefix) > 0 {
		buf.Write(prefix)
		buf.Flush()
	}
	conn.Close()
}

type repeating struct {
	s   string
	off int
}

func repeatReader(s string) io.Reader { return &repeating{s: s} }

func (r *repeating) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

// writeError answers in the error shape the service is seen to use.
func writeError(w http.ResponseWriter, status int, code, detail string) {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(map[string]any{"errors": []map[string]any{{
		"status": status, "code": code, "detail": detail,
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// Fixtures is the on-disk form of a fake's data, used by the demo.
type Fixtures struct {
	// Images maps image IDs to their members.
	Images map[string][]Member `json:"images"`
	// ImageList is what GET /v1/images lists (and GET /v1/images/{id} shows).
	ImageList []Image `json:"image_list"`
	// PendingImages are offered to this account by others.
	PendingImages []Image `json:"pending_images"`
	// AuditEvents are the audit trail, each added at its time.
	AuditEvents []TimedAuditEvent `json:"audit_events"`
}

// Load adds the fixtures read from r.
func (f *Fake) Load(r io.Reader) error {
	var fx Fixtures
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fx); err != nil {
		return fmt.Errorf("reading fixtures: %w", err)
	}
	for id, members := range fx.Images {
		f.SetMembers(id, members...)
	}
	f.AddImages(fx.ImageList...)
	f.SetPendingImages(fx.PendingImages...)
	return f.loadAudit(fx.AuditEvents)
}
