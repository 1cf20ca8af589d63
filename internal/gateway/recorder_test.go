package gateway

import (
	"net/http"
	"testing"
	"time"
)

type bothDeadlines struct{ discardWriter }

func (*bothDeadlines) SetReadDeadline(time.Time) error  { return nil }
func (*bothDeadlines) SetWriteDeadline(time.Time) error { return nil }

type writeDeadlineOnly struct{ discardWriter }

func (*writeDeadlineOnly) SetWriteDeadline(time.Time) error { return nil }

type unwrapper struct {
	discardWriter
	inner http.ResponseWriter
}

func (u *unwrapper) Unwrap() http.ResponseWriter { return u.inner }

// TestDeadlinesOf: the setters are found as http.ResponseController finds
// them: on the writer itself or down its Unwrap chain, each separately.
func TestDeadlinesOf(t *testing.T) {
	t.Parallel()
	both := &bothDeadlines{}
	wonly := &writeDeadlineOnly{}
	wonTop := &writeDeadlineOnlyWrapper{inner: both}
	for _, tc := range []struct {
		name   string
		w      http.ResponseWriter
		wd, rd any // want; nil for none
	}{
		{"none", &discardWriter{}, nil, nil},
		{"on the writer", both, both, both},
		{"through Unwrap", &unwrapper{inner: &unwrapper{inner: both}}, both, both},
		{"split across the chain", &unwrapper{inner: wonly}, wonly, nil},
		{"write on top, read below", wonTop, wonTop, both}, // the outermost setter wins
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wd, rd := deadlinesOf(tc.w)
			if any(wd) != tc.wd {
				t.Errorf("write deadline setter = %T %p; want %T %p", wd, wd, tc.wd, tc.wd)
			}
			if any(rd) != tc.rd {
				t.Errorf("read deadline setter = %T %p; want %T %p", rd, rd, tc.rd, tc.rd)
			}
		})
	}
}

type writeDeadlineOnlyWrapper struct {
	writeDeadlineOnly
	inner http.ResponseWriter
}

func (u *writeDeadlineOnlyWrapper) Unwrap() http.ResponseWriter { return u.inner }

// TestProgressDeadline: the first read or write sets the deadline; one that
// would move it by less than 1/64 of the timeout does not.
func TestProgressDeadline(t *testing.T) {
	t.Parallel()
	const idle = time.Hour
	for _, tc := range []struct {
		name   string
		lastAt time.Duration // the deadline set before, relative to now+idle; 0: none yet
		want   bool
	}{
		{"first", 0, true},
		{"just set", -time.Second, false},
		{"1/128 of the timeout ago", -idle / 128, false},
		{"1/32 of the timeout ago", -idle / 32, true},
		{"whole timeout ago", -idle, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d progressDeadline
			if tc.lastAt != 0 {
				d.at = time.Now().Add(idle + tc.lastAt)
			}
			before := d.at
			at, ok := d.next(idle)
			if ok != tc.want {
				t.Fatalf("next() set = %v; want %v", ok, tc.want)
			}
			if ok && (at != d.at || !at.After(before) || time.Until(at) > idle) {
				t.Errorf("next() = %v (remembered %v, before %v); want a deadline at most %v ahead", at, d.at, before, idle)
			}
			if !ok && d.at != before {
				t.Errorf("next() moved the remembered deadline without setting it")
			}
		})
	}
}

// TestIsForwardingHeader: the switch used for small headers names exactly
// forwardingHeaders, which the delete loop for large ones uses.
func TestIsForwardingHeader(t *testing.T) {
	t.Parallel()
	for _, k := range forwardingHeaders {
		if !isForwardingHeader(k) {
			t.Errorf("isForwardingHeader(%q) = false; it is in forwardingHeaders", k)
		}
	}
	for _, k := range []string{"X-Forwarded", "x-forwarded-for", "Host", "X-Real-IP"} {
		if isForwardingHeader(k) {
			t.Errorf("isForwardingHeader(%q) = true", k)
		}
	}
}
