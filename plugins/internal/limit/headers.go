package limit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-
// headers (draft 11, May 2026): Structured Field Lists whose items are the
// policy name as an sf-string with parameters.
//
//	RateLimit-Policy: "limit-count";q=100;w=60
//	RateLimit: "limit-count";r=42;t=17
//
// q is the quota, w the window in seconds, qu the quota unit when it is not
// requests; r is the quota remaining and t the seconds until the window
// resets. Several limit plugins on one route each add their item (a List may
// be split over several field lines).

// Header names, in the canonical form of net/http's header maps so that
// they can index them directly (on the wire case does not matter).
const (
	HeaderPolicy     = "Ratelimit-Policy"
	HeaderRateLimit  = "Ratelimit"
	HeaderRetryAfter = "Retry-After"
)

// Policy returns a RateLimit-Policy item. window 0 omits w; unit "" omits
// qu (the default unit, requests).
func Policy(name string, quota int64, window time.Duration, unit string) string {
	var b strings.Builder
	b.WriteString(sfString(name))
	b.WriteString(";q=")
	b.WriteString(strconv.FormatInt(quota, 10))
	if unit != "" {
		b.WriteString(";qu=")
		b.WriteString(sfString(unit))
	}
	if window > 0 {
		b.WriteString(";w=")
		b.WriteString(strconv.FormatInt(Seconds(window), 10))
	}
	return b.String()
}

// RateLimit returns a RateLimit item. reset < 0 omits t.
func RateLimit(name string, remaining int64, reset time.Duration) string {
	return NewItem(name).Format(remaining, reset)
}

// Item is the start of a policy's RateLimit items, `"name";r=`, computed
// once so that each response costs one allocation.
type Item string

// NewItem returns the item start of the policy name.
func NewItem(name string) Item { return Item(sfString(name) + ";r=") }

// Format returns the item with remaining and, unless reset < 0, t.
func (it Item) Format(remaining int64, reset time.Duration) string {
	var buf [96]byte
	b := append(buf[:0], it...)
	b = strconv.AppendInt(b, max(remaining, 0), 10)
	if reset >= 0 {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, Seconds(reset), 10)
	}
	return string(b)
}

// AddFields adds the policy and RateLimit items to h (a response's header
// map). policy is a one-item slice made once by the plugin: it is shared by
// every response, which is safe because its capacity is 1, so an append
// to it (a second limit plugin) copies rather than writes into it.
func AddFields(h http.Header, policy []string, item string) {
	if prev := h[HeaderPolicy]; len(prev) == 0 {
		h[HeaderPolicy] = policy[:1:1]
	} else {
		h[HeaderPolicy] = append(prev, policy[0])
	}
	h[HeaderRateLimit] = append(h[HeaderRateLimit], item)
}

// Seconds rounds d up to whole seconds, as Retry-After and the RateLimit
// fields count (rounding down would invite a retry that fails).
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// RetryAfter returns the Retry-After value for d: whole seconds rounded up,
// and at least 1, since a refused client should not retry at once.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(Seconds(d), 1), 10)
}

// sfString quotes s as a Structured Field sf-string (RFC 9651 3.3.3);
// names here are fixed ASCII, but quotes and backslashes are escaped and
// anything outside printable ASCII dropped, to stay valid whatever is passed.
func sfString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Rejected returns the headers of a rejected request: Retry-After, and the
// policy and its RateLimit item with r=0 and t the wait.
func Rejected(policy, name string, retry time.Duration) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderRetryAfter, RetryAfter(retry))
	h.Set(HeaderPolicy, policy)
	h.Set(HeaderRateLimit, RateLimit(name, 0, time.Duration(max(Seconds(retry), 1))*time.Second))
	return h
}
