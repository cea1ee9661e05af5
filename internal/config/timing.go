package config

import "time"

// Timeouts and intervals no field sets. They live here, beside the ones
// derived from the fields, so that every timing of an account has one
// owner: the packages that use them take them from Timing.
const (
	// DefaultResolveRetry is the first wait before a client resolves its
	// endpoint and API version again in the background; each failure
	// doubles it, up to DefaultResolveMaxRetry, so an IAM outage costs a
	// call every 10 minutes rather than one a request.
	DefaultResolveRetry    = 30 * time.Second
	DefaultResolveMaxRetry = 10 * time.Minute
	// MaxListingTimeout bounds one round of listings when the refresh
	// interval is longer: a hung listing then holds back the next round
	// by at most this.
	MaxListingTimeout = 2 * time.Minute
	// MinAuditPollTimeout is the least one audit poll is given, all its
	// pages: at a short interval a busy trail still has time to page.
	MinAuditPollTimeout = time.Minute
	// DefaultListFileInterval is how often an expected-list file is
	// checked: read (at most 4 MiB) and its content compared with the last.
	DefaultListFileInterval = 5 * time.Second
	// DefaultIdleConnTimeout closes API connections idle this long, as
	// Go's default transport does (prometheus/common's would keep them 5
	// minutes): calls a minute apart reuse them, unused ones do not linger.
	DefaultIdleConnTimeout = 90 * time.Second
)

// Timing is every timeout and interval of one account, derived from the
// config in this one place (no other package has a default rule of its
// own). docs/running.md has them in one table.
type Timing struct {
	ScrapeTimeout          time.Duration // scrape_timeout: the longest a scrape waits; Prometheus' timeout header may only lower it
	RequestTimeout         time.Duration // scp.request_timeout: one API call attempt
	ResolveTimeout         time.Duration // how long a new client waits for its first endpoint and version resolution before going on in the background: one RequestTimeout
	ResolveRetry           time.Duration // first wait before resolving again in the background (30s), doubling up to ResolveMaxRetry (10m)
	ResolveMaxRetry        time.Duration // the longest wait between those tries (10m)
	MembersCallTimeout     time.Duration // one members call with its retries: ScrapeTimeout
	MembersRefreshInterval time.Duration // members.refresh_interval (0: on demand)
	ListingInterval        time.Duration // discovery.refresh_interval (the listings run for every account, with or without discovery)
	ListingTimeout         time.Duration // one round of listings: min(ListingInterval, 2m)
	AuditPollInterval      time.Duration // audit.poll_interval
	AuditPollTimeout       time.Duration // one poll with all its pages: max(2×AuditPollInterval, 1m)
	ListFileInterval       time.Duration // how often an expected-list file is checked for a change: 5s
	IdleConnTimeout        time.Duration // idle API connections are closed after 90s
}

// timingOf derives the timing of account a, whose defaults Load has
// applied; scrapeTimeout is the top level's, which every account shares.
func timingOf(scrapeTimeout Duration, a *Account) Timing {
	scrape := time.Duration(scrapeTimeout)
	request := time.Duration(a.SCP.RequestTimeout)
	listing := time.Duration(a.Discovery.RefreshInterval)
	poll := time.Duration(a.Audit.PollInterval)
	return Timing{
		ScrapeTimeout:  scrape,
		RequestTimeout: request,
		// Start-up and a reload wait for the first resolution no longer
		// than one call may take; the rest goes on in the background.
		ResolveTimeout:  request,
		ResolveRetry:    DefaultResolveRetry,
		ResolveMaxRetry: DefaultResolveMaxRetry,
		// A members call outlives the scrape that wanted it (its result
		// serves the next), but never a whole scrape's time.
		MembersCallTimeout:     scrape,
		MembersRefreshInterval: time.Duration(a.Members.RefreshInterval),
		ListingInterval:        listing,
		// A round ends before the next is due.
		ListingTimeout:    min(listing, MaxListingTimeout),
		AuditPollInterval: poll,
		// A poll may take longer than one interval (the next window
		// overlaps the last, so nothing is lost by a late poll).
		AuditPollTimeout: max(2*poll, MinAuditPollTimeout),
		ListFileInterval: DefaultListFileInterval,
		IdleConnTimeout:  DefaultIdleConnTimeout,
	}
}
