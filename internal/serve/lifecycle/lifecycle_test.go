package lifecycle

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testproc"
)

// reloads stands in for the exporter's reload handler: it counts the
// requests that reach it.
type reloads struct{ n atomic.Int64 }

func (c *reloads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "this endpoint requires a POST request", http.StatusMethodNotAllowed)
		return
	}
	c.n.Add(1)
	fmt.Fprintln(w, "config reloaded")
}

// timers stands in for time.AfterFunc: the test runs what is due itself.
type timers struct {
	mu  sync.Mutex
	due []func()
}

func (s *timers) after(_ time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.due = append(s.due, f)
}

// fire runs what was scheduled so far and says how many it ran.
func (s *timers) fire() int {
	s.mu.Lock()
	due := s.due
	s.due = nil
	s.mu.Unlock()
	for _, f := range due {
		f()
	}
	return len(due)
}

// logLines are the lines of a log.
func logLines(b *testproc.Buffer) []string {
	return strings.FieldsFunc(b.String(), func(r rune) bool { return r == '\n' })
}

type fixture struct {
	next   *reloads
	clock  *testclock.Clock
	timers *timers
	log    *testproc.Buffer
	h      http.Handler
}

func newFixture(o Options) *fixture {
	f := &fixture{next: &reloads{}, clock: testclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), timers: &timers{}, log: &testproc.Buffer{}}
	o.Now, o.AfterFunc, o.Logger = f.clock.Now, f.timers.after, log.NewLogfmtLogger(f.log)
	f.h = Handler(f.next, o)
	return f
}

// do sends one request; edit may change it first.
func (f *fixture) do(method string, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/-/reload", nil)
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func TestWithoutTheFlagPostIsForbiddenAndReloadsNothing(t *testing.T) {
	f := newFixture(Options{})
	w := f.do(http.MethodPost, nil)
	if w.Code != http.StatusForbidden || !strings.HasPrefix(w.Body.String(), DisabledMessage) || !strings.Contains(w.Body.String(), "--web.enable-lifecycle") {
		t.Errorf("POST without --web.enable-lifecycle: %d %q; want 403 beginning %q and naming the flag", w.Code, w.Body, DisabledMessage)
	}
	// Basic-auth credentials with no web config prove nothing.
	if w := f.do(http.MethodPost, func(r *http.Request) { r.SetBasicAuth("admin", "admin") }); w.Code != http.StatusForbidden {
		t.Errorf("POST with credentials but no web config: %d, want 403", w.Code)
	}
	if n := f.next.n.Load(); n != 0 {
		t.Errorf("%d reloads without the flag, want 0", n)
	}
	// Other methods are the reload handler's to refuse.
	if w := f.do(http.MethodGet, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want the reload handler's 405", w.Code)
	}
}

func TestWithTheFlagPostReloads(t *testing.T) {
	f := newFixture(Options{Enabled: true})
	if w := f.do(http.MethodPost, nil); w.Code != http.StatusOK {
		t.Errorf("POST with --web.enable-lifecycle: %d %q", w.Code, w.Body)
	}
	if n := f.next.n.Load(); n != 1 {
		t.Errorf("%d reloads, want 1", n)
	}
}

// With basic_auth_users in the web config, exporter-toolkit lets a request
// with credentials through only with a good password: such a request may
// reload. The file is read at each request, as the toolkit reads it.
func TestBasicAuthInTheWebConfigAllowsCallersWithCredentials(t *testing.T) {
	web := filepath.Join(t.TempDir(), "web.yml")
	write := func(s string) {
		if err := os.WriteFile(web, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("basic_auth_users:\n  ops: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n")
	f := newFixture(Options{WebConfigFile: web})
	withAuth := func(r *http.Request) { r.SetBasicAuth("ops", "the-password") }

	if w := f.do(http.MethodPost, nil); w.Code != http.StatusForbidden {
		t.Errorf("POST without credentials: %d, want 403", w.Code)
	}
	if w := f.do(http.MethodPost, withAuth); w.Code != http.StatusOK {
		t.Errorf("POST with credentials under basic_auth_users: %d %q, want 200", w.Code, w.Body)
	}
	// The users are gone: the toolkit no longer checks passwords.
	write("tls_server_config:\n  client_auth_type: VerifyClientCertIfGiven\n")
	f.clock.Add(time.Hour)
	if w := f.do(http.MethodPost, withAuth); w.Code != http.StatusForbidden {
		t.Errorf("POST with credentials after basic_auth_users was removed: %d, want 403", w.Code)
	}
	write("basic_auth_users: [") // broken: the toolkit answers 500 itself
	if w := f.do(http.MethodPost, withAuth); w.Code != http.StatusForbidden {
		t.Errorf("POST with credentials and a broken web config: %d, want 403", w.Code)
	}
	if n := f.next.n.Load(); n != 1 {
		t.Errorf("%d reloads, want 1", n)
	}
}

// A client certificate verified against the web config's client CA is
// authentication; one presented but not verified is not.
func TestVerifiedClientCertificateAllows(t *testing.T) {
	f := newFixture(Options{})
	cert := &x509.Certificate{}
	if w := f.do(http.MethodPost, func(r *http.Request) {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	}); w.Code != http.StatusForbidden {
		t.Errorf("POST with an unverified client certificate: %d, want 403", w.Code)
	}
	if w := f.do(http.MethodPost, func(r *http.Request) {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
	}); w.Code != http.StatusOK {
		t.Errorf("POST with a verified client certificate: %d %q, want 200", w.Code, w.Body)
	}
}

// 500 requests at once start one reload; the rest answer 429 with
// Retry-After and are logged in one line, then summed up in one line a
// minute.
func TestFloodStartsOneReloadASecondAndLogsOnce(t *testing.T) {
	f := newFixture(Options{Enabled: true})
	var codes sync.Map
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 50 {
				w := f.do(http.MethodPost, nil)
				if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "1" {
					t.Errorf("429 with Retry-After %q, want 1", w.Header().Get("Retry-After"))
				}
				n, _ := codes.LoadOrStore(w.Code, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	wg.Wait()
	count := func(code int) int64 {
		if n, ok := codes.Load(code); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	if n := f.next.n.Load(); n != 1 || count(http.StatusOK) != 1 || count(http.StatusTooManyRequests) != 499 {
		t.Errorf("500 requests at one instant: %d reloads, %d answered 200, %d 429; want 1, 1, 499", n, count(http.StatusOK), count(http.StatusTooManyRequests))
	}
	if lines := logLines(f.log); len(lines) != 1 {
		t.Errorf("%d log lines for 499 refusals, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}

	// Within the second: still refused, told to come back in a second.
	f.clock.Add(300 * time.Millisecond)
	if w := f.do(http.MethodPost, nil); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("0.3 s after a reload: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	// A second after the reload started, the next may start.
	f.clock.Add(700 * time.Millisecond)
	if w := f.do(http.MethodPost, nil); w.Code != http.StatusOK {
		t.Errorf("1 s after a reload: %d, want 200", w.Code)
	}
	if n := f.next.n.Load(); n != 2 {
		t.Errorf("%d reloads, want 2", n)
	}

	// The minute ends: one line sums up the 499 refusals after the first.
	if n := f.timers.fire(); n != 1 {
		t.Fatalf("%d summaries scheduled, want 1", n)
	}
	lines := logLines(f.log)
	if len(lines) != 2 || !strings.Contains(lines[1], "499 reload requests refused in the last minute") || !strings.Contains(lines[1], "too_soon=499") {
		t.Fatalf("after the minute, log:\n%s\nwant a second line summing up 499 refusals", strings.Join(lines, "\n"))
	}
	// A quiet minute: nothing logged, and the next refusal is logged at once.
	f.timers.fire()
	if n := f.timers.fire(); n != 0 || len(logLines(f.log)) != 2 {
		t.Errorf("after a quiet minute: %d summaries still scheduled, %d log lines; want 0, 2", n, len(logLines(f.log)))
	}
	f.do(http.MethodPost, nil)
	if lines := logLines(f.log); len(lines) != 3 || !strings.Contains(lines[2], "remote=") {
		t.Errorf("a refusal after a quiet minute is not logged at once:\n%s", strings.Join(lines, "\n"))
	}
}

// Refusals of a disabled endpoint are counted the same way: a flood is one
// line, and the summary tells the reasons apart.
func TestForbiddenFloodIsLoggedOnce(t *testing.T) {
	f := newFixture(Options{})
	for range 500 {
		f.do(http.MethodPost, nil)
	}
	f.timers.fire()
	lines := logLines(f.log)
	if len(lines) != 2 || !strings.Contains(lines[0], `reason="lifecycle API not enabled"`) ||
		!strings.Contains(lines[1], "lifecycle_not_enabled=499 too_soon=0") {
		t.Errorf("500 forbidden requests and a minute, log:\n%s\nwant 2 lines", strings.Join(lines, "\n"))
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	file := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		enabled bool
		web     string
		want    string
	}{
		{true, "", "enabled for every caller (--web.enable-lifecycle)"},
		{false, "", "disabled, answers 403"},
		{false, file("tls.yml", "tls_server_config:\n  cert_file: c\n  key_file: k\n"), "disabled, answers 403"},
		{false, file("users.yml", "basic_auth_users:\n  ops: x\n"), "enabled for callers the web config authenticates (basic_auth_users)"},
		{false, file("mtls.yml", "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"), "(client certificates)"},
		{false, filepath.Join(dir, "missing.yml"), "disabled, answers 403"},
	} {
		if got := Describe(tc.enabled, tc.web); !strings.Contains(got, tc.want) {
			t.Errorf("Describe(%v, %q) = %q, want it to contain %q", tc.enabled, tc.web, got, tc.want)
		}
	}
}
