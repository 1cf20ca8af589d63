package upstream

// balancer chooses one target among those the filter accepts, or returns
// nil when the filter accepts none. Implementations must be safe for
// concurrent use and must not allocate.
type balancer interface {
	pick(k Key, f filter) *Target
}

// filter says which targets a balancer may choose. It is passed by value so
// it stays on the stack across the interface call.
type filter struct {
	tried      []*Target
	now        int64 // unix nanoseconds; 0 when no target is passively out
	health     bool  // skip unhealthy targets
	avoidTried bool  // skip targets in tried

	// When load is set, only targets whose inflight/weight equals
	// loadNum/loadDen are accepted (least_conn's ties).
	load             bool
	loadNum, loadDen int64
}

func (f *filter) ok(t *Target) bool {
	if f.health {
		if t.down.Load() {
			return false
		}
		if u := t.ejectedUntil.Load(); u != 0 && f.now < u {
			return false
		}
	}
	if f.avoidTried {
		for _, x := range f.tried {
			if x == t {
				return false
			}
		}
	}
	if f.load && max(t.inflight.Load(), 0)*f.loadDen != f.loadNum*t.weight {
		return false
	}
	return true
}
