package account

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
)

// ListFiles are the expected-list files of a process: one watcher per
// path, however many accounts name it, so that a file's last good list is
// the same for every account (an account added while the file is bad uses
// it too), the file is read and logged once, and an edit reaches every
// account that names it within one check, without a reload. The exporter
// makes one and hands it to every runtime (Options.Lists).
type ListFiles struct {
	opts  ListFileOptions
	tasks group

	mu    sync.Mutex
	files map[string]*listFile
}

// ListFileOptions configure ListFiles.
type ListFileOptions struct {
	// Interval is how often each file is checked (config.Timing's
	// ListFileInterval).
	Interval time.Duration
	Now      func() time.Time
	Logger   log.Logger
	// Redact removes the running config's secrets from what is logged of
	// a file (which may quote whatever was pasted into it).
	Redact func(string) string
}

// listFile is one watched file and the runtimes that use it.
type listFile struct {
	watcher  *trustlist.Watcher
	watching *task
	users    map[*Runtime]bool
}

// NewListFiles returns an empty set of watched files; Close stops them.
func NewListFiles(o ListFileOptions) *ListFiles {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	l := &ListFiles{opts: o, files: map[string]*listFile{}}
	l.tasks.init()
	return l
}

// Close stops every watcher and waits for them.
func (l *ListFiles) Close() { l.tasks.stop() }

// Reread reads every watched file now, changed or not, once however many
// accounts name it: a reload asks for it, before the accounts take their
// new settings.
func (l *ListFiles) Reread() {
	l.mu.Lock()
	ws := make([]*trustlist.Watcher, 0, len(l.files))
	for _, f := range l.files {
		ws = append(ws, f.watcher)
	}
	l.mu.Unlock()
	for _, w := range ws {
		_ = w.Check() // a failure keeps the last good list, and is logged and exported
	}
}

// use makes r a user of exactly paths: a file new to the set gets a
// watcher and is read now (one watched already was read by Reread), and
// files r no longer names are dropped for it (and stopped when no account
// names them). A file that cannot be read keeps its last good list (none
// at first) and says so in its status and the log.
func (l *ListFiles) use(r *Runtime, paths []string) {
	l.mu.Lock()
	var fresh []*trustlist.Watcher
	var unused []*task
	for path, f := range l.files {
		if f.users[r] && !slices.Contains(paths, path) {
			delete(f.users, r)
			if len(f.users) == 0 {
				unused = append(unused, f.watching)
				delete(l.files, path)
			}
		}
	}
	for _, path := range paths {
		f, ok := l.files[path]
		if !ok {
			f = &listFile{users: map[*Runtime]bool{}}
			f.watcher = trustlist.New(path, trustlist.Options{
				Interval: l.opts.Interval,
				Now:      l.opts.Now,
				Logger:   l.opts.Logger,
				Changed:  func() { l.changed(path) },
				Redact:   l.opts.Redact,
			})
			l.files[path] = f
			fresh = append(fresh, f.watcher)
		}
		f.users[r] = true
	}
	l.mu.Unlock()
	for _, t := range unused {
		t.stop() // without l.mu: a check under way may be telling its users
	}
	for _, w := range fresh {
		_ = w.Check() // a failure keeps the last good list, and is logged and exported
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, path := range paths {
		if f := l.files[path]; f != nil && f.watching == nil {
			f.watching = l.tasks.spawn(f.watcher.Run)
		}
	}
}

// release drops r from every file it used.
func (l *ListFiles) release(r *Runtime) { l.use(r, nil) }

// changed tells every runtime that uses the file that its list changed.
func (l *ListFiles) changed(path string) {
	l.mu.Lock()
	var users []*Runtime
	if f := l.files[path]; f != nil {
		for r := range f.users {
			users = append(users, r)
		}
	}
	l.mu.Unlock()
	for _, r := range users {
		r.signalLists()
	}
}

// list is the list in use for a file: its last good list (none while the
// file has never been good, or is not watched).
func (l *ListFiles) list(path string) trustlist.List {
	l.mu.Lock()
	f := l.files[path]
	l.mu.Unlock()
	if f == nil {
		return trustlist.List{}
	}
	return f.watcher.List()
}

// statuses are what the watchers of paths know now, in path order.
func (l *ListFiles) statuses(paths []string) []trustlist.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []trustlist.Status
	for _, path := range slices.Sorted(slices.Values(paths)) {
		if f := l.files[path]; f != nil {
			out = append(out, f.watcher.Status())
		}
	}
	return out
}

// listPaths are the list files s names.
func listPaths(s config.Settings) []string {
	return slices.Compact(slices.Sorted(slices.Values(slices.Concat(s.ExpectedMembersFiles, s.ExpectedImageOwnersFiles))))
}

// syncLists uses the list files s names (a new one is read now; a reload
// has read the others, see ListFiles.Reread), so that what is built next
// uses the files as they are; then drops any signal those reads caused
// (what they changed is what the caller builds next).
// r.mu must be held (or r not yet shared).
func (r *Runtime) syncLists(s config.Settings) {
	r.lists.use(r, listPaths(s))
	select {
	case <-r.listsChanged:
	default:
	}
}

// listOf is the list in use for a file.
func (r *Runtime) listOf(path string) trustlist.List { return r.lists.list(path) }

// expect takes the expected image owners and the names of every expected
// account from s and the list files' lists in use. r.mu must be held (or
// r not yet shared).
func (r *Runtime) expect(s config.Settings) {
	r.owners = s.ExpectedOwners(r.listOf)
	r.names = expectedNames{members: s.NamedMembers(r.listOf), owners: s.NamedOwners(r.listOf)}
}

func (r *Runtime) signalLists() {
	select {
	case r.listsChanged <- struct{}{}:
	default:
	}
}

// followLists re-evaluates the expected members and image owners, and
// their names, whenever a list file's list changed, until ctx ends.
func (r *Runtime) followLists(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.listsChanged:
		}
		r.mu.Lock()
		if !r.stopped {
			r.expect(r.settings)
			r.engine.Update(r.engineOptions(r.settings))
			level.Info(r.logger("lists")).Log("msg", "an expected-list file changed; expected members and image owners re-evaluated")
		}
		r.mu.Unlock()
	}
}

// expectedNames are every account of the expected lists in use, with the
// names given to them, as the snapshot shows them.
type expectedNames struct {
	members, owners []config.Named
}
