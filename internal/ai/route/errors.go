package route

import (
	"encoding/json"
	"net/http"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/sse"
	"github.com/sluicegw/sluice/plugin"
)

// clientError writes an error that is the caller's fault and returns nil:
// there is nothing for the gateway to log or render.
func (c *call) clientError(status int, kind, code, param, msg string) error {
	c.res.ErrorKind = kind
	c.writeError(status, code, param, msg, nil)
	return nil
}

// writeError writes an error response in the ingress API's shape.
func (c *call) writeError(status int, code, param, msg string, hdr http.Header) {
	for k, vs := range hdr {
		c.w.Header()[k] = vs
	}
	typ := ""
	if code == "model_not_found" || status == http.StatusRequestEntityTooLarge {
		typ = openai.ErrInvalidRequest // what OpenAI itself answers
	}
	c.writeJSON(status, errorBody(c.res.API, status, typ, code, param, msg, c.x.RequestID))
}

// errorBody returns an error response body in api's shape: Anthropic's
// {"type":"error",...}, whose type follows status, or OpenAI's
// {"error":{...}} of type typ ("" for the one OpenAI gives status).
func errorBody(api string, status int, typ, code, param, msg, requestID string) []byte {
	var b []byte
	if api == APIAnthropic {
		eb := anthropic.NewErrorBody(status, msg)
		eb.RequestID = requestID
		b, _ = json.Marshal(eb)
		return b
	}
	if typ == "" {
		typ = openai.ErrorTypeForStatus(status)
	}
	b, _ = json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: typ, Param: param, Code: code}})
	return b
}

// streamError returns the error event that ends a committed stream in
// api's shape. code is OpenAI's error code; anthropic types follow it.
func streamError(api, code, msg string) sse.Event {
	if api == APIAnthropic {
		typ := anthropic.ErrAPI
		switch code {
		case "stream_stalled", "timeout":
			typ = anthropic.ErrTimeout
		}
		ev := anthropic.StreamEvent{Type: anthropic.EventError, Error: &anthropic.Error{Type: typ, Message: msg}}
		b, _ := ev.AppendJSON(nil)
		return sse.Event{Type: anthropic.EventError, Data: b}
	}
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: openai.ErrServer, Code: code}})
	return sse.Event{Data: b}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// WriteError renders e, the error of a plugin in front of the handler (a
// 401 from key-auth, a 429 from a token limit), in the client's API shape,
// so that SDKs map it to their own error types: OpenAI's {"error":{...}}
// with e.Code as code, or Anthropic's {"type":"error",...}. The gateway
// calls it in place of its generic rendering on ai routes. Status 499 is
// never written: the client is gone.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, e *plugin.Error, requestID string) {
	if e.Status == 499 {
		return
	}
	api, _, _ := classifyPath(r.URL.Path, r.Header)
	if a := plugin.ExchangeOf(r).AI; a != nil {
		api = a.API
	}
	hdr := w.Header()
	for k, vs := range e.Header {
		hdr[k] = vs
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	writeJSON(w, r, e.Status, errorBody(api, e.Status, "", e.Code, "", e.Public, requestID))
}
