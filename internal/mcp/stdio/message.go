package stdio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// MCP methods the bridge looks into.
const (
	methodInitialize  = "initialize"
	methodInitialized = "notifications/initialized"
	methodCancelled   = "notifications/cancelled"
	methodProgress    = "notifications/progress"
	methodMessage     = "notifications/message"
)

// objectField returns the value of key in the JSON object obj, or nil if obj
// is not an object or has no such key. Keys match exactly, as MCP's own
// decoders (case-sensitive) would read them.
func objectField(obj json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return nil
	}
	return m[key]
}

// replaceField returns obj with the value of key replaced by val, and the
// value it had. If obj is not a JSON object or has no such key, it returns
// obj unchanged and ok false.
func replaceField(obj json.RawMessage, key string, val json.RawMessage) (out, old json.RawMessage, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil || m == nil {
		return obj, nil, false
	}
	old, ok = m[key]
	if !ok {
		return obj, nil, false
	}
	m[key] = val
	out, err := marshal(m)
	if err != nil {
		return obj, nil, false
	}
	return out, old, true
}

// swapProgressToken replaces params._meta.progressToken with token and
// returns the new params and the client's token (nil if there was none).
func swapProgressToken(params json.RawMessage, token json.RawMessage) (out, old json.RawMessage) {
	// Most requests carry no token; skip decoding them. A backslash may hide
	// the key behind escapes, so such params are always decoded.
	if !bytes.Contains(params, []byte("progressToken")) && bytes.IndexByte(params, '\\') < 0 {
		return params, nil
	}
	meta := objectField(params, "_meta")
	if meta == nil {
		return params, nil
	}
	meta, old, ok := replaceField(meta, "progressToken", token)
	if !ok {
		return params, nil
	}
	out, _, ok = replaceField(params, "_meta", meta)
	if !ok {
		return params, nil
	}
	return out, old
}

// idFromJSON reads a JSON-RPC id as DecodeMessage would.
func idFromJSON(raw json.RawMessage) (jsonrpc.ID, error) {
	if len(raw) == 0 {
		return jsonrpc.ID{}, errors.New("no id")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return jsonrpc.ID{}, err
	}
	id, err := jsonrpc.MakeID(v)
	if err == nil && !id.IsValid() {
		err = errors.New("null id")
	}
	return id, err
}

// idFromKey turns a map key made with ID.Raw back into an ID. Integer ids
// came from float64 (DecodeMessage reads numbers so), so converting back is
// exact.
func idFromKey(key any) jsonrpc.ID {
	if k, ok := key.(int64); ok {
		key = float64(k)
	}
	id, _ := jsonrpc.MakeID(key)
	return id
}

// bridgeID makes the id of a request the bridge forwards.
func bridgeID(n int64) jsonrpc.ID { return idFromKey(n) }

func errorResponse(id jsonrpc.ID, code int64, msg string) *jsonrpc.Response {
	return &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: code, Message: msg}}
}

func cancelNotification(bridgeID int64, reason string) *jsonrpc.Request {
	params, _ := marshal(map[string]any{"requestId": bridgeID, "reason": reason})
	return &jsonrpc.Request{Method: methodCancelled, Params: params}
}

// encodeLine encodes m as one line for a child's stdin. EncodeMessage
// compacts embedded raw JSON, so a pretty-printed client body cannot put a
// newline inside the frame.
func encodeLine(m jsonrpc.Message) ([]byte, error) {
	b, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// marshal is json.Marshal without HTML escaping, so that rewritten params
// keep their strings byte for byte.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// capabilityFor names the client capability a request of the server needs.
func capabilityFor(method string) string {
	switch method {
	case "sampling/createMessage":
		return "sampling"
	case "elicitation/create":
		return "elicitation"
	case "roots/list":
		return "roots"
	}
	return ""
}

// clientCapabilities lists the capabilities declared in initialize params.
func clientCapabilities(params json.RawMessage) map[string]bool {
	var p struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	_ = json.Unmarshal(params, &p)
	caps := make(map[string]bool, len(p.Capabilities))
	for k, v := range p.Capabilities {
		caps[k] = len(v) > 0 && string(v) != "null"
	}
	return caps
}

// acceptsEventStream reports whether Accept header values allow a
// text/event-stream answer. Only an explicit text/event-stream counts: a
// client sending just */* (curl) is better served with plain JSON.
func acceptsEventStream(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mediaType, params, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream") && !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

// zeroQuality reports whether media-type params hold q=0, which RFC 9110
// defines as "not acceptable".
func zeroQuality(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// splitLines is bufio.ScanLines, except that a line longer than max comes
// out as several tokens instead of stopping the scanner. For stderr, where
// a long line is just a long log message. The scanner's buffer must hold
// max+1 bytes, for a line of max bytes and its newline.
func splitLines(max int) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 && i <= max {
			return i + 1, bytes.TrimSuffix(data[:i], []byte("\r")), nil
		}
		if len(data) > max {
			return max, data[:max], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), bytes.TrimSuffix(data, []byte("\r")), nil
		}
		return 0, nil, nil
	}
}
