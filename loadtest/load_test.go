//go:build loadtest

// Package loadtest runs the exporter binary against the fake SCP API at
// 100 to 10,000 images and sets what one scrape costs beside the floor the
// API imposes (⌈N/C⌉·L) and beside a minimal hand-written client of the same
// API. Run it with `make loadtest` or
//
//	go test -tags loadtest ./loadtest -run Load -v -timeout 60m
//
// SCP_LOADTEST_FULL=1 adds the slow cell (10,000 images at 50 ms, ~31 s a
// round); SCP_LOADTEST_IMAGES and SCP_LOADTEST_LATENCY choose another matrix
// ("100,1000" and "0,50ms"). See BENCHMARKS.md for how to read the table.
//
// Three processes take part: the fake API (this test binary run again in a
// fake-only mode, so its CPU counts for neither side), the exporter, and this
// test, which scrapes the exporter and runs the reference client. Only one of
// exporter and reference client works at a time.
package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testproc"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	accessKey   = "loadtest-access-key"
	secretKey   = "loadtest-secret-key" // a test value
	concurrency = 16
	// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
	// (100 on every Linux this runs on).
	clockTick = 10 * time.Millisecond

	envFakeMode = "SCP_LOADTEST_FAKE"      // "<images>,<latency>": run as the fake API
	countPath   = "/_loadtest/requests"    // members calls so far
	otherPath   = "/_loadtest/other"       // other calls (discovery's, in the background)
	connsPath   = "/_loadtest/connections" // connections accepted so far
)

const (
	memberExpected = "a8f10467abfc4b87b64614ab36eb9ae4"
	memberOther    = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
)

func imageID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func TestMain(m *testing.M) {
	if spec := os.Getenv(envFakeMode); spec != "" {
		os.Exit(serveFake(spec))
	}
	os.Exit(m.Run())
}

// serveFake is the fake-API process: n images of three members each, latency
// on every answer, a request counter at countPath. It prints its address and
// serves until its stdin closes (when the test ends, however it ends).
func serveFake(spec string) int {
	n, l, _ := strings.Cut(spec, ",")
	images, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	latency, err := time.ParseDuration(l)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, Latency: latency})
	for i := range images {
		fake.SetMembers(imageID(i),
			scptest.Member{MemberID: memberExpected, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
			scptest.Member{MemberID: memberOther, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"},
			scptest.Member{MemberID: fmt.Sprintf("%032x", i), Status: "rejected", CreatedAt: "2025-01-02T03:04:05Z", UpdatedAt: "2025-02-03T04:05:06Z"},
		)
	}
	mux := http.NewServeMux()
	var conns, members atomic.Int64
	mux.HandleFunc(countPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, members.Load()) })
	mux.HandleFunc(otherPath, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, int64(fake.TotalRequests())-members.Load())
	})
	mux.HandleFunc(connsPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, conns.Load()) })
	mux.HandleFunc("GET /v1/images/{id}/members", func(w http.ResponseWriter, r *http.Request) {
		members.Add(1)
		fake.ServeHTTP(w, r)
	})
	mux.Handle("/", fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	srv.Serve(ln)
	return 0
}

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
	hwm, hwm4                   int64         // exporter VmHWM after one scrape at a time, and after four at once
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
	fakeURL := startFake(t, c)
	exp := startExporter(t, bin, fakeURL, c.images)
	ref := newReference(fakeURL, concurrency)
	ids := make([]string, c.images)
	for i := range ids {
		ids[i] = imageID(i)
	}

	// The exporter looks up each static image's visibility in the
	// background when it starts; let that finish first.
	settle(t, fakeURL)
	// Warm up both: open the connections, grow the heaps.
	exp.scrape(t)
	if err := ref.round(ids); err != nil {
		t.Fatalf("reference client: %v", err)
	}

	r := row{cell: c}
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

	// Four scrapes at the same moment share one round of API calls.
	calls := apiCalls(t, fakeURL)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, errs[i] = exp.tryScrape()
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
	t.Logf("exporter %v (collect %v, render %v, cpu %v) reference %v (cpu %v), floor %v, VmHWM %.1f MiB",
		r.exporterWall, r.collect, r.render, r.exporterCPU, r.referenceWall, r.referenceCPU, c.floor(), float64(r.hwm4)/(1<<20))
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
	fmt.Fprintln(&b, "| images | latency | ⌈N/C⌉·L | exporter wall | reference wall | exp/ref wall | exp/floor | collect | render | exporter CPU | CPU/image | reference CPU | exp/ref CPU | VmHWM | VmHWM, 4 at once | /metrics | gzip | series | new conns exp/ref | 4 scrapes: API calls |")
	fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		floor, expFloor := "–", "–"
		if r.latency > 0 {
			floor = fmtDur(r.floor())
			expFloor = fmt.Sprintf("%.2f×", float64(r.exporterWall)/float64(r.floor()))
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %.2f× | %s | %s | %s | %s | %.1f µs | %s | %.2f× | %.1f MiB | %.1f MiB | %.1f MiB | %.0f KiB | %d | %.1f / %.1f | %d (%.3f×N) |\n",
			r.images, fmtDur(r.latency), floor, fmtDur(r.exporterWall), fmtDur(r.referenceWall),
			float64(r.exporterWall)/float64(r.referenceWall), expFloor, fmtDur(r.collect), fmtDur(r.render),
			fmtDur(r.exporterCPU), float64(r.exporterCPU.Microseconds())/float64(r.images), fmtDur(r.referenceCPU),
			float64(r.exporterCPU)/float64(max(r.referenceCPU, 1)), float64(r.hwm)/(1<<20), float64(r.hwm4)/(1<<20),
			float64(r.bodyBytes)/(1<<20), float64(r.gzipBytes)/1024, r.series, r.expConns, r.refConns,
			r.coalescedCalls, float64(r.coalescedCalls)/float64(r.images))
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
			fmt.Fprintf(&b, "- 10,000 images, 0 ms: wall %.2f× reference (target ≤ 1.2×: %s); VmHWM %.1f MiB, %.1f MiB with four simultaneous scrapes (target ≤ 64 MiB: %s)\n",
				wall, verdict(wall <= 1.2), float64(r.hwm)/(1<<20), float64(r.hwm4)/(1<<20), verdict(r.hwm4 <= 64<<20))
		}
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

// --- processes ---

func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scp_exporter")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startFake runs this test binary as the fake API and returns its URL.
func startFake(t *testing.T, c cell) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s", envFakeMode, c.images, c.latency))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("fake API did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("fake API said %q", line)
	}
	return "http://" + addr
}

func apiCalls(t *testing.T, fakeURL string) int {
	t.Helper()
	return fakeCounter(t, fakeURL+countPath)
}

// apiConnections is how many connections the fake has accepted, the
// test's own counter requests included.
func apiConnections(t *testing.T, fakeURL string) int {
	t.Helper()
	return fakeCounter(t, fakeURL+connsPath)
}

// settle waits until the fake has seen no calls besides members calls for
// a second, and logs how many there were.
func settle(t *testing.T, fakeURL string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	last := -1
	for {
		n := fakeCounter(t, fakeURL+otherPath)
		if n == last {
			if n > 0 {
				t.Logf("the exporter made %d background calls (discovery) before the measurements", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("background calls did not settle")
		}
		last = n
		time.Sleep(time.Second)
	}
}

func fakeCounter(t *testing.T, url string) int {
	t.Helper()
	resp, err := counterClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("counter %q: %v", b, err)
	}
	return n
}

// counterClient keeps one connection to the fake for reading its counters.
var counterClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

type exporter struct {
	url    string
	cmd    *exec.Cmd
	client *http.Client
}

func startExporter(t *testing.T, bin, fakeURL string, images int) *exporter {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `scp:
  endpoint: %s
  access_key: %s
  secret_key: %s
  max_concurrency: %d
  requests_per_second: 1000000
  request_timeout: 60s
scrape_timeout: 10m
expected_members: [%s]
images:
`, fakeURL, accessKey, secretKey, concurrency, memberExpected)
	for i := range images {
		fmt.Fprintf(&cfg, "  - {id: %s, name: image-%d}\n", imageID(i), i)
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+path, "--web.listen-address="+addr, "--log.level=warn")
	proc := testproc.Start(t, "exporter", cmd, 10*time.Second)
	e := &exporter{url: "http://" + addr, cmd: cmd, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	proc.WaitUntil(t, 30*time.Second, func() bool {
		resp, err := http.Get(e.url + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

type scrapeResult struct {
	wall, collect        time.Duration
	bodyBytes, gzipBytes int
	series, failed       int
}

// scrape fetches /metrics the way Prometheus does (its Accept header,
// gzip, its timeout header) and reads the collection's own duration.
func (e *exporter) scrape(t *testing.T) scrapeResult {
	t.Helper()
	r, err := e.tryScrape()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *exporter) tryScrape() (scrapeResult, error) {
	var r scrapeResult
	req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "600")
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return r, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.wall = time.Since(start)
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("scrape answered %d", resp.StatusCode)
	}
	r.gzipBytes = len(raw)
	body := raw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return r, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return r, err
		}
	}
	r.bodyBytes = len(body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		r.series++
		if v, ok := strings.CutPrefix(line, "scp_scrape_duration_seconds "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			r.collect = time.Duration(f * float64(time.Second))
		}
		if strings.HasPrefix(line, "scp_image_members_scrape_success{") && strings.HasSuffix(line, " 0") {
			r.failed++
		}
	}
	return r, nil
}

// cpu is the exporter's user+system CPU time so far (/proc/<pid>/stat).
func (e *exporter) cpu(t *testing.T) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// hwm is the exporter's peak resident set size (VmHWM).
func (e *exporter) hwm(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// rusage is this process's user+system CPU time so far.
func rusage(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
