package scp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

func TestAPIVersions(t *testing.T) {
	tests := []struct {
		id        string
		state     scp.VersionState
		header    string
		supportTo string // SupportEnd, RFC 3339; "" when none
	}{
		{"1.3", scp.StateCurrent, "virtualserver 1.3", ""},
		{"1.2", scp.StateSupported, "virtualserver 1.2", "2026-09-01T00:00:00Z"},
		{"1.1", scp.StateDeprecated, "virtualserver 1.1", "2026-06-01T00:00:00Z"},
		{"1.0", scp.StateDeprecated, "virtualserver 1.0", "2026-01-01T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			v, err := scp.LookupAPIVersion(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if v.ID != tc.id || v.State != tc.state {
				t.Errorf("got %+v", v)
			}
			if got := v.HeaderValue(); got != tc.header {
				t.Errorf("HeaderValue = %q, want %q", got, tc.header)
			}
			end := v.SupportEnd()
			if tc.supportTo == "" {
				if !end.IsZero() || !v.SupportedUntil.IsZero() {
					t.Errorf("SupportEnd = %v, want none", end)
				}
				for _, now := range []time.Time{time.Now(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
					if v.Expired(now) {
						t.Errorf("Expired(%v) = true for a version without an end", now)
					}
				}
				return
			}
			want, _ := time.Parse(time.RFC3339, tc.supportTo)
			if !end.Equal(want) || end.Location() != time.UTC {
				t.Errorf("SupportEnd = %v, want %v", end, want)
			}
			// The last guaranteed day is the day before the end, in UTC.
			if got := v.SupportedUntil.AddDate(0, 0, 1); !got.Equal(end) {
				t.Errorf("SupportedUntil %v is not the day before %v", v.SupportedUntil, end)
			}
			kst := time.FixedZone("KST", 9*3600)
			boundary := []struct {
				now  time.Time
				want bool
			}{
				{end.Add(-24 * time.Hour), false},
				{end.Add(-time.Nanosecond), false},
				{end, true},
				{end.Add(time.Nanosecond), true},
				{end.AddDate(1, 0, 0), true},
				// 08:59 in Seoul on the end day is still the day before in UTC.
				{end.Add(-time.Minute).In(kst), false},
				{end.In(kst), true},
			}
			for _, b := range boundary {
				if got := v.Expired(b.now); got != b.want {
					t.Errorf("Expired(%v) = %v, want %v", b.now, got, b.want)
				}
			}
		})
	}
}

func TestLookupUnknownAPIVersion(t *testing.T) {
	for _, id := range []string{"", "1.4", "v1.3", "1.3 ", "virtualserver 1.3", "2.0"} {
		_, err := scp.LookupAPIVersion(id)
		if err == nil {
			t.Errorf("LookupAPIVersion(%q) succeeded", id)
			continue
		}
		if !strings.Contains(err.Error(), "unknown api_version") || !strings.Contains(err.Error(), "known: 1.0, 1.1, 1.2, 1.3") {
			t.Errorf("LookupAPIVersion(%q) error %q does not list the known versions", id, err)
		}
	}
	if got := strings.Join(scp.KnownAPIVersions(), ","); got != "1.0,1.1,1.2,1.3" {
		t.Errorf("KnownAPIVersions = %s", got)
	}
	if _, err := scp.LookupAPIVersion(scp.DefaultAPIVersion); err != nil || scp.DefaultAPIVersion != "1.3" {
		t.Errorf("default version %q: %v", scp.DefaultAPIVersion, err)
	}
}
