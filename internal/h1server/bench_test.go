package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/upstream/h1"
)

// Run with -cpu=1 to match the pinned benchmark setup (GOMAXPROCS=1): then
// ns/op is the CPU of one request for client, server and kernel together,
// and the difference between the server rows is the servers' difference.
// The "floor" row is a raw responder that parses nothing: what the client
// and the kernel cost alone.
//
//	go test -run '^$' -bench 'Serve|Proxy' -cpu 1 -count 6 ./internal/h1server/

var jsonBody = []byte("{}")

func smallHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		w.Write(jsonBody)
	})
}

// benchServers starts h behind net/http.Server and behind this server,
// configured as sluice configures its listeners.
func benchServers(b *testing.B, h http.Handler) map[string]string {
	_, std := startStd(b, h, func(s *http.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes = 10*time.Second, 120*time.Second, 64<<10
	})
	_, mine := startServer(b, h, func(s *Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes = 10*time.Second, 120*time.Second, 64<<10
	})
	return map[string]string{"std": std, "h1server": mine, "floor": startFloor(b)}
}

// BenchmarkServe: a handler writing a 2-byte JSON body, over keep-alive
// loopback connections: one connection (c1) and 64 at once (c64, as wrk
// runs in bench/run.sh).
func BenchmarkServe(b *testing.B) {
	addrs := benchServers(b, smallHandler())
	for _, conns := range []int{1, 64} {
		for _, name := range []string{"floor", "std", "h1server"} {
			b.Run("c"+strconv.Itoa(conns)+"/"+name, func(b *testing.B) { runClients(b, addrs[name], conns) })
		}
	}
}

// BenchmarkProxy: a reverse-proxy handler (sluice's proxy loop in small:
// copy the request headers, RoundTrip with internal/upstream/h1 to a
// minimal upstream, copy the response) behind each server.
func BenchmarkProxy(b *testing.B) {
	up := startFloor(b)
	tr := &h1.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	addrs := benchServers(b, proxyHandler(tr, up))
	for _, conns := range []int{1, 64} {
		for _, name := range []string{"std", "h1server"} {
			b.Run("c"+strconv.Itoa(conns)+"/"+name, func(b *testing.B) { runClients(b, addrs[name], conns) })
		}
	}
}

// runClients sends GETs over conns keep-alive connections until the
// benchmark loop ends.
func runClients(b *testing.B, addr string, conns int) {
	clients := make(chan *rawClient, conns)
	for range conns {
		rc, err := dialRaw(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer rc.c.Close()
		clients <- rc
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() {
		// Process CPU (client, server, upstream), which unlike ns/op does
		// not grow when other programs take the CPU away.
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	b.ResetTimer()
	if conns == 1 {
		rc := <-clients
		for b.Loop() {
			if err := rc.do(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// conns goroutines at most, one connection each: RunParallel starts
	// parallelism x GOMAXPROCS of them, and one without a connection
	// would wait for one forever.
	b.SetParallelism(max(1, conns/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		rc := <-clients
		for pb.Next() {
			if err := rc.do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawClient is a minimal keep-alive HTTP/1.1 client that allocates nothing
// per request, so allocs/op is the server's.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

var benchRequest = []byte("GET /users/42?x=1 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")

func dialRaw(addr string) (*rawClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{c: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

var clPrefix = []byte("content-length:")

func (rc *rawClient) do() error {
	if _, err := rc.c.Write(benchRequest); err != nil {
		return err
	}
	cl := -1
	first := true
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return errors.New("unexpected status line " + strconv.Quote(string(line)))
			}
			first = false
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(clPrefix) && bytes.EqualFold(line[:len(clPrefix)], clPrefix) {
			cl = 0
			for _, d := range bytes.TrimSpace(line[len(clPrefix):]) {
				cl = cl*10 + int(d-'0')
			}
		}
	}
	if cl < 0 {
		return errors.New("response without Content-Length")
	}
	_, err := rc.br.Discard(cl)
	return err
}

// startFloor serves a fixed response to every request without parsing
// more than it must: the benchmark's upstream, and its floor.
func startFloor(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveFloor(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func serveFloor(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	for {
		cl := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(clPrefix) && bytes.EqualFold(line[:len(clPrefix)], clPrefix) {
				for _, d := range bytes.TrimSpace(line[len(clPrefix):]) {
					cl = cl*10 + int(d-'0')
				}
			}
		}
		if _, err := br.Discard(cl); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

var proxyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// proxyHandler is a reverse proxy in the shape of sluice's: a new outbound
// request with the hop-by-hop fields removed and X-Forwarded-For added,
// the request's context, and a copy of the response.
func proxyHandler(tr *h1.Transport, upstream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oh := make(http.Header, len(r.Header)+1)
		for k, vv := range r.Header {
			oh[k] = vv
		}
		for _, k := range hopHeaders {
			delete(oh, k)
		}
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			oh["X-Forwarded-For"] = []string{ip}
		}
		u := &url.URL{Scheme: "http", Host: upstream, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		out := (&http.Request{Method: r.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: oh, Body: r.Body, ContentLength: r.ContentLength, Host: r.Host}).WithContext(r.Context())
		if r.Body == http.NoBody {
			out.Body = nil
		}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		wh := w.Header()
		for k, vv := range resp.Header {
			wh[k] = vv
		}
		for _, k := range hopHeaders {
			delete(wh, k)
		}
		if resp.ContentLength >= 0 {
			wh["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
		}
		w.WriteHeader(resp.StatusCode)
		bp := proxyBufs.Get().(*[32 << 10]byte)
		defer proxyBufs.Put(bp)
		io.CopyBuffer(writerOnly{w}, resp.Body, bp[:])
	})
}

// TestCompareCPU is the interleaved comparison behind the numbers in the
// package's report. It is skipped unless H1SERVER_COMPARE is set (it takes
// about half a minute):
//
//	H1SERVER_COMPARE=1 go test -run TestCompareCPU -v ./internal/h1server/
//
// bench_gateway_test.go runs the same comparison with sluice's gateway.
func TestCompareCPU(t *testing.T) {
	if os.Getenv("H1SERVER_COMPARE") == "" {
		t.Skip("set H1SERVER_COMPARE=1 to run")
	}
	up := startFloor(t)
	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	compareCPU(t, "small handler", smallHandler())
	compareCPU(t, "h1 reverse proxy", proxyHandler(tr, up))
}

// compareCPU serves handler with net/http.Server and with this server and
// measures process CPU time per request over several rounds: each round
// runs every target (a raw responder as the floor, then both servers) for
// the same number of requests over 64 keep-alive connections with
// GOMAXPROCS=1, in an order rotated between rounds. Process CPU, unlike
// wall time, does not grow when other programs take the CPU away.
func compareCPU(t *testing.T, name string, handler http.Handler) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds, perRun, conns = 9, 60000, 64
	floor := startFloor(t)
	_, std := startStd(t, handler, func(s *http.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes = 10*time.Second, 120*time.Second, 64<<10
	})
	_, mine := startServer(t, handler, func(s *Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes = 10*time.Second, 120*time.Second, 64<<10
	})
	targets := []struct{ name, addr string }{{"floor", floor}, {"std", std}, {"h1server", mine}}
	pools := make([][]*rawClient, len(targets))
	for i, tg := range targets {
		for range conns {
			rc, err := dialRaw(tg.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.c.Close()
			pools[i] = append(pools[i], rc)
		}
		runLoad(t, pools[i], perRun/10) // warm up
	}
	cpu := make([][]float64, len(targets))
	for r := range rounds {
		for k := range targets {
			i := (k + r) % len(targets)
			runtime.GC()
			c0 := cpuTime()
			runLoad(t, pools[i], perRun)
			cpu[i] = append(cpu[i], float64((cpuTime()-c0).Nanoseconds())/perRun/1000)
		}
	}
	med := make([]float64, len(targets))
	for i, tg := range targets {
		med[i] = median(cpu[i])
		t.Logf("%-17s %-9s CPU us/request: median %.2f, rounds %.2f", name, tg.name, med[i], cpu[i])
	}
	t.Logf("%-17s h1server/std = %.3f; minus the floor (client and kernel): std %.2f us, h1server %.2f us, ratio %.3f",
		name, med[2]/med[1], med[1]-med[0], med[2]-med[0], (med[2]-med[0])/(med[1]-med[0]))
}

func runLoad(t *testing.T, pool []*rawClient, n int) {
	var wg sync.WaitGroup
	per := n / len(pool)
	for _, rc := range pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if err := rc.do(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
