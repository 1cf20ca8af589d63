package jsonobj

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name, obj, key, value, want string
		del                         bool
	}{
		{"replace", `{"a":1,"name":"x","b":2}`, "name", `"y"`, `{"a":1,"name":"y","b":2}`, false},
		{"replace first", `{"name":"x","b":2}`, "name", `{"k":[1]}`, `{"name":{"k":[1]},"b":2}`, false},
		{"add to empty", `{}`, "cursor", `"c"`, `{"cursor":"c"}`, false},
		{"add to spaced empty", ` { } `, "cursor", `"c"`, ` {"cursor":"c"} `, false},
		{"add last", `{"a":1}`, "cursor", `"c"`, `{"a":1,"cursor":"c"}`, false},
		{"add after spaces", "{\"a\": 1 \n}", "k", `2`, "{\"a\": 1,\"k\":2}", false},
		{"escaped key", `{"n\u0061me":"x"}`, "name", `"y"`, `{"n\u0061me":"y"}`, false},
		{"value with braces", `{"s":"}{,","name":"x"}`, "name", `"y"`, `{"s":"}{,","name":"y"}`, false},
		{"delete middle", `{"a":1,"cursor":"c","b":2}`, "cursor", "", `{"a":1,"b":2}`, true},
		{"delete first", `{"cursor":"c", "b":2}`, "cursor", "", `{ "b":2}`, true},
		{"delete only", `{"cursor":"c"}`, "cursor", "", `{}`, true},
		{"delete last", `{"a":1, "cursor":"c"}`, "cursor", "", `{"a":1}`, true},
		{"delete absent", `{"a":1}`, "cursor", "", `{"a":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v []byte
			if !tt.del {
				v = []byte(tt.value)
			}
			got, err := Set([]byte(tt.obj), tt.key, v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("Set = %s; want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("Set made invalid JSON: %s", got)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":`} {
		if _, err := Set([]byte(bad), "a", []byte("1")); err == nil {
			t.Errorf("Set(%q) succeeded; want an error", bad)
		}
	}
}

// FuzzSet checks that Set keeps a valid object valid and sets what it says.
func FuzzSet(f *testing.F) {
	f.Add(`{"a":1,"name":"x"}`, "name", `"y"`)
	f.Add(`{}`, "cursor", `"c"`)
	f.Add(`{"x":{"name":1}}`, "name", `null`)
	f.Fuzz(func(t *testing.T, obj, key, value string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(obj), &m) != nil || !json.Valid([]byte(value)) || !utf8.ValidString(key) {
			return
		}
		if _, err := Decode([]byte(obj), &struct{}{}); err != nil {
			return // duplicate keys: not Set's input
		}
		got, err := Set([]byte(obj), key, []byte(value))
		if err != nil {
			t.Fatalf("Set(%s, %q): %v", obj, key, err)
		}
		var after map[string]json.RawMessage
		if err := json.Unmarshal(got, &after); err != nil {
			t.Fatalf("Set(%s) = %s: invalid: %v", obj, got, err)
		}
		var want, have any
		_ = json.Unmarshal([]byte(value), &want)
		_ = json.Unmarshal(after[key], &have)
		wb, _ := json.Marshal(want)
		hb, _ := json.Marshal(have)
		if string(wb) != string(hb) {
			t.Fatalf("Set(%s, %q, %s) = %s", obj, key, value, got)
		}
	})
}
