package route

import (
	"net/http"
	"testing"
	"time"
)

func TestNewTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		base string
		h1   bool // sent through h1, with net/http behind it
	}{
		{name: "http", base: "http://127.0.0.1:8000/v1", h1: true},
		{name: "http localhost", base: "http://localhost:11434", h1: true},
		{name: "https", base: "https://api.openai.com/v1"},
		{name: "bad URL", base: "http://[::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newTransport(tt.base, 3*time.Second)
			tr, ok := rt.(*transport)
			if ok != tt.h1 {
				t.Fatalf("newTransport(%q) = %T; want h1 %v", tt.base, rt, tt.h1)
			}
			if !ok {
				if _, ok := rt.(*http.Transport); !ok {
					t.Fatalf("newTransport(%q) = %T; want *http.Transport", tt.base, rt)
				}
				return
			}
			if tr.fast.DialTimeout != 3*time.Second {
				t.Errorf("h1 DialTimeout = %v; want the provider's connect timeout, 3s", tr.fast.DialTimeout)
			}
		})
	}
	if tr := newTransport("http://127.0.0.1:1", 0).(*transport); tr.fast.DialTimeout != defaultConnect {
		t.Errorf("h1 DialTimeout = %v with no connect timeout; want %v", tr.fast.DialTimeout, defaultConnect)
	}
}
