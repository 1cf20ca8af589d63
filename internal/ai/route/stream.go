package route

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/ai/translate"
	"github.com/sluicegw/sluice/internal/sse"
)

// relay serves a streaming answer. Until the first content event it holds
// the preamble (OpenAI's role chunk, Anthropic's message_start and pings)
// and may still fail over; from that event on it has committed: headers go
// out and every event is written and flushed as it arrives.
func (c *call) relay(ctx context.Context, cancel context.CancelCauseFunc, resp *http.Response, t *target, model string, firstToken *time.Timer) *failure {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return &failure{kind: "upstream_error", status: http.StatusBadGateway, msg: "the provider answered a streaming request with " + ct}
	}
	rd := sse.NewReader(resp.Body, nil)
	uw := t.prov.wire
	var pending []sse.Event
	var ev sse.Event
	for {
		var err error
		ev, err = rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return readFailure(ctx, err, "the provider's stream ended before its first token")
		}
		classify := classify
		if c.op == opResponses {
			classify = classifyResponses
		}
		k, f := classify(uw, ev)
		if f != nil {
			return f
		}
		if k == evContent {
			break
		}
		pending = append(pending, sse.Event{Type: ev.Type, Data: bytes.Clone(ev.Data)})
	}
	if firstToken != nil {
		firstToken.Stop()
	}

	c.commit(t, model)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	c.res.Status = http.StatusOK
	em := c.newEmitter(uw, sse.NewWriter(c.w))
	defer func() { c.res.Usage, c.res.UsageKnown = em.usage() }()

	gap := c.h.timeouts.BetweenChunks
	stall := time.AfterFunc(gap, func() { cancel(errStalled) })
	defer stall.Stop()
	var err error
	for _, p := range pending {
		if err = em.event(p); err != nil {
			break
		}
	}
	if err == nil {
		err = em.event(ev)
	}
	for err == nil && !em.done() {
		ev, err = rd.Next()
		if err != nil {
			break
		}
		if ev.Type != anthropic.EventPing {
			stall.Reset(gap)
		}
		err = em.event(ev)
	}
	if err != nil && errors.Is(err, errClientWrite) {
		cancel(err)
		return &failure{kind: "client_closed", committed: true, msg: "the client went away mid-stream"}
	}
	// The upstream stream ended, cleanly or not, or the emitter saw its end.
	if !em.done() && c.r.Context().Err() != nil {
		return &failure{kind: "client_closed", committed: true, msg: "the client went away mid-stream"}
	}
	code, msg := "", ""
	cause := context.Cause(ctx)
	switch {
	case em.done():
	case cause == errStalled:
		code, msg = "stream_stalled", errStalled.Error()
	case cause != nil:
		code, msg = "timeout", cause.Error()
	case err == nil || errors.Is(err, io.EOF):
	default:
		code, msg = "stream_cut", "the provider's stream broke: "+err.Error()
	}
	kind := em.end(code, msg)
	if kind == "" {
		return nil
	}
	if kind == "stream_error" {
		msg = "the provider sent an error event mid-stream"
	}
	if msg == "" {
		msg = "the provider's stream ended before it was complete"
	}
	return &failure{kind: kind, committed: true, msg: msg}
}

type eventKind int8

const (
	evPreamble eventKind = iota
	evContent
)

// classify tells preamble from content in a stream not yet committed; an
// error event or garbage is a failure of the attempt.
func classify(w wire, ev sse.Event) (eventKind, *failure) {
	if w == wireAnthropic {
		typ := ev.Type
		if typ == "" || typ == anthropic.EventError {
			pe, err := anthropic.ParseStreamEvent(ev.Data)
			if err != nil {
				return 0, garbage(err)
			}
			typ = pe.Type
			if typ == anthropic.EventError {
				var e anthropic.Error
				if pe.Error != nil {
					e = *pe.Error
				}
				return 0, &failure{kind: "stream_error", status: anthropic.StatusForErrorType(e.Type), msg: "error event " + e.Type + ": " + e.Message}
			}
		}
		switch typ {
		case anthropic.EventMessageStart, anthropic.EventPing:
			return evPreamble, nil
		}
		return evContent, nil
	}
	pe, err := openai.ParseStreamEvent(ev.Data)
	switch {
	case err != nil:
		return 0, garbage(err)
	case pe.Error != nil:
		status := http.StatusInternalServerError
		switch pe.Error.Error.Type {
		case openai.ErrRateLimit, "tokens", "requests", "insufficient_quota":
			status = http.StatusTooManyRequests
		}
		return 0, &failure{kind: "stream_error", status: status, msg: "error event " + pe.Error.Error.Type + ": " + pe.Error.Error.Message}
	case pe.Done || pe.Chunk.UsageOnly():
		return evContent, nil
	}
	for _, ch := range pe.Chunk.Choices {
		d := &ch.Delta
		if d.Content != "" || d.ReasoningContent != "" || d.Refusal != "" || len(d.ToolCalls) > 0 || ch.FinishReason != "" {
			return evContent, nil
		}
	}
	return evPreamble, nil
}

func garbage(err error) *failure {
	return &failure{kind: "upstream_error", status: http.StatusBadGateway, msg: "the provider's stream is not valid: " + err.Error()}
}

// errClientWrite marks a failed write to the client.
var errClientWrite = errors.New("writing to the client failed")

// emitter writes one upstream stream to the client in the ingress API.
type emitter interface {
	// event relays one upstream event. It returns only client write
	// errors (wrapping errClientWrite).
	event(ev sse.Event) error
	// done reports whether the stream reached its end (or an error event).
	done() bool
	// end closes a stream that is not done: with an error event carrying
	// code and msg when code is set, else as the translation sees fit. It
	// returns the Result.ErrorKind of the stream, "" for a clean one.
	end(code, msg string) string
	usage() (ai.Usage, bool)
}

func (c *call) newEmitter(uw wire, w *sse.Writer) emitter {
	b := emitBase{w: w, api: c.res.API}
	switch {
	case c.op == opResponses:
		return &responsesPass{emitBase: b}
	case c.res.API == APIOpenAI && uw == wireOpenAI:
		return &openAIPass{emitBase: b, clientUsage: c.req.clientUsage}
	case c.res.API == APIAnthropic && uw == wireAnthropic:
		return &anthropicPass{emitBase: b}
	case c.res.API == APIOpenAI:
		return &toOpenAI{emitBase: b, st: translate.NewOpenAIStream(translate.StreamOptions{IncludeUsage: c.req.clientUsage})}
	default:
		return &toAnthropic{emitBase: b, st: translate.NewAnthropicStream(translate.StreamOptions{MessageID: "msg_" + c.x.RequestID})}
	}
}

type emitBase struct {
	w    *sse.Writer
	api  string
	fin  bool
	kind string // error kind once fin by an error
}

func (b *emitBase) done() bool { return b.fin }

func (b *emitBase) write(ev sse.Event) error {
	if err := b.w.WriteEvent(ev); err != nil {
		return errors.Join(errClientWrite, err)
	}
	return nil
}

// fail ends the stream with an error event of code.
func (b *emitBase) fail(code, msg string) string {
	b.fin = true
	_ = b.write(streamError(b.api, code, msg))
	switch code {
	case "stream_stalled", "timeout":
		return code
	case "stream_invalid":
		return "upstream_error"
	}
	return "stream_cut"
}

// openAIPass relays an OpenAI-type stream to an OpenAI client as it is,
// reading usage on the way and dropping the usage chunk the client did not
// ask for.
type openAIPass struct {
	emitBase
	clientUsage bool
	u           ai.Usage
	seen        bool
	finished    bool // a chunk had a finish_reason
}

var finishKey = []byte(`"finish_reason":"`)

func (p *openAIPass) event(ev sse.Event) error {
	data := bytes.TrimSpace(ev.Data)
	switch {
	case bytes.Equal(data, openai.DoneData):
		p.fin = true
	case bytes.HasPrefix(data, []byte(`{"error"`)):
		p.fin, p.kind = true, "stream_error"
	default:
		u, only, err := openai.PeekUsage(data)
		if err == nil && u != nil {
			p.u, p.seen = p.u.Max(u.AI()), true
		}
		if only && !p.clientUsage {
			return nil
		}
		if bytes.Contains(data, finishKey) {
			p.finished = true
		}
	}
	return p.write(sse.Event{Type: ev.Type, Data: ev.Data})
}

func (p *openAIPass) end(code, msg string) string {
	switch {
	case p.fin:
		return p.kind
	case code != "":
		return p.fail(code, msg)
	case p.finished:
		// Some compatible servers end without [DONE] after the finish.
		p.fin = true
		_ = p.write(sse.Event{Data: openai.DoneData})
		return ""
	}
	return p.fail("stream_truncated", "the provider's stream ended before it was complete")
}

func (p *openAIPass) usage() (ai.Usage, bool) { return p.u, p.seen }

// anthropicPass relays an Anthropic stream to an Anthropic client as it is,
// merging usage from message_start and message_delta.
type anthropicPass struct {
	emitBase
	u anthropic.StreamUsage
}

func (p *anthropicPass) event(ev sse.Event) error {
	switch ev.Type {
	case anthropic.EventMessageStart, anthropic.EventMessageDelta:
		if pe, err := anthropic.ParseStreamEvent(ev.Data); err == nil {
			p.u.Observe(pe)
		}
	case anthropic.EventMessageStop:
		p.fin = true
	case anthropic.EventError:
		p.fin, p.kind = true, "stream_error"
	}
	return p.write(ev)
}

func (p *anthropicPass) end(code, msg string) string {
	switch {
	case p.fin:
		return p.kind
	case code != "":
		return p.fail(code, msg)
	}
	return p.fail("stream_truncated", "the provider's stream ended before it was complete")
}

func (p *anthropicPass) usage() (ai.Usage, bool) { return p.u.Usage() }

// toOpenAI translates an Anthropic stream for an OpenAI client.
type toOpenAI struct {
	emitBase
	st  *translate.OpenAIStream
	buf []byte
}

func (p *toOpenAI) event(ev sse.Event) error {
	pe, err := anthropic.ParseStreamEvent(ev.Data)
	if err != nil {
		p.fail("stream_invalid", "the provider's stream is not valid: "+err.Error())
		p.kind = "upstream_error"
		return nil
	}
	out, ferr := p.st.Feed(pe)
	if err := p.emit(out); err != nil {
		return err
	}
	if ferr != nil {
		p.fail("stream_invalid", ferr.Error())
		p.kind = "upstream_error"
	}
	return nil
}

func (p *toOpenAI) emit(out []openai.StreamEvent) error {
	for _, e := range out {
		var err error
		if p.buf, err = e.AppendData(p.buf[:0]); err != nil {
			continue
		}
		if e.Done || e.Error != nil {
			p.fin = true
			if e.Error != nil {
				p.kind = "stream_error"
			}
		}
		if err := p.write(sse.Event{Data: p.buf}); err != nil {
			return err
		}
	}
	return nil
}

func (p *toOpenAI) end(code, msg string) string {
	switch {
	case p.fin:
		return p.kind
	case code != "":
		return p.fail(code, msg)
	}
	out, err := p.st.Finish()
	_ = p.emit(out)
	if err != nil {
		return "stream_cut"
	}
	return ""
}

func (p *toOpenAI) usage() (ai.Usage, bool) { return p.st.Usage() }

// toAnthropic translates an OpenAI-type stream for an Anthropic client.
type toAnthropic struct {
	emitBase
	st  *translate.AnthropicStream
	buf []byte
}

func (p *toAnthropic) event(ev sse.Event) error {
	pe, err := openai.ParseStreamEvent(ev.Data)
	if err != nil {
		p.fail("stream_invalid", "the provider's stream is not valid: "+err.Error())
		p.kind = "upstream_error"
		return nil
	}
	out, ferr := p.st.Feed(pe)
	if err := p.emit(out); err != nil {
		return err
	}
	if ferr != nil && !p.fin {
		p.fail("stream_invalid", ferr.Error())
		p.kind = "upstream_error"
	}
	return nil
}

func (p *toAnthropic) emit(out []anthropic.StreamEvent) error {
	for i := range out {
		e := &out[i]
		var err error
		if p.buf, err = e.AppendJSON(p.buf[:0]); err != nil {
			continue
		}
		switch e.Type {
		case anthropic.EventMessageStop:
			p.fin = true
		case anthropic.EventError:
			p.fin, p.kind = true, "stream_error"
		}
		if err := p.write(sse.Event{Type: e.Type, Data: p.buf}); err != nil {
			return err
		}
	}
	return nil
}

func (p *toAnthropic) end(code, msg string) string {
	switch {
	case p.fin:
		return p.kind
	case code != "":
		return p.fail(code, msg)
	}
	out, err := p.st.Finish()
	_ = p.emit(out)
	if err != nil {
		return "stream_cut"
	}
	return ""
}

func (p *toAnthropic) usage() (ai.Usage, bool) { return p.st.Usage() }
