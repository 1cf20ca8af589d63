package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	airoute "github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/httperr"
	mcproute "github.com/sluicegw/sluice/internal/mcp/route"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/internal/proxy"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// generation is everything built from one config snapshot: the router, each
// route's chain and the upstream pools. It is immutable once built and is
// swapped in whole; the old one drains and then closes.
type generation struct {
	id     uint64
	cfg    *config.Config
	router *router.Router
	routes []*route // same index as the router's
	// unmatched takes requests no route matches: the global plugins (so a
	// 404 still gets its request ID and CORS headers), then a JSON 404,
	// counted under route="".
	unmatched *route
	pools     []*upstream.Pool
	trusted   []netip.Prefix
	ids       identities

	inflight atomic.Int64
	retired  atomic.Bool
	drained  chan struct{} // closed when retired and inflight reaches 0
	once     sync.Once

	closeMu sync.Mutex
	closers []func() error
}

type route struct {
	name     string
	upstream string
	handler  plugin.Handler
	metrics  *metrics.Route
	// consumers are the configured ones: only they get their own metric
	// label, because openid-connect may name a consumer per token subject.
	consumers map[string]*plugin.Consumer
	// render, when set, writes a plugin's error in the route's own
	// protocol (an ai route's OpenAI or Anthropic error shape, an mcp
	// route's JSON-RPC error) in place of Sluice's generic JSON error.
	render func(w http.ResponseWriter, r *http.Request, e *plugin.Error, requestID string)
	// mcp is the handler of an mcp route, for its metric labels.
	mcp *mcproute.Handler
}

// acquire registers a request on g. It fails once g is retired, so a request
// that raced with a swap retries on the new generation.
func (g *generation) acquire() bool {
	g.inflight.Add(1)
	if g.retired.Load() {
		g.release()
		return false
	}
	return true
}

func (g *generation) release() {
	if g.inflight.Add(-1) == 0 && g.retired.Load() {
		g.once.Do(func() { close(g.drained) })
	}
}

// retire stops new requests from entering g, waits up to drain for the
// in-flight ones, then closes g's resources.
func (g *generation) retire(drain time.Duration, log *slog.Logger) {
	g.retired.Store(true)
	if g.inflight.Load() == 0 {
		g.once.Do(func() { close(g.drained) })
	}
	go func() {
		select {
		case <-g.drained:
		case <-time.After(drain):
			log.Warn("retired configuration still had requests in flight at its drain deadline; closing it",
				"generation", g.id, "in_flight", g.inflight.Load())
		}
		g.close(log)
	}()
}

// close stops health checks and runs plugin cleanups. Safe to call twice.
func (g *generation) close(log *slog.Logger) {
	g.closeMu.Lock()
	closers := g.closers
	g.closers = nil
	g.closeMu.Unlock()
	for _, p := range g.pools {
		p.Close()
	}
	for _, c := range closers {
		if err := c(); err != nil {
			log.Warn("closing a plugin of a retired configuration failed", "generation", g.id, "error", err)
		}
	}
}

func (g *generation) onClose(f func() error) {
	g.closeMu.Lock()
	g.closers = append(g.closers, f)
	g.closeMu.Unlock()
}

// isTrusted reports whether addr is a configured trusted proxy.
func (g *generation) isTrusted(addr netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RouterSpecs converts the config's routes for the router, followed by the
// routes the gateway adds itself (mcp routes' metadata documents).
func routerSpecs(cfg *config.Config) []router.Route {
	routes := append(slices.Clip(cfg.Routes), mcpMetadataRoutes(cfg)...)
	specs := make([]router.Route, len(routes))
	for i, r := range routes {
		specs[i] = router.Route{
			Priority: r.Priority,
			Hosts:    r.Match.Hosts,
			Paths:    r.Match.Paths,
			Methods:  r.Match.Methods,
			Headers:  r.Match.Headers,
			Query:    r.Match.Query,
		}
	}
	return specs
}

// CheckRoutes compiles the routes' match patterns and returns their problems
// with config paths. It is pure; `sluice validate` runs it after
// config.Validate.
func CheckRoutes(cfg *config.Config) config.Problems {
	_, err := router.Compile(routerSpecs(cfg))
	return patternProblems(err)
}

func patternProblems(err error) config.Problems {
	if err == nil {
		return nil
	}
	var ps config.Problems
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var pe *router.PatternError
		if errors.As(e, &pe) {
			ps = append(ps, config.Problem{Path: config.Path{"routes", pe.Route, "match", pe.Field, pe.Index}, Msg: pe.Msg})
			continue
		}
		ps = append(ps, config.Problem{Path: config.Path{"routes"}, Msg: e.Error()})
	}
	return ps
}

// build turns a validated config into a generation. Nothing is started: on
// any problem everything built so far is closed and the problems returned.
func (gw *Gateway) build(cfg *config.Config, id uint64) (*generation, config.Problems) {
	g := &generation{id: id, cfg: cfg, drained: make(chan struct{})}
	var problems config.Problems
	fail := func(p config.Problem) { problems = append(problems, p) }

	rt, err := router.Compile(routerSpecs(cfg))
	problems = append(problems, patternProblems(err)...)
	g.router = rt

	for _, s := range cfg.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			fail(config.Problem{Path: config.Path{"trusted_proxies"}, Msg: err.Error()})
			continue
		}
		g.trusted = append(g.trusted, p)
	}

	pools := make(map[string]*upstream.Pool, len(cfg.Upstreams))
	for i, uc := range cfg.Upstreams {
		name := uc.Name
		pool, err := upstream.New(uc, upstream.Options{
			Logger: gw.log.With("upstream", name),
			OnHealth: func(target string, healthy bool) {
				gw.metrics.TargetHealth(name, target, healthy)
			},
		})
		if err != nil {
			fail(config.Problem{Path: config.Path{"upstreams", i}, Msg: err.Error()})
			continue
		}
		pools[name] = pool
		g.pools = append(g.pools, pool)
		for _, t := range pool.Targets() {
			gw.metrics.TargetHealth(name, t.String(), t.Healthy())
		}
	}

	mcpb, ps := gw.buildMCP(g, cfg, pools)
	problems = append(problems, ps...)

	ids := buildIdentities(cfg, gw.kinds)
	problems = append(problems, ids.problems...)
	g.ids = ids

	global := cfg.GlobalPlugins
	globalUses, ps := gw.buildPlugins(g, config.Route{}, -1, global)
	problems = append(problems, ps...)
	g.unmatched = &route{metrics: gw.metrics.Route("", ""),
		handler: plugin.Chain(plugin.WithAuthnGate(globalUses, plugin.AuthnPolicy{}), plugin.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return httperr.ErrNoRoute
		}))}
	for i, rc := range cfg.Routes {
		r := &route{name: rc.Name, upstream: rc.Upstream, metrics: gw.metrics.Route(rc.Name, rc.Upstream), consumers: ids.consumers}
		var terminal plugin.Handler = noUpstream{}
		var aiRoute *airoute.Handler
		if rc.MCP != nil {
			h, err := gw.mcpHandler(mcpb, rc)
			if err != nil {
				fail(config.Problem{Path: config.Path{"routes", i, "mcp"}, Msg: err.Error()})
				continue
			}
			g.onClose(h.Close)
			terminal, r.render, r.mcp = h, h.WriteError, h
		} else if rc.AI != nil {
			h, err := gw.aiHandler(cfg, rc)
			if err != nil {
				fail(config.Problem{Path: config.Path{"routes", i, "ai"}, Msg: err.Error()})
				continue
			}
			terminal, aiRoute, r.render = h, h, h.WriteError
		} else if rc.Upstream != "" {
			pool, ok := pools[rc.Upstream]
			uc, defined := upstreamConfig(cfg, rc.Upstream)
			if !ok {
				if !defined { // a defined pool that failed to build was reported already
					fail(config.Problem{Path: config.Path{"routes", i, "upstream"}, Msg: fmt.Sprintf("upstream %q is not defined", rc.Upstream)})
				}
				continue
			}
			terminal = proxy.New(pool, proxy.Options{
				PassHost:     uc.PassHost,
				UpstreamHost: uc.UpstreamHost,
				Tracer:       gw.tracer,
			})
		}
		uses, ps := gw.buildPlugins(g, rc, i, global)
		problems = append(problems, ps...)
		policy := plugin.AuthnPolicy{All: rc.Auth.Mode == "all"}
		if a := rc.Auth.Anonymous; a != "" {
			policy.Anonymous = ids.consumers[a]
			if policy.Anonymous == nil {
				fail(config.Problem{Path: config.Path{"routes", i, "auth", "anonymous"}, Msg: fmt.Sprintf("consumer %q is not defined", a)})
			}
		}
		r.handler = plugin.Chain(plugin.WithAuthnGate(uses, policy), terminal)
		if aiRoute != nil {
			r.handler = aiRoute.Wrap(r.handler)
		}
		if r.mcp != nil {
			r.handler = r.mcp.Wrap(r.handler)
		}
		g.routes = append(g.routes, r)
	}
	for _, rc := range cfg.Routes {
		if rc.MCP == nil || rc.MCP.Auth == nil {
			continue
		}
		var h *mcproute.Handler
		for _, r := range g.routes {
			if r.name == rc.Name {
				h = r.mcp
			}
		}
		if h == nil {
			continue // its build failed and was reported
		}
		g.routes = append(g.routes, &route{name: rc.Name, metrics: gw.metrics.Route(rc.Name, ""), handler: h.Metadata()})
	}
	if len(problems) > 0 {
		g.close(gw.log)
		return nil, problems
	}
	return g, nil
}

// buildPlugins merges the global list with the route's (a route entry
// replaces the global entry of the same name) and builds each entry.
func (gw *Gateway) buildPlugins(g *generation, rc config.Route, ri int, global []config.PluginRef) ([]plugin.Use, config.Problems) {
	type entry struct {
		ref  config.PluginRef
		path config.Path
	}
	var entries []entry
	own := make(map[string]bool, len(rc.Plugins))
	for _, p := range rc.Plugins {
		own[p.Name] = true
	}
	for j, p := range global {
		if !own[p.Name] {
			entries = append(entries, entry{p, config.Path{"global_plugins", j, "config"}})
		}
	}
	// A bad global entry is reported once, for the not-found chain (ri -1),
	// not again for every route.
	reportGlobal := ri < 0
	for j, p := range rc.Plugins {
		entries = append(entries, entry{p, config.Path{"routes", ri, "plugins", j, "config"}})
	}
	var uses []plugin.Use
	var problems config.Problems
	for _, e := range entries {
		kind, ok := gw.kinds[e.ref.Name]
		if !ok {
			if e.path[0] != "global_plugins" || reportGlobal {
				problems = append(problems, config.Problem{Path: e.path[:len(e.path)-1], Msg: fmt.Sprintf("unknown plugin %q", e.ref.Name)})
			}
			continue
		}
		route, kindName := rc.Name, kind.Name
		env := plugin.Env{
			Route:       rc.Name,
			AIRoute:     rc.AI != nil,
			MCPRoute:    rc.MCP != nil,
			Logger:      gw.log.With("plugin", kind.Name, "route", rc.Name),
			OnClose:     g.onClose,
			Credentials: g.ids.credentials[kind.Name],
			Consumers:   g.ids.consumers,
			Redis:       g.ids.redis,
			Decisions: func(decision string) plugin.Counter {
				return gw.metrics.Decision(route, kindName, decision)
			},
		}
		mw, err := kind.Build(env, e.ref.Config)
		if err != nil {
			if e.path[0] != "global_plugins" || reportGlobal {
				problems = append(problems, config.Problem{Path: e.path, Msg: err.Error()})
			}
			continue
		}
		uses = append(uses, plugin.Use{Kind: kind, MW: mw})
	}
	return uses, problems
}

func upstreamConfig(cfg *config.Config, name string) (config.Upstream, bool) {
	for _, u := range cfg.Upstreams {
		if u.Name == name {
			return u, true
		}
	}
	return config.Upstream{}, false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// noUpstream terminates routes that have no upstream; a terminal plugin
// answers before it is reached.
type noUpstream struct{}

func (noUpstream) ServeHTTP(http.ResponseWriter, *http.Request) error {
	return &plugin.Error{Status: http.StatusBadGateway, Code: "no_upstream", Public: "this route has no upstream"}
}

var _ plugin.Handler = noUpstream{}
