package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// ChatPeek is what PeekChatRequest reads of a chat completions request.
type ChatPeek struct {
	Model  string
	Stream bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
}

// PeekChatRequest reads model, stream and stream_options.include_usage from
// a chat completions request body without building the request. It checks
// every member DecodeChatRequest decodes as that decoding would (type,
// spelling, duplicates) and what Validate requires, so ok true means that
// DecodeChatRequest would decode data without error, into a request that
// Validate accepts, with the same three values: a caller that needs only
// those may decode later, knowing the decoding will succeed.
//
// ok false says only that PeekChatRequest cannot vouch for data: it refuses
// what the decoder refuses and, to stay simple, some things the decoder
// accepts (keys that are escaped or not ASCII, null list elements, more
// than 32 members in an object). The caller then decodes in full, which
// either succeeds or names the problem.
//
// The shapes it checks are declared beside it (chatShape and the rest) and
// must follow the wire types; TestPeekShapes compares the two.
func PeekChatRequest(data []byte) (p ChatPeek, ok bool) {
	if !json.Valid(data) {
		return ChatPeek{}, false
	}
	i := jsonobj.SkipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return ChatPeek{}, false
	}
	var hasModel, hasMessages bool
	_, ok = peekObject(data, i, chatShape, func(name string, v []byte) bool {
		switch name {
		case "model":
			if v[0] != '"' {
				return false
			}
			p.Model, hasModel = jsonString(v), true
			return p.Model != ""
		case "messages":
			// At least one message; peekObject has checked each one.
			hasMessages = v[0] == '[' && v[jsonobj.SkipSpace(v, 1)] != ']'
			return hasMessages
		case "stream":
			p.Stream = v[0] == 't'
		case "stream_options":
			if v[0] == '{' {
				_, ok := peekObject(v, 0, streamOptionsShape, func(name string, v []byte) bool {
					p.IncludeUsage = v[0] == 't'
					return true
				})
				return ok
			}
		}
		return true
	})
	if !ok || !hasModel || !hasMessages {
		return ChatPeek{}, false
	}
	return p, true
}

// kind is what a member's value may be for the decoder to take it.
type kind uint8

const (
	kindAny        kind = iota // any value: json.RawMessage, or a member kept in Extra
	kindString                 // a string or null
	kindBool                   // true, false or null
	kindInt                    // an integer in int64's range, or null
	kindFloat                  // a number in float64's range, or null
	kindRole                   // a string naming one of the roles Validate knows
	kindStop                   // Stop: a string, a list of strings, or null
	kindContent                // Content: a string, a list of content parts, or null
	kindToolChoice             // ToolChoice: a string, an object of toolChoiceShape, or null
	kindObject                 // an object of the field's shape, or null
	kindList                   // a list of objects of the field's shape, or null
)

// field is one member of a shape: a json tag name and what it decodes into.
type field struct {
	name  string
	kind  kind
	shape *shape // for kindObject and kindList
}

// shape is an object type of the wire format, as the decoder treats it.
type shape struct {
	// strict: the type decodes through jsonobj, so keys are
	// case-sensitive, duplicates are errors and unknown members go to
	// Extra. Otherwise encoding/json alone decodes it: keys match
	// ignoring case, the last of two duplicates wins and unknown members
	// are dropped.
	strict bool
	fields []field
	// required names a field that must be present (as kindRole, never
	// null); "" for none.
	required string
}

// The shapes of ChatRequest and the types inside it, field for field.
var (
	chatShape = &shape{strict: true, fields: []field{
		{name: "model", kind: kindString},
		{name: "messages", kind: kindList, shape: messageShape},
		{name: "stream", kind: kindBool},
		{name: "stream_options", kind: kindObject, shape: streamOptionsShape},
		{name: "max_tokens", kind: kindInt},
		{name: "max_completion_tokens", kind: kindInt},
		{name: "temperature", kind: kindFloat},
		{name: "top_p", kind: kindFloat},
		{name: "n", kind: kindInt},
		{name: "stop", kind: kindStop},
		{name: "seed", kind: kindInt},
		{name: "user", kind: kindString},
		{name: "metadata", kind: kindAny},
		{name: "tools", kind: kindList, shape: toolShape},
		{name: "tool_choice", kind: kindToolChoice},
		{name: "parallel_tool_calls", kind: kindBool},
		{name: "response_format", kind: kindObject, shape: responseFormatShape},
		{name: "reasoning_effort", kind: kindString},
	}}
	streamOptionsShape = &shape{strict: true, fields: []field{
		{name: "include_usage", kind: kindBool},
	}}
	messageShape = &shape{strict: true, required: "role", fields: []field{
		{name: "role", kind: kindRole},
		{name: "content", kind: kindContent},
		{name: "name", kind: kindString},
		{name: "refusal", kind: kindString},
		{name: "tool_calls", kind: kindList, shape: toolCallShape},
		{name: "tool_call_id", kind: kindString},
		{name: "reasoning_content", kind: kindString},
	}}
	contentPartShape = &shape{strict: true, fields: []field{
		{name: "type", kind: kindString},
		{name: "text", kind: kindString},
		{name: "refusal", kind: kindString},
		{name: "image_url", kind: kindObject, shape: imageURLShape},
		{name: "input_audio", kind: kindObject, shape: inputAudioShape},
	}}
	imageURLShape = &shape{fields: []field{
		{name: "url", kind: kindString},
		{name: "detail", kind: kindString},
	}}
	inputAudioShape = &shape{fields: []field{
		{name: "data", kind: kindString},
		{name: "format", kind: kindString},
	}}
	toolCallShape = &shape{strict: true, fields: []field{
		{name: "id", kind: kindString},
		{name: "type", kind: kindString},
		{name: "function", kind: kindObject, shape: functionCallShape},
	}}
	functionCallShape = &shape{fields: []field{
		{name: "name", kind: kindString},
		{name: "arguments", kind: kindString},
	}}
	toolShape = &shape{strict: true, fields: []field{
		{name: "type", kind: kindString},
		{name: "function", kind: kindObject, shape: functionDefShape},
	}}
	functionDefShape = &shape{strict: true, fields: []field{
		{name: "name", kind: kindString},
		{name: "description", kind: kindString},
		{name: "parameters", kind: kindAny},
		{name: "strict", kind: kindBool},
	}}
	// toolChoiceShape is the object form of ToolChoice.
	toolChoiceShape = &shape{strict: true, fields: []field{
		{name: "type", kind: kindString},
		{name: "function", kind: kindObject, shape: toolChoiceFunShape},
	}}
	toolChoiceFunShape = &shape{fields: []field{
		{name: "name", kind: kindString},
	}}
	responseFormatShape = &shape{fields: []field{
		{name: "type", kind: kindString},
		{name: "json_schema", kind: kindAny},
	}}
)

// maxPeekMembers bounds the members of one object PeekChatRequest checks
// for duplicates; an object with more is left to the decoder.
const maxPeekMembers = 32

// peekObject checks the object at data[i] (valid JSON) against sh and
// returns the index after it. fn, if not nil, is called with each field's
// name and value once the value is checked, and may refuse it.
func peekObject(data []byte, i int, sh *shape, fn func(name string, v []byte) bool) (int, bool) {
	var seen [maxPeekMembers][]byte
	n := 0
	hasRequired := sh.required == ""
	i++ // '{'
	for {
		i = jsonobj.SkipSpace(data, i)
		switch data[i] {
		case '}':
			return i + 1, hasRequired
		case ',':
			i = jsonobj.SkipSpace(data, i+1)
		}
		end := jsonobj.SkipString(data, i)
		key := data[i+1 : end-1]
		for _, c := range key {
			if c == '\\' || c >= utf8.RuneSelf {
				return 0, false
			}
		}
		var f *field
		for j := range sh.fields {
			name := sh.fields[j].name
			if string(key) == name {
				f = &sh.fields[j]
				break
			}
			if f == nil && equalFoldASCII(key, name) {
				if sh.strict {
					return 0, false // jsonobj refuses a misspelt case
				}
				f = &sh.fields[j] // encoding/json takes it for the field
			}
		}
		if sh.strict {
			if n == len(seen) {
				return 0, false
			}
			for _, k := range seen[:n] {
				if bytes.Equal(k, key) {
					return 0, false
				}
			}
			seen[n] = key
			n++
		}
		i = jsonobj.SkipSpace(data, end)
		i = jsonobj.SkipSpace(data, i+1) // the colon
		start := i
		var ok bool
		if f == nil {
			i, ok = jsonobj.SkipValue(data, i), true
		} else {
			i, ok = peekValue(data, i, f)
		}
		if !ok {
			return 0, false
		}
		if f != nil {
			if f.name == sh.required {
				hasRequired = true
			}
			if fn != nil && !fn(f.name, data[start:i]) {
				return 0, false
			}
		}
	}
}

// peekValue checks the value at data[i] (valid JSON) against f and returns
// the index after it.
func peekValue(data []byte, i int, f *field) (int, bool) {
	c := data[i]
	if c == 'n' && f.kind != kindRole {
		return i + len("null"), true // nil, or no change: never an error
	}
	switch f.kind {
	case kindAny:
		return jsonobj.SkipValue(data, i), true
	case kindString:
		return jsonobj.SkipString(data, i), c == '"'
	case kindBool:
		return jsonobj.SkipValue(data, i), c == 't' || c == 'f'
	case kindInt, kindFloat:
		if c != '-' && (c < '0' || c > '9') {
			return 0, false
		}
		end := jsonobj.SkipValue(data, i)
		var err error
		if f.kind == kindInt {
			_, err = strconv.ParseInt(string(data[i:end]), 10, 64)
		} else {
			_, err = strconv.ParseFloat(string(data[i:end]), 64)
		}
		return end, err == nil
	case kindRole:
		end := jsonobj.SkipValue(data, i)
		switch string(data[i:end]) {
		case `"system"`, `"developer"`, `"user"`, `"assistant"`, `"tool"`, `"function"`:
			return end, true
		}
		return 0, false
	case kindStop:
		switch c {
		case '"':
			return jsonobj.SkipString(data, i), true
		case '[':
			return peekList(data, i, func(j int) (int, bool) {
				return jsonobj.SkipString(data, j), data[j] == '"'
			})
		}
	case kindContent:
		switch c {
		case '"':
			return jsonobj.SkipString(data, i), true
		case '[':
			return peekList(data, i, func(j int) (int, bool) {
				if data[j] != '{' {
					return 0, false
				}
				return peekObject(data, j, contentPartShape, nil)
			})
		}
	case kindToolChoice:
		switch c {
		case '"':
			return jsonobj.SkipString(data, i), true
		case '{':
			return peekObject(data, i, toolChoiceShape, nil)
		}
	case kindObject:
		if c == '{' {
			return peekObject(data, i, f.shape, nil)
		}
	case kindList:
		if c == '[' {
			return peekList(data, i, func(j int) (int, bool) {
				if data[j] != '{' {
					return 0, false
				}
				return peekObject(data, j, f.shape, nil)
			})
		}
	}
	return 0, false
}

// peekList calls elem for each element of the list at data[i] (valid
// JSON) and returns the index after the list.
func peekList(data []byte, i int, elem func(j int) (int, bool)) (int, bool) {
	i++ // '['
	for {
		i = jsonobj.SkipSpace(data, i)
		switch data[i] {
		case ']':
			return i + 1, true
		case ',':
			i = jsonobj.SkipSpace(data, i+1)
		}
		var ok bool
		if i, ok = elem(i); !ok {
			return 0, false
		}
	}
}

// jsonString decodes the JSON string v as encoding/json does.
func jsonString(v []byte) string {
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s)
	}
	var out string
	_ = json.Unmarshal(v, &out)
	return out
}

// equalFoldASCII reports whether the ASCII key equals name ignoring case.
func equalFoldASCII(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range len(key) {
		a, b := key[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
