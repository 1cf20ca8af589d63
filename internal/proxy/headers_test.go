package proxy

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveHopHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "standard hop headers",
			in: http.Header{
				"Connection":          {"keep-alive"},
				"Proxy-Connection":    {"keep-alive"},
				"Keep-Alive":          {"timeout=5"},
				"Proxy-Authenticate":  {"Basic"},
				"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
				"Te":                  {"trailers"},
				"Trailer":             {"X-Checksum"},
				"Transfer-Encoding":   {"chunked"},
				"Upgrade":             {"websocket"},
				"Authorization":       {"Bearer t"},
				"Content-Type":        {"application/json"},
			},
			want: http.Header{
				"Authorization": {"Bearer t"},
				"Content-Type":  {"application/json"},
			},
		},
		{
			name: "tokens named in Connection",
			in: http.Header{
				"Connection": {"X-Foo, X-Bar"},
				"X-Foo":      {"1"},
				"X-Bar":      {"2"},
				"X-Baz":      {"3"},
			},
			want: http.Header{"X-Baz": {"3"}},
		},
		{
			name: "Connection tokens are case-insensitive",
			in: http.Header{
				"Connection": {"x-foo,X-BAR"},
				"X-Foo":      {"1"},
				"X-Bar":      {"2"},
			},
			want: http.Header{},
		},
		{
			name: "several Connection values",
			in: http.Header{
				"Connection": {"keep-alive", "X-A", "x-b, X-C"},
				"X-A":        {"1"},
				"X-B":        {"2"},
				"X-C":        {"3"},
				"X-D":        {"4"},
			},
			want: http.Header{"X-D": {"4"}},
		},
		{
			name: "empty elements and whitespace",
			in: http.Header{
				"Connection": {" , ,\tX-A ,, ", ""},
				"X-A":        {"1"},
				"X-B":        {"2"},
			},
			want: http.Header{"X-B": {"2"}},
		},
		{
			// RFC 9110 7.6.1: whatever Connection names is hop-by-hop for this hop.
			name: "end-to-end header named in Connection",
			in: http.Header{
				"Connection":    {"Cookie"},
				"Cookie":        {"a=b"},
				"Authorization": {"x"},
			},
			want: http.Header{"Authorization": {"x"}},
		},
		{
			name: "nothing to remove",
			in:   http.Header{"Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.in.Clone()
			removeHopHeaders(h)
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("removeHopHeaders(%v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestUpgradeType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{"lowercase token", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{"token among others", http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"h2c"}}, "h2c"},
		{"token in a second value", http.Header{"Connection": {"keep-alive", "UPGRADE"}, "Upgrade": {"websocket"}}, "websocket"},
		{"no Connection", http.Header{"Upgrade": {"websocket"}}, ""},
		{"Connection without upgrade", http.Header{"Connection": {"keep-alive"}, "Upgrade": {"websocket"}}, ""},
		{"similar token", http.Header{"Connection": {"upgraded"}, "Upgrade": {"websocket"}}, ""},
		{"no Upgrade", http.Header{"Connection": {"Upgrade"}}, ""},
		{"empty", http.Header{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := upgradeType(tt.h); got != tt.want {
				t.Errorf("upgradeType(%v) = %q; want %q", tt.h, got, tt.want)
			}
		})
	}
}

func TestHasToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		token  string
		want   bool
	}{
		{"single", []string{"trailers"}, "trailers", true},
		{"case-insensitive", []string{"Trailers"}, "trailers", true},
		{"in a list", []string{"gzip, trailers, deflate"}, "trailers", true},
		{"spaces and tabs", []string{" gzip ,\ttrailers\t"}, "trailers", true},
		{"second value", []string{"gzip", "deflate, trailers"}, "trailers", true},
		{"absent", []string{"gzip, deflate"}, "trailers", false},
		{"prefix is not a match", []string{"trailersx"}, "trailers", false},
		{"substring is not a match", []string{"no-trailers"}, "trailers", false},
		{"nil", nil, "trailers", false},
		{"empty value", []string{""}, "trailers", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hasToken(tt.values, tt.token); got != tt.want {
				t.Errorf("hasToken(%q, %q) = %v; want %v", tt.values, tt.token, got, tt.want)
			}
		})
	}
}

func TestSetForwarded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		remoteAddr string
		host       string
		tls        bool
		in         http.Header
		want       http.Header
		bug        string // non-empty: skip, the behaviour is a known bug
	}{
		{
			name:       "ipv4",
			remoteAddr: "192.0.2.1:51234",
			host:       "example.com",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"example.com"},
				"Forwarded":         {"for=192.0.2.1;proto=http;host=example.com"},
			},
		},
		{
			// RFC 7239 section 6: IPv6 nodes are bracketed and quoted.
			name:       "ipv6",
			remoteAddr: "[2001:db8::1]:443",
			host:       "example.com",
			want: http.Header{
				"X-Forwarded-For":   {"2001:db8::1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"example.com"},
				"Forwarded":         {`for="[2001:db8::1]";proto=http;host=example.com`},
			},
		},
		{
			name:       "tls",
			remoteAddr: "192.0.2.1:51234",
			host:       "example.com",
			tls:        true,
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"example.com"},
				"Forwarded":         {"for=192.0.2.1;proto=https;host=example.com"},
			},
		},
		{
			name:       "prior hops are appended to",
			remoteAddr: "10.0.0.9:1000",
			host:       "example.com",
			in: http.Header{
				"X-Forwarded-For": {"203.0.113.7", "198.51.100.1, 10.0.0.2"},
				"Forwarded":       {"for=203.0.113.7", "for=198.51.100.1"},
			},
			want: http.Header{
				"X-Forwarded-For":   {"203.0.113.7, 198.51.100.1, 10.0.0.2, 10.0.0.9"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"example.com"},
				"Forwarded":         {"for=203.0.113.7, for=198.51.100.1, for=10.0.0.9;proto=http;host=example.com"},
			},
		},
		{
			name:       "trusted proto and host are kept",
			remoteAddr: "10.0.0.9:1000",
			host:       "internal:8080",
			in: http.Header{
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"public.example.com"},
			},
			want: http.Header{
				"X-Forwarded-For":   {"10.0.0.9"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"public.example.com"},
				"Forwarded":         {`for=10.0.0.9;proto=http;host="internal:8080"`},
			},
		},
		{
			// host:port is not a token (':'), so it is quoted.
			name:       "host with port is quoted",
			remoteAddr: "192.0.2.1:1",
			host:       "example.com:8443",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"example.com:8443"},
				"Forwarded":         {`for=192.0.2.1;proto=http;host="example.com:8443"`},
			},
		},
		{
			name:       "ipv6 host is quoted",
			remoteAddr: "[::1]:1",
			host:       "[::1]:8080",
			want: http.Header{
				"X-Forwarded-For":   {"::1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"[::1]:8080"},
				"Forwarded":         {`for="[::1]";proto=http;host="[::1]:8080"`},
			},
		},
		{
			name:       "remote addr without port",
			remoteAddr: "192.0.2.1",
			host:       "example.com",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"example.com"},
				"Forwarded":         {"for=192.0.2.1;proto=http;host=example.com"},
			},
		},
		{
			// An HTTP/1.0 request may have no Host; there is then no host
			// to report, and an empty X-Forwarded-Host misleads upstreams
			// that build absolute URLs from it.
			name:       "no host",
			remoteAddr: "192.0.2.1:1",
			host:       "",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"Forwarded":         {"for=192.0.2.1;proto=http"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.bug != "" {
				t.Skip("BUG: " + tt.bug)
			}
			h := tt.in.Clone()
			if h == nil {
				h = http.Header{}
			}
			r := &http.Request{RemoteAddr: tt.remoteAddr, Host: tt.host, Header: h}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			setForwarded(h, r, new([3]string))
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("setForwarded(RemoteAddr %q, Host %q, TLS %v, %v) mismatch (-want +got):\n%s",
					tt.remoteAddr, tt.host, tt.tls, tt.in, diff)
			}
		})
	}
}

func TestIsEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		want bool
		bug  string
	}{
		{"plain", http.Header{"Content-Type": {"text/event-stream"}}, true, ""},
		{"with parameters", http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}, true, ""},
		{"no space before parameters", http.Header{"Content-Type": {"text/event-stream;charset=utf-8"}}, true, ""},
		{"upper case", http.Header{"Content-Type": {"Text/Event-Stream"}}, true, ""},
		{"surrounding space", http.Header{"Content-Type": {"  text/event-stream "}}, true, ""},
		{"json", http.Header{"Content-Type": {"application/json"}}, false, ""},
		{"absent", http.Header{}, false, ""},
		{"empty", http.Header{"Content-Type": {""}}, false, ""},
		{"longer subtype", http.Header{"Content-Type": {"text/event-streamer"}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.bug != "" {
				t.Skip("BUG: " + tt.bug)
			}
			if got := isEventStream(tt.h); got != tt.want {
				t.Errorf("isEventStream(%v) = %v; want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestWriteQuotedIfNeeded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"hostname", "example.com", "example.com"},
		{"every tchar", "a-b_c.d~e!#$%&'*+^`|", "a-b_c.d~e!#$%&'*+^`|"},
		{"ipv4", "192.0.2.1", "192.0.2.1"},
		{"port", "example.com:8080", `"example.com:8080"`},
		{"ipv6", "[2001:db8::1]", `"[2001:db8::1]"`},
		{"space", "a b", `"a b"`},
		{"semicolon", "a;b", `"a;b"`},
		{"comma", "a,b", `"a,b"`},
		{"equals", "a=b", `"a=b"`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"backslash quote", `\"`, `"\\\""`},
		{"non-ascii", "caf\u00e9", "\"caf\u00e9\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			writeQuotedIfNeeded(&b, tt.in)
			if got := b.String(); got != tt.want {
				t.Errorf("writeQuotedIfNeeded(%q) = %s; want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestIsHopHeader: the switch used for small headers names exactly
// hopHeaders, which the delete loop for large ones uses.
func TestIsHopHeader(t *testing.T) {
	t.Parallel()
	for _, k := range hopHeaders {
		if !isHopHeader(k) {
			t.Errorf("isHopHeader(%q) = false; it is in hopHeaders", k)
		}
	}
	for _, k := range []string{"Content-Type", "Connection-Foo", "connection", "Tee", "Forwarded"} {
		if isHopHeader(k) {
			t.Errorf("isHopHeader(%q) = true", k)
		}
	}
}
