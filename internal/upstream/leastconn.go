package upstream

// leastConn picks the eligible target with the fewest attempts in flight
// relative to its weight (inflight/weight, compared by cross-multiplying).
// The scan is lock-free. When several targets tie for the least load, as
// they do whenever the pool is idle, the tie goes to smooth weighted round
// robin among the tied targets, as in nginx's least_conn; so an idle pool
// still spreads traffic by weight.
type leastConn struct {
	targets []*Target
	rr      *swrr
}

func newLeastConn(targets []*Target) *leastConn {
	return &leastConn{targets: targets, rr: newSWRR(targets)}
}

func (b *leastConn) pick(k Key, f filter) *Target {
	var best *Target
	var bestIn int64
	ties := 0
	for _, t := range b.targets {
		if !f.ok(t) {
			continue
		}
		in := max(t.inflight.Load(), 0)
		switch {
		case best == nil || in*best.weight < bestIn*t.weight:
			best, bestIn, ties = t, in, 1
		case in*best.weight == bestIn*t.weight:
			ties++
		}
	}
	if ties <= 1 {
		return best
	}
	f.load, f.loadNum, f.loadDen = true, bestIn, best.weight
	if t := b.rr.pick(k, f); t != nil {
		return t
	}
	// The loads moved between the two passes; the first answer is still good.
	return best
}

var _ balancer = (*leastConn)(nil)
