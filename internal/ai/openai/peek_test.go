package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestPeekShapes holds the shapes PeekChatRequest checks to the wire types
// they stand for: a field added to ChatRequest, or a type changed, must
// show up in the shapes too, or the peek would vouch for bodies the
// decoder refuses.
func TestPeekShapes(t *testing.T) {
	t.Parallel()
	shapes := map[reflect.Type]*shape{
		reflect.TypeFor[ChatRequest]():    chatShape,
		reflect.TypeFor[StreamOptions]():  streamOptionsShape,
		reflect.TypeFor[Message]():        messageShape,
		reflect.TypeFor[ContentPart]():    contentPartShape,
		reflect.TypeFor[ImageURL]():       imageURLShape,
		reflect.TypeFor[InputAudio]():     inputAudioShape,
		reflect.TypeFor[ToolCall]():       toolCallShape,
		reflect.TypeFor[FunctionCall]():   functionCallShape,
		reflect.TypeFor[Tool]():           toolShape,
		reflect.TypeFor[FunctionDef]():    functionDefShape,
		reflect.TypeFor[ToolChoiceFun]():  toolChoiceFunShape,
		reflect.TypeFor[ResponseFormat](): responseFormatShape,
	}
	special := map[reflect.Type]kind{
		reflect.TypeFor[json.RawMessage](): kindAny,
		reflect.TypeFor[Stop]():            kindStop,
		reflect.TypeFor[Content]():         kindContent,
		reflect.TypeFor[*ToolChoice]():     kindToolChoice,
	}
	unmarshaler := reflect.TypeFor[json.Unmarshaler]()
	for typ, sh := range shapes {
		t.Run(typ.Name(), func(t *testing.T) {
			if strict := reflect.PointerTo(typ).Implements(unmarshaler); strict != sh.strict {
				t.Errorf("shape strict = %v; want %v (the type decodes through jsonobj: %v)", sh.strict, strict, strict)
			}
			var want []field
			for sf := range typ.Fields() {
				name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
				if name == "-" || !sf.IsExported() {
					continue
				}
				f := field{name: name}
				ft := sf.Type
				k, ok := special[ft]
				switch {
				case ok:
					f.kind = k
				case typ == reflect.TypeFor[Message]() && name == "role":
					f.kind = kindRole // Validate requires a known role
				default:
					elem := ft
					if elem.Kind() == reflect.Pointer || elem.Kind() == reflect.Slice {
						elem = elem.Elem()
					}
					switch {
					case elem.Kind() == reflect.String:
						f.kind = kindString
					case elem.Kind() == reflect.Bool:
						f.kind = kindBool
					case elem.Kind() == reflect.Int64:
						f.kind = kindInt
					case elem.Kind() == reflect.Float64:
						f.kind = kindFloat
					case elem.Kind() == reflect.Struct && shapes[elem] != nil:
						f.kind, f.shape = kindObject, shapes[elem]
						if ft.Kind() == reflect.Slice {
							f.kind = kindList
						}
					default:
						t.Fatalf("field %s has type %s, which the peek does not know", sf.Name, ft)
					}
					if ft.Kind() == reflect.Slice && f.kind != kindList {
						t.Fatalf("field %s is a list of %s, which the peek does not know", sf.Name, elem)
					}
				}
				want = append(want, f)
			}
			if !reflect.DeepEqual(want, sh.fields) {
				t.Errorf("shape fields = %s; want %s", fieldList(sh.fields), fieldList(want))
			}
		})
	}
	if messageShape.required != "role" || chatShape.required != "" {
		t.Error("only a message requires a member (role) of its own; model and messages are checked by PeekChatRequest")
	}
}

func fieldList(fs []field) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s:%d", f.name, f.kind))
	}
	return strings.Join(parts, " ")
}

// peekSeeds are valid requests of many shapes, for the table, the
// mutation test and the fuzzer.
var peekSeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello."}],"temperature":0.2,"max_tokens":64}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}`,
	` { "model" : "m\u00e9" , "stream" : false , "messages" : [ { "content" : null , "role" : "assistant" , "tool_calls" : [ ] } , {"role":"tool","tool_call_id":"c","content":"r"} ] , "stop" : [ "a" , "b" ] } `,
	`{"model":"m","messages":[{"role":"developer","content":"d"},{"role":"user","name":"u","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO","detail":"low"}},{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"file","file":{"file_id":"f"}}]},{"role":"assistant","content":null,"refusal":"no","reasoning_content":"hm","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"r"}]}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{}},"strict":true}},{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{}}},"max_completion_tokens":100,"n":1,"seed":-7,"top_p":1e-3,"user":"u","metadata":{"k":"v"},"reasoning_effort":"low","logit_bias":{"50256":-100},"store":true}`,
	`{"model":"m","messages":[{"role":"function","name":"f","content":"x"}],"tool_choice":"auto","stop":"\n","temperature":null,"max_tokens":null,"stream_options":null,"tools":null,"response_format":{"type":"text"}}`,
}

func TestPeekChatRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		peeks   bool // PeekChatRequest vouches for it
		decodes bool // DecodeChatRequest and Validate accept it
		want    ChatPeek
	}{
		{name: "minimal", body: peekSeeds[0], peeks: true, decodes: true, want: ChatPeek{Model: "m"}},
		{name: "benchmark", body: peekSeeds[1], peeks: true, decodes: true, want: ChatPeek{Model: "gpt-4o-mini"}},
		{name: "stream with usage", body: peekSeeds[2], peeks: true, decodes: true, want: ChatPeek{Model: "m", Stream: true, IncludeUsage: true}},
		{name: "spaces and escapes", body: peekSeeds[3], peeks: true, decodes: true, want: ChatPeek{Model: "mé"}},
		{name: "every parameter", body: peekSeeds[4], peeks: true, decodes: true, want: ChatPeek{Model: "m"}},
		{name: "nulls and string forms", body: peekSeeds[5], peeks: true, decodes: true, want: ChatPeek{Model: "m"}},
		{name: "stream without usage", body: `{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":{"include_usage":false}}`,
			peeks: true, decodes: true, want: ChatPeek{Model: "m", Stream: true}},
		{name: "plain types match keys ignoring case", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"URL":"u","url":"v"}}]}]}`,
			peeks: true, decodes: true, want: ChatPeek{Model: "m"}},

		// Refused by both.
		{name: "not JSON", body: `{"model":"m",`},
		{name: "not an object", body: `["model"]`},
		{name: "null", body: `null`},
		{name: "no model", body: `{"messages":[{"role":"user"}]}`},
		{name: "empty model", body: `{"model":"","messages":[{"role":"user"}]}`},
		{name: "null model", body: `{"model":null,"messages":[{"role":"user"}]}`},
		{name: "model not a string", body: `{"model":1,"messages":[{"role":"user"}]}`},
		{name: "no messages", body: `{"model":"m"}`},
		{name: "empty messages", body: `{"model":"m","messages":[]}`},
		{name: "null messages", body: `{"model":"m","messages":null}`},
		{name: "no role", body: `{"model":"m","messages":[{"content":"x"}]}`},
		{name: "unknown role", body: `{"model":"m","messages":[{"role":"robot"}]}`},
		{name: "null role", body: `{"model":"m","messages":[{"role":null}]}`},
		{name: "key in the wrong case", body: `{"Model":"m","model":"m","messages":[{"role":"user"}]}`},
		{name: "member key in the wrong case", body: `{"model":"m","messages":[{"role":"user","Content":"x"}]}`},
		{name: "duplicate key", body: `{"model":"m","model":"n","messages":[{"role":"user"}]}`},
		{name: "duplicate unknown key", body: `{"model":"m","x":1,"x":2,"messages":[{"role":"user"}]}`},
		{name: "duplicate role", body: `{"model":"m","messages":[{"role":"user","role":"tool"}]}`},
		{name: "temperature a string", body: `{"model":"m","messages":[{"role":"user"}],"temperature":"hot"}`},
		{name: "temperature too large", body: `{"model":"m","messages":[{"role":"user"}],"temperature":1e400}`},
		{name: "max_tokens not an integer", body: `{"model":"m","messages":[{"role":"user"}],"max_tokens":1.5}`},
		{name: "max_tokens an exponent", body: `{"model":"m","messages":[{"role":"user"}],"max_tokens":1e2}`},
		{name: "max_tokens too large", body: `{"model":"m","messages":[{"role":"user"}],"max_tokens":9223372036854775808}`},
		{name: "stream a string", body: `{"model":"m","messages":[{"role":"user"}],"stream":"true"}`},
		{name: "include_usage a string", body: `{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":"yes"}}`},
		{name: "stream_options a list", body: `{"model":"m","messages":[{"role":"user"}],"stream_options":[]}`},
		{name: "stop a number", body: `{"model":"m","messages":[{"role":"user"}],"stop":1}`},
		{name: "stop list of numbers", body: `{"model":"m","messages":[{"role":"user"}],"stop":[1]}`},
		{name: "content a number", body: `{"model":"m","messages":[{"role":"user","content":1}]}`},
		{name: "content an object", body: `{"model":"m","messages":[{"role":"user","content":{}}]}`},
		{name: "part text a number", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]}`},
		{name: "image url a number", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":1}}]}]}`},
		{name: "image URL a number", body: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"URL":1}}]}]}`},
		{name: "tool_choice a number", body: `{"model":"m","messages":[{"role":"user"}],"tool_choice":1}`},
		{name: "tool_choice duplicate", body: `{"model":"m","messages":[{"role":"user"}],"tool_choice":{"type":"function","type":"function"}}`},
		{name: "tools an object", body: `{"model":"m","messages":[{"role":"user"}],"tools":{}}`},
		{name: "tool parameters fine, strict not", body: `{"model":"m","messages":[{"role":"user"}],"tools":[{"type":"function","function":{"name":"f","parameters":1,"strict":"yes"}}]}`},
		{name: "tool call arguments an object", body: `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`},
		{name: "response_format type a number", body: `{"model":"m","messages":[{"role":"user"}],"response_format":{"TYPE":1}}`},

		// Accepted by the decoder, left to it by the peek.
		{name: "escaped key", body: `{"mod\u0065l":"m","messages":[{"role":"user"}]}`, decodes: true},
		{name: "non-ASCII unknown key", body: `{"model":"m","messages":[{"role":"user"}],"é":1}`, decodes: true},
		{name: "escaped role", body: `{"model":"m","messages":[{"role":"us\u0065r"}]}`, decodes: true},
		{name: "null in stop", body: `{"model":"m","messages":[{"role":"user"}],"stop":[null]}`, decodes: true},
		{name: "null tool", body: `{"model":"m","messages":[{"role":"user"}],"tools":[null]}`, decodes: true},
		{name: "many members", body: `{"model":"m","messages":[{"role":"user"}]` + manyMembers(40) + `}`, decodes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, ok := PeekChatRequest([]byte(tt.body))
			if ok != tt.peeks || p != tt.want {
				t.Errorf("PeekChatRequest(%s) = %+v, %v; want %+v, %v", tt.body, p, ok, tt.want, tt.peeks)
			}
			if err := decodeAndValidate([]byte(tt.body)); (err == nil) != tt.decodes {
				t.Errorf("DecodeChatRequest and Validate(%s) = %v; want success %v", tt.body, err, tt.decodes)
			}
			checkPeek(t, []byte(tt.body))
		})
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"x%d":%d`, i, i)
	}
	return b.String()
}

func decodeAndValidate(data []byte) error {
	r, err := DecodeChatRequest(data)
	if err != nil {
		return err
	}
	return r.Validate()
}

// checkPeek fails the test when PeekChatRequest vouches for data and the
// decoder disagrees: refuses it, or reads other values.
func checkPeek(t *testing.T, data []byte) {
	t.Helper()
	p, ok := PeekChatRequest(data)
	if !ok {
		return
	}
	r, err := DecodeChatRequest(data)
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		t.Fatalf("PeekChatRequest(%s) = ok, but decoding says: %v", data, err)
	}
	want := ChatPeek{Model: r.Model, Stream: r.Stream, IncludeUsage: r.StreamOptions != nil && r.StreamOptions.IncludeUsage}
	if p != want {
		t.Fatalf("PeekChatRequest(%s) = %+v; the decoder reads %+v", data, p, want)
	}
}

// TestPeekMutations changes the seeds one step at a time (each value
// replaced by values of other types, keys misspelt, escaped or repeated,
// members and elements dropped or doubled) and checks every variant the
// peek vouches for against the decoder.
func TestPeekMutations(t *testing.T) {
	t.Parallel()
	replacements := []string{`null`, `0`, `-1`, `1.5`, `1e2`, `1e400`, `""`, `"x"`, `"user"`, `true`, `false`,
		`[]`, `[null]`, `["a"]`, `[{}]`, `{}`, `{"type":"text"}`, `{"role":"user"}`}
	vouched, total := 0, 0
	for _, seed := range peekSeeds {
		root := parseNode(seed)
		for _, m := range mutants(root, replacements) {
			total++
			if _, ok := PeekChatRequest([]byte(m)); ok {
				vouched++
			}
			checkPeek(t, []byte(m))
		}
	}
	// The peek must still vouch for much: a check that refused everything
	// would pass the rest of this test.
	t.Logf("PeekChatRequest vouched for %d of %d variants", vouched, total)
	if vouched < total/10 {
		t.Errorf("PeekChatRequest vouched for %d of %d variants; want at least a tenth", vouched, total)
	}
}

// node is a JSON value kept with its member order and raw keys, so that
// variants can have duplicate, misspelt and escaped keys.
type node struct {
	lit  string   // a scalar's JSON; "" for objects and arrays
	arr  bool     // an array (else, with lit "", an object)
	keys []string // raw JSON keys of an object, quotes included
	kids []*node
}

// parseNode parses s, which must be valid JSON.
func parseNode(s string) *node {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var parse func() *node
	parse = func() *node {
		tok, err := dec.Token()
		if err != nil {
			panic(fmt.Sprintf("parseNode(%s): %v", s, err))
		}
		switch v := tok.(type) {
		case json.Delim:
			n := &node{arr: v == '['}
			for dec.More() {
				if !n.arr {
					k, _ := dec.Token()
					b, _ := json.Marshal(k)
					n.keys = append(n.keys, string(b))
				}
				n.kids = append(n.kids, parse())
			}
			_, _ = dec.Token()
			return n
		case nil:
			return &node{lit: "null"}
		default:
			b, _ := json.Marshal(v)
			return &node{lit: string(b)}
		}
	}
	return parse()
}

func (n *node) clone() *node {
	c := &node{lit: n.lit, arr: n.arr, keys: append([]string(nil), n.keys...)}
	for _, k := range n.kids {
		c.kids = append(c.kids, k.clone())
	}
	return c
}

func (n *node) encode(b *bytes.Buffer) {
	switch {
	case n.lit != "":
		b.WriteString(n.lit)
	case n.arr:
		b.WriteByte('[')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			k.encode(b)
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.keys[i])
			b.WriteByte(':')
			k.encode(b)
		}
		b.WriteByte('}')
	}
}

// nodes returns n and the nodes under it in pre-order.
func (n *node) nodes() []*node {
	out := []*node{n}
	for _, k := range n.kids {
		out = append(out, k.nodes()...)
	}
	return out
}

// mutants returns the one-step variants of root, encoded.
func mutants(root *node, replacements []string) []string {
	var out []string
	count := len(root.nodes())
	emit := func(c *node) {
		var b bytes.Buffer
		c.encode(&b)
		out = append(out, b.String())
	}
	for i := range count {
		for _, r := range replacements {
			c := root.clone()
			n := c.nodes()[i]
			*n = *parseNode(r)
			emit(c)
		}
		n := root.nodes()[i]
		for m := range n.kids {
			var ops []func(n *node)
			if !n.arr {
				key := n.keys[m]
				ops = append(ops,
					func(n *node) { n.keys[m] = strings.ToUpper(key[:2]) + key[2:] },
					func(n *node) { n.keys[m] = fmt.Sprintf(`"\u%04x%s`, key[1], key[2:]) },
					func(n *node) { n.keys[m] = `"model"` },
					func(n *node) { n.keys[m] = `"role"` },
				)
			}
			ops = append(ops,
				func(n *node) { // drop
					n.kids = append(n.kids[:m], n.kids[m+1:]...)
					if !n.arr {
						n.keys = append(n.keys[:m], n.keys[m+1:]...)
					}
				},
				func(n *node) { // double
					n.kids = append(n.kids[:m+1], n.kids[m:]...)
					n.kids[m+1] = n.kids[m].clone()
					if !n.arr {
						n.keys = append(n.keys[:m+1], n.keys[m:]...)
					}
				},
			)
			for _, op := range ops {
				c := root.clone()
				op(c.nodes()[i])
				emit(c)
			}
		}
	}
	return out
}

// FuzzPeekChatRequest checks that whatever PeekChatRequest vouches for,
// the decoder accepts, with the same model, stream and include_usage.
func FuzzPeekChatRequest(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","Role":"user"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user"}],"tool_choice":{"type":"function","function":{"NAME":"f"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPeek(t, data)
	})
}

// BenchmarkPeekChatRequest compares the peek with the full decode it
// stands in for, on the route benchmark's request.
func BenchmarkPeekChatRequest(b *testing.B) {
	body := []byte(peekSeeds[1])
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := PeekChatRequest(body); !ok {
				b.Fatal("not vouched for")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeAndValidate(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
