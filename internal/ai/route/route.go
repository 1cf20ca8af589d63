// Package route is the terminal handler of an `ai` route: one OpenAI- and
// Anthropic-compatible endpoint in front of the route's LLM providers.
//
// A Handler serves, matched by path suffix so a route on /v1/* works:
//
//	POST .../chat/completions   OpenAI chat, streaming or not
//	POST .../embeddings         OpenAI embeddings (OpenAI-type targets only)
//	GET  .../models             the route's model names
//	POST .../messages           Anthropic messages, streaming or not
//	POST .../responses          OpenAI Responses, passed through to OpenAI and
//	                            openai-compatible targets
//
// The client's model name picks a Model, whose targets are tried in the
// order its strategy gives. A request is translated (internal/ai/translate)
// when the ingress API and the target's API differ, and passed through with
// its unknown members otherwise. Retries and fallbacks happen only before
// the first byte reaches the client: a stream is committed to a target at
// its first content event, then relayed event by event, flushing each one.
//
// Errors are written by the Handler itself, in the ingress API's own shape
// (OpenAI's {"error":{...}} or Anthropic's {"type":"error",...}), because
// the gateway's generic plugin.Error rendering has neither shape. After
// writing one, ServeHTTP returns nil for a caller's fault and a
// *plugin.Error for an upstream failure, so the gateway logs the cause
// without writing a second response.
package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/plugin"
)

// Response headers naming what served a request.
const (
	HeaderProvider = plugin.AIProviderHeader
	HeaderModel    = plugin.AIModelHeader
)

// Ingress APIs, as Result.API.
const (
	APIOpenAI    = plugin.AIOpenAI
	APIAnthropic = plugin.AIAnthropic
)

// Result describes one request after it is done, for OnDone.
type Result struct {
	API       string // APIOpenAI or APIAnthropic: how the client spoke
	Operation string // "chat", "embeddings" or "models"
	Model     string // the model name the client asked for
	Stream    bool

	// Provider and ProviderModel name the target that served the request,
	// or the last one tried when none did.
	Provider      string
	ProviderModel string

	// Usage is exact: read from the provider's response or stream. UsageKnown
	// is false when the provider reported none (a failure, a cut stream).
	Usage      ai.Usage
	UsageKnown bool

	Attempts  int // upstream requests sent
	Fallbacks int // targets moved on to after the first
	// TimeToFirstToken is the time from the request's arrival to the
	// commit: the first content event of a stream, or the whole answer.
	TimeToFirstToken time.Duration
	Duration         time.Duration

	Status int // the status written to the client
	// ErrorKind is "" on success, else one of: invalid_request,
	// model_not_found, body_too_large, unsupported_parameter,
	// rate_limited, upstream_error, upstream_timeout, connect_failure,
	// stream_stalled, stream_cut, stream_error, timeout, client_closed.
	ErrorKind string
}

// Handler is the terminal handler of an ai route. It is safe for
// concurrent use.
type Handler struct {
	models    map[string]*modelRoute
	wildcard  *modelRoute
	names     []string
	retryOn   retryOn
	attempts  int
	backoff   time.Duration
	maxBack   time.Duration
	afterCap  time.Duration
	timeouts  Timeouts
	health    Health
	maxBody   int64
	onDone    func(*http.Request, Result)
	log       *slog.Logger
	now       func() time.Time
	providers map[string]*provider
}

// New validates cfg and builds its Handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		models:    map[string]*modelRoute{},
		retryOn:   newRetryOn(cfg.Retry.On),
		attempts:  max(cfg.Retry.Attempts, 1),
		backoff:   cmp.Or(cfg.Retry.Backoff, DefaultBackoff),
		maxBack:   cmp.Or(cfg.Retry.MaxBackoff, DefaultMaxBackoff),
		afterCap:  cfg.Retry.RetryAfterCap,
		maxBody:   cmp.Or(cfg.MaxBody, DefaultMaxBody),
		onDone:    cfg.OnDone,
		log:       cfg.Logger,
		now:       cfg.Now,
		providers: map[string]*provider{},
		timeouts: Timeouts{
			FirstToken:    cmp.Or(cfg.Timeouts.FirstToken, DefaultFirstToken),
			BetweenChunks: cmp.Or(cfg.Timeouts.BetweenChunks, DefaultBetweenChunks),
			Total:         cmp.Or(cfg.Timeouts.Total, DefaultTotal),
		},
		health: Health{
			EjectAfter:  cmp.Or(cfg.Health.EjectAfter, DefaultEjectAfter),
			EjectFor:    cmp.Or(cfg.Health.EjectFor, DefaultEjectFor),
			KeyCooldown: cmp.Or(cfg.Health.KeyCooldown, DefaultKeyCooldown),
		},
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Providers {
		h.providers[p.Name] = newProvider(p, cfg.Transport)
	}
	for _, m := range cfg.Models {
		mr := &modelRoute{name: m.Name, strategy: cmp.Or(m.Strategy, StrategyFallback)}
		for _, t := range m.Targets {
			mr.targets = append(mr.targets, &target{prov: h.providers[t.Provider], model: t.Model, weight: max(t.Weight, 1)})
		}
		if m.Name == "*" {
			h.wildcard = mr
			continue
		}
		h.models[m.Name] = mr
		h.names = append(h.names, m.Name)
	}
	return h, nil
}

// operation is what a request asks for.
type operation int8

const (
	opChat operation = iota
	opEmbeddings
	opModels
	opResponses
)

func (o operation) String() string {
	return [...]string{plugin.AIChat, plugin.AIEmbeddings, plugin.AIModels, plugin.AIResponses}[o]
}

// path is the operation's path below an OpenAI-type base URL.
func (o operation) path() string {
	return [...]string{"chat/completions", "embeddings", "models", "responses"}[o]
}

// classifyPath names the API and operation of a request path, matched by
// suffix so a route on /v1/* or /openai/* works. ok is false for a path
// the handler does not serve; api is then the best guess for the error.
func classifyPath(path string, h http.Header) (api string, op operation, ok bool) {
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return APIOpenAI, opChat, true
	case strings.HasSuffix(path, "/embeddings"):
		return APIOpenAI, opEmbeddings, true
	case strings.HasSuffix(path, "/models"):
		return APIOpenAI, opModels, true
	case strings.HasSuffix(path, "/responses"):
		return APIOpenAI, opResponses, true
	case strings.HasSuffix(path, "/messages"):
		return APIAnthropic, opChat, true
	}
	if strings.Contains(path, "/messages") || h.Get("Anthropic-Version") != "" {
		return APIAnthropic, opChat, false
	}
	return APIOpenAI, opChat, false
}

// Wrap returns next, the route's plugin chain, behind a step that gives
// each request its plugin.AI state, so that AI plugins can read the
// request and the gateway can log its outcome. The gateway wraps every ai
// route's chain with it.
func (h *Handler) Wrap(next plugin.Handler) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		plugin.ExchangeOf(r).AI = h.newAI(w, r)
		return next.ServeHTTP(w, r)
	})
}

// newAI returns the AI state of r, whose body is read and decoded on the
// first call to Request.
func (h *Handler) newAI(w http.ResponseWriter, r *http.Request) *plugin.AI {
	api, op, ok := classifyPath(r.URL.Path, r.Header)
	var a *plugin.AI
	var load func() (plugin.AIRequest, error)
	if ok && op != opModels {
		load = func() (plugin.AIRequest, error) {
			q, err := h.decode(w, r, api, op)
			if err != nil {
				// Set here, not by the handler: a plugin that asked first
				// returns the error and the handler never runs, but the
				// log and metrics still name what went wrong.
				a.ErrorKind = decodeErrorKind(err)
			}
			return q, err
		}
	}
	a = plugin.NewAI(api, op.String(), load)
	return a
}

// decode reads and decodes the request body. Its errors are *plugin.Error
// values a plugin can return as they are; a decoding error wraps the
// *paramError so the handler can name the parameter.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, api string, op operation) (plugin.AIRequest, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &plugin.Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large",
				Public: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), Err: err}
		}
		return nil, &plugin.Error{Status: 499, Code: "client_closed", Public: "the request body could not be read", Err: err}
	}
	req, perr := decodeRequest(api, op, body)
	if perr != nil {
		return nil, &plugin.Error{Status: http.StatusBadRequest, Code: "invalid_request", Public: perr.msg, Err: perr}
	}
	return req, nil
}

// decodeErrorKind is the Result.ErrorKind of a decode error.
func decodeErrorKind(err error) string {
	var pe *plugin.Error
	if errors.As(err, &pe) {
		switch pe.Status {
		case http.StatusRequestEntityTooLarge:
			return "body_too_large"
		case 499:
			return "client_closed"
		}
	}
	return "invalid_request"
}

// ServeHTTP serves one request; see the package comment for what it
// returns.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	c := &call{h: h, w: w, r: r, start: h.now(), x: plugin.ExchangeOf(r)}
	if c.x.AI == nil { // not behind Wrap: a unit test, say
		c.x.AI = h.newAI(w, r)
	}
	api, op, ok := classifyPath(r.URL.Path, r.Header)
	c.res.API, c.op = api, op
	if !ok {
		return c.done(c.clientError(http.StatusNotFound, "invalid_request", "unknown_url", "",
			fmt.Sprintf("Sluice's AI route does not serve %s %s", r.Method, r.URL.Path)))
	}
	c.res.Operation = c.op.String()
	method := http.MethodPost
	if op == opModels {
		method = http.MethodGet
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		c.w.Header().Set("Allow", method)
		return c.done(c.clientError(http.StatusMethodNotAllowed, "invalid_request", "method_not_allowed", "",
			fmt.Sprintf("%s needs method %s", r.URL.Path, method)))
	}
	if c.op == opModels {
		return c.done(c.models())
	}
	return c.done(c.serve())
}

// call is one request in flight.
type call struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	x     *plugin.Exchange
	start time.Time
	op    operation
	res   Result
	req   *request // decoded request
	// commitAt is when the response to the client started.
	commitAt time.Time
}

// done finishes a call: it fills in the Result, calls OnDone and returns
// err to the gateway.
func (c *call) done(err error) error {
	c.res.Duration = c.h.now().Sub(c.start)
	c.x.Attempts = c.res.Attempts
	a := c.x.AI
	a.Provider, a.ProviderModel = c.res.Provider, c.res.ProviderModel
	a.Usage = plugin.TokenUsage(c.res.Usage)
	a.UsageKnown = c.res.UsageKnown
	if p := c.h.providers[c.res.Provider]; p != nil && c.res.UsageKnown {
		a.CostUSD, a.CostKnown = p.cost(c.res.ProviderModel, c.res.Usage)
	}
	a.Attempts, a.Fallbacks = c.res.Attempts, c.res.Fallbacks
	a.TimeToFirstToken, a.ErrorKind = c.res.TimeToFirstToken, c.res.ErrorKind
	a.Status = c.res.Status
	if c.h.onDone != nil {
		c.h.onDone(c.r, c.res)
	}
	return err
}

// serve handles a chat or embeddings request.
func (c *call) serve() error {
	q, err := c.x.AI.Request()
	if err != nil {
		var pe *plugin.Error
		var perr *paramError
		switch {
		case errors.As(err, &perr):
			return c.clientError(http.StatusBadRequest, "invalid_request", "", perr.param, perr.msg)
		case errors.As(err, &pe) && pe.Status == http.StatusRequestEntityTooLarge:
			return c.clientError(pe.Status, "body_too_large", pe.Code, "", pe.Public)
		case errors.As(err, &pe):
			c.res.ErrorKind, c.res.Status = "client_closed", pe.Status
			return pe
		}
		return err
	}
	req := q.(*request)
	c.req = req
	c.res.Model, c.res.Stream = req.model, req.stream
	mr := c.h.models[req.model]
	if mr == nil {
		mr = c.h.wildcard
	}
	if mr == nil {
		msg := fmt.Sprintf("The model `%s` does not exist or is not served by this route.", req.model)
		return c.clientError(http.StatusNotFound, "model_not_found", "model_not_found", "model", msg)
	}
	targets := mr.order(c.h.now())
	if c.op == opEmbeddings || c.op == opResponses {
		targets = slices.DeleteFunc(targets, func(t *target) bool { return !t.prov.serves(c.op) })
		if len(targets) == 0 {
			return c.clientError(http.StatusBadRequest, "invalid_request", "model_not_supported", "model",
				fmt.Sprintf("model %q has no target that serves %s", req.model, c.op))
		}
	}
	// An untranslatable parameter for the first target is the caller's
	// fault: refuse it before any upstream call. Later targets that cannot
	// take it are skipped.
	if _, err := req.upstream(targets[0].prov.wire); err != nil {
		var pe *paramError
		if errors.As(err, &pe) {
			return c.clientError(http.StatusBadRequest, "unsupported_parameter", "unsupported_parameter", pe.param, pe.msg)
		}
		return c.clientError(http.StatusBadRequest, "invalid_request", "", "", err.Error())
	}

	ctx, cancel := context.WithTimeoutCause(c.r.Context(), c.h.timeouts.Total, errTotal)
	defer cancel()
	return c.try(ctx, targets)
}

// models answers GET /models with the route's model names.
func (c *call) models() error {
	b := []byte(`{"object":"list","data":[`)
	for i, name := range c.h.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"object":"model","created":0,"owned_by":"sluice"}`...)
	}
	b = append(b, "]}"...)
	c.writeJSON(http.StatusOK, b)
	return nil
}

func (c *call) writeJSON(status int, b []byte) {
	c.res.Status = status
	writeJSON(c.w, c.r, status, b)
}

// writeJSON writes the JSON body b with status; a HEAD request gets the
// headers only.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

var _ plugin.Handler = (*Handler)(nil)
