package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// ChatChunk is one chunk of a streaming chat response
// (object "chat.completion.chunk"). The final chunk that
// stream_options.include_usage asks for has no choices and a usage.
//
// ChatChunk encodes with a hand-written encoder: chunks are the hot path of
// every stream, and the exact shape matters (choices is always an array,
// finish_reason is null until set, the role chunk carries "content":"").
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is a choice of a chunk. An empty FinishReason encodes null; a
// nil Logprobs is left out.
type ChunkChoice struct {
	Index        int64           `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason"`
}

// Delta is what a chunk adds to its choice's message. Empty fields are left
// out, except that Content is written (as "") whenever Role is, as OpenAI
// does in a stream's first chunk.
type Delta struct {
	Role             string          `json:"role,omitempty"`
	Content          string          `json:"content,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Refusal          string          `json:"refusal,omitempty"`
	ToolCalls        []ToolCallDelta `json:"tool_calls,omitempty"`
}

// ToolCallDelta is a piece of a tool call. The first piece of a call has
// ID, Type and Function.Name; later pieces have only Index and a fragment
// of Function.Arguments. Index, not ID, says which call a piece belongs to.
type ToolCallDelta struct {
	Index    int64         `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function FunctionDelta `json:"function"`
}

// FunctionDelta is the function part of a ToolCallDelta. Arguments is
// always written, as "" in a call's first piece.
type FunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// UsageOnly reports whether c is the usage-only chunk that
// stream_options.include_usage adds at the end of a stream.
func (c *ChatChunk) UsageOnly() bool { return len(c.Choices) == 0 && c.Usage != nil }

func (c ChatChunk) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil) }

// AppendJSON appends the JSON encoding of c to b.
func (c *ChatChunk) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonobj.AppendString(b, c.ID)
	b = append(b, `,"object":`...)
	b = jsonobj.AppendString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = jsonobj.AppendString(b, c.Model)
	if c.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = jsonobj.AppendString(b, c.SystemFingerprint)
	}
	if c.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = jsonobj.AppendString(b, c.ServiceTier)
	}
	b = append(b, `,"choices":[`...)
	for i := range c.Choices {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.Choices[i].appendJSON(b)
	}
	b = append(b, ']')
	if c.Usage != nil {
		u, err := json.Marshal(c.Usage)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"usage":`...), u...)
	}
	return append(b, '}'), nil
}

func (ch *ChunkChoice) appendJSON(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, ch.Index, 10)
	b = append(b, `,"delta":{`...)
	d := &ch.Delta
	sep := false
	field := func(name, v string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = jsonobj.AppendString(b, v)
	}
	if d.Role != "" {
		field("role", d.Role)
	}
	if d.Content != "" || d.Role != "" {
		field("content", d.Content)
	}
	if d.ReasoningContent != "" {
		field("reasoning_content", d.ReasoningContent)
	}
	if d.Refusal != "" {
		field("refusal", d.Refusal)
	}
	if len(d.ToolCalls) > 0 {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"tool_calls":[`...)
		for i := range d.ToolCalls {
			tc := &d.ToolCalls[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, tc.Index, 10)
			if tc.ID != "" {
				b = append(b, `,"id":`...)
				b = jsonobj.AppendString(b, tc.ID)
			}
			if tc.Type != "" {
				b = append(b, `,"type":`...)
				b = jsonobj.AppendString(b, tc.Type)
			}
			b = append(b, `,"function":{`...)
			if tc.Function.Name != "" {
				b = append(b, `"name":`...)
				b = jsonobj.AppendString(b, tc.Function.Name)
				b = append(b, ',')
			}
			b = append(b, `"arguments":`...)
			b = jsonobj.AppendString(b, tc.Function.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	if len(ch.Logprobs) > 0 {
		b = append(b, `,"logprobs":`...)
		b = append(b, ch.Logprobs...)
	}
	b = append(b, `,"finish_reason":`...)
	return append(appendNullable(b, ch.FinishReason), '}')
}

// StreamEvent is the payload of one event of a chat completions stream:
// a chunk, an error (OpenAI sends {"error":{...}} when a stream fails after
// it started), or the final "[DONE]". Exactly one is set.
type StreamEvent struct {
	Chunk *ChatChunk
	Error *ErrorBody
	Done  bool
}

// DoneData is the data of the event that ends a stream.
var DoneData = []byte("[DONE]")

// ParseStreamEvent parses the data of one server-sent event of a chat
// completions stream.
func ParseStreamEvent(data []byte) (StreamEvent, error) {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, DoneData) {
		return StreamEvent{Done: true}, nil
	}
	var w struct {
		ChatChunk
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return StreamEvent{}, err
	}
	if w.Error != nil {
		return StreamEvent{Error: &ErrorBody{Error: *w.Error}}, nil
	}
	if w.Object != "" && w.Object != ObjectChunk {
		return StreamEvent{}, errors.New("stream event: object is " + strconv.Quote(w.Object) + ", not " + ObjectChunk)
	}
	return StreamEvent{Chunk: &w.ChatChunk}, nil
}

// AppendData appends the event's SSE data (without the "data: " prefix) to b.
func (e StreamEvent) AppendData(b []byte) ([]byte, error) {
	switch {
	case e.Done:
		return append(b, DoneData...), nil
	case e.Error != nil:
		eb, err := json.Marshal(e.Error)
		return append(b, eb...), err
	case e.Chunk != nil:
		return e.Chunk.AppendJSON(b)
	}
	return b, errors.New("stream event: empty")
}
