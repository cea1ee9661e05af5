// Package httpserver serves the exporter's endpoints the way a long-running
// daemon must: the paths checked before anything listens, a bound on
// concurrent scrapes, timeouts that suit a scrape, and a graceful shutdown.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Timeouts of the server. A scrape's own write deadline is set once its
// page is ready (see Metrics and SendTimeout).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	// WriteTimeout bounds the answer of every endpoint but the metrics.
	WriteTimeout = 30 * time.Second
	IdleTimeout  = 2 * time.Minute
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

// Metrics wraps the metrics handler: at most maxRequests pages produced at
// once (more scrapes answer 503 at once rather than queue). A page is
// produced in memory, compressed, and the slot freed before it is sent;
// the client then has SendTimeout, plus a second a MiB, to read it, and is
// cut after. A client that does not read holds neither a slot nor, for
// long, the page.
func Metrics(h http.Handler, maxRequests int) http.Handler {
	return metrics(h, maxRequests, sendTime, nil)
}

// metrics is Metrics with how long a page of n bytes may take to be sent,
// and sent, if not nil, called after each page is sent or cut.
func metrics(h http.Handler, maxRequests int, deadline func(n int64) time.Duration, sent func()) http.Handler {
	var slots chan struct{}
	if maxRequests > 0 {
		slots = make(chan struct{}, maxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slots != nil {
			select {
			case slots <- struct{}{}:
			default:
				http.Error(w, fmt.Sprintf("too many simultaneous scrapes (--web.max-requests=%d)", maxRequests), http.StatusServiceUnavailable)
				return
			}
		}
		p := produce(h, w, r, slots)
		if err := p.send(w, deadline); err != nil {
			reset(r)
		}
		if sent != nil {
			sent()
		}
	})
}

// produce runs h into a page, and frees the slot taken in slots (if any)
// however h ends.
func produce(h http.Handler, w http.ResponseWriter, r *http.Request, slots chan struct{}) *page {
	defer func() {
		if slots != nil {
			<-slots
		}
	}()
	p := newPage(w)
	h.ServeHTTP(p, r)
	p.finish()
	return p
}

// reset makes the server's closing of r's connection, after a write that
// failed, a reset: what a client that did not read left in the kernel's
// send queue (megabytes on the loopback) is dropped at once, not kept
// until the client closes. HTTP/1 only: an HTTP/2 connection carries other
// streams.
func reset(r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	for {
		u, ok := c.(interface{ NetConn() net.Conn }) // TLS
		if !ok {
			break
		}
		c = u.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
}

// connKey is the key of a request's connection in its context.
type connKey struct{}

// New returns a server with the timeouts above.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
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
