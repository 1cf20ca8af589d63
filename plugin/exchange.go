package plugin

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"
)

// Exchange is the per-request state plugins share: one typed struct in the
// request context, not a bag of keys. The gateway creates it before the chain
// runs and reads it after (access log, metrics), so plugins must not keep it
// past their return.
type Exchange struct {
	RequestID string     // set by the request-id plugin, or by the gateway when it first needs one
	Route     string     // matched route name
	Upstream  string     // upstream name, "" for routes that answer by themselves
	Target    string     // upstream target (host:port) of the last attempt, set by the proxy
	Consumer  string     // the caller's consumer name; set through Identify by an Authn plugin
	Caller    *Consumer  // the caller's consumer (groups, labels); nil until identified
	AuthnBy   string     // the plugin that identified the caller, or "anonymous"
	ClientIP  netip.Addr // the caller, after trusted-proxy resolution
	Start     time.Time  // when the gateway received the request

	// Params holds path parameters captured by the router ({id} in /users/{id}).
	Params []Param

	// UpstreamDuration is the time from the first upstream attempt to its
	// response headers; Attempts counts upstream tries. Both set by the proxy.
	UpstreamDuration time.Duration
	Attempts         int

	// AI is the state of a request on an ai route; nil on other routes.
	AI *AI
	// MCP is the state of a request on an mcp route; nil on other routes.
	MCP *MCP

	authn    authn
	paramBuf [8]Param
}

// Param is one captured path parameter.
type Param struct {
	Name, Value string
}

// Param returns the value of the path parameter name, or "".
func (x *Exchange) Param(name string) string {
	for _, p := range x.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// AddParam appends a path parameter; up to 8 need no allocation.
func (x *Exchange) AddParam(name, value string) {
	if x.Params == nil {
		x.Params = x.paramBuf[:0]
	}
	x.Params = append(x.Params, Param{name, value})
}

// Reset clears x for reuse from a pool.
func (x *Exchange) Reset() {
	*x = Exchange{}
}

type exchangeKey struct{}

// WithExchange returns ctx carrying x.
func WithExchange(ctx context.Context, x *Exchange) context.Context {
	return &exchangeCtx{Context: ctx, x: x}
}

// exchangeCtx is context.WithValue for the exchange, plus an AfterFunc
// method that forwards to the parent's. context.WithValue's type has no
// such method, so a context.AfterFunc or WithCancel below it, on a parent
// that is not one of the context package's own (Sluice's HTTP/1.1 server
// gives every request a cheap context of its own type), would start a
// goroutine per call to wait for the parent: one per proxied request,
// since the upstream transport watches the request context that way.
type exchangeCtx struct {
	context.Context
	x *Exchange
}

func (c *exchangeCtx) Value(key any) any {
	if key == (exchangeKey{}) {
		return c.x
	}
	return c.Context.Value(key)
}

// AfterFunc is what the context package looks for on a parent (its
// afterFuncer interface) when the parent is not a context of its own. A
// value context is canceled exactly when its parent is, so registering on
// the parent is the same thing; a parent without the method gets
// context.AfterFunc, which then does what it did before this type existed.
func (c *exchangeCtx) AfterFunc(f func()) (stop func() bool) {
	if p, ok := c.Context.(interface{ AfterFunc(func()) func() bool }); ok {
		return p.AfterFunc(f)
	}
	return context.AfterFunc(c.Context, f)
}

func (c *exchangeCtx) String() string {
	if s, ok := c.Context.(fmt.Stringer); ok {
		return s.String() + ".WithExchange"
	}
	return fmt.Sprintf("%T.WithExchange", c.Context)
}

// ExchangeOf returns the request's Exchange. Outside the gateway (in a unit
// test that did not set one) it returns a fresh empty Exchange, never nil.
func ExchangeOf(r *http.Request) *Exchange {
	ctx := r.Context()
	if c, ok := ctx.(*exchangeCtx); ok {
		return c.x // the usual case: no walk up the context chain
	}
	if x, ok := ctx.Value(exchangeKey{}).(*Exchange); ok {
		return x
	}
	return &Exchange{}
}

// Error is what a plugin returns to stop a request (Envoy's local reply). The
// gateway renders it once, in the route's protocol, with the request ID.
type Error struct {
	Status int         // HTTP status
	Code   string      // stable and machine-readable: "rate_limited", "forbidden"
	Public string      // safe to show the client
	Header http.Header // extra response headers (Retry-After, WWW-Authenticate); may be nil
	Err    error       // logged with the request ID, never sent
	// Logged says the plugin has logged the cause itself (rate-limited, as
	// for a Redis outage that would otherwise log every request), so the
	// gateway does not log this request's error again.
	Logged bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %s: %v", e.Code, e.Status, e.Public, e.Err)
	}
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Public)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }
