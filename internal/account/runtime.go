// Package account is the runtime of one SCP account: everything the
// account needs — its client and budget, endpoint and version resolution,
// the members refresh engine and its listings, the audit-trail poller and
// the expected-list files — under one context, with Start, Update, Stop and
// one Snapshot that scrapes read. The exporter above it is a config diff:
// one runtime per configured account.
//
// The parts live in the packages below this one: engine (members, stalest
// first, within the account's budget), inventory (listings), audit (the
// trail), trustlist (list files).
package account

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/scp-exporter/scp_exporter/internal/account/audit"
	"github.com/scp-exporter/scp_exporter/internal/account/engine"
	"github.com/scp-exporter/scp_exporter/internal/account/inventory"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/scp"
)

// Options are what every runtime of a process shares.
type Options struct {
	Logger    log.Logger
	Now       func() time.Time
	UserAgent string
	// Lists are the process's expected-list files, which every runtime
	// shares (see ListFiles).
	Lists *ListFiles
	// FallbackURL builds the Virtual Server host used while IAM's catalog
	// gives none (scp.BaseURLFor); tests point it elsewhere.
	FallbackURL func(region, environment string) string
	// Storage is where the state is kept across restarts; the zero value
	// keeps nothing.
	Storage Storage
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FallbackURL == nil {
		o.FallbackURL = scp.BaseURLFor
	}
	return o
}

// Runtime is one account's running parts. Snapshot, Wait and Ready are
// safe for concurrent use; Start, Update (Prepare, Apply) and Stop are
// called by one owner, one at a time (the exporter's reload).
type Runtime struct {
	opts    Options
	name    string
	metrics *scp.Metrics // outlives the clients: one per account

	// tasks are the account's goroutines, under one context: Stop ends
	// them all.
	tasks group
	lists *ListFiles

	mu       sync.Mutex
	settings config.Settings
	conn     *conn
	engine   *engine.Engine
	poller   *audit.Poller
	polling  *task
	owners   map[string]bool // expected image owners, with the list files' IDs
	names    expectedNames   // every expected account, with its name
	paths    []string        // the list files the settings name
	limits   MaxMembers
	started  bool
	stopped  bool
	// startedAt is when Start ran: events since then may explain the
	// members an image's first fetch shows.
	startedAt time.Time
	// version is the API version last warned about (with api_version
	// latest, the server's choice), to warn again only on a change.
	version string
	// listsChanged is signalled (never blocking) when a list file's IDs
	// changed; followLists re-evaluates what depends on them.
	listsChanged chan struct{}
	done         chan struct{} // closed when Stop has stopped everything
	// storage is what the state's reads and writes achieved; savedAudit
	// the audit trail's saved part, until follow starts the poller.
	storage        StorageStatus
	storageFailing bool // the last write failed (warned once)
	savedAudit     *audit.Saved
}

// New builds the runtime of one account: its client, budget and engine.
// It calls nothing and starts nothing: Start does. An error (a TLS file
// that cannot be read, for one) names the problem; nothing was built.
func New(s config.Settings, o Options) (*Runtime, error) {
	o = o.withDefaults()
	if o.Lists == nil {
		o.Lists = NewListFiles(ListFileOptions{Interval: s.Timing.ListFileInterval, Now: o.Now, Logger: log.With(o.Logger, "component", "lists")})
	}
	r := &Runtime{opts: o, name: s.Name, metrics: scp.NewMetrics(), lists: o.Lists, listsChanged: make(chan struct{}, 1), done: make(chan struct{})}
	r.tasks.init()
	c, err := r.newConn(s)
	if err != nil {
		r.tasks.stop()
		return nil, err
	}
	r.settings, r.conn, r.limits, r.paths = s, c, maxMembers(s), listPaths(s)
	r.syncLists(s)
	r.expect(s)
	r.engine = engine.New(r.engineOptions(s))
	return r, nil
}

// Name is the account's name ("" in the single-account form).
func (r *Runtime) Name() string { return r.name }

// Start resolves the account's endpoint and API version (waiting at most
// one request timeout; what is left goes on in the background) and starts
// the engine, the listings, the audit poller and the list-file watchers.
func (r *Runtime) Start() {
	r.mu.Lock()
	if r.started || r.stopped {
		r.mu.Unlock()
		return
	}
	r.started, r.startedAt = true, r.opts.Now()
	c, s := r.conn, r.settings
	r.mu.Unlock()
	r.resolve(c, s, "")

	r.mu.Lock()
	defer r.mu.Unlock()
	r.restore()
	r.tasks.spawn(r.engine.Run)
	r.tasks.spawn(r.followLists)
	if r.opts.Storage.Dir != "" {
		r.tasks.spawn(r.persist)
	}
	r.follow(r.settings)
	r.loaded(r.settings)
}

// Update takes a reload's settings of this account into use (see Prepare
// and Apply, which a reload of several accounts uses to change nothing
// unless every account's settings are good).
func (r *Runtime) Update(s config.Settings) error {
	u, err := r.Prepare(s)
	if err != nil {
		return err
	}
	r.Apply(u)
	return nil
}

// Plan is a prepared update: the settings, and a new client when the scp
// block changed.
type Plan struct {
	settings config.Settings
	conn     *conn // nil: the client in use stays
}

// Prepare builds what s needs that the runtime lacks — a new client, when
// the account's scp block changed — without changing anything that runs.
// Apply takes it into use, Discard drops it.
func (r *Runtime) Prepare(s config.Settings) (Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reflect.DeepEqual(r.settings.SCP, s.SCP) {
		return Plan{settings: s}, nil
	}
	c, err := r.newConn(s)
	if err != nil {
		return Plan{}, err
	}
	return Plan{settings: s, conn: c}, nil
}

// Discard drops a prepared plan that will not be applied.
func (c Plan) Discard() {
	if c.conn != nil {
		c.conn.http.CloseIdleConnections()
	}
}

// Apply takes a prepared change into use. What the engine knows of images
// that stay is kept. A new client continues from the rate the old budget
// had reached, and its endpoint and version are resolved (at most one
// request timeout here; the rest in the background). An unchanged scp
// block makes no API call.
func (r *Runtime) Apply(c Plan) {
	s := c.settings
	r.mu.Lock()
	started, old, running := r.started, r.conn, r.settings
	r.mu.Unlock()
	if c.conn != nil && started {
		lastGood := ""
		if s.SCP.Endpoint == "" && running.SCP.Endpoint == "" &&
			s.SCP.Region == running.SCP.Region && s.SCP.IAMBaseURL() == running.SCP.IAMBaseURL() {
			if info, ok := old.client.ServiceInfo(); ok && info.Source == scp.SourceCatalog {
				lastGood = info.URL
			}
		}
		r.resolve(c.conn, s, lastGood)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		c.conn.stopResolving()
		c.Discard()
		return
	}
	var retired *conn
	if c.conn != nil {
		c.conn.budget.Continue(old.budget)
		old.budget.Report(nil) // calls still under way on it no longer count
		c.conn.budget.Report(r.metrics)
		old.stopResolving()
		r.conn, retired = c.conn, old
	}
	r.settings, r.limits, r.paths = s, maxMembers(s), listPaths(s)
	r.syncLists(s)
	r.expect(s)
	r.engine.Update(r.engineOptions(s))
	if r.started {
		r.follow(s)
		r.loaded(s)
	}
	if retired != nil {
		// Idle connections close once nothing new will use them: after
		// the engine and poller have the new client.
		retired.http.CloseIdleConnections()
	}
}

// Stop ends every goroutine of the account and waits for them. A stopped
// runtime does not start again.
func (r *Runtime) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.stopped = true
	started := r.started
	r.mu.Unlock()
	r.tasks.stop()
	if started {
		r.save() // graceful: what the last interval learnt is kept too
	}
	r.lists.release(r)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conn.budget.Report(nil)
	r.conn.http.CloseIdleConnections()
	close(r.done)
}

// Done is closed once Stop has stopped every goroutine of the account.
func (r *Runtime) Done() <-chan struct{} { return r.done }

// Wait lets the engine fetch for a scrape until it has tried every image
// or ctx ends (on demand); it returns at once in background mode, and once
// the runtime has stopped (a scrape that began before a reload removed the
// account must not wait for work nobody does).
func (r *Runtime) Wait(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(r.tasks.ctx, cancel)
	defer unhook()
	r.engine.Wait(ctx)
}

// Ready reports whether the account's first listing has been tried, so a
// scrape sees every image discovery lists.
func (r *Runtime) Ready() bool { return r.engine.Inventory().Snapshot().Status.Tried }

// group runs goroutines under one context: the one way this package
// starts and stops its background work.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // orders spawn against stop
	stopped bool
	wg      sync.WaitGroup
}

func (g *group) init() { g.ctx, g.cancel = context.WithCancel(context.Background()) }

// task is one goroutine of a group that can be stopped on its own (the
// audit poller when the trail is turned off, a list file's watcher when no
// account names the file).
type task struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// spawn runs f under the group's context until it returns, the task is
// stopped or the group is; after the group stopped it runs nothing.
func (g *group) spawn(f func(ctx context.Context)) *task {
	ctx, cancel := context.WithCancel(g.ctx)
	t := &task{cancel: cancel, done: make(chan struct{})}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		cancel()
		close(t.done)
		return t
	}
	g.wg.Go(func() {
		defer close(t.done)
		f(ctx)
	})
	return t
}

// stop ends every goroutine of the group and waits for them.
func (g *group) stop() {
	g.mu.Lock()
	g.stopped = true
	g.cancel()
	g.mu.Unlock()
	g.wg.Wait()
}

// stop ends the task and waits for it.
func (t *task) stop() {
	if t != nil {
		t.cancel()
		<-t.done
	}
}

// follow starts, updates or stops the audit poller as s says: with
// audit.enabled, each event naming a watched image puts it at the head of
// the engine's queue. A failing trail only delays detection to the regular pass.
// r.mu must be held.
func (r *Runtime) follow(s config.Settings) {
	if !s.Audit.Enabled {
		r.polling.stop()
		r.poller, r.polling = nil, nil
		r.savedAudit = nil // a trail enabled later starts from then, not from a day back
		return
	}
	en := r.engine
	o := audit.Options{
		Lister:     r.conn.client,
		Interval:   s.Timing.AuditPollInterval,
		Timeout:    s.Timing.AuditPollTimeout,
		Filter:     auditFilter(s.Audit.Filter),
		Watched:    en.Watches,
		Prioritize: func(ids []string) { en.Prioritize(ids...) },
		Now:        r.opts.Now,
		Logger:     r.logger("audit"),
	}
	var err error
	if r.poller != nil {
		err = r.poller.Update(o)
	} else {
		var p *audit.Poller
		if p, err = audit.New(o); err == nil {
			if r.savedAudit != nil {
				p.Restore(*r.savedAudit, r.opts.Storage.AuditCatchUp)
				r.savedAudit = nil
			}
			r.poller = p
			r.polling = r.tasks.spawn(p.Run)
		}
	}
	if err != nil {
		level.Error(r.logger("audit")).Log("msg", "cannot follow the audit trail; the regular pass alone finds changes", "err", err)
	}
}

// auditFilter is the service filter audit.filter asks for; none when it is
// disabled.
func auditFilter(f config.AuditFilter) scp.AuditFilter {
	if !f.On() {
		return scp.AuditFilter{}
	}
	return scp.AuditFilter{ServiceType: f.ServiceType, ResourceType: f.ResourceType}
}

// loaded logs what a config taken into use deserves a word about.
// r.mu must be held.
func (r *Runtime) loaded(s config.Settings) {
	logger := r.logger("")
	// The version in use: with api_version latest, the server's choice.
	v := r.conn.client.APIVersion()
	if key := s.SCP.APIVersion + " " + v.ID; key != r.version {
		r.version = key
		warnVersion(logger, v, r.opts.Now())
	}
	if s.SCP.TLSConfig.InsecureSkipVerify {
		level.Warn(logger).Log("msg", "scp.tls_config.insecure_skip_verify is set: the API's certificate is NOT verified, and anyone on the path can read the signed requests and forge answers")
	}
}

// warnVersion logs when the API version in use is not the current one, and
// louder when its guaranteed support has ended.
func warnVersion(logger log.Logger, v scp.APIVersion, now time.Time) {
	switch {
	case v.Expired(now):
		level.Error(logger).Log("msg", "the SCP API version in use is past its support date; the API may stop answering it. Set scp.api_version to "+scp.DefaultAPIVersion,
			"version", v.ID, "state", v.State, "supported_until", v.SupportedUntil.Format(time.DateOnly))
	case v.State != scp.StateCurrent:
		level.Warn(logger).Log("msg", "the SCP API version in use is not the current one", "version", v.ID, "state", v.State,
			"supported_until", v.SupportedUntil.Format(time.DateOnly), "current", scp.DefaultAPIVersion)
	}
}

// engineOptions are the engine's options for s. r.mu must be held (or r
// not yet shared).
func (r *Runtime) engineOptions(s config.Settings) engine.Options {
	// Images without lists of their own share one set each (read-only): a
	// map per image would cost about 0.5 KiB an image.
	expected, visibility := s.Expected(config.Image{}, r.listOf), s.AllowedVisibilityOf(config.Image{})
	images := make([]engine.Image, len(s.Images))
	for i, img := range s.Images {
		images[i] = engine.Image{ID: img.ID, Name: img.Name, Expected: expected, AllowedVisibility: visibility}
		if len(img.ExpectedMembers) > 0 {
			images[i].Expected = s.Expected(img, r.listOf)
		}
		if img.AllowedVisibility != nil {
			images[i].AllowedVisibility = s.AllowedVisibilityOf(img)
		}
	}
	return engine.Options{
		Client: r.conn.client,
		Budget: r.conn.budget,
		Images: images,
		// Every account lists its images in the background, for their
		// visibility, and the images offered to it; discovery also watches
		// the images it lists.
		Inventory: inventory.Options{
			Discover:   s.Discovery.Enabled,
			Visibility: s.Discovery.Visibility,
			Match:      s.Discovery.Matches,
			MatchKey:   s.Discovery.NameRegex,
			Owner:      s.SCP.AccountID,
			Interval:   s.Timing.ListingInterval,
			Timeout:    s.Timing.ListingTimeout,
		},
		DefaultExpected:          expected,
		DefaultAllowedVisibility: visibility,
		RefreshInterval:          s.Timing.MembersRefreshInterval,
		CallTimeout:              s.Timing.MembersCallTimeout,
		Concurrency:              s.SCP.MaxConcurrency,
		Logger:                   r.logger("engine"),
		Now:                      r.opts.Now,
	}
}

// logger is the runtime's logger for a component; the account is named
// only in the accounts form.
func (r *Runtime) logger(component string) log.Logger {
	logger := r.opts.Logger
	if component != "" {
		logger = log.With(logger, "component", component)
	}
	if r.name != "" {
		logger = log.With(logger, "account", r.name)
	}
	return logger
}
