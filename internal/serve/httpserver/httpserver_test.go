package httpserver

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
)

func TestCheckMetricsPath(t *testing.T) {
	for p, wantErr := range map[string]string{
		"/metrics":       "",
		"/":              "",
		"/probe/scp":     "",
		"metrics":        "must start with /",
		"":               "must start with /",
		"/-/reload":      "clashes",
		"/-/healthy":     "clashes",
		"/-/anything":    "clashes",
		"/a b":           "not a plain URL path",
		"/metrics?x=1":   "not a plain URL path",
		"/metrics#frag":  "not a plain URL path",
		"/%zz":           "not a plain URL path",
		"/{name}":        "not a plain URL path",
		"/m\netrics":     "not a plain URL path",
		"/metrics/../-/": "not a plain URL path",
	} {
		err := CheckMetricsPath(p)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q: %v, want accepted", p, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%q: %v, want an error with %q", p, err, wantErr)
		}
	}
}

// Scrapes beyond the limit answer 503 at once; those within it are served.
func TestMetricsBoundsSimultaneousScrapes(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 3)
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	})
	h := Metrics(slow, 2)
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			codes <- rec.Code
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "--web.max-requests=2") {
		t.Errorf("a third simultaneous scrape: %d %q, want 503 naming the flag", rec.Code, rec.Body)
	}
	close(release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("a scrape within the limit: %d", c)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after the others finished: %d, want 200", rec.Code)
	}
}

// On shutdown a request under way gets its answer; new connections are
// refused; Run returns nil.
func TestRunShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The request answers only once the shutdown has begun (the listener
	// is closed then), so the shutdown must wait for it.
	started, shuttingDown := make(chan struct{}), make(chan struct{})
	server := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		select {
		case <-shuttingDown:
			io.WriteString(w, "answer")
		case <-time.After(10 * time.Second):
			io.WriteString(w, "no shutdown began within 10s")
		}
	}))
	server.RegisterOnShutdown(func() { close(shuttingDown) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, server, func() error { return server.Serve(ln) }, 5*time.Second) }()

	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	if got := <-body; got != "answer" {
		t.Errorf("the request under way got %q, want its answer", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v, want nil after a graceful shutdown", err)
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Error("a new request was served after shutdown")
	}
}

func TestServerHasTimeouts(t *testing.T) {
	s := New(http.NotFoundHandler())
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 {
		t.Errorf("a timeout is unset: %+v", s)
	}
}

// Two clients that ask for a large page and never read it hold no slot
// once their pages are produced: with --web.max-requests=2 a third,
// well-behaved scrape is served in full. Each of the two is cut at its
// write deadline, having got part of its page.
func TestMetricsSlotsAreNotHeldByClientsThatDoNotRead(t *testing.T) {
	// The clients that do not read ask for ?large: far more than the
	// sockets' buffers take on the loopback (a few MiB).
	line := []byte("scp_image_members_scrape_success{image_id=\"0123\"} 1\n")
	large, small := bytes.Repeat(line, (16<<20)/len(line)), bytes.Repeat(line, 1000)
	var produced, sent atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.RawQuery == "large" {
			_, _ = w.Write(large)
			produced.Add(1)
			return
		}
		_, _ = w.Write(small)
	})
	const deadline = 200 * time.Millisecond
	url := serveMetrics(t, metrics(h, 2, func(int64) time.Duration { return deadline }, func() { sent.Add(1) }))

	var readers []net.Conn
	for range 2 {
		readers = append(readers, nonReader(t, strings.TrimPrefix(url, "http://"), "/metrics?large"))
	}
	testwait.For(t, func() bool { return produced.Load() == 2 }, "the two pages to be produced, their clients not reading")

	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, small) {
		t.Fatalf("a well-behaved scrape while two clients do not read: %d, %d bytes of %d, %v", resp.StatusCode, len(body), len(small), err)
	}

	testwait.For(t, func() bool { return sent.Load() == 3 }, "the pages of the clients that do not read to be cut at their deadline")
	for i, c := range readers {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) || n >= int64(len(large)) {
			t.Errorf("client %d that did not read: got %d bytes of a %d-byte page, then %v; want the connection cut short", i, n, len(large), err)
		}
	}
}

// A page reaches the client as the handler wrote it: status, headers,
// body, compressed by the handler or not, with its length.
func TestMetricsSendsThePageAsWritten(t *testing.T) {
	text := strings.Repeat("scp_image_info{image_id=\"a\",name=\"golden\"} 1\n", 5000)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = io.WriteString(zw, text)
	_ = zw.Close()
	for _, tc := range []struct {
		name     string
		status   int
		encoding string
		body     []byte
	}{
		{"text", http.StatusOK, "", []byte(text)},
		{"gzip by the handler", http.StatusOK, "gzip", zipped.Bytes()},
		{"an error", http.StatusInternalServerError, "", []byte("An error has occurred while serving metrics")},
		{"nothing", 0, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
				if tc.encoding != "" {
					w.Header().Set("Content-Encoding", tc.encoding)
				}
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				for b := tc.body; len(b) > 0; b = b[min(len(b), 1000):] {
					_, _ = w.Write(b[:min(len(b), 1000)])
				}
			})
			rec := httptest.NewRecorder()
			Metrics(h, 1).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			wantStatus := cmp.Or(tc.status, http.StatusOK)
			if rec.Code != wantStatus || !bytes.Equal(rec.Body.Bytes(), tc.body) {
				t.Errorf("%d, %d bytes; want %d, the %d bytes written", rec.Code, rec.Body.Len(), wantStatus, len(tc.body))
			}
			h2 := rec.Result().Header
			if h2.Get("Content-Type") != "text/plain; version=0.0.4" || h2.Get("Content-Encoding") != tc.encoding ||
				h2.Get("Content-Length") != strconv.Itoa(len(tc.body)) {
				t.Errorf("headers %v", h2)
			}
		})
	}
}

// serveMetrics serves h on the loopback with the exporter's server, and
// returns its URL.
func serveMetrics(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := New(h)
	go func() { _ = server.Serve(ln) }()
	t.Cleanup(func() { _ = server.Close() })
	return "http://" + ln.Addr().String()
}

// nonReader asks addr for path with a small receive buffer, and never
// reads the answer.
func nonReader(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}
