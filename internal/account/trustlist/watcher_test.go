package trustlist_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testclock"
	"github.com/scp-exporter/scp_exporter/internal/testkit/testwait"
)

// logLines records what a watcher logs, one "level msg" string a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Log(kv ...any) error {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, m["level"]+" "+m["msg"]+" err="+m["err"])
	return nil
}

// take returns the lines logged since the last call.
func (l *logLines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

var _ log.Logger = (*logLines)(nil)

// base is the first modification time the tests give files; each write
// sets one explicitly, so no change hides in a coarse file system clock.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func write(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// replace writes a file as an editor should, by renaming a new file over
// it: a reader never sees it half written.
func replace(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	write(t, path+".tmp", text, mtime)
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	path    string
	w       *trustlist.Watcher
	logs    *logLines
	clock   *testclock.Clock
	changed atomic.Int32
}

func newFixture(t *testing.T, interval time.Duration) *fixture {
	f := &fixture{path: filepath.Join(t.TempDir(), "trusted.txt"), logs: &logLines{}, clock: testclock.New(base)}
	f.w = trustlist.New(f.path, trustlist.Options{
		Interval: interval,
		Now:      f.clock.Now,
		Logger:   f.logs,
		Changed:  func() { f.changed.Add(1) },
	})
	return f
}

func (f *fixture) wantStatus(t *testing.T, ids []string, gen uint64, changed int32) trustlist.Status {
	t.Helper()
	st := f.w.Status()
	if !slices.Equal(st.IDs, ids) || st.Generation != gen || st.Path != f.path {
		t.Errorf("status: ids %q generation %d path %s; want %q, %d, %s", st.IDs, st.Generation, st.Path, ids, gen, f.path)
	}
	if n := f.changed.Load(); n != changed {
		t.Errorf("Changed called %d times, want %d", n, changed)
	}
	return st
}

func TestWatcherFollowsTheFile(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\nbbbb # partner\n", base)
	if st := f.w.Status(); st.Generation != 0 || st.IDs != nil || !st.LastSuccess.IsZero() || st.Err != nil {
		t.Fatalf("before any read: %+v", st)
	}
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	st := f.wantStatus(t, []string{"aaaa", "bbbb"}, 1, 1)
	if !st.LastSuccess.Equal(base) || st.Err != nil {
		t.Errorf("after the first read: %+v", st)
	}
	if got := f.logs.take(); !slices.Equal(got, []string{"info list file read err="}) {
		t.Errorf("logged %q", got)
	}

	// An edit (same size, a later modification time) is a new list.
	write(t, f.path, "aaaa\ncccc # partner\n", base.Add(time.Second))
	f.clock.Add(time.Minute)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	st = f.wantStatus(t, []string{"aaaa", "cccc"}, 2, 2)
	if !st.LastSuccess.Equal(base.Add(time.Minute)) {
		t.Errorf("LastSuccess %v", st.LastSuccess)
	}

	// Touched, same IDs: read, but nothing changed.
	write(t, f.path, "cccc\naaaa\n", base.Add(2*time.Second))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "cccc"}, 2, 2)

	// Unchanged checks keep LastSuccess current: the list is known good.
	f.clock.Add(time.Minute)
	if err := f.w.Check(); err != nil || !f.w.Status().LastSuccess.Equal(base.Add(2*time.Minute)) {
		t.Errorf("unchanged check: %v, LastSuccess %v", err, f.w.Status().LastSuccess)
	}
	if got := f.logs.take(); len(got) != 1 { // the edit
		t.Errorf("logged %q", got)
	}
}

// Check reads only a file that changed; Reload reads it whatever.
func TestCheckReadsOnlyAChangedFileReloadAlways(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	// Rewritten in place with the same size and modification time.
	write(t, f.path, "bbbb\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa"}, 1, 1)
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"bbbb"}, 2, 2)
}

// A file renamed over the watched one (an atomic update, a Kubernetes
// ConfigMap) is read even with the same size and modification time.
func TestWatcherSeesAFileRenamedOverIt(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	replace(t, f.path, "bbbb\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"bbbb"}, 2, 2)
}

// A deleted file keeps the last good list, says why in Status, is logged
// once however often it is checked, and once more when it is back.
func TestWatcherKeepsTheLastGoodListWhenTheFileGoes(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\nbbbb\n", base)
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.clock.Add(time.Minute)
		if err := f.w.Check(); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Check = %v, want fs.ErrNotExist", err)
		}
	}
	if err := f.w.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Reload = %v", err)
	}
	st := f.wantStatus(t, []string{"aaaa", "bbbb"}, 1, 1)
	if !errors.Is(st.Err, fs.ErrNotExist) || !st.LastSuccess.Equal(base) {
		t.Errorf("status %+v: want the error and the first read's time", st)
	}
	want := "warn list file cannot be used; keeping its last good list err=stat " + f.path + ": no such file or directory"
	if got := f.logs.take(); !slices.Equal(got, []string{want}) {
		t.Errorf("logged %q, want once %q", got, want)
	}

	write(t, f.path, "cccc\n", base) // the old modification time: it is back, that is enough
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	st = f.wantStatus(t, []string{"cccc"}, 2, 2)
	if st.Err != nil || !st.LastSuccess.Equal(f.clock.Now()) {
		t.Errorf("recovered status %+v", st)
	}
	if got := f.logs.take(); !slices.Equal(got, []string{"info list file is good again err="}) {
		t.Errorf("logged %q", got)
	}
}

// A malformed file keeps the last good list; the error names the file and
// line; it is logged once, and again only for a different failure.
func TestWatcherKeepsTheLastGoodListWhenTheFileIsMalformed(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Reload(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()

	write(t, f.path, "aaaa\n# partner\nb b\n", base.Add(time.Second))
	for range 3 {
		err := f.w.Check()
		var le *trustlist.LineError
		if !errors.As(err, &le) || le.Name != f.path || le.Line != 3 {
			t.Fatalf("Check = %v, want a LineError for line 3", err)
		}
	}
	st := f.wantStatus(t, []string{"aaaa"}, 1, 1)
	if st.Err == nil || !strings.HasPrefix(st.Err.Error(), f.path+" line 3: ") {
		t.Errorf("Err %v", st.Err)
	}
	if got := f.logs.take(); len(got) != 1 || !strings.Contains(got[0], f.path+" line 3: invalid id") {
		t.Errorf("logged %q, want one warning naming line 3", got)
	}

	// Another malformed version is another failure: logged again.
	write(t, f.path, "aaaa\nc/d\n", base.Add(2*time.Second))
	if err := f.w.Check(); err == nil || !strings.Contains(err.Error(), " line 2: ") {
		t.Fatalf("Check = %v", err)
	}
	if got := f.logs.take(); len(got) != 1 {
		t.Errorf("logged %q, want the new failure once", got)
	}

	write(t, f.path, "aaaa\ndddd\n", base.Add(3*time.Second))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "dddd"}, 2, 2)
}

// A file missing from the start has no list, and an error, until it appears.
func TestWatcherOfAMissingFile(t *testing.T) {
	f := newFixture(t, time.Hour)
	if err := f.w.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Reload = %v", err)
	}
	st := f.wantStatus(t, nil, 0, 0)
	if st.Err == nil || !st.LastSuccess.IsZero() {
		t.Errorf("status %+v", st)
	}
	write(t, f.path, "", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	// An empty file is a list: the first one taken into use.
	f.wantStatus(t, nil, 1, 1)
}

// A file this process may not read is read again at the next check, even
// though fixing its permissions leaves its modification time alone.
func TestWatcherRetriesAnUnreadableFile(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	restore := trustlist.RefuseOpen(f.path, fs.ErrPermission) // as chmod 0 would, for anyone but root
	defer restore()
	if err := f.w.Check(); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Check = %v", err)
	}
	restore() // the permissions fixed: the modification time is the same
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa"}, 1, 1)
}

// Run follows edits by itself and calls Changed; it stops with its context.
func TestRunFollowsEdits(t *testing.T) {
	f := newFixture(t, time.Millisecond)
	write(t, f.path, "aaaa\n", base)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	testwait.For(t, func() bool { return f.w.Status().Generation == 1 }, "the first read")
	replace(t, f.path, "aaaa\nbbbb\n", base.Add(time.Second))
	testwait.For(t, func() bool { return slices.Equal(f.w.IDs(), []string{"aaaa", "bbbb"}) }, "the edit to be read")
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, func() bool { return f.w.Status().Err != nil }, "the deletion to be seen")
	f.wantStatus(t, []string{"aaaa", "bbbb"}, 2, 2)
	cancel()
	select {
	case <-done:
	case <-time.After(testwait.Timeout):
		t.Fatal("Run did not return when its context ended")
	}
}
