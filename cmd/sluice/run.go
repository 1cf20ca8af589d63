package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/internal/accesslog"
	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/gateway"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/internal/tracing"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` (default: $SLUICE_CONFIG, ./sluice.yaml, or the embedded default)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sluice run [-c FILE]\n\nRuns the gateway. SIGHUP (or a change to FILE) reloads the configuration\nwithout dropping requests; SIGTERM or SIGINT drains in-flight requests and exits.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	src := findSource(*file)
	in, err := start(src, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	return in.wait()
}

// instance is one running gateway process.
type instance struct {
	src     source
	log     *slog.Logger
	metrics *metrics.Metrics
	tracer  *tracing.Tracer
	gw      *gateway.Gateway
	srv     *gateway.Server
	cfg     *config.Config
	hash    [32]byte
	served  chan error
	access  *accesslog.Writer // nil when the access log is off
}

// start loads, validates and applies the configuration and binds every
// listener. On any problem nothing is started and every problem is printed.
func start(src source, stdout, stderr io.Writer) (*instance, error) {
	data, err := src.read()
	if err != nil {
		return nil, err
	}
	cfg, _, problems := check(src.name, data, kindMap())
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return nil, fmt.Errorf("%s: %d problem(s); nothing was started", src.name, len(problems))
	}
	log := newLogger(cfg.Log, stderr)
	var access *slog.Logger
	var accessOut *accesslog.Writer
	if cfg.Log.Access {
		accessOut = accesslog.New(stdout, 0)
		access = slog.New(slog.NewJSONHandler(accessOut, nil))
	}
	m := metrics.New()
	tr, err := tracing.New(cfg.Tracing, version)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(gateway.Options{
		Version: version,
		Kinds:   kinds(), Logger: log, AccessLog: access, Metrics: m, Tracer: tr,
		Drain: cfg.Reload.Drain.D(),
	})
	if err != nil {
		return nil, err
	}
	if ps := gw.Apply(cfg); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(stderr, (*config.Document)(nil).Format(p))
		}
		return nil, fmt.Errorf("%s: %d problem(s); nothing was started", src.name, len(ps))
	}
	srv, err := gateway.Listen(cfg, gw, m, log)
	if err != nil {
		gw.Close(context.Background())
		return nil, err
	}
	in := &instance{src: src, log: log, metrics: m, tracer: tr, gw: gw, srv: srv, cfg: cfg, access: accessOut,
		hash: sha256.Sum256(data), served: make(chan error, 1)}
	go func() { in.served <- srv.Serve() }()
	addrs := make([]string, 0, 2)
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	status := ""
	if a := srv.StatusAddr(); a != nil {
		status = a.String()
	}
	log.Info("sluice started", "version", version, "config", src.name, "listeners", strings.Join(addrs, ","), "status", status)
	return in, nil
}

// wait serves until SIGTERM/SIGINT, reloading on SIGHUP and on file change.
func (in *instance) wait() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	var tick <-chan time.Time
	if in.cfg.Reload.Watch && in.src.path != "" {
		t := time.NewTicker(in.cfg.Reload.Interval.D())
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-in.served:
			if err != nil {
				in.log.Error("listener failed", "error", err)
				return 1
			}
			return 0
		case s := <-sigs:
			if s == syscall.SIGHUP {
				in.reload("SIGHUP", true)
				continue
			}
			in.log.Info("shutting down: draining in-flight requests", "signal", s.String(), "deadline", in.cfg.Shutdown.Drain.D().String())
			return in.shutdown()
		case <-tick:
			in.reload("file change", false)
		}
	}
}

// reload re-reads the configuration and applies it if it changed (or
// always, when forced by SIGHUP). A bad configuration is refused whole: the
// running one keeps serving and every problem is logged.
func (in *instance) reload(why string, force bool) {
	data, err := in.src.read()
	if err != nil {
		if force {
			in.log.Error("configuration reload refused", "trigger", why, "error", err)
			in.metrics.Reload(false)
		}
		return
	}
	sum := sha256.Sum256(data)
	if !force && sum == in.hash {
		return
	}
	in.hash = sum
	cfg, _, problems := check(in.src.name, data, kindMap())
	if len(problems) > 0 {
		in.metrics.Reload(false)
		in.log.Error("configuration reload refused; the running configuration keeps serving",
			"trigger", why, "config", in.src.name, "problems", problems)
		return
	}
	if ps := in.gw.Apply(cfg); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, p := range ps {
			msgs[i] = (*config.Document)(nil).Format(p)
		}
		in.log.Error("configuration reload refused; the running configuration keeps serving",
			"trigger", why, "config", in.src.name, "problems", msgs)
		return
	}
	if static := staticChanges(in.cfg, cfg); len(static) > 0 {
		in.log.Warn("reload applied routes, upstreams and plugins; these settings need a restart",
			"settings", static)
	}
	in.cfg = cfg
	in.log.Info("configuration reloaded", "trigger", why, "config", in.src.name)
}

// staticChanges names the settings a reload cannot change in place.
func staticChanges(old, cur *config.Config) []string {
	var out []string
	if !reflect.DeepEqual(old.Listeners, cur.Listeners) {
		out = append(out, "listeners")
	}
	if old.Status != cur.Status {
		out = append(out, "status")
	}
	if old.Log != cur.Log {
		out = append(out, "log")
	}
	if !reflect.DeepEqual(old.Tracing, cur.Tracing) {
		out = append(out, "tracing")
	}
	return out
}

// shutdown drains: /readyz turns 503, requests are still accepted for
// shutdown.delay, then listeners stop accepting, in-flight requests get until
// the drain deadline, and everything is closed.
func (in *instance) shutdown() int {
	in.gw.StartDraining()
	if d := in.cfg.Shutdown.Delay.D(); d > 0 {
		in.log.Info("not ready; still accepting until the shutdown delay passes", "delay", d.String())
		time.Sleep(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.Shutdown.Drain.D())
	defer cancel()
	code := 0
	if err := in.srv.Shutdown(ctx); err != nil {
		in.log.Warn("drain deadline passed with requests still in flight; they were cut", "error", err)
		code = 1
	}
	in.gw.Close(ctx)
	if in.access != nil {
		_ = in.access.Close()
	}
	if err := in.tracer.Shutdown(ctx); err != nil {
		in.log.Warn("flushing traces failed", "error", err)
	}
	in.log.Info("sluice stopped")
	return code
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
