package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

func TestRequestView(t *testing.T) {
	sys := plugin.AIMessage{Role: "system", Text: "S"}
	usr := plugin.AIMessage{Role: "user", Text: "U"}
	tests := []struct {
		name    string
		api     string
		op      operation
		body    string
		prepend []plugin.AIMessage
		append  []plugin.AIMessage
		clamp   int64
		// want is the text view after the changes, want the body after.
		want     []plugin.AIMessage
		wantBody string
		wantMax  int64
	}{{
		name: "openai system joins the leading system run",
		api:  APIOpenAI, op: opChat,
		body:    `{"model":"m","messages":[{"role":"developer","content":"D"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}],"max_tokens":99}`,
		prepend: []plugin.AIMessage{sys, usr},
		append:  []plugin.AIMessage{{Role: "system", Text: "S2"}, {Role: "assistant", Text: "A"}},
		clamp:   50,
		want: []plugin.AIMessage{{Role: "system", Text: "S"}, {Role: "system", Text: "D"}, {Role: "system", Text: "S2"},
			{Role: "user", Text: "U"}, {Role: "user", Text: "a\nb"}, {Role: "assistant", Text: "A"}},
		wantBody: `{"model":"m","messages":[{"role":"system","content":"S"},{"role":"developer","content":"D"},{"role":"system","content":"S2"},{"role":"user","content":"U"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]},{"role":"assistant","content":"A"}],"max_tokens":50}`,
		wantMax:  50,
	}, {
		name: "openai without a limit gets max_tokens; tool calls count as text",
		api:  APIOpenAI, op: opChat,
		body:     `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"R"}]}`,
		clamp:    7,
		want:     []plugin.AIMessage{{Role: "assistant", Text: `{"x":1}`}, {Role: "tool", Text: "R"}},
		wantBody: `"max_tokens":7`,
		wantMax:  7,
	}, {
		name: "openai with both limits: a cap lowers the larger, never raises the smaller",
		api:  APIOpenAI, op: opChat,
		body:     `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_tokens":100,"max_completion_tokens":5000}`,
		clamp:    256,
		want:     []plugin.AIMessage{{Role: "user", Text: "a\nb"}},
		wantBody: `"max_tokens":100,"max_completion_tokens":256`,
		wantMax:  256,
	}, {
		name: "openai keeps max_completion_tokens",
		api:  APIOpenAI, op: opChat,
		body:     `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1000}`,
		clamp:    10,
		want:     []plugin.AIMessage{{Role: "user", Text: "hi"}},
		wantBody: `"max_completion_tokens":10}`,
		wantMax:  10,
	}, {
		name: "anthropic system prompt gains blocks",
		api:  APIAnthropic, op: opChat,
		body:     `{"model":"m","max_tokens":100,"system":"old","messages":[{"role":"user","content":[{"type":"text","text":"q"},{"type":"tool_result","tool_use_id":"t","content":"res"}]}]}`,
		prepend:  []plugin.AIMessage{sys},
		append:   []plugin.AIMessage{usr},
		want:     []plugin.AIMessage{{Role: "system", Text: "S\nold"}, {Role: "user", Text: "q\nres"}, {Role: "user", Text: "U"}},
		wantBody: `"system":[{"type":"text","text":"S"},{"type":"text","text":"old"}]`,
		wantMax:  100,
	}, {
		name: "responses: instructions and input items",
		api:  APIOpenAI, op: opResponses,
		body:     `{"model":"m","instructions":"I","input":"hi","max_output_tokens":500}`,
		prepend:  []plugin.AIMessage{sys, {Role: "system", Text: "S0"}, usr},
		append:   []plugin.AIMessage{{Role: "assistant", Text: "A"}},
		clamp:    64,
		want:     []plugin.AIMessage{{Role: "system", Text: "S\n\nS0\n\nI"}, {Role: "user", Text: "U"}, {Role: "user", Text: "hi"}, {Role: "assistant", Text: "A"}},
		wantBody: `"input":[{"role":"user","content":"U"},{"role":"user","content":"hi"},{"role":"assistant","content":"A"}],"max_output_tokens":64}`,
		wantMax:  64,
	}, {
		name: "embeddings inputs are user messages",
		api:  APIOpenAI, op: opEmbeddings,
		body: `{"model":"e","input":["one","two"]}`,
		want: []plugin.AIMessage{{Role: "user", Text: "one"}, {Role: "user", Text: "two"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, perr := decodeRequest(tt.api, tt.op, []byte(tt.body))
			if perr != nil {
				t.Fatal(perr)
			}
			if err := q.Prepend(tt.prepend...); err != nil {
				t.Fatal(err)
			}
			if err := q.Append(tt.append...); err != nil {
				t.Fatal(err)
			}
			if tt.clamp > 0 {
				q.SetMaxTokens(tt.clamp)
			}
			if d := cmp.Diff(tt.want, q.Messages()); d != "" {
				t.Errorf("Messages (-want +got):\n%s", d)
			}
			if got := string(q.Canonical()); !strings.Contains(got, tt.wantBody) {
				t.Errorf("Canonical = %s\nwant it to contain %s", got, tt.wantBody)
			}
			if got := q.MaxTokens(); got != tt.wantMax {
				t.Errorf("MaxTokens = %d; want %d", got, tt.wantMax)
			}
		})
	}
}

func TestRequestViewRefuses(t *testing.T) {
	q, _ := decodeRequest(APIOpenAI, opEmbeddings, []byte(`{"model":"e","input":"x"}`))
	if err := q.Append(plugin.AIMessage{Role: "user", Text: "x"}); err == nil {
		t.Error("Append to an embeddings request: no error")
	}
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if err := q.Append(plugin.AIMessage{Role: "tool", Text: "x"}); err == nil {
		t.Error("Append of a tool message: no error")
	}
	// Equal requests, equal keys, whatever their spacing and member order.
	a, _ := decodeRequest(APIOpenAI, opChat, []byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"zz":{"b":1, "a":2},"temperature":0}`))
	b, _ := decodeRequest(APIOpenAI, opChat, []byte(`{"temperature":0, "zz":{"b":1,"a":2},"messages":[{"content":"x","role":"user"}],"model":"m"}`))
	if string(a.Canonical()) != string(b.Canonical()) {
		t.Errorf("Canonical differs:\n%s\n%s", a.Canonical(), b.Canonical())
	}
}
