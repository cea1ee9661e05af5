// Command scp_exporter exposes who each Samsung Cloud Platform virtual machine
// image is shared with, as Prometheus metrics. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/scp-exporter/scp_exporter/internal/account"
	"github.com/scp-exporter/scp_exporter/internal/config"
	"github.com/scp-exporter/scp_exporter/internal/exporter"
	"github.com/scp-exporter/scp_exporter/internal/serve/httpserver"
	"github.com/scp-exporter/scp_exporter/internal/serve/lifecycle"
)

const (
	programName = "scp_exporter"
	// defaultAddress: 9857 is in the exporters' range and not used by any
	// widely deployed exporter.
	defaultAddress = ":9857"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New(programName, "Prometheus exporter for image sharing on Samsung Cloud Platform.")
	var (
		configFile    = app.Flag("config.file", "Path to the configuration file.").Default("config.yml").String()
		configCheck   = app.Flag("config.check", "Validate the configuration file, print every problem, and exit (0 valid, 1 not). Contacts nothing.").Bool()
		metricsPath   = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		timeoutOffset = app.Flag("scrape.timeout-offset", "Subtracted from Prometheus's scrape timeout to leave time to answer.").Default("0.5s").Duration()
		logLevel      = enumFlag(app, "log.level", "Only log messages with the given severity or above. One of: debug, info, warn, error.", "info", "debug", "info", "warn", "error")
		logFormat     = enumFlag(app, "log.format", "Output format of log messages. One of: logfmt, json.", "logfmt", "logfmt", "json")
		maxRequests   = app.Flag("web.max-requests", "Maximum number of scrapes producing their page at once (waiting for the accounts, rendering); more answer 503 at once. A finished page is sent without holding one. 0 means no limit.").Default("40").Int()
		noExporterMet = app.Flag("web.disable-exporter-metrics", "Exclude the exporter's own process and Go runtime metrics (go_*, process_*) from /metrics.").Bool()
		memberTimes   = enumFlag(app, "collector.member-timestamps", "Whose share timestamps to export: pending (scp_image_member_updated_timestamp_seconds for pending shares, which the pending-too-long alert needs), all (created and updated for every member: two more series per member), or none.",
			account.TimestampsPending, account.TimestampsPending, account.TimestampsAll, account.TimestampsNone)
		imageVisibility = app.Flag("collector.image-visibility", "Also export scp_image_visibility (one more series per image; scp_image_visibility_unexpected carries the same visibility label).").Bool()
		shutdownGrace   = app.Flag("web.shutdown-timeout", "On SIGTERM or SIGINT, how long scrapes under way may take to finish before the exporter exits.").Default("10s").Duration()
		storagePath     = app.Flag("storage.path", "Directory where each account's state (last known members, listings, the audit trail's position, the adaptive rate) is kept across restarts, as Alertmanager keeps its own; \"\" keeps nothing.").Default("data/").String()
		storageInterval = app.Flag("storage.snapshot-interval", "How often the state is written to --storage.path; it is also written on a graceful shutdown.").Default("1m").Duration()
		auditCatchUp    = app.Flag("storage.audit-catch-up", "After a restart, how far back the audit trail is read at most, from where the last run left off.").Default("24h").Duration()
		lifecycleOn     = app.Flag(lifecycle.Flag, "Let any caller reload the config with POST /-/reload (at most one reload a second). Without it, /-/reload answers 403 unless the request was authenticated by --web.config.file (basic_auth_users, or a verified client certificate); SIGHUP reloads in any case.").Bool()
		webFlags        = kingpinflag.AddFlags(app, defaultAddress)
	)
	app.Version(version.Print(programName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return 2
	}

	if err := httpserver.CheckMetricsPath(*metricsPath); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return 1
	}
	if *maxRequests < 0 {
		fmt.Fprintf(os.Stderr, "%s: --web.max-requests %d must not be negative (0 means no limit)\n", programName, *maxRequests)
		return 1
	}
	if *storageInterval <= 0 || *auditCatchUp <= 0 {
		fmt.Fprintf(os.Stderr, "%s: --storage.snapshot-interval (%s) and --storage.audit-catch-up (%s) must be positive\n", programName, *storageInterval, *auditCatchUp)
		return 1
	}
	logger, toolkitLogger := newLogger(*logFormat, *logLevel)

	if *configCheck {
		if _, err := config.Load(*configFile, os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, "config is invalid:")
			for _, e := range unjoin(err) {
				fmt.Fprintf(os.Stderr, "  - %v\n", e)
			}
			return 1
		}
		fmt.Printf("config %s is valid\n", *configFile)
		return 0
	}

	level.Info(logger).Log("msg", "starting "+programName, "version", version.Info(), "build_context", version.BuildContext())

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(programName))
	if !*noExporterMet {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// Signals are caught before the config is loaded (resolving endpoints
	// may take a request_timeout): a SIGHUP then waits for the reload
	// handler, a SIGTERM ends the process cleanly once it is up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	exp, err := exporter.New(exporter.Options{
		ConfigFile: *configFile,
		Getenv:     os.Getenv,
		Logger:     logger,
		UserAgent:  programName + "/" + version.Version,
		Series:     account.SeriesOptions{MemberTimestamps: *memberTimes, ImageVisibility: *imageVisibility},
		Storage:    account.Storage{Dir: *storagePath, Interval: *storageInterval, AuditCatchUp: *auditCatchUp},
	})
	if err != nil {
		level.Error(logger).Log("msg", "cannot load config", "err", err)
		return 1
	}
	defer exp.Close()

	go func() {
		for range hup {
			_ = exp.Reload() // logs and records its own failure
		}
	}()

	mux := http.NewServeMux()
	metrics := exp.Collector().Handler(reg, *timeoutOffset, promhttp.HandlerOpts{
		ErrorLog:          stdLogger{logger},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
	mux.Handle(*metricsPath, httpserver.Metrics(metrics, *maxRequests))
	mux.Handle("/-/reload", lifecycle.Handler(exp.ReloadHandler(), lifecycle.Options{
		Enabled:       *lifecycleOn,
		WebConfigFile: *webFlags.WebConfigFile,
		Logger:        log.With(logger, "component", "lifecycle"),
	}))
	level.Info(logger).Log("msg", "POST /-/reload is "+lifecycle.Describe(*lifecycleOn, *webFlags.WebConfigFile))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "healthy") })
	mux.Handle("/-/ready", exp.ReadyHandler())
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        programName,
			Description: "Who each Samsung Cloud Platform image is shared with",
			Version:     version.Info(),
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: *metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			level.Error(logger).Log("msg", "cannot build landing page", "err", err)
			return 1
		}
		mux.Handle("/", landing)
	}

	server := httpserver.New(mux)
	slogger := toolkitLogger
	err = httpserver.Run(stop, server, func() error { return web.ListenAndServe(server, webFlags, slogger) }, *shutdownGrace)
	if stop.Err() != nil {
		level.Info(logger).Log("msg", "shutting down: no new connections; scrapes under way finished or cut at the grace period", "grace", *shutdownGrace)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Error(logger).Log("msg", "http server stopped", "err", err)
		return 1
	}
	exp.Close() // background work ends before the process does
	level.Info(logger).Log("msg", "stopped")
	return 0
}

// newLogger builds the go-kit logger, and the slog logger exporter-toolkit
// needs, writing through it with the same keys: one ts and one caller per
// line in both formats.
func newLogger(format, lvl string) (log.Logger, *slog.Logger) {
	var logger log.Logger
	if format == "json" {
		logger = log.NewJSONLogger(log.NewSyncWriter(os.Stderr))
	} else {
		logger = log.NewLogfmtLogger(log.NewSyncWriter(os.Stderr))
	}
	allow := map[string]level.Option{
		"debug": level.AllowDebug(), "info": level.AllowInfo(), "warn": level.AllowWarn(), "error": level.AllowError(),
	}[lvl]
	slogLevel := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}[lvl]
	logger = level.NewFilter(logger, allow)
	// The slog handler adds its own caller and time: the go-kit logger it
	// writes to must add neither, and its "time" becomes our "ts".
	renamed := log.LoggerFunc(func(keyvals ...any) error {
		for i := 0; i+1 < len(keyvals); i += 2 {
			if keyvals[i] == slog.TimeKey {
				keyvals[i] = "ts"
				if t, ok := keyvals[i+1].(time.Time); ok {
					keyvals[i+1] = t.UTC().Format(time.RFC3339Nano)
				}
			}
		}
		return logger.Log(keyvals...)
	})
	toolkit := slog.New(sloggokit.NewGoKitHandler(renamed, slogLevel))
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), toolkit
}

// unjoin splits an errors.Join error (possibly wrapped once) into its parts.
func unjoin(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	return []error{err}
}

// stdLogger adapts the go-kit logger to promhttp's error log.
type stdLogger struct{ logger log.Logger }

func (l stdLogger) Println(v ...any) {
	level.Error(l.logger).Log("msg", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// enumValue is a flag value that must be one of allowed; unlike kingpin's
// Enum, its error names the flag.
type enumValue struct {
	name    string
	allowed []string
	value   *string
}

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("--%s: %q is not one of %s", e.name, s, strings.Join(e.allowed, ", "))
	}
	*e.value = s
	return nil
}

func (e *enumValue) String() string { return *e.value }

// enumFlag adds a flag whose value is one of allowed, def by default.
func enumFlag(app *kingpin.Application, name, help, def string, allowed ...string) *string {
	value := def
	app.Flag(name, help).Default(def).SetValue(&enumValue{name: name, allowed: allowed, value: &value})
	return &value
}
