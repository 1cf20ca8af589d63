package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Enumerations, in the order the docs list them.
var (
	Balancers  = []string{"round_robin", "least_conn", "p2c", "hash"}
	PassHosts  = []string{"pass", "node", "rewrite"}
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "text"}
	// Methods are the request methods a route may match.
	Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
	// RetryOn are the named retry conditions; an HTTP status (100-599) is
	// allowed too.
	RetryOn = []string{"connect_failure", "timeout"}
	// HashOnForms are the hash_on forms; NAME is a header, cookie or query
	// parameter name.
	HashOnForms = []string{"header:NAME", "cookie:NAME", "query:NAME", "ip", "consumer", "path"}
	// ListenerServers are the HTTP/1.1 servers a plain listener can use.
	ListenerServers = []string{"sluice", "net/http"}
	// ProviderTypes are the LLM provider types.
	ProviderTypes = []string{"openai", "azure-openai", "anthropic", "gemini", "deepseek", "openai-compatible", "mock"}
	// AIStrategies pick among a model's targets.
	AIStrategies = []string{"fallback", "weighted", "least_latency"}
	// MCPTransports are the remote MCP transports.
	MCPTransports = []string{"streamable", "sse"}
	// MCPStdioModes say how stdio server processes are shared.
	MCPStdioModes = []string{"session", "shared"}
	// MCPBuiltins are Sluice's own MCP servers.
	MCPBuiltins = []string{"gateway"}
	// AuthModes combine a route's authentication plugins.
	AuthModes = []string{"any", "all"}
	// ClientAuths are the listener's client-certificate policies.
	ClientAuths = []string{"require", "verify_if_given"}
)

// Validate checks c and returns every problem it finds: required fields,
// unique names, references between routes and upstreams, enumerations,
// ranges, addresses and URLs, and each plugin's config (with kinds[name].Check).
// It is pure: no I/O (TLS files are only checked to be named), no globals.
// A nil c is one problem. c is not modified.
func Validate(c *Config, kinds map[string]plugin.Kind) Problems {
	var ps Problems
	if c == nil {
		ps.add(nil, "config is missing")
		return ps
	}
	v := validator{kinds: kinds, ps: &ps}
	v.listeners(c.Listeners)
	if c.Status.Addr != "" {
		v.hostPort(Path{"status", "addr"}, c.Status.Addr, "status.addr")
	}
	for i, s := range c.TrustedProxies {
		p := Path{"trusted_proxies", i}
		if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
			if _, err := netip.ParseAddr(strings.TrimSpace(s)); err != nil {
				ps.add(p, "%q is not an IP address or CIDR: write an address like 192.168.1.10 or a network like 10.0.0.0/8", s)
			}
		}
	}
	upstreams := v.upstreams(c.Upstreams)
	consumers := v.consumers(c.Consumers)
	providers := v.providers(c.Providers)
	mcpServers := v.mcpServers(c.MCPServers, upstreams)
	for i, k := range c.MCP.SessionKeys {
		if len(k) < 16 {
			ps.add(Path{"mcp", "session_keys", i}, "key is %d bytes; want at least 16 (e.g. openssl rand -hex 32): is its environment variable set?", len(k))
		}
	}
	v.routes(c.Routes, upstreams, consumers, providers, mcpServers, legacySSEServers(c.MCPServers))
	v.redis(c.Redis)
	v.plugins(Path{"global_plugins"}, c.GlobalPlugins)
	v.oneOf(Path{"log", "level"}, c.Log.Level, LogLevels)
	v.oneOf(Path{"log", "format"}, c.Log.Format, LogFormats)
	v.tracing(c.Tracing)
	if c.Reload.Watch && c.Reload.Interval <= 0 {
		ps.add(Path{"reload", "interval"}, "must be greater than 0 when reload.watch is true (default 1s)")
	}
	v.nonNegative(Path{"reload", "drain"}, c.Reload.Drain)
	v.nonNegative(Path{"shutdown", "drain"}, c.Shutdown.Drain)
	return ps
}

type validator struct {
	kinds map[string]plugin.Kind
	ps    *Problems
}

func (v validator) add(p Path, format string, args ...any) { v.ps.add(p, format, args...) }

func (v validator) listeners(ls []Listener) {
	if ls != nil && len(ls) == 0 {
		v.add(Path{"listeners"}, "at least one listener is required: add one like {addr: 127.0.0.1:8080}, or remove the key for that default")
	}
	seen := map[string]int{}
	for i, l := range ls {
		p := Path{"listeners", i}
		if l.Addr == "" {
			v.add(p, "addr is required: set it to host:port, like 127.0.0.1:8080 or :443")
		} else if v.hostPort(p.with("addr"), l.Addr, "a listener") {
			if j, ok := seen[l.Addr]; ok {
				v.add(p.with("addr"), "address %s is already used by listeners[%d]", l.Addr, j)
			} else {
				seen[l.Addr] = i
			}
		}
		if l.TLS != nil {
			tp := p.with("tls")
			if len(l.TLS.Certificates) == 0 {
				v.add(tp.with("certificates"), "at least one certificate is required when tls is set: add {cert: FILE, key: FILE}, or remove tls")
			}
			if l.TLS.ClientAuth != "" {
				if l.TLS.ClientCA == "" {
					v.add(tp.with("client_auth"), "needs client_ca: set the PEM bundle client certificates are verified against")
				} else {
					v.oneOf(tp.with("client_auth"), l.TLS.ClientAuth, ClientAuths)
				}
			}
			for j, c := range l.TLS.Certificates {
				cp := tp.with("certificates", j)
				if c.Cert == "" {
					v.add(cp, "cert is required: the path of a PEM certificate chain")
				}
				if c.Key == "" {
					v.add(cp, "key is required: the path of the PEM private key of cert")
				}
			}
		}
		v.positive(p.with("read_header_timeout"), l.ReadHeaderTimeout)
		v.positive(p.with("idle_timeout"), l.IdleTimeout)
		v.nonNegative(p.with("body_idle_timeout"), l.BodyIdleTimeout)
		if l.MaxHeaderBytes <= 0 {
			v.add(p.with("max_header_bytes"), "must be greater than 0 (remove it for the default, 64KiB)")
		}
		if l.MaxRequestBody < 0 {
			v.add(p.with("max_request_body"), "must not be negative (0 means unlimited)")
		}
		v.oneOf(p.with("server"), l.Server, ListenerServers)
		if l.HTTP2.MaxConcurrentStreams <= 0 {
			v.add(p.with("http2", "max_concurrent_streams"), "must be greater than 0 (remove it for the default, 250)")
		}
	}
}

// hostPort checks that s is host:port with a numeric port and reports it
// otherwise. It returns whether s is good.
func (v validator) hostPort(p Path, s, what string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(p, "%q is not host:port: write it like 127.0.0.1:8080, [::1]:8080 or :8080", s)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(p, "port %q of %q is not a number from 0 to 65535", port, s)
		return false
	}
	if strings.ContainsAny(host, " /") {
		v.add(p, "host %q of %q is not a host name or IP address", host, s)
		return false
	}
	return true
}

// upstreams checks every upstream and returns the set of defined names.
func (v validator) upstreams(us []Upstream) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, u := range us {
		p := Path{"upstreams", i}
		if u.Name == "" {
			v.add(p, "name is required: routes refer to the upstream by it")
		} else if j, ok := first[u.Name]; ok {
			v.add(p.with("name"), "upstream name %q is already used by upstreams[%d]: names must be unique", u.Name, j)
		} else {
			first[u.Name] = i
			names[u.Name] = true
		}
		v.oneOf(p.with("balancer"), u.Balancer, Balancers)
		if u.HashOn != "" {
			if msg := checkHashOn(u.HashOn); msg != "" {
				v.add(p.with("hash_on"), "%s", msg)
			}
		} else if u.Balancer == "hash" {
			v.add(p, "hash_on is required when balancer is hash: one of %s", strings.Join(HashOnForms, ", "))
		}
		if len(u.Targets) == 0 {
			v.add(p, "at least one target is required: add targets: [{url: http://127.0.0.1:9001}]")
		}
		urls := map[string]int{}
		for j, t := range u.Targets {
			tp := p.with("targets", j)
			if t.URL == "" {
				v.add(tp, "url is required: scheme://host:port, like http://127.0.0.1:9001")
			} else if norm, ok := v.targetURL(tp.with("url"), t.URL); ok {
				if k, dup := urls[norm]; dup {
					v.add(tp.with("url"), "target %s is already listed at targets[%d]: list each target once and use weight for a bigger share", t.URL, k)
				} else {
					urls[norm] = j
				}
			}
			if t.Weight < 1 {
				v.add(tp.with("weight"), "must be at least 1, got %d (remove a target to stop sending it traffic)", t.Weight)
			}
		}
		if h := u.HealthCheck; h != nil {
			hp := p.with("health_check")
			if !strings.HasPrefix(h.Path, "/") {
				v.add(hp.with("path"), "must start with /, like /healthz")
			}
			v.positive(hp.with("interval"), h.Interval)
			v.positive(hp.with("timeout"), h.Timeout)
			v.atLeastOne(hp.with("healthy"), h.Healthy)
			v.atLeastOne(hp.with("unhealthy"), h.Unhealthy)
			for j, s := range h.ExpectStatus {
				v.status(hp.with("expect_status", j), s)
			}
		}
		if u.Passive.MaxFailures < 0 {
			v.add(p.with("passive", "max_failures"), "must not be negative (0 turns passive ejection off)")
		}
		if u.Passive.MaxFailures > 0 {
			v.positive(p.with("passive", "eject"), u.Passive.Eject)
		}
		for j, s := range u.Passive.FailOn {
			v.status(p.with("passive", "fail_on", j), s)
		}
		v.positive(p.with("timeouts", "connect"), u.Timeouts.Connect)
		v.positive(p.with("timeouts", "response_header"), u.Timeouts.ResponseHeader)
		v.positive(p.with("timeouts", "idle"), u.Timeouts.Idle)
		rp := p.with("retries")
		if u.Retries.Attempts < 0 {
			v.add(rp.with("attempts"), "must not be negative (0 turns retries off)")
		}
		for j, on := range u.Retries.On {
			if slices.Contains(RetryOn, on) {
				continue
			}
			if n, err := strconv.Atoi(on); err == nil && n >= 100 && n <= 599 {
				continue
			}
			v.add(rp.with("on", j), "%q is not a retry condition: use connect_failure, timeout or an HTTP status from 100 to 599", on)
		}
		if r := u.Retries.Budget.Ratio; math.IsNaN(r) || r < 0 || r > 1 {
			v.add(rp.with("budget", "ratio"), "must be from 0 to 1 (a share of requests), got %v", r)
		}
		if u.Retries.Budget.MinPerSecond < 0 {
			v.add(rp.with("budget", "min_per_second"), "must not be negative")
		}
		v.oneOf(p.with("pass_host"), u.PassHost, PassHosts)
		switch {
		case u.PassHost == "rewrite" && u.UpstreamHost == "":
			v.add(p, "upstream_host is required when pass_host is rewrite")
		case u.PassHost != "rewrite" && u.UpstreamHost != "":
			v.add(p.with("upstream_host"), "is only used when pass_host is rewrite: set pass_host: rewrite, or remove it")
		}
		if (u.TLS.Cert == "") != (u.TLS.Key == "") {
			v.add(p.with("tls"), "cert and key go together: set both for a client certificate, or neither")
		}
		if u.KeepAlive.MaxIdlePerTarget < 0 {
			v.add(p.with("keepalive", "max_idle_per_target"), "must not be negative")
		}
	}
	return names
}

// checkHashOn returns what is wrong with a hash_on value, or "".
func checkHashOn(s string) string {
	switch s {
	case "ip", "consumer", "path":
		return ""
	}
	kind, name, ok := strings.Cut(s, ":")
	switch {
	case !ok:
	case kind != "header" && kind != "cookie" && kind != "query":
	case name == "":
		return fmt.Sprintf("%q names no %s: write it like %s:X-User", s, kind, kind)
	case strings.ContainsAny(name, " \t:"):
		return fmt.Sprintf("%q is not a valid %s name", name, kind)
	default:
		return ""
	}
	return fmt.Sprintf("%q is not a hash key: use one of %s", s, strings.Join(HashOnForms, ", "))
}

// targetURL checks a target URL and returns its normal form for duplicate
// detection.
func (v validator) targetURL(p Path, s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil {
		v.add(p, "%q is not a URL: write it like http://127.0.0.1:9001", s)
		return "", false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" || u.Host == "" {
			v.add(p, "%q has no scheme: write it like http://%s", s, strings.TrimPrefix(s, "//"))
		} else {
			v.add(p, "scheme %q of %q is not http or https", u.Scheme, s)
		}
		return "", false
	}
	ok := true
	if u.Host == "" {
		v.add(p, "%q has no host: write it like %s://127.0.0.1:9001", s, u.Scheme)
		return "", false
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		v.add(p, "%q needs an explicit host:port, like %s://%s:%s", s, u.Scheme, strings.Trim(u.Hostname(), "[]"), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		ok = false
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(p, "port %q of %q is not a number from 1 to 65535", port, s)
		ok = false
	}
	if u.User != nil {
		v.add(p, "%q must not hold credentials: use a headers plugin to send them", s)
		ok = false
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		v.add(p, "%q must be scheme://host:port only, without a path or query: rewrite paths with the proxy-rewrite plugin", s)
		ok = false
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), ok
}

func (v validator) routes(rs []Route, upstreams, consumers, providers, mcpServers, legacySSE map[string]bool) {
	first := map[string]int{}
	for i, r := range rs {
		p := Path{"routes", i}
		if r.Name == "" {
			v.add(p, "name is required: it names the route in logs, metrics and errors")
		} else if j, ok := first[r.Name]; ok {
			v.add(p.with("name"), "route name %q is already used by routes[%d]: names must be unique", r.Name, j)
		} else {
			first[r.Name] = i
		}
		mp := p.with("match")
		for j, h := range r.Match.Hosts {
			hp := mp.with("hosts", j)
			switch {
			case strings.TrimSpace(h) == "":
				v.add(hp, "host is empty: remove it, or write a name like api.example.com")
			case strings.ContainsAny(h, " /:"):
				v.add(hp, "%q is not a host name: write it without scheme, port or path, like api.example.com", h)
			case strings.Contains(h, "*") && (!strings.HasPrefix(h, "*.") || strings.Count(h, "*") > 1):
				v.add(hp, "%q: a wildcard is only allowed as the whole first label, like *.example.org", h)
			}
		}
		for j, path := range r.Match.Paths {
			if !strings.HasPrefix(path, "/") {
				v.add(mp.with("paths", j), "%q must start with /", path)
			}
		}
		for j, m := range r.Match.Methods {
			switch {
			case slices.Contains(Methods, m):
			case slices.Contains(Methods, strings.ToUpper(m)):
				v.add(mp.with("methods", j), "method %q must be upper case: %s", m, strings.ToUpper(m))
			default:
				v.add(mp.with("methods", j), "%q is not a method: use one of %s", m, strings.Join(Methods, ", "))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(r.Match.Headers)) {
			if k == "" || strings.ContainsAny(k, " :\t") {
				v.add(mp.with("headers", k), "%q is not a header name", k)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(r.Match.Query)) {
			if k == "" {
				v.add(mp.with("query", k), "query parameter name is empty")
			}
		}
		if r.AI != nil && r.Upstream != "" {
			v.add(p, "upstream, ai: set one, not both (an ai route sends requests to its providers)")
		}
		if r.MCP != nil && (r.Upstream != "" || r.AI != nil) {
			v.add(p, "mcp: set it alone, without upstream or ai (an mcp route sends requests to its mcp_servers)")
		}
		if r.MCP != nil {
			v.routeMCP(p.with("mcp"), r.MCP, mcpServers, legacySSE)
		} else if r.AI != nil {
			v.routeAI(p.with("ai"), r.AI, providers)
		} else if r.Upstream != "" {
			if !upstreams[r.Upstream] {
				v.add(p.with("upstream"), "upstream %q is not defined: %s", r.Upstream, defined(upstreams))
			}
		} else if !v.hasTerminal(r.Plugins) {
			v.add(p, "route has no upstream: set upstream (%s), or add a plugin that answers every request by itself%s", defined(upstreams), terminalList(v.kinds))
		}
		v.plugins(p.with("plugins"), r.Plugins)
		v.oneOf(p.with("auth", "mode"), r.Auth.Mode, AuthModes)
		if a := r.Auth.Anonymous; a != "" && !consumers[a] {
			v.add(p.with("auth", "anonymous"), "consumer %q is not defined: %s", a, definedConsumers(consumers))
		}
	}
}

// providers checks names, types and URLs, and returns the defined names.
func (v validator) providers(ps []Provider) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, pr := range ps {
		p := Path{"providers", i}
		if pr.Name == "" {
			v.add(p, "name is required: ai routes refer to providers by name")
		} else if j, ok := first[pr.Name]; ok {
			v.add(p.with("name"), "provider name %q is already used by providers[%d]: names must be unique", pr.Name, j)
		} else {
			first[pr.Name] = i
			names[pr.Name] = true
		}
		if pr.Type == "" {
			v.add(p.with("type"), "type is required: one of %s", strings.Join(ProviderTypes, ", "))
		} else {
			v.oneOf(p.with("type"), pr.Type, ProviderTypes)
		}
		if pr.BaseURL != "" {
			u, err := url.Parse(pr.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(p.with("base_url"), "%q is not an http or https URL: write it like https://api.openai.com/v1", pr.BaseURL)
			}
		} else if pr.Type == "azure-openai" || pr.Type == "openai-compatible" {
			v.add(p.with("base_url"), "is required for type %s", pr.Type)
		}
		for j, k := range pr.APIKeys {
			if strings.TrimSpace(k) == "" {
				v.add(p.with("api_keys", j), "key is empty: is its environment variable set?")
			}
		}
		v.nonNegative(p.with("timeouts", "connect"), pr.Timeouts.Connect)
		v.nonNegative(p.with("timeouts", "response"), pr.Timeouts.Response)
		for _, model := range slices.Sorted(maps.Keys(pr.Prices)) {
			pp := pr.Prices[model]
			for _, f := range []struct {
				key string
				v   float64
			}{{"input", pp.Input}, {"output", pp.Output}, {"cached_input", pp.CachedInput}, {"cache_write", pp.CacheWrite}} {
				if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
					v.add(p.with("prices", model, f.key), "%v is not a price: want US dollars per million tokens, 0 or more", f.v)
				}
			}
		}
	}
	return names
}

// routeAI checks an ai route's models, targets and timeouts.
func (v validator) routeAI(p Path, a *RouteAI, providers map[string]bool) {
	if len(a.Models) == 0 {
		v.add(p.with("models"), "at least one model is required: {name: NAME, targets: [{provider: P, model: M}]}")
	}
	seen := map[string]int{}
	for i, m := range a.Models {
		mp := p.with("models", i)
		if m.Name == "" {
			v.add(mp, "name is required: the model name clients send")
		} else if j, ok := seen[m.Name]; ok {
			v.add(mp.with("name"), "model %q is already listed at models[%d]", m.Name, j)
		} else {
			seen[m.Name] = i
		}
		if m.Strategy != "" {
			v.oneOf(mp.with("strategy"), m.Strategy, AIStrategies)
		}
		if len(m.Targets) == 0 {
			v.add(mp.with("targets"), "at least one target is required: {provider: P, model: M}")
		}
		for j, t := range m.Targets {
			tp := mp.with("targets", j)
			switch {
			case t.Provider == "":
				v.add(tp, "provider is required: %s", definedProviders(providers))
			case !providers[t.Provider]:
				v.add(tp.with("provider"), "provider %q is not defined: %s", t.Provider, definedProviders(providers))
			}
			if t.Weight < 0 {
				v.add(tp.with("weight"), "must not be negative")
			}
		}
	}
	v.nonNegative(p.with("timeouts", "first_token"), a.Timeouts.FirstToken)
	v.nonNegative(p.with("timeouts", "between_chunks"), a.Timeouts.BetweenChunks)
	v.nonNegative(p.with("timeouts", "total"), a.Timeouts.Total)
	if a.Retry.Attempts < 0 {
		v.add(p.with("retry", "attempts"), "must not be negative")
	}
	if a.MaxBody < 0 {
		v.add(p.with("max_body"), "must not be negative (0 means the default, 32MiB)")
	}
}

func definedProviders(names map[string]bool) string {
	if len(names) == 0 {
		return "no providers are defined (add them under providers:)"
	}
	return "defined providers are " + strings.Join(slices.Sorted(maps.Keys(names)), ", ")
}

func definedConsumers(names map[string]bool) string {
	if len(names) == 0 {
		return "no consumers are defined (add them under consumers:)"
	}
	return "defined consumers are " + strings.Join(slices.Sorted(maps.Keys(names)), ", ")
}

// consumers checks names, groups and each credential with its plugin's
// CredentialSpec, and that no two consumers share a credential identity
// (the same API key, username or JWT key). It returns the defined names.
func (v validator) consumers(cs []Consumer) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	type owner struct {
		consumer string
		index    int
	}
	identities := map[string]map[string]owner{} // kind -> identity -> first owner
	for i, c := range cs {
		p := Path{"consumers", i}
		if c.Name == "" {
			v.add(p, "name is required: it names the caller in logs, metrics and limits")
		} else if j, ok := first[c.Name]; ok {
			v.add(p.with("name"), "consumer name %q is already used by consumers[%d]: names must be unique", c.Name, j)
		} else {
			first[c.Name] = i
			names[c.Name] = true
		}
		for j, g := range c.Groups {
			if strings.TrimSpace(g) == "" {
				v.add(p.with("groups", j), "group name is empty")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(c.Credentials)) {
			cp := p.with("credentials", k)
			kind, ok := v.kinds[k]
			if !ok || kind.Credential == nil {
				v.add(cp, "%q does not take consumer credentials: %s", k, credentialKinds(v.kinds))
				continue
			}
			val, err := decodeCredential(kind, c.Credentials[k])
			if err != nil {
				for line := range strings.SplitSeq(err.Error(), "\n") {
					if line = strings.TrimSpace(line); line != "" {
						v.add(cp, "%s", credentialLine(kind, line))
					}
				}
				continue
			}
			id := kind.Credential.Identity(val)
			if id == "" {
				continue
			}
			if identities[k] == nil {
				identities[k] = map[string]owner{}
			}
			// The message names both consumers but never the identity: it
			// may be the secret itself.
			if o, dup := identities[k][id]; dup {
				v.add(cp, "consumers %q (consumers[%d]) and %q have the same %s credential: each credential must identify one consumer",
					o.consumer, o.index, c.Name, k)
				continue
			}
			identities[k][id] = owner{c.Name, i}
		}
	}
	return names
}

func credentialKinds(kinds map[string]plugin.Kind) string {
	var names []string
	for n, k := range kinds {
		if k.Credential != nil {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no plugin takes credentials"
	}
	slices.Sort(names)
	return "plugins that do are " + strings.Join(names, ", ")
}

// decodeCredential runs the kind's credential decoder, turning a panic
// into a problem.
func decodeCredential(kind plugin.Kind, raw []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin %s panicked while checking a credential (please report it): %v", kind.Name, r)
		}
	}()
	return kind.Credential.Decode(raw)
}

// credentialLine is pluginLine for a credential's keys.
func credentialLine(kind plugin.Kind, line string) string {
	m := jsonUnknownField.FindStringSubmatch(line)
	if m == nil || kind.Credential.New == nil {
		return line
	}
	t := reflect.TypeOf(kind.Credential.New())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return m[1] + ": unknown key"
	}
	return m[1] + ": " + unknownKey(t, m[1])
}

func (v validator) redis(r *Redis) {
	if r == nil {
		return
	}
	p := Path{"redis"}
	switch {
	case r.Addr == "" && len(r.Addrs) == 0:
		v.add(p, "addr is required: set addr to host:port of the Redis server, or addrs to Redis Cluster seed nodes")
	case r.Addr != "" && len(r.Addrs) > 0:
		v.add(p, "addr, addrs: set one, not both (addr for one server, addrs for Redis Cluster)")
	}
	if r.Addr != "" {
		v.hostPort(p.with("addr"), r.Addr, "redis")
	}
	for i, a := range r.Addrs {
		v.hostPort(p.with("addrs", i), a, "redis")
	}
	if r.DB < 0 {
		v.add(p.with("db"), "must not be negative")
	} else if r.DB != 0 && (r.Cluster || len(r.Addrs) > 1) {
		v.add(p.with("db"), "Redis Cluster has only database 0: remove db")
	}
	v.positive(p.with("timeout"), r.Timeout)
	if r.PoolSize < 0 {
		v.add(p.with("pool_size"), "must not be negative (0 lets the client choose)")
	}
	if t := r.TLS; t != nil && (t.Cert == "") != (t.Key == "") {
		v.add(p.with("tls"), "cert and key go together: set both for a client certificate, or neither")
	}
}

// hasTerminal reports whether a plugin in ps is terminal. Unknown plugins
// are reported elsewhere and count as not terminal.
func (v validator) hasTerminal(ps []PluginRef) bool {
	for _, r := range ps {
		if k, ok := v.kinds[r.Name]; ok && k.Terminal {
			return true
		}
	}
	return false
}

func defined(upstreams map[string]bool) string {
	if len(upstreams) == 0 {
		return "no upstreams are defined"
	}
	names := make([]string, 0, len(upstreams))
	for n := range upstreams {
		names = append(names, n)
	}
	slices.Sort(names)
	return "defined upstreams are " + strings.Join(names, ", ")
}

func terminalList(kinds map[string]plugin.Kind) string {
	var names []string
	for n, k := range kinds {
		if k.Terminal {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return " (" + strings.Join(names, ", ") + ")"
}

// plugins checks one plugin list: known names, no duplicates, and each
// plugin's config by its kind's Check.
func (v validator) plugins(p Path, refs []PluginRef) {
	seen := map[string]int{}
	for j, r := range refs {
		rp := p.with(j)
		if r.Name == "" {
			v.add(rp, "name is required: %s", known(v.kinds))
			continue
		}
		if k, ok := seen[r.Name]; ok {
			v.add(rp.with("name"), "plugin %q is already in this list at [%d]: list each plugin once", r.Name, k)
			continue
		}
		seen[r.Name] = j
		kind, ok := v.kinds[r.Name]
		if !ok {
			names := make([]string, 0, len(v.kinds))
			for n := range v.kinds {
				names = append(names, n)
			}
			hint := ""
			if s := suggest(r.Name, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			v.add(rp.with("name"), "unknown plugin %q: %s%s", r.Name, hint, known(v.kinds))
			continue
		}
		if kind.Check == nil {
			continue
		}
		if err := check(kind, r.Config); err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					v.add(rp.with("config"), "%s", pluginLine(kind, line))
				}
			}
		}
	}
}

var jsonUnknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// pluginLine rewrites encoding/json's unknown-field message in sluice's
// "key: problem" form, with the keys the plugin knows.
func pluginLine(kind plugin.Kind, line string) string {
	m := jsonUnknownField.FindStringSubmatch(line)
	if m == nil || kind.NewConfig == nil {
		return line
	}
	t := reflect.TypeOf(kind.NewConfig())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return m[1] + ": unknown key"
	}
	return m[1] + ": " + unknownKey(t, m[1])
}

// check runs kind.Check, turning a panic in a plugin into a problem: a bad
// plugin must not take a reload down with it.
func check(kind plugin.Kind, raw []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin %s panicked while checking its config (please report it): %v", kind.Name, r)
		}
	}()
	return kind.Check(raw)
}

func known(kinds map[string]plugin.Kind) string {
	if len(kinds) == 0 {
		return "no plugins are available"
	}
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return "known plugins are " + strings.Join(names, ", ")
}

func (v validator) tracing(t Tracing) {
	p := Path{"tracing"}
	if r := t.SamplingRatio; math.IsNaN(r) || r < 0 || r > 1 {
		v.add(p.with("sampling_ratio"), "must be from 0 to 1, got %v", r)
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p.with("endpoint"), "%q is not an http or https URL: write it like http://127.0.0.1:4318/v1/traces", t.Endpoint)
		}
	} else if t.Enabled {
		v.add(p.with("endpoint"), "is required when tracing is enabled")
	}
	if t.Enabled && t.ServiceName == "" {
		v.add(p.with("service_name"), "is required when tracing is enabled")
	}
}

func (v validator) oneOf(p Path, s string, allowed []string) {
	if slices.Contains(allowed, s) {
		return
	}
	hint := ""
	if sg := suggest(s, allowed); sg != "" {
		hint = fmt.Sprintf("did you mean %q? ", sg)
	}
	v.add(p, "%q is not allowed: %suse one of %s", s, hint, strings.Join(allowed, ", "))
}

func (v validator) positive(p Path, d Duration) {
	if d <= 0 {
		v.add(p, "must be greater than 0, like 5s (remove the key for the default)")
	}
}

func (v validator) nonNegative(p Path, d Duration) {
	if d < 0 {
		v.add(p, "must not be negative")
	}
}

func (v validator) atLeastOne(p Path, n int) {
	if n < 1 {
		v.add(p, "must be at least 1, got %d", n)
	}
}

func (v validator) status(p Path, s int) {
	if s < 100 || s > 599 {
		v.add(p, "%d is not an HTTP status: use a number from 100 to 599", s)
	}
}
