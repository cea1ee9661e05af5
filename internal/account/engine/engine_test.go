package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// fakeClient answers members calls from memory, after latency, recording
// the order of calls; panicFor makes the call for one image panic.
type fakeClient struct {
	mu       sync.Mutex
	latency  time.Duration
	members  map[string][]scp.Member
	fail     map[string]error
	panicFor string
	calls    []string
	listed   int
	onCall   func()      // run at each members call
	listing  []scp.Image // what GET /v1/images lists, for every visibility
}

func newFakeClient() *fakeClient {
	return &fakeClient{members: map[string][]scp.Member{}, fail: map[string]error{}}
}

func (f *fakeClient) ListImageMembers(ctx context.Context, id string) ([]scp.Member, error) {
	f.mu.Lock()
	f.calls = append(f.calls, id)
	latency, panicking, onCall := f.latency, f.panicFor == id, f.onCall
	f.mu.Unlock()
	if onCall != nil {
		onCall()
	}
	if panicking {
		panic("boom")
	}
	select {
	case <-time.After(latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[id]; err != nil {
		return nil, err
	}
	return f.members[id], nil
}

func (f *fakeClient) ListImages(context.Context, string) ([]scp.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	return f.listing, nil
}

func (f *fakeClient) ShowImage(context.Context, string) (scp.Image, error) {
	return scp.Image{}, errors.New("not here")
}

func (f *fakeClient) ListPendingImages(context.Context) ([]scp.PendingImage, error) {
	return nil, nil
}

func (f *fakeClient) set(fn func(f *fakeClient)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeClient) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeClient) callsFor(id string) int {
	n := 0
	for _, c := range f.callLog() {
		if c == id {
			n++
		}
	}
	return n
}

func imageID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func images(n int) []Image {
	out := make([]Image, n)
	for i := range out {
		out[i] = Image{ID: imageID(i), Name: fmt.Sprint("image-", i)}
	}
	return out
}

func options(c *fakeClient, imgs []Image) Options {
	return Options{
		Client:      c,
		Images:      imgs,
		Inventory:   inventory.Options{Visibility: []string{"private"}, Interval: time.Hour},
		Concurrency: 1,
		CallTimeout: 10 * time.Second,
	}
}

// start runs an engine until the test ends.
func start(t *testing.T, o Options) *Engine {
	t.Helper()
	e := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func byID(v View) map[string]ImageView {
	out := make(map[string]ImageView, len(v.Images))
	for _, iv := range v.Images {
		out[iv.ID] = iv
	}
	return out
}

// A small estate is fetched whole on every scrape, as before the engine:
// each Wait tries every image once, and only once.
func TestOnDemandFetchesEveryImageOnEveryScrape(t *testing.T) {
	c := newFakeClient()
	o := options(c, images(5))
	o.Concurrency = 3
	e := start(t, o)
	for scrape := 1; scrape <= 3; scrape++ {
		e.Wait(context.Background())
		for _, im := range o.Images {
			if n := c.callsFor(im.ID); n != scrape {
				t.Fatalf("after scrape %d, %s was fetched %d times, want %d", scrape, im.ID, n, scrape)
			}
		}
		for _, iv := range e.Snapshot().Images {
			if iv.Err != nil || !iv.Known {
				t.Errorf("after scrape %d, %s: err %v, known %v", scrape, iv.ID, iv.Err, iv.Known)
			}
		}
	}
}

// leaveAtFirstCall scrapes with a deadline that comes at the scrape's first
// members call: the pass it begins is left unfinished by every scrape.
func leaveAtFirstCall(e *Engine, c *fakeClient) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	c.set(func(f *fakeClient) { f.onCall = func() { once.Do(cancel) } })
	e.Wait(ctx)
	c.set(func(f *fakeClient) { f.onCall = nil })
}

// On demand, a pass a scrape could not finish goes on without it, with no
// further scrape, until every image has been tried once since it began; the
// images not reached go stalest first, and then the pass ends.
func TestOnDemandPassGoesOnBetweenScrapes(t *testing.T) {
	c := newFakeClient()
	c.latency = 5 * time.Millisecond
	imgs := images(6)
	e := start(t, options(c, imgs))
	leaveAtFirstCall(e, c)
	testwait.For(t, e.idle, "the pass the scrape left to be done without another scrape")
	want := make([]string, len(imgs))
	for i, im := range imgs {
		want[i] = im.ID
	}
	if got := c.callLog(); !slices.Equal(got, want) {
		t.Errorf("the pass went %v, want every image once, in watch order %v", got, want)
	}
	for _, iv := range e.Snapshot().Images {
		if iv.Err != nil || !iv.Known {
			t.Errorf("after the pass went on alone, %s: err %v, known %v", iv.ID, iv.Err, iv.Known)
		}
	}
	if v := e.Snapshot(); v.Passes != 1 {
		t.Errorf("%d full passes, want 1", v.Passes)
	}
	testwait.Holds(t, 100*time.Millisecond, func() bool { return len(c.callLog()) == len(imgs) }, "no call once the pass is done, until a scrape")
}

// enteredWait is a scrape's context that tells when Wait has chosen the
// pass it waits on: Wait reads Done only then.
type enteredWait struct {
	context.Context
	once    sync.Once
	entered chan struct{}
}

func (w *enteredWait) Done() <-chan struct{} {
	w.once.Do(func() { close(w.entered) })
	return w.Context.Done()
}

// On demand, a scrape that comes while a pass is under way joins it, even
// when the scrape that began it has left: it waits for the images that pass
// has not tried yet, and does not begin another pass that would fetch those
// it has tried again.
func TestOnDemandScrapeJoinsThePassUnderWay(t *testing.T) {
	c := newFakeClient()
	imgs := images(4)
	h := hold(c, imgs[1].ID)
	o := options(c, imgs)
	o.Client = h
	e := start(t, o)
	t.Cleanup(h.Release) // before the engine stops

	// The first scrape: the first image fetched, the second's call held;
	// the scrape leaves.
	h.scrapeUntilHeld(e)

	second := &enteredWait{Context: context.Background(), entered: make(chan struct{})}
	done := make(chan struct{})
	go func() { defer close(done); e.Wait(second) }()
	<-second.entered
	h.Release()
	select {
	case <-done:
	case <-time.After(testwait.Timeout):
		t.Fatal("the second scrape did not return once the pass was done")
	}
	want := []string{imgs[0].ID, imgs[1].ID, imgs[2].ID, imgs[3].ID}
	// The second scrape came after the first image's call had finished:
	// the next pass follows at once (see the test below), and may have
	// made its calls by now.
	if got := c.callLog(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Errorf("when the second scrape returned, the calls were %v; want one pass, each image once, %v, then only the next pass's", got, want)
	}
	testwait.For(t, e.idle, "the engine idle")
	if got, want := c.callLog(), slices.Concat(want, want); !slices.Equal(got, want) {
		t.Errorf("calls %v after the second scrape; want the pass it joined, then the one that follows it, %v", got, want)
	}
}

// On demand, a scrape that joins the pass under way after one of its
// calls has finished (so it is served members fetched before it came)
// makes the next pass begin as soon as this one is done, with no scrape;
// with no scrape during that pass, no third begins until a scrape does.
// The engine's clock moves 1 s per call, and an hour without scrapes.
func TestOnDemandNextPassFollowsWhileScraped(t *testing.T) {
	c := newFakeClient()
	imgs := images(3)
	clk := testclock.New(time.Unix(1e9, 0))
	c.onCall = func() { clk.Add(time.Second) }
	h := hold(c, imgs[1].ID)
	o := options(c, imgs)
	o.Client = h
	o.Now = clk.Now
	e := start(t, o)
	t.Cleanup(h.Release) // before the engine stops

	// Pass 1: the first image fetched, the second's call held; the scrape
	// that began it leaves, and another comes and leaves at once.
	h.scrapeUntilHeld(e)
	late, cancelLate := context.WithCancel(context.Background())
	cancelLate()
	e.Wait(late)
	h.Release()

	// Pass 2 follows pass 1 with no scrape, stalest first, then stops.
	pass := []string{imgs[0].ID, imgs[1].ID, imgs[2].ID}
	testwait.For(t, func() bool { return len(c.callLog()) == 6 && e.idle() }, "pass 1, then pass 2 with no scrape")
	if got, want := c.callLog(), slices.Concat(pass, pass); !slices.Equal(got, want) {
		t.Errorf("calls %v, want pass 1 then pass 2, each image once, stalest first: %v", got, want)
	}
	if v := e.Snapshot(); v.Passes != 2 || v.PassDuration != 3*time.Second {
		t.Errorf("%d full passes, the last %v; want 2, the last 3s (three calls of 1s: it began when pass 1 ended)", v.Passes, v.PassDuration)
	}
	clk.Add(time.Hour)
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 6 && e.idle() }, "no pass 3: no scrape came during pass 2")

	// A scrape begins pass 3, fetches every image and leaves nothing going.
	e.Wait(context.Background())
	if got, want := c.callLog()[6:], pass; !slices.Equal(got, want) {
		t.Errorf("the scrape's pass fetched %v, want %v", got, want)
	}
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 9 && e.idle() }, "no pass 4: the scrape that began pass 3 joined none")
}

// A pass a scrape joined, ended by the engine stopping, is followed by no
// other: nothing is left waiting on work no worker will take.
func TestOnDemandNoNextPassOnceStopped(t *testing.T) {
	c := newFakeClient()
	imgs := images(2)
	h := hold(c, imgs[1].ID)
	o := options(c, imgs)
	o.Client = h
	o.Concurrency = 2
	e := New(o)
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.Run(ctx) }()
	t.Cleanup(func() { h.Release(); stop(); <-stopped })

	h.scrapeUntilHeld(e)
	testwait.For(t, func() bool { return c.callsFor(imgs[0].ID) == 1 && e.busyCalls() == 1 }, "the first image fetched, the second's call held")
	late, cancelLate := context.WithCancel(context.Background())
	cancelLate()
	e.Wait(late) // demand for the next pass
	stop()
	h.Release() // the held call now fails: the engine's context has ended
	select {
	case <-stopped:
	case <-time.After(testwait.Timeout):
		t.Fatal("Run did not return")
	}
	if !e.idle() {
		t.Error("a pass began after the engine stopped")
	}
}

// On demand, once the pass is done (between scrapes), the next scrape
// begins a new one and waits for it: a small estate is fetched whole at
// every scrape, never served from the pass before.
func TestOnDemandScrapeAfterThePassBeginsANewOne(t *testing.T) {
	c := newFakeClient()
	c.latency = 5 * time.Millisecond
	imgs := images(5)
	o := options(c, imgs)
	o.Concurrency = 2
	e := start(t, o)
	leaveAtFirstCall(e, c)
	testwait.For(t, e.idle, "the first pass done between scrapes")
	ctx, cancel := context.WithTimeout(context.Background(), testwait.Timeout)
	defer cancel()
	e.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("the scrape ran out of time")
	}
	for _, im := range imgs {
		if n := c.callsFor(im.ID); n != 2 {
			t.Errorf("when the second scrape returned, %s had been fetched %d times, want 2: once by the pass done between scrapes, once by the scrape's own", im.ID, n)
		}
	}
	if v := e.Snapshot(); v.Passes != 2 {
		t.Errorf("%d full passes, want 2", v.Passes)
	}
}

// A pass going on between scrapes stops with the engine: Run returns
// promptly, with calls under way cancelled, and no call is made after.
func TestOnDemandPassStopsWithTheEngine(t *testing.T) {
	c := newFakeClient()
	c.latency = time.Hour // every call lasts until the engine stops
	imgs := images(20)
	o := options(c, imgs)
	o.Concurrency = 2
	e := New(o)
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.Run(ctx) }()
	t.Cleanup(func() { stop(); <-stopped })
	leaveAtFirstCall(e, c)
	testwait.For(t, func() bool { return e.busyCalls() == 2 }, "two calls under way, the scrape gone")
	stop()
	select {
	case <-stopped:
	case <-time.After(testwait.Timeout):
		t.Fatal("Run did not return: the pass going on between scrapes kept it")
	}
	if n := len(c.callLog()); n != 2 {
		t.Errorf("%d calls, want the 2 under way when the engine stopped", n)
	}
}

// Order of work: images never tried first, in watch order; then the one
// whose last attempt is oldest.
func TestOrderNewFirstThenStalest(t *testing.T) {
	c := newFakeClient()
	imgs := images(4)
	e := start(t, options(c, imgs[:3]))
	e.Wait(context.Background())
	if got, want := c.callLog(), []string{imgs[0].ID, imgs[1].ID, imgs[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("first pass fetched %v, want watch order %v", got, want)
	}

	e.Update(options(c, []Image{imgs[3], imgs[0], imgs[1], imgs[2]}))
	e.Wait(context.Background())
	if got, want := c.callLog()[3:], []string{imgs[3].ID, imgs[0].ID, imgs[1].ID, imgs[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("after adding an image, the pass fetched %v, want the new one, then oldest first %v", got, want)
	}
}

// A caller with a short deadline bounds only its own wait: a scrape with a
// long deadline waiting at the same time sees every image, and the API sees
// each image once.
func TestShortDeadlineCallerCannotTruncateAnotherScrape(t *testing.T) {
	c := newFakeClient()
	c.latency = 30 * time.Millisecond
	o := options(c, images(20))
	o.Concurrency = 2 // a pass takes about 300 ms
	e := start(t, o)

	var wg sync.WaitGroup
	wg.Go(func() {
		for range 10 { // a caller looping with a 20 ms timeout
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			e.Wait(ctx)
			cancel()
		}
	})
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("the long scrape ran out of time")
	}
	for _, iv := range e.Snapshot().Images {
		if iv.Err != nil {
			t.Errorf("the long scrape saw %s failed: %v (%s)", iv.ID, iv.Err, iv.Reason)
		}
	}
	wg.Wait()
	for _, im := range o.Images {
		if n := c.callsFor(im.ID); n > 2 {
			t.Errorf("%s fetched %d times for one long scrape and a looping short caller", im.ID, n)
		}
	}
}

// A reload keeps what is known of images that stay, forgets removed ones,
// and puts new ones first.
func TestUpdateKeepsKnownState(t *testing.T) {
	c := newFakeClient()
	imgs := images(4)
	c.members[imgs[0].ID] = []scp.Member{{ID: "acct1", Status: "accepted"}}
	e := start(t, options(c, imgs[:3]))
	e.Wait(context.Background())
	before := byID(e.Snapshot())

	e.Update(options(c, []Image{imgs[0], imgs[1], imgs[3]}))
	v := byID(e.Snapshot())
	if _, ok := v[imgs[2].ID]; ok {
		t.Error("a removed image is still watched")
	}
	for _, id := range []string{imgs[0].ID, imgs[1].ID} {
		if !v[id].Fetched.Equal(before[id].Fetched) || v[id].Err != nil || !v[id].Known {
			t.Errorf("%s lost its state in the reload: %+v", id, v[id])
		}
	}
	if len(v[imgs[0].ID].Members) != 1 {
		t.Errorf("members of %s lost in the reload", imgs[0].ID)
	}
	if v[imgs[3].ID].Reason != ReasonNotFetchedYet {
		t.Errorf("new image: reason %q, want %q", v[imgs[3].ID].Reason, ReasonNotFetchedYet)
	}
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 3 }, "no members call made by the reload itself")
}

// A failed fetch keeps the last known members and says it failed; a 404
// means the image has no members we can know of.
func TestFailedFetchKeepsLastKnownMembers(t *testing.T) {
	c := newFakeClient()
	imgs := images(2)
	for _, im := range imgs {
		c.members[im.ID] = []scp.Member{{ID: "stranger", Status: "accepted"}}
	}
	e := start(t, options(c, imgs))
	e.Wait(context.Background())
	time.Sleep(300 * time.Millisecond)
	c.set(func(f *fakeClient) {
		f.fail[imgs[0].ID] = &scp.APIError{StatusCode: 500, Reason: scp.ReasonServerError}
		f.fail[imgs[1].ID] = &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}
	})
	e.Wait(context.Background())
	v := byID(e.Snapshot())
	if a := v[imgs[0].ID]; a.Reason != scp.ReasonServerError || !a.Known || len(a.Members) != 1 {
		t.Errorf("after a 500: %+v, want server_error with the last known member", a)
	}
	if b := v[imgs[1].ID]; b.Reason != scp.ReasonNotFound || b.Known || len(b.Members) != 0 {
		t.Errorf("after a 404: %+v, want not_found and no members", b)
	}
	// A 404 is a sure answer (the image is gone): it does not make the
	// estate look stale, where a 500 does.
	if age := e.Snapshot().StalestAge; age < 300*time.Millisecond {
		t.Errorf("stalest age %v with an image failing since the first scrape 300 ms ago", age)
	}
	c.set(func(f *fakeClient) { delete(f.fail, imgs[0].ID) })
	e.Wait(context.Background())
	if age := e.Snapshot().StalestAge; age > 150*time.Millisecond {
		t.Errorf("stalest age %v with one image fetched and one gone just now", age)
	}
}

// A panic in one fetch costs that image's answer and nothing else: the
// other images are fetched, and the engine goes on working.
func TestPanicInOneFetch(t *testing.T) {
	c := newFakeClient()
	imgs := images(3)
	c.panicFor = imgs[1].ID
	o := options(c, imgs)
	o.Concurrency = 2
	e := start(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("a panic in one fetch kept the scrape waiting")
	}
	v := byID(e.Snapshot())
	if v[imgs[1].ID].Reason != reasonPanic || v[imgs[0].ID].Err != nil || v[imgs[2].ID].Err != nil {
		t.Errorf("after a panic: %+v", v)
	}
	c.set(func(f *fakeClient) { f.panicFor = "" })
	e.Wait(ctx)
	if iv := byID(e.Snapshot())[imgs[1].ID]; iv.Err != nil {
		t.Errorf("the engine did not recover: %v", iv.Err)
	}
}

// Background mode: scrapes wait for nothing, every image is fetched, and
// passes repeat about once per interval.
func TestBackgroundRefreshesWithoutScrapes(t *testing.T) {
	c := newFakeClient()
	imgs := images(10)
	o := options(c, imgs)
	h := hold(c, imgs[0].ID)
	o.Client = h
	o.RefreshInterval = 500 * time.Millisecond
	o.Concurrency = 4
	e := start(t, o)
	t.Cleanup(h.Release) // before the engine stops, even if the test fails
	<-h.entered
	waited := make(chan struct{})
	go func() { e.Wait(context.Background()); close(waited) }()
	testwait.For(t, func() bool {
		select {
		case <-waited:
			return true
		default:
			return false
		}
	}, "a scrape's Wait to return while a call is held: in the background it waits for nothing")
	h.Release()
	testwait.For(t, func() bool {
		for _, iv := range e.Snapshot().Images {
			if iv.Err != nil {
				return false
			}
		}
		return true
	}, "every image fetched in the background")
	testwait.For(t, func() bool { return e.Snapshot().PassDuration > 0 }, "a full pass measured")
	start := len(c.callLog())
	time.Sleep(time.Second)
	// Paced at 10 images per 0.5 s: about 20 calls in a second, not as
	// many as the unthrottled client allows.
	if n := len(c.callLog()) - start; n < 8 || n > 40 {
		t.Errorf("%d calls in a second of background refresh, want about 20", n)
	}
}

// idle reports whether no members call is under way, nor an on-demand
// pass that will make more.
func (e *Engine) idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.busy == 0 && e.pass == nil
}

// When the budget cannot fetch every image within the refresh interval, the
// engine says so (and runs as fast as the budget allows); the shortest pass
// the budget allows is in the view.
func TestBackgroundWarnsWhenTheBudgetCannotKeepTheInterval(t *testing.T) {
	c := newFakeClient()
	var logs testproc.Buffer
	o := options(c, images(10))
	o.RefreshInterval = 2 * time.Second
	o.Budget = scp.NewBudget(2, 1, nil) // 10 images at 2/s: a pass takes 5 s
	o.Logger = log.NewLogfmtLogger(&logs)
	e := start(t, o)
	testwait.For(t, func() bool {
		return strings.Contains(logs.String(), "cannot fetch every image within members.refresh_interval")
	}, "the warning")
	if got := e.Snapshot().MinPassDuration; got != 5*time.Second {
		t.Errorf("MinPassDuration %v, want 5s (10 images at 2/s)", got)
	}
	if n := strings.Count(logs.String(), "cannot fetch every image"); n != 1 {
		t.Errorf("warned %d times, want once while it stays true", n)
	}
}

// A full pass lasts from its first call until every image's call has
// finished. On demand, a pass a scrape leaves unfinished goes on without it,
// so its duration is that of its calls; the idle time until the next scrape
// is no pass's. The clock moves 1 s per call here.
func TestPassDuration(t *testing.T) {
	c := newFakeClient()
	clk := testclock.New(time.Unix(1e9, 0))
	c.onCall = func() { clk.Add(time.Second) }
	o := options(c, images(3))
	o.Now = clk.Now
	e := start(t, o)
	if v := e.Snapshot(); v.Passes != 0 {
		t.Fatalf("%d passes before any scrape", v.Passes)
	}
	clk.Add(time.Minute) // the first scrape comes a minute after start
	e.Wait(context.Background())
	if v := e.Snapshot(); v.Passes != 1 || v.PassDuration != 3*time.Second {
		t.Errorf("after one scrape: %d passes, the last %v; want 1 of 3s (three calls of 1s)", v.Passes, v.PassDuration)
	}

	// A scrape that leaves at the first call: the pass goes on, and is done
	// two calls later.
	ctx, cancel := context.WithCancel(context.Background())
	c.set(func(f *fakeClient) { f.onCall = func() { clk.Add(time.Second); cancel() } })
	e.Wait(ctx)
	testwait.For(t, e.idle, "the pass the scrape left to be done")
	if v := e.Snapshot(); v.Passes != 2 || v.PassDuration != 3*time.Second {
		t.Errorf("after a pass that went on without its scrape: %d passes, the last %v; want 2, the last 3s", v.Passes, v.PassDuration)
	}

	// Ten seconds idle, then a scrape: its pass does not count them.
	clk.Add(10 * time.Second)
	c.set(func(f *fakeClient) { f.onCall = func() { clk.Add(time.Second) } })
	e.Wait(context.Background())
	if v := e.Snapshot(); v.Passes != 3 || v.PassDuration != 3*time.Second {
		t.Errorf("after ten idle seconds and a scrape: %d passes, the last %v; want 3, the last 3s", v.Passes, v.PassDuration)
	}
}

// A caller whose deadline passes while calls are under way, then a scrape
// with time to spare and free workers: the scrape waits for those calls
// (it does not skip them, nor fetch them again) and sees every image.
func TestScrapeAfterAShortOneWaitsForTheCallsUnderWay(t *testing.T) {
	c := newFakeClient()
	c.latency = 300 * time.Millisecond
	o := options(c, images(3))
	o.Concurrency = 4 // more workers than images
	e := start(t, o)
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	e.Wait(short)
	cancel()
	long, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	e.Wait(long)
	if long.Err() != nil {
		t.Fatal("the scrape ran out of time")
	}
	for _, iv := range e.Snapshot().Images {
		if iv.Err != nil {
			t.Errorf("after %v the scrape saw %s as %s", time.Since(begin), iv.ID, iv.Reason)
		}
	}
	for _, im := range o.Images {
		if n := c.callsFor(im.ID); n != 1 {
			t.Errorf("%s fetched %d times, want once", im.ID, n)
		}
	}
	// The scrape came before any call had finished: it was served nothing
	// fetched before it came, so no pass follows.
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 3 }, "no pass after the one the scrape joined before any call finished")
}

// Switching from background to on demand takes effect at once: a scrape
// fetches, and no worker stays asleep on the old pacing.
func TestReloadFromBackgroundToOnDemand(t *testing.T) {
	c := newFakeClient()
	imgs := images(3)
	o := options(c, imgs)
	o.RefreshInterval = time.Hour
	o.Concurrency = 3
	e := start(t, o)
	testwait.For(t, func() bool { return len(c.callLog()) == 3 && e.idle() }, "the first background pass")
	o.RefreshInterval = 0
	e.Update(o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("the first on-demand scrape after the switch waited until its deadline")
	}
	if n := len(c.callLog()); n != 6 {
		t.Errorf("%d calls after a background pass and one on-demand scrape, want 6", n)
	}
}

// Switching from on demand to background with a new image releases a
// scrape waiting on the on-demand pass.
func TestReloadToBackgroundReleasesWaitingScrapes(t *testing.T) {
	c := newFakeClient()
	c.latency = 200 * time.Millisecond
	imgs := images(6)
	o := options(c, imgs[:5])
	e := start(t, o) // Concurrency 1: a pass takes a second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	released := make(chan struct{})
	go func() { e.Wait(ctx); close(released) }()
	testwait.For(t, func() bool { return len(c.callLog()) >= 1 }, "the scrape's first call")
	o = options(c, imgs)
	o.RefreshInterval = time.Hour
	e.Update(o)
	select {
	case <-released:
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting scrape was not released by the switch to background mode")
	}
}

// In background mode, images that discovery adds later are fetched first,
// not after workers that sleep on the pacing of the images already known.
func TestBackgroundFetchesDiscoveredImagesPromptly(t *testing.T) {
	c := newFakeClient()
	imgs := images(6)
	o := options(c, imgs[:1])
	o.RefreshInterval = time.Hour
	o.Inventory.Discover = true
	o.Inventory.Interval = 200 * time.Millisecond
	start(t, o)
	testwait.For(t, func() bool { return c.callsFor(imgs[0].ID) == 1 }, "the configured image")
	listing := make([]scp.Image, 0, 5)
	for _, im := range imgs[1:] {
		listing = append(listing, scp.Image{ID: im.ID, Name: im.Name, Visibility: "private"})
	}
	c.set(func(f *fakeClient) { f.listing = listing })
	testwait.For(t, func() bool {
		for _, im := range imgs[1:] {
			if c.callsFor(im.ID) != 1 {
				return false
			}
		}
		return true
	}, "the discovered images fetched soon after they were listed")
	if n := c.callsFor(imgs[0].ID); n != 1 {
		t.Errorf("the configured image was fetched %d times within the hour's interval", n)
	}
}

// recorder is an engine Client over the real client and the fake API: it
// records the order of members calls, and holds the call for one image
// until released.
type recorder struct {
	*scp.Client
	mu      sync.Mutex
	calls   []string
	hold    string
	release chan struct{}
}

func (r *recorder) ListImageMembers(ctx context.Context, id string) ([]scp.Member, error) {
	r.mu.Lock()
	r.calls = append(r.calls, id)
	hold := r.hold == id
	r.mu.Unlock()
	if hold {
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return r.Client.ListImageMembers(ctx, id)
}

func (r *recorder) callLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) callsFor(id string) int {
	n := 0
	for _, c := range r.callLog() {
		if c == id {
			n++
		}
	}
	return n
}

// fakeAPI serves the fake SCP API until the test ends, and returns it with
// a recording client for it.
func fakeAPI(t *testing.T, latency time.Duration) (*scptest.Fake, *recorder) {
	t.Helper()
	fake := scptest.New(scptest.Options{AccessKey: "ak", SecretKey: "sk", Latency: latency})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := scp.NewClient(scp.Options{BaseURL: srv.URL, AccessKey: "ak", SecretKey: "sk", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return fake, &recorder{Client: client, release: make(chan struct{})}
}

func members(v View, id string) []string {
	var out []string
	for _, m := range byID(v)[id].Members {
		out = append(out, m.ID+":"+m.Status)
	}
	return out
}

// In the background, at an interval of an hour, a prioritized image is
// fetched before the images queued before it, and once the pass is over, at
// once rather than at its next turn; its visibility is looked up at once
// too. Its change shows in the view, with when it happened.
func TestPrioritizeInTheBackground(t *testing.T) {
	fake, rec := fakeAPI(t, 5*time.Millisecond)
	imgs := images(20)
	for _, im := range imgs {
		fake.SetMembers(im.ID)
		fake.AddImages(scptest.Image{ID: im.ID, Name: im.Name, Visibility: "private", Owner: "proj-ours"})
	}
	rec.hold = imgs[2].ID
	o := options(newFakeClient(), imgs)
	o.Client = rec
	o.RefreshInterval = time.Hour
	o.Inventory.Visibility = []string{"private", "shared"}
	e := start(t, o)
	var released sync.Once
	t.Cleanup(func() { released.Do(func() { close(rec.release) }) }) // before the engine stops

	// The third call is under way (held); the first pass has 17 images to go.
	testwait.For(t, func() bool { return len(rec.callLog()) == 3 }, "the call for the third image")
	fake.SetMembers(imgs[15].ID, scptest.Member{MemberID: "stranger", Status: "pending"})
	if n := e.Prioritize(imgs[15].ID, "not-watched", imageID(99), imgs[15].ID); n != 1 {
		t.Errorf("Prioritize queued %d images, want 1: unwatched IDs are ignored", n)
	}
	released.Do(func() { close(rec.release) })
	testwait.For(t, func() bool { return slices.Equal(members(e.Snapshot(), imgs[15].ID), []string{"stranger:pending"}) }, "the prioritized image's new member")
	testwait.For(t, func() bool { return len(rec.callLog()) == 20 && e.idle() }, "the first pass")
	log := rec.callLog()
	if log[3] != imgs[15].ID {
		t.Errorf("after the call under way, the engine fetched %s, want the prioritized %s before the images queued earlier (calls %v)", log[3], imgs[15].ID, log)
	}
	if n := rec.callsFor(imgs[15].ID); n != 1 {
		t.Errorf("the prioritized image was fetched %d times in the first pass, want once: the pass does not fetch it again", n)
	}
	if iv := byID(e.Snapshot())[imgs[15].ID]; !iv.ChangedAt.IsZero() {
		t.Errorf("the first fetch counted as a change at %v", iv.ChangedAt)
	}

	// The pass is over, the next image is due in three minutes: a
	// prioritized image does not wait for that, its visibility neither.
	testwait.For(t, func() bool { return e.Snapshot().Inventory.Visibility[imgs[5].ID] == "private" }, "the first listing")
	before := byID(e.Snapshot())[imgs[5].ID]
	fake.SetMembers(imgs[5].ID, scptest.Member{MemberID: "stranger", Status: "pending"})
	fake.AddImages(scptest.Image{ID: imgs[5].ID, Name: imgs[5].Name, Visibility: "public", Owner: "proj-ours"})
	e.Prioritize(imgs[5].ID)
	testwait.For(t, func() bool { return slices.Equal(members(e.Snapshot(), imgs[5].ID), []string{"stranger:pending"}) }, "the new member of an image fetched a moment ago")
	testwait.For(t, func() bool { return e.Snapshot().Inventory.Visibility[imgs[5].ID] == "public" }, "the new visibility, long before the listing's next hour")
	v := e.Snapshot()
	iv := byID(v)[imgs[5].ID]
	if iv.ChangedAt.IsZero() || !iv.ChangedSince.Before(iv.ChangedAt) || iv.ChangedSince.After(before.Fetched) {
		t.Errorf("change in [%v, %v], want since the start of the last fetch that had no member (done at %v)", iv.ChangedSince, iv.ChangedAt, before.Fetched)
	}
	if c, ok := v.Inventory.VisibilityChanged[imgs[5].ID]; !ok || c.From != "private" || c.To != "public" || c.At.Before(c.Since) {
		t.Errorf("visibility change %+v (recorded: %v), want private to public", c, ok)
	}
	if n := len(rec.callLog()); n != 21 {
		t.Errorf("%d members calls, want 21: the prioritized image alone is fetched again within the interval", n)
	}
}

// A call under way when Prioritize is called does not count: the image may
// have changed after it was sent. The image is fetched again after it, even
// by a worker that was free while the call was under way.
func TestPrioritizeRefetchesAfterACallUnderWay(t *testing.T) {
	c := newFakeClient()
	imgs := images(3)
	h := hold(c, imgs[0].ID)
	o := options(c, imgs)
	o.Client = h
	o.RefreshInterval = time.Hour
	o.Concurrency = 2
	e := start(t, o)
	t.Cleanup(h.Release) // before the engine stops
	<-h.entered
	c.set(func(f *fakeClient) { f.members[imgs[0].ID] = []scp.Member{{ID: "stranger", Status: "pending"}} })
	e.Prioritize(imgs[0].ID)
	// The other worker fetches the rest, and looks at the queue again.
	testwait.For(t, func() bool { return len(c.callLog()) == 2 && e.busyCalls() == 1 }, "the other images, with the held call under way")
	h.Release()
	testwait.For(t, func() bool { return c.callsFor(imgs[0].ID) == 2 && e.idle() }, "the prioritized image fetched again")
	if got := c.callLog(); len(got) != 4 || got[2] != imgs[0].ID || got[3] != imgs[0].ID {
		t.Errorf("calls %v, want the image again after the call under way, and nothing else", got)
	}
}

// holding is a fakeClient whose first call for one image waits until
// release is closed.
type holding struct {
	*fakeClient
	id       string
	held     atomic.Bool
	entered  chan struct{} // closed when that call has come
	release  chan struct{}
	released sync.Once
}

// hold is c, holding the first members call for id until Release.
func hold(c *fakeClient, id string) *holding {
	return &holding{fakeClient: c, id: id, entered: make(chan struct{}), release: make(chan struct{})}
}

// Release lets the held call go on (again: nothing).
func (h *holding) Release() { h.released.Do(func() { close(h.release) }) }

// scrapeUntilHeld is a scrape that leaves once the held call has come.
func (h *holding) scrapeUntilHeld(e *Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-h.entered; cancel() }()
	e.Wait(ctx)
}

func (h *holding) ListImageMembers(ctx context.Context, id string) ([]scp.Member, error) {
	if id == h.id && h.held.CompareAndSwap(false, true) {
		close(h.entered)
		<-h.release // the call counts in the log from here
	}
	return h.fakeClient.ListImageMembers(ctx, id)
}

// busyCalls is how many members calls are under way.
func (e *Engine) busyCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.busy
}

// On demand, a prioritized image waits for the next scrape, whose pass
// fetches it first, and once.
func TestPrioritizeOnDemand(t *testing.T) {
	c := newFakeClient()
	imgs := images(5)
	e := start(t, options(c, imgs))
	e.Wait(context.Background())
	if n := e.Prioritize(imgs[3].ID, imgs[1].ID, "not-watched"); n != 2 {
		t.Errorf("Prioritize queued %d, want 2", n)
	}
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 5 }, "no call before the next scrape: on demand, work waits for a scrape")
	e.Wait(context.Background())
	log := c.callLog()
	if len(log) != 10 || log[5] != imgs[3].ID || log[6] != imgs[1].ID {
		t.Errorf("the next scrape fetched %v, want the prioritized images first, each once, then the others", log[5:])
	}
	for _, im := range imgs {
		if n := c.callsFor(im.ID); n != 2 {
			t.Errorf("%s fetched %d times in two scrapes, want 2", im.ID, n)
		}
	}
}

// ChangedAt and ChangedSince: set when a fetch returns other members (one
// added, or a status changed), never by the first fetch, an answer in
// another order, a failure, or the first answer after a 404.
func TestChangeTracking(t *testing.T) {
	c := newFakeClient()
	imgs := images(1)
	id := imgs[0].ID
	clk := testclock.New(time.Unix(1e9, 0))
	at := func(s int) time.Time { return time.Unix(1e9+int64(s), 0) }
	o := options(c, imgs)
	o.Now = clk.Now
	e := start(t, o)
	scrape := func(s int, m []scp.Member, err error) ImageView {
		t.Helper()
		clk.Set(at(s))
		c.set(func(f *fakeClient) {
			f.members[id] = m
			if err != nil {
				f.fail[id] = err
			} else {
				delete(f.fail, id)
			}
		})
		e.Wait(context.Background())
		return byID(e.Snapshot())[id]
	}
	a, b := scp.Member{ID: "acct-a", Status: "accepted"}, scp.Member{ID: "acct-b", Status: "pending"}
	check := func(iv ImageView, changed, since int, what string) {
		t.Helper()
		var wantAt, wantSince time.Time
		if changed > 0 {
			wantAt, wantSince = at(changed), at(since)
		}
		if !iv.ChangedAt.Equal(wantAt) || !iv.ChangedSince.Equal(wantSince) {
			t.Errorf("%s: changed in [%v, %v], want [%v, %v]", what, iv.ChangedSince, iv.ChangedAt, wantSince, wantAt)
		}
	}
	check(scrape(10, []scp.Member{a, b}, nil), 0, 0, "first fetch")
	check(scrape(20, []scp.Member{b, a}, nil), 0, 0, "same members in another order")
	check(scrape(30, []scp.Member{a}, nil), 30, 20, "a member removed")
	check(scrape(40, []scp.Member{a}, &scp.APIError{StatusCode: 500, Reason: scp.ReasonServerError}), 30, 20, "a failure")
	check(scrape(50, []scp.Member{{ID: "acct-a", Status: "rejected"}}, nil), 50, 30, "a status changed, with a failure between")
	check(scrape(60, nil, &scp.APIError{StatusCode: 404, Reason: scp.ReasonNotFound}), 50, 30, "a 404")
	check(scrape(70, []scp.Member{b}, nil), 50, 30, "the first answer after a 404")
	check(scrape(80, []scp.Member{a, b}, nil), 80, 70, "a member added")
	// The first fetch is not a change, but is when what it showed was
	// seen first.
	if iv := byID(e.Snapshot())[id]; !iv.FirstFetched.Equal(at(10)) {
		t.Errorf("first fetched %v, want %v", iv.FirstFetched, at(10))
	}
}

// In the background, pacing reads the engine's clock (Options.Now), as
// every other time the engine keeps does: an image fetched before goes
// again when that clock says its turn has come, not the wall clock.
func TestBackgroundPacingReadsTheEngineClock(t *testing.T) {
	c := newFakeClient()
	imgs := images(2)
	clk := testclock.New(time.Unix(1e9, 0))
	o := options(c, imgs)
	o.Now = clk.Now
	o.RefreshInterval = time.Hour // a turn every 30 minutes
	e := start(t, o)
	testwait.For(t, func() bool { return len(c.callLog()) == 2 && e.idle() }, "the first pass")
	testwait.Holds(t, 100*time.Millisecond, func() bool { return len(c.callLog()) == 2 }, "no call before the next turn")

	clk.Add(31 * time.Minute)
	e.Update(o) // the same options: the workers look at the queue again
	testwait.For(t, func() bool { return len(c.callLog()) == 3 }, "the stalest image fetched at its turn on the engine's clock")
	if got := c.callLog()[2]; got != imgs[0].ID {
		t.Errorf("fetched %s at the turn, want the stalest, %s", got, imgs[0].ID)
	}
	testwait.Holds(t, 100*time.Millisecond, func() bool { return len(c.callLog()) == 3 }, "the next turn is 30 minutes later")
}

// Prioritized images take at most the budget's priority share (issue 22):
// a burst of events on every image is served in the order named, a burst's
// worth at once, then at scp.PriorityShare of the rate, each image costing
// PriorityCost calls; never the whole budget.
func TestPrioritizedWorkTakesABoundedShare(t *testing.T) {
	c := newFakeClient()
	imgs := images(30)
	clk := testclock.New(time.Unix(1e9, 0))
	o := options(c, imgs)
	o.Now = clk.Now
	o.Budget = scp.NewBudget(100, 4, clk.Now) // priority: 25 calls/s, a burst of 20
	o.RefreshInterval = time.Hour             // the next sweep turn is 2 minutes away
	e := start(t, o)
	testwait.For(t, func() bool { return len(c.callLog()) == 30 && e.idle() }, "the first pass")

	named := make([]string, 0, len(imgs))
	for i := len(imgs) - 1; i >= 0; i-- {
		named = append(named, imgs[i].ID)
	}
	if n := e.Prioritize(named...); n != 30 {
		t.Fatalf("Prioritize queued %d, want 30", n)
	}
	burst := scp.PriorityBurst / PriorityCost
	testwait.For(t, func() bool { return len(c.callLog()) == 30+burst }, "a burst of prioritized images")
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 30+burst }, "no more until the share allows")
	if got := c.callLog()[30:]; !slices.Equal(got, named[:burst]) {
		t.Errorf("fetched %v, want the first %d named, in order", got, burst)
	}
	// 0.4 s later on the engine's clock: 0.4 × 25 = 10 calls, 5 images.
	clk.Add(400 * time.Millisecond)
	testwait.For(t, func() bool { return len(c.callLog()) == 30+burst+5 }, "five more prioritized images")
	testwait.Holds(t, 200*time.Millisecond, func() bool { return len(c.callLog()) == 30+burst+5 }, "no more until the share allows")
	if got := c.callLog()[30+burst:]; !slices.Equal(got, named[burst:burst+5]) {
		t.Errorf("fetched %v, want the next 5 named, in order", got)
	}
}
