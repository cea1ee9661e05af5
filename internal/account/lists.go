package account

import (
	"context"
	"slices"

	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
	"github.com/scp-exporter/scp_exporter/internal/config"
)

// listFile is one expected-list file the account's settings name, watched
// so that security teams can edit it and see the change within one check,
// without a reload.
type listFile struct {
	watcher  *trustlist.Watcher
	watching *task // nil until started
}

// start follows the file's changes. r.mu must be held.
func (l *listFile) start(r *Runtime) {
	if l.watching == nil {
		l.watching = r.spawn(l.watcher.Run)
	}
}

// syncLists makes sure every list file s names has a watcher, and reads
// each now, so that what is built next uses the files as they are: a new
// file is read for the first time, a kept one again (a reload asks for
// it). Files s no longer names are dropped. A file that cannot be read
// keeps its last good list (none at first), and says so in its status and
// the log. r.mu must be held (or r not yet shared).
func (r *Runtime) syncLists(s config.Settings) {
	paths := slices.Concat(s.ExpectedMembersFiles, s.ExpectedImageOwnersFiles)
	for path, l := range r.lists {
		if !slices.Contains(paths, path) {
			l.watching.stop()
			delete(r.lists, path)
		}
	}
	for _, path := range paths {
		l, ok := r.lists[path]
		if !ok {
			l = &listFile{watcher: trustlist.New(path, trustlist.Options{
				Interval: s.Timing.ListFileInterval,
				Now:      r.opts.Now,
				Logger:   r.logger("lists"),
				Changed:  r.signalLists,
				Redact:   r.opts.Redact,
			})}
			r.lists[path] = l
		}
		_ = l.watcher.Reload() // a failure keeps the last good list, and is logged and exported
		if r.started {
			l.start(r)
		}
	}
	// What these reads changed is what the caller builds next.
	select {
	case <-r.listsChanged:
	default:
	}
}

// listIDs is the list in use for a file: its watcher's last good list
// (none while the file has never been good).
func (r *Runtime) listIDs(path string) []string {
	if l := r.lists[path]; l != nil {
		return l.watcher.IDs()
	}
	return nil
}

func (r *Runtime) signalLists() {
	select {
	case r.listsChanged <- struct{}{}:
	default:
	}
}

// followLists re-evaluates the expected members and image owners whenever
// a list file's IDs changed, until ctx ends.
func (r *Runtime) followLists(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.listsChanged:
		}
		r.mu.Lock()
		if !r.stopped {
			r.owners = r.settings.ExpectedOwners(r.listIDs)
			r.engine.Update(r.engineOptions(r.settings))
			level.Info(r.logger("lists")).Log("msg", "an expected-list file changed; expected members and image owners re-evaluated")
		}
		r.mu.Unlock()
	}
}
