package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/ai/translate"
	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/plugin"
)

// Causes of the cancellations Sluice makes itself.
var (
	errTotal          = errors.New("the request exceeded the route's total timeout")
	errFirstToken     = errors.New("the provider sent no first token within the first_token timeout")
	errStalled        = errors.New("the provider's stream stalled longer than the between_chunks timeout")
	errAttemptTimeout = errors.New("the provider did not answer within its response timeout")
)

// maxUpstreamBody bounds a non-streaming upstream answer.
const maxUpstreamBody = 64 << 20

// failure is why one attempt did not serve the request.
type failure struct {
	kind       string // a Result.ErrorKind
	status     int    // the upstream's HTTP status, or the one its error event implies; 0 if none
	retryAfter time.Duration
	hasAfter   bool
	body       []byte // the upstream's error body, for caller faults
	msg        string // for the client and the log
	// committed says the response to the client started: nothing can be
	// retried, and the client has had its error event.
	committed bool
}

// try runs the attempts over targets until one serves the request.
func (c *call) try(ctx context.Context, targets []*target) error {
	var last *failure
	tried := 0
	for _, t := range targets {
		f, err := c.req.upstream(t.prov.wire)
		if err != nil {
			continue // cannot take this request; the first target could
		}
		if tried > 0 {
			c.res.Fallbacks++
		}
		tried++
		model := t.modelName(c.req.model)
		c.res.Provider, c.res.ProviderModel = t.prov.name, model
		keyRetries := 0
		for try := 1; ; {
			if ctx.Err() != nil {
				return c.giveUp(ctx, last)
			}
			k, wait, ok := t.prov.pickKey(c.h.now())
			if !ok {
				last = &failure{kind: "rate_limited", status: http.StatusTooManyRequests, retryAfter: wait, hasAfter: true,
					msg: fmt.Sprintf("every API key of provider %s is cooling down after a 429", t.prov.name)}
				break
			}
			start := c.h.now()
			fl := c.attempt(ctx, t, f, model, k)
			if fl == nil {
				t.succeeded(c.commitAt.Sub(start))
				return nil
			}
			if fl.committed {
				// The client has its error event; the error is for the log.
				c.res.ErrorKind = fl.kind
				status := http.StatusBadGateway
				if fl.kind == "client_closed" {
					status = 499
				} else {
					t.failed(c.h.now(), c.h.health.EjectAfter, c.h.health.EjectFor)
				}
				return &plugin.Error{Status: status, Code: fl.kind, Public: fl.msg,
					Err: fmt.Errorf("provider %s model %s: %s", t.prov.name, model, fl.msg)}
			}
			if ctx.Err() != nil {
				return c.giveUp(ctx, fl)
			}
			if callerFault(fl.status) {
				return c.upstreamError(t, fl)
			}
			last = fl
			t.failed(c.h.now(), c.h.health.EjectAfter, c.h.health.EjectFor)
			c.h.log.Debug("ai attempt failed", "request_id", c.x.RequestID, "provider", t.prov.name, "model", model,
				"try", try, "kind", fl.kind, "status", fl.status, "error", fl.msg)
			if fl.status == http.StatusTooManyRequests && k != nil {
				now := c.h.now()
				k.cool(now, cmpDur(fl.hasAfter, fl.retryAfter, c.h.health.KeyCooldown))
				if keyRetries < len(t.prov.keys)-1 && t.prov.hasOtherKey(k, now) {
					keyRetries++
					continue // another key may not be limited: no wait, no try used
				}
			}
			if try >= c.h.attempts || !c.h.retryOn.allows(fl) {
				break
			}
			d := c.h.backoffFor(try)
			if fl.hasAfter {
				if fl.retryAfter > c.h.afterCap {
					break // too long to wait here: move on
				}
				d = fl.retryAfter
			}
			if !sleep(ctx, d) {
				return c.giveUp(ctx, last)
			}
			try++
		}
	}
	return c.giveUp(ctx, last)
}

func cmpDur(ok bool, d, def time.Duration) time.Duration {
	if ok && d > 0 {
		return d
	}
	return def
}

// callerFault reports whether an upstream status blames the request itself,
// so another target would refuse it too.
func callerFault(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

func (ro retryOn) allows(f *failure) bool {
	switch {
	case f.kind == "upstream_timeout":
		return ro.timeout
	case f.kind == "connect_failure":
		return ro.connFail
	}
	return ro.status[f.status]
}

// backoffFor returns the wait before try+1: Backoff doubled per try, capped
// at MaxBackoff, with "equal jitter" (half fixed, half random).
func (h *Handler) backoffFor(try int) time.Duration {
	d := h.backoff << min(try-1, 30)
	if d <= 0 || d > h.maxBack {
		d = h.maxBack
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt sends the request to one target with one key. It returns nil
// when the target served the request, which is then written.
func (c *call) attempt(ctx context.Context, t *target, f *form, model string, k *apiKey) *failure {
	body, err := f.body(model)
	if err != nil {
		return &failure{kind: "upstream_error", status: http.StatusInternalServerError, msg: "encoding the upstream request: " + err.Error()}
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var timer *time.Timer
	switch {
	case c.req.stream:
		timer = time.AfterFunc(c.h.timeouts.FirstToken, func() { cancel(errFirstToken) })
	case t.prov.response > 0:
		timer = time.AfterFunc(t.prov.response, func() { cancel(errAttemptTimeout) })
	}
	if timer != nil {
		defer timer.Stop()
	}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, t.prov.url(c.op, model), bytes.NewReader(body))
	if err != nil {
		return &failure{kind: "connect_failure", msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if c.req.stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	t.prov.authorize(req.Header, k)
	c.res.Attempts++
	c.x.Target = t.prov.host
	start := c.h.now()
	resp, err := t.prov.rt.RoundTrip(req)
	if err != nil {
		return transportFailure(actx, err)
	}
	defer resp.Body.Close()
	c.x.UpstreamDuration = c.h.now().Sub(start)
	if resp.StatusCode/100 != 2 {
		return statusFailure(resp, c.h.now())
	}
	if c.req.stream {
		return c.relay(actx, cancel, resp, t, model, timer)
	}
	return c.answer(actx, resp, t, model)
}

// transportFailure classifies an attempt that got no response.
func transportFailure(ctx context.Context, err error) *failure {
	cause := context.Cause(ctx)
	var ne net.Error
	switch {
	case cause == errFirstToken || cause == errAttemptTimeout:
		return &failure{kind: "upstream_timeout", msg: cause.Error()}
	case cause != nil:
		return &failure{kind: "timeout", msg: cause.Error()}
	case errors.As(err, &ne) && ne.Timeout():
		return &failure{kind: "upstream_timeout", msg: err.Error()}
	}
	return &failure{kind: "connect_failure", msg: "the provider could not be reached: " + err.Error()}
}

// readFailure classifies an attempt whose body could not be read.
func readFailure(ctx context.Context, err error, what string) *failure {
	if cause := context.Cause(ctx); cause != nil {
		if cause == errFirstToken || cause == errAttemptTimeout {
			return &failure{kind: "upstream_timeout", msg: cause.Error()}
		}
		return &failure{kind: "timeout", msg: cause.Error()}
	}
	return &failure{kind: "upstream_error", status: http.StatusBadGateway, msg: what + ": " + err.Error()}
}

// statusFailure reads an upstream error response.
func statusFailure(resp *http.Response, now time.Time) *failure {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	f := &failure{kind: "upstream_error", status: resp.StatusCode, body: body}
	if resp.StatusCode == http.StatusTooManyRequests {
		f.kind = "rate_limited"
	}
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("API_KEY_INVALID")) {
		// Gemini refuses a bad key with 400 INVALID_ARGUMENT: Sluice's key
		// is wrong, not the caller's request, so this may fall over.
		f.status = http.StatusUnauthorized
	}
	f.retryAfter, f.hasAfter = parseRetryAfter(resp.Header, now)
	f.msg = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if m := errorMessage(body); m != "" {
		f.msg += ": " + m
	}
	return f
}

// errorMessage digs the message out of a provider's error body: OpenAI's
// and Anthropic's {"error":{"message"}}, Google's list of those, and
// vLLM's {"error":"..."}.
func errorMessage(body []byte) string {
	type object struct {
		Error json.RawMessage `json:"error"`
	}
	var obj object
	if json.Unmarshal(body, &obj) != nil {
		var list []object
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return ""
		}
		obj = list[0]
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(obj.Error, &e) == nil {
		return e.Message
	}
	var msg string
	_ = json.Unmarshal(obj.Error, &msg)
	return msg
}

// parseRetryAfter reads retry-after-ms, x-ms-retry-after-ms and
// Retry-After (seconds or an HTTP date).
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(name); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
				return time.Duration(ms * float64(time.Millisecond)), true
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// answer reads a non-streaming answer and writes it to the client.
func (c *call) answer(ctx context.Context, resp *http.Response, t *target, model string) *failure {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return readFailure(ctx, err, "reading the provider's answer")
	}
	bad := func(err error) *failure {
		return &failure{kind: "upstream_error", status: http.StatusBadGateway, msg: "the provider's answer is not valid: " + err.Error()}
	}
	var u ai.Usage
	known := true
	switch {
	case c.op == opEmbeddings || c.op == opResponses || c.res.API == APIOpenAI && t.prov.wire == wireOpenAI ||
		c.res.API == APIAnthropic && t.prov.wire == wireAnthropic:
		// Relayed as it is: read only its usage member, not the whole
		// answer (a full decode was a fifth of the route's CPU).
		raw, err := jsonobj.Member(body, "usage")
		if err != nil {
			return bad(err)
		}
		u, known, err = readUsage(c.op, t.prov.wire, raw)
		if err != nil {
			return bad(err)
		}
	case c.res.API == APIOpenAI: // from Anthropic
		var m anthropic.Message
		if err := json.Unmarshal(body, &m); err != nil {
			return bad(err)
		}
		cc, err := translate.ToOpenAIResponse(&m, translate.Options{})
		if err != nil {
			return bad(err)
		}
		u = m.Usage.AI()
		if body, err = json.Marshal(cc); err != nil {
			return bad(err)
		}
	default: // Anthropic from OpenAI
		var cc openai.ChatCompletion
		if err := json.Unmarshal(body, &cc); err != nil {
			return bad(err)
		}
		m, err := translate.ToAnthropicResponse(&cc)
		if err != nil {
			return bad(err)
		}
		u, known = cc.Usage.AI(), cc.Usage != nil
		if body, err = json.Marshal(m); err != nil {
			return bad(err)
		}
	}
	c.res.Usage, c.res.UsageKnown = u, known
	c.commit(t, model)
	c.writeJSON(http.StatusOK, body)
	return nil
}

// readUsage decodes a relayed answer's usage member, raw (nil or null when
// the provider sent none), in the shape of the operation and wire.
func readUsage(op operation, w wire, raw json.RawMessage) (ai.Usage, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return ai.Usage{}, false, nil
	}
	switch {
	case op == opEmbeddings:
		var v openai.EmbeddingUsage
		err := json.Unmarshal(raw, &v)
		return ai.Usage{Input: v.PromptTokens}, err == nil, err
	case op == opResponses:
		var v openai.ResponsesUsage
		err := json.Unmarshal(raw, &v)
		return v.AI(), err == nil, err
	case w == wireAnthropic:
		var v anthropic.Usage
		err := json.Unmarshal(raw, &v)
		return v.AI(), err == nil, err
	}
	var v openai.Usage
	err := json.Unmarshal(raw, &v)
	return v.AI(), err == nil, err
}

// commit records that t serves the request and sets the naming headers.
func (c *call) commit(t *target, model string) {
	c.commitAt = c.h.now()
	c.res.TimeToFirstToken = c.commitAt.Sub(c.start)
	c.res.Provider, c.res.ProviderModel = t.prov.name, model
	h := c.w.Header()
	h.Set(HeaderProvider, t.prov.name)
	h.Set(HeaderModel, model)
}

// upstreamError relays a caller-fault error from a provider in the
// ingress API's shape, translated when the provider speaks the other API.
func (c *call) upstreamError(t *target, f *failure) error {
	c.res.ErrorKind = "invalid_request"
	c.w.Header().Set(HeaderProvider, t.prov.name)
	if (c.res.API == APIAnthropic) == (t.prov.wire == wireAnthropic) && json.Valid(f.body) {
		c.writeJSON(f.status, f.body)
		return nil
	}
	c.writeError(f.status, "", "", "provider "+t.prov.name+": "+f.msg, nil)
	return nil
}

// giveUp answers when no target served the request.
func (c *call) giveUp(ctx context.Context, last *failure) error {
	if err := c.r.Context().Err(); err != nil {
		c.res.ErrorKind, c.res.Status = "client_closed", 499
		return &plugin.Error{Status: 499, Code: "client_closed", Public: "the client closed the request", Err: err}
	}
	if context.Cause(ctx) == errTotal {
		last = &failure{kind: "timeout", msg: errTotal.Error()}
	}
	if last == nil {
		last = &failure{kind: "upstream_error", msg: "no target could take this request"}
	}
	status, code := http.StatusBadGateway, "upstream_error"
	var hdr http.Header
	switch {
	case last.status == http.StatusTooManyRequests:
		status, code = http.StatusTooManyRequests, "rate_limit_exceeded"
		if last.hasAfter {
			secs := int64((last.retryAfter + time.Second - 1) / time.Second)
			hdr = http.Header{"Retry-After": {strconv.FormatInt(max(secs, 1), 10)}}
		}
	case last.status == http.StatusServiceUnavailable || last.status == anthropic.StatusOverloaded:
		status, code = http.StatusServiceUnavailable, "upstream_overloaded"
	case last.kind == "upstream_timeout" || last.kind == "timeout":
		status, code = http.StatusGatewayTimeout, "upstream_timeout"
	case last.kind == "connect_failure":
		code = "upstream_unavailable"
	}
	msg := fmt.Sprintf("model %s: no provider served the request (%d attempts); the last, %s/%s, failed: %s",
		c.req.model, c.res.Attempts, c.res.Provider, c.res.ProviderModel, last.msg)
	c.res.ErrorKind = last.kind
	c.writeError(status, code, "", msg, hdr)
	return &plugin.Error{Status: status, Code: code, Public: msg, Header: hdr, Err: errors.New(last.msg)}
}
