// Package lifecycle guards POST /-/reload, the one endpoint that changes
// what the exporter does. A reload is served only when the operator asked
// for it (--web.enable-lifecycle, as in Prometheus) or when the request was
// authenticated by the exporter-toolkit web config; at most one reload
// starts per MinInterval over HTTP; refusals are logged once a minute, not
// once per request. SIGHUP does not pass through here: it always reloads.
package lifecycle

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.yaml.in/yaml/v3"
)

// Flag is the flag that enables /-/reload for every caller; Prometheus
// names it so.
const Flag = "web.enable-lifecycle"

// DefaultMinInterval is how long after one reload started over HTTP the
// next may start.
const DefaultMinInterval = time.Second

// SummaryInterval is how often refusals are summed up in the log, at most.
const SummaryInterval = time.Minute

// DisabledMessage begins the 403 answer when the endpoint is not enabled,
// as Prometheus words it, so tools that recognise Prometheus' answer
// recognise this one.
const DisabledMessage = "Lifecycle API is not enabled."

// Options configure the guard.
type Options struct {
	// Enabled is --web.enable-lifecycle: every caller may reload.
	Enabled bool
	// WebConfigFile is --web.config.file, "" for none. It is read when a
	// request with basic-auth credentials arrives, as exporter-toolkit reads
	// it for every request, so an edit that adds or removes users counts at
	// once.
	WebConfigFile string
	// MinInterval is the least time between two reloads started over HTTP;
	// DefaultMinInterval when 0.
	MinInterval time.Duration
	// Logger takes the refusals' lines.
	Logger log.Logger
	// Now is time.Now in production.
	Now func() time.Time
	// AfterFunc runs f once d has passed; time.AfterFunc in production.
	// The refusal summary is written by it.
	AfterFunc func(d time.Duration, f func())
}

// Handler returns the /-/reload handler: POST requests reach reload only
// when allowed and not too soon after the last; other methods go to reload
// as they are (it refuses them, 405), so they neither count nor reload.
//
// Allowed means --web.enable-lifecycle, or a request exporter-toolkit has
// authenticated: it carries a client certificate verified against the web
// config's client CA (client_auth_type RequireAndVerifyClientCert, or
// VerifyClientCertIfGiven with a certificate given), or basic-auth
// credentials while the web config has basic_auth_users (the toolkit
// admits such a request only with a good password). Otherwise the answer
// is 403; too soon, 429 with Retry-After.
func Handler(reload http.Handler, o Options) http.Handler {
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &guard{opts: o, next: reload}
}

// guard is the handler Handler returns.
type guard struct {
	opts Options
	next http.Handler

	mu        sync.Mutex
	nextStart time.Time // no reload starts over HTTP before it
	// Refusals since the last log line; summarising is true from the first
	// refusal logged until a summary interval passes without any.
	forbidden, limited int
	summarising        bool
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		g.next.ServeHTTP(w, r)
		return
	}
	if !g.allowed(r) {
		g.refused(r, &g.forbidden, "lifecycle API not enabled")
		http.Error(w, DisabledMessage+" Start the exporter with --"+Flag+
			", or require basic auth or verified client certificates in --web.config.file, to reload over HTTP; SIGHUP reloads in any case.",
			http.StatusForbidden)
		return
	}
	if wait := g.admit(); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		g.refused(r, &g.limited, "too soon after the last reload")
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		http.Error(w, fmt.Sprintf("too many reload requests: at most one reload starts every %v; retry after %ds", g.opts.MinInterval, secs),
			http.StatusTooManyRequests)
		return
	}
	g.next.ServeHTTP(w, r)
}

// allowed tells whether r may reload: see Handler.
func (g *guard) allowed(r *http.Request) bool {
	if g.opts.Enabled {
		return true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	if _, _, ok := r.BasicAuth(); ok && g.opts.WebConfigFile != "" {
		c, err := readWebConfig(g.opts.WebConfigFile)
		return err == nil && len(c.Users) > 0
	}
	return false
}

// admit takes the next reload start if it is due, and otherwise says how
// long until it is.
func (g *guard) admit() time.Duration {
	now := g.opts.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if wait := g.nextStart.Sub(now); wait > 0 {
		return wait
	}
	g.nextStart = now.Add(g.opts.MinInterval)
	return 0
}

// refused records a refusal in count. The first after a quiet minute is
// logged at once, with who sent it; the ones after it are summed up once a
// minute while they go on.
func (g *guard) refused(r *http.Request, count *int, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.summarising {
		*count++
		return
	}
	g.summarising = true
	level.Warn(g.opts.Logger).Log("msg", "POST /-/reload refused; further refusals are counted and logged once a minute",
		"reason", reason, "remote", r.RemoteAddr)
	g.opts.AfterFunc(SummaryInterval, g.summary)
}

// summary logs the refusals of the last interval, if any, and waits for
// the next; after an interval without any, the next refusal is logged at
// once again.
func (g *guard) summary() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.forbidden+g.limited == 0 {
		g.summarising = false
		return
	}
	level.Warn(g.opts.Logger).Log("msg", fmt.Sprintf("%d reload requests refused in the last minute", g.forbidden+g.limited),
		"lifecycle_not_enabled", g.forbidden, "too_soon", g.limited)
	g.forbidden, g.limited = 0, 0
	g.opts.AfterFunc(SummaryInterval, g.summary)
}

// webConfig is the part of exporter-toolkit's web config that says who is
// authenticated.
type webConfig struct {
	TLS struct {
		ClientAuth string `yaml:"client_auth_type"`
	} `yaml:"tls_server_config"`
	Users map[string]string `yaml:"basic_auth_users"`
}

// readWebConfig reads an exporter-toolkit web config file. The error names
// the file only: the file holds password hashes, which stay out of logs.
func readWebConfig(path string) (webConfig, error) {
	var c webConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("cannot read the web config %s: %w", path, err)
	}
	if yaml.Unmarshal(b, &c) != nil {
		return c, fmt.Errorf("cannot parse the web config %s", path)
	}
	return c, nil
}

// Describe says in a line who may POST /-/reload with these flags and the
// web config as it is now, for the log at start.
func Describe(enabled bool, webConfigFile string) string {
	switch {
	case enabled:
		return "enabled for every caller (--" + Flag + ")"
	case webConfigFile == "":
	default:
		c, err := readWebConfig(webConfigFile)
		switch {
		case err != nil:
		case len(c.Users) > 0 && c.TLS.ClientAuth == "RequireAndVerifyClientCert":
			return "enabled for callers the web config authenticates (basic_auth_users, client certificates)"
		case len(c.Users) > 0:
			return "enabled for callers the web config authenticates (basic_auth_users)"
		case c.TLS.ClientAuth == "RequireAndVerifyClientCert":
			return "enabled for callers the web config authenticates (client certificates)"
		}
	}
	return "disabled, answers 403: start with --" + Flag + " or put authentication in --web.config.file to reload over HTTP; SIGHUP reloads"
}
