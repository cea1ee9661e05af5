package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/config"
)

// defaultTiming is the Timing of an account that sets nothing: today's
// values of every package that had a default of its own.
var defaultTiming = config.Timing{
	ScrapeTimeout:          30 * time.Second,
	RequestTimeout:         10 * time.Second,
	ResolveTimeout:         10 * time.Second,
	ResolveRetry:           30 * time.Second,
	ResolveMaxRetry:        10 * time.Minute,
	MembersCallTimeout:     30 * time.Second,
	MembersRefreshInterval: 0,
	ListingInterval:        10 * time.Minute,
	ListingTimeout:         2 * time.Minute,
	AuditPollInterval:      30 * time.Second,
	AuditPollTimeout:       time.Minute,
	ListFileInterval:       5 * time.Second,
	IdleConnTimeout:        90 * time.Second,
}

// with returns defaultTiming changed by f.
func with(f func(*config.Timing)) config.Timing {
	t := defaultTiming
	f(&t)
	return t
}

func TestTiming(t *testing.T) {
	const head = "scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk%s}\nimages: [{id: " + img1 + "}]\n"
	single := func(scp, rest string) string { return strings.Replace(head, "%s", scp, 1) + rest }
	tests := []struct {
		name string
		doc  string
		want []config.Timing
	}{
		{"defaults", single("", ""), []config.Timing{defaultTiming}},
		{"every field set", single(", request_timeout: 3s", "scrape_timeout: 20s\nmembers: {refresh_interval: 2m}\ndiscovery: {refresh_interval: 1m}\naudit: {enabled: true, poll_interval: 5s}\n"),
			[]config.Timing{with(func(t *config.Timing) {
				t.ScrapeTimeout, t.MembersCallTimeout = 20*time.Second, 20*time.Second
				t.RequestTimeout, t.ResolveTimeout = 3*time.Second, 3*time.Second
				t.MembersRefreshInterval = 2 * time.Minute
				t.ListingInterval, t.ListingTimeout = time.Minute, time.Minute
				t.AuditPollInterval, t.AuditPollTimeout = 5*time.Second, time.Minute
			})}},
		// One round of listings: min(interval, 2m).
		{"listings every 10m", single("", "discovery: {refresh_interval: 10m}\n"), []config.Timing{defaultTiming}},
		{"listings every 90s", single("", "discovery: {refresh_interval: 90s}\n"),
			[]config.Timing{with(func(t *config.Timing) { t.ListingInterval, t.ListingTimeout = 90*time.Second, 90*time.Second })}},
		{"listings every 2m", single("", "discovery: {refresh_interval: 2m}\n"),
			[]config.Timing{with(func(t *config.Timing) { t.ListingInterval, t.ListingTimeout = 2*time.Minute, 2*time.Minute })}},
		{"listings every hour", single("", "discovery: {refresh_interval: 1h}\n"),
			[]config.Timing{with(func(t *config.Timing) { t.ListingInterval = time.Hour })}},
		// One audit poll: max(2 × interval, 1m).
		{"audit every 45s", single("", "audit: {poll_interval: 45s}\n"),
			[]config.Timing{with(func(t *config.Timing) { t.AuditPollInterval, t.AuditPollTimeout = 45*time.Second, 90*time.Second })}},
		{"audit every 30s", single("", "audit: {poll_interval: 30s}\n"), []config.Timing{defaultTiming}},
		{"audit every 5m", single("", "audit: {poll_interval: 5m}\n"),
			[]config.Timing{with(func(t *config.Timing) { t.AuditPollInterval, t.AuditPollTimeout = 5*time.Minute, 10*time.Minute })}},
		// The top level's scrape_timeout, members and audit blocks reach
		// every account that has none of its own; scp and discovery are
		// each account's.
		{"accounts form", `
scrape_timeout: 45s
members: {refresh_interval: 1m}
audit: {poll_interval: 45s}
accounts:
  - name: a
    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk, request_timeout: 2s}
    discovery: {enabled: true, refresh_interval: 30s}
  - name: b
    scp: {region: kr-west1, environment: e, access_key: AK, secret_key: sk}
    images: [{id: ` + img1 + `}]
    members: {refresh_interval: 0s}
    audit: {poll_interval: 5s}
`, []config.Timing{
			with(func(t *config.Timing) {
				t.ScrapeTimeout, t.MembersCallTimeout = 45*time.Second, 45*time.Second
				t.RequestTimeout, t.ResolveTimeout = 2*time.Second, 2*time.Second
				t.MembersRefreshInterval = time.Minute
				t.ListingInterval, t.ListingTimeout = 30*time.Second, 30*time.Second
				t.AuditPollInterval, t.AuditPollTimeout = 45*time.Second, 90*time.Second
			}),
			with(func(t *config.Timing) {
				t.ScrapeTimeout, t.MembersCallTimeout = 45*time.Second, 45*time.Second
				t.AuditPollInterval, t.AuditPollTimeout = 5*time.Second, time.Minute
			}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := loadDoc(t, tc.doc, map[string]string{})
			settings := c.Settings()
			if len(settings) != len(tc.want) {
				t.Fatalf("%d Settings, want %d", len(settings), len(tc.want))
			}
			for i, s := range settings {
				if s.Timing != tc.want[i] {
					t.Errorf("Timing of account %d:\n got %+v\nwant %+v", i, s.Timing, tc.want[i])
				}
			}
		})
	}
}

// The constants no field sets are the ones Timing gives.
func TestTimingConstants(t *testing.T) {
	for name, tc := range map[string]struct{ got, want time.Duration }{
		"DefaultResolveRetry":      {config.DefaultResolveRetry, defaultTiming.ResolveRetry},
		"DefaultResolveMaxRetry":   {config.DefaultResolveMaxRetry, defaultTiming.ResolveMaxRetry},
		"MaxListingTimeout":        {config.MaxListingTimeout, defaultTiming.ListingTimeout},
		"MinAuditPollTimeout":      {config.MinAuditPollTimeout, defaultTiming.AuditPollTimeout},
		"DefaultListFileInterval":  {config.DefaultListFileInterval, defaultTiming.ListFileInterval},
		"DefaultIdleConnTimeout":   {config.DefaultIdleConnTimeout, defaultTiming.IdleConnTimeout},
		"DefaultScrapeTimeout":     {config.DefaultScrapeTimeout, defaultTiming.ScrapeTimeout},
		"DefaultRequestTimeout":    {config.DefaultRequestTimeout, defaultTiming.RequestTimeout},
		"DefaultRefreshInterval":   {config.DefaultRefreshInterval, defaultTiming.ListingInterval},
		"DefaultAuditPollInterval": {config.DefaultAuditPollInterval, defaultTiming.AuditPollInterval},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", name, tc.got, tc.want)
		}
	}
}
