package jsonobj

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type sample struct {
	Model  string          `json:"model"`
	N      int             `json:"n,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"`
	Ignore string          `json:"-"`
	Plain  string
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  sample
		extra map[string]json.RawMessage
		err   string
	}{
		{name: "known only", in: `{"model":"m","n":2}`, want: sample{Model: "m", N: 2}},
		{name: "extras kept verbatim", in: `{"model":"m","x":{"a": [1, "}"]},"y":null}`, want: sample{Model: "m"},
			extra: map[string]json.RawMessage{"x": json.RawMessage(`{"a": [1, "}"]}`), "y": json.RawMessage(`null`)}},
		{name: "whitespace", in: " {\n \"model\" : \"m\" ,\t\"z\" : 1 } ", want: sample{Model: "m"}, extra: map[string]json.RawMessage{"z": json.RawMessage(`1`)}},
		{name: "escaped key", in: `{"mo\u0064el":"m"}`, want: sample{Model: "m"}},
		{name: "escaped quote in string", in: `{"model":"a\"b\\","q":"\\\""}`, want: sample{Model: `a"b\`}, extra: map[string]json.RawMessage{"q": json.RawMessage(`"\\\""`)}},
		{name: "untagged field by Go name", in: `{"Plain":"p"}`, want: sample{Plain: "p"}},
		{name: "dash tag is unknown", in: `{"Ignore":"x"}`, extra: map[string]json.RawMessage{"Ignore": json.RawMessage(`"x"`)}},
		{name: "duplicate key", in: `{"model":"a","model":"b"}`, err: `duplicate key "model"`},
		{name: "duplicate escaped key", in: `{"model":"a","\u006dodel":"b"}`, err: `duplicate key "model"`},
		{name: "duplicate extra", in: `{"x":1,"x":2}`, err: `duplicate key "x"`},
		{name: "case variant", in: `{"Model":"a"}`, err: `key "Model" must be spelled "model"`},
		{name: "lower-case variant", in: "{\"plain\":\"a\"}", err: `key "plain" must be spelled "Plain"`},
		{name: "null", in: `null`},
		{name: "syntax error", in: `{"model":`, err: "unexpected end of JSON input"},
		{name: "wrong type", in: `{"model":1}`, err: "cannot unmarshal number"},
		{name: "not an object", in: `[1]`, err: "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got sample
			extra, err := Decode([]byte(tt.in), &got)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode() error = %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.extra, extra); diff != "" {
				t.Errorf("extra (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeManyKeys(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"model":"m"`)
	for i := range 100 {
		b.WriteString(`,"k` + strings.Repeat("x", i) + `":1`)
	}
	var s sample
	extra, err := Decode([]byte(b.String()+`}`), &s)
	if err != nil || len(extra) != 100 {
		t.Fatalf("Decode() = %d extras, %v; want 100, nil", len(extra), err)
	}
	if _, err := Decode([]byte(b.String()+`,"kxxxxx":2}`), &s); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("Decode() with a late duplicate error = %v; want duplicate", err)
	}
}

func TestMarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		v     any
		extra map[string]json.RawMessage
		want  string
		err   bool
	}{
		{name: "no extras", v: sample{Model: "m"}, want: `{"model":"m","Plain":""}`},
		{name: "sorted extras", v: sample{Model: "m"}, extra: map[string]json.RawMessage{"z": json.RawMessage(`1`), "a": json.RawMessage(`[true]`)},
			want: `{"model":"m","Plain":"","a":[true],"z":1}`},
		{name: "empty object", v: struct{}{}, extra: map[string]json.RawMessage{"a": json.RawMessage(`1`)}, want: `{"a":1}`},
		{name: "extra shadowed by field", v: sample{Model: "m"}, extra: map[string]json.RawMessage{"model": json.RawMessage(`"x"`)}, want: `{"model":"m","Plain":""}`},
		{name: "invalid extra", v: struct{}{}, extra: map[string]json.RawMessage{"a": json.RawMessage(`{`)}, err: true},
		{name: "not an object", v: []int{1}, extra: map[string]json.RawMessage{"a": json.RawMessage(`1`)}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Marshal(tt.v, tt.extra)
			if (err != nil) != tt.err {
				t.Fatalf("Marshal() error = %v; want error %v", err, tt.err)
			}
			if !tt.err && string(got) != tt.want {
				t.Errorf("Marshal() = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "q\"b\\s", "\n\r\t\x00\x1f", "héllo ✓ 🎉", "\u2028\u2029", "bad\xffutf8", "<&>"} {
		got := AppendString(nil, s)
		want, _ := json.Marshal(s)
		// encoding/json escapes <, > and & for HTML; AppendString does not.
		wantS := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want))
		if string(got) != wantS {
			t.Errorf("AppendString(%q) = %s; want %s", s, got, wantS)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendString(%q) = %s, which does not decode: %v", s, got, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"model":"m","x":{"a":[1,"}"]}}`))
	f.Add([]byte(`{"mo\u0064el":"m","model":"n"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s sample
		extra, err := Decode(in, &s)
		if err != nil {
			return
		}
		out, err := Marshal(s, extra)
		if err != nil {
			t.Fatalf("Marshal after Decode(%q) error = %v", in, err)
		}
		var s2 sample
		extra2, err := Decode(out, &s2)
		if err != nil {
			t.Fatalf("Decode(Marshal(Decode(%q))) = %s error = %v", in, out, err)
		}
		if !cmp.Equal(s, s2) || len(extra) != len(extra2) {
			t.Fatalf("round trip of %q changed it: %s", in, out)
		}
	})
}

func TestMember(t *testing.T) {
	tests := []struct {
		data, key, want string
		err             bool
	}{
		{`{"a":1,"usage":{"x":[1,{"y":"}"}]},"b":2}`, "usage", `{"x":[1,{"y":"}"}]}`, false},
		{`{"a":{"usage":1}}`, "usage", ``, false}, // nested: not top level
		{`{"us\u0061ge":3}`, "usage", `3`, false},
		{` {"usage" : null } `, "usage", `null`, false},
		{`[{"usage":1}]`, "usage", ``, false},
		{`{"usage":1`, "usage", ``, true},
	}
	for _, tt := range tests {
		got, err := Member([]byte(tt.data), tt.key)
		if string(got) != tt.want || (err != nil) != tt.err {
			t.Errorf("Member(%s, %q) = %s, %v; want %s, error %v", tt.data, tt.key, got, err, tt.want, tt.err)
		}
	}
}
