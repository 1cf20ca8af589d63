package upstream

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// probeBodyLimit bounds how much of a probe response is read so the
// connection can be reused.
const probeBodyLimit = 64 << 10

// checkLoop probes every target once per interval until ctx is done. One
// goroutine per pool owns the ticker; each round probes the targets in
// parallel and waits for them all, so rounds never overlap and a slow target
// cannot delay the others' verdicts by more than the probe timeout.
func (p *Pool) checkLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	client := &http.Client{
		Transport: p.transport,
		Timeout:   p.hc.Timeout.D(),
		// A redirect is a verdict, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tick := time.NewTicker(p.hc.Interval.D())
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for _, t := range p.targets {
			wg.Go(func() { p.probe(ctx, client, t) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe runs one health check on t and applies the verdict.
func (p *Pool) probe(ctx context.Context, client *http.Client, t *Target) {
	ok, detail := p.probeOnce(ctx, client, t)
	if ctx.Err() != nil {
		return // shutting down; the failure is ours, not the target's
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.probeOK++
		t.probeFail = 0
		if t.down.Load() && t.probeOK >= p.hc.Healthy {
			t.down.Store(false)
			p.transition(t, "active: "+detail)
		}
		return
	}
	t.probeFail++
	t.probeOK = 0
	if !t.down.Load() && t.probeFail >= p.hc.Unhealthy {
		t.down.Store(true)
		p.transition(t, "active: "+detail)
	}
}

func (p *Pool) probeOnce(ctx context.Context, client *http.Client, t *Target) (ok bool, detail string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url.String()+p.hc.Path, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "sluice-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, probeBodyLimit))
	_ = resp.Body.Close()
	if len(p.hc.ExpectStatus) > 0 {
		return slices.Contains(p.hc.ExpectStatus, resp.StatusCode), resp.Status
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 400, resp.Status
}
