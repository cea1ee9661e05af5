package exporter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/account/trustlist"
)

// listInterval is how often each expected-list file is checked for a
// change (a stat call; a read only when it changed).
var listInterval = trustlist.DefaultInterval

// lists keeps one trustlist.Watcher per expected_members_file and
// expected_image_owners_file the config names, so that security teams can
// edit those files and see the change within one check, without a reload.
type lists struct {
	now    func() time.Time
	logger log.Logger
	// changed is signalled (never blocking) when a file's list changed.
	changed chan struct{}

	cfg atomic.Pointer[config.Config] // the config last read: its secrets are redacted

	mu       sync.Mutex
	watchers map[string]*listWatcher
}

type listWatcher struct {
	*trustlist.Watcher
	stop context.CancelFunc
	done chan struct{} // nil until Run is started, after the first read
}

func newLists(now func() time.Time, logger log.Logger) *lists {
	return &lists{now: now, logger: logger, changed: make(chan struct{}, 1), watchers: map[string]*listWatcher{}}
}

// paths are the list files cfg names, each once.
func listPaths(cfg *config.Config) map[string]bool {
	paths := map[string]bool{}
	for i := range cfg.Accounts {
		members, owners := cfg.ListFiles(&cfg.Accounts[i])
		for _, p := range append(members, owners...) {
			paths[p] = true
		}
	}
	return paths
}

// read makes sure every list file cfg names has a watcher and reads each
// now, so that what is built next uses the files as they are: a new file
// is read for the first time, a kept one again (a reload asks for it).
// Files cfg no longer names are dropped by prune, once cfg is in use.
func (l *lists) read(cfg *config.Config) {
	l.cfg.Store(cfg)
	paths := listPaths(cfg)
	l.mu.Lock()
	ws := make([]*listWatcher, 0, len(paths))
	for p := range paths {
		w, ok := l.watchers[p]
		if !ok {
			w = &listWatcher{Watcher: trustlist.New(p, trustlist.Options{
				Interval: listInterval,
				Now:      l.now,
				Logger:   l.logger,
				Changed:  l.signal,
				Redact:   func(msg string) string { return l.cfg.Load().Redact(msg) },
			})}
			l.watchers[p] = w
		}
		ws = append(ws, w)
	}
	l.mu.Unlock()
	for _, w := range ws {
		_ = w.Reload() // a failure keeps the last good list, and is logged and exported
		if w.done == nil {
			ctx, cancel := context.WithCancel(context.Background())
			w.stop, w.done = cancel, make(chan struct{})
			go func() { defer close(w.done); w.Run(ctx) }()
		}
	}
	// What these reads changed is what the caller builds next.
	select {
	case <-l.changed:
	default:
	}
}

// prune stops the watchers of files cfg does not name.
func (l *lists) prune(cfg *config.Config) {
	paths := listPaths(cfg)
	l.mu.Lock()
	var stopped []*listWatcher
	for p, w := range l.watchers {
		if !paths[p] {
			w.stop()
			stopped = append(stopped, w)
			delete(l.watchers, p)
		}
	}
	l.mu.Unlock()
	for _, w := range stopped {
		<-w.done
	}
}

func (l *lists) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// lookup returns the list in use for a file: its watcher's last good list
// (none while the file has never been good).
func (l *lists) lookup(path string) []string {
	l.mu.Lock()
	w := l.watchers[path]
	l.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.Status().IDs
}

// close stops every watcher.
func (l *lists) close() {
	l.mu.Lock()
	ws := l.watchers
	l.watchers = map[string]*listWatcher{}
	l.mu.Unlock()
	for _, w := range ws {
		w.stop()
		<-w.done
	}
}

var (
	listEntriesDesc = prometheus.NewDesc("scp_expected_list_file_entries",
		"Account IDs in the expected-list file's list in use (the last good read).", []string{"file"}, nil)
	listSuccessDesc = prometheus.NewDesc("scp_expected_list_file_last_read_successful",
		"1 when the expected-list file was last found good, 0 when it is missing, unreadable or malformed and its last good list stays in use.", []string{"file"}, nil)
	listTimestampDesc = prometheus.NewDesc("scp_expected_list_file_last_success_timestamp_seconds",
		"When the expected-list file was last found good (read, or checked unchanged), in Unix seconds; 0 if never since start.", []string{"file"}, nil)
)

// Describe implements prometheus.Collector.
func (l *lists) Describe(ch chan<- *prometheus.Desc) {
	ch <- listEntriesDesc
	ch <- listSuccessDesc
	ch <- listTimestampDesc
}

// Collect implements prometheus.Collector.
func (l *lists) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	ws := make([]*listWatcher, 0, len(l.watchers))
	for _, w := range l.watchers {
		ws = append(ws, w)
	}
	l.mu.Unlock()
	for _, w := range ws {
		st := w.Status()
		if st.Generation == 0 && st.Err == nil {
			continue // not read yet
		}
		ok, ts := 1.0, 0.0
		if st.Err != nil {
			ok = 0
		}
		if !st.LastSuccess.IsZero() {
			ts = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(listEntriesDesc, prometheus.GaugeValue, float64(len(st.IDs)), st.Path)
		ch <- prometheus.MustNewConstMetric(listSuccessDesc, prometheus.GaugeValue, ok, st.Path)
		ch <- prometheus.MustNewConstMetric(listTimestampDesc, prometheus.GaugeValue, ts, st.Path)
	}
}

// followLists re-evaluates expected members and owners whenever a list
// file changed, until quit is closed.
func (e *Exporter) followLists(quit <-chan struct{}) {
	for {
		select {
		case <-quit:
			return
		case <-e.lists.changed:
		}
		e.mu.Lock()
		if e.cfg != nil && !e.closed {
			if scope, err := e.build(e.cfg); err != nil {
				level.Error(e.opts.Logger).Log("msg", "re-evaluating expected accounts after a list file changed failed", "err", err)
			} else {
				e.collector.Update(scope)
				level.Info(e.opts.Logger).Log("msg", "an expected-list file changed; expected members and image owners re-evaluated")
			}
		}
		e.mu.Unlock()
	}
}
