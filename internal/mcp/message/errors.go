package message

import (
	"encoding/json"
	"strconv"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// JSON-RPC and MCP error codes the gateway sends.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// CodeHeaderMismatch: a 2026 routing header disagrees with the body.
	CodeHeaderMismatch = -32020
	// CodeUnsupportedProtocolVersion: the request's version is not served.
	CodeUnsupportedProtocolVersion = -32022
	// Sluice's own, in the implementation-defined server range
	// (-32000..-32099) that MCP leaves free.
	CodeForbidden   = -32003 // a gateway policy (tool ACL) refused the call
	CodeRateLimited = -32029 // a gateway limit refused the call
	CodeUnavailable = -32050 // no healthy upstream could take the call
)

// ErrorResponse encodes a JSON-RPC error response to the request id (nil
// for an error before the id was known: it becomes null). data, when not
// nil, must be valid JSON.
func ErrorResponse(id json.RawMessage, code int, msg string, data json.RawMessage) []byte {
	b := make([]byte, 0, 96+len(msg)+len(data))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	if id == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = jsonobj.AppendString(b, msg)
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, "}}"...)
}
