package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

// manyImages sets n images of one member each on the fake and returns the
// config's image list.
func manyImages(fake *scptest.Fake, n int) map[string][]string {
	ids := map[string][]string{}
	for i := range n {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
		fake.SetMembers(id, scptest.Member{MemberID: memberOK, Status: "accepted"})
		ids[id] = nil
	}
	return ids
}

// Two callers scraping in a loop with a 0.6 s timeout cannot truncate what
// a scrape with Prometheus' 10 s timeout sees: every image, on every scrape.
func TestShortTimeoutCallersCannotTruncateOtherScrapes(t *testing.T) {
	fake, url := startFake(t, scptest.Options{Latency: 100 * time.Millisecond})
	ids := manyImages(fake, 20)
	// Two calls in flight at 100 ms: a full pass takes about a second, more
	// than the short callers wait.
	text := strings.Replace(configYAML(url, ids, ""), "scp:\n", "scp:\n  max_concurrency: 2\n", 1)
	exp := startExporter(t, writeFile(t, t.TempDir(), "config.yml", text))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var shortScrapes atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, exp.URL+"/metrics", nil)
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.6")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				shortScrapes.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	// The short callers are looping first: their first scrapes have ended
	// at their 0.6 s, a pass cut short, and the next are under way.
	testwait.For(t, func() bool { return shortScrapes.Load() >= 2 }, "the short callers' first scrapes")

	for i := range 4 {
		start := time.Now()
		_, body := httpGet(t, exp.URL+"/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
		ok := 0
		for id := range ids {
			if hasLine(body, `scp_image_members_scrape_success{image_id="`+id+`"} 1`) {
				ok++
			}
		}
		if ok != len(ids) {
			t.Errorf("scrape %d (after %v): %d of %d images fetched while short-timeout callers loop", i+1, time.Since(start), ok, len(ids))
		}
	}
}

// SIGTERM during a scrape: the scrape gets its answer, the process exits 0.
func TestSIGTERMLetsTheScrapeFinish(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA, scptest.Member{MemberID: memberOK, Status: "accepted"})
	fake.SetFault(imageA, scptest.Fault{Delay: 3 * time.Second, Times: 1})
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, ""))
	exp := startExporter(t, cfg)

	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(exp.URL + "/metrics")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, err = io.Copy(b, resp.Body)
		got <- answer{code: resp.StatusCode, body: b.String(), err: err}
	}()
	// The scrape is under way once its call reaches the API, which holds it 3 s.
	testwait.For(t, func() bool { return fake.Requests(imageA) == 1 }, "the scrape's members call")
	if err := exp.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.code != http.StatusOK || !hasLine(a.body, `scp_image_members_scrape_success{image_id="`+imageA+`"} 1`) {
		t.Errorf("the scrape under way at SIGTERM: %d %v\n%s", a.code, a.err, grepSCP(a.body))
	}
	st := exp.Proc.Exited(15 * time.Second)
	if st == nil {
		t.Fatal("the exporter did not exit after SIGTERM")
	}
	if st.ExitCode() != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", st.ExitCode())
	}
	if out := exp.Output.String(); !strings.Contains(out, "shutting down") || !strings.Contains(out, "msg=stopped") {
		t.Errorf("the shutdown is not logged:\n%s", out)
	}
}

// 300 reload requests, SIGHUP and POST mixed, of a good config with
// discovery on: /-/ready never answers 503, and afterwards goroutines and
// open files come back to within 25 of where they started. (The POSTs come
// faster than one a second: most answer 429, SIGHUP is never refused.)
func TestManyReloadsKeepReadinessAndResources(t *testing.T) {
	fake, url := startFake(t, scptest.Options{Latency: 20 * time.Millisecond})
	fake.SetMembers(imageA)
	fake.AddImages(scptest.Image{ID: imageA, Name: "golden", Visibility: "private"})
	cfg := writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil},
		"discovery:\n  enabled: true\n  visibility: [private]\n"))
	exp := startExporter(t, cfg, "--web.enable-lifecycle")
	testwait.ForWithin(t, 15*time.Second, func() bool { return ready(t, exp) == http.StatusOK }, "/-/ready to answer 200")
	httpGet(t, exp.URL+"/metrics")
	// goroutinesAndFDs reads go_goroutines and process_open_fds from one
	// scrape; a page without either fails the test.
	goroutinesAndFDs := func() (g, f float64) {
		m := scrapeMetrics(t, exp)
		g, f = m.value("go_goroutines", nil), m.value("process_open_fds", nil)
		if g < 0 || f < 0 {
			t.Fatalf("/metrics: go_goroutines %v, process_open_fds %v; want one series of each (-1: none or several)", g, f)
		}
		return g, f
	}
	g0, f0 := goroutinesAndFDs()

	notReady := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 600 {
			if ready(t, exp) != http.StatusOK {
				notReady++
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	posted := 0
	for i := range 300 {
		if i%2 == 0 {
			if err := exp.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			continue
		}
		switch code, msg := post(t, exp.URL+"/-/reload"); code {
		case http.StatusOK:
			posted++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("reload %d: %d %s", i, code, msg)
		}
	}
	wg.Wait()
	if posted == 0 {
		t.Error("no POST /-/reload was served")
	}
	if notReady > 0 {
		t.Errorf("/-/ready answered other than 200 %d times during 300 reloads", notReady)
	}
	var g1, f1 float64
	testwait.Until(15*time.Second, func() bool {
		g1, f1 = goroutinesAndFDs()
		return g1-g0 <= 25 && f1-f0 <= 25
	})
	if g1-g0 > 25 || f1-f0 > 25 {
		t.Errorf("within 15 s after 300 reloads: goroutines %v → %v, open fds %v → %v; want each within 25", g0, g1, f0, f1)
	}
	if n := strings.Count(exp.Output.String(), "config reloaded"); n > 300 || n == 0 {
		t.Errorf("%d reloads logged for 300 requests", n)
	}
}

// A flood of 500 POST /-/reload from 10 callers at once starts at most one
// reload a second; the rest answer 429 with Retry-After, and the log gains
// a line per reload and one for all the refusals (there was a reload and a
// line per request).
func TestReloadFloodIsRateLimitedAndLoggedOnce(t *testing.T) {
	fake, url := startFake(t, scptest.Options{})
	fake.SetMembers(imageA)
	exp := startExporter(t, writeFile(t, t.TempDir(), "config.yml", configYAML(url, map[string][]string{imageA: nil}, "")), "--web.enable-lifecycle")
	linesBefore := strings.Count(exp.Output.String(), "\n")

	var served, limited atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 50 {
				resp, err := http.Post(exp.URL+"/-/reload", "text/plain", nil)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK:
					served.Add(1)
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "1":
					limited.Add(1)
				default:
					t.Errorf("POST /-/reload: %d, Retry-After %q; want 200, or 429 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// A reload logs before it answers; the log is read from a pipe.
	testwait.For(t, func() bool { return served.Load() == 0 || strings.Contains(exp.Output.String(), "config reloaded") }, "the reload's log line")
	out := exp.Output.String()
	reloads := strings.Count(out, "config reloaded")
	most := int(elapsed/time.Second) + 1
	if served.Load()+limited.Load() != 500 || reloads > most {
		t.Errorf("500 requests in %v: %d reloads, %d served, %d answered 429; want at most %d reloads", elapsed, reloads, served.Load(), limited.Load(), most)
	}
	if lines := strings.Count(out, "\n") - linesBefore; lines > most+1 {
		t.Errorf("500 requests in %v logged %d lines; want at most %d (one per reload, one for the refusals)", elapsed, lines, most+1)
	}
}

// A bad --web.telemetry-path is a one-line error and exit code 1, not a panic.
func TestBadTelemetryPathExitsCleanly(t *testing.T) {
	for _, p := range []string{"metrics", "/-/reload", "/-/healthy", "/a b"} {
		out, err := exec.Command(exporterBinary(t), "--web.telemetry-path="+p, "--config.file=/nonexistent").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("--web.telemetry-path=%q: %v, want exit code 1\n%s", p, err, out)
		}
		if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 || strings.Contains(string(out), "panic") ||
			!strings.Contains(string(out), "--web.telemetry-path") {
			t.Errorf("--web.telemetry-path=%q: want one line naming the flag, got:\n%s", p, out)
		}
	}
}

// --config.check shows no 6-character run of the secret key, wherever it
// was misplaced: a number field, an aliased field, or from SCP_SECRET_KEY.
func TestConfigCheckShowsNoPieceOfTheSecret(t *testing.T) {
	const secret = "Xq7Lm2Pz9Rk4Wv8Tn3Yb" // a test value
	dir := t.TempDir()
	head := "scp:\n  region: kr-west1\n  environment: e\n  access_key: AK\n"
	imgs := "images:\n  - id: " + imageA + "\n"
	for name, tc := range map[string]struct {
		doc string
		env []string
	}{
		"in max_retries":   {doc: head + "  secret_key: " + secret + "\n  max_retries: " + secret + "\n" + imgs},
		"in an alias":      {doc: head + "  secret_key: &k " + secret + "\n  request_timeout: *k\n" + imgs},
		"from the env var": {doc: head + "  max_concurrency: " + secret + "\n" + imgs, env: []string{"SCP_SECRET_KEY=" + secret}},
	} {
		cfg := writeFile(t, dir, "config.yml", tc.doc)
		cmd := exec.Command(exporterBinary(t), "--config.check", "--config.file="+cfg)
		cmd.Env = append(cmd.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: the config was accepted; the test proves nothing", name)
		}
		for i := 0; i+6 <= len(secret); i++ {
			if strings.Contains(string(out), secret[i:i+6]) {
				t.Errorf("%s: the output shows %q of the secret:\n%s", name, secret[i:i+6], out)
				break
			}
		}
	}
}

func ready(t *testing.T, exp *exporterProcess) int {
	t.Helper()
	resp, err := http.Get(exp.URL + "/-/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
