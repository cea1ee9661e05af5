//go:build loadtest

// Package loadtest runs the exporter binary against the fake SCP API in a
// process of its own. Run it with `make loadtest` (the matrix) or
//
//	go test -tags loadtest -count=1 -timeout 60m -v -run Load ./loadtest
//	go test -tags loadtest -count=1 -timeout 30m -v -run 'Estate|Throttled' ./loadtest
//
// TestLoad, the matrix, sets what one scrape costs at 100 to 10,000 images
// beside the floor the API imposes (⌈N/C⌉·L) and beside a minimal
// hand-written client of the same API, with the budget out of the way.
// SCP_LOADTEST_FULL=1 adds the slow cell (10,000 images at 50 ms, ~31 s a
// round); SCP_LOADTEST_IMAGES and SCP_LOADTEST_LATENCY choose another matrix
// ("100,1000" and "0,50ms").
//
// TestEstate and TestThrottled (scenario_test.go) run the exporter within an
// API budget, against a fake that throttles, scraped every 10 s as
// Prometheus would, and hold it to the bounds of issue 10: every image
// known within a small multiple of images ÷ budget. See BENCHMARKS.md for
// how to read their figures.
//
// TestSlowReaders (slowreaders_test.go) has 40 clients ask for /metrics at
// 10,000 images and never read, while a scraper scrapes every 2 s (issue
// 22): its success and the exporter's peak memory.
//
// Three processes take part: the fake API (this test binary run again in a
// fake-only mode, so its CPU counts for neither side), the exporter, and this
// test, which scrapes the exporter and runs the reference client. Only one of
// exporter and reference client works at a time.
package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/scp"
)

// concurrency is the exporter's max_concurrency in the matrix, and the
// reference client's workers.
const concurrency = 16

type cell struct {
	images  int
	latency time.Duration
}

func (c cell) floor() time.Duration {
	return time.Duration((c.images+concurrency-1)/concurrency) * c.latency
}

// reps is how many measured rounds a cell gets: enough CPU ticks to count,
// within a few minutes.
func (c cell) reps() int {
	switch {
	case c.latency > 0 && c.images >= 10000:
		return 1
	case c.latency > 0:
		return 3
	case c.images <= 100:
		return 30
	case c.images <= 1000:
		return 15
	}
	return 7
}

func cells(t *testing.T) []cell {
	imgs := []int{100, 1000, 10000}
	lats := []time.Duration{0, 50 * time.Millisecond}
	if s := os.Getenv("SCP_LOADTEST_IMAGES"); s != "" {
		imgs = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("SCP_LOADTEST_IMAGES: %v", err)
			}
			imgs = append(imgs, n)
		}
	}
	if s := os.Getenv("SCP_LOADTEST_LATENCY"); s != "" {
		lats = nil
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "0" {
				f = "0s"
			}
			d, err := time.ParseDuration(f)
			if err != nil {
				t.Fatalf("SCP_LOADTEST_LATENCY: %v", err)
			}
			lats = append(lats, d)
		}
	}
	full := os.Getenv("SCP_LOADTEST_FULL") != ""
	var out []cell
	for _, l := range lats {
		for _, n := range imgs {
			if n >= 10000 && l > 0 && !full && os.Getenv("SCP_LOADTEST_IMAGES") == "" {
				t.Logf("skipping images=%d latency=%s (~%s a round); SCP_LOADTEST_FULL=1 runs it", n, l, cell{n, l}.floor())
				continue
			}
			out = append(out, cell{n, l})
		}
	}
	return out
}

// row is one cell's figures.
type row struct {
	cell
	exporterWall, referenceWall time.Duration // medians
	exporterCPU, referenceCPU   time.Duration // per scrape / round, means
	collect                     time.Duration // median scp_scrape_duration_seconds
	render                      time.Duration // median of wall − collect: rendering and sending /metrics
	hwmStart                    int64         // exporter VmHWM after start-up: the first listings, no scrape yet
	hwm, hwm4                   int64         // exporter VmHWM after one scrape at a time, and after four at once
	startupCalls                int           // calls besides members calls before the first scrape (listings)
	showImage                   int           // GET /v1/images/{id} calls over the whole cell
	expConns, refConns          float64       // connections opened per measured scrape / round
	bodyBytes, gzipBytes        int
	series                      int
	coalescedCalls              int // API calls made for four simultaneous scrapes
}

func TestLoad(t *testing.T) {
	bin := buildExporter(t)
	var rows []row
	for _, c := range cells(t) {
		name := fmt.Sprintf("images=%d/latency=%s", c.images, c.latency)
		t.Run(name, func(t *testing.T) { rows = append(rows, runCell(t, bin, c)) })
	}
	report(t, rows)
}

func runCell(t *testing.T, bin string, c cell) row {
	fakeURL := startFake(t, fakeSpec{Images: c.images, Latency: c.latency})
	exp := startExporter(t, bin, fakeURL, exporterConfig{images: c.images, concurrency: concurrency,
		requestsPerSecond: 1000000, requestTimeout: time.Minute, scrapeTimeout: 10 * time.Minute})
	ref := newReference(fakeURL, concurrency)
	ids := make([]string, c.images)
	for i := range ids {
		ids[i] = imageID(i)
	}

	// The exporter lists the account's images when it starts, to learn the
	// configured images' visibility: a few pages, no members call (on
	// demand, members wait for a scrape). Let that finish first.
	r := row{cell: c}
	list, pending := listingCalls(c.images)
	r.startupCalls = settle(t, fakeURL, list+pending)
	r.hwmStart = exp.hwm(t)
	if n := apiCalls(t, fakeURL); n != 0 {
		t.Errorf("the exporter made %d members calls before the first scrape, want 0 (on demand)", n)
	}
	// Warm up both: open the connections, grow the heaps.
	exp.scrape(t)
	if err := ref.round(ids); err != nil {
		t.Fatalf("reference client: %v", err)
	}

	var ew, rw, collect, render []time.Duration
	var ecpu, rcpu time.Duration
	var econns, rconns int
	for range c.reps() {
		calls := apiCalls(t, fakeURL)
		conns := apiConnections(t, fakeURL)
		cpu0 := exp.cpu(t)
		s := exp.scrape(t)
		ecpu += exp.cpu(t) - cpu0
		econns += apiConnections(t, fakeURL) - conns
		if got := apiCalls(t, fakeURL) - calls; got != c.images {
			t.Errorf("one scrape made %d API calls, want %d", got, c.images)
		}
		if s.failed > 0 {
			t.Errorf("%d images not fetched in a scrape", s.failed)
		}
		ew = append(ew, s.wall)
		collect = append(collect, s.collect)
		render = append(render, s.wall-s.collect)
		r.bodyBytes, r.gzipBytes, r.series = s.bodyBytes, s.gzipBytes, s.series

		conns = apiConnections(t, fakeURL)
		ru0 := rusage(t)
		start := time.Now()
		if err := ref.round(ids); err != nil {
			t.Fatalf("reference client: %v", err)
		}
		rw = append(rw, time.Since(start))
		rcpu += rusage(t) - ru0
		rconns += apiConnections(t, fakeURL) - conns
	}
	r.expConns = float64(econns) / float64(c.reps())
	r.refConns = float64(rconns) / float64(c.reps())
	r.hwm = exp.hwm(t)
	r.exporterWall, r.referenceWall = median(ew), median(rw)
	r.collect, r.render = median(collect), median(render)
	r.exporterCPU = ecpu / time.Duration(c.reps())
	r.referenceCPU = rcpu / time.Duration(c.reps())

	// Four scrapes at the same moment share one pass of API calls.
	calls := apiCalls(t, fakeURL)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, errs[i] = exp.tryScrape("600")
		}()
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("simultaneous scrape: %v", err)
		}
	}
	r.coalescedCalls = apiCalls(t, fakeURL) - calls
	if limit := c.images + c.images/20; r.coalescedCalls > limit {
		t.Errorf("four simultaneous scrapes made %d API calls, want at most %d (1.05 × %d)", r.coalescedCalls, limit, c.images)
	}
	r.hwm4 = exp.hwm(t)
	if c.images >= 10000 && r.hwm4 > 64<<20 {
		t.Errorf("VmHWM %.1f MiB (%.1f MiB after start-up), want at most 64 MiB", float64(r.hwm4)/(1<<20), float64(r.hwmStart)/(1<<20))
	}
	st := apiStats(t, fakeURL)
	r.showImage = st.Calls["show_image"]
	if r.showImage != 0 {
		t.Errorf("%d show_image calls, want 0: the listings cover every image", r.showImage)
	}
	if st.Calls["list_images"] != list {
		t.Errorf("%d list_images calls, want %d (one refresh of the listings)", st.Calls["list_images"], list)
	}
	t.Logf("exporter %v (collect %v, render %v, cpu %v) reference %v (cpu %v), floor %v, start-up: %d listing calls, VmHWM %.1f MiB; VmHWM %.1f MiB",
		r.exporterWall, r.collect, r.render, r.exporterCPU, r.referenceWall, r.referenceCPU, c.floor(), r.startupCalls, float64(r.hwmStart)/(1<<20), float64(r.hwm4)/(1<<20))
	return r
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// report prints the table BENCHMARKS.md shows, and the targets' verdicts.
func report(t *testing.T, rows []row) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nC=%d, GOMAXPROCS of every process = %d cores; walls are medians, CPU means per scrape\n\n", concurrency, numCPU())
	fmt.Fprintln(&b, "| images | latency | ⌈N/C⌉·L | exporter wall | reference wall | exp/ref wall | exp/floor | collect | render | exporter CPU | CPU/image | reference CPU | exp/ref CPU | VmHWM after start-up | VmHWM | VmHWM, 4 at once | /metrics | gzip | series | new conns exp/ref | 4 scrapes: API calls | start-up calls |")
	fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		floor, expFloor := "–", "–"
		if r.latency > 0 {
			floor = fmtDur(r.floor())
			expFloor = fmt.Sprintf("%.2f×", float64(r.exporterWall)/float64(r.floor()))
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %.2f× | %s | %s | %s | %s | %.1f µs | %s | %.2f× | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.0f KiB | %d | %.1f / %.1f | %d (%.3f×N) | %d |\n",
			r.images, fmtDur(r.latency), floor, fmtDur(r.exporterWall), fmtDur(r.referenceWall),
			float64(r.exporterWall)/float64(r.referenceWall), expFloor, fmtDur(r.collect), fmtDur(r.render),
			fmtDur(r.exporterCPU), float64(r.exporterCPU.Microseconds())/float64(r.images), fmtDur(r.referenceCPU),
			float64(r.exporterCPU)/float64(max(r.referenceCPU, 1)), float64(r.hwmStart)/(1<<20), float64(r.hwm)/(1<<20), float64(r.hwm4)/(1<<20),
			float64(r.bodyBytes)/(1<<20), float64(r.gzipBytes)/1024, r.series, r.expConns, r.refConns,
			r.coalescedCalls, float64(r.coalescedCalls)/float64(r.images), r.startupCalls)
	}
	fmt.Fprintln(&b, "\nTargets:")
	for _, r := range rows {
		wall := float64(r.exporterWall) / float64(r.referenceWall)
		cpu := float64(r.exporterCPU) / float64(max(r.referenceCPU, 1))
		switch {
		case r.images == 1000 && r.latency == 50*time.Millisecond:
			fmt.Fprintf(&b, "- 1,000 images, 50 ms: wall %.2f× reference (target ≤ 1.1×: %s); CPU %.2f× reference (target ≤ 2×: %s)\n",
				wall, verdict(wall <= 1.1), cpu, verdict(cpu <= 2))
		case r.images == 10000 && r.latency == 0:
			fmt.Fprintf(&b, "- 10,000 images, 0 ms: wall %.2f× reference (target ≤ 1.2×: %s)\n", wall, verdict(wall <= 1.2))
			// The bound issue 11 holds the exporter to. A run on a machine
			// busy with other work can say so with SCP_LOADTEST_NOISY=1.
			if wall > 1.2 && os.Getenv("SCP_LOADTEST_NOISY") == "" {
				t.Errorf("10,000 images: wall %.2f× the reference client, want at most 1.2× (SCP_LOADTEST_NOISY=1 reports it only)", wall)
			}
		}
		if r.images >= 10000 {
			fmt.Fprintf(&b, "- %d images, %s: VmHWM %.1f MiB after start-up (the first listings), %.1f MiB after scrapes, %.1f MiB with four simultaneous scrapes (target ≤ 64 MiB: %s)\n",
				r.images, fmtDur(r.latency), float64(r.hwmStart)/(1<<20), float64(r.hwm)/(1<<20), float64(r.hwm4)/(1<<20), verdict(r.hwm4 <= 64<<20))
		}
		fmt.Fprintf(&b, "- %d images, %s: start-up made %d calls (listings), %d show_image calls in all (target 0: %s)\n",
			r.images, fmtDur(r.latency), r.startupCalls, r.showImage, verdict(r.showImage == 0))
		fmt.Fprintf(&b, "- %d images, %s: four simultaneous scrapes made %d API calls (target ≤ 1.05×N: %s)\n",
			r.images, fmtDur(r.latency), r.coalescedCalls, verdict(r.coalescedCalls*100 <= r.images*105))
	}
	fmt.Print(b.String())
	if out := os.Getenv("SCP_LOADTEST_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func numCPU() int {
	n := 0
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

// --- the reference client ---

// reference is the plainest client of the members API: C workers, a
// keep-alive pool of at least C, the signature, the JSON decoded. No
// retries, metrics, rate limit or validation.
type reference struct {
	base    string
	hc      *http.Client
	version string
	secret  []byte
}

func newReference(base string, c int) *reference {
	v, _ := scp.LookupAPIVersion(scp.DefaultAPIVersion)
	return &reference{
		base:    base,
		hc:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}},
		version: v.HeaderValue(),
		secret:  []byte(secretKey),
	}
}

type refMembers struct {
	Members []struct {
		MemberID  string `json:"member_id"`
		Status    string `json:"status"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
	} `json:"members"`
}

func (r *reference) round(ids []string) error {
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(ids) {
					return
				}
				if err := r.get(ids[j]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d calls failed, e.g. %v", n, firstErr.Load())
	}
	return nil
}

func (r *reference) get(id string) error {
	url := r.base + "/v1/images/" + id + "/members"
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	ts := scp.Timestamp(time.Now())
	req.Header.Set(scp.HeaderAccessKey, accessKey)
	req.Header.Set(scp.HeaderTimestamp, ts)
	req.Header.Set(scp.HeaderClientType, scp.ClientType)
	req.Header.Set(scp.HeaderAPIVersion, r.version)
	req.Header.Set(scp.HeaderSignature, scp.Sign(scp.SigningInput{
		Method: http.MethodGet, URL: url, Timestamp: ts, AccessKey: accessKey, ClientType: scp.ClientType,
	}, r.secret))
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var m refMembers
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
