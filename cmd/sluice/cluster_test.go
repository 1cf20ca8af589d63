package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/internal/redistest"
)

// TestClusterLimitExact runs three sluice processes that share one
// limit-count through a real Redis and hammers them together: between them
// they must accept exactly the limit, not the limit plus a race. Then Redis
// is killed: on_redis_error deny answers 503 (nothing else fails), and when
// Redis is back the shared counter decides again.
func TestClusterLimitExact(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	const limit, clients, perClient = 100, 30, 10 // 300 requests for 100 slots

	var urls []string
	var procs []*proc
	for i := 0; i < 3; i++ {
		addr, status := freePort(t), freePort(t)
		cfg := writeFile(t, fmt.Sprintf("sluice-%d.yaml", i), fmt.Sprintf(`listeners: [{addr: %q}]
status: {addr: %q}
log: {access: false}
redis: {addr: %q, timeout: 200ms}
routes:
  - name: api
    match: {paths: ["/api"]}
    plugins:
      - name: limit-count
        config: {count: %d, window: 1h, key: route, policy: redis, on_redis_error: deny}
      - name: mocking
        config: {response_example: ok}
`, addr, status, rs.Addr(), limit))
		procs = append(procs, startProc(t, cfg))
		url := "http://" + addr + "/api"
		waitUntil(t, "gateway "+addr, func() bool { c, _ := body("http://" + status + "/readyz"); return c == 200 })
		urls = append(urls, url)
	}

	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				resp, err := http.Get(urls[(c+i)%len(urls)])
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	if ok.Load() != limit || limited.Load() != clients*perClient-limit || other.Load() != 0 {
		t.Fatalf("3 gateways sharing count %d accepted %d, limited %d, other %d; want exactly %d, %d, 0",
			limit, ok.Load(), limited.Load(), other.Load(), limit, clients*perClient-limit)
	}

	// Redis down: deny means 503 limit_unavailable from every gateway, and
	// the outage is logged once per interval, not once per request.
	rs.Kill()
	for i := 0; i < 20; i++ {
		u := urls[i%len(urls)]
		if code, body := body(u); code != http.StatusServiceUnavailable {
			t.Errorf("with Redis down, GET %s = %d %s; want 503", u, code, body)
		}
	}
	for i, p := range procs {
		logs := p.stderr.String()
		if n := strings.Count(logs, "redis failed"); n != 1 {
			t.Errorf("gateway %d logged %d 'redis failed' lines for 6-7 failed requests; want 1 (once per interval)", i, n)
		}
		if strings.Contains(logs, "request failed") {
			t.Errorf("gateway %d logged each refused request:\n%s", i, logs)
		}
	}
	// Back up: the counter (persistence is off, so it restarted empty)
	// decides again, exactly.
	rs.Restart()
	waitUntil(t, "Redis decisions again", func() bool { c, _ := body(urls[0]); return c == 200 })
	got := 1 // the request that saw Redis back
	for i := 0; i < limit+20; i++ {
		if c, _ := body(urls[i%len(urls)]); c == 200 {
			got++
		} else if c != 429 {
			t.Fatalf("after Redis restart: status %d", c)
		}
	}
	if got != limit {
		t.Errorf("after Redis restart the gateways accepted %d; want %d", got, limit)
	}
}
