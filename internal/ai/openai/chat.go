// Package openai holds Go types for the OpenAI wire formats Sluice speaks:
// Chat Completions (request, response, stream chunks), embeddings, the
// models list and the error body, plus the DeepSeek extension
// reasoning_content. Types mirror the JSON exactly; they carry no behaviour
// beyond encoding, decoding and reading usage.
//
// Requests decode strictly (keys are case-sensitive, duplicates are errors)
// and keep the members they do not model in Extra, so a request proxied to
// an OpenAI-type target keeps parameters Sluice does not know about.
package openai

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleFunction  = "function" // deprecated by OpenAI; decoded, never translated
)

// Finish reasons of a choice.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call"
)

// ChatRequest is the body of POST /v1/chat/completions.
//
// Optional scalars are pointers so that an absent parameter stays absent
// when the request is encoded again. Parameters not modelled here
// (logprobs, logit_bias, frequency_penalty, modalities, audio, store, ...)
// are kept in Extra.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"` // deprecated by OpenAI in favour of max_completion_tokens
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int64          `json:"n,omitempty"`
	Stop                Stop            `json:"stop,omitzero"`
	Seed                *int64          `json:"seed,omitempty"`
	User                string          `json:"user,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          *ToolChoice     `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`

	// Extra holds the top-level members not modelled above, verbatim. It is
	// encoded after the modelled members, in key order.
	Extra map[string]json.RawMessage `json:"-"`
}

// StreamOptions is the stream_options parameter.
type StreamOptions struct {
	IncludeUsage bool                       `json:"include_usage"`
	Extra        map[string]json.RawMessage `json:"-"` // include_obfuscation and future options
}

// Stop is the stop parameter: a single string or a list of up to four. It
// remembers which form it was decoded from and encodes the same way.
type Stop struct {
	Values []string
	Single bool // encode as a string; needs len(Values) == 1
}

// ResponseFormat is the response_format parameter: {"type":"text"},
// {"type":"json_object"} or {"type":"json_schema","json_schema":{...}}.
type ResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// Tool is one entry of tools. Type is "function" (or "custom", whose body
// stays in Extra).
type Tool struct {
	Type     string                     `json:"type"`
	Function *FunctionDef               `json:"function,omitempty"`
	Extra    map[string]json.RawMessage `json:"-"`
}

// FunctionDef declares a function tool. Parameters is a JSON Schema.
type FunctionDef struct {
	Name        string                     `json:"name"`
	Description string                     `json:"description,omitempty"`
	Parameters  json.RawMessage            `json:"parameters,omitempty"`
	Strict      *bool                      `json:"strict,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"`
}

// ToolChoice is the tool_choice parameter: either a mode string ("none",
// "auto", "required") or an object such as
// {"type":"function","function":{"name":"f"}}.
type ToolChoice struct {
	Mode     string         // set for the string form
	Type     string         // set for the object form
	Function *ToolChoiceFun // for Type "function"
	// Extra holds the other members of the object form (allowed_tools,
	// custom).
	Extra map[string]json.RawMessage
}

// ToolChoiceFun names the function a tool_choice object forces.
type ToolChoiceFun struct {
	Name string `json:"name"`
}

// Tool choice modes.
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// Message is one chat message, in a request (messages) or a response
// (choices[].message).
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content,omitzero"`
	Name    string  `json:"name,omitempty"`
	// Refusal is an assistant's refusal message.
	Refusal    string     `json:"refusal,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// ReasoningContent is DeepSeek's (and other OpenAI-compatible
	// providers') chain of thought, next to content.
	ReasoningContent string                     `json:"reasoning_content,omitempty"`
	Extra            map[string]json.RawMessage `json:"-"`
}

// ToolCall is one entry of an assistant message's tool_calls.
type ToolCall struct {
	ID       string                     `json:"id"`
	Type     string                     `json:"type"` // "function"
	Function FunctionCall               `json:"function"`
	Extra    map[string]json.RawMessage `json:"-"`
}

// FunctionCall is a call of a function tool. Arguments is a JSON object
// encoded as a string, exactly as the model wrote it (it may be invalid).
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Validate checks what every chat request needs before any upstream call:
// a model and at least one message with a known role.
func (r *ChatRequest) Validate() error {
	if r.Model == "" {
		return errors.New("model: required")
	}
	if len(r.Messages) == 0 {
		return errors.New("messages: at least one message is required")
	}
	for i, m := range r.Messages {
		switch m.Role {
		case RoleSystem, RoleDeveloper, RoleUser, RoleAssistant, RoleTool, RoleFunction:
		case "":
			return fmt.Errorf("messages[%d].role: required", i)
		default:
			return fmt.Errorf("messages[%d].role: unknown role %q", i, m.Role)
		}
	}
	return nil
}

// DecodeChatRequest decodes a chat completions request body strictly: keys
// are case-sensitive, duplicate keys are errors, and unknown members are
// kept in the Extra maps. It does not Validate.
func DecodeChatRequest(data []byte) (*ChatRequest, error) {
	r := new(ChatRequest)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Methods that route the types above through jsonobj. Each uses a
// method-less copy of the type so the codec does not recurse.

func (r *ChatRequest) UnmarshalJSON(b []byte) (err error) {
	type plain ChatRequest
	r.Extra, err = jsonobj.Decode(b, (*plain)(r))
	return err
}

func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest
	return jsonobj.Marshal((plain)(r), r.Extra)
}

func (o *StreamOptions) UnmarshalJSON(b []byte) (err error) {
	type plain StreamOptions
	o.Extra, err = jsonobj.Decode(b, (*plain)(o))
	return err
}

func (o StreamOptions) MarshalJSON() ([]byte, error) {
	type plain StreamOptions
	return jsonobj.Marshal((plain)(o), o.Extra)
}

func (t *Tool) UnmarshalJSON(b []byte) (err error) {
	type plain Tool
	t.Extra, err = jsonobj.Decode(b, (*plain)(t))
	return err
}

func (t Tool) MarshalJSON() ([]byte, error) {
	type plain Tool
	return jsonobj.Marshal((plain)(t), t.Extra)
}

func (f *FunctionDef) UnmarshalJSON(b []byte) (err error) {
	type plain FunctionDef
	f.Extra, err = jsonobj.Decode(b, (*plain)(f))
	return err
}

func (f FunctionDef) MarshalJSON() ([]byte, error) {
	type plain FunctionDef
	return jsonobj.Marshal((plain)(f), f.Extra)
}

func (m *Message) UnmarshalJSON(b []byte) (err error) {
	type plain Message
	m.Extra, err = jsonobj.Decode(b, (*plain)(m))
	return err
}

func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return jsonobj.Marshal((plain)(m), m.Extra)
}

func (c *ToolCall) UnmarshalJSON(b []byte) (err error) {
	type plain ToolCall
	c.Extra, err = jsonobj.Decode(b, (*plain)(c))
	return err
}

func (c ToolCall) MarshalJSON() ([]byte, error) {
	type plain ToolCall
	return jsonobj.Marshal((plain)(c), c.Extra)
}

func (c *ToolChoice) UnmarshalJSON(b []byte) error {
	*c = ToolChoice{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &c.Mode)
	}
	var obj struct {
		Type     string         `json:"type"`
		Function *ToolChoiceFun `json:"function,omitempty"`
	}
	extra, err := jsonobj.Decode(b, &obj)
	if err != nil {
		return err
	}
	c.Type, c.Function, c.Extra = obj.Type, obj.Function, extra
	return nil
}

func (c ToolChoice) MarshalJSON() ([]byte, error) {
	if c.Mode != "" {
		return json.Marshal(c.Mode)
	}
	obj := struct {
		Type     string         `json:"type"`
		Function *ToolChoiceFun `json:"function,omitempty"`
	}{c.Type, c.Function}
	return jsonobj.Marshal(obj, c.Extra)
}

func (s *Stop) UnmarshalJSON(b []byte) error {
	*s = Stop{}
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		s.Values, s.Single = []string{v}, true
		return nil
	}
	if err := json.Unmarshal(b, &s.Values); err != nil {
		return err
	}
	if s.Values == nil {
		s.Values = []string{}
	}
	return nil
}

func (s Stop) MarshalJSON() ([]byte, error) {
	if s.Single && len(s.Values) == 1 {
		return json.Marshal(s.Values[0])
	}
	if s.Values == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s.Values)
}

// IsZero reports whether the stop parameter is absent.
func (s Stop) IsZero() bool { return s.Values == nil }
