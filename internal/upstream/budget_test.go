package upstream

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/config"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ratio     float64
		minPerSec int
		deposits  int
		want      int // withdrawals granted before the first refusal
	}{
		{"ratio only", 0.2, 0, 10, 2},
		{"ratio only, fractional", 0.25, 0, 7, 1},
		{"nothing deposited", 0.2, 0, 0, 0},
		{"capped at 10 tokens", 0.05, 0, 10000, 10},
		{"capped at 100*ratio", 0.5, 0, 10000, 50},
		{"min per second only", 0, 3, 0, 3},
		{"min per second plus ratio", 0.2, 3, 10, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBudget(tt.ratio, tt.minPerSec, newFakeClock().Now)
			for range tt.deposits {
				b.Deposit()
			}
			got := 0
			for b.Withdraw() {
				got++
				if got > 100000 {
					t.Fatal("Withdraw never refuses")
				}
			}
			if got != tt.want {
				t.Errorf("withdrawals granted = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestBudgetMinPerSecondRefills(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := newBudget(0, 2, clock.Now)
	for sec := range 3 {
		for i := range 2 {
			if !b.Withdraw() {
				t.Fatalf("second %d: Withdraw %d = false; want true", sec, i)
			}
		}
		if b.Withdraw() {
			t.Fatalf("second %d: third Withdraw = true; want false", sec)
		}
		clock.Advance(time.Second)
	}
}

func TestBudgetNilAllows(t *testing.T) {
	t.Parallel()
	var b *Budget
	b.Deposit()
	if !b.Withdraw() {
		t.Error("nil Budget refused a retry")
	}
}

func TestBudgetConcurrent(t *testing.T) {
	t.Parallel()
	b := newBudget(0.5, 0, time.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 8 {
		wg.Go(func() {
			n := 0
			for range 1000 {
				b.Deposit()
				if b.Withdraw() {
					n++
				}
			}
			mu.Lock()
			granted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	// 8000 requests at ratio 0.5 earn at most 4000 retries.
	if granted > 4000 || granted < 3900 {
		t.Errorf("granted %d retries for 8000 requests at ratio 0.5; want about 4000", granted)
	}
}

func TestPoolRetryPolicy(t *testing.T) {
	t.Parallel()
	cfg := upstreamWith("round_robin", 1)
	cfg.Retries = config.Retries{Attempts: 2, On: []string{"connect_failure", "503"}}
	p := mustNew(t, cfg, Options{})
	if got := p.Attempts(); got != 3 {
		t.Errorf("Attempts() = %d; want 3", got)
	}
	tests := []struct {
		o    Outcome
		want bool
	}{
		{Outcome{ConnectFailure: true}, true},
		{Outcome{ConnectFailure: true, Timeout: true}, true},
		{Outcome{Timeout: true}, false},
		{Outcome{Status: 503}, true},
		{Outcome{Status: 502}, false},
		{Outcome{Status: 200}, false},
		{Outcome{}, false},
	}
	for _, tt := range tests {
		if got := p.RetryOn(tt.o); got != tt.want {
			t.Errorf("RetryOn(%+v) = %v; want %v", tt.o, got, tt.want)
		}
	}

	def := mustNew(t, upstreamWith("round_robin", 1), Options{})
	if got := def.Attempts(); got != 1 {
		t.Errorf("Attempts() with retries.attempts 0 = %d; want 1", got)
	}
	if !def.RetryOn(Outcome{ConnectFailure: true}) || def.RetryOn(Outcome{Timeout: true}) {
		t.Error("default retries.on is not [connect_failure]")
	}
	if def.Retry() == nil {
		t.Error("Retry() = nil")
	}
}
