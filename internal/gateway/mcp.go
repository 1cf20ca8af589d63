package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/mcp/builtin"
	mcproute "github.com/sluicegw/sluice/internal/mcp/route"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/mcp/stdio"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// mcpBuild holds what a generation builds once for all its mcp routes.
type mcpBuild struct {
	sealer  *sessionid.Sealer
	servers map[string]mcproute.Server
}

// sealer returns the generation's session sealer: from the configured keys,
// or the process's random key, which must outlive reloads (a reload must
// not end every session).
func (gw *Gateway) sealer(cfg *config.Config) (*sessionid.Sealer, error) {
	if len(cfg.MCP.SessionKeys) > 0 {
		return sessionid.New(cfg.MCP.SessionKeys)
	}
	gw.sealerOnce.Do(func() {
		gw.randomSealer, _ = sessionid.New(nil)
		gw.log.Info("mcp.session_keys is not set: MCP session ids are sealed with a random key, so sessions end at restart and cannot move between replicas")
	})
	return gw.randomSealer, nil
}

// buildMCP builds the mcp_servers that routes use.
func (gw *Gateway) buildMCP(g *generation, cfg *config.Config, pools map[string]*upstream.Pool) (*mcpBuild, config.Problems) {
	used := map[string]bool{}
	for _, r := range cfg.Routes {
		if r.MCP != nil {
			for _, s := range r.MCP.Servers {
				used[s] = true
			}
		}
	}
	if len(used) == 0 {
		return &mcpBuild{}, nil
	}
	var problems config.Problems
	b := &mcpBuild{servers: map[string]mcproute.Server{}}
	s, err := gw.sealer(cfg)
	if err != nil {
		problems = append(problems, config.Problem{Path: config.Path{"mcp", "session_keys"}, Msg: err.Error()})
	}
	b.sealer = s
	for i, sc := range cfg.MCPServers {
		if !used[sc.Name] {
			continue
		}
		srv, err := gw.mcpServer(g, sc, pools)
		if err != nil {
			problems = append(problems, config.Problem{Path: config.Path{"mcp_servers", i}, Msg: err.Error()})
			continue
		}
		b.servers[sc.Name] = srv
	}
	return b, problems
}

func (gw *Gateway) mcpServer(g *generation, sc config.MCPServer, pools map[string]*upstream.Pool) (mcproute.Server, error) {
	srv := mcproute.Server{Name: sc.Name, SSE: sc.Transport == "sse", Header: http.Header{}}
	for k, v := range sc.Headers {
		srv.Header.Set(k, v)
	}
	switch {
	case sc.URL != "":
		u, err := url.Parse(sc.URL)
		if err != nil {
			return srv, err
		}
		name := "mcp:" + sc.Name
		ucs := []config.Upstream{{Name: name, Targets: []config.Target{{URL: u.Scheme + "://" + u.Host}}}}
		config.ApplyDefaults(&config.Config{Upstreams: ucs})
		uc := ucs[0]
		// A tool call answered as one JSON body sends its headers only
		// when the tool is done: minutes, for some tools.
		uc.Timeouts.ResponseHeader = config.Duration(time.Hour)
		uc.Retries.Attempts = 0
		pool, err := upstream.New(uc, upstream.Options{Logger: gw.log.With("upstream", name),
			OnHealth: func(target string, healthy bool) { gw.metrics.TargetHealth(name, target, healthy) }})
		if err != nil {
			return srv, err
		}
		g.pools = append(g.pools, pool)
		srv.Pool, srv.Path, srv.Query = pool, u.Path, u.RawQuery
		if srv.Path == "" {
			srv.Path = "/"
		}
	case sc.Upstream != "":
		pool := pools[sc.Upstream]
		if pool == nil {
			return srv, fmt.Errorf("upstream %q did not build", sc.Upstream)
		}
		srv.Pool, srv.Path = pool, sc.Path
		if srv.Path == "" {
			srv.Path = "/mcp"
		}
	case len(sc.Command) > 0:
		s, release, err := gw.stdioServer(sc, func() (*stdio.Server, error) {
			return stdio.New(stdio.Config{
				Name:            sc.Name,
				Command:         sc.Command,
				Env:             sc.Env,
				Dir:             sc.Dir,
				Mode:            sc.Stdio.Mode,
				MaxProcesses:    sc.Stdio.MaxProcesses,
				MaxPerConsumer:  sc.Stdio.MaxPerConsumer,
				ShutdownTimeout: sc.Stdio.ShutdownTimeout.D(),
				// Clients that vanish without DELETE must not hold processes
				// forever; routes usually end idle sessions sooner.
				IdleTimeout: mcproute.DefaultIdleTimeout,
				Logger:      gw.log.With("mcp_server", sc.Name),
			})
		})
		if err != nil {
			return srv, err
		}
		g.onClose(release)
		srv.Handler = withConsumer(s)
	case sc.Builtin == "gateway":
		srv.Handler = builtin.New(builtinSource{gw: gw, g: g}, gw.version)
	}
	return srv, nil
}

// sharedStdio is a stdio server and the generations using it.
type sharedStdio struct {
	srv  *stdio.Server
	refs int
}

// stdioServer returns the running stdio server of an mcp_servers entry
// whose configuration a reload left unchanged, or starts one. A reload
// thus keeps its processes and their sessions (a stdio process is the
// session's state: restarting it would end every session). release drops
// the caller's reference; the last one stops the server.
func (gw *Gateway) stdioServer(sc config.MCPServer, start func() (*stdio.Server, error)) (*stdio.Server, func() error, error) {
	keyBytes, err := json.Marshal(sc)
	if err != nil {
		return nil, nil, err
	}
	key := string(keyBytes)
	gw.stdioMu.Lock()
	defer gw.stdioMu.Unlock()
	e := gw.stdio[key]
	if e == nil {
		s, err := start()
		if err != nil {
			return nil, nil, err
		}
		e = &sharedStdio{srv: s}
		if gw.stdio == nil {
			gw.stdio = map[string]*sharedStdio{}
		}
		gw.stdio[key] = e
	}
	e.refs++
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() {
			gw.stdioMu.Lock()
			e.refs--
			last := e.refs == 0
			if last {
				delete(gw.stdio, key)
			}
			gw.stdioMu.Unlock()
			if last {
				err = e.srv.Close()
			}
		})
		return err
	}
	return e.srv, release, nil
}

// withConsumer tells a stdio server who the caller is, for its
// per-consumer process limit.
func withConsumer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := plugin.ExchangeOf(r)
		h.ServeHTTP(w, r.WithContext(stdio.WithConsumer(r.Context(), x.Consumer)))
	})
}

// mcpHandler builds an mcp route's terminal handler.
func (gw *Gateway) mcpHandler(b *mcpBuild, rc config.Route) (*mcproute.Handler, error) {
	m := rc.MCP
	var servers []mcproute.Server
	for _, name := range m.Servers {
		srv, ok := b.servers[name]
		if !ok {
			return nil, fmt.Errorf("mcp server %q did not build", name)
		}
		servers = append(servers, srv)
	}
	if b.sealer == nil {
		return nil, fmt.Errorf("no session keys")
	}
	srv := servers[0]
	var fed *mcproute.Federation
	if len(servers) > 1 {
		fed = &mcproute.Federation{Servers: servers, Separator: m.NameSeparator, Version: gw.version}
		srv = mcproute.Server{Name: "*"} // logs and metrics: every server

	}
	rcfg := mcproute.Config{
		Route:          rc.Name,
		Server:         srv,
		Federation:     fed,
		Sealer:         b.sealer,
		MaxPerConsumer: m.Session.MaxPerConsumer,
		IdleTimeout:    m.Session.IdleTimeout.D(),
		MaxLifetime:    m.Session.MaxLifetime.D(),
		Tools:          mcproute.NewACL(m.Tools.Allow, m.Tools.Deny),
		Hosts:          rc.Match.Hosts,
		AllowedOrigins: m.AllowedOrigins,
		KeepAlive:      m.KeepAlive.D(),
		MaxBody:        int64(m.MaxBody),
		Logger:         gw.log.With("route", rc.Name),
		OnSessions: func(delta int) {
			gw.metrics.MCPSessions(rc.Name, srv.Name, delta)
		},
	}
	if fed == nil {
		rcfg.Logger = rcfg.Logger.With("mcp_server", srv.Name) // federated logs name each server themselves
	}
	if a := m.Auth; a != nil {
		rcfg.Auth = &mcproute.Auth{Resource: a.Resource, AuthorizationServers: a.AuthorizationServers, Scopes: a.Scopes, ResourceName: a.ResourceName}
	}
	return mcproute.New(rcfg)
}

// mcpMetadataRoutes are the router entries of the mcp routes' protected
// resource metadata documents, after the configured routes.
func mcpMetadataRoutes(cfg *config.Config) []config.Route {
	var out []config.Route
	for _, r := range cfg.Routes {
		if r.MCP == nil || r.MCP.Auth == nil {
			continue
		}
		paths := mcproute.MetadataPaths(r.MCP.Auth.Resource)
		if len(paths) == 0 {
			continue
		}
		out = append(out, config.Route{
			Name:     r.Name,
			Priority: r.Priority + 1,
			Match:    config.Match{Hosts: r.Match.Hosts, Paths: paths, Methods: []string{http.MethodGet, http.MethodHead, http.MethodOptions}},
		})
	}
	return out
}

// knownMCPMethods bound the method label of MCP metrics.
var knownMCPMethods = map[string]bool{}

func init() {
	for _, m := range strings.Fields(`initialize ping server/discover subscriptions/listen
		tools/list tools/call prompts/list prompts/get resources/list resources/read
		resources/templates/list resources/subscribe resources/unsubscribe completion/complete
		logging/setLevel roots/list sampling/createMessage elicitation/create
		tasks/get tasks/list tasks/result tasks/cancel
		notifications/initialized notifications/cancelled notifications/progress
		notifications/message notifications/roots/list_changed notifications/tools/list_changed
		notifications/prompts/list_changed notifications/resources/list_changed
		notifications/resources/updated notifications/elicitation/complete`) {
		knownMCPMethods[m] = true
	}
}

// observeMCP records the metrics of a finished mcp route request.
func (gw *Gateway) observeMCP(rt *route, x *plugin.Exchange, status int) {
	m := x.MCP
	method := m.Method
	switch {
	case method == "" && m.Kind == "response":
		method = "_response"
	case method == "":
		method = "_stream"
	case !knownMCPMethods[method]:
		method = "_other"
	}
	q := metrics.MCPRequest{Route: x.Route, Server: m.Server, Method: method, Code: fmt.Sprint(status)}
	if m.Method == "tools/call" && m.Kind == "request" && m.Outcome != "" {
		q.Tool, q.Outcome, q.Duration = rt.mcp.ToolLabel(m.Name), m.Outcome, m.Duration
	}
	gw.metrics.MCP(q)
}

// mcpAttrs are the access log fields of an mcp route request.
func mcpAttrs(m *plugin.MCP) []slog.Attr {
	attrs := []slog.Attr{slog.String("mcp_server", m.Server)}
	if m.Method != "" {
		attrs = append(attrs, slog.String("mcp_method", m.Method))
	}
	if m.Name != "" {
		attrs = append(attrs, slog.String("mcp_name", m.Name))
	}
	if m.Session != "" {
		attrs = append(attrs, slog.String("mcp_session", m.Session))
	}
	if m.ProtocolVersion != "" {
		attrs = append(attrs, slog.String("mcp_protocol_version", m.ProtocolVersion))
	}
	if m.Outcome != "" {
		attrs = append(attrs, slog.String("mcp_outcome", m.Outcome))
	}
	return attrs
}

// mcpSpanAttrs are the request span's MCP attributes (OpenTelemetry's MCP
// semantic conventions).
func mcpSpanAttrs(m *plugin.MCP) []attribute.KeyValue {
	kv := []attribute.KeyValue{attribute.String("sluice.mcp.server", m.Server)}
	if m.Method != "" {
		kv = append(kv, attribute.String("mcp.method.name", m.Method))
	}
	if m.Session != "" {
		kv = append(kv, attribute.String("mcp.session.id", m.Session))
	}
	if m.ProtocolVersion != "" {
		kv = append(kv, attribute.String("mcp.protocol.version", m.ProtocolVersion))
	}
	if m.Method == "tools/call" && m.Name != "" {
		kv = append(kv, attribute.String("gen_ai.tool.name", m.Name), attribute.String("gen_ai.operation.name", "execute_tool"))
	}
	if m.Outcome != "" && m.Outcome != plugin.MCPOK {
		kv = append(kv, attribute.String("error.type", m.Outcome))
	}
	return kv
}

// builtinSource is what the built-in MCP server shows: the generation's
// routes and pools, and usage from the metrics.
type builtinSource struct {
	gw *Gateway
	g  *generation
}

func (s builtinSource) Routes() []builtin.Route {
	var out []builtin.Route
	for _, r := range s.g.cfg.Routes {
		kind := builtin.KindHTTP
		switch {
		case r.AI != nil:
			kind = builtin.KindAI
		case r.MCP != nil:
			kind = builtin.KindMCP
		}
		out = append(out, builtin.Route{Name: r.Name, Kind: kind, Hosts: r.Match.Hosts, Paths: r.Match.Paths, Methods: r.Match.Methods, Upstream: r.Upstream})
	}
	return out
}

func (s builtinSource) Upstreams() []builtin.Upstream {
	var out []builtin.Upstream
	for _, p := range s.g.pools {
		u := builtin.Upstream{Name: p.Name()}
		for _, t := range p.Targets() {
			u.Targets = append(u.Targets, builtin.Target{URL: t.String(), Healthy: t.Healthy(), InFlight: t.InFlight()})
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b builtin.Upstream) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s builtinSource) Usage() []builtin.Usage {
	var out []builtin.Usage
	for _, r := range s.gw.metrics.Usage() {
		out = append(out, builtin.Usage{Route: r.Route, Consumer: r.Consumer, Requests: r.Requests, Errors: r.Errors,
			InputTokens: r.InputTokens, OutputTokens: r.Output, CostUSD: r.CostUSD})
	}
	return out
}
