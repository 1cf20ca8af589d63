package anthropic

import "net/http"

// StatusOverloaded is the status Anthropic answers when it is overloaded,
// with an overloaded_error body.
const StatusOverloaded = 529

// ErrorBody is the body of an error response, and the data of an error
// event in a stream: {"type":"error","error":{"type":...,"message":...}}.
type ErrorBody struct {
	Type      string `json:"type"` // "error"
	Error     Error  `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// Error is the error object.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Error types.
const (
	ErrInvalidRequest  = "invalid_request_error"
	ErrAuthentication  = "authentication_error"
	ErrBilling         = "billing_error"
	ErrPermission      = "permission_error"
	ErrNotFound        = "not_found_error"
	ErrRequestTooLarge = "request_too_large"
	ErrRateLimit       = "rate_limit_error"
	ErrTimeout         = "timeout_error"
	ErrAPI             = "api_error"
	ErrOverloaded      = "overloaded_error"
)

// NewErrorBody returns the error body Anthropic would send with status.
func NewErrorBody(status int, message string) ErrorBody {
	return ErrorBody{Type: "error", Error: Error{Type: ErrorTypeForStatus(status), Message: message}}
}

// ErrorTypeForStatus returns the error type Anthropic uses for an HTTP
// status.
func ErrorTypeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return ErrInvalidRequest
	case http.StatusUnauthorized:
		return ErrAuthentication
	case http.StatusPaymentRequired:
		return ErrBilling
	case http.StatusForbidden:
		return ErrPermission
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusRequestEntityTooLarge:
		return ErrRequestTooLarge
	case http.StatusTooManyRequests:
		return ErrRateLimit
	case http.StatusGatewayTimeout:
		return ErrTimeout
	case StatusOverloaded:
		return ErrOverloaded
	}
	if status >= 500 {
		return ErrAPI
	}
	return ErrInvalidRequest
}

// StatusForErrorType returns the HTTP status Anthropic uses for an error
// type; 500 for an unknown one.
func StatusForErrorType(typ string) int {
	switch typ {
	case ErrInvalidRequest:
		return http.StatusBadRequest
	case ErrAuthentication:
		return http.StatusUnauthorized
	case ErrBilling:
		return http.StatusPaymentRequired
	case ErrPermission:
		return http.StatusForbidden
	case ErrNotFound:
		return http.StatusNotFound
	case ErrRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrRateLimit:
		return http.StatusTooManyRequests
	case ErrTimeout:
		return http.StatusGatewayTimeout
	case ErrOverloaded:
		return StatusOverloaded
	}
	return http.StatusInternalServerError
}
