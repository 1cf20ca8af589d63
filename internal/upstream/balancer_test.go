package upstream

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSmoothWRRSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights []int
		want    string
	}{
		{"nginx 5 1 1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"equal", []int{1, 1, 1}, "abcabc"},
		{"4 2 1", []int{4, 2, 1}, "abacaba"},
		{"single", []int{3}, "aaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, upstreamWith("round_robin", tt.weights...), Options{})
			var got strings.Builder
			for range len(tt.want) {
				got.WriteString(name(p.Pick(Key{}, nil)))
			}
			if got.String() != tt.want {
				t.Errorf("Pick sequence = %s; want %s", got.String(), tt.want)
			}
		})
	}
}

// TestDistribution checks every balancer spreads an idle pool by weight.
func TestDistribution(t *testing.T) {
	t.Parallel()
	weights := []int{3, 2, 1}
	const picks = 60000
	for _, bal := range balancers {
		t.Run(bal, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, upstreamWith(bal, weights...), Options{})
			rng := rand.New(rand.NewPCG(1, 2))
			counts := make([]int, len(weights))
			for range picks {
				k := Key{Hash: rng.Uint64(), HasHash: true}
				tg := p.Pick(k, nil)
				tg.Begin()
				tg.End()
				counts[tg.index]++
			}
			tol := 0.02
			if bal == "round_robin" || bal == "least_conn" {
				tol = 0.0001 // deterministic
			}
			for i, w := range weights {
				got, want := float64(counts[i])/picks, float64(w)/6
				if math.Abs(got-want) > tol {
					t.Errorf("share of target %d = %.4f; want %.4f ± %.4f (counts %v)", i, got, want, tol, counts)
				}
			}
		})
	}
}

// TestSkipping checks unhealthy and tried targets are avoided while others
// are healthy, and the fallbacks when they are not.
func TestSkipping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		down    []int // indices held out by active checks
		tried   []int
		allowed string // targets Pick may return
	}{
		{"none", nil, nil, "abcd"},
		{"unhealthy skipped", []int{0, 2}, nil, "bd"},
		{"tried skipped", nil, []int{1, 3}, "ac"},
		{"both", []int{0}, []int{1, 2}, "d"},
		{"all healthy tried: retry a tried healthy one", []int{0, 1}, []int{2, 3}, "cd"},
		{"panic: untried first", []int{0, 1, 2, 3}, []int{0, 1}, "cd"},
		{"panic: all tried", []int{0, 1, 2, 3}, []int{0, 1, 2, 3}, "abcd"},
	}
	for _, bal := range balancers {
		for _, tt := range tests {
			t.Run(bal+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := mustNew(t, upstreamWith(bal, 1, 2, 1, 3), Options{})
				for _, i := range tt.down {
					p.targets[i].down.Store(true)
				}
				var tried []*Target
				for _, i := range tt.tried {
					tried = append(tried, p.targets[i])
				}
				seen := map[string]bool{}
				for i := range 400 {
					k := Key{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: i%5 != 0}
					got := name(p.Pick(k, tried))
					if !strings.Contains(tt.allowed, got) {
						t.Fatalf("Pick(%v, %v) = %s; want one of %s", k, tt.tried, got, tt.allowed)
					}
					seen[got] = true
				}
				if len(seen) != len(tt.allowed) {
					t.Errorf("Pick returned only %v; want all of %s over 400 picks", seen, tt.allowed)
				}
			})
		}
	}
}

func TestPanicModeLogsOnce(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	p := mustNew(t, upstreamWith("round_robin", 1, 1), Options{Logger: newTextLogger(&logs)})
	for _, tg := range p.targets {
		tg.down.Store(true)
	}
	for range 10 {
		if p.Pick(Key{}, nil) == nil {
			t.Fatal("Pick with every target down = nil; want a target (panic mode)")
		}
	}
	p.targets[0].down.Store(false)
	p.Pick(Key{}, nil)
	if n := strings.Count(logs.String(), "no healthy target"); n != 1 {
		t.Errorf("panic-mode warnings = %d; want 1\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "leaving panic mode") {
		t.Errorf("no recovery message in log:\n%s", logs.String())
	}
}

func TestPreferLessLoaded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		weights  []int
		inflight []int
		want     string
	}{
		{"idle one", []int{1, 1, 1}, []int{2, 1, 0}, "c"},
		{"weighted", []int{4, 1}, []int{3, 1}, "a"}, // 3/4 < 1/1
		{"weighted other way", []int{4, 1}, []int{5, 1}, "b"},
	}
	for _, bal := range []string{"least_conn", "p2c"} {
		for _, tt := range tests {
			t.Run(bal+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := mustNew(t, upstreamWith(bal, tt.weights...), Options{})
				for i, n := range tt.inflight {
					for range n {
						p.targets[i].Begin()
					}
				}
				counts := map[string]int{}
				const picks = 3000
				for range picks {
					counts[name(p.Pick(Key{}, nil))]++
				}
				// least_conn always takes the least loaded. p2c takes it
				// whenever it is one of the two draws.
				min := picks
				if bal == "p2c" {
					min = picks / 2
				}
				if counts[tt.want] < min {
					t.Errorf("picks = %v; want %s at least %d times", counts, tt.want, min)
				}
			})
		}
	}
}

func TestLeastConnFollowsLoad(t *testing.T) {
	t.Parallel()
	p := mustNew(t, upstreamWith("least_conn", 1, 1, 1), Options{})
	// Holding each pick open spreads three requests over three targets.
	var got []string
	for range 3 {
		tg := p.Pick(Key{}, nil)
		tg.Begin()
		got = append(got, name(tg))
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("held picks (-want +got):\n%s", diff)
	}
}

func TestHashStable(t *testing.T) {
	t.Parallel()
	p := mustNew(t, upstreamWith("hash", 1, 1, 1, 1, 1), Options{})
	q := mustNew(t, upstreamWith("hash", 1, 1, 1, 1, 1), Options{})
	for i := range 1000 {
		k := hashString(fmt.Sprint("user-", i))
		a, b := p.Pick(k, nil), p.Pick(k, nil)
		c := q.Pick(k, nil)
		if a != b || a.index != c.index {
			t.Fatalf("Pick(%d) = %s, %s, other pool %s; want the same target", i, name(a), name(b), name(c))
		}
	}
}

// TestHashDisruption measures how many keys move when one of ten targets is
// ejected (only its own keys may move) or removed from config (Maglev moves
// little more than 1/n).
func TestHashDisruption(t *testing.T) {
	t.Parallel()
	const n, keys = 10, 100000
	cfg := upstreamWith("hash", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	p := mustNew(t, cfg, Options{})
	before := make([]string, keys)
	for i := range keys {
		before[i] = p.Pick(hashString(fmt.Sprint("k", i)), nil).String()
	}

	t.Run("ejected", func(t *testing.T) {
		victim := p.targets[3]
		victim.down.Store(true)
		defer victim.down.Store(false)
		moved, wrong := 0, 0
		for i := range keys {
			got := p.Pick(hashString(fmt.Sprint("k", i)), nil).String()
			if got == before[i] {
				continue
			}
			moved++
			if before[i] != victim.String() {
				wrong++
			}
		}
		if wrong != 0 {
			t.Errorf("%d keys of healthy targets moved; want 0", wrong)
		}
		if f := float64(moved) / keys; math.Abs(f-1.0/n) > 0.01 {
			t.Errorf("moved share = %.4f; want %.4f ± 0.01", f, 1.0/n)
		}
	})

	t.Run("removed", func(t *testing.T) {
		smaller := cfg
		smaller.Targets = append(cfg.Targets[:3:3], cfg.Targets[4:]...)
		q := mustNew(t, smaller, Options{})
		moved := 0
		for i := range keys {
			if q.Pick(hashString(fmt.Sprint("k", i)), nil).String() != before[i] {
				moved++
			}
		}
		f := float64(moved) / keys
		t.Logf("removing 1 of %d targets moved %.2f%% of keys (minimum %.2f%%)", n, 100*f, 100.0/n)
		if f > 1.0/n+0.03 {
			t.Errorf("moved share = %.4f; want at most %.4f", f, 1.0/n+0.03)
		}
	})
}

func TestMaglevTableShares(t *testing.T) {
	t.Parallel()
	weights := []int{1, 2, 3, 10}
	p := mustNew(t, upstreamWith("hash", weights...), Options{})
	m := p.bal.(*maglev)
	counts := make([]int, len(weights))
	for _, i := range m.table {
		counts[i]++
	}
	for i, w := range weights {
		got, want := float64(counts[i])/float64(len(m.table)), float64(w)/16
		if math.Abs(got-want) > 0.005 {
			t.Errorf("table share of target %d = %.4f; want %.4f", i, got, want)
		}
	}
}

func TestPickNoAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun forbids it.
	for _, bal := range balancers {
		t.Run(bal, func(t *testing.T) {
			p := mustNew(t, upstreamWith(bal, 1, 2, 3, 1, 1, 1, 1, 1, 1, 1), Options{})
			tried := []*Target{p.targets[1]}
			p.targets[2].down.Store(true)
			// Keep one target passively ejected so Pick reads the clock.
			p.targets[4].ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano())
			p.nOut.Store(1)
			k := hashString("alice")
			if a := testing.AllocsPerRun(1000, func() {
				tg := p.Pick(k, tried)
				tg.Begin()
				tg.End()
			}); a != 0 {
				t.Errorf("Pick allocs = %v; want 0", a)
			}
		})
	}
}

func TestPickConcurrent(t *testing.T) {
	t.Parallel()
	for _, bal := range balancers {
		t.Run(bal, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, upstreamWith(bal, 1, 2, 3), Options{})
			done := make(chan struct{})
			for g := range 8 {
				go func() {
					defer func() { done <- struct{}{} }()
					for i := range 2000 {
						tg := p.Pick(Key{Hash: uint64(g*i + i), HasHash: true}, nil)
						tg.Begin()
						if i%100 == 0 {
							p.Report(tg, Outcome{Status: 200})
						}
						tg.End()
					}
				}()
			}
			for range 8 {
				<-done
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, bal := range balancers {
		b.Run(bal, func(b *testing.B) {
			p := mustNew(b, upstreamWith(bal, 1, 2, 3, 1, 1, 1, 1, 1, 1, 1), Options{})
			k := hashString("alice")
			b.ReportAllocs()
			for b.Loop() {
				tg := p.Pick(k, nil)
				tg.Begin()
				tg.End()
			}
		})
		b.Run(bal+"/parallel", func(b *testing.B) {
			p := mustNew(b, upstreamWith(bal, 1, 2, 3, 1, 1, 1, 1, 1, 1, 1), Options{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := Key{Hash: rand.Uint64(), HasHash: true}
				for pb.Next() {
					tg := p.Pick(k, nil)
					tg.Begin()
					tg.End()
				}
			})
		})
	}
}
