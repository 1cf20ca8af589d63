package config

import "encoding/json"

// Config is one whole configuration snapshot. YAML is converted to JSON
// before decoding, so every key is the `json` tag; a test walks the tags to
// keep them snake_case. Defaults are documented on each field. Parse decodes
// the file over Defaults() (top-level defaults) and fills in each list item's
// defaults for the keys it leaves out; ApplyDefaults does the same for a
// Config built in code. See docs/configuration.md.
type Config struct {
	// Listeners are the proxy's HTTP(S) listeners. Default (key absent): one
	// on 127.0.0.1:8080. An empty list is an error.
	Listeners []Listener `json:"listeners"`
	// Status is the metrics and health listener. Default: 127.0.0.1:9090.
	Status Status `json:"status"`
	// TrustedProxies are addresses or CIDRs whose X-Forwarded-* and Forwarded
	// headers are believed. Default: none (every incoming forwarding header
	// is dropped).
	TrustedProxies []string `json:"trusted_proxies"`
	// Upstreams are named pools of targets.
	Upstreams []Upstream `json:"upstreams"`
	// Routes map requests to upstreams through plugin chains.
	Routes []Route `json:"routes"`
	// GlobalPlugins run on every route; a route's entry of the same name
	// replaces the global one.
	GlobalPlugins []PluginRef `json:"global_plugins"`
	// Consumers are the named callers that authentication plugins identify.
	Consumers []Consumer `json:"consumers,omitempty"`
	// Redis is where limit plugins with `policy: redis` keep cluster-wide
	// counters. Default: unset (no Redis).
	Redis *Redis `json:"redis,omitempty"`
	// Providers are the LLM providers that ai routes send requests to.
	Providers []Provider `json:"providers,omitempty"`
	// MCPServers are the MCP servers that mcp routes front: remote ones
	// (Streamable HTTP or legacy SSE), local stdio commands, or built in.
	MCPServers []MCPServer `json:"mcp_servers,omitempty"`
	// MCP holds settings shared by every mcp route.
	MCP MCP `json:"mcp"`
	// Log configures the process log and the access log.
	Log Log `json:"log"`
	// Tracing configures OpenTelemetry tracing. Off by default.
	Tracing Tracing `json:"tracing"`
	// Reload configures config-file watching.
	Reload Reload `json:"reload"`
	// Shutdown configures graceful draining on SIGTERM.
	Shutdown Shutdown `json:"shutdown"`
}

// Listener is one address the proxy serves on.
type Listener struct {
	// Addr is host:port. Required.
	Addr string `json:"addr"`
	// TLS turns on HTTPS (and HTTP/2 by ALPN) when set.
	TLS *ListenerTLS `json:"tls,omitempty"`
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout Duration `json:"idle_timeout"`
	// BodyIdleTimeout aborts a request whose body or response makes no
	// progress for this long; reads and writes push it back (in steps of
	// 1/64 of it, so it fires between 63/64 of it and all of it), so a long
	// stream that keeps moving is never cut. Default 60s; 0 disables.
	BodyIdleTimeout Duration `json:"body_idle_timeout"`
	// MaxHeaderBytes bounds request line plus headers. Default 64KiB.
	MaxHeaderBytes Size `json:"max_header_bytes"`
	// MaxRequestBody is the largest request body accepted (413 past it).
	// Default 32MiB; 0 means unlimited.
	MaxRequestBody Size `json:"max_request_body"`
	// HTTP2 configures HTTP/2 (TLS listeners, or h2c when enabled).
	HTTP2 HTTP2 `json:"http2"`
	// Server picks the HTTP/1.1 server of a plain listener: sluice (default;
	// Sluice's own, about 10% less CPU per request, stricter against
	// request smuggling) | net/http (Go's standard server). TLS and h2c
	// listeners always use net/http, for HTTP/2.
	Server string `json:"server"`
}

// ListenerTLS configures a listener's certificates and optional client auth.
type ListenerTLS struct {
	// Certificates are PEM files; the one matching the SNI name is served.
	Certificates []Certificate `json:"certificates"`
	// ClientCA, if set, makes the listener verify client certificates
	// against this PEM bundle (the mtls-auth plugin maps them to consumers).
	ClientCA string `json:"client_ca,omitempty"`
	// ClientAuth, with ClientCA: require (default; a handshake without a
	// valid client certificate fails) | verify_if_given (a client may
	// connect without one, so routes without mtls-auth stay open to it; a
	// certificate that is given must be valid).
	ClientAuth string `json:"client_auth,omitempty"`
}

// Certificate is a PEM certificate chain and its key, each a file path.
type Certificate struct {
	// Cert is the path of a PEM certificate chain, leaf first. Required.
	Cert string `json:"cert"`
	// Key is the path of the PEM private key of Cert. Required.
	Key string `json:"key"`
}

// HTTP2 limits HTTP/2 connections.
type HTTP2 struct {
	// H2C accepts cleartext HTTP/2 (prior knowledge) on a plain listener. Default false.
	H2C bool `json:"h2c"`
	// MaxConcurrentStreams per connection. Default 250.
	MaxConcurrentStreams int `json:"max_concurrent_streams"`
}

// Status is the listener for /metrics, /healthz and /readyz.
type Status struct {
	// Addr is host:port. Default 127.0.0.1:9090; "" (explicitly) disables it.
	Addr string `json:"addr"`
	// Pprof serves Go's profiler under /debug/pprof/ on this listener. Keep
	// the listener on loopback when it is on. Default false.
	Pprof bool `json:"pprof"`
}

// Upstream is a named pool of targets.
type Upstream struct {
	// Name is how routes refer to it. Required, unique.
	Name string `json:"name"`
	// Balancer: round_robin (smooth weighted, default) | least_conn | p2c | hash.
	Balancer string `json:"balancer"`
	// HashOn is the key for the hash balancer: header:NAME | cookie:NAME |
	// query:NAME | ip | consumer | path. Required when balancer is hash.
	HashOn string `json:"hash_on,omitempty"`
	// Targets are the servers. At least one.
	Targets []Target `json:"targets"`
	// HealthCheck turns on active probing when set; `health_check: {}`
	// probes with every default. Default: unset (off).
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
	// Passive ejects a target after consecutive failures of real traffic.
	Passive Passive `json:"passive"`
	// Timeouts for upstream connections and responses.
	Timeouts UpstreamTimeouts `json:"timeouts"`
	// Retries for failed attempts.
	Retries Retries `json:"retries"`
	// PassHost: pass (default; the client's Host goes upstream) | node (the
	// target's host:port) | rewrite (UpstreamHost).
	PassHost string `json:"pass_host"`
	// UpstreamHost is the Host sent when PassHost is rewrite.
	UpstreamHost string `json:"upstream_host,omitempty"`
	// TLS configures https targets.
	TLS UpstreamTLS `json:"tls"`
	// KeepAlive tunes the connection pool.
	KeepAlive KeepAlive `json:"keepalive"`
}

// Target is one server of an upstream.
type Target struct {
	// URL is scheme://host:port (http or https), no path. Required.
	URL string `json:"url"`
	// Weight is the share of traffic relative to the other targets. Default 1.
	Weight int `json:"weight"`
}

// HealthCheck is active probing of every target.
type HealthCheck struct {
	// Path probed with GET. Default /healthz.
	Path string `json:"path"`
	// Interval between probes. Default 2s.
	Interval Duration `json:"interval"`
	// Timeout of one probe. Default 1s.
	Timeout Duration `json:"timeout"`
	// Healthy is the count of consecutive passes that brings a target back. Default 2.
	Healthy int `json:"healthy"`
	// Unhealthy is the count of consecutive failures that takes it out. Default 3.
	Unhealthy int `json:"unhealthy"`
	// ExpectStatus lists passing statuses. Default (empty): any from 200 to 399.
	ExpectStatus []int `json:"expect_status,omitempty"`
}

// Passive is ejection on real traffic.
type Passive struct {
	// MaxFailures consecutive failures (connect errors, 5xx listed in
	// FailOn) eject a target. Default 5; 0 disables passive ejection.
	MaxFailures int `json:"max_failures"`
	// Eject is how long an ejected target rests before it is tried again. Default 30s.
	Eject Duration `json:"eject"`
	// FailOn lists upstream statuses that count as failures. Default [502, 503, 504].
	FailOn []int `json:"fail_on,omitempty"`
}

// UpstreamTimeouts bounds each stage of an upstream exchange.
type UpstreamTimeouts struct {
	// Connect bounds dialing (and the TLS handshake). Default 2s.
	Connect Duration `json:"connect"`
	// ResponseHeader bounds the wait for response headers after the request
	// was written. Default 60s.
	ResponseHeader Duration `json:"response_header"`
	// Idle closes pooled connections idle this long. Default 90s.
	Idle Duration `json:"idle"`
}

// Retries re-sends a failed attempt to another target.
type Retries struct {
	// Attempts is the number of retries after the first try. Default 1; 0
	// turns retries off.
	Attempts int `json:"attempts"`
	// On lists what is retried: connect_failure, timeout, or a status code.
	// Default [connect_failure]. A connect failure is retried for any method
	// (the upstream never saw the request) as long as no body byte was read;
	// a timeout or status only for bodiless GET, HEAD, OPTIONS, TRACE, PUT
	// and DELETE, because a sent body cannot be replayed.
	On []string `json:"on,omitempty"`
	// Budget caps retries as a share of requests, so retries cannot multiply
	// an outage.
	Budget RetryBudget `json:"budget"`
}

// RetryBudget is a token bucket: each request deposits Ratio tokens, each
// retry withdraws one; MinPerSecond retries are always allowed.
type RetryBudget struct {
	// Ratio of retries to requests, 0..1. Default 0.2; 0 leaves only
	// MinPerSecond.
	Ratio float64 `json:"ratio"`
	// MinPerSecond retries allowed regardless of Ratio. Default 10; 0 allows
	// none beyond Ratio.
	MinPerSecond int `json:"min_per_second"`
}

// UpstreamTLS configures https targets.
type UpstreamTLS struct {
	// ServerName overrides SNI and verification name. Default: the target host.
	ServerName string `json:"server_name,omitempty"`
	// CA is a PEM file of roots to trust. Default: the system roots.
	CA string `json:"ca,omitempty"`
	// Cert is a PEM client certificate file for mutual TLS; set Key with it.
	Cert string `json:"cert,omitempty"`
	// Key is the PEM private key file of Cert.
	Key string `json:"key,omitempty"`
	// InsecureSkipVerify turns off verification. For tests only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// KeepAlive tunes an upstream's connection pool.
type KeepAlive struct {
	// MaxIdlePerTarget idle connections kept per target. Default 256.
	MaxIdlePerTarget int `json:"max_idle_per_target"`
	// H2C speaks cleartext HTTP/2 (prior knowledge) to http targets. Default false.
	H2C bool `json:"h2c"`
}

// Route maps matching requests through a plugin chain to an upstream.
type Route struct {
	// Name identifies the route in logs, metrics and errors. Required, unique.
	Name string `json:"name"`
	// Priority breaks ties between equally specific routes; higher wins. Default 0.
	Priority int `json:"priority"`
	// Match says which requests this route takes.
	Match Match `json:"match"`
	// Upstream names the pool. Required unless a terminal plugin (mocking)
	// answers every request.
	Upstream string `json:"upstream,omitempty"`
	// Plugins run in phase order, then in this order.
	Plugins []PluginRef `json:"plugins,omitempty"`
	// Auth combines the route's authentication plugins.
	Auth RouteAuth `json:"auth"`
	// AI makes this an AI gateway route: OpenAI- and Anthropic-compatible
	// endpoints (/v1/chat/completions, /v1/messages, /v1/embeddings,
	// /v1/models) in front of the providers, instead of an upstream.
	AI *RouteAI `json:"ai,omitempty"`
	// MCP makes this an MCP gateway route in front of mcp_servers, instead
	// of an upstream: Streamable HTTP (both protocol eras) and legacy SSE,
	// with sealed session ids, tool access control and session quotas.
	MCP *RouteMCP `json:"mcp,omitempty"`
}

// MCP is the gateway-wide MCP configuration.
type MCP struct {
	// SessionKeys seal the Mcp-Session-Id that clients get (AES-256-GCM,
	// keys derived with HKDF), so any replica holding the same keys can
	// route any session with no shared store. The first key seals, every
	// key opens: rotate by putting the new key first. At least 16 bytes
	// each; take them from the environment or a file. Default: a random
	// key per process (sessions end at restart and do not move between
	// replicas).
	SessionKeys []string `json:"session_keys,omitempty"`
}

// MCPServer is one MCP server. Set exactly one of url, upstream, command
// and builtin.
type MCPServer struct {
	// Name is how mcp routes refer to it, and the prefix of its tools when
	// a route federates several servers. Required, unique.
	Name string `json:"name"`
	// URL of a remote server's endpoint: its Streamable HTTP endpoint
	// (like http://127.0.0.1:3001/mcp), or its SSE endpoint with
	// transport: sse.
	URL string `json:"url,omitempty"`
	// Upstream names an upstream pool whose targets are replicas of one
	// server (balanced, health-checked, sessions pinned to their target);
	// Path is the endpoint's path on them.
	Upstream string `json:"upstream,omitempty"`
	// Path of the endpoint on the upstream's targets. Default /mcp.
	Path string `json:"path,omitempty"`
	// Transport of a remote server: streamable (default; Streamable HTTP)
	// or sse (the 2024-11-05 HTTP+SSE transport).
	Transport string `json:"transport,omitempty"`
	// Headers are sent to the server on every request: its own
	// credentials (Authorization: "Bearer ${TOKEN}"). The agent's token
	// is never passed on.
	Headers map[string]string `json:"headers,omitempty"`
	// Command runs a local stdio server: the program and its arguments.
	Command []string `json:"command,omitempty"`
	// Env is added to a stdio server's environment, which otherwise holds
	// only PATH, HOME, LANG, TMPDIR, USER, SHELL and LC_* (the gateway's
	// own secrets are not inherited).
	Env map[string]string `json:"env,omitempty"`
	// Dir is a stdio server's working directory. Default: the gateway's.
	Dir string `json:"dir,omitempty"`
	// Stdio tunes how stdio processes are run.
	Stdio MCPStdio `json:"stdio"`
	// Builtin serves one of Sluice's own servers: gateway (read-only tools
	// listing routes, upstream health and usage).
	Builtin string `json:"builtin,omitempty"`
}

// MCPStdio tunes a stdio server's processes.
type MCPStdio struct {
	// Mode: session (default; one process per MCP session) | shared (one
	// process for every session, JSON-RPC ids remapped; cheaper, but the
	// server's state is shared between agents).
	Mode string `json:"mode,omitempty"`
	// MaxProcesses caps live processes in session mode. Default 32.
	MaxProcesses int `json:"max_processes,omitempty"`
	// MaxPerConsumer caps one consumer's live sessions on this server.
	// Default 0 (no cap).
	MaxPerConsumer int `json:"max_per_consumer,omitempty"`
	// ShutdownTimeout bounds stopping a process: stdin closed, then
	// SIGTERM, then SIGKILL. Default 5s.
	ShutdownTimeout Duration `json:"shutdown_timeout,omitempty"`
}

// RouteMCP is an MCP route.
type RouteMCP struct {
	// Servers are the mcp_servers behind the route. One is proxied
	// transparently; several are federated into one virtual server whose
	// tools and prompts are named SERVER__NAME and resources
	// mcp://SERVER/URI. Required.
	Servers []string `json:"servers"`
	// NameSeparator joins a server's name and its tool and prompt names on
	// a federated route. Letters, digits, _, - and . only. Default "__".
	NameSeparator string `json:"name_separator,omitempty"`
	// Session limits each client session.
	Session MCPSession `json:"session"`
	// Tools says which tools each consumer may list and call, by consumer
	// or group name ("*" is everyone). Names are glob patterns (* matches
	// any run of characters). With no allow entries every tool is
	// allowed; deny wins over allow. A refused call gets a JSON-RPC error
	// and refused tools are removed from tools/list.
	Tools MCPTools `json:"tools"`
	// Auth serves the route's OAuth protected resource metadata (RFC 9728)
	// and adds the MCP authorization spec's challenges to 401 and 403
	// answers. Authentication itself is the route's auth plugins'
	// (openid-connect, jwt-auth, key-auth).
	Auth *MCPAuth `json:"auth,omitempty"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// besides the gateway's own; a request with any other Origin gets 403
	// (DNS rebinding protection). "*" allows every origin.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// KeepAlive sends an SSE comment on a stream idle this long, so proxies
	// and load balancers (60s idle timeouts are common) do not cut it.
	// Default 15s.
	KeepAlive Duration `json:"keep_alive"`
	// MaxBody is the largest message accepted. Default 4MiB.
	MaxBody Size `json:"max_body"`
}

// MCPSession bounds client sessions.
type MCPSession struct {
	// MaxPerConsumer caps a consumer's open sessions on this route (on this
	// gateway). Default 0 (no cap).
	MaxPerConsumer int `json:"max_per_consumer"`
	// IdleTimeout ends a session unused this long. Default 30m.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxLifetime ends a session this long after it began, however busy.
	// Default 24h.
	MaxLifetime Duration `json:"max_lifetime"`
}

// MCPTools is a route's tool access control.
type MCPTools struct {
	// Allow maps a consumer or group name ("*": everyone) to the tools it
	// may use.
	Allow map[string][]string `json:"allow,omitempty"`
	// Deny maps a consumer or group name ("*": everyone) to tools it may
	// not use, whatever Allow says.
	Deny map[string][]string `json:"deny,omitempty"`
}

// MCPAuth is the route's OAuth protected resource metadata.
type MCPAuth struct {
	// Resource is the route's public URL, the audience tokens must be
	// issued for (RFC 8707), like https://gw.example.com/mcp. Required.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers agents get tokens from.
	// Required.
	AuthorizationServers []string `json:"authorization_servers"`
	// Scopes are the scopes the route requires: advertised in the
	// metadata and in challenges, and checked against the token's scope
	// claim (403 insufficient_scope when one is missing).
	Scopes []string `json:"scopes,omitempty"`
	// ResourceName is a human-readable name for the metadata.
	ResourceName string `json:"resource_name,omitempty"`
}

// Provider is one LLM provider account.
type Provider struct {
	// Name is how ai routes refer to it. Required, unique.
	Name string `json:"name"`
	// Type: openai | azure-openai | anthropic | gemini (its OpenAI-compatible
	// endpoint) | deepseek | openai-compatible (Ollama, vLLM, Mistral, Groq,
	// OpenRouter ...) | mock (built in, answers locally, for trying Sluice
	// without keys). Required.
	Type string `json:"type"`
	// BaseURL of the API, like https://api.openai.com/v1. Default: the
	// type's public endpoint; required for azure-openai and
	// openai-compatible.
	BaseURL string `json:"base_url,omitempty"`
	// APIKeys are used in turn; a key that gets 429 rests for its
	// Retry-After. Take them from the environment or files. The caller's
	// own key is never forwarded.
	APIKeys []string `json:"api_keys,omitempty"`
	// Headers are added to every request to this provider.
	Headers map[string]string `json:"headers,omitempty"`
	// Timeouts of this provider's connections and responses.
	Timeouts ProviderTimeouts `json:"timeouts"`
	// Azure names the deployment and API version (azure-openai only).
	Azure ProviderAzure `json:"azure"`
	// AnthropicVersion is the anthropic-version header. Default 2023-06-01.
	AnthropicVersion string `json:"anthropic_version,omitempty"`
	// Prices override or add model prices, by the model name sent to this
	// provider, for cost accounting and budgets. Well-known models have
	// built-in prices (docs/ai.md); the mock provider is free.
	Prices map[string]Price `json:"prices,omitempty"`
}

// Price is what one model costs, in US dollars per million tokens.
type Price struct {
	// Input is the price of uncached input tokens. Required.
	Input float64 `json:"input"`
	// Output is the price of output tokens, reasoning included. Required.
	Output float64 `json:"output"`
	// CachedInput is the price of input tokens read from the provider's
	// prompt cache. Default: Input.
	CachedInput float64 `json:"cached_input,omitempty"`
	// CacheWrite is the price of input tokens written to the prompt cache
	// (Anthropic). Default: Input.
	CacheWrite float64 `json:"cache_write,omitempty"`
}

// ProviderTimeouts bound a provider's connections and responses.
type ProviderTimeouts struct {
	// Connect bounds dialing and TLS. Default 10s.
	Connect Duration `json:"connect"`
	// Response bounds a non-streaming attempt to the end of its body.
	// Default: none (the route's total timeout applies; streams are bounded
	// by first_token and between_chunks).
	Response Duration `json:"response"`
}

// ProviderAzure is Azure OpenAI's addressing.
type ProviderAzure struct {
	// Deployment replaces the model name in the URL. Default: the model.
	Deployment string `json:"deployment,omitempty"`
	// APIVersion is the api-version query parameter. Default 2024-10-21.
	APIVersion string `json:"api_version,omitempty"`
}

// RouteAI is an AI route: which models it serves and how it fails over.
type RouteAI struct {
	// Models map the names clients send to ordered provider targets. A
	// model named "*" takes every other name.
	Models []AIModel `json:"models"`
	// Timeouts of a completion.
	Timeouts AITimeouts `json:"timeouts"`
	// Retry of failed attempts; only before the first byte reaches the
	// client.
	Retry AIRetry `json:"retry"`
	// MaxBody is the largest request accepted. Default 32MiB.
	MaxBody Size `json:"max_body"`
}

// AIModel is one model name a route serves.
type AIModel struct {
	// Name is what clients send as "model". Required.
	Name string `json:"name"`
	// Strategy: fallback (default; targets in order) | weighted | least_latency.
	Strategy string `json:"strategy"`
	// Targets are provider models. At least one.
	Targets []AITarget `json:"targets"`
}

// AITarget is one provider model.
type AITarget struct {
	// Provider names a provider. Required.
	Provider string `json:"provider"`
	// Model is the provider's model name. Default: the name the client sent.
	Model string `json:"model,omitempty"`
	// Weight for the weighted strategy. Default 1.
	Weight int `json:"weight"`
}

// AITimeouts bound a completion.
type AITimeouts struct {
	// FirstToken bounds the wait for a stream's first content event;
	// until then another target may still be tried. Default 60s.
	FirstToken Duration `json:"first_token"`
	// BetweenChunks aborts a stream that stalls this long. Default 120s.
	BetweenChunks Duration `json:"between_chunks"`
	// Total bounds the whole request. Default 10m.
	Total Duration `json:"total"`
}

// AIRetry retries failed attempts before the response starts.
type AIRetry struct {
	// Attempts on the same target after the first. Default 0 (fall back
	// to the next target instead).
	Attempts int `json:"attempts"`
	// Backoff before a retry, doubled each time. Default 200ms.
	Backoff Duration `json:"backoff"`
	// MaxBackoff caps Backoff. Default 5s.
	MaxBackoff Duration `json:"max_backoff"`
	// On lists what is retried: statuses, timeout, connect_failure.
	// Default [429, 500, 502, 503, 504, 529, timeout, connect_failure].
	On []string `json:"on,omitempty"`
	// RetryAfterCap is the longest Retry-After Sluice waits for; a longer
	// one moves on to the next key or target at once. Default 0 (never
	// wait).
	RetryAfterCap Duration `json:"retry_after_cap"`
}

// RouteAuth says how a route's authentication plugins (key-auth, jwt-auth,
// basic-auth, openid-connect, mtls-auth) combine.
type RouteAuth struct {
	// Mode: any (default; the first plugin that verifies a credential
	// identifies the caller, the rest pass) | all (every authentication
	// plugin must verify a credential, all naming the same consumer).
	Mode string `json:"mode"`
	// Anonymous names the consumer given to requests that carry no
	// credential at all, so a route can serve both known and unknown
	// callers (with separate limits). A credential that is present but
	// wrong is still refused with 401. Default: none (401).
	Anonymous string `json:"anonymous,omitempty"`
}

// Consumer is a named caller: an app, a team or an agent.
type Consumer struct {
	// Name identifies the consumer in logs, metrics, traces and limits.
	// Required, unique.
	Name string `json:"name"`
	// Groups the consumer belongs to, for consumer-restriction.
	Groups []string `json:"groups,omitempty"`
	// Labels are free-form key/value pairs (team, tier, cost centre).
	Labels map[string]string `json:"labels,omitempty"`
	// Credentials by authentication plugin name (key-auth, jwt-auth,
	// basic-auth, mtls-auth), each checked by its plugin. Take secrets from
	// the environment or a file: key: "${AGENT_KEY}" or
	// key: "${file:/run/secrets/agent-key}".
	Credentials map[string]json.RawMessage `json:"credentials,omitempty"`
}

// Redis is a Redis server or Redis Cluster shared by every plugin that keeps
// cluster-wide state.
type Redis struct {
	// Addr is host:port of one server. Set Addr or Addrs.
	Addr string `json:"addr,omitempty"`
	// Addrs are the seed nodes of a Redis Cluster (cluster mode is implied
	// by more than one address, or by Cluster).
	Addrs []string `json:"addrs,omitempty"`
	// Cluster speaks the Redis Cluster protocol even with one address. Default false.
	Cluster bool `json:"cluster"`
	// Username for Redis ACLs. Default: the default user.
	Username string `json:"username,omitempty"`
	// Password; take it from the environment or a file. Default: none.
	Password string `json:"password,omitempty"`
	// DB is the database number (not in cluster mode). Default 0.
	DB int `json:"db"`
	// Timeout bounds connecting and each command; a limit whose Redis call
	// takes longer follows its on_redis_error setting. Default 50ms.
	Timeout Duration `json:"timeout"`
	// PoolSize is connections per node. Default 0: 10 per CPU.
	PoolSize int `json:"pool_size"`
	// TLS connects with TLS when set; `tls: {}` uses the system roots.
	TLS *RedisTLS `json:"tls,omitempty"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// CA is a PEM file of roots to trust. Default: the system roots.
	CA string `json:"ca,omitempty"`
	// Cert is a PEM client certificate file; set Key with it.
	Cert string `json:"cert,omitempty"`
	// Key is the PEM private key file of Cert.
	Key string `json:"key,omitempty"`
	// ServerName overrides the name verified. Default: the address's host.
	ServerName string `json:"server_name,omitempty"`
}

// Match is the request predicate of a route. Every set field must match.
type Match struct {
	// Hosts: exact (api.example.com) or leading wildcard (*.example.org). Empty: any.
	Hosts []string `json:"hosts,omitempty"`
	// Paths: exact (/x), prefix (/x/*) or with parameters (/users/{id}). Empty: any.
	Paths []string `json:"paths,omitempty"`
	// Methods, upper case. Empty: any.
	Methods []string `json:"methods,omitempty"`
	// Headers that must be present with exactly this value ("*": present with any value).
	Headers map[string]string `json:"headers,omitempty"`
	// Query parameters that must be present with exactly this value ("*": any).
	Query map[string]string `json:"query,omitempty"`
}

// PluginRef is one entry of a plugin list. Config is the plugin's own JSON,
// decoded strictly by the plugin.
type PluginRef struct {
	// Name is the plugin's name, such as cors or request-id. Required; a
	// list may name a plugin once.
	Name string `json:"name"`
	// Config is the plugin's own settings, checked by the plugin. Default:
	// the plugin's defaults.
	Config json.RawMessage `json:"config,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level: debug | info (default) | warn | error.
	Level string `json:"level"`
	// Format: json (default) | text.
	Format string `json:"format"`
	// Access turns the per-request access log on. Default true.
	Access bool `json:"access"`
}

// Tracing configures OpenTelemetry.
type Tracing struct {
	// Enabled turns tracing on. Default false.
	Enabled bool `json:"enabled"`
	// Endpoint is the OTLP/HTTP collector URL. Default http://127.0.0.1:4318/v1/traces.
	Endpoint string `json:"endpoint"`
	// SamplingRatio of new traces kept, 0..1 (parent decisions are honoured). Default 1.
	SamplingRatio float64 `json:"sampling_ratio"`
	// ServiceName reported. Default sluice.
	ServiceName string `json:"service_name"`
	// Headers sent to the collector (e.g. an API key, via ${ENV}).
	Headers map[string]string `json:"headers,omitempty"`
}

// Reload configures how config changes are picked up.
type Reload struct {
	// Watch polls the config file for changes. Default true.
	Watch bool `json:"watch"`
	// Interval between polls. Default 1s.
	Interval Duration `json:"interval"`
	// Drain is how long a retired generation may finish in-flight requests
	// before its resources are closed. Default 30s.
	Drain Duration `json:"drain"`
}

// Shutdown configures SIGTERM handling.
type Shutdown struct {
	// Delay keeps accepting requests this long after SIGTERM while /readyz
	// already answers 503, so load balancers stop sending before the
	// listeners close. Default 0.
	Delay Duration `json:"delay"`
	// Drain is how long in-flight requests may finish. Default 30s.
	Drain Duration `json:"drain"`
}
