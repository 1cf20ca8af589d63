package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// ErrorBody is the body of an error response, and of an error event in a
// stream: {"error":{"message":...,"type":...,"param":...,"code":...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is the error object. Empty Param and Code encode null; a numeric
// code (some compatible providers send one) decodes as its digits.
type Error struct {
	Message string
	Type    string
	Param   string
	Code    string
}

// Error types OpenAI uses.
const (
	ErrInvalidRequest = "invalid_request_error"
	ErrAuthentication = "authentication_error"
	ErrPermission     = "permission_error"
	ErrNotFound       = "not_found_error"
	ErrRateLimit      = "rate_limit_error"
	ErrServer         = "server_error"
)

// ErrorTypeForStatus returns the error type OpenAI uses for an HTTP status.
func ErrorTypeForStatus(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return ErrAuthentication
	case http.StatusForbidden:
		return ErrPermission
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusTooManyRequests:
		return ErrRateLimit
	}
	if status >= 500 {
		return ErrServer
	}
	return ErrInvalidRequest
}

func (e Error) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"message":`), jsonobj.AppendString(nil, e.Message)...)
	b = append(b, `,"type":`...)
	b = jsonobj.AppendString(b, e.Type)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.Code)
	return append(b, '}'), nil
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonobj.AppendString(b, s)
}

func (e *Error) UnmarshalJSON(b []byte) error {
	var w struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Error{Message: w.Message, Type: w.Type, Param: scalar(w.Param), Code: scalar(w.Code)}
	return nil
}

// scalar returns a JSON string's value or a number's digits; "" otherwise.
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}
