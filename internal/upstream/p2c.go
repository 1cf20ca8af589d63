package upstream

import "math/rand/v2"

// p2c is the power of two random choices (Mitzenmacher): draw two distinct
// eligible targets at random, weighted by weight, and keep the one with
// fewer attempts in flight relative to its weight; a tie keeps the first
// draw, so an idle pool is balanced by weight. It holds no lock: the
// top-level math/rand/v2 functions use the runtime's per-thread generator.
type p2c struct {
	targets []*Target
	cum     []int64 // cumulative weights; nil when all weights are equal
	total   int64
}

// p2cDraws is how many random draws p2c makes before it falls back to a
// scan; with most targets eligible the first draw nearly always succeeds.
const p2cDraws = 4

func newP2C(targets []*Target) *p2c {
	b := &p2c{targets: targets}
	equal := true
	for _, t := range targets {
		b.total += t.weight
		b.cum = append(b.cum, b.total)
		equal = equal && t.weight == targets[0].weight
	}
	if equal {
		b.cum = nil
	}
	return b
}

func (b *p2c) pick(_ Key, f filter) *Target {
	first := b.draw(&f, nil)
	if first == nil {
		return nil
	}
	second := b.draw(&f, first)
	if second == nil {
		return first
	}
	// second wins only if strictly less loaded per unit of weight.
	if max(second.inflight.Load(), 0)*first.weight < max(first.inflight.Load(), 0)*second.weight {
		return second
	}
	return first
}

// draw returns a random eligible target other than not, or nil if none.
func (b *p2c) draw(f *filter, not *Target) *Target {
	for range p2cDraws {
		if t := b.targets[b.random()]; t != not && f.ok(t) {
			return t
		}
	}
	// Few targets are eligible: scan from a random start so the fallback
	// does not always favour the first eligible target.
	n := len(b.targets)
	start := rand.IntN(n)
	for i := range n {
		if t := b.targets[(start+i)%n]; t != not && f.ok(t) {
			return t
		}
	}
	return nil
}

// random returns a target index with probability proportional to weight.
func (b *p2c) random() int {
	if b.cum == nil {
		return rand.IntN(len(b.targets))
	}
	r := rand.Int64N(b.total)
	// First index whose cumulative weight exceeds r.
	lo, hi := 0, len(b.cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if b.cum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

var _ balancer = (*p2c)(nil)
