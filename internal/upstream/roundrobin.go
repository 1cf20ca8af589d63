package upstream

import "sync"

// swrr is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): on every pick each eligible target's current
// weight grows by its weight, the largest current weight wins, and the
// winner's current weight drops by the total of the eligible weights. For
// weights {5,1,1} this yields a a b a c a a, spreading the heavy target out
// instead of sending it five requests in a row.
//
// The state is one slice of current weights under a mutex held for a single
// pass over the targets (tens of nanoseconds for ten targets). A lock-free
// version would need a CAS over all current weights at once; the mutex is
// simpler and uncontended enough at gateway request rates. Skipped targets
// (unhealthy, tried) keep their current weight, as in nginx.
type swrr struct {
	targets []*Target
	mu      sync.Mutex
	cur     []int64 // current weight per target, by index
}

func newSWRR(targets []*Target) *swrr {
	return &swrr{targets: targets, cur: make([]int64, len(targets))}
}

func (b *swrr) pick(_ Key, f filter) *Target {
	b.mu.Lock()
	defer b.mu.Unlock()
	var best *Target
	var total int64
	for i, t := range b.targets {
		if !f.ok(t) {
			continue
		}
		b.cur[i] += t.weight
		total += t.weight
		if best == nil || b.cur[i] > b.cur[best.index] {
			best = t
		}
	}
	if best != nil {
		b.cur[best.index] -= total
	}
	return best
}

var _ balancer = (*swrr)(nil)
