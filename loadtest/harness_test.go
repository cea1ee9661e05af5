//go:build loadtest

package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
	"github.com/scp-exporter/scp_exporter/scp"
	"github.com/scp-exporter/scp_exporter/scp/scptest"
)

const (
	accessKey = "loadtest-access-key"
	secretKey = "loadtest-secret-key" // a test value
	// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
	// (100 on every Linux this runs on).
	clockTick = 10 * time.Millisecond

	envFakeMode = "SCP_LOADTEST_FAKE"      // a fakeSpec in JSON: run as the fake API
	countPath   = "/_loadtest/requests"    // members calls so far
	otherPath   = "/_loadtest/other"       // other calls (the listings, in the background)
	connsPath   = "/_loadtest/connections" // connections accepted so far
	statsPath   = "/_loadtest/stats"       // scptest.Stats as JSON
	// sharePath: POST ?member=ID arms the fake to share the next image whose
	// members it serves with ID, just after serving them (the old members),
	// and forgets the last share added; with &user=U it also logs the share
	// in the audit trail (GET /v1/logs) as U, at the same moment; with
	// &now=1 it shares at once the image of the highest index whose
	// members it has not served yet (one the exporter never fetched). GET
	// answers a shareAdded, empty until that happened.
	sharePath = "/_loadtest/share"
	// auditFaultPath: POST ?status=N makes GET /v1/logs answer N from now
	// on (with &retry_after=S, a Retry-After of S); status=0 (or none)
	// makes it answer again.
	auditFaultPath = "/_loadtest/audit-fault"
	// auditStormPath: POST ?per=N logs, every 5 s from now on, an audit
	// event on each of N images drawn at random from the fake's list.
	auditStormPath = "/_loadtest/audit-storm"
)

const (
	memberExpected = "a8f10467abfc4b87b64614ab36eb9ae4"
	memberOther    = "3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f"
	// memberNew is the share added while a scenario runs: in no
	// expected_members list.
	memberNew = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
	// imageOwner owns every image of the fake's list.
	imageOwner = "0123456789abcdef0123456789abcdef"
)

func imageID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// imageVisibility: one image in four is shared, the others private, so both
// listings have pages.
func imageVisibility(i int) string {
	if i%4 == 0 {
		return "shared"
	}
	return "private"
}

// listingCalls is how many calls one refresh of the listings makes for n
// images: the pages of each visibility (a page of fewer than 1,000 ends
// it) and the offered images.
func listingCalls(n int) (listImages, pending int) {
	shared := (n + 3) / 4
	return shared/scp.ImagePageSize + 1 + (n-shared)/scp.ImagePageSize + 1, 1
}

func imageMembers(i int) []scptest.Member {
	return []scptest.Member{
		{MemberID: memberExpected, Status: "accepted", CreatedAt: "2025-07-22T09:00:00Z", UpdatedAt: "2025-07-26T12:00:00Z"},
		{MemberID: memberOther, Status: "pending", CreatedAt: "2025-11-02T08:30:00Z", UpdatedAt: "2025-11-02T08:30:00.5Z"},
		{MemberID: fmt.Sprintf("%032x", i), Status: "rejected", CreatedAt: "2025-01-02T03:04:05Z", UpdatedAt: "2025-02-03T04:05:06Z"},
	}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(envFakeMode); spec != "" {
		os.Exit(serveFake(spec))
	}
	os.Exit(m.Run())
}

// fakeSpec configures the fake-API process.
type fakeSpec struct {
	Images  int           `json:"images"`
	Latency time.Duration `json:"latency"`
	// ThrottleRate and ThrottleBurst are scptest.Options'.
	ThrottleRate  float64 `json:"throttle_rate,omitempty"`
	ThrottleBurst int     `json:"throttle_burst,omitempty"`
}

// shareAdded is what sharePath answers once the share is added.
type shareAdded struct {
	Image string `json:"image,omitempty"`
	// At is when, in Unix nanoseconds (the same clock as the test's).
	At int64 `json:"at,omitempty"`
	// Event is the ID of the audit event logged with the share, if any.
	Event string `json:"event,omitempty"`
	// Fetched is when the fake next served the image's members (now with
	// the share), in Unix nanoseconds; 0 until then.
	Fetched int64 `json:"fetched,omitempty"`
	// Polled is when the fake first answered GET /v1/logs (200) to a call
	// whose window holds the event (end_at not before it), in Unix
	// nanoseconds: the poll that read it. 0 until then, or without an
	// event.
	Polled int64 `json:"polled,omitempty"`
}

// shareEventName is the event_name of the audit event a share is logged
// with (the SDK lists none; the exporter depends on none).
const shareEventName = "CreateImageMember"

// serveFake is the fake-API process: n images of three members each, in
// the image list (private or shared, one owner), latency on every answer,
// throttling if asked, counters at the _loadtest paths. It prints its
// address and serves until its stdin closes (when the test ends, however it
// ends).
func serveFake(spec string) int {
	var s fakeSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fake := scptest.New(scptest.Options{AccessKey: accessKey, SecretKey: secretKey, Latency: s.Latency,
		ThrottleRate: s.ThrottleRate, ThrottleBurst: s.ThrottleBurst})
	for i := range s.Images {
		id := imageID(i)
		fake.SetMembers(id, imageMembers(i)...)
		fake.AddImages(scptest.Image{ID: id, Name: fmt.Sprintf("image-%d", i), Status: "active",
			Visibility: imageVisibility(i), Owner: imageOwner})
	}
	mux := http.NewServeMux()
	var conns, members atomic.Int64
	var share struct {
		sync.Mutex
		member string // armed: share the next image served with member
		user   string // armed: log the share as this user
		events int    // audit events logged so far
		added  shareAdded
		served map[string]bool // images whose members were served
	}
	share.served = map[string]bool{}
	mux.HandleFunc(countPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, members.Load()) })
	mux.HandleFunc(otherPath, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, int64(fake.TotalRequests())-members.Load())
	})
	mux.HandleFunc(connsPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, conns.Load()) })
	mux.HandleFunc(statsPath, func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(fake.Stats()) })
	// add shares image i with share.member now, logged as share.user;
	// share must be locked.
	add := func(i int) {
		id, now := imageID(i), time.Now()
		fake.SetMembers(id, append(imageMembers(i), scptest.Member{MemberID: share.member, Status: "pending",
			CreatedAt: now.UTC().Format(time.RFC3339), UpdatedAt: now.UTC().Format(time.RFC3339)})...)
		share.added = shareAdded{Image: id, At: now.UnixNano()}
		if share.user != "" {
			share.events++
			share.added.Event = fmt.Sprintf("loadtest-event-%d", share.events)
			fake.AddAuditEvents(scptest.AuditEvent{ID: share.added.Event, Timestamp: now.UTC().Format(time.RFC3339Nano),
				EventName: shareEventName, EventType: "MANAGEMENT", ResourceID: id, ResourceName: fmt.Sprintf("image-%d", i),
				ResourceType: "Image", ProductName: "Virtual Server", Status: "SUCCESS", UserID: share.user, UserName: share.user,
				ServiceType: "scp-virtualserver"})
		}
		share.member, share.user = "", ""
	}
	mux.HandleFunc("POST "+sharePath, func(w http.ResponseWriter, r *http.Request) {
		share.Lock()
		defer share.Unlock()
		share.member = r.URL.Query().Get("member")
		share.user = r.URL.Query().Get("user")
		share.added = shareAdded{}
		if r.URL.Query().Get("now") != "" {
			for i := s.Images - 1; i >= 0; i-- {
				if !share.served[imageID(i)] {
					add(i)
					return
				}
			}
			http.Error(w, "every image has been served", http.StatusConflict)
		}
	})
	mux.HandleFunc("POST "+auditFaultPath, func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		fake.SetFault(scptest.AuditLogsKey, scptest.Fault{Status: status, RetryAfter: r.URL.Query().Get("retry_after")})
	})
	mux.HandleFunc("POST "+auditStormPath, func(w http.ResponseWriter, r *http.Request) {
		per, err := strconv.Atoi(r.URL.Query().Get("per"))
		if err != nil || per <= 0 || s.Images == 0 {
			http.Error(w, "per must be a positive number", http.StatusBadRequest)
			return
		}
		go func() {
			for n := 0; ; n++ {
				now := time.Now().UTC()
				events := make([]scptest.AuditEvent, per)
				for k := range events {
					i := rand.IntN(s.Images) //nolint:gosec // G404: which images a storm names needs no secrecy
					events[k] = scptest.AuditEvent{ID: fmt.Sprintf("storm-%d-%d", n, k), Timestamp: now.Format(time.RFC3339Nano),
						EventName: "UpdateImage", ResourceID: imageID(i), ResourceType: "Image", UserID: "storm", ServiceType: "scp-virtualserver"}
				}
				fake.AddAuditEvents(events...)
				time.Sleep(5 * time.Second)
			}
		}()
	})
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		end, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("end_at"))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		fake.ServeHTTP(rec, r)
		share.Lock()
		defer share.Unlock()
		if a := &share.added; a.Event != "" && a.Polled == 0 && err == nil && end.UnixNano() >= a.At && rec.status == http.StatusOK {
			a.Polled = time.Now().UnixNano()
		}
	})
	mux.HandleFunc("GET "+sharePath, func(w http.ResponseWriter, _ *http.Request) {
		share.Lock()
		defer share.Unlock()
		json.NewEncoder(w).Encode(share.added)
	})
	mux.HandleFunc("GET /v1/images/{id}/members", func(w http.ResponseWriter, r *http.Request) {
		members.Add(1)
		share.Lock()
		armed := share.member != ""
		watch := share.added.Image != "" && share.added.Fetched == 0 && share.added.Image == r.PathValue("id")
		share.served[r.PathValue("id")] = true
		share.Unlock()
		if !armed && !watch {
			fake.ServeHTTP(w, r)
			return
		}
		if !armed {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			fake.ServeHTTP(rec, r)
			if rec.status == http.StatusOK {
				share.Lock()
				if share.added.Fetched == 0 {
					share.added.Fetched = time.Now().UnixNano()
				}
				share.Unlock()
			}
			return
		}
		id := r.PathValue("id") // before the fake's own mux routes r, replacing its path values
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		fake.ServeHTTP(rec, r)
		if rec.status != http.StatusOK {
			return
		}
		// The exporter has (or is reading) the old members: the new share
		// is seen only at the image's next fetch, the worst case.
		i, err := strconv.ParseInt(id[:min(8, len(id))], 16, 64)
		share.Lock()
		defer share.Unlock()
		if share.member == "" || err != nil {
			return
		}
		add(int(i))
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

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
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
func startFake(t *testing.T, s fakeSpec) string {
	t.Helper()
	spec, _ := json.Marshal(s)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envFakeMode+"="+string(spec))
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

func apiStats(t *testing.T, fakeURL string) scptest.Stats {
	t.Helper()
	var s scptest.Stats
	fakeJSON(t, fakeURL+statsPath, &s)
	return s
}

// settle waits until the exporter's first listings are done (at least
// want calls besides members calls, then none for a second), and returns
// how many there were.
func settle(t *testing.T, fakeURL string, want int) int {
	t.Helper()
	const quiet, timeout = time.Second, 5 * time.Minute
	last, changed := -1, time.Now()
	settled := testwait.Until(timeout, func() bool {
		if n := fakeCounter(t, fakeURL+otherPath); n != last {
			last, changed = n, time.Now()
		}
		return last >= want && time.Since(changed) >= quiet
	})
	if !settled {
		t.Fatalf("background calls did not settle within %v: %d, want at least %d", timeout, last, want)
	}
	return last
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

func fakeJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := counterClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// armShare makes the fake share the next image whose members it serves
// with member, just after serving them.
func armShare(t *testing.T, fakeURL, member string) {
	t.Helper()
	armShareLogged(t, fakeURL, member, "")
}

// armShareLogged is armShare, the share also logged in the audit trail as
// made by user (when user is not empty).
func armShareLogged(t *testing.T, fakeURL, member, user string) {
	t.Helper()
	q := "?member=" + member
	if user != "" {
		q += "&user=" + user
	}
	resp, err := counterClient.Post(fakeURL+sharePath+q, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// startAuditStorm makes the fake log, every 5 s, an event on each of per
// images drawn at random.
func startAuditStorm(t *testing.T, fakeURL string, per int) {
	t.Helper()
	resp, err := counterClient.Post(fakeURL+auditStormPath+"?per="+strconv.Itoa(per), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// shareUnfetched makes the fake share, at once, an image whose members it
// has not served yet with member, logged in the audit trail as user.
func shareUnfetched(t *testing.T, fakeURL, member, user string) {
	t.Helper()
	resp, err := counterClient.Post(fakeURL+sharePath+"?now=1&member="+member+"&user="+user, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sharing an image not fetched yet: %s", resp.Status)
	}
}

// setAuditFault makes the fake's audit trail answer status (0: answer).
func setAuditFault(t *testing.T, fakeURL string, status int) {
	t.Helper()
	setAuditFaultRetry(t, fakeURL, status, "")
}

// setAuditFaultRetry is setAuditFault with a Retry-After (none if empty).
func setAuditFaultRetry(t *testing.T, fakeURL string, status int, retryAfter string) {
	t.Helper()
	resp, err := counterClient.Post(fakeURL+auditFaultPath+"?status="+strconv.Itoa(status)+"&retry_after="+retryAfter, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func shareState(t *testing.T, fakeURL string) shareAdded {
	t.Helper()
	var s shareAdded
	fakeJSON(t, fakeURL+sharePath, &s)
	return s
}

// counterClient keeps one connection to the fake for reading its counters.
var counterClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

type exporter struct {
	url     string
	cmd     *exec.Cmd
	client  *http.Client
	started time.Time // when the process was started
}

// exporterConfig is what a run sets in the exporter's config; zero values
// leave the exporter's defaults.
type exporterConfig struct {
	images            int
	concurrency       int
	requestsPerSecond float64
	requestTimeout    time.Duration
	scrapeTimeout     time.Duration
	refreshInterval   time.Duration
	// auditPollInterval, when > 0, follows the audit trail (audit.enabled)
	// at that interval, read from the fake (scp.audit_endpoint).
	auditPollInterval time.Duration
}

func (c exporterConfig) yaml(fakeURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scp:\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n", fakeURL, accessKey, secretKey)
	if c.concurrency > 0 {
		fmt.Fprintf(&b, "  max_concurrency: %d\n", c.concurrency)
	}
	if c.requestsPerSecond > 0 {
		fmt.Fprintf(&b, "  requests_per_second: %g\n", c.requestsPerSecond)
	}
	if c.requestTimeout > 0 {
		fmt.Fprintf(&b, "  request_timeout: %s\n", c.requestTimeout)
	}
	if c.auditPollInterval > 0 {
		fmt.Fprintf(&b, "  audit_endpoint: %s\n", fakeURL)
	}
	if c.scrapeTimeout > 0 {
		fmt.Fprintf(&b, "scrape_timeout: %s\n", c.scrapeTimeout)
	}
	if c.refreshInterval > 0 {
		fmt.Fprintf(&b, "members:\n  refresh_interval: %s\n", c.refreshInterval)
	}
	if c.auditPollInterval > 0 {
		fmt.Fprintf(&b, "audit:\n  enabled: true\n  poll_interval: %s\n", c.auditPollInterval)
	}
	fmt.Fprintf(&b, "expected_members: [%s]\nimages:\n", memberExpected)
	for i := range c.images {
		fmt.Fprintf(&b, "  - {id: %s, name: image-%d}\n", imageID(i), i)
	}
	return b.String()
}

func startExporter(t *testing.T, bin, fakeURL string, c exporterConfig) *exporter {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(c.yaml(fakeURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+path, "--web.listen-address="+addr, "--log.level=warn", "--storage.path="+filepath.Join(dir, "data"))
	e := &exporter{url: "http://" + addr, cmd: cmd, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}, started: time.Now()}
	proc := testproc.Start(t, "exporter", cmd, 10*time.Second)
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
	body                 []byte // uncompressed
}

// scrape fetches /metrics the way Prometheus does (its Accept header,
// gzip, its timeout header) and reads the collection's own duration.
func (e *exporter) scrape(t *testing.T) scrapeResult {
	t.Helper()
	r, err := e.tryScrape("600")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryScrape scrapes with timeout as X-Prometheus-Scrape-Timeout-Seconds; it
// waits for the answer however long it takes, so its wall time can be
// compared with the timeout.
func (e *exporter) tryScrape(timeout string) (scrapeResult, error) {
	var r scrapeResult
	req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
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
	r.body = body
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		r.series++
		if v, ok := strings.CutPrefix(line, "scp_scrape_duration_seconds "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			r.collect = time.Duration(f * float64(time.Second))
		}
		// OpenMetrics writes 0.0, the text format 0.
		if strings.HasPrefix(line, "scp_image_members_scrape_success{") && (strings.HasSuffix(line, " 0") || strings.HasSuffix(line, " 0.0")) {
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
	n, err := e.procStatus("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// procStatus reads a size field of the exporter's /proc/<pid>/status, in
// bytes.
func (e *exporter) procStatus(field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, e.cmd.Process.Pid)
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

// page is one /metrics answer, parsed: its samples by series name (the
// name Prometheus stores, counters with _total).
type page map[string][]*model.Sample

// parsePage parses a /metrics answer in the text format or OpenMetrics
// (what tryScrape asks for first) with expfmt's parser of the text format.
// Only the samples are read, each as untyped under its series name: the
// comments are left out, as OpenMetrics' differ (# EOF, quotes escaped in
// HELP, a counter's TYPE under its name without _total, which the Go
// collector's go_memstats_alloc_bytes gauge has too).
func parsePage(body []byte) (page, error) {
	var text bytes.Buffer
	for line := range bytes.Lines(body) {
		if !bytes.HasPrefix(line, []byte("#")) {
			text.Write(line)
		}
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(&text)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	p := page{}
	for _, mf := range families {
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mf)
		if err != nil {
			return nil, fmt.Errorf("parsing /metrics: %w", err)
		}
		for _, s := range vec {
			name := string(s.Metric[model.MetricNameLabel])
			p[name] = append(p[name], s)
		}
	}
	return p, nil
}

// series is the samples of name whose labels include want (all of them
// when want is empty).
func (p page) series(name string, want map[string]string) []*model.Sample {
	var out []*model.Sample
	for _, s := range p[name] {
		ok := true
		for k, v := range want {
			ok = ok && string(s.Metric[model.LabelName(k)]) == v
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// value is the value of the sample of name whose labels include want, or
// absent when there is none (the last when there are several).
func (p page) value(name string, want map[string]string, absent float64) float64 {
	s := p.series(name, want)
	if len(s) == 0 {
		return absent
	}
	return float64(s[len(s)-1].Value)
}

// known counts the images whose last members fetch succeeded.
func (p page) known() int {
	n := 0
	for _, s := range p.series("scp_image_members_scrape_success", nil) {
		if s.Value == 1 {
			n++
		}
	}
	return n
}

// pacedScrape is one scrape of pacedScrapes.
type pacedScrape struct {
	at, end time.Duration // scrape start and end, since the exporter was started
	wall    time.Duration
	err     error
	page    page // nil when err is not
}

// paced is what pacedScrapes counted.
type paced struct {
	timeout       time.Duration // the scrape timeout header: each scrape's deadline
	scrapes, late int           // late: over the deadline, or failed
	maxWall       time.Duration
}

// pacedScrapes scrapes exp as Prometheus would: every interval, one scrape
// at a time, with timeout as the scrape timeout header. It waits for each
// answer however long it takes (up to 5 minutes), so that how late an
// answer is gets measured rather than only detected, and fails the test
// for each scrape over its deadline, or failed. It hands each scrape to
// each, until each says done.
func pacedScrapes(t *testing.T, exp *exporter, interval, timeout time.Duration, each func(pacedScrape) (done bool)) paced {
	t.Helper()
	exp.client.Timeout = 5 * time.Minute
	header := strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)
	p := paced{timeout: timeout}
	for next := time.Now(); ; {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		sc := pacedScrape{at: time.Since(exp.started)}
		r, err := exp.tryScrape(header)
		sc.end = time.Since(exp.started)
		sc.wall, sc.err = r.wall, err
		p.scrapes++
		p.maxWall = max(p.maxWall, sc.wall)
		if sc.err != nil || sc.wall > timeout {
			p.late++
			t.Errorf("scrape at %s: answered after %s (deadline %s), err %v", fmtDur(sc.at), fmtDur(sc.wall), timeout, sc.err)
		}
		if sc.err == nil {
			if sc.page, err = parsePage(r.body); err != nil {
				t.Fatalf("scrape at %s: %v", fmtDur(sc.at), err)
			}
		}
		if each(sc) {
			return p
		}
	}
}

// line is the report's line on the scrapes.
func (p paced) line() string {
	return fmt.Sprintf("- scrapes: %d, slowest answer %s = %.2f× the %s deadline, %d late or failed (target 0: %s)\n",
		p.scrapes, fmtDur(p.maxWall), float64(p.maxWall)/float64(p.timeout), p.timeout, p.late, verdict(p.late == 0))
}

// budgetPass is images ÷ rate: a full pass at the budget, the time no client
// within it can beat.
func budgetPass(images int, rate float64) time.Duration {
	return time.Duration(float64(images) / rate * float64(time.Second))
}
