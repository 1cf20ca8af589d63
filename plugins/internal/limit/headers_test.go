package limit

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, got, want string }{
		{"policy", Policy("limit-count", 100, time.Minute, ""), `"limit-count";q=100;w=60`},
		{"policy sub-second window rounds up", Policy("limit-req", 1, 500*time.Millisecond, ""), `"limit-req";q=1;w=1`},
		{"policy concurrency", Policy("limit-conn", 10, 0, "concurrent-requests"), `"limit-conn";q=10;qu="concurrent-requests"`},
		{"ratelimit", RateLimit("limit-count", 42, 17*time.Second), `"limit-count";r=42;t=17`},
		{"ratelimit rounds t up", RateLimit("limit-count", 0, 16*time.Second+time.Microsecond), `"limit-count";r=0;t=17`},
		{"ratelimit without t", RateLimit("limit-conn", 3, -1), `"limit-conn";r=3`},
		{"ratelimit negative r", RateLimit("x", -5, 0), `"x";r=0;t=0`},
		{"sf-string escapes", Policy(`a"b\c`+"\x01é", 1, time.Second, ""), `"a\"b\\c";q=1;w=1`},
		{"retry-after", RetryAfter(1500 * time.Millisecond), "2"},
		{"retry-after exact", RetryAfter(7 * time.Second), "7"},
		{"retry-after at least 1", RetryAfter(time.Microsecond), "1"},
		{"retry-after zero", RetryAfter(0), "1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %s; want %s", tt.name, tt.got, tt.want)
		}
	}
	got := Rejected(`"limit-count";q=3;w=10`, "limit-count", 6500*time.Millisecond)
	want := http.Header{
		"Retry-After":      {"7"},
		"Ratelimit-Policy": {`"limit-count";q=3;w=10`},
		"Ratelimit":        {`"limit-count";r=0;t=7`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rejected (-want +got):\n%s", diff)
	}
}
