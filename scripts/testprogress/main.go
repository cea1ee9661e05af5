// Command testprogress runs a `go test -json` command line and prints its
// progress as it comes: each package's result line when the package
// finishes, the whole output of a failing test or package, a line for each
// test that took 10s or more, and a line for a test once it has run 10s
// (then every minute), so that a long run is never silent. It exits with
// the command's status. `make test` uses it:
//
//	go run ./scripts/testprogress go test -race -count=1 -json ./...
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testprogress go test -json [flags] [packages]")
		os.Exit(2)
	}
	// Ctrl-C reaches the go command through the terminal; no context.
	cmd := exec.CommandContext(context.Background(), os.Args[1], os.Args[2:]...) //nolint:gosec // G204: runs the command line it is given, as intended
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	p := newProgress(os.Stdout)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				p.tick(now)
			case <-done:
				return
			}
		}
	}()
	p.read(out, time.Now)
	close(done)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// The thresholds: a test that took slowTest or more gets a line when it
// passes; a running one gets a line once it has run slowTest, then every
// stillRunning.
const (
	slowTest     = 10 * time.Second
	stillRunning = time.Minute
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

// running is a top-level test under way.
type running struct {
	since    time.Time // when it started or last continued
	reported time.Time // when a line last said it runs; zero: never
	paused   bool
}

// progress turns events into lines on w. It is safe for one reader and
// the ticker at once.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	output  map[string][]string // buffered output, by package and top-level test
	running map[string]*running // by package and top-level test
	order   []string            // keys of running, in start order
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, output: map[string][]string{}, running: map[string]*running{}}
}

// read handles every line of r; now gives the time of each.
func (p *progress) read(r io.Reader, now func() time.Time) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		p.line(sc.Bytes(), now())
	}
}

// topLevel returns the name of the top-level test of a (sub)test.
func topLevel(test string) string {
	for i := range len(test) {
		if test[i] == '/' {
			return test[:i]
		}
	}
	return test
}

// line handles one line of output at time now.
func (p *progress) line(b []byte, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil {
		fmt.Fprintf(p.w, "%s\n", b) // not an event: the go command's own words
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(p.w, e.Output)
		return
	case "build-fail":
		return
	}
	key := e.Package + " " + topLevel(e.Test)
	switch e.Action {
	case "output":
		p.output[key] = append(p.output[key], e.Output)
	case "run":
		if e.Test == topLevel(e.Test) {
			p.running[key] = &running{since: now}
			p.order = append(p.order, key)
		}
	case "pause":
		if r := p.running[key]; r != nil && e.Test == topLevel(e.Test) {
			r.paused = true
		}
	case "cont":
		if r := p.running[key]; r != nil && e.Test == topLevel(e.Test) {
			r.paused, r.since = false, now
		}
	case "pass", "skip", "fail":
		if e.Test != "" && e.Test != topLevel(e.Test) {
			return // a subtest: its top-level test reports
		}
		p.finish(key, e)
	}
}

// finish reports a top-level test or a package that ended.
func (p *progress) finish(key string, e event) {
	delete(p.running, key)
	out := p.output[key]
	delete(p.output, key)
	switch {
	case e.Action == "fail":
		for _, l := range out {
			fmt.Fprint(p.w, l)
		}
		if e.Test == "" && len(out) == 0 {
			fmt.Fprintf(p.w, "FAIL\t%s\n", e.Package)
		}
	case e.Test == "":
		// The package's last line is its result ("ok", "?").
		if n := len(out); n > 0 {
			fmt.Fprint(p.w, out[n-1])
		}
	case e.Elapsed >= slowTest.Seconds():
		fmt.Fprintf(p.w, "    %s %s %s (%.1fs)\n", e.Package, e.Test, e.Action, e.Elapsed)
	}
}

// tick prints a line for each test that has run slowTest without a line
// yet, or stillRunning since its last one.
func (p *progress) tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.order[:0]
	for _, key := range p.order {
		r := p.running[key]
		if r == nil {
			continue
		}
		kept = append(kept, key)
		if r.paused || now.Sub(r.since) < slowTest || (!r.reported.IsZero() && now.Sub(r.reported) < stillRunning) {
			continue
		}
		r.reported = now
		fmt.Fprintf(p.w, "    %s running for %s\n", key, now.Sub(r.since).Truncate(time.Second))
	}
	p.order = kept
}
