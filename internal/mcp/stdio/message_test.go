package stdio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSwapProgressToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		params    string
		wantOut   string
		wantToken string // "" means none found
	}{
		{"none", `{"name":"echo"}`, `{"name":"echo"}`, ""},
		{"null params", `null`, `null`, ""},
		{"no params", ``, ``, ""},
		{"meta without token", `{"_meta":{"x":1}}`, `{"_meta":{"x":1}}`, ""},
		{"string token", `{"name":"n","_meta":{"progressToken":"abc","x":1}}`, `{"_meta":{"progressToken":7,"x":1},"name":"n"}`, `"abc"`},
		{"number token", `{"_meta":{"progressToken":12}}`, `{"_meta":{"progressToken":7}}`, `12`},
		{"escaped key", `{"_meta":{"progress\u0054oken":"e"}}`, `{"_meta":{"progressToken":7}}`, `"e"`},
		{"token not in _meta", `{"progressToken":"top"}`, `{"progressToken":"top"}`, ""},
		{"_meta not an object", `{"_meta":[1],"progressToken":1}`, `{"_meta":[1],"progressToken":1}`, ""},
		{"html kept", `{"a":"<&>","_meta":{"progressToken":1}}`, `{"_meta":{"progressToken":7},"a":"<&>"}`, `1`},
		{"not JSON", `{"_meta":{"progressToken":`, `{"_meta":{"progressToken":`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, old := swapProgressToken(json.RawMessage(tt.params), json.RawMessage("7"))
			if string(out) != tt.wantOut || string(old) != tt.wantToken {
				t.Errorf("swapProgressToken(%s) = %s, %s; want %s, %s", tt.params, out, old, tt.wantOut, tt.wantToken)
			}
		})
	}
}

func TestAcceptsEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"application/json, text/event-stream"}, true},
		{[]string{"application/json", "Text/Event-Stream; charset=utf-8"}, true},
		{[]string{"text/event-stream;q=0"}, false},
		{[]string{"text/event-stream; q=0.000"}, false},
		{[]string{"text/event-stream; q=0.5"}, true},
		{[]string{"text/event-stream; q=oops"}, true},
	}
	for _, tt := range tests {
		if got := acceptsEventStream(tt.accept); got != tt.want {
			t.Errorf("acceptsEventStream(%q) = %v; want %v", tt.accept, got, tt.want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\nb\r\nc", []string{"a", "b", "c"}},
		{"abcdefghij\nxy\n", []string{"abcd", "efgh", "ij", "xy"}},
		{"abcd\nx", []string{"abcd", "x"}},
		{"abcde\n", []string{"abcd", "e"}},
	}
	for _, tt := range tests {
		sc := bufio.NewScanner(strings.NewReader(tt.in))
		sc.Buffer(make([]byte, 0, 2), 5)
		sc.Split(splitLines(4))
		var got []string
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Errorf("scanning %q: %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitLines(4) on %q (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestChildEnv(t *testing.T) {
	t.Parallel()
	environ := []string{"PATH=/bin", "HOME=/root", "AWS_SECRET_ACCESS_KEY=s3cr3t", "LC_ALL=C", "LANG=en", "OPENAI_API_KEY=sk", "weird"}
	got := childEnv(environ, map[string]string{"API_TOKEN": "t", "PATH": "/opt/bin"})
	want := []string{"API_TOKEN=t", "HOME=/root", "LANG=en", "LC_ALL=C", "PATH=/opt/bin"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("childEnv (-want +got):\n%s", diff)
	}
}

func TestClientCapabilities(t *testing.T) {
	t.Parallel()
	got := clientCapabilities(json.RawMessage(`{"capabilities":{"sampling":{},"roots":{"listChanged":true},"elicitation":null}}`))
	want := map[string]bool{"sampling": true, "roots": true, "elicitation": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clientCapabilities (-want +got):\n%s", diff)
	}
}

// FuzzSwapProgressToken checks the params rewriting used on every forwarded
// request: it never panics, always yields valid JSON when given valid JSON,
// and swapping back restores the client's token.
func FuzzSwapProgressToken(f *testing.F) {
	for _, s := range []string{
		`{"_meta":{"progressToken":"abc"}}`,
		`{"name":"x","_meta":{"progressToken":1,"other":[1,2]},"arguments":{"a":"<b>"}}`,
		`{"_meta":{"progress\u0054oken":"e"}}`,
		`{"_meta":null}`,
		`[1,2]`,
		`"str"`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		out, old := swapProgressToken(params, json.RawMessage(`9001`))
		if old == nil {
			if !bytes.Equal(out, params) {
				t.Fatalf("no token found but params changed: %q -> %q", params, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of %q: %q", params, out)
		}
		if got := objectField(objectField(out, "_meta"), "progressToken"); string(got) != "9001" {
			t.Fatalf("token after swap = %q", got)
		}
		back, mine := swapProgressToken(out, old)
		if string(mine) != "9001" {
			t.Fatalf("swapping back found %q", mine)
		}
		var a, b any
		if json.Unmarshal(params, &b) != nil {
			return // valid JSON that does not fit Go's types (1e400)
		}
		if json.Unmarshal(back, &a) != nil {
			t.Fatalf("round trip of %q is not JSON: %q", params, back)
		}
		// Duplicate keys collapse to the last one in both decodings, so
		// the values must be equal.
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed %q into %q", params, back)
		}
	})
}

func FuzzAcceptsEventStream(f *testing.F) {
	f.Add("application/json, text/event-stream;q=0.9")
	f.Add("text/event-stream;q=0")
	f.Fuzz(func(t *testing.T, accept string) {
		got := acceptsEventStream([]string{accept})
		if got && !strings.Contains(strings.ToLower(accept), "text/event-stream") {
			t.Fatalf("acceptsEventStream(%q) = true", accept)
		}
	})
}
