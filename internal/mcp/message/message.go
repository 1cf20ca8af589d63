// Package message reads the JSON-RPC envelope of an MCP message: the
// fields a gateway routes, limits, authorizes and logs on (kind, id,
// method, tool or resource name, protocol version), parsed once from the
// request body and never re-encoded.
//
// The parse is strict where leniency would let the gateway and the server
// read the same body differently: keys match exactly, a duplicate key is an
// error (encoding/json would let the last "method" win, while a server may
// read the first, so an ACL on tools/call could be bypassed by a second
// key), and the jsonrpc member must be "2.0". Members the gateway does not
// model are left alone; the body goes upstream byte for byte.
package message

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Kind is what a message is.
type Kind uint8

const (
	// Request has a method and an id and expects a response.
	Request Kind = iota + 1
	// Notification has a method and no id.
	Notification
	// Response has an id and a result or an error.
	Response
)

func (k Kind) String() string {
	switch k {
	case Request:
		return "request"
	case Notification:
		return "notification"
	case Response:
		return "response"
	}
	return "invalid"
}

// MetaProtocolVersion is the _meta key that carries the protocol version on
// every 2026-07-28 request (SEP-2575).
const MetaProtocolVersion = "io.modelcontextprotocol/protocolVersion"

// Message is one parsed JSON-RPC message. Raw slices alias the parsed body.
type Message struct {
	Kind   Kind
	ID     json.RawMessage // as sent (number or string); nil for a notification
	Method string
	Params json.RawMessage // nil when absent
	Result json.RawMessage // responses only
	Error  json.RawMessage // responses only

	// Name is params.name (tools/call, prompts/get) or params.uri
	// (resources/read, resources/subscribe, resources/unsubscribe): what
	// the 2026 Mcp-Name header carries and what tool ACLs and limits key on.
	Name string
	// Arguments is params.arguments of tools/call and prompts/get.
	Arguments json.RawMessage
	// ProtocolVersion is params._meta["io.modelcontextprotocol/protocolVersion"]
	// (2026-07-28 requests), or params.protocolVersion of an initialize.
	ProtocolVersion string
}

// ErrBatch is returned for a JSON array: a batch. 2025-03-26 allowed them;
// 2025-06-18 removed them and no SDK sends them since.
var ErrBatch = errors.New("JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message per request")

type envelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

type params struct {
	Name            json.RawMessage `json:"name"`
	URI             json.RawMessage `json:"uri"`
	Arguments       json.RawMessage `json:"arguments"`
	ProtocolVersion json.RawMessage `json:"protocolVersion"`
	Meta            json.RawMessage `json:"_meta"`
}

// Parse reads one JSON-RPC message. Its error says what is wrong in terms
// a client developer can act on; a batch gives ErrBatch.
func Parse(body []byte) (Message, error) {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return Message{}, errors.New("empty body: expected a JSON-RPC message")
	}
	switch b[0] {
	case '[':
		if !json.Valid(b) {
			return Message{}, errors.New("invalid JSON")
		}
		return Message{}, ErrBatch
	case '{':
	default:
		if !json.Valid(b) {
			return Message{}, errors.New("invalid JSON")
		}
		return Message{}, errors.New("a JSON-RPC message must be a JSON object")
	}
	var e envelope
	if _, err := jsonobj.Decode(b, &e); err != nil {
		return Message{}, fmt.Errorf("invalid JSON-RPC message: %w", err)
	}
	if e.JSONRPC != "2.0" {
		return Message{}, errors.New(`"jsonrpc" must be "2.0"`)
	}
	m := Message{Params: nullToNil(e.Params)}
	if id := nullToNil(e.ID); id != nil {
		if err := checkID(id); err != nil {
			return Message{}, err
		}
		m.ID = id
	}
	switch {
	case e.Method != nil:
		if e.Result != nil || e.Error != nil {
			return Message{}, errors.New(`a message with "method" must not carry "result" or "error"`)
		}
		if *e.Method == "" {
			return Message{}, errors.New(`"method" must not be empty`)
		}
		m.Method = *e.Method
		m.Kind = Notification
		if e.ID != nil {
			if m.ID == nil {
				return Message{}, errors.New(`"id" must be a string or a number, not null`)
			}
			m.Kind = Request
		}
		if err := m.readParams(); err != nil {
			return Message{}, err
		}
	case e.Result != nil || e.Error != nil:
		if e.Result != nil && e.Error != nil {
			return Message{}, errors.New(`a response carries "result" or "error", not both`)
		}
		m.Kind, m.Result, m.Error = Response, e.Result, e.Error
		if m.ID == nil && e.Error == nil {
			return Message{}, errors.New(`a response needs an "id"`)
		}
	default:
		return Message{}, errors.New(`a JSON-RPC message needs "method" (request or notification) or "result"/"error" (response)`)
	}
	return m, nil
}

func (m *Message) readParams() error {
	if m.Params == nil {
		return nil
	}
	if m.Params[0] != '{' {
		if m.Params[0] == '[' {
			return nil // by-position params: legal JSON-RPC, unused by MCP
		}
		return errors.New(`"params" must be an object or an array`)
	}
	var p params
	if _, err := jsonobj.Decode(m.Params, &p); err != nil {
		return fmt.Errorf("invalid params: %w", err)
	}
	switch m.Method {
	case "tools/call", "prompts/get":
		s, err := str(p.Name, "params.name")
		if err != nil {
			return err
		}
		m.Name = s
		m.Arguments = nullToNil(p.Arguments)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		s, err := str(p.URI, "params.uri")
		if err != nil {
			return err
		}
		m.Name = s
	case "initialize":
		s, err := str(p.ProtocolVersion, "params.protocolVersion")
		if err != nil {
			return err
		}
		m.ProtocolVersion = s
	}
	if meta := nullToNil(p.Meta); meta != nil {
		if meta[0] != '{' {
			return errors.New(`"params._meta" must be an object`)
		}
		v, err := jsonobj.Member(meta, MetaProtocolVersion)
		if err != nil {
			return fmt.Errorf("invalid params._meta: %w", err)
		}
		if v != nil {
			s, err := str(v, "params._meta."+MetaProtocolVersion)
			if err != nil {
				return err
			}
			m.ProtocolVersion = s
		}
	}
	return nil
}

func str(raw json.RawMessage, where string) (string, error) {
	if raw == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s must be a string", where)
	}
	return s, nil
}

func checkID(id json.RawMessage) error {
	switch c := id[0]; {
	case c == '"':
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		if bytes.ContainsAny(id, ".eE") {
			return errors.New(`"id" must be an integer or a string`)
		}
		return nil
	}
	return errors.New(`"id" must be a string or a number`)
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// DecodeHeaderValue undoes the =?base64?...?= sentinel the 2026 routing
// headers use for values that are not header-safe. ok is false for a
// malformed sentinel.
func DecodeHeaderValue(v string) (string, bool) {
	enc, ok := strings.CutPrefix(v, "=?base64?")
	if !ok {
		return v, true
	}
	enc, ok = strings.CutSuffix(enc, "?=")
	if !ok {
		return v, true
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// EncodeHeaderValue is DecodeHeaderValue's inverse: it returns v as is when
// it is header-safe, and in the =?base64?...?= sentinel form otherwise:
// when it has a character outside visible ASCII and space, has leading or
// trailing white space, or itself looks like a sentinel (it would be
// decoded). This is the rule of the 2026 spec's Mcp-Name and Mcp-Param-*
// headers (SEP-2243), as the go-sdk applies it.
func EncodeHeaderValue(v string) string {
	if v == "" {
		return v
	}
	safe := v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t' &&
		!(strings.HasPrefix(v, "=?base64?") && strings.HasSuffix(v, "?="))
	for i := 0; safe && i < len(v); i++ {
		safe = v[i] >= 0x20 && v[i] <= 0x7E
	}
	if safe {
		return v
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
}
