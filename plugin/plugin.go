// Package plugin is Sluice's extension API: the one package a plugin needs,
// and the only one a plugin built outside this module can import. It depends
// on the standard library alone.
//
// A plugin is a Kind: a name, a Phase and a builder that turns the plugin's
// JSON config into a Middleware. The gateway builds every route's chain once
// per config generation; requests then run through ready-made handlers.
//
// Order is fixed by Phase first and by the route's own list second; the
// response passes back out in reverse (Envoy's filter order, which falls out
// of func(next) wrapping for free).
package plugin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Phase fixes where a plugin runs.
type Phase int

const (
	Observe   Phase = iota // access log, metrics, tracing: sees every outcome
	Edge                   // request ID, real IP, CORS, body size, IP restriction
	Authn                  // who is calling
	Authz                  // may they: route, model, MCP tool
	Limit                  // rate, token and concurrency limits
	Transform              // rewrite headers, path, bodies; mock responses
)

var phaseNames = [...]string{"observe", "edge", "authn", "authz", "limit", "transform"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Handler is http.Handler that returns its error instead of writing it; the
// gateway renders that error once, in the route's protocol. A handler that
// has already written a response must return nil (or an error only for the
// log: the gateway will not write twice).
type Handler interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(http.ResponseWriter, *http.Request) error

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Middleware wraps next. It is called once per config generation, never per
// request, so it may precompute freely.
type Middleware func(next Handler) Handler

// Env is all a plugin may use while it is built. There are no globals.
type Env struct {
	Route string // route name, or "" for a global plugin
	// AIRoute says the route has an `ai` block: Exchange.AI is set on its
	// requests. AI plugins refuse to be built where it is false.
	AIRoute bool
	// MCPRoute says the route has an `mcp` block: Exchange.MCP is set on
	// its requests, parsed from the JSON-RPC body before plugins run.
	MCPRoute bool
	Logger   *slog.Logger // scoped to plugin and route
	// OnClose registers cleanup to run when this config generation retires
	// (after its in-flight requests drained). Never nil when set by the
	// gateway; may be nil in tests, so use env.Cleanup.
	OnClose func(func() error)

	// Credentials holds this kind's entry from every consumer that has one,
	// in config order (only for kinds with a Credential spec).
	Credentials []Credential
	// Consumers holds every configured consumer by name (to check names in
	// a plugin's config, or map a token claim to a consumer).
	Consumers map[string]*Consumer
	// Redis is the top-level `redis` block, nil when it is not configured.
	// Plugins that keep shared state there build their client from it (the
	// built-in limits share one client per distinct block).
	Redis *RedisConfig
	// Decisions returns the counter of one outcome of this plugin on this
	// route; use Env.Decision, which copes with a nil func in tests.
	Decisions func(decision string) Counter
}

// Consumer returns the consumer called name, or nil.
func (e Env) Consumer(name string) *Consumer { return e.Consumers[name] }

// Decision returns the counter of one outcome ("allowed", "rejected"). Call
// it while building, not per request.
func (e Env) Decision(decision string) Counter {
	if e.Decisions == nil {
		return nopCounter{}
	}
	return e.Decisions(decision)
}

// Cleanup registers f with OnClose, or does nothing if OnClose is nil.
func (e Env) Cleanup(f func() error) {
	if e.OnClose != nil {
		e.OnClose(f)
	}
}

// RedisConfig is where plugins keep cluster-wide state. Secrets in it
// (Password) must never be logged.
type RedisConfig struct {
	Addrs      []string      // host:port; several, or Cluster, means Redis Cluster
	Cluster    bool          // use the Redis Cluster protocol even with one seed address
	Username   string        // ACL user, "" for the default user
	Password   string        // "" for none
	DB         int           // database number (not in cluster mode)
	Timeout    time.Duration // dial, read and write timeout of each command
	PoolSize   int           // connections per node; 0 lets the client choose
	TLS        bool          // connect with TLS
	CAFile     string        // PEM CA bundle for TLS; "" uses the system roots
	CertFile   string        // client certificate (PEM) for mutual TLS
	KeyFile    string        // its private key
	ServerName string        // TLS server name; "" uses the address's host
}

// Validator is implemented by every plugin config. Validate must be pure: no
// I/O, no goroutines, no globals. It returns every problem it finds, joined
// with errors.Join, each starting with the config key it is about.
type Validator interface{ Validate() error }

// Kind is one plugin type. Make one with Define; cmd/sluice lists them all.
type Kind struct {
	Name  string
	Phase Phase
	// Terminal is true for plugins that always answer by themselves (mocking):
	// a route using one needs no upstream.
	Terminal bool
	// NewConfig returns a fresh pointer to a config holding the defaults; it is
	// used for the JSON Schema and for strict key checking.
	NewConfig func() any
	// Check decodes and validates raw without building anything. It is what
	// `sluice validate` runs.
	Check func(raw json.RawMessage) error
	// Build decodes, validates and builds the middleware.
	Build func(env Env, raw json.RawMessage) (Middleware, error)
	// Credential, for Authn kinds that identify consumers, decodes the
	// `consumers[].credentials.<name>` entries. nil: consumers cannot carry
	// credentials for this kind.
	Credential *CredentialSpec
}

// Define declares a kind. defaults returns a fresh *Config holding defaults;
// raw (JSON, from YAML or etcd) is decoded over it with unknown keys rejected.
// C must be a pointer type.
func Define[C Validator](name string, p Phase, defaults func() C, build func(Env, C) (Middleware, error)) Kind {
	decode := func(raw json.RawMessage) (C, error) {
		cfg := defaults()
		if err := DecodeStrict(raw, cfg); err != nil {
			return cfg, err
		}
		return cfg, cfg.Validate()
	}
	return Kind{
		Name:      name,
		Phase:     p,
		NewConfig: func() any { return defaults() },
		Check: func(raw json.RawMessage) error {
			_, err := decode(raw)
			return err
		},
		Build: func(env Env, raw json.RawMessage) (Middleware, error) {
			cfg, err := decode(raw)
			if err != nil {
				return nil, err
			}
			return build(env, cfg)
		},
	}
}

// DecodeStrict decodes exactly one JSON value from raw into v, rejecting
// unknown keys. Empty raw (or JSON null) leaves v as it is, so defaults hold.
func DecodeStrict(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("config must be a single JSON object")
	}
	return nil
}

// decodeError rewrites encoding/json's messages into "key: problem" form.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("%s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("expected %s, got %s", te.Type, te.Value)
	}
	return err
}

// Use is one built entry of a route's plugin list.
type Use struct {
	Kind Kind
	MW   Middleware
}

// Chain sorts uses by phase (stably, so the route's order holds within a
// phase) and wraps terminal, the upstream call, so that the first use runs
// first.
func Chain(uses []Use, terminal Handler) Handler {
	uses = slices.Clone(uses)
	slices.SortStableFunc(uses, func(a, b Use) int { return cmp.Compare(a.Kind.Phase, b.Kind.Phase) })
	h := terminal
	for _, u := range slices.Backward(uses) {
		h = u.MW(h)
	}
	return h
}

// WithAuthnGate returns uses with the authn gate for policy p (AuthnGate)
// around its Authn-phase entries, so that Chain runs begin, the Authn
// plugins, then end. Without Authn plugins or an anonymous consumer, uses
// is returned as it is.
func WithAuthnGate(uses []Use, p AuthnPolicy) []Use {
	n := 0
	for _, u := range uses {
		if u.Kind.Phase == Authn {
			n++
		}
	}
	if n == 0 && p.Anonymous == nil {
		return uses
	}
	begin, end := AuthnGate(p, n)
	out := make([]Use, 0, len(uses)+2)
	out = append(out, Use{Kind: Kind{Name: "authn-begin", Phase: Authn}, MW: begin})
	out = append(out, uses...)
	// Chain sorts stably by phase, so end stays after every Authn entry.
	return append(out, Use{Kind: Kind{Name: "authn-end", Phase: Authn}, MW: end})
}
