package message

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Message
		err  string
	}{
		{"tools call", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
			Message{Kind: Request, ID: json.RawMessage(`7`), Method: "tools/call", Name: "echo", Arguments: json.RawMessage(`{"text":"hi"}`)}, ""},
		{"string id and 2026 meta", `{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
			Message{Kind: Request, ID: json.RawMessage(`"a"`), Method: "tools/list", ProtocolVersion: "2026-07-28"}, ""},
		{"initialize", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}`,
			Message{Kind: Request, ID: json.RawMessage(`0`), Method: "initialize", ProtocolVersion: "2025-11-25"}, ""},
		{"resource read", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}`,
			Message{Kind: Request, ID: json.RawMessage(`1`), Method: "resources/read", Name: "file:///a"}, ""},
		{"notification", ` {"jsonrpc":"2.0","method":"notifications/initialized"}`,
			Message{Kind: Notification, Method: "notifications/initialized"}, ""},
		{"response", `{"jsonrpc":"2.0","id":3,"result":{}}`, Message{Kind: Response, ID: json.RawMessage(`3`), Result: json.RawMessage(`{}`)}, ""},
		{"error response without id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}`,
			Message{Kind: Response, Error: json.RawMessage(`{"code":-32700,"message":"x"}`)}, ""},

		{"empty", ``, Message{}, "empty body"},
		{"not json", `{"jsonrpc":`, Message{}, "invalid JSON-RPC message"},
		{"scalar", `42`, Message{}, "must be a JSON object"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, Message{}, "batches are not supported"},
		{"version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, Message{}, `"jsonrpc" must be "2.0"`},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}`, Message{}, `duplicate key "method"`},
		{"case variant", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, Message{}, `"Method"`},
		{"duplicate tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}`, Message{}, `duplicate key "name"`},
		{"name not string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, Message{}, "params.name must be a string"},
		{"null id request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, Message{}, "not null"},
		{"float id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, Message{}, "integer or a string"},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, Message{}, "string or a number"},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, Message{}, "must not carry"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, Message{}, "not both"},
		{"neither", `{"jsonrpc":"2.0","id":1}`, Message{}, `needs "method"`},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, Message{}, "must not be empty"},
		{"params scalar", `{"jsonrpc":"2.0","id":1,"method":"ping","params":3}`, Message{}, "object or an array"},
		{"meta scalar", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":1}}`, Message{}, "_meta\" must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Kind != tt.want.Kind || string(got.ID) != string(tt.want.ID) || got.Method != tt.want.Method ||
				got.Name != tt.want.Name || string(got.Arguments) != string(tt.want.Arguments) ||
				got.ProtocolVersion != tt.want.ProtocolVersion || string(got.Result) != string(tt.want.Result) ||
				string(got.Error) != string(tt.want.Error) {
				t.Fatalf("Parse = %+v; want %+v", got, tt.want)
			}
		})
	}
	if _, err := Parse([]byte(`[]`)); !errors.Is(err, ErrBatch) {
		t.Fatalf("Parse([]) = %v; want ErrBatch", err)
	}
}

func TestErrorResponse(t *testing.T) {
	got := string(ErrorResponse(json.RawMessage(`"x"`), CodeForbidden, `tool "rm" is "denied"`, json.RawMessage(`{"a":1}`)))
	want := `{"jsonrpc":"2.0","id":"x","error":{"code":-32003,"message":"tool \"rm\" is \"denied\"","data":{"a":1}}}`
	if got != want {
		t.Fatalf("ErrorResponse = %s; want %s", got, want)
	}
	if got := string(ErrorResponse(nil, CodeParseError, "bad", nil)); got != `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}` {
		t.Fatalf("ErrorResponse(nil id) = %s", got)
	}
	var v any
	if err := json.Unmarshal(ErrorResponse(nil, 1, "\x00\u2028\"", nil), &v); err != nil {
		t.Fatalf("ErrorResponse is not valid JSON: %v", err)
	}
}

func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"echo", "echo", true},
		{"=?base64?aMOpbGxv?=", "héllo", true},
		{"=?base64?!!?=", "", false},
		{"=?base64?abc", "=?base64?abc", true},
	}
	for _, tt := range tests {
		got, ok := DecodeHeaderValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEncodeHeaderValue(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"echo", "echo"},
		{"file:///a b.txt", "file:///a b.txt"},
		{"héllo", "=?base64?aMOpbGxv?="},
		{" lead", "=?base64?IGxlYWQ=?="},
		{"trail\t", "=?base64?dHJhaWwJ?="},
		{"a\nb", "=?base64?YQpi?="},
		{"=?base64?aGk=?=", "=?base64?PT9iYXNlNjQ/YUdrPT89?="}, // would decode to "hi"
	}
	for _, tt := range tests {
		got := EncodeHeaderValue(tt.in)
		if got != tt.want {
			t.Errorf("EncodeHeaderValue(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if back, ok := DecodeHeaderValue(got); !ok || back != tt.in {
			t.Errorf("DecodeHeaderValue(EncodeHeaderValue(%q)) = %q, %v", tt.in, back, ok)
		}
	}
}
