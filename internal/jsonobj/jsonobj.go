// Package jsonobj decodes JSON objects the way Sluice's wire types (AI and MCP) need:
// keys match exactly, duplicates are rejected, and members the Go type does
// not model are kept so a request can be re-encoded without losing them.
//
// encoding/json matches keys case-insensitively and lets the last of two
// duplicate keys win. A gateway that decides on "model" while the provider
// reads "Model", or reads the first of two "model" keys, disagrees with the
// provider about the same body (STYLE.md, pitfall 9), so Decode refuses both.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Decode unmarshals the JSON object data into v, a pointer to a struct
// (usually a method-less copy of the caller's type, to avoid recursing into
// its UnmarshalJSON). On top of json.Unmarshal it rejects a duplicate key
// and a key that equals one of v's fields only when case is ignored, and it
// returns the members whose keys are not fields of v, copied; nil if none.
// JSON null leaves v alone and returns nil, as json.Unmarshal does.
func Decode(data []byte, v any) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	fs := fieldsOf(reflect.TypeOf(v).Elem())
	var extra map[string]json.RawMessage
	var seen [][]byte
	var seenMap map[string]struct{}
	err := eachMember(data, func(key, value []byte) error {
		if len(seen) < 32 {
			for _, k := range seen {
				if bytes.Equal(k, key) {
					return fmt.Errorf("duplicate key %q", key)
				}
			}
			seen = append(seen, key)
		} else {
			if seenMap == nil {
				seenMap = make(map[string]struct{}, 64)
				for _, k := range seen {
					seenMap[string(k)] = struct{}{}
				}
			}
			if _, dup := seenMap[string(key)]; dup {
				return fmt.Errorf("duplicate key %q", key)
			}
			seenMap[string(key)] = struct{}{}
		}
		if _, ok := fs.exact[string(key)]; ok {
			return nil
		}
		for _, name := range fs.names {
			if equalFold(key, name) {
				return fmt.Errorf("key %q must be spelled %q (keys are case-sensitive)", key, name)
			}
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[string(key)] = bytes.Clone(value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return extra, nil
}

// equalFold reports whether key and name are equal under Unicode case
// folding, as encoding/json's own matching would consider them.
func equalFold(key []byte, name string) bool {
	if !utf8.Valid(key) {
		return false
	}
	return strings.EqualFold(string(key), name)
}

// Marshal returns the JSON encoding of v (json.Marshal) with the members of
// extra added after v's own, in key order. v must encode as an object; keys
// of extra that v already encodes are skipped.
func Marshal(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	return AppendMembers(b, extra)
}

// AppendMembers adds the members of extra, in key order, to obj, the
// encoding of a JSON object. Keys obj already has are skipped.
func AppendMembers(obj []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("jsonobj: not an object: %.20q", obj)
	}
	var have map[string]struct{}
	if err := eachMember(obj, func(key, _ []byte) error {
		if _, ok := extra[string(key)]; ok {
			if have == nil {
				have = make(map[string]struct{})
			}
			have[string(key)] = struct{}{}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, ok := have[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := obj[:len(obj)-1]
	empty := len(bytes.TrimSpace(out[1:])) == 0
	for _, k := range keys {
		if !json.Valid(extra[k]) {
			return nil, fmt.Errorf("jsonobj: member %q is not valid JSON", k)
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		out = AppendString(out, k)
		out = append(out, ':')
		out = append(out, extra[k]...)
	}
	return append(out, '}'), nil
}

// fields is what Decode needs to know about a struct type.
type fields struct {
	exact map[string]struct{}
	names []string
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	f := &fields{exact: make(map[string]struct{})}
	if t.Kind() == reflect.Struct {
		collect(t, f)
	}
	fieldCache.Store(t, f)
	return f
}

func collect(t reflect.Type, f *fields) {
	for sf := range t.Fields() {
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collect(ft, f)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f.exact[name] = struct{}{}
		f.names = append(f.names, name)
	}
}

// eachMember calls fn with the key (unescaped) and raw value of each member
// of the JSON object data, in order. data must be valid JSON, which
// json.Unmarshal has checked; anything but an object calls fn never.
func eachMember(data []byte, fn func(key, value []byte) error) error {
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil
	}
	i++
	for {
		i = SkipSpace(data, i)
		if i >= len(data) || data[i] == '}' {
			return nil
		}
		if data[i] == ',' {
			i = SkipSpace(data, i+1)
		}
		end := SkipString(data, i)
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(data[i:end], &s); err != nil {
				return err
			}
			key = []byte(s)
		} else if !utf8.Valid(key) {
			// encoding/json decodes invalid UTF-8 as U+FFFD; so do keys.
			key = bytes.ToValidUTF8(key, []byte("\uFFFD"))
		}
		i = SkipSpace(data, end)
		i = SkipSpace(data, i+1) // the colon
		vend := SkipValue(data, i)
		if err := fn(key, data[i:vend]); err != nil {
			return err
		}
		i = vend
	}
}

// SkipSpace, SkipString and SkipValue scan JSON that has been checked
// valid (json.Valid): each returns the index just past what starts at
// data[i]. They let a caller read a few members without a decode.

// SkipSpace returns the index of the first non-space byte at or after i.
func SkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipString returns the index just past the string starting at data[i].
func SkipString(data []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data)
		}
		i += j
		n := 0 // backslashes right before the quote
		for k := i - 1; k >= 0 && data[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// SkipValue returns the index just past the value starting at data[i].
func SkipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return SkipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = SkipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

const hex = "0123456789abcdef"

// AppendString appends s to b as a JSON string, escaping as encoding/json
// does (HTML escaping aside): quotes, backslashes, control characters, the
// line separators U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// errFound stops eachMember once Member has its value.
var errFound = errors.New("found")

// Member returns the raw value of the top-level member key of the JSON
// object data, or nil when there is none. It checks that data is valid
// JSON, then scans only the top level: reading one member (a provider
// answer's usage) costs a validation pass, not a decode of everything.
func Member(data []byte, key string) (json.RawMessage, error) {
	if !json.Valid(data) {
		return nil, errors.New("invalid JSON")
	}
	var out json.RawMessage
	err := eachMember(data, func(k, v []byte) error {
		if string(k) == key {
			out = v
			return errFound
		}
		return nil
	})
	if err != nil && err != errFound {
		return nil, err
	}
	return out, nil
}
