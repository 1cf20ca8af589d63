package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Set returns a copy of the JSON object obj with its top-level member key
// set to value (raw JSON), or removed when value is nil. The other members
// keep their bytes and order; a new member goes last. obj must be a valid
// JSON object with no duplicate keys (message.Parse refuses those), so the
// first member named key is the only one.
//
// It lets the gateway rewrite one field of a message (a federated tool's
// name, a page cursor) without decoding and re-encoding the rest, which
// may be large and must reach the server as the client wrote it.
func Set(obj []byte, key string, value []byte) ([]byte, error) {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	open := i
	i++
	members := 0
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) {
			return nil, errors.New("unterminated JSON object")
		}
		if obj[i] == '}' {
			break
		}
		start := i // where the member (or its leading comma) begins
		if obj[i] == ',' {
			i = SkipSpace(obj, i+1)
		}
		end := SkipString(obj, i)
		k := obj[i:end]
		i = SkipSpace(obj, end)
		i = SkipSpace(obj, i+1) // the colon
		vstart := i
		vend := SkipValue(obj, i)
		if vend > len(obj) || vstart == vend {
			return nil, errors.New("malformed JSON object")
		}
		if keyIs(k, key) {
			out := make([]byte, 0, len(obj)+len(value))
			if value == nil {
				if members == 0 {
					// The first member: drop it and the comma after it.
					rest := SkipSpace(obj, vend)
					if rest < len(obj) && obj[rest] == ',' {
						rest++
					}
					out = append(out, obj[:open+1]...)
					return append(out, obj[rest:]...), nil
				}
				out = append(out, obj[:start]...)
				return append(out, obj[vend:]...), nil
			}
			out = append(out, obj[:vstart]...)
			out = append(out, value...)
			return append(out, obj[vend:]...), nil
		}
		members++
		i = vend
	}
	if value == nil {
		return obj, nil
	}
	out := make([]byte, 0, len(obj)+len(key)+len(value)+4)
	out = append(out, obj[:i]...)
	for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == '\n' || out[len(out)-1] == '\t' || out[len(out)-1] == '\r') {
		out = out[:len(out)-1]
	}
	if members > 0 {
		out = append(out, ',')
	}
	out = AppendString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, obj[i:]...), nil
}

// keyIs reports whether the quoted JSON string k is key. Keys with escapes
// are compared after unescaping.
func keyIs(k []byte, key string) bool {
	inner := k[1 : len(k)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == key
	}
	var s string
	if err := json.Unmarshal(k, &s); err != nil {
		return false
	}
	return s == key
}
