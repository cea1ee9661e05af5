package trustlist

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Options configure a Watcher. Every field but Interval is optional.
type Options struct {
	// Interval is how often Run checks the file (config.Timing's
	// ListFileInterval): a stat call, and a read only when the file
	// changed. Run needs it positive.
	Interval time.Duration
	// Now is the clock of Status.LastSuccess; default time.Now.
	Now func() time.Time
	// Logger receives one warning per distinct failure and one line when
	// the file is good again; default none.
	Logger log.Logger
	// Changed, when set, is called after the list changed (its first read
	// included), from the goroutine that read it and with no lock held; it
	// may call Status or IDs.
	Changed func()
	// Redact, when set, removes secrets from the messages of failures
	// before they are logged or kept: a malformed line is quoted, and may
	// be a secret pasted into the wrong file.
	Redact func(string) string
}

// Status is what a Watcher knows of its file.
type Status struct {
	Path string
	// IDs is the last good list, sorted; empty until a read succeeded
	// (see Generation). It is shared: do not modify it.
	IDs []string
	// LastSuccess is when the file was last found good: read, or checked
	// and unchanged since a good read. Zero until a read succeeded.
	LastSuccess time.Time
	// Err is why the file cannot be used now (missing, unreadable,
	// malformed: the last good list is kept), or nil.
	Err error
	// Generation counts the lists taken into use: 0 until a read
	// succeeded, then one more each time a read gives a different list.
	Generation uint64
}

// Watcher holds the last good list of one file and reads the file again
// when its modification time, size or identity (a file renamed over it)
// changes. A file that goes missing, becomes unreadable or malformed leaves
// the last good list in use. It is safe for concurrent use.
type Watcher struct {
	path string
	opts Options

	readMu sync.Mutex  // one read at a time
	stamp  os.FileInfo // the file as last read and parsed; nil to read again

	mu sync.Mutex
	st Status
}

// New returns a watcher of the file at path. It reads nothing: call Reload
// for the first list, and Run to follow changes.
func New(path string, o Options) *Watcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	return &Watcher{path: path, opts: o, st: Status{Path: path}}
}

// Status returns what the watcher knows now.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// IDs returns the last good list, sorted (shared: do not modify it).
func (w *Watcher) IDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.IDs
}

// Run checks the file at once and then every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(max(w.opts.Interval, time.Millisecond)) // a ticker of 0 would panic
	defer t.Stop()
	for {
		_ = w.Check() // the outcome is in Status and the log
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check reads the file if it changed since it was last read (or could not
// be read), and returns why it cannot be used now, or nil.
func (w *Watcher) Check() error { return w.poll(false) }

// Reload reads the file now, changed or not, as on a config reload, and
// returns why it cannot be used, or nil.
func (w *Watcher) Reload() error { return w.poll(true) }

func (w *Watcher) poll(force bool) error {
	changed, err := w.read(force)
	if changed && w.opts.Changed != nil {
		w.opts.Changed()
	}
	return err
}

// read does one check under readMu; it reports whether the list changed.
func (w *Watcher) read(force bool) (bool, error) {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	fi, err := os.Stat(w.path)
	if err != nil {
		w.stamp = nil
		return false, w.fail(err)
	}
	if !force && w.stamp != nil && sameFile(w.stamp, fi) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.st.Err == nil {
			w.st.LastSuccess = w.opts.Now()
		}
		return false, w.st.Err
	}
	ids, read, err := readFile(w.path, fi)
	for range 2 {
		// A file written while it was read is read again, so a list cut
		// short by a writer is not taken into use.
		after, serr := os.Stat(w.path)
		if serr != nil || sameFile(fi, after) {
			break
		}
		fi = after
		ids, read, err = readFile(w.path, fi)
	}
	if read {
		// Read whole (good or not): read it again only when it changes.
		w.stamp = fi
	} else {
		// Not read (permissions, I/O): try again at the next check, as a
		// fix such as chmod leaves the modification time alone.
		w.stamp = nil
	}
	if err != nil {
		return false, w.fail(err)
	}
	return w.succeed(ids), nil
}

// sameFile reports whether b is the file a was, unchanged.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// fail records err, logging it when it differs from the failure before.
func (w *Watcher) fail(err error) error {
	if w.opts.Redact != nil {
		if msg := w.opts.Redact(err.Error()); msg != err.Error() {
			err = errors.New(msg) // the cause goes with the secret
		}
	}
	w.mu.Lock()
	prev, held := w.st.Err, len(w.st.IDs)
	w.st.Err = err
	w.mu.Unlock()
	if prev == nil || prev.Error() != err.Error() {
		level.Warn(w.opts.Logger).Log("msg", "list file cannot be used; keeping its last good list", "path", w.path, "ids", held, "err", err)
	}
	return err
}

// succeed takes ids into use and reports whether they differ from the list
// held.
func (w *Watcher) succeed(ids []string) bool {
	w.mu.Lock()
	recovered := w.st.Err != nil
	changed := w.st.Generation == 0 || !slices.Equal(w.st.IDs, ids)
	w.st.Err = nil
	w.st.LastSuccess = w.opts.Now()
	if changed {
		w.st.IDs = ids
		w.st.Generation++
	}
	gen := w.st.Generation
	w.mu.Unlock()
	switch {
	case recovered:
		level.Info(w.opts.Logger).Log("msg", "list file is good again", "path", w.path, "ids", len(ids), "generation", gen)
	case changed:
		level.Info(w.opts.Logger).Log("msg", "list file read", "path", w.path, "ids", len(ids), "generation", gen)
	}
	return changed
}
