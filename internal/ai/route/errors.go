package route

import (
	"encoding/json"
	"net/http"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/sse"
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
	var b []byte
	if c.res.API == APIAnthropic {
		eb := anthropic.NewErrorBody(status, msg)
		eb.RequestID = c.x.RequestID
		b, _ = json.Marshal(eb)
	} else {
		typ := openai.ErrorTypeForStatus(status)
		if code == "model_not_found" || status == http.StatusRequestEntityTooLarge {
			typ = openai.ErrInvalidRequest // what OpenAI itself answers
		}
		b, _ = json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: typ, Param: param, Code: code}})
	}
	c.writeJSON(status, b)
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
