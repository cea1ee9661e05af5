//go:build loadtest

package loadtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
)

// chartMemoryLimit is the memory limit of charts/scp-exporter/values.yaml,
// sized from this run.
const chartMemoryLimit = 192 << 20

// slowReaders is the attack of issue 22, item 3: clients that request
// /metrics and never read the answer, while Prometheus scrapes.
type slowReaders struct {
	images int
	// refresh is members.refresh_interval: 2m, the mode the docs give for
	// 10,000 images, or 0 (on demand: each scrape waits for a pass).
	refresh time.Duration
	// readers is how many sockets ask for /metrics and never read, without
	// gzip (as curl does): a page that large does not fit in the sockets'
	// buffers. Each is closed and opened again every reopen.
	readers int
	reopen  time.Duration
	// attack is how long the readers are at it; interval and timeout are
	// the well-behaved scraper's (its timeout header, and its deadline).
	attack, interval, timeout time.Duration
}

// TestSlowReaders runs the attack with SCP_LOADTEST_SLOW_READERS_MODE=on-demand
// for the on-demand mode, SCP_LOADTEST_SLOW_READERS_REOPEN=10s to open the
// sockets again more often than every minute.
func TestSlowReaders(t *testing.T) {
	s := slowReaders{images: 10000, refresh: 2 * time.Minute, readers: 40, reopen: time.Minute,
		attack: 130 * time.Second, interval: 2 * time.Second, timeout: 10 * time.Second}
	if os.Getenv("SCP_LOADTEST_SLOW_READERS_MODE") == "on-demand" {
		s.refresh = 0
	}
	if v := os.Getenv("SCP_LOADTEST_SLOW_READERS_REOPEN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SCP_LOADTEST_SLOW_READERS_REOPEN=%q: want a positive duration", v)
		}
		s.reopen = d
	}
	bin := buildExporter(t)
	fakeURL := startFake(t, fakeSpec{Images: s.images})
	exp := startExporter(t, bin, fakeURL, exporterConfig{images: s.images, concurrency: concurrency,
		requestsPerSecond: 1000000, refreshInterval: s.refresh})
	exp.client.Timeout = s.timeout
	header := strconv.FormatFloat(s.timeout.Seconds(), 'f', -1, 64)
	var pageBytes, gzipBytes int
	testwait.ForWithin(t, 3*time.Minute, func() bool {
		r, err := exp.tryScrape(header)
		if err != nil {
			return false
		}
		pageBytes, gzipBytes = r.bodyBytes, r.gzipBytes
		pg, err := parsePage(r.body)
		return err == nil && pg.known() == s.images
	}, "every image to be known")
	rssBefore := exp.rss(t)

	port := addrPort(t, exp.url)
	var peak, peakQueued, sumQueued, samples atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak.Store(max(peak.Load(), exp.rss(t)))
			q := sendQueued(t, port)
			peakQueued.Store(max(peakQueued.Load(), q))
			sumQueued.Add(q)
			samples.Add(1)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	addr := strings.TrimPrefix(exp.url, "http://")
	var opened, dialErrs atomic.Int64
	req := "GET /metrics HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	for range s.readers {
		wg.Go(func() {
			for {
				c, err := nonReader(addr, req)
				if err != nil {
					dialErrs.Add(1)
				} else {
					opened.Add(1)
				}
				select {
				case <-stop:
				case <-time.After(s.reopen):
				}
				if c != nil {
					c.Close()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}

	// The scrapes start once the sockets have asked: a scrape under way
	// then would take a slot from them.
	testwait.For(t, func() bool { return opened.Load()+dialErrs.Load() >= int64(s.readers) }, "the sockets to ask for /metrics")
	time.Sleep(500 * time.Millisecond) // for the exporter to read their requests

	type result struct {
		at, wall time.Duration
		err      error
	}
	var results []result
	start := time.Now()
	for next := start; time.Since(start) < s.attack; next = next.Add(s.interval) {
		time.Sleep(time.Until(next))
		r, err := exp.tryScrape(header)
		if err == nil && r.wall > s.timeout {
			err = fmt.Errorf("answered after %s, over the %s timeout", fmtDur(r.wall), s.timeout)
		}
		results = append(results, result{at: time.Since(start), wall: r.wall, err: err})
	}
	close(stop)
	wg.Wait()
	hwm := exp.hwm(t)

	var ok, unavailable int
	var walls []time.Duration
	var failures []string
	for _, r := range results {
		switch {
		case r.err == nil:
			ok++
			walls = append(walls, r.wall)
		case strings.Contains(r.err.Error(), "answered 503"):
			unavailable++
		}
		if r.err != nil && len(failures) < 8 {
			failures = append(failures, fmt.Sprintf("t=%.1fs %v", r.at.Seconds(), r.err))
		}
	}
	slices.Sort(walls)
	mode := "on demand"
	if s.refresh > 0 {
		mode = "members.refresh_interval " + s.refresh.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s: %d images (%s), /metrics %.1f MiB, %.0f KiB gzip; %d sockets that never read (no gzip), each opened again every %s (%d opened, %d dial errors), for %s\n",
		t.Name(), s.images, mode, float64(pageBytes)/(1<<20), float64(gzipBytes)/1024, s.readers, s.reopen, opened.Load(), dialErrs.Load(), s.attack)
	fmt.Fprintf(&b, "- well-behaved scraper, every %s with a %s timeout: %d of %d answered = %.1f%% (%d answered 503)", s.interval, s.timeout, ok, len(results),
		100*float64(ok)/float64(len(results)), unavailable)
	if len(walls) > 0 {
		fmt.Fprintf(&b, "; latency median %s, max %s", fmtDur(walls[len(walls)/2]), fmtDur(walls[len(walls)-1]))
	}
	fmt.Fprintf(&b, "\n- exporter RSS %.1f MiB before, peak %.1f MiB during (sampled every 100 ms), VmHWM %.1f MiB; in the kernel's send queues of its sockets (not in RSS) at most %.1f MiB, %.1f MiB on average\n",
		float64(rssBefore)/(1<<20), float64(peak.Load())/(1<<20), float64(hwm)/(1<<20), float64(peakQueued.Load())/(1<<20),
		float64(sumQueued.Load())/float64(max(samples.Load(), 1))/(1<<20))
	if len(failures) > 0 {
		fmt.Fprintf(&b, "- first failures: %s\n", strings.Join(failures, "; "))
	}
	t.Log(b.String())
	if ok < len(results)*95/100 {
		t.Errorf("the well-behaved scraper got %d of %d scrapes, want at least 95%%", ok, len(results))
	}
	if hwm > chartMemoryLimit {
		t.Errorf("VmHWM %.1f MiB, over the chart's %d MiB limit", float64(hwm)/(1<<20), chartMemoryLimit>>20)
	}
}

// nonReader opens a connection with a small receive buffer, sends req and
// returns the connection, which the caller never reads.
func nonReader(addr, req string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// addrPort is the port of url.
func addrPort(t *testing.T, url string) int {
	t.Helper()
	port, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return port
}

// sendQueued is how many bytes wait in the send queues of the TCP sockets
// on local port (/proc/net/tcp's tx_queue): what clients that do not read
// leave in the kernel.
func sendQueued(t *testing.T, port int) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Error(err)
		return 0
	}
	suffix := fmt.Sprintf(":%04X", port)
	var total int64
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], suffix) {
			continue
		}
		tx, _, _ := strings.Cut(f[4], ":")
		n, _ := strconv.ParseInt(tx, 16, 64)
		total += n
	}
	return total
}

// rss is the exporter's resident set size now (VmRSS).
func (e *exporter) rss(t *testing.T) int64 {
	t.Helper()
	n, err := e.procStatus("VmRSS")
	if err != nil {
		t.Error(err)
	}
	return n
}
