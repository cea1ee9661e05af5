package trustlist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// ErrUnsettled is why a file whose last line has no newline is not used
// yet: it changed since the check before (at the first read, its
// modification time is recent), and may be a writer paused in the middle
// of an account ID. It is used once found the same half a check interval
// or more later: at the next check.
var ErrUnsettled = errors.New("its last line has no newline and the file changed since the check before: not used until found the same at the next check (end the file with a newline, or replace it atomically)")

// Options configure a Watcher. Every field but Interval is optional.
type Options struct {
	// Interval is how often Run checks the file (config.Timing's
	// ListFileInterval): each check reads the file (at most MaxFileSize
	// bytes) and compares its content with the last. Run needs it
	// positive.
	Interval time.Duration
	// Now is the clock of Status.LastSuccess and of how long a file has
	// stayed the same; default time.Now.
	Now func() time.Time
	// Logger receives one warning per distinct failure and one line when
	// the file is good again; default none.
	Logger log.Logger
	// Changed, when set, is called after the list changed (its first read
	// included), from the goroutine that read it and with no lock held; it
	// may call Status or List.
	Changed func()
	// Redact, when set, removes secrets from the messages of failures
	// before they are logged or kept: a malformed line is quoted, and may
	// be a secret pasted into the wrong file. A name it would change holds
	// a piece of a secret: its line is malformed (ErrSecretName), as the
	// name would be shown as a label value.
	Redact func(string) string
}

// ErrSecretName is why a name that holds a piece of a secret is refused:
// names are shown as label values.
var ErrSecretName = errors.New("the name contains a piece of a secret key, and /metrics would show it as a label value: choose another name")

// Status is what a Watcher knows of its file.
type Status struct {
	Path string
	// IDs is the last good list, sorted; empty until a read succeeded
	// (see Generation). It is shared: do not modify it.
	IDs []string
	// Names are the names the last good list gives beside its IDs, by ID
	// (see List.Names). Shared: do not modify it.
	Names map[string]string
	// LastSuccess is when the file was last found good: read, parsed and
	// settled. Zero until a read succeeded.
	LastSuccess time.Time
	// Err is why the file cannot be used now (missing, unreadable,
	// malformed, or ErrUnsettled: the last good list is kept), or nil.
	Err error
	// Generation counts the lists taken into use: 0 until a read
	// succeeded, then one more each time a read gives a different list.
	Generation uint64
}

// Watcher holds the last good list of one file and reads the file at every
// check, so that any failure to read it is seen, and any change of its
// content, even one that keeps its size, modification time and inode. A
// file that goes missing, becomes unreadable or malformed leaves the last
// good list in use; so does one whose last line has no newline until it
// has stayed the same for half a check interval (ErrUnsettled). It is safe
// for concurrent use.
type Watcher struct {
	path string
	opts Options

	readMu sync.Mutex // one check at a time; guards the fields up to mu
	// seen is the hash of the content last read (whatever the reads that
	// failed since), valid when seenOnce; since is when it was first read,
	// or at the watcher's first read its modification time when earlier;
	// list and parseErr are what it parses to.
	seen     [sha256.Size]byte
	seenOnce bool
	since    time.Time
	list     List
	parseErr error

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

// List returns the last good list (shared: do not modify it).
func (w *Watcher) List() List {
	w.mu.Lock()
	defer w.mu.Unlock()
	return List{IDs: w.st.IDs, Names: w.st.Names}
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

// Check reads the file and returns why it cannot be used now, or nil.
func (w *Watcher) Check() error {
	changed, err := w.read()
	if changed && w.opts.Changed != nil {
		w.opts.Changed()
	}
	return err
}

// read does one check under readMu; it reports whether the list changed.
func (w *Watcher) read() (bool, error) {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	data, fi, err := readFile(w.path)
	for range 2 {
		// A file written while it was read is read again, so a list cut
		// short by a writer is not taken into use.
		after, serr := os.Stat(w.path)
		if err != nil || serr != nil || sameFile(fi, after) {
			break
		}
		data, fi, err = readFile(w.path)
	}
	if err != nil {
		return false, w.fail(err)
	}
	now := w.opts.Now()
	if sum := sha256.Sum256(data); !w.seenOnce || sum != w.seen {
		w.since = now
		if !w.seenOnce && fi.ModTime().Before(now) {
			// No earlier check to compare with: the modification time
			// says since when the file has been the same.
			w.since = fi.ModTime()
		}
		w.seen, w.seenOnce = sum, true
		w.list, w.parseErr = Parse(bytes.NewReader(data), w.path, w.checkName)
	}
	if partialLastLine(data) && now.Sub(w.since) < w.opts.Interval/2 {
		// Half an interval: the next check (an interval later, give or take
		// the scheduling) finds it settled; a check soon after this one (a
		// reload, Run's first check after Reload) does not.
		return false, w.fail(fmt.Errorf("%s: %w", w.path, ErrUnsettled))
	}
	if w.parseErr != nil {
		return false, w.fail(w.parseErr)
	}
	return w.succeed(w.list, now), nil
}

// checkName refuses a name that holds a piece of a secret (Options.Redact).
func (w *Watcher) checkName(name string) error {
	if w.opts.Redact != nil && w.opts.Redact(name) != name {
		return ErrSecretName
	}
	return nil
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

// succeed takes l into use and reports whether it differs from the list
// held (its IDs or their names).
func (w *Watcher) succeed(l List, now time.Time) bool {
	ids := l.IDs
	w.mu.Lock()
	recovered := w.st.Err != nil
	changed := w.st.Generation == 0 || !l.Equal(List{IDs: w.st.IDs, Names: w.st.Names})
	w.st.Err = nil
	w.st.LastSuccess = now
	if changed {
		w.st.IDs, w.st.Names = ids, l.Names
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
