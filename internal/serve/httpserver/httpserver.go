// Package httpserver serves the exporter's endpoints the way a long-running
// daemon must: the paths checked before anything listens, a bound on
// concurrent scrapes, timeouts that suit a scrape, and a graceful shutdown.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Timeouts of the server. A scrape's own write deadline is set per request
// (see Metrics), longer than its scrape timeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	// WriteTimeout bounds the answer of every endpoint but the metrics.
	WriteTimeout = 30 * time.Second
	IdleTimeout  = 2 * time.Minute
	// writeMargin is added to a scrape's timeout for its write deadline: a
	// scrape answers by its timeout, and then needs the time to send.
	writeMargin = 30 * time.Second
)

// Reserved are the paths the exporter serves besides the metrics.
var Reserved = []string{"/-/healthy", "/-/ready", "/-/reload"}

// CheckMetricsPath validates --web.telemetry-path: an absolute, clean URL
// path that does not clash with the exporter's other endpoints.
func CheckMetricsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("--web.telemetry-path %q must start with /", p)
	case strings.HasPrefix(p, "/-/") || p == "/-":
		return fmt.Errorf("--web.telemetry-path %q clashes with the exporter's own endpoints (%s)", p, strings.Join(Reserved, ", "))
	}
	u, err := url.Parse(p)
	if err != nil || u.Path != p || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(p, " \t\r\n{}") ||
		(path.Clean(p) != p && path.Clean(p)+"/" != p) {
		return fmt.Errorf("--web.telemetry-path %q is not a plain URL path", p)
	}
	return nil
}

// Metrics wraps the metrics handler: at most maxRequests scrapes at once
// (more answer 503 at once rather than queue), and a write deadline of the
// scrape's timeout plus a margin, read from timeout at each request (a
// reload may change it).
func Metrics(h http.Handler, maxRequests int, timeout func() time.Duration) http.Handler {
	var slots chan struct{}
	if maxRequests > 0 {
		slots = make(chan struct{}, maxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				http.Error(w, fmt.Sprintf("too many simultaneous scrapes (--web.max-requests=%d)", maxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		// Errors mean the connection cannot take a deadline (HTTP/2 before
		// Go supports it, a test recorder): the server's own then applies.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout() + writeMargin))
		h.ServeHTTP(w, r)
	})
}

// New returns a server with the timeouts above.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}

// Run serves with serve until ctx ends, then shuts the server down: it stops
// accepting, lets requests under way finish within grace, and returns. A
// server that stops by itself returns its error.
func Run(ctx context.Context, server *http.Server, serve func() error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := server.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutting down within %s: %w", grace, err)
	}
	return nil
}
