// Package aipromptguard implements the ai-prompt-guard plugin: on an ai
// route it checks the text of a request's messages against allow and deny
// regular expressions and refuses the request before any provider sees it.
// Keys follow APISIX's ai-prompt-guard where the meaning is the same.
package aipromptguard

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the ai-prompt-guard plugin.
var Kind = plugin.Define(name, plugin.Authz, defaults, New)

const name = "ai-prompt-guard"

// Bounds of a pattern list. Go's regexp (RE2) matches in time linear in
// the text, so no pattern can backtrack catastrophically; these bounds keep
// the compiled programs, and the time per byte of prompt, small.
// MaxProgram bounds the instructions a list compiles to: counted repeats
// such as a{1000} multiply a short pattern's size, and with it the work
// per byte of prompt.
const (
	MaxPatterns      = 100
	MaxPatternLength = 1000 // bytes
	MaxProgram       = MaxPatterns * MaxPatternLength
)

// Scopes, the values of Config.Scope.
const (
	ScopeAll  = "all"
	ScopeLast = "last"
)

// roleAll in Config.Roles checks every role.
const roleAll = "all"

// roles are the roles of plugin.AIRequest's text view.
var roles = []string{"system", "user", "assistant", "tool"}

// Config is the ai-prompt-guard plugin's configuration. At least one of
// AllowPatterns and DenyPatterns must be set.
type Config struct {
	// AllowPatterns, if set, are the patterns every checked message must
	// match at least one of.
	AllowPatterns []string `json:"allow_patterns"`
	// DenyPatterns refuse a request whose checked messages match any of
	// them. They are checked first.
	DenyPatterns []string `json:"deny_patterns"`
	// Roles are the message roles checked: system (OpenAI's developer
	// messages and Anthropic's system prompt included), user, assistant,
	// tool, or "all" alone for every role. Default [user].
	Roles []string `json:"roles"`
	// Scope is "all" (default) to check every message of those roles, or
	// "last" to check only the last one, the newest prompt.
	Scope string `json:"scope"`
}

func defaults() *Config {
	return &Config{Roles: []string{"user"}, Scope: ScopeAll}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if len(c.AllowPatterns) == 0 && len(c.DenyPatterns) == 0 {
		errs = append(errs, errors.New("allow_patterns, deny_patterns: set at least one"))
	}
	_, err := compile("allow_patterns", c.AllowPatterns)
	errs = append(errs, err)
	_, err = compile("deny_patterns", c.DenyPatterns)
	errs = append(errs, err)
	switch {
	case len(c.Roles) == 0:
		errs = append(errs, errors.New("roles: must list at least one role"))
	case slices.Contains(c.Roles, roleAll) && len(c.Roles) > 1:
		errs = append(errs, errors.New("roles: all checks every role; list it alone"))
	}
	for i, r := range c.Roles {
		if r != roleAll && !slices.Contains(roles, r) {
			errs = append(errs, fmt.Errorf("roles[%d]: %q is not one of %s or all", i, r, strings.Join(roles, ", ")))
		}
	}
	if c.Scope != ScopeAll && c.Scope != ScopeLast {
		errs = append(errs, fmt.Errorf("scope: %q is not all or last", c.Scope))
	}
	return errors.Join(errs...)
}

// patterns is one compiled pattern list: each pattern alone, to name the one
// that matched in the log, and all of them in one program, so a message is
// scanned once per list however many patterns it has.
type patterns struct {
	each []*regexp.Regexp
	any  *regexp.Regexp // nil for an empty list
}

// compile compiles the list under key, reporting every bad pattern.
func compile(key string, list []string) (patterns, error) {
	var p patterns
	if len(list) == 0 {
		return p, nil
	}
	if len(list) > MaxPatterns {
		return p, fmt.Errorf("%s: %d patterns; at most %d are allowed", key, len(list), MaxPatterns)
	}
	var errs []error
	for i, s := range list {
		switch {
		case s == "":
			errs = append(errs, fmt.Errorf("%s[%d]: empty pattern (it would match every message)", key, i))
			continue
		case len(s) > MaxPatternLength:
			errs = append(errs, fmt.Errorf("%s[%d]: %d bytes; at most %d are allowed", key, i, len(s), MaxPatternLength))
			continue
		}
		re, err := regexp.Compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: invalid regex: %s", key, i, regexError(err)))
			continue
		}
		p.each = append(p.each, re)
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	// Each pattern is valid alone, so each is balanced and wrapping it in a
	// group keeps its meaning (flags such as (?i) end with the group), once
	// a \Q quote left open to the end is closed.
	var b strings.Builder
	for i, s := range list {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString("(?:")
		b.WriteString(s)
		if openQuote(s) {
			b.WriteString(`\E`)
		}
		b.WriteByte(')')
	}
	all := b.String()
	if n := programSize(all); n > MaxProgram {
		return p, fmt.Errorf("%s: the patterns compile to %d instructions; at most %d are allowed (counted repeats such as {100} multiply)", key, n, MaxProgram)
	}
	var err error
	if p.any, err = regexp.Compile(all); err != nil {
		return p, fmt.Errorf("%s: the patterns together are too large: %s", key, regexError(err))
	}
	return p, nil
}

// openQuote reports whether the valid pattern s ends inside a \Q literal,
// which runs to the first \E or to the end of the pattern: wrapped in a
// group as it is, its closing parenthesis would be quoted too.
func openQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			continue
		}
		if s[i+1] != 'Q' {
			i++ // an escaped character, \\ included
			continue
		}
		end := strings.Index(s[i+2:], `\E`)
		if end < 0 {
			return true
		}
		i += 2 + end + 1
	}
	return false
}

// programSize returns the number of instructions s compiles to, as
// regexp.Compile would compile it, or 0 if it does not compile.
func programSize(s string) int {
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// regexError returns the problem of a regexp.Compile error without the
// "error parsing regexp: " prefix every one of them has.
func regexError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, errors.New(name + " works only on routes with an ai block")
	}
	allow, err := compile("allow_patterns", c.AllowPatterns)
	if err != nil {
		return nil, err
	}
	deny, err := compile("deny_patterns", c.DenyPatterns)
	if err != nil {
		return nil, err
	}
	g := &guard{
		allow:    allow,
		deny:     deny,
		all:      c.Roles[0] == roleAll,
		roles:    slices.Clone(c.Roles),
		last:     c.Scope == ScopeLast,
		allowed:  env.Decision("allowed"),
		rejected: env.Decision("rejected"),
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{guard: g, next: next}
	}, nil
}

type guard struct {
	allow, deny patterns
	all         bool     // check every role
	roles       []string // else the roles checked
	last        bool     // check only the last message of those roles

	allowed, rejected plugin.Counter
}

type handler struct {
	*guard
	next plugin.Handler
}

// publicText is all a refused client learns: neither the pattern nor the
// text that matched, so the guard cannot be probed pattern by pattern.
const publicText = "the request was rejected by the prompt guard"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a := plugin.ExchangeOf(r).AI
	if a == nil { // a global plugin on a request no route matched
		return h.next.ServeHTTP(w, r)
	}
	q, err := a.Request()
	if err != nil {
		return err
	}
	if q == nil { // an operation without a body: GET /models
		return h.next.ServeHTTP(w, r)
	}
	if why := h.check(q.Messages()); why != "" {
		h.rejected.Inc()
		return &plugin.Error{Status: http.StatusBadRequest, Code: "prompt_rejected", Public: publicText, Err: errors.New(why)}
	}
	h.allowed.Inc()
	return h.next.ServeHTTP(w, r)
}

// check returns why msgs are refused, for the log, or "". The messages
// checked are those of the checked roles that have text: one that is only
// an image has nothing for a pattern to judge.
func (g *guard) check(msgs []plugin.AIMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Text == "" || !(g.all || slices.Contains(g.roles, m.Role)) {
			continue
		}
		if g.deny.any != nil && g.deny.any.MatchString(m.Text) {
			j := slices.IndexFunc(g.deny.each, func(re *regexp.Regexp) bool { return re.MatchString(m.Text) })
			return fmt.Sprintf("%s: message %d (%s) matches deny_patterns[%d]", name, i, m.Role, j)
		}
		if g.allow.any != nil && !g.allow.any.MatchString(m.Text) {
			return fmt.Sprintf("%s: message %d (%s) matches no allow_patterns", name, i, m.Role)
		}
		if g.last {
			break
		}
	}
	return ""
}

var _ plugin.Handler = (*handler)(nil)
