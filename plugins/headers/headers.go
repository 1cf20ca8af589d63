// Package headers implements the headers plugin: it adds, removes and sets
// request headers on the way upstream and response headers on the way back.
// Values may use $remote_addr, $request_id, $route, $consumer and $host.
package headers

import (
	"errors"
	"net/http"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
	"github.com/sluicegw/sluice/plugins/internal/hookwriter"
)

// Kind is the headers plugin.
var Kind = plugin.Define("headers", plugin.Transform, defaults, New)

// Config is the headers plugin's configuration. Each side runs add, then
// remove, then set (APISIX's order), with header names matched without
// regard to case.
type Config struct {
	// Request edits the headers sent upstream.
	Request headerop.Ops `json:"request"`
	// Response edits the headers sent to the client, just before they go out
	// (so it overrides what the upstream sent); error responses the gateway
	// renders get them too.
	Response headerop.Ops `json:"response"`
}

func defaults() *Config { return &Config{} }

// Validate returns every problem in c.
func (c *Config) Validate() error {
	errs := c.Request.Validate("request", headerop.Request)
	errs = append(errs, c.Response.Validate("response", headerop.Response)...)
	if empty(c.Request) && empty(c.Response) {
		errs = append(errs, errors.New("request, response: nothing to do; set at least one of add, set, remove"))
	}
	return errors.Join(errs...)
}

func empty(o headerop.Ops) bool { return len(o.Add) == 0 && len(o.Set) == 0 && len(o.Remove) == 0 }

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	req, err := headerop.Compile(c.Request)
	if err != nil {
		return nil, err
	}
	resp, err := headerop.Compile(c.Response)
	if err != nil {
		return nil, err
	}
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			req.Apply(r.Header, r)
			if resp.Empty() {
				return next.ServeHTTP(w, r)
			}
			ww := hookwriter.New(w, state{resp, r}, commit)
			err := next.ServeHTTP(ww, r)
			ww.Finish()
			return err
		})
	}, nil
}

type state struct {
	p *headerop.Program
	r *http.Request
}

func commit(h http.Header, s *state) { s.p.Apply(h, s.r) }
