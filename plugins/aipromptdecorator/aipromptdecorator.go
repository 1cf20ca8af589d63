// Package aipromptdecorator implements the ai-prompt-decorator plugin: on
// an ai route it adds fixed messages before and after the client's
// conversation (a system prompt, a house style, a reminder) before the
// request goes to a provider. Keys follow APISIX's ai-prompt-decorator.
package aipromptdecorator

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the ai-prompt-decorator plugin.
var Kind = plugin.Define(name, plugin.Transform, defaults, New)

const name = "ai-prompt-decorator"

// roles are the roles a decorator message may have.
var roles = []string{"system", "user", "assistant"}

// Config is the ai-prompt-decorator plugin's configuration. Prepend and
// Append together hold at least one message.
type Config struct {
	// Prepend is added, in this order, at the start of the conversation.
	Prepend []Message `json:"prepend"`
	// Append is added, in this order, at its end.
	Append []Message `json:"append"`
}

// Message is one message to add.
type Message struct {
	// Role is system, user or assistant. A system message joins the
	// request's system prompt, at its start (prepend) or its end (append).
	Role string `json:"role"`
	// Content is the message's text; it must not be empty.
	Content string `json:"content"`
}

func defaults() *Config { return &Config{} }

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Prepend) == 0 && len(c.Append) == 0 {
		errs = append(errs, errors.New("prepend, append: set at least one message"))
	}
	check := func(key string, msgs []Message) {
		for i, m := range msgs {
			switch {
			case m.Role == "":
				errs = append(errs, fmt.Errorf("%s[%d].role: required", key, i))
			case !slices.Contains(roles, m.Role):
				errs = append(errs, fmt.Errorf("%s[%d].role: %q is not one of %s", key, i, m.Role, strings.Join(roles, ", ")))
			}
			if m.Content == "" {
				errs = append(errs, fmt.Errorf("%s[%d].content: required", key, i))
			}
		}
	}
	check("prepend", c.Prepend)
	check("append", c.Append)
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, errors.New(name + " works only on routes with an ai block")
	}
	d := &decorator{
		prepend:   messages(c.Prepend),
		append:    messages(c.Append),
		decorated: env.Decision("decorated"),
		skipped:   env.Decision("skipped"),
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{decorator: d, next: next}
	}, nil
}

func messages(ms []Message) []plugin.AIMessage {
	out := make([]plugin.AIMessage, len(ms))
	for i, m := range ms {
		out[i] = plugin.AIMessage{Role: m.Role, Text: m.Content}
	}
	return out
}

type decorator struct {
	prepend, append []plugin.AIMessage

	decorated, skipped plugin.Counter
}

type handler struct {
	*decorator
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a := plugin.ExchangeOf(r).AI
	if a == nil { // a global plugin on a request no route matched
		return h.next.ServeHTTP(w, r)
	}
	// Embeddings have no conversation to decorate, and GET /models no body:
	// they pass untouched, as chat-only decorators do in APISIX.
	if a.Operation == "embeddings" || a.Operation == "models" {
		h.skipped.Inc()
		return h.next.ServeHTTP(w, r)
	}
	q, err := a.Request()
	if err != nil {
		return err
	}
	if q == nil {
		h.skipped.Inc()
		return h.next.ServeHTTP(w, r)
	}
	err = q.Prepend(h.prepend...)
	if err == nil {
		err = q.Append(h.append...)
	}
	if err != nil {
		// Validate allows only roles the view takes, so this is a request
		// kind the view cannot add to: the gateway's fault, not the client's.
		return &plugin.Error{Status: http.StatusInternalServerError, Code: "internal_error",
			Public: "the gateway could not decorate the prompt", Err: fmt.Errorf("%s: %s request: %w", name, a.Operation, err)}
	}
	h.decorated.Inc()
	return h.next.ServeHTTP(w, r)
}

var _ plugin.Handler = (*handler)(nil)
