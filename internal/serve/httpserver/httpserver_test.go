package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
	h := Metrics(slow, 2, func() time.Duration { return time.Second })
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
