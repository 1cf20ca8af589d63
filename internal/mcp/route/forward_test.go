package route

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/plugin"
)

// parsedOutcome is how inspect read a tool call's outcome before
// callOutcome: a full message.Parse. callOutcome must agree with it.
func parsedOutcome(data, id []byte) string {
	m, err := message.Parse(data)
	if err != nil || m.Kind != message.Response || !bytes.Equal(m.ID, id) {
		return ""
	}
	if m.Error != nil {
		return plugin.MCPError
	}
	if v, err := jsonobj.Member(m.Result, "isError"); err == nil && string(v) == "true" {
		return plugin.MCPToolError
	}
	return plugin.MCPOK
}

// outcomeOf runs inspect on a tools/call answer with request id 7.
func outcomeOf(data string) string {
	st := &state{msg: message.Message{Kind: message.Request, Method: "tools/call", ID: []byte("7")}}
	x := &plugin.Exchange{MCP: &plugin.MCP{}}
	(&Handler{}).inspect([]byte(data), st, x)
	return x.MCP.Outcome
}

func TestCallOutcome(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"ok", `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`, plugin.MCPOK},
		{"ok with spaces", " {\n \"jsonrpc\" : \"2.0\" , \"result\" : {\"content\":[]} , \"id\" : 7 }\n", plugin.MCPOK},
		{"tool error", `{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}`, plugin.MCPToolError},
		{"isError false", `{"jsonrpc":"2.0","id":7,"result":{"isError":false}}`, plugin.MCPOK},
		{"first isError counts", `{"jsonrpc":"2.0","id":7,"result":{"isError":false,"isError":true}}`, plugin.MCPOK},
		{"nested isError", `{"jsonrpc":"2.0","id":7,"result":{"content":[{"isError":true}]}}`, plugin.MCPOK},
		{"escaped isError key", `{"jsonrpc":"2.0","id":7,"result":{"is\u0045rror":true}}`, plugin.MCPToolError},
		{"result not an object", `{"jsonrpc":"2.0","id":7,"result":[1]}`, plugin.MCPOK},
		{"error", `{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad"}}`, plugin.MCPError},
		{"other id", `{"jsonrpc":"2.0","id":8,"result":{}}`, ""},
		{"string id", `{"jsonrpc":"2.0","id":"7","result":{}}`, ""},
		{"no id", `{"jsonrpc":"2.0","error":{"code":1,"message":"x"}}`, ""},
		{"not JSON", `{"jsonrpc":"2.0","id":7,"result":{`, ""},
		{"not an object", `[{"jsonrpc":"2.0","id":7,"result":{}}]`, ""},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`, ""},
		{"request", `{"jsonrpc":"2.0","id":7,"method":"ping"}`, ""},
		{"wrong version", `{"jsonrpc":"1.0","id":7,"result":{}}`, ""},
		{"escaped version", `{"jsonrpc":"2\u002e0","id":7,"result":{}}`, plugin.MCPOK},
		{"duplicate id", `{"jsonrpc":"2.0","id":7,"id":7,"result":{}}`, ""},
		{"case-variant key", `{"jsonrpc":"2.0","id":7,"Result":{"isError":true}}`, ""},
		{"result and error", `{"jsonrpc":"2.0","id":7,"result":{},"error":{"code":1,"message":"x"}}`, ""},
		{"null result", `{"jsonrpc":"2.0","id":7,"result":null}`, plugin.MCPOK},
		{"unknown member", `{"jsonrpc":"2.0","id":7,"result":{"isError":true},"x":1}`, plugin.MCPToolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ref := parsedOutcome([]byte(tt.data), []byte("7")); ref != tt.want {
				t.Fatalf("the case is wrong: message.Parse gives %q; want %q", ref, tt.want)
			}
			if got := outcomeOf(tt.data); got != tt.want {
				t.Errorf("inspect(%s) outcome = %q; want %q", tt.data, got, tt.want)
			}
		})
	}
}

// FuzzCallOutcome checks that callOutcome's scan and message.Parse never
// disagree on a tool call's outcome.
func FuzzCallOutcome(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"result":{"isError":true}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":"7","result":{}}`,
		`{"id":7,"jsonrpc":"2.0","result":{"is\u0045rror":true,"a":[{"b":"}"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := parsedOutcome(data, []byte("7"))
		if got := outcomeOf(string(data)); got != want {
			t.Fatalf("outcome of %q = %q; message.Parse says %q", data, got, want)
		}
	})
}

// TestFramerSplitReads frames a stream that arrives a byte at a time, so
// that every line end (CRLF split across reads, lone CR) meets a refill.
func TestFramerSplitReads(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		datas []string
	}{
		{"LF", "event: message\ndata: {\"a\":1}\n\n", []string{`{"a":1}`}},
		{"CRLF", "data: a\r\ndata: b\r\n\r\nid: 2\r\n\r\n", []string{"a\nb", ""}},
		{"lone CR", "data: a\rdata: b\r\rdata: c\n\n", []string{"a\nb", "c"}},
		{"long line", "data: " + strings.Repeat("x", 10000) + "\n\n", []string{strings.Repeat("x", 10000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				f := newFramer(r, 1<<20)
				var raws, datas []string
				for {
					raw, data, err := f.next()
					raws = append(raws, string(raw))
					if err != nil {
						if !errors.Is(err, io.EOF) {
							t.Fatalf("next: %v", err)
						}
						break
					}
					datas = append(datas, string(data))
				}
				f.release()
				if got := strings.Join(raws, ""); got != tt.in {
					t.Errorf("raw events = %q; want the stream %q", got, tt.in)
				}
				if strings.Join(datas, "|") != strings.Join(tt.datas, "|") {
					t.Errorf("data = %q; want %q", datas, tt.datas)
				}
			}
		})
	}
}
