package collector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
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

// HELP lines of the families the tests compare, as the families define them.
const (
	helpImageInfo = `# HELP scp_image_info Images this exporter watches, with their configured or discovered name; always 1.
# TYPE scp_image_info gauge
`
	helpMembers = `# HELP scp_image_members Accounts the image is shared with, by share status (pending, accepted, rejected, or any status the API adds), as last fetched; may be cached (see scp_image_members_stalest_age_seconds).
# TYPE scp_image_members gauge
`
	helpMemberInfo = `# HELP scp_image_member_info One series per account the image is shared with, as last fetched; expected is "true" when the account is in the image's or the top-level expected_members. Always 1; may be cached (see scp_image_members_stalest_age_seconds).
# TYPE scp_image_member_info gauge
`
	helpCreated = `# HELP scp_image_member_created_timestamp_seconds When the image was shared with the account, in Unix seconds, as last fetched. Only with --collector.member-timestamps=all; by default a pending share whose updated time the API does not give has this time instead.
# TYPE scp_image_member_created_timestamp_seconds gauge
`
	helpUpdated = `# HELP scp_image_member_updated_timestamp_seconds When the share's status last changed, in Unix seconds, as last fetched. By default (--collector.member-timestamps=pending) only for pending shares, so that how long a share has been pending can be told; all for every share, none for no share.
# TYPE scp_image_member_updated_timestamp_seconds gauge
`
	helpSuccess = `# HELP scp_image_members_scrape_success 1 when the last fetch of the image's members succeeded, 0 when it failed or none has completed yet (see scp_image_members_scrape_error). Member series are those of the last successful fetch, which may be up to scp_image_members_stalest_age_seconds old.
# TYPE scp_image_members_scrape_success gauge
`
	helpError = `# HELP scp_image_members_scrape_error 1 for an image whose last members fetch failed, labelled with why (not_fetched_yet before the first one completes); absent on success.
# TYPE scp_image_members_scrape_error gauge
`
	helpVersionInfo = `# HELP scp_api_version_info The SCP API version the exporter requests and its state in the API reference; always 1.
# TYPE scp_api_version_info gauge
`
	helpStalestAge = `# HELP scp_image_members_stalest_age_seconds Age of the oldest sure answer about the watched images' members (a successful fetch, or a 404 saying the image is gone; since it was first watched, for an image with neither), in seconds: how old cached member series can be.
# TYPE scp_image_members_stalest_age_seconds gauge
`
	helpPassDuration = `# HELP scp_image_members_pass_duration_seconds How long the last full pass took, in seconds: from its first members call until every watched image had been fetched (or tried) once; on demand, a pass a scrape cannot finish goes on between scrapes, and its duration spans them. Absent until one completes.
# TYPE scp_image_members_pass_duration_seconds gauge
`
	helpMinPassDuration = `# HELP scp_image_members_pass_min_duration_seconds The shortest full pass the account's API budget allows now (watched images over scp_api_rate_limit_requests_per_second), in seconds; above members.refresh_interval, the interval cannot be kept.
# TYPE scp_image_members_pass_min_duration_seconds gauge
`
)

// memberFamilies are the series an image has only while its members are known.
var memberFamilies = []string{"scp_image_members", "scp_image_member_info",
	"scp_image_member_created_timestamp_seconds", "scp_image_member_updated_timestamp_seconds"}

// setup serves a fake API and returns it with a client for it. The server
// closes after any engine the test starts with it has stopped.
func setup(t *testing.T, opts scptest.Options) (*scptest.Fake, *scp.Client) {
	t.Helper()
	return setupWith(t, opts, scp.Options{RequestTimeout: 5 * time.Second})
}

// setupWith is setup with more client options (BaseURL and keys are set here).
func setupWith(t *testing.T, opts scptest.Options, co scp.Options) (*scptest.Fake, *scp.Client) {
	t.Helper()
	opts.AccessKey, opts.SecretKey = "ak", "sk"
	fake := scptest.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	co.BaseURL, co.AccessKey, co.SecretKey = srv.URL, "ak", "sk"
	client, err := scp.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	return fake, client
}

// engineOptions are the options of an on-demand engine over client, as the
// exporter sets them for an account without discovery.
func engineOptions(client engine.Client, images ...engine.Image) engine.Options {
	return engine.Options{
		Client:      client,
		Images:      images,
		Inventory:   inventory.Options{Visibility: []string{"private", "shared"}, Interval: time.Hour},
		Concurrency: 4,
		CallTimeout: 10 * time.Second,
	}
}

// startEngine runs an engine until the test ends; it has stopped, its calls
// included, before the cleanups registered earlier (the fake's server) run.
func startEngine(t testing.TB, o engine.Options) *engine.Engine {
	t.Helper()
	e := engine.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// apiScope is a single-account target whose images an on-demand engine
// fetches through client.
func apiScope(t *testing.T, client engine.Client, images ...engine.Image) Scope {
	t.Helper()
	return sourceScope(startEngine(t, engineOptions(client, images...)))
}

// sourceScope is a single-account scope on src, API version 1.3, with
// every optional series (the tests of what the defaults leave out use
// withSeries).
func sourceScope(src Source) Scope {
	v, _ := scp.LookupAPIVersion("1.3")
	return Scope{
		Accounts:      []Account{&testAccount{Source: src, APIVersion: v}},
		ScrapeTimeout: 10 * time.Second,
		Series:        allSeries,
	}
}

// staticSource is a Source with a given view; Wait returns at once.
type staticSource struct {
	mu    sync.Mutex
	view  engine.View
	waits int
}

func newStaticSource(v engine.View) *staticSource { return &staticSource{view: v} }

func (s *staticSource) Wait(context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits++
}

func (s *staticSource) Snapshot() engine.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view
}

func (s *staticSource) set(v engine.View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view = v
}

func (s *staticSource) waited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waits
}

func TestCollectReportsMembersPerImage(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA,
		scptest.Member{MemberID: acctExpected, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: acctOther, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"})
	fake.SetMembers(imgB)
	c := New(apiScope(t, client,
		engine.Image{ID: imgA, Name: "golden", Expected: map[string]bool{acctExpected: true}},
		engine.Image{ID: imgB},
	), log.NewNopLogger())

	want := helpImageInfo + `
scp_image_info{image_id="` + imgA + `",name="golden"} 1
scp_image_info{image_id="` + imgB + `",name=""} 1
` + helpCreated + `
scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctExpected + `"} 1.7531748e+09
scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7620722e+09
` + helpMemberInfo + `
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="pending"} 1
scp_image_member_info{expected="true",image_id="` + imgA + `",member_id="` + acctExpected + `",status="accepted"} 1
` + helpUpdated + `
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctExpected + `"} 1.7535312e+09
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7620722005e+09
` + helpMembers + `
scp_image_members{image_id="` + imgA + `",status="accepted"} 1
scp_image_members{image_id="` + imgA + `",status="pending"} 1
scp_image_members{image_id="` + imgA + `",status="rejected"} 0
scp_image_members{image_id="` + imgB + `",status="accepted"} 0
scp_image_members{image_id="` + imgB + `",status="pending"} 0
scp_image_members{image_id="` + imgB + `",status="rejected"} 0
` + helpSuccess + `
scp_image_members_scrape_success{image_id="` + imgA + `"} 1
scp_image_members_scrape_success{image_id="` + imgB + `"} 1
` + helpVersionInfo + `
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
	// The scrape waited for the engine: one members call per image.
	for _, id := range []string{imgA, imgB} {
		if n := fake.Requests(id); n != 1 {
			t.Errorf("%s: %d members calls for one scrape, want 1", id, n)
		}
	}
}

func TestFailedImageDoesNotAffectOthers(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetFault(imgB, scptest.Fault{Status: http.StatusForbidden})
	// imgC is unknown to the fake: 404.
	c := New(apiScope(t, client, engine.Image{ID: imgA}, engine.Image{ID: imgB}, engine.Image{ID: imgC}), log.NewNopLogger())

	want := helpError + `
scp_image_members_scrape_error{image_id="` + imgB + `",reason="forbidden"} 1
scp_image_members_scrape_error{image_id="` + imgC + `",reason="not_found"} 1
` + helpSuccess + `
scp_image_members_scrape_success{image_id="` + imgA + `"} 1
scp_image_members_scrape_success{image_id="` + imgB + `"} 0
scp_image_members_scrape_success{image_id="` + imgC + `"} 0
` + helpMemberInfo + `
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
` + helpMembers + `
scp_image_members{image_id="` + imgA + `",status="accepted"} 1
scp_image_members{image_id="` + imgA + `",status="pending"} 0
scp_image_members{image_id="` + imgA + `",status="rejected"} 0
`
	// The failed images never succeeded: they have no member series at all.
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"scp_image_members_scrape_error", "scp_image_members_scrape_success", "scp_image_member_info", "scp_image_members"); err != nil {
		t.Error(err)
	}
}

func TestUnknownStatusKeptDuplicatesMergedBadTimestampsOmitted(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA,
		scptest.Member{MemberID: acctOther, Status: "pending"},
		scptest.Member{MemberID: acctOther, Status: "accepted", CreatedAt: "yesterday", UpdatedAt: "2025-07-26T12:00:00Z"},
		scptest.Member{MemberID: acctThird, Status: "Suspended"})
	c := New(apiScope(t, client, engine.Image{ID: imgA}), log.NewNopLogger())
	want := helpMembers + `
scp_image_members{image_id="` + imgA + `",status="accepted"} 1
scp_image_members{image_id="` + imgA + `",status="pending"} 0
scp_image_members{image_id="` + imgA + `",status="rejected"} 0
scp_image_members{image_id="` + imgA + `",status="suspended"} 1
` + helpMemberInfo + `
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1
scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctThird + `",status="suspended"} 1
` + helpCreated + helpUpdated + `
scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7535312e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), memberFamilies...); err != nil {
		t.Error(err)
	}
}

func TestDeprecatedVersionExposesSupportEnd(t *testing.T) {
	_, client := setup(t, scptest.Options{})
	tg := apiScope(t, client)
	testAccountOf(tg, 0).APIVersion, _ = scp.LookupAPIVersion("1.2")
	c := New(tg, log.NewNopLogger())
	want := helpVersionInfo + `
scp_api_version_info{service="virtualserver",state="supported",version="1.2"} 1
# HELP scp_api_version_support_end_timestamp_seconds When guaranteed support of the API version in use ends (00:00 UTC the day after the announced date), in Unix seconds.
# TYPE scp_api_version_support_end_timestamp_seconds gauge
scp_api_version_support_end_timestamp_seconds{service="virtualserver",version="1.2"} 1.7882208e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_api_version_info", "scp_api_version_support_end_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// 1.7882208e9 above is 2026-09-01T00:00Z, the day after 2026-08-31.
	if got := testAccountOf(tg, 0).APIVersion.SupportEnd(); !got.Equal(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("support end %v, want 2026-09-01T00:00Z", got)
	}
}

// A scrape with a short deadline answers by its deadline: the image whose
// first call is still under way (bounded by the engine's call timeout, not
// by the scrape) is reported not fetched yet, the other one fetched.
func TestScrapeAnswersByItsDeadlineBesideAStalledImage(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted"})
	fake.SetMembers(imgB)
	fake.SetFault(imgB, scptest.Fault{Delay: time.Minute})
	tg := apiScope(t, client, engine.Image{ID: imgA}, engine.Image{ID: imgB})
	const deadline = time.Second
	tg.ScrapeTimeout = deadline
	c := New(tg, log.NewNopLogger())

	done := make(chan struct{})
	var err error
	start := time.Now()
	var took time.Duration
	go func() {
		defer close(done)
		err = testutil.CollectAndCompare(c, strings.NewReader(helpSuccess+`
scp_image_members_scrape_success{image_id="`+imgA+`"} 1
scp_image_members_scrape_success{image_id="`+imgB+`"} 0
`+helpError+`
scp_image_members_scrape_error{image_id="`+imgB+`",reason="not_fetched_yet"} 1
`+helpMemberInfo+`
scp_image_member_info{expected="false",image_id="`+imgA+`",member_id="`+acctOther+`",status="accepted"} 1
`), "scp_image_members_scrape_success", "scp_image_members_scrape_error", "scp_image_member_info")
		took = time.Since(start)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the scrape did not end at its deadline")
	}
	if err != nil {
		t.Error(err)
	}
	// The client's own request timeout (5s) and the engine's call timeout
	// (10s) are longer: only the scrape's deadline ends it this soon.
	if took < deadline || took > 4*time.Second {
		t.Errorf("the scrape took %v, want its %v deadline", took, deadline)
	}
	if n := fake.Requests(imgB); n != 1 {
		t.Errorf("the stalled image got %d members calls, want 1", n)
	}
}

// gatedClient holds every members call until release is closed.
type gatedClient struct {
	*scp.Client
	release chan struct{}
}

func (g *gatedClient) ListImageMembers(ctx context.Context, id string) ([]scp.Member, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Client.ListImageMembers(ctx, id)
}

// waitingSource counts the scrapes waiting in its engine. Engine.Wait asks
// for ctx.Done() once it has joined a pass, just before it blocks; the
// context handed to it counts that.
type waitingSource struct {
	Source
	waiting atomic.Int32
}

func (s *waitingSource) Wait(ctx context.Context) {
	s.Source.Wait(doneCounter{Context: ctx, n: &s.waiting})
}

type doneCounter struct {
	context.Context
	n *atomic.Int32
}

func (d doneCounter) Done() <-chan struct{} {
	d.n.Add(1)
	return d.Context.Done()
}

// Several scrapes at once, some through Scrape, some through the HTTP
// handler: one members call per image in all, and each scrape gets every
// image fetched.
func TestSimultaneousScrapesMakeOneCallPerImage(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	var images []engine.Image
	for i := range 30 {
		id := benchImageID(i)
		fake.SetMembers(id, scptest.Member{MemberID: acctOther, Status: "pending"})
		images = append(images, engine.Image{ID: id})
	}
	gated := &gatedClient{Client: client, release: make(chan struct{})}
	src := &waitingSource{Source: startEngine(t, engineOptions(gated, images...))}
	c := New(sourceScope(src), log.NewNopLogger())
	h := c.Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{})

	const fetches, handlers = 2, 2
	results := make([]*Result, fetches)
	bodies := make([]string, handlers)
	var wg sync.WaitGroup
	for i := range fetches {
		wg.Go(func() {
			// Bounded like the handler's scrapes (by the target's scrape
			// timeout), so that a pass that never ends fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			results[i] = c.Scrape(ctx)
		})
	}
	for i := range handlers {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			bodies[i] = rec.Body.String()
		})
	}
	// No call can finish before the release, so the first scrape's pass is
	// still under way when the last one joins it.
	testwait.For(t, func() bool { return src.waiting.Load() == fetches+handlers }, "every scrape waiting on the engine")
	close(gated.release)
	wg.Wait()

	for _, im := range images {
		if n := fake.Requests(im.ID); n != 1 {
			t.Errorf("%s: %d members calls for %d simultaneous scrapes, want 1", im.ID, n, fetches+handlers)
		}
	}
	for i, res := range results {
		v := res.Accounts[0].Members
		if len(v.Images) != len(images) {
			t.Fatalf("Scrape %d: %d images, want %d", i, len(v.Images), len(images))
		}
		for _, iv := range v.Images {
			if iv.Err != nil || len(iv.Members) != 1 {
				t.Errorf("Scrape %d: %s not fetched: err %v, %d members", i, iv.ID, iv.Err, len(iv.Members))
			}
		}
	}
	for i, body := range bodies {
		for _, im := range images {
			if !strings.Contains(body, `scp_image_members_scrape_success{image_id="`+im.ID+`"} 1`) ||
				!strings.Contains(body, `scp_image_members{image_id="`+im.ID+`",status="pending"} 1`) {
				t.Errorf("handler scrape %d: %s not reported fetched", i, im.ID)
			}
		}
		if strings.Contains(body, "scp_image_members_scrape_error{") {
			t.Errorf("handler scrape %d reports errors:\n%s", i, body)
		}
	}
}

// A fetch that fails after a good one keeps the image's member series and
// says it failed; a 404 drops them; the next good fetch clears the error.
func TestFailedFetchKeepsLastKnownMembers(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA, scptest.Member{MemberID: acctOther, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z"})
	fake.SetMembers(imgB, scptest.Member{MemberID: acctExpected, Status: "pending"})
	fake.SetMembers(imgC, scptest.Member{MemberID: acctThird, Status: "rejected"})
	c := New(apiScope(t, client, engine.Image{ID: imgA}, engine.Image{ID: imgB}, engine.Image{ID: imgC}), log.NewNopLogger())
	families := append([]string{"scp_image_members_scrape_success", "scp_image_members_scrape_error"}, memberFamilies...)

	membersOf := func(id, status string) string {
		var out strings.Builder
		for _, s := range []string{"accepted", "pending", "rejected"} {
			v := "0"
			if s == status {
				v = "1"
			}
			out.WriteString(`scp_image_members{image_id="` + id + `",status="` + s + `"} ` + v + "\n")
		}
		return out.String()
	}
	infoA := `scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="accepted"} 1` + "\n"
	infoB := `scp_image_member_info{expected="false",image_id="` + imgB + `",member_id="` + acctExpected + `",status="pending"} 1` + "\n"
	infoC := `scp_image_member_info{expected="false",image_id="` + imgC + `",member_id="` + acctThird + `",status="rejected"} 1` + "\n"
	createdA := helpCreated + `scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7531748e+09` + "\n"
	successes := func(a, b, c string) string {
		return helpSuccess +
			`scp_image_members_scrape_success{image_id="` + imgA + `"} ` + a + "\n" +
			`scp_image_members_scrape_success{image_id="` + imgB + `"} ` + b + "\n" +
			`scp_image_members_scrape_success{image_id="` + imgC + `"} ` + c + "\n"
	}

	// 1. Every image fetched.
	all := successes("1", "1", "1") +
		helpMembers + membersOf(imgA, "accepted") + membersOf(imgB, "pending") + membersOf(imgC, "rejected") +
		helpMemberInfo + infoA + infoB + infoC + createdA
	if err := testutil.CollectAndCompare(c, strings.NewReader(all), families...); err != nil {
		t.Fatalf("first scrape: %v", err)
	}

	// 2. A's fetch fails (500), C is gone (404).
	fake.SetFault(imgA, scptest.Fault{Status: http.StatusInternalServerError})
	fake.RemoveImage(imgC)
	failed := successes("0", "1", "0") + helpError +
		`scp_image_members_scrape_error{image_id="` + imgA + `",reason="server_error"} 1` + "\n" +
		`scp_image_members_scrape_error{image_id="` + imgC + `",reason="not_found"} 1` + "\n" +
		helpMembers + membersOf(imgA, "accepted") + membersOf(imgB, "pending") +
		helpMemberInfo + infoA + infoB + createdA
	if err := testutil.CollectAndCompare(c, strings.NewReader(failed), families...); err != nil {
		t.Errorf("scrape after the failures: %v", err)
	}

	// 3. A answers again.
	fake.SetFault(imgA, scptest.Fault{})
	recovered := successes("1", "1", "0") + helpError +
		`scp_image_members_scrape_error{image_id="` + imgC + `",reason="not_found"} 1` + "\n" +
		helpMembers + membersOf(imgA, "accepted") + membersOf(imgB, "pending") +
		helpMemberInfo + infoA + infoB + createdA
	if err := testutil.CollectAndCompare(c, strings.NewReader(recovered), families...); err != nil {
		t.Errorf("scrape after A recovered: %v", err)
	}
	for _, id := range []string{imgA, imgB, imgC} {
		if n := fake.Requests(id); n != 3 {
			t.Errorf("%s: %d members calls for three scrapes, want 3", id, n)
		}
	}
}

// The per-account staleness gauges follow the engine's clock: the stalest
// image's age since its last good fetch, the last full pass's duration, and
// the shortest pass the budget allows.
func TestStalenessAndPassGauges(t *testing.T) {
	budget := scp.NewBudget(100, 4, nil)
	fake, client := setupWith(t, scptest.Options{}, scp.Options{RequestTimeout: 5 * time.Second, Budget: budget})
	fake.SetMembers(imgA)
	fake.SetMembers(imgB)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	o := engineOptions(client, engine.Image{ID: imgA}, engine.Image{ID: imgB})
	o.Budget, o.Now = budget, clk.Now
	c := New(sourceScope(startEngine(t, o)), log.NewNopLogger())
	gauges := []string{"scp_image_members_stalest_age_seconds", "scp_image_members_pass_duration_seconds", "scp_image_members_pass_min_duration_seconds"}
	want := func(stalest, pass string) string {
		return helpStalestAge + "scp_image_members_stalest_age_seconds " + stalest + "\n" +
			helpPassDuration + "scp_image_members_pass_duration_seconds " + pass + "\n" +
			// Two images at 100 requests per second.
			helpMinPassDuration + "scp_image_members_pass_min_duration_seconds 0.02\n"
	}

	// Watched since t0; the first pass runs 3s later: both images fetched,
	// none stale. The clock stands still while the pass runs, so the pass
	// took 0s (engine_test.go measures a pass on a moving clock).
	clk.Add(3 * time.Second)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want("0", "0")), gauges...); err != nil {
		t.Errorf("first scrape: %v", err)
	}
	// 42s later B fails: its members are from the first pass, 42s old.
	fake.SetFault(imgB, scptest.Fault{Status: http.StatusInternalServerError})
	clk.Add(42 * time.Second)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want("42", "0")), gauges...); err != nil {
		t.Errorf("scrape with a failed image: %v", err)
	}
}

// Failures are logged at debug level on every scrape, and at warning level
// only when an account's summary of them changes.
func TestFailuresAreLoggedOncePerChange(t *testing.T) {
	var buf bytes.Buffer
	logger := log.NewLogfmtLogger(log.NewSyncWriter(&buf))
	src := newStaticSource(engine.View{})
	c := New(sourceScope(src), logger)
	view := func(reasonB scp.Reason) engine.View {
		b := engine.ImageView{Image: engine.Image{ID: imgB}, Known: true}
		if reasonB != "" {
			b.Err, b.Reason = &scp.APIError{StatusCode: 500, Reason: reasonB}, reasonB
		}
		return engine.View{Images: []engine.ImageView{{Image: engine.Image{ID: imgA}, Known: true}, b}}
	}
	notYet := view("")
	notYet.Images[1] = engine.ImageView{Image: engine.Image{ID: imgB}, Err: errors.New("not fetched yet"), Reason: engine.ReasonNotFetchedYet}

	for i, step := range []struct {
		view        engine.View
		warn, debug int // lines logged by this scrape
	}{
		{notYet, 0, 0}, // not a failure
		{view(scp.ReasonServerError), 1, 1},
		{view(scp.ReasonServerError), 0, 1}, // the same failure again
		{view(scp.ReasonForbidden), 1, 1},   // another reason
		{view(""), 0, 0},
		{view(scp.ReasonServerError), 1, 1}, // failing again after a recovery
	} {
		buf.Reset()
		src.set(step.view)
		c.Scrape(context.Background())
		out := buf.String()
		if w, d := strings.Count(out, "level=warn"), strings.Count(out, "level=debug"); w != step.warn || d != step.debug {
			t.Errorf("scrape %d: %d warnings and %d debug lines, want %d and %d:\n%s", i+1, w, d, step.warn, step.debug, out)
		}
		if step.warn > 0 && (!strings.Contains(out, "example_image_id="+imgB) || !strings.Contains(out, "reason="+string(step.view.Images[1].Reason))) {
			t.Errorf("scrape %d: the warning does not name the image and reason:\n%s", i+1, out)
		}
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
	c := New(apiScope(t, client, engine.Image{ID: imgA}), log.NewNopLogger())
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
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, line := range []string{
		`scp_image_members_scrape_success{image_id="` + imgA + `"} 0`,
		`scp_image_members_scrape_error{image_id="` + imgA + `",reason="not_fetched_yet"} 1`,
	} {
		if !strings.Contains(buf.String(), line+"\n") {
			t.Errorf("stalled image not reported as %s:\n%s", line, buf)
		}
	}
	// The header allowed 0.4s less 0.1s. The client's request timeout (5s),
	// the engine's call timeout and the target's scrape timeout (10s) are
	// longer, so only the header's deadline can end the wait this soon; the
	// upper bound is loose for a loaded machine.
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("scrape took %v with a 0.4s Prometheus timeout less 0.1s", took)
	}
}

// One entry the exporter cannot read, between two good ones, hides
// neither: both are members, the undeclared one with expected="false".
func TestUnreadableMemberEntryHidesNoOther(t *testing.T) {
	fake, client := setup(t, scptest.Options{})
	fake.SetMembers(imgA)
	fake.SetFault(imgA, scptest.Fault{Status: http.StatusOK, Body: `{"members":[` +
		`{"member_id":"` + acctExpected + `","status":"accepted","created_at":"2024-06-16T02:55:13"},` +
		`"junk",{"member_id":"../x","status":"pending"},` +
		`{"member_id":"` + acctOther + `","status":"deactivated","updated_at":1721638800}]}`})
	c := New(sourceScope(startEngine(t, engineOptions(client, engine.Image{ID: imgA, Expected: map[string]bool{acctExpected: true}}))), log.NewNopLogger())
	want := helpMemberInfo + `scp_image_member_info{expected="false",image_id="` + imgA + `",member_id="` + acctOther + `",status="deactivated"} 1
scp_image_member_info{expected="true",image_id="` + imgA + `",member_id="` + acctExpected + `",status="accepted"} 1
` + helpCreated + `scp_image_member_created_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctExpected + `"} 1.718506513e+09
` + helpUpdated + `scp_image_member_updated_timestamp_seconds{image_id="` + imgA + `",member_id="` + acctOther + `"} 1.7216388e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "scp_image_member_info",
		"scp_image_member_created_timestamp_seconds", "scp_image_member_updated_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// blockingSource answers Wait at once and holds each Snapshot until
// released, counting the snapshots read at once.
type blockingSource struct {
	release       chan struct{}
	mu            sync.Mutex
	reading, most int
	view          engine.View
}

func (s *blockingSource) Wait(context.Context) {}

// counts are the snapshots being read now, and the most read at once.
func (s *blockingSource) counts() struct{ reading, most int } {
	s.mu.Lock()
	defer s.mu.Unlock()
	return struct{ reading, most int }{s.reading, s.most}
}

func (s *blockingSource) Snapshot() engine.View {
	s.mu.Lock()
	s.reading++
	s.most = max(s.most, s.reading)
	s.mu.Unlock()
	<-s.release
	s.mu.Lock()
	s.reading--
	s.mu.Unlock()
	return s.view
}

// Scrapes read the snapshots and write their pages at most GOMAXPROCS at
// once, however many arrive together: the others wait their turn,
// and every one is answered.
func TestScrapesRenderAtMostGOMAXPROCSAtOnce(t *testing.T) {
	src := &blockingSource{release: make(chan struct{})}
	release := sync.OnceFunc(func() { close(src.release) })
	t.Cleanup(release)
	c := New(sourceScope(src), log.NewNopLogger())
	h := c.Handler(prometheus.NewRegistry(), 0, promhttp.HandlerOpts{})
	limit := runtime.GOMAXPROCS(0)
	codes := make(chan int, limit+2)
	for range limit + 2 {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			codes <- rec.Code
		}()
	}
	testwait.For(t, func() bool { return src.counts().reading >= limit }, "GOMAXPROCS scrapes to read the snapshots")
	testwait.Holds(t, 200*time.Millisecond, func() bool { return src.counts().reading <= limit }, "at most GOMAXPROCS scrapes reading at once")
	release()
	for range limit + 2 {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a scrape that waited its turn: %d", code)
		}
	}
	if m := src.counts().most; m != limit {
		t.Errorf("%d scrapes read the snapshots at once, want GOMAXPROCS = %d", m, limit)
	}
}
