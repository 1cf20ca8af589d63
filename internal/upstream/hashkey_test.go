package upstream

import (
	"net/http/httptest"
	"testing"
)

func TestHashKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hashOn   string
		target   string
		header   map[string]string
		clientIP string
		consumer string
		want     string // the value hashed; "" means no hash
	}{
		{"header", "header:x-user", "/", map[string]string{"X-User": "alice"}, "", "", "alice"},
		{"header missing", "header:X-User", "/", nil, "", "", ""},
		{"cookie", "cookie:sid", "/", map[string]string{"Cookie": `a=1; sid="abc"; b=2`}, "", "", "abc"},
		{"cookie missing", "cookie:sid", "/", map[string]string{"Cookie": "sidx=1"}, "", "", ""},
		{"query", "query:user", "/?a=1&user=bob&user=eve", nil, "", "", "bob"},
		{"query escaped", "query:user", "/?us%65r=b%20o", nil, "", "", "b o"},
		{"query missing", "query:user", "/?users=1", nil, "", "", ""},
		{"ip given", "ip", "/", nil, "203.0.113.9", "", "203.0.113.9"},
		{"ip from RemoteAddr", "ip", "/", nil, "", "", "192.0.2.1"}, // httptest's RemoteAddr
		{"consumer", "consumer", "/", nil, "", "acme", "acme"},
		{"anonymous", "consumer", "/", nil, "", "", ""},
		{"path", "path", "/v1/chat?x=1", nil, "", "", "/v1/chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := upstreamWith("hash", 1, 1)
			cfg.HashOn = tt.hashOn
			p := mustNew(t, cfg, Options{})
			r := httptest.NewRequest("GET", tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got, want := p.HashKey(r, tt.clientIP, tt.consumer), hashString(tt.want); got != want {
				t.Errorf("HashKey = %+v; want %+v (hash of %q)", got, want, tt.want)
			}
		})
	}
}

func TestHashKeyNotHashBalancer(t *testing.T) {
	t.Parallel()
	p := mustNew(t, upstreamWith("round_robin", 1), Options{})
	r := httptest.NewRequest("GET", "/x", nil)
	if got := p.HashKey(r, "203.0.113.9", "acme"); got != (Key{}) {
		t.Errorf("HashKey on a round_robin pool = %+v; want no hash", got)
	}
}

func TestHashKeyNoAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun forbids it.
	for _, on := range []string{"header:X-User", "cookie:sid", "query:user", "ip", "consumer", "path"} {
		cfg := upstreamWith("hash", 1, 1)
		cfg.HashOn = on
		p := mustNew(t, cfg, Options{})
		r := httptest.NewRequest("GET", "/p?user=bob", nil)
		r.Header.Set("X-User", "alice")
		r.Header.Set("Cookie", "a=1; sid=abc")
		if a := testing.AllocsPerRun(100, func() { p.HashKey(r, "", "acme") }); a != 0 {
			t.Errorf("HashKey(%s) allocs = %v; want 0", on, a)
		}
	}
}
