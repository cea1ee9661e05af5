package trustlist_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/metric"
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
	if err := f.w.Check(); err != nil {
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

// An edit in place that keeps the size, the modification time and the
// inode is seen at the next check: the content is compared, not the stat.
func TestWatcherSeesAnEditKeepingSizeAndModificationTime(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f.path, "bbbb\n", base) // os.WriteFile truncates and writes the same file
	after, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		t.Fatalf("the edit changed the file's identity, size or modification time: %v, %v", before, after)
	}
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"bbbb"}, 2, 2)
}

// A file renamed over the watched one (an atomic update, a Kubernetes
// ConfigMap) is read even with the same size and modification time.
func TestWatcherSeesAFileRenamedOverIt(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Check(); err != nil {
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
	if err := f.w.Check(); err != nil {
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
	if err := f.w.Check(); !errors.Is(err, fs.ErrNotExist) {
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
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()

	write(t, f.path, "aaaa\n# partner\nb/b\n", base.Add(time.Second))
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
	if err := f.w.Check(); !errors.Is(err, fs.ErrNotExist) {
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

// gauges are a status's scp_expected_list_file_* series, by name.
func gauges(st trustlist.Status) map[string]float64 {
	out := map[string]float64{}
	for _, fam := range trustlist.Families {
		fam.Series(&st, sink(func(v float64) { out[fam.Name] = v }))
	}
	return out
}

type sink func(float64)

func (s sink) Value(v float64, _ ...string)                { s(v) }
func (s sink) Histogram(*metric.HistogramValue, ...string) {}

// wantFailing checks that the last check found the file unusable (its
// gauge 0, its last success still at good) while ids stay in use.
func (f *fixture) wantFailing(t *testing.T, ids []string, good time.Time) {
	t.Helper()
	st := f.w.Status()
	g := gauges(st)
	if st.Err == nil || g["scp_expected_list_file_last_read_successful"] != 0 {
		t.Errorf("the file is reported good: Err %v, gauges %v", st.Err, g)
	}
	if !slices.Equal(st.IDs, ids) || g["scp_expected_list_file_entries"] != float64(len(ids)) {
		t.Errorf("list in use %q (gauge %v), want the last good %q", st.IDs, g["scp_expected_list_file_entries"], ids)
	}
	if !st.LastSuccess.Equal(good) {
		t.Errorf("LastSuccess %v, want %v (the last good read)", st.LastSuccess, good)
	}
}

// A file made unreadable (chmod 000) keeps its size, modification time and
// inode: the failure is still seen at the next check, logged once, and the
// last good list stays in use; fixed, it is good again.
func TestWatcherNoticesAFileMadeUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which reads a file whatever its permissions; TestWatcherNoticesAReadFailureAfterAGoodRead covers the refused open")
	}
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()
	if err := os.Chmod(f.path, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.clock.Add(time.Minute)
		if err := f.w.Check(); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Check = %v, want fs.ErrPermission", err)
		}
	}
	f.wantFailing(t, []string{"aaaa"}, base)
	want := "warn list file cannot be used; keeping its last good list err=open " + f.path + ": permission denied"
	if got := f.logs.take(); !slices.Equal(got, []string{want}) {
		t.Errorf("logged %q, want once %q", got, want)
	}
	if err := os.Chmod(f.path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa"}, 1, 1)
	if got := f.logs.take(); !slices.Equal(got, []string{"info list file is good again err="}) {
		t.Errorf("logged %q", got)
	}
}

// The same as root: a read that fails after a good one, whatever the cause
// (refused here, as chmod 000 does for anyone but root), is seen at every
// check though the file's stat is unchanged; each distinct failure is
// logged once.
func TestWatcherNoticesAReadFailureAfterAGoodRead(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()
	restore := trustlist.RefuseOpen(f.path, fs.ErrPermission)
	defer restore()
	for range 2 {
		f.clock.Add(time.Minute)
		if err := f.w.Check(); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Check = %v, want fs.ErrPermission", err)
		}
	}
	f.wantFailing(t, []string{"aaaa"}, base)
	restore()
	restore = trustlist.RefuseOpen(f.path, syscall.EIO) // another failure
	for range 2 {
		if err := f.w.Check(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Reload = %v, want EIO", err)
		}
	}
	f.wantFailing(t, []string{"aaaa"}, base)
	if got := f.logs.take(); len(got) != 2 || !strings.HasSuffix(got[0], "permission denied") || !strings.HasSuffix(got[1], "input/output error") {
		t.Errorf("logged %q, want each failure once", got)
	}
	restore()
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa"}, 1, 1)
}

// A non-atomic writer that pauses in the middle of a line: the partial
// account ID is not trusted; the file is not used until it stays the same
// for a check interval, and the last good list stays in use meanwhile.
func TestWatcherDoesNotTrustAPartialLastLine(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base.Add(-2*time.Hour))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.logs.take()

	f.clock.Add(time.Hour)
	write(t, f.path, "aaaa\nbb", f.clock.Now()) // paused after "bb" of "bbbb\n"
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Check = %v, want ErrUnsettled", err)
	}
	f.wantFailing(t, []string{"aaaa"}, base)
	// Checked again at once (a reload): not long enough.
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Reload = %v, want ErrUnsettled", err)
	}
	// At the next check it has changed again, still without its newline.
	f.clock.Add(time.Hour)
	write(t, f.path, "aaaa\nbbbb\ncc", f.clock.Now())
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Check = %v, want ErrUnsettled", err)
	}
	f.wantFailing(t, []string{"aaaa"}, base)
	want := "warn list file cannot be used; keeping its last good list err=" + f.path + ": " + trustlist.ErrUnsettled.Error()
	if got := f.logs.take(); !slices.Equal(got, []string{want}) {
		t.Errorf("logged %q, want once %q", got, want)
	}

	f.clock.Add(time.Hour)
	write(t, f.path, "aaaa\nbbbb\ncccc\n", f.clock.Now()) // done
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "bbbb", "cccc"}, 2, 2)
	if got := f.logs.take(); !slices.Equal(got, []string{"info list file is good again err="}) {
		t.Errorf("logged %q", got)
	}
}

// A file that lacks its final newline but does not change is used at the
// next check; a reload at once is not enough.
func TestWatcherUsesAStableFileWithoutAFinalNewline(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa\n", base.Add(-2*time.Hour))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	write(t, f.path, "aaaa\nbbbb", base)
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Check = %v, want ErrUnsettled", err)
	}
	f.clock.Add(time.Minute)
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Reload a minute later = %v, want ErrUnsettled", err)
	}
	f.clock.Add(time.Hour - time.Minute) // the next check
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "bbbb"}, 2, 2)
	// A last line that holds no account ID (a comment) is not waited for.
	write(t, f.path, "aaaa\nbbbb\n# end", base.Add(time.Second))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
}

// At start there is no earlier check: a file without its final newline is
// used at once if it was last modified at least half a check interval ago,
// and otherwise at the first check after that (an empty list meanwhile, as
// for a missing file), never on a check right after the first read.
func TestWatcherFirstReadOfAFileWithoutAFinalNewline(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa", base.Add(-time.Hour))
	if err := f.w.Check(); err != nil {
		t.Fatalf("an old file: %v", err)
	}
	f.wantStatus(t, []string{"aaaa"}, 1, 1)

	f = newFixture(t, time.Hour)
	write(t, f.path, "aaaa", base.Add(-time.Minute)) // just written: perhaps half
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) {
		t.Fatalf("Reload of a fresh file = %v, want ErrUnsettled", err)
	}
	if err := f.w.Check(); !errors.Is(err, trustlist.ErrUnsettled) { // Run's first check
		t.Fatalf("Check at once = %v, want ErrUnsettled", err)
	}
	st := f.wantStatus(t, nil, 0, 0)
	if g := gauges(st); g["scp_expected_list_file_last_read_successful"] != 0 || g["scp_expected_list_file_last_success_timestamp_seconds"] != 0 {
		t.Errorf("gauges %v, want the file shown as not good, never good", g)
	}
	f.clock.Add(time.Hour)
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
	testwait.For(t, func() bool { return slices.Equal(f.w.List().IDs, []string{"aaaa", "bbbb"}) }, "the edit to be read")
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

// BenchmarkCheck is the cost of one check (a read, a hash, no parse: the
// content is unchanged) of a file of 1,000 account IDs and of one near
// MaxFileSize.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, trustlist.MaxFileSize / 33} {
		b.Run(fmt.Sprint(n, "ids"), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "trusted.txt")
			var text strings.Builder
			for i := range n {
				fmt.Fprintf(&text, "%032x\n", i)
			}
			if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
				b.Fatal(err)
			}
			w := trustlist.New(path, trustlist.Options{Interval: time.Second})
			if err := w.Check(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(text.Len()))
			b.ResetTimer()
			for range b.N {
				if err := w.Check(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A change of names alone is a change of the list: a new generation, and
// Changed is called, so the names exported follow the file.
func TestWatcherFollowsNameChanges(t *testing.T) {
	f := newFixture(t, time.Hour)
	write(t, f.path, "aaaa Build farm\nbbbb\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "bbbb"}, 1, 1)
	write(t, f.path, "aaaa Build farm (old)\nbbbb Partner\n", base.Add(time.Second))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	st := f.wantStatus(t, []string{"aaaa", "bbbb"}, 2, 2)
	if want := map[string]string{"aaaa": "Build farm (old)", "bbbb": "Partner"}; !maps.Equal(st.Names, want) {
		t.Errorf("names %q, want %q", st.Names, want)
	}
	// A comment added changes nothing in use.
	write(t, f.path, "# team list\naaaa Build farm (old)\nbbbb Partner\n", base.Add(2*time.Second))
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	f.wantStatus(t, []string{"aaaa", "bbbb"}, 2, 2)
}

// A name holding a piece of a secret (what Options.Redact would change) is
// a malformed line: the last good list stays, and the name is never kept
// or logged.
func TestWatcherRefusesNamesHoldingSecrets(t *testing.T) {
	f := newFixture(t, time.Hour)
	const secret = "Qm8vT3xLp2Rk9WzYc4Hn"
	f.w = trustlist.New(f.path, trustlist.Options{
		Interval: time.Hour, Now: f.clock.Now, Logger: f.logs,
		Changed: func() { f.changed.Add(1) },
		Redact:  func(s string) string { return strings.ReplaceAll(s, "T3xLp2", "<secret>") },
	})
	write(t, f.path, "aaaa\n", base)
	if err := f.w.Check(); err != nil {
		t.Fatal(err)
	}
	write(t, f.path, "aaaa\nbbbb key "+secret+"\n", base.Add(time.Second))
	err := f.w.Check()
	var le *trustlist.LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, trustlist.ErrSecretName) {
		t.Fatalf("Check = %v, want ErrSecretName at line 2", err)
	}
	st := f.wantStatus(t, []string{"aaaa"}, 1, 1)
	if st.Names != nil {
		t.Errorf("names %q", st.Names)
	}
	if logged := strings.Join(f.logs.take(), "\n"); strings.Contains(logged, "T3xLp2") || !strings.Contains(logged, "line 2: account bbbb") {
		t.Errorf("logged %q", logged)
	}
}
