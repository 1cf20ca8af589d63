package route

import (
	"encoding/json"
	"net/http"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/sse"
)

// The Responses API is relayed as it is: its events are typed, carry their
// own sequence numbers and end with response.completed, .incomplete or
// .failed (no [DONE]). Before the commit, response.created and the items'
// "added" events are preamble; an error event or response.failed there
// fails the attempt, which is the OpenAI case the anchors' users hit most:
// a valid first event and the error right after it.

// classifyResponses tells preamble from content in a Responses stream.
func classifyResponses(_ wire, ev sse.Event) (eventKind, *failure) {
	pe, err := openai.ParseResponsesEvent(ev.Data)
	if err != nil {
		return 0, garbage(err)
	}
	switch pe.Type {
	case openai.ResponseCreated, openai.ResponseInProgress, openai.ResponseQueued,
		openai.ResponseItemAdded, openai.ResponsePartAdded:
		return evPreamble, nil
	case openai.ResponseError:
		code := ""
		if pe.Code != nil {
			code = *pe.Code
		}
		return 0, &failure{kind: "stream_error", status: responsesErrorStatus(code), msg: "error event " + code + ": " + pe.Message}
	case openai.ResponseFailed:
		code, msg := "", ""
		if pe.Response != nil && pe.Response.Error != nil {
			code, msg = pe.Response.Error.Code, pe.Response.Error.Message
		}
		return 0, &failure{kind: "stream_error", status: responsesErrorStatus(code), msg: "response failed: " + code + ": " + msg}
	}
	return evContent, nil
}

// responsesErrorStatus maps a Responses error code to the status that
// decides retry and fallback.
func responsesErrorStatus(code string) int {
	switch code {
	case "rate_limit_exceeded", "insufficient_quota":
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// responsesPass relays a Responses stream to the client as it is, reading
// the final usage from the terminal event.
type responsesPass struct {
	emitBase
	u    ai.Usage
	seen bool
	seq  int64 // the last sequence_number, for an error event of our own
}

func (p *responsesPass) event(ev sse.Event) error {
	if pe, err := openai.ParseResponsesEvent(ev.Data); err == nil {
		switch pe.Type {
		case openai.ResponseCompleted, openai.ResponseIncomplete:
			p.fin = true
			if pe.Response != nil && pe.Response.Usage != nil {
				p.u, p.seen = pe.Response.Usage.AI(), true
			}
		case openai.ResponseFailed, openai.ResponseError:
			p.fin, p.kind = true, "stream_error"
		}
		var s struct {
			Seq int64 `json:"sequence_number"`
		}
		if json.Unmarshal(ev.Data, &s) == nil {
			p.seq = s.Seq
		}
	}
	return p.write(ev)
}

// end closes a cut stream with a Responses error event.
func (p *responsesPass) end(code, msg string) string {
	if p.fin {
		return p.kind
	}
	if code == "" {
		code, msg = "stream_cut", "the provider's stream ended before response.completed"
	}
	b, _ := json.Marshal(map[string]any{"type": openai.ResponseError, "code": code, "message": msg, "param": nil, "sequence_number": p.seq + 1})
	p.fin = true
	_ = p.write(sse.Event{Type: openai.ResponseError, Data: b})
	switch code {
	case "stream_stalled", "timeout":
		return code
	}
	return "stream_cut"
}

func (p *responsesPass) usage() (ai.Usage, bool) { return p.u, p.seen }
