package limit

import (
	"net/http"

	"github.com/sluicegw/sluice/plugin"
)

// Error codes of the limit plugins.
const (
	CodeRateLimited = "rate_limited"
	CodeUnavailable = "limit_unavailable"
)

// Reject returns the error of a request over its limit: status and msg
// are the plugin's rejected_code and rejected_msg; h holds Retry-After and
// the RateLimit fields.
func Reject(status int, msg string, h http.Header) *plugin.Error {
	return &plugin.Error{Status: status, Code: CodeRateLimited, Public: msg, Header: h}
}

// Unavailable returns the error of a request refused because Redis failed
// and on_redis_error is deny: 503 with Retry-After 1, the Redis error going
// to the log only: the backend logs it once per interval, so the gateway
// is told not to log every request.
func Unavailable(err error) *plugin.Error {
	h := make(http.Header, 1)
	h.Set(HeaderRetryAfter, "1")
	return &plugin.Error{
		Status: http.StatusServiceUnavailable,
		Code:   CodeUnavailable,
		Public: "rate limiting is unavailable, try again shortly",
		Header: h,
		Err:    err,
		Logged: true,
	}
}
