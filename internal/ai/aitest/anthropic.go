package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/sse"
)

// Anthropic is a fake Anthropic provider serving POST /v1/messages,
// streaming or not. Point an SDK at URL().
//
// With RequireKey it authenticates as Anthropic does: a request whose
// x-api-key is not the key gets 401 {"type":"error","error":{"type":
// "authentication_error","message":"invalid x-api-key"},"request_id":...},
// and one without an anthropic-version header 400 "anthropic-version:
// header is required".
type Anthropic struct {
	core
}

// NewAnthropic starts a fake Anthropic provider, closed at the end of the
// test.
func NewAnthropic(t testing.TB) *Anthropic {
	f := &Anthropic{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", f.messages)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		anthropicError(w, Fault{Status: http.StatusNotFound, Message: "unknown path " + r.URL.Path})
	})
	f.auth = anthropicAuth
	f.start(t, mux)
	return f
}

func anthropicAuth(w http.ResponseWriter, r *http.Request, key string) bool {
	switch {
	case r.Header.Get("X-Api-Key") != key:
		anthropicError(w, Fault{Status: http.StatusUnauthorized, Message: "invalid x-api-key"})
	case r.Header.Get("Anthropic-Version") == "":
		anthropicError(w, Fault{Status: http.StatusBadRequest, Message: "anthropic-version: header is required"})
	default:
		return true
	}
	return false
}

func anthropicError(w http.ResponseWriter, f Fault) {
	body := anthropic.NewErrorBody(f.Status, f.Message)
	if f.Type != "" {
		body.Error.Type = f.Type
	}
	if body.Error.Message == "" {
		body.Error.Message = http.StatusText(f.Status)
		if f.Status == anthropic.StatusOverloaded {
			body.Error.Message = "Overloaded"
		}
	}
	body.RequestID = "req_fake"
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Request-Id", "req_fake")
	b, _ := json.Marshal(body)
	writeJSON(w, f.Status, b)
}

func (f *Anthropic) messages(w http.ResponseWriter, r *http.Request) {
	fault, reply, gate, seq := f.next()
	if !prologue(w, r, fault, anthropicError) {
		return
	}
	body, _ := readBody(r)
	req, err := anthropic.DecodeMessagesRequest(body)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		anthropicError(w, Fault{Status: http.StatusBadRequest, Message: err.Error()})
		return
	}
	id := fmt.Sprintf("msg_fake_%d", seq)
	if !req.Stream {
		if !wait(r, fault.StallFirstToken) {
			return
		}
		b, _ := json.Marshal(anthropicMessage(id, req.Model, reply))
		writeJSON(w, http.StatusOK, b)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)
	_ = sw.Flush()
	s := &stream{w: sw, r: r, f: fault, gate: gate, errEvent: func(f Fault) sse.Event {
		e := anthropic.StreamEvent{Type: anthropic.EventError, Error: &anthropic.Error{Type: f.Type, Message: f.Message}}
		if e.Error.Type == "" {
			e.Error.Type, e.Error.Message = anthropic.ErrOverloaded, "Overloaded"
		}
		b, _ := e.AppendJSON(nil)
		return sse.Event{Type: e.Type, Data: b}
	}}
	for _, ev := range AnthropicEvents(id, req.Model, reply) {
		if ev.Type == anthropic.EventContentBlockStart || ev.Type == anthropic.EventMessageDelta {
			if !s.content() {
				return
			}
		}
		b, _ := ev.AppendJSON(nil)
		if !s.event(sse.Event{Type: ev.Type, Data: b}) {
			return
		}
	}
}

func anthropicStop(reply Reply) string {
	switch {
	case reply.Stop != "":
		return reply.Stop
	case len(reply.ToolCalls) > 0:
		return anthropic.StopToolUse
	}
	return anthropic.StopEndTurn
}

// fakeSignature is the signature of the fake's thinking blocks.
const fakeSignature = "c2lnbmF0dXJl"

// anthropicMessage is the non-streaming answer for reply.
func anthropicMessage(id, model string, reply Reply) *anthropic.Message {
	m := &anthropic.Message{ID: id, Type: "message", Role: anthropic.RoleAssistant, Model: model,
		StopReason: anthropicStop(reply), Usage: anthropic.UsageFromAI(reply.Usage)}
	if reply.Reasoning != "" {
		m.Content = append(m.Content, anthropic.ContentBlock{Type: anthropic.BlockThinking, Thinking: reply.Reasoning, Signature: fakeSignature})
	}
	if reply.Text != "" {
		m.Content = append(m.Content, anthropic.TextBlock(reply.Text))
	}
	for _, tc := range reply.ToolCalls {
		m.Content = append(m.Content, anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: tc.ID, Name: tc.Name, Input: json.RawMessage(tc.Arguments)})
	}
	return m
}

// AnthropicEvents returns the events Anthropic streams for reply:
// message_start (input and cache usage, output 1), ping, then per block
// content_block_start, its deltas (a thinking block ends with a
// signature_delta; a tool_use block's first input_json_delta is empty, as
// the API sends it) and content_block_stop, then message_delta with the
// stop reason and cumulative usage, and message_stop.
func AnthropicEvents(id, model string, reply Reply) []anthropic.StreamEvent {
	u := anthropic.UsageFromAI(reply.Usage)
	start := u
	start.OutputTokens = min(1, u.OutputTokens)
	out := []anthropic.StreamEvent{
		{Type: anthropic.EventMessageStart, Message: &anthropic.Message{ID: id, Type: "message", Role: anthropic.RoleAssistant, Model: model, Content: []anthropic.ContentBlock{}, Usage: start}},
		{Type: anthropic.EventPing},
	}
	idx := int64(0)
	block := func(cb anthropic.ContentBlock, deltas []anthropic.Delta) {
		out = append(out, anthropic.StreamEvent{Type: anthropic.EventContentBlockStart, Index: idx, ContentBlock: &cb})
		for i := range deltas {
			out = append(out, anthropic.StreamEvent{Type: anthropic.EventContentBlockDelta, Index: idx, Delta: &deltas[i]})
		}
		out = append(out, anthropic.StreamEvent{Type: anthropic.EventContentBlockStop, Index: idx})
		idx++
	}
	if reply.Reasoning != "" {
		var ds []anthropic.Delta
		for _, p := range pieces(reply.Reasoning, reply.ChunkSize) {
			ds = append(ds, anthropic.Delta{Type: anthropic.DeltaThinking, Thinking: p})
		}
		ds = append(ds, anthropic.Delta{Type: anthropic.DeltaSignature, Signature: fakeSignature})
		block(anthropic.ContentBlock{Type: anthropic.BlockThinking}, ds)
	}
	if reply.Text != "" {
		var ds []anthropic.Delta
		for _, p := range pieces(reply.Text, reply.ChunkSize) {
			ds = append(ds, anthropic.Delta{Type: anthropic.DeltaText, Text: p})
		}
		block(anthropic.ContentBlock{Type: anthropic.BlockText}, ds)
	}
	for _, tc := range reply.ToolCalls {
		ds := []anthropic.Delta{{Type: anthropic.DeltaInputJSON}}
		for _, p := range pieces(tc.Arguments, reply.ChunkSize) {
			ds = append(ds, anthropic.Delta{Type: anthropic.DeltaInputJSON, PartialJSON: p})
		}
		block(anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: tc.ID, Name: tc.Name}, ds)
	}
	in, cc, cr := u.InputTokens, u.CacheCreationInputTokens, u.CacheReadInputTokens
	out = append(out,
		anthropic.StreamEvent{Type: anthropic.EventMessageDelta, Delta: &anthropic.Delta{StopReason: anthropicStop(reply)},
			Usage: &anthropic.DeltaUsage{InputTokens: &in, CacheCreationInputTokens: &cc, CacheReadInputTokens: &cr, OutputTokens: u.OutputTokens}},
		anthropic.StreamEvent{Type: anthropic.EventMessageStop},
	)
	return out
}
