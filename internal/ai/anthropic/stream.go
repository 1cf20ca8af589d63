package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Stream event types; each is also the event's SSE event name.
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// StreamEvent is one event of a messages stream, of any type; which fields
// apply depends on Type:
//
//	message_start        Message
//	content_block_start  Index, ContentBlock
//	content_block_delta  Index, Delta (Type and one of its payload fields)
//	content_block_stop   Index
//	message_delta        Delta (StopReason, StopSequence), Usage
//	message_stop, ping   nothing
//	error                Error
//
// StreamEvent encodes with a hand-written encoder that writes exactly the
// fields of its type, as the API does.
type StreamEvent struct {
	Type         string        `json:"type"`
	Message      *Message      `json:"message,omitempty"`
	Index        int64         `json:"index"`
	ContentBlock *ContentBlock `json:"content_block,omitempty"`
	Delta        *Delta        `json:"delta,omitempty"`
	Usage        *DeltaUsage   `json:"usage,omitempty"`
	Error        *Error        `json:"error,omitempty"`
}

// Delta is the delta of a content_block_delta event (Type and its payload)
// or of a message_delta event (StopReason and StopSequence, Type empty).
type Delta struct {
	Type         string          `json:"type,omitempty"`
	Text         string          `json:"text,omitempty"`
	PartialJSON  string          `json:"partial_json,omitempty"`
	Thinking     string          `json:"thinking,omitempty"`
	Signature    string          `json:"signature,omitempty"`
	Citation     json.RawMessage `json:"citation,omitempty"`
	StopReason   string          `json:"stop_reason,omitempty"`
	StopSequence string          `json:"stop_sequence,omitempty"`
}

// ParseStreamEvent parses the data of one server-sent event of a messages
// stream.
func ParseStreamEvent(data []byte) (*StreamEvent, error) {
	ev := new(StreamEvent)
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func (e StreamEvent) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil) }

// AppendJSON appends the JSON encoding of e to b.
func (e *StreamEvent) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = jsonobj.AppendString(b, e.Type)
	switch e.Type {
	case EventMessageStart:
		m := e.Message
		if m == nil {
			m = &Message{}
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"message":`...), mb...)
	case EventContentBlockStart:
		b = e.appendIndex(b)
		cb := e.ContentBlock
		if cb == nil {
			cb = &ContentBlock{}
		}
		bb, err := json.Marshal(cb)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"content_block":`...), bb...)
	case EventContentBlockDelta:
		b = e.appendIndex(b)
		d := e.Delta
		if d == nil {
			d = &Delta{}
		}
		b = append(b, `,"delta":{"type":`...)
		b = jsonobj.AppendString(b, d.Type)
		switch d.Type {
		case DeltaText:
			b = jsonobj.AppendString(append(b, `,"text":`...), d.Text)
		case DeltaInputJSON:
			b = jsonobj.AppendString(append(b, `,"partial_json":`...), d.PartialJSON)
		case DeltaThinking:
			b = jsonobj.AppendString(append(b, `,"thinking":`...), d.Thinking)
		case DeltaSignature:
			b = jsonobj.AppendString(append(b, `,"signature":`...), d.Signature)
		case DeltaCitations:
			if len(d.Citation) > 0 {
				b = append(append(b, `,"citation":`...), d.Citation...)
			}
		}
		b = append(b, '}')
	case EventContentBlockStop:
		b = e.appendIndex(b)
	case EventMessageDelta:
		var d Delta
		if e.Delta != nil {
			d = *e.Delta
		}
		b = append(b, `,"delta":{"stop_reason":`...)
		b = appendNullable(b, d.StopReason)
		b = append(b, `,"stop_sequence":`...)
		b = appendNullable(b, d.StopSequence)
		b = append(b, '}')
		if e.Usage != nil {
			ub, err := json.Marshal(e.Usage)
			if err != nil {
				return nil, err
			}
			b = append(append(b, `,"usage":`...), ub...)
		}
	case EventError:
		er := e.Error
		if er == nil {
			er = &Error{}
		}
		b = append(b, `,"error":{"type":`...)
		b = jsonobj.AppendString(b, er.Type)
		b = append(b, `,"message":`...)
		b = jsonobj.AppendString(b, er.Message)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func (e *StreamEvent) appendIndex(b []byte) []byte {
	return strconv.AppendInt(append(b, `,"index":`...), e.Index, 10)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonobj.AppendString(b, s)
}
