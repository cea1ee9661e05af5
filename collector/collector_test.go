package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	imgA = "70a599e0-31e7-49b7-b260-868f441e862b"
	imgB = "0b7e1f4c-9d2a-4e36-8c51-2f6a7d8e9b10"
	imgC = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140"

	acctExpected = "a8f10467abfc4b87b64614ab36eb9ae4"
	acctOther    = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
	acctThird    = "ffee0011223344556677889900aabbcc"
)

// setup serves a fake API and returns it with a client for it.
func setup(t *testing.T, opts scptest.Options) (*scptest.Fake, *scp.Client) {
	t.Helper()
	opts.AccessKey, opts.SecretKey = "ak", "sk"
	fake := scptest.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return fake, client
}

func target(lister MembersLister, images ...Image) Target {
	v, _ := scp.LookupAPIVersion("1.3")
	return Target{
		Accounts:      []Account{{Lister: lister, Images: images, APIVersion: v, MaxConcurrency: 4}},
		ScrapeTimeout: 10 * time.Second,
	}
}

func TestCollectReportsMembersPerImage(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA,
		scptest.Member{MemberID: acctExpected, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: acctOther, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"})
	fake.SetMembers(imgB)
	c := New(target(client,
		Image{ID: imgA, Name: "golden", Expected: map[string]bool{acctExpected: true}},
		Image{ID: imgB},
	), log.NewNopLogger(), nil)

	want := `
# HELP scp_image_info Images this exporter watches, with their configured or discovered name; always 1.
# TYPE scp_image_info gauge
scp_image_info{image_id="` + imgA + `",name="golden"} 1
scp_image_info{image_id="` + imgB + `",name=""} 1
# HELP scp_image_member_created_timestamp_seconds When the image was shared with the account, in Unix seconds.
# TYPE scp_image_member_created_timestamp_seconds gauge
scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctExpected + `"} 1.7531748e+09
scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7620722e+09
# HELP scp_image_member_info One series per account the image is shared with; expected is "true" when the account is in the image's or the top-level expected_members. Always 1.
# TYPE scp_image_member_info gauge
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="pending"} 1
scp_image_member_info{expected="true",image_id="` + imgA + `",member_id="` + acctExpected + `",status="accepted"} 1
# HELP scp_image_member_updated_timestamp_seconds When the share's status last changed, in Unix seconds.
# TYPE scp_image_member_updated_timestamp_seconds gauge
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctExpected + `"} 1.7535312e+09
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7620722005e+09
# HELP scp_image_members Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds).
# TYPE scp_image_members gauge
scp_image_members{image_id="` + imgA + `",status="accepted"} 1
scp_image_members{image_id="` + imgA + `",status="pending"} 1
scp_image_members{image_id="` + imgA + `",status="rejected"} 0
scp_image_members{image_id="` + imgB + `",status="accepted"} 0
scp_image_members{image_id="` + imgB + `",status="pending"} 0
scp_image_members{image_id="` + imgB + `",status="rejected"} 0
# HELP scp_image_members_scrape_success 1 when the image's members were fetched in this scrape, 0 when not.
# TYPE scp_image_members_scrape_success gauge
scp_image_members_scrape_success{image_id="` + imgA + `"} 1
scp_image_members_scrape_success{image_id="` + imgB + `"} 1
# HELP scp_api_version_info The SCP API version the exporter requests and its state in the API reference; always 1.
# TYPE scp_api_version_info gauge
scp_api_version_info{service="virtualserver",state="current",version="1.3"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"scp_image_info", "scp_image_members", "scp_image_member_info", "scp_image_member_created_timestamp_seconds",
		"scp_image_member_updated_timestamp_seconds", "scp_image_members_scrape_success", "scp_image_members_scrape_error",
		"scp_api_version_info", "scp_api_version_support_end_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := fake.AuthFailures(); n != 0 {
		t.Errorf("fake refused %d signatures", n)
	}
}

func TestFailedImageDoesNotAffectOthers(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetFault(imgB, scptest.Fault{Status: http.StatusForbidden})
	// imgC is unknown to the fake: 404.
	c := New(target(client, Image{ID: imgA}, Image{ID: imgB}, Image{ID: imgC}), log.NewNopLogger(), nil)

	want := `
# HELP scp_image_members_scrape_error 1 for an image whose members could not be fetched in this scrape, labelled with why; absent on success.
# TYPE scp_image_members_scrape_error gauge
scp_image_members_scrape_error{image_id="` + imgB + `",reason="forbidden"} 1
scp_image_members_scrape_error{image_id="` + imgC + `",reason="not_found"} 1
# HELP scp_image_members_scrape_success 1 when the image's members were fetched in this scrape, 0 when not.
# TYPE scp_image_members_scrape_success gauge
scp_image_members_scrape_success{image_id="` + imgA + `"} 1
scp_image_members_scrape_success{image_id="` + imgB + `"} 0
scp_image_members_scrape_success{image_id="` + imgC + `"} 0
# HELP scp_image_member_info One series per account the image is shared with; expected is "true" when the account is in the image's or the top-level expected_members. Always 1.
# TYPE scp_image_member_info gauge
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"scp_image_members_scrape_error", "scp_image_members_scrape_success", "scp_image_member_info"); err != nil {
		t.Error(err)
	}
	// The failed images have no member-count series at all.
	if n := testutil.CollectAndCount(c, "scp_image_members"); n != 3 {
		t.Errorf("scp_image_members has %d series, want 3 (only the fetched image)", n)
	}
}

func TestUnknownStatusKeptDuplicatesMergedBadTimestampsOmitted(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA,
		scptest.Member{MemberID: acctOther, Status: "pending"},
		scptest.Member{MemberID: acctOther, Status: "accepted", CreatedAt: "yesterday", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: acctThird, Status: "Suspended"})
	c := New(target(client, Image{ID: imgA}), log.NewNopLogger(), nil)
	want := `
# HELP scp_image_members Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds).
# TYPE scp_image_members gauge
scp_image_members{image_id="` + imgA + `",status="accepted"} 1
scp_image_members{image_id="` + imgA + `",status="pending"} 0
scp_image_members{image_id="` + imgA + `",status="rejected"} 0
scp_image_members{image_id="` + imgA + `",status="suspended"} 1
# HELP scp_image_member_info One series per account the image is shared with; expected is "true" when the account is in the image's or the top-level expected_members. Always 1.
# TYPE scp_image_member_info gauge
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctThird + `",status="suspended"} 1
# HELP scp_image_member_created_timestamp_seconds When the image was shared with the account, in Unix seconds.
# TYPE scp_image_member_created_timestamp_seconds gauge
# HELP scp_image_member_updated_timestamp_seconds When the share's status last changed, in Unix seconds.
# TYPE scp_image_member_updated_timestamp_seconds gauge
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7535312e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_members", "scp_image_member_info",
		"scp_image_member_created_timestamp_seconds", "scp_image_member_updated_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func TestDeprecatedVersionExposesSupportEnd(t *testing.T) {
	_, client := setup(t, scptest.Options{})
	tg := target(client)
	tg.Accounts[0].APIVersion, _ = scp.LookupAPIVersion("1.2")
	c := New(tg, log.NewNopLogger(), nil)
	want := `
# HELP scp_api_version_info The SCP API version the exporter requests and its state in the API reference; always 1.
# TYPE scp_api_version_info gauge
scp_api_version_info{service="virtualserver",state="supported",version="1.2"} 1
# HELP scp_api_version_support_end_timestamp_seconds When guaranteed support of the API version in use ends (00:00 UTC the day after the announced date), in Unix seconds.
# TYPE scp_api_version_support_end_timestamp_seconds gauge
scp_api_version_support_end_timestamp_seconds{service="virtualserver",version="1.2"} 1.7882208e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_api_version_info", "scp_api_version_support_end_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// 1.7882208e9 above is 2026-09-01T00:00Z, the day after 2026-08-31.
	if got := tg.Accounts[0].APIVersion.SupportEnd(); !got.Equal(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("support end %v, want 2026-09-01T00:00Z", got)
	}
}

func TestStalledImageTimesOutWithoutHoldingTheScrape(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB)
	fake.SetFault(imgB, scptest.Fault{Delay: time.Minute})
	tg := target(client, Image{ID: imgA}, Image{ID: imgB})
	tg.ScrapeTimeout = 300 * time.Millisecond
	c := New(tg, log.NewNopLogger(), nil)

	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = testutil.CollectAndCompare(c, strings.NewReader(`
# HELP scp_image_members_scrape_success 1 when the image's members were fetched in this scrape, 0 when not.
# TYPE scp_image_members_scrape_success gauge
scp_image_members_scrape_success{image_id="`+imgA+`"} 1
scp_image_members_scrape_success{image_id="`+imgB+`"} 0
# HELP scp_image_members_scrape_error 1 for an image whose members could not be fetched in this scrape, labelled with why; absent on success.
# TYPE scp_image_members_scrape_error gauge
scp_image_members_scrape_error{image_id="`+imgB+`",reason="timeout"} 1
`), "scp_image_members_scrape_success", "scp_image_members_scrape_error")
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the scrape did not end at its deadline")
	}
	if err != nil {
		t.Error(err)
	}
}

// countingLister counts calls and holds each one until released.
type countingLister struct {
	mu      sync.Mutex
	calls   map[string]int
	release chan struct{}
	started chan struct{}
}

func (l *countingLister) ListImageMembers(ctx context.Context, id string) ([]scp.Member, error) {
	l.mu.Lock()
	l.calls[id]++
	l.mu.Unlock()
	select {
	case l.started <- struct{}{}:
	default:
	}
	select {
	case <-l.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []scp.Member{{ID: acctOther, Status: "pending"}}, nil
}

func TestConcurrentScrapesShareOneRound(t *testing.T) {
	l := &countingLister{calls: map[string]int{}, release: make(chan struct{}), started: make(chan struct{}, 1)}
	c := New(target(l, Image{ID: imgA}, Image{ID: imgB}, Image{ID: imgC}), log.NewNopLogger(), nil)

	const scrapes = 4
	results := make([]*Result, scrapes)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0], _ = c.Fetch(context.Background()) }()
	<-l.started // the first round is under way; the others must join it
	for i := 1; i < scrapes; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = c.Fetch(context.Background()) }()
	}
	waitFor(t, func() bool { return c.waiting() == scrapes-1 })
	close(l.release)
	wg.Wait()

	for _, id := range []string{imgA, imgB, imgC} {
		if n := l.calls[id]; n != 1 {
			t.Errorf("image %s fetched %d times by %d simultaneous scrapes, want 1", id, n, scrapes)
		}
	}
	for i := 1; i < scrapes; i++ {
		if results[i] != results[0] {
			t.Errorf("scrape %d got a different result from scrape 0", i)
		}
	}
	// A scrape after the round is over fetches again.
	l.release = make(chan struct{})
	close(l.release)
	c.Fetch(context.Background())
	if n := l.calls[imgA]; n != 2 {
		t.Errorf("a later scrape made %d calls in all for image A, want 2", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMinRefreshIntervalServesCachedResult(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "pending"})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	tg := target(client, Image{ID: imgA})
	tg.MinRefreshInterval = time.Minute
	c := New(tg, log.NewNopLogger(), clock)

	age := func() float64 {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "scp_scrape_cache_age_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no scp_scrape_cache_age_seconds")
		return 0
	}
	if a := age(); a != 0 {
		t.Errorf("first scrape: cache age %v, want 0", a)
	}
	advance(20 * time.Second)
	if a := age(); a != 20 {
		t.Errorf("scrape 20s later: cache age %v, want 20", a)
	}
	if n := fake.Requests(imgA); n != 1 {
		t.Errorf("API called %d times, want 1 (second scrape served from cache)", n)
	}
	advance(41 * time.Second)
	if a := age(); a != 0 {
		t.Errorf("scrape after the interval: cache age %v, want 0", a)
	}
	if n := fake.Requests(imgA); n != 2 {
		t.Errorf("API called %d times, want 2", n)
	}
	// A reload drops the cache.
	c.Update(tg)
	age()
	if n := fake.Requests(imgA); n != 3 {
		t.Errorf("API called %d times after Update, want 3", n)
	}
}

func TestScrapeTimeout(t *testing.T) {
	const limit = 30 * time.Second
	const offset = 500 * time.Millisecond
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", limit},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"120", limit},
		{"0.4", 200 * time.Millisecond}, // offset would leave nothing: half
		{"0.5", 250 * time.Millisecond},
		{"abc", limit},
		{"-3", limit},
		{"0", limit},
		{"NaN", limit},
		{"Inf", limit},
	} {
		if got := ScrapeTimeout(tc.header, offset, limit); got != tc.want {
			t.Errorf("ScrapeTimeout(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestHandlerHonoursPrometheusTimeoutHeader(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA)
	fake.SetFault(imgA, scptest.Fault{Delay: time.Minute})
	c := New(target(client, Image{ID: imgA}), log.NewNopLogger(), nil)
	srv := httptest.NewServer(c.Handler(prometheus.NewRegistry(), 100*time.Millisecond, promhttp.HandlerOpts{}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set(ScrapeTimeoutHeader, "0.4")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(buf.String(), `scp_image_members_scrape_error{image_id="`+imgA+`",reason="timeout"} 1`) {
		t.Errorf("stalled image not reported as timeout:\n%s", buf)
	}
	// The header allowed 0.4s less 0.1s. The client's request timeout (5s)
	// and the target's scrape timeout (10s) are longer, so only the header's
	// deadline can end the stall this soon; the bound is loose for a loaded
	// machine.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("scrape took %v despite a 0.4s Prometheus timeout", took)
	}
}
