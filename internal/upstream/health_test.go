package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/internal/config"
)

// flakyServer answers /hc with the status it holds and counts probes.
type flakyServer struct {
	*httptest.Server
	status atomic.Int32
	probes atomic.Int32 // all probes
	passes atomic.Int32 // probes answered 2xx
	fails  atomic.Int32 // probes answered 5xx
	badUA  atomic.Value // string: a User-Agent that was not ours
}

func newFlakyServer(t *testing.T) *flakyServer {
	s := &flakyServer{}
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hc" {
			http.NotFound(w, r)
			return
		}
		if ua := r.UserAgent(); ua != "sluice-health-check" {
			s.badUA.Store(ua)
		}
		status := int(s.status.Load())
		switch {
		case status >= 500:
			s.fails.Add(1)
		case status < 300:
			s.passes.Add(1)
		}
		s.probes.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestActiveHealthCheck(t *testing.T) {
	t.Parallel()
	flaky, steady := newFlakyServer(t), newFlakyServer(t)
	var events healthLog
	var logs syncBuffer
	cfg := config.Upstream{
		Name:    "u",
		Targets: []config.Target{{URL: flaky.URL}, {URL: steady.URL}},
		HealthCheck: &config.HealthCheck{
			Path:      "/hc",
			Interval:  config.Duration(20 * time.Millisecond),
			Timeout:   config.Duration(time.Second),
			Healthy:   2,
			Unhealthy: 3,
		},
	}
	p := mustNew(t, cfg, Options{OnHealth: events.record, Logger: newTextLogger(&logs)})
	bad, good := p.targets[0], p.targets[1]

	if flaky.probes.Load() != 0 {
		t.Fatal("probes before Start")
	}
	if !bad.Healthy() || !good.Healthy() {
		t.Fatal("targets do not start healthy")
	}
	p.Start()
	p.Start() // idempotent
	waitFor(t, "first probes", 5*time.Second, func() bool { return flaky.probes.Load() >= 2 })
	if !bad.Healthy() {
		t.Fatal("target unhealthy while passing probes")
	}

	flaky.status.Store(http.StatusInternalServerError)
	waitFor(t, "ejection", 5*time.Second, func() bool { return !bad.Healthy() })
	if got := flaky.fails.Load(); got < 3 {
		t.Errorf("ejected after %d failing probes; want at least Unhealthy=3", got)
	}
	for range 100 {
		if got := p.Pick(Key{}, nil); got != good {
			t.Fatalf("Pick = %s; want the healthy target %s", got, good)
		}
	}

	n := flaky.passes.Load()
	flaky.status.Store(http.StatusNoContent)
	waitFor(t, "readmission", 5*time.Second, func() bool { return bad.Healthy() })
	if got := flaky.passes.Load() - n; got < 2 {
		t.Errorf("readmitted after %d passing probes; want at least Healthy=2", got)
	}

	p.Close()
	p.Close() // idempotent
	// A probe cancelled by Close may still reach the server just after;
	// let that settle, then expect silence for several intervals.
	time.Sleep(50 * time.Millisecond)
	n = steady.probes.Load()
	time.Sleep(100 * time.Millisecond)
	if got := steady.probes.Load(); got != n {
		t.Errorf("probes after Close: %d more", got-n)
	}

	want := []string{bad.String() + " false", bad.String() + " true"}
	if diff := cmp.Diff(want, events.get()); diff != "" {
		t.Errorf("OnHealth calls (-want +got):\n%s", diff)
	}
	if ua := flaky.badUA.Load(); ua != nil {
		t.Errorf("probe User-Agent = %q; want sluice-health-check", ua)
	}
	if c := strings.Count(logs.String(), "target unhealthy"); c != 1 {
		t.Errorf("unhealthy log lines = %d; want 1\n%s", c, logs.String())
	}
}

func TestActiveHealthExpectStatus(t *testing.T) {
	t.Parallel()
	s := newFlakyServer(t)
	s.status.Store(http.StatusTeapot)
	cfg := config.Upstream{
		Name:    "u",
		Targets: []config.Target{{URL: s.URL}, {URL: "http://127.0.0.1:1"}},
		HealthCheck: &config.HealthCheck{
			Path:         "hc", // no leading slash: added
			Interval:     config.Duration(20 * time.Millisecond),
			Timeout:      config.Duration(5 * time.Second),
			Healthy:      1,
			Unhealthy:    1,
			ExpectStatus: []int{http.StatusTeapot},
		},
	}
	p := mustNew(t, cfg, Options{})
	p.Start()
	waitFor(t, "refused target ejected", 5*time.Second, func() bool { return !p.targets[1].Healthy() })
	waitFor(t, "several probes", 5*time.Second, func() bool { return s.probes.Load() >= 3 })
	if !p.targets[0].Healthy() {
		t.Error("target answering the expected 418 is unhealthy")
	}
}

func TestPassiveEjection(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var events healthLog
	cfg := upstreamWith("round_robin", 1, 1)
	cfg.Passive = config.Passive{MaxFailures: 3, Eject: config.Duration(10 * time.Second)}
	p := mustNew(t, cfg, Options{OnHealth: events.record, now: clock.Now})
	a, b := p.targets[0], p.targets[1]
	fail := Outcome{ConnectFailure: true}

	step := func(what string, o Outcome, wantHealthy bool) {
		t.Helper()
		p.Report(a, o)
		if a.Healthy() != wantHealthy {
			t.Fatalf("after %s: Healthy() = %v; want %v", what, a.Healthy(), wantHealthy)
		}
	}
	step("failure 1", fail, true)
	step("failure 2 (timeout)", Outcome{Timeout: true}, true)
	step("success resets", Outcome{Status: 200}, true)
	step("failure 1", Outcome{Status: 503}, true)
	step("500 is not in fail_on", Outcome{Status: 500}, true) // a success: resets
	step("failure 1", fail, true)
	step("neutral outcome", Outcome{}, true) // does not reset
	step("failure 2", fail, true)
	step("failure 3 ejects", fail, false)
	for range 20 {
		if got := p.Pick(Key{}, nil); got != b {
			t.Fatalf("Pick = %s during ejection; want %s", got, b)
		}
	}
	step("late success while ejected is ignored", Outcome{Status: 200}, false)

	clock.Advance(10 * time.Second)
	if !a.Healthy() {
		t.Fatal("target still out after the ejection period")
	}
	step("half-open failure ejects again", fail, false)
	clock.Advance(9 * time.Second)
	if a.Healthy() {
		t.Fatal("re-ejection shorter than the period")
	}
	clock.Advance(time.Second)
	step("half-open success readmits", Outcome{Status: 204}, true)
	step("failure 1 after readmission", fail, true) // the count restarted

	want := []string{a.String() + " false", a.String() + " true"}
	if diff := cmp.Diff(want, events.get()); diff != "" {
		t.Errorf("OnHealth calls (-want +got):\n%s", diff)
	}
	if got := p.nOut.Load(); got != 0 {
		t.Errorf("nOut = %d; want 0", got)
	}
}

func TestPassiveDisabled(t *testing.T) {
	t.Parallel()
	p := mustNew(t, upstreamWith("round_robin", 1), Options{}) // MaxFailures 0
	for range 100 {
		p.Report(p.targets[0], Outcome{ConnectFailure: true})
	}
	if !p.targets[0].Healthy() {
		t.Error("MaxFailures 0 ejected a target")
	}
}

func TestPassiveFailOnCustom(t *testing.T) {
	t.Parallel()
	cfg := upstreamWith("round_robin", 1, 1)
	cfg.Passive = config.Passive{MaxFailures: 1, Eject: config.Duration(time.Hour), FailOn: []int{500}}
	p := mustNew(t, cfg, Options{})
	p.Report(p.targets[0], Outcome{Status: 503})
	if !p.targets[0].Healthy() {
		t.Error("503 ejected though fail_on is [500]")
	}
	p.Report(p.targets[0], Outcome{Status: 500})
	if p.targets[0].Healthy() {
		t.Error("500 did not eject with fail_on [500]")
	}
}
