package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// budgetScale is the fixed-point scale of Budget's token count, so Deposit
// can be one atomic add.
const budgetScale = 1000

// Budget caps retries as a share of requests so that retries cannot
// multiply an outage (Finagle's RetryBudget). It is a token bucket: every
// request deposits ratio tokens, every retry withdraws one, and the bucket
// holds at most max(10, 100*ratio) tokens, so a long quiet spell does not
// bank a retry storm. Besides the bucket, MinPerSecond retries are allowed
// in every wall-clock second regardless of traffic, so a quiet upstream can
// still retry.
//
// Deposit is lock-free (one atomic add, and a CAS only at the cap);
// Withdraw takes a small mutex. A nil *Budget allows every retry.
type Budget struct {
	ratio  int64 // tokens per request, scaled by budgetScale
	cap    int64 // scaled
	tokens atomic.Int64

	minPerSec int
	now       func() time.Time

	mu     sync.Mutex
	second int64 // unix second of the current MinPerSecond window
	used   int   // free retries used in that second
}

func newBudget(ratio float64, minPerSec int, now func() time.Time) *Budget {
	if ratio < 0 || math.IsNaN(ratio) {
		ratio = 0
	}
	if now == nil {
		now = time.Now
	}
	capTokens := max(10, math.Ceil(100*ratio))
	return &Budget{
		ratio:     int64(math.Round(ratio * budgetScale)),
		cap:       int64(capTokens * budgetScale),
		minPerSec: max(minPerSec, 0),
		now:       now,
	}
}

// Deposit credits the budget for one request. Call it once per request,
// not per attempt.
func (b *Budget) Deposit() {
	if b == nil || b.ratio == 0 {
		return
	}
	if v := b.tokens.Add(b.ratio); v > b.cap {
		// Clamp. Losing the race to another Deposit leaves the count a
		// little over the cap until the next Deposit clamps it again.
		b.tokens.CompareAndSwap(v, b.cap)
	}
}

// Withdraw reports whether one retry may be sent, and if so charges it:
// first against this second's MinPerSecond allowance, then against the
// tokens deposited by requests.
func (b *Budget) Withdraw() bool {
	if b == nil {
		return true
	}
	if b.minPerSec > 0 {
		sec := b.now().Unix()
		b.mu.Lock()
		if sec != b.second {
			b.second, b.used = sec, 0
		}
		free := b.used < b.minPerSec
		if free {
			b.used++
		}
		b.mu.Unlock()
		if free {
			return true
		}
	}
	for {
		v := b.tokens.Load()
		if v < budgetScale {
			return false
		}
		if b.tokens.CompareAndSwap(v, v-budgetScale) {
			return true
		}
	}
}
