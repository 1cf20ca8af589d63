// Package consumerrestriction implements the consumer-restriction plugin:
// once an authentication plugin has identified the caller, it allows or
// refuses the request by consumer name or consumer group, and can limit the
// methods each may use. Keys follow APISIX's consumer-restriction plugin.
package consumerrestriction

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the consumer-restriction plugin.
var Kind = plugin.Define("consumer-restriction", plugin.Authz, defaults, New)

// What list entries name, the values of Config.Type.
const (
	typeConsumer = "consumer_name"
	typeGroup    = "consumer_group_id"
)

// Config is the consumer-restriction plugin's configuration. At least one
// of Whitelist, Blacklist and AllowedByMethods must be set.
type Config struct {
	// Type says what the lists name: consumer_name (default) or
	// consumer_group_id (the consumers' groups).
	Type string `json:"type"`
	// Whitelist lets only these consumers (or members of these groups)
	// through.
	Whitelist []string `json:"whitelist"`
	// Blacklist refuses these consumers (or members of these groups). It
	// wins over the whitelist.
	Blacklist []string `json:"blacklist"`
	// AllowedByMethods limits the methods of the consumers (or groups) it
	// lists; callers it does not list may use any method.
	AllowedByMethods []MethodRule `json:"allowed_by_methods"`
	// RejectedCode is the status of a refused request, 400 to 599. Default
	// 403.
	RejectedCode int `json:"rejected_code"`
	// RejectedMsg is the message of a refused request. Default "access
	// denied".
	RejectedMsg string `json:"rejected_msg"`
}

// MethodRule is one entry of allowed_by_methods.
type MethodRule struct {
	// User is the consumer (or, with type consumer_group_id, the group) the
	// rule is for.
	User string `json:"user"`
	// Methods it may use: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS,
	// CONNECT, TRACE, PURGE.
	Methods []string `json:"methods"`
}

// methods are the methods allowed_by_methods accepts (APISIX's list), each
// a bit of a method set.
var methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

func methodBit(m string) uint16 {
	if i := slices.Index(methods, m); i >= 0 {
		return 1 << i
	}
	return 0
}

const defaultRejectedMsg = "access denied" // plugin.Forbidden's

func defaults() *Config {
	return &Config{Type: typeConsumer, RejectedCode: http.StatusForbidden, RejectedMsg: defaultRejectedMsg}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	switch c.Type {
	case typeConsumer, typeGroup:
	case "service_id", "route_id":
		errs = append(errs, fmt.Errorf("type: %q is not supported (list consumer-restriction on the routes it is for); use consumer_name or consumer_group_id", c.Type))
	default:
		errs = append(errs, fmt.Errorf("type: %q is not consumer_name or consumer_group_id", c.Type))
	}
	if len(c.Whitelist) == 0 && len(c.Blacklist) == 0 && len(c.AllowedByMethods) == 0 {
		errs = append(errs, errors.New("whitelist, blacklist, allowed_by_methods: set at least one"))
	}
	white := map[string]bool{}
	for i, n := range c.Whitelist {
		if n == "" {
			errs = append(errs, fmt.Errorf("whitelist[%d]: empty name", i))
		}
		white[n] = true
	}
	for i, n := range c.Blacklist {
		switch {
		case n == "":
			errs = append(errs, fmt.Errorf("blacklist[%d]: empty name", i))
		case white[n]:
			errs = append(errs, fmt.Errorf("blacklist[%d]: %q is in the whitelist too", i, n))
		}
	}
	users := map[string]int{}
	for i, m := range c.AllowedByMethods {
		if m.User == "" {
			errs = append(errs, fmt.Errorf("allowed_by_methods[%d].user: required", i))
		} else if j, dup := users[m.User]; dup {
			errs = append(errs, fmt.Errorf("allowed_by_methods[%d].user: %q is listed in allowed_by_methods[%d] already", i, m.User, j))
		} else {
			users[m.User] = i
		}
		if len(m.Methods) == 0 {
			errs = append(errs, fmt.Errorf("allowed_by_methods[%d].methods: must list at least one method", i))
		}
		for j, method := range m.Methods {
			if methodBit(method) == 0 {
				errs = append(errs, fmt.Errorf("allowed_by_methods[%d].methods[%d]: %q is not one of %s", i, j, method, strings.Join(methods, ", ")))
			}
		}
	}
	if c.RejectedCode < 400 || c.RejectedCode > 599 {
		errs = append(errs, fmt.Errorf("rejected_code: %d is not from 400 to 599", c.RejectedCode))
	}
	if n := len(c.RejectedMsg); n < 1 || n > 1024 || hasCTL(c.RejectedMsg) {
		errs = append(errs, errors.New("rejected_msg: must be 1 to 1024 bytes without control characters"))
	}
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c, checking that every
// consumer or group it names exists in env.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	if err := checkNames(env, c); err != nil {
		return nil, err
	}
	cr := &restriction{
		groups:   c.Type == typeGroup,
		white:    set(c.Whitelist),
		black:    set(c.Blacklist),
		methods:  map[string]uint16{},
		code:     c.RejectedCode,
		msg:      c.RejectedMsg,
		allowed:  env.Decision("allowed"),
		rejected: env.Decision("rejected"),
		unknown:  env.Decision("unauthenticated"),
	}
	for _, m := range c.AllowedByMethods {
		for _, method := range m.Methods {
			cr.methods[m.User] |= methodBit(method)
		}
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{restriction: cr, next: next}
	}, nil
}

// checkNames reports every name in c that is not a consumer (or group) in
// env: a typo would otherwise silently refuse, or let through, everyone.
func checkNames(env plugin.Env, c *Config) error {
	known := func(n string) bool { return env.Consumers[n] != nil }
	what := "consumer"
	var hint string
	if c.Type == typeGroup {
		groups := map[string]bool{}
		for _, cs := range env.Consumers {
			for _, g := range cs.Groups {
				groups[g] = true
			}
		}
		known = func(n string) bool { return groups[n] }
		what = "group"
		if len(groups) == 0 {
			hint = " (no consumer has groups)"
		} else {
			hint = " (known groups: " + strings.Join(slices.Sorted(maps.Keys(groups)), ", ") + ")"
		}
	}
	var errs []error
	check := func(key, n string) {
		if !known(n) {
			errs = append(errs, fmt.Errorf("%s: unknown %s %q%s", key, what, n, hint))
		}
	}
	for i, n := range c.Whitelist {
		check(fmt.Sprintf("whitelist[%d]", i), n)
	}
	for i, n := range c.Blacklist {
		check(fmt.Sprintf("blacklist[%d]", i), n)
	}
	for i, m := range c.AllowedByMethods {
		check(fmt.Sprintf("allowed_by_methods[%d].user", i), m.User)
	}
	return errors.Join(errs...)
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

type restriction struct {
	groups       bool // lists name groups, not consumers
	white, black map[string]bool
	methods      map[string]uint16 // allowed methods by consumer or group
	code         int
	msg          string

	allowed, rejected, unknown plugin.Counter
}

type handler struct {
	*restriction
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	c := plugin.ExchangeOf(r).Caller
	if c == nil {
		h.unknown.Inc()
		return &plugin.Error{
			Status: http.StatusUnauthorized, Code: "unauthorized", Public: "missing or invalid credentials",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="sluice"`}},
			Err:    errors.New("consumer-restriction: no caller was identified (is an authentication plugin on the route?)"),
		}
	}
	if why := h.refuse(c, r.Method); why != "" {
		h.rejected.Inc()
		return h.reject(why)
	}
	h.allowed.Inc()
	return h.next.ServeHTTP(w, r)
}

// refuse returns why c may not make a request with method, or "".
func (h *handler) refuse(c *plugin.Consumer, method string) string {
	names := []string{c.Name}
	if h.groups {
		names = c.Groups
	}
	// The blacklist wins, then the whitelist decides who, then
	// allowed_by_methods what they may do. Unlike APISIX, where a
	// whitelisted caller skips allowed_by_methods, both apply: a rule for a
	// caller is meant to hold.
	for _, n := range names {
		if !h.black[n] {
			continue
		}
		if h.groups {
			return fmt.Sprintf("consumer-restriction: group %q of consumer %q is in the blacklist", n, c.Name)
		}
		return fmt.Sprintf("consumer-restriction: consumer %q is in the blacklist", c.Name)
	}
	if len(h.white) > 0 && !slices.ContainsFunc(names, func(n string) bool { return h.white[n] }) {
		if h.groups {
			return fmt.Sprintf("consumer-restriction: no group of consumer %q is in the whitelist", c.Name)
		}
		return fmt.Sprintf("consumer-restriction: consumer %q is not in the whitelist", c.Name)
	}
	var allowed uint16
	ruled := false
	for _, n := range names {
		if m, ok := h.methods[n]; ok {
			allowed |= m
			ruled = true
		}
	}
	if ruled && allowed&methodBit(method) == 0 {
		return fmt.Sprintf("consumer-restriction: consumer %q may not use method %s", c.Name, method)
	}
	return ""
}

// reject returns a fresh error for each refusal: the gateway may annotate
// what it renders.
func (h *handler) reject(why string) *plugin.Error {
	if h.code == http.StatusForbidden && h.msg == defaultRejectedMsg {
		return plugin.Forbidden(why)
	}
	code := "forbidden"
	if h.code == http.StatusNotFound {
		code = "not_found" // a 404 is meant to hide the route; do not explain it
	}
	return &plugin.Error{Status: h.code, Code: code, Public: h.msg, Err: errors.New(why)}
}

var _ plugin.Handler = (*handler)(nil)

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
