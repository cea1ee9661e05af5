package scp

import (
	"fmt"
	"sort"
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

// APIVersion is one version of the Virtual Server image members API.
type APIVersion struct {
	ID    string       // "1.3"
	State VersionState // state in the API reference
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

// HeaderValue is the Scp-Api-Version header value, e.g. "virtualserver 1.3".
func (v APIVersion) HeaderValue() string { return Service + " " + v.ID }

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
