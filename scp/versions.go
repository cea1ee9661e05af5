package scp

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Service is the SCP service name sent in Scp-Api-Version and exposed in
// metric labels.
const Service = "virtualserver"

// VersionState is the lifecycle state the API reference gives a version.
type VersionState string

// Version states, lower-cased as they appear in metric labels.
const (
	StateCurrent    VersionState = "current"
	StateSupported  VersionState = "supported"
	StateDeprecated VersionState = "deprecated"
)

// APIVersion is one version of a service's API: the Virtual Server's
// image members API, or the Logging & Audit service's.
type APIVersion struct {
	// Service is the service name sent in Scp-Api-Version; empty is the
	// Virtual Server (Service).
	Service string
	ID      string       // "1.3"
	State   VersionState // state in the API reference
	// SupportedUntil is the last day (UTC) support is guaranteed; zero when
	// no end has been announced.
	SupportedUntil time.Time
}

// DefaultAPIVersion is the version used when the config names none.
const DefaultAPIVersion = "1.3"

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// apiVersions is the table from the API reference (shared/scp-api.md).
var apiVersions = map[string]APIVersion{
	"1.3": {ID: "1.3", State: StateCurrent},
	"1.2": {ID: "1.2", State: StateSupported, SupportedUntil: day(2026, time.August, 31)},
	"1.1": {ID: "1.1", State: StateDeprecated, SupportedUntil: day(2026, time.May, 31)},
	"1.0": {ID: "1.0", State: StateDeprecated, SupportedUntil: day(2025, time.December, 31)},
}

// KnownAPIVersions lists the version IDs this client knows, oldest first.
func KnownAPIVersions() []string {
	ids := make([]string, 0, len(apiVersions))
	for id := range apiVersions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// LookupAPIVersion returns the version with the given ID ("1.3").
func LookupAPIVersion(id string) (APIVersion, error) {
	v, ok := apiVersions[id]
	if !ok {
		return APIVersion{}, fmt.Errorf("unknown api_version %q (known: %s)", id, strings.Join(KnownAPIVersions(), ", "))
	}
	return v, nil
}

// ServiceName is the service the version belongs to.
func (v APIVersion) ServiceName() string {
	if v.Service == "" {
		return Service
	}
	return v.Service
}

// HeaderValue is the Scp-Api-Version header value, e.g. "virtualserver 1.3".
func (v APIVersion) HeaderValue() string { return v.ServiceName() + " " + v.ID }

// SupportEnd is the first instant support is no longer guaranteed: 00:00 UTC
// on the day after SupportedUntil. It is zero when no end is announced.
func (v APIVersion) SupportEnd() time.Time {
	if v.SupportedUntil.IsZero() {
		return time.Time{}
	}
	return v.SupportedUntil.AddDate(0, 0, 1)
}

// Expired reports whether guaranteed support has ended at now.
func (v APIVersion) Expired(now time.Time) bool {
	end := v.SupportEnd()
	return !end.IsZero() && !now.Before(end)
}

// APIVersionLatest is the configured version that asks for the server's
// CURRENT version (see Client.Resolve).
const APIVersionLatest = "latest"

// Version statuses in the server's version list, lower-cased.
const (
	ServerStatusCurrent    = "current"
	ServerStatusSupported  = "supported"
	ServerStatusPlanned    = "planned"
	ServerStatusDeprecated = "deprecated"
)

// ServerVersion is one entry of the service's version list.
type ServerVersion struct {
	ID        string // "1.3": the list's "v1.3" without the v
	Status    string // current, supported, planned, deprecated, or another, lower-cased
	NotBefore string // as sent, for logs
}

// Offered reports whether the server serves the version now: it is listed
// and not PLANNED.
func (v ServerVersion) Offered() bool { return v.Status != ServerStatusPlanned }

// maxServerVersions caps the version list kept.
const maxServerVersions = 32

type serverVersionJSON struct {
	ID        flexString `json:"id"`
	Status    flexString `json:"status"`
	NotBefore flexString `json:"not_before"`
}

type versionsJSON struct {
	Versions json.RawMessage `json:"versions"`
}

// ListVersions reads the versions the service offers: the unsigned GET on
// its base URL, answering
// {"versions":[{"id":"v1.0","links":[...],"not_before":"...","status":"CURRENT"}]}.
// One attempt, bounded by the request timeout. Entries whose id is not a
// version number ("v1.3" or "1.3") are skipped; statuses are lower-cased
// and cleaned for a label.
func (c *Client) ListVersions(ctx context.Context) ([]ServerVersion, error) {
	return c.listVersionsAt(ctx, OpListVersions, c.BaseURL())
}

// listVersionsAt reads the version list of the service at base (op says
// which: OpListVersions or OpListAuditVersions).
func (c *Client) listVersionsAt(ctx context.Context, op Operation, base string) ([]ServerVersion, error) {
	var body versionsJSON
	if _, err := c.budgeted(ctx, op, base+"/", false, &body); err != nil {
		return nil, err
	}
	list, err := rawList(body.Versions, "versions")
	if err != nil {
		c.opts.Metrics.decodeFailed(op)
		return nil, &DecodeError{Operation: string(op), Err: err}
	}
	out := make([]ServerVersion, 0, len(list))
	seen := map[string]bool{}
	for _, raw := range list {
		var v serverVersionJSON
		if !isObject(raw) || json.Unmarshal(raw, &v) != nil {
			continue
		}
		id := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v.ID.s), "v"), "V")
		if !validVersionID(id) || seen[id] || len(out) == maxServerVersions {
			continue
		}
		seen[id] = true
		status := cleanToken(strings.TrimSpace(v.Status.s)) // cleanToken lower-cases
		if status == "" {
			status = "unknown"
		}
		out = append(out, ServerVersion{ID: id, Status: status, NotBefore: sanitize(v.NotBefore.s, 64)})
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i].ID, out[j].ID) })
	return out, nil
}

// validVersionID reports whether s is a dotted version number such as 1.3.
func validVersionID(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := range len(part) {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// versionLess orders dotted version numbers numerically.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// VersionFor returns the version with the given ID as the server lists it:
// the table's entry when the table gives it the same state, else one with
// the server's state and no support end. The server's word on a version it
// calls CURRENT wins over the reference table (the official SDK lists 1.0
// as CURRENT, the reference as deprecated), so api_version latest never
// reports its own choice as past support.
func VersionFor(id, serverStatus string) APIVersion {
	if v, ok := apiVersions[id]; ok && string(v.State) == serverStatus {
		return v
	}
	state := VersionState(serverStatus)
	if state == "" {
		state = StateCurrent
	}
	return APIVersion{ID: id, State: state}
}
