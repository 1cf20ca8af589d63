// Command mcpclient is the MCP benchmark's client. It speaks Streamable
// HTTP with plain net/http, sending the bytes and headers the Go SDK's
// client sends, so the load it puts out is a real client's at a fraction
// of the SDK's cost.
//
// Modes (-mode):
//
//	load   -c workers each send tools/call "echo" back to back on their own
//	       keep-alive connection for -d (after -warmup, not recorded), and
//	       it prints calls/s and latency percentiles. -era 2026 sends
//	       stateless 2026-07-28 requests (Mcp-Protocol-Version, Mcp-Method,
//	       Mcp-Name, and _meta with the protocol version, client info and
//	       capabilities); -era 2025 opens one 2025-11-25 session per worker
//	       (initialize, notifications/initialized), calls inside it with
//	       Mcp-Session-Id, and ends it with DELETE.
//	check  lists the tools and calls echo once, in the given era, and
//	       checks the answers.
//	idle   opens -k 2025-11-25 sessions (whatever -era says), each with its GET SSE stream held
//	       open on its own connection (-p at a time), prints a line
//	       "ready ..." once they are open, and holds them until -hold ends
//	       or SIGTERM/SIGINT; then it reports streams that ended early.
//
// Every answer must have status 200 and carry the echoed text (in a JSON
// body or an SSE event); anything else counts as an error. Output is one
// line of key=value pairs (idle mode also prints progress lines).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	v2026 = "2026-07-28"
	v2025 = "2025-11-25"
	text  = "The quick brown fox jumps over the lazy dog."
)

// meta is what the Go SDK's 2026-07-28 client puts in every request's
// params (SEP-2575).
const meta = `"_meta":{"io.modelcontextprotocol/clientCapabilities":{"roots":{"listChanged":true}},` +
	`"io.modelcontextprotocol/clientInfo":{"name":"sluice-bench","version":"1.0.0"},` +
	`"io.modelcontextprotocol/protocolVersion":"` + v2026 + `"}`

func main() {
	mode := flag.String("mode", "load", "load | check | idle")
	url := flag.String("url", "", "the MCP endpoint, like http://127.0.0.1:8080/mcp")
	era := flag.String("era", "2026", "2026: stateless 2026-07-28 requests; 2025: 2025-11-25 sessions")
	conc := flag.Int("c", 1, "load: concurrent workers, one keep-alive connection each")
	dur := flag.Duration("d", 5*time.Second, "load: measured duration")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "load: unrecorded time before measuring")
	k := flag.Int("k", 1000, "idle: streams to open")
	par := flag.Int("p", 32, "idle: streams opened at a time")
	hold := flag.Duration("hold", 30*time.Second, "idle: how long to hold the streams after they are open")
	timeout := flag.Duration("timeout", 10*time.Second, "bound on one request (idle: on opening one stream)")
	flag.Parse()
	if *url == "" {
		fail("-url is required")
	}
	if *era != "2026" && *era != "2025" {
		fail("-era must be 2026 or 2025")
	}
	c := &client{url: *url, era: *era, timeout: *timeout}
	switch *mode {
	case "load":
		if *conc < 1 {
			fail("-c must be at least 1")
		}
		c.hc = newHTTPClient(*conc)
		c.load(*conc, *warmup, *dur)
	case "check":
		c.hc = newHTTPClient(1)
		c.check()
	case "idle":
		if *k < 1 || *par < 1 {
			fail("-k and -p must be at least 1")
		}
		c.era = "2025" // GET streams belong to 2025-11-25 sessions
		c.hc = newHTTPClient(*par)
		c.idle(*k, *par, *hold)
	default:
		fail("unknown -mode " + *mode)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "mcpclient:", msg)
	os.Exit(2)
}

func newHTTPClient(idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: idle,
		MaxIdleConns:        idle,
		IdleConnTimeout:     time.Minute,
	}}
}

type client struct {
	url, era string
	timeout  time.Duration
	hc       *http.Client
}

// callBody is the tools/call request of the era.
func (c *client) callBody(id int) []byte {
	if c.era == "2026" {
		return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{%s,"name":"echo","arguments":{"text":%q}}}`, id, meta, text)
	}
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}}}`, id, text)
}

// header returns the headers of a POST of method (with tool name, if any)
// in the client's era, inside session sid if not empty.
func (c *client) header(method, name, sid string) http.Header {
	h := http.Header{
		"Content-Type": {"application/json"},
		"Accept":       {"application/json, text/event-stream"},
		"User-Agent":   {"sluice-bench-mcpclient/1.0"},
	}
	if c.era == "2026" {
		h["Mcp-Protocol-Version"] = []string{v2026}
		h["Mcp-Method"] = []string{method}
		if name != "" {
			h["Mcp-Name"] = []string{name}
		}
	} else if method != "initialize" {
		h["Mcp-Protocol-Version"] = []string{v2025}
	}
	if sid != "" {
		h["Mcp-Session-Id"] = []string{sid}
	}
	return h
}

// post sends one message and returns the answer's status, headers and
// body (read whole into buf).
func (c *client) post(ctx context.Context, hdr http.Header, body []byte, buf *bytes.Buffer) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp, err
}

var echoed = []byte(`"text":"` + text + `"`)

// call sends one tools/call and checks its answer.
func (c *client) call(hdr http.Header, body []byte, buf *bytes.Buffer) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	resp, err := c.post(ctx, hdr, body, buf)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, buf.Bytes())
	}
	if !bytes.Contains(buf.Bytes(), echoed) {
		return fmt.Errorf("answer without the echoed text: %.300s", buf.Bytes())
	}
	return nil
}

// initialize opens a 2025-11-25 session and returns its id ("" from a
// stateless server, which keeps none).
func (c *client) initialize(ctx context.Context, buf *bytes.Buffer) (string, error) {
	body := []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + v2025 +
		`","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"sluice-bench","version":"1.0.0"}}}`)
	resp, err := c.post(ctx, c.header("initialize", "", ""), body, buf)
	if err != nil {
		return "", fmt.Errorf("initialize: %w", err)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(`"protocolVersion":"`+v2025+`"`)) {
		return "", fmt.Errorf("initialize: status %d, session %q: %.200s", resp.StatusCode, sid, buf.Bytes())
	}
	resp, err = c.post(ctx, c.header("notifications/initialized", "", sid),
		[]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), buf)
	if err != nil {
		return "", fmt.Errorf("notifications/initialized: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("notifications/initialized: status %d: %.200s", resp.StatusCode, buf.Bytes())
	}
	return sid, nil
}

func (c *client) end(sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	req.Header = http.Header{"Mcp-Session-Id": {sid}, "Mcp-Protocol-Version": {v2025}}
	if resp, err := c.hc.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// ---------------------------------------------------------------- load

type worker struct {
	lat     []time.Duration
	errs    int
	lastErr error
}

func (c *client) load(conc int, warmup, dur time.Duration) {
	start := time.Now()
	measureFrom, stop := start.Add(warmup), start.Add(warmup+dur)
	workers := make([]*worker, conc)
	var wg sync.WaitGroup
	var setupErr atomic.Pointer[error]
	for i := range workers {
		w := &worker{lat: make([]time.Duration, 0, 1<<14)}
		workers[i] = w
		wg.Go(func() {
			buf := new(bytes.Buffer)
			sid := ""
			if c.era == "2025" {
				ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
				var err error
				sid, err = c.initialize(ctx, buf)
				cancel()
				if err != nil {
					setupErr.Store(&err)
					return
				}
				defer c.end(sid)
			}
			hdr := c.header("tools/call", "echo", sid)
			body := c.callBody(i + 1)
			for {
				t0 := time.Now()
				if t0.After(stop) {
					return
				}
				err := c.call(hdr, body, buf)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					w.errs++
					w.lastErr = err
					time.Sleep(time.Millisecond) // no busy loop on a dead target
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	if p := setupErr.Load(); p != nil {
		fmt.Fprintln(os.Stderr, "mcpclient: session setup failed:", *p)
		os.Exit(1)
	}
	var all []time.Duration
	errs := 0
	var lastErr error
	for _, w := range workers {
		all = append(all, w.lat...)
		errs += w.errs
		if w.lastErr != nil {
			lastErr = w.lastErr
		}
	}
	slices.Sort(all)
	line := fmt.Sprintf("era=%s c=%d seconds=%.2f calls=%d rps=%.0f p50_us=%d p90_us=%d p99_us=%d errors=%d",
		c.era, conc, dur.Seconds(), len(all), float64(len(all))/dur.Seconds(),
		pct(all, 50), pct(all, 90), pct(all, 99), errs)
	if lastErr != nil {
		line += " last_error=" + strings.ReplaceAll(lastErr.Error(), "\n", " ")
	}
	fmt.Println(line)
	if len(all) == 0 {
		os.Exit(1)
	}
}

func pct(sorted []time.Duration, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Microseconds()
}

// ---------------------------------------------------------------- check

func (c *client) check() {
	buf := new(bytes.Buffer)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	sid := ""
	if c.era == "2025" {
		var err error
		if sid, err = c.initialize(ctx, buf); err != nil {
			fmt.Fprintln(os.Stderr, "mcpclient check:", err)
			os.Exit(1)
		}
		defer c.end(sid)
	}
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	if c.era == "2026" {
		list = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + meta + `}}`
	}
	resp, err := c.post(ctx, c.header("tools/list", "", sid), []byte(list), buf)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(`"name":"echo"`)) {
		fmt.Fprintf(os.Stderr, "mcpclient check: tools/list: %v %v %.300s\n", err, status(resp), buf.Bytes())
		os.Exit(1)
	}
	ct := resp.Header.Get("Content-Type")
	if err := c.call(c.header("tools/call", "echo", sid), c.callBody(2), buf); err != nil {
		fmt.Fprintln(os.Stderr, "mcpclient check: tools/call:", err)
		os.Exit(1)
	}
	fmt.Printf("ok era=%s content_type=%q session=%t\n", c.era, ct, sid != "")
}

func status(r *http.Response) any {
	if r == nil {
		return "no answer"
	}
	return r.StatusCode
}

// ---------------------------------------------------------------- idle

// stream is one held GET stream.
type stream struct {
	sid    string
	cancel context.CancelFunc
}

func (c *client) idle(k, par int, hold time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	var (
		mu       sync.Mutex
		streams  []stream
		failed   int
		lastErr  error
		done     atomic.Bool // set once we close the streams ourselves
		dropped  atomic.Int64
		comments atomic.Int64
		next     atomic.Int64
		wg       sync.WaitGroup
		readers  sync.WaitGroup
	)
	start := time.Now()
	stopOpening := make(chan struct{})
	var stopOnce sync.Once
	for range par {
		wg.Go(func() {
			buf := new(bytes.Buffer)
			consecutive := 0
			for next.Add(1) <= int64(k) {
				select {
				case <-stopOpening:
					return
				default:
				}
				s, body, err := c.open(buf)
				if err != nil {
					mu.Lock()
					failed++
					lastErr = err
					mu.Unlock()
					if consecutive++; consecutive >= 20 {
						stopOnce.Do(func() { close(stopOpening) })
					}
					continue
				}
				consecutive = 0
				mu.Lock()
				streams = append(streams, s)
				n := len(streams)
				mu.Unlock()
				if n%1000 == 0 {
					fmt.Printf("progress open=%d seconds=%.1f\n", n, time.Since(start).Seconds())
				}
				readers.Go(func() {
					br := bufio.NewReaderSize(body, 512)
					for {
						line, err := br.ReadSlice('\n')
						if bytes.HasPrefix(line, []byte(":")) {
							comments.Add(1)
						}
						if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
							break
						}
					}
					body.Close()
					if !done.Load() {
						dropped.Add(1)
					}
				})
			}
		})
	}
	wg.Wait()
	mu.Lock()
	open := len(streams)
	mu.Unlock()
	line := fmt.Sprintf("ready open=%d failed=%d seconds=%.1f", open, failed, time.Since(start).Seconds())
	if lastErr != nil {
		line += " last_error=" + strings.ReplaceAll(lastErr.Error(), "\n", " ")
	}
	fmt.Println(line)
	select {
	case <-time.After(hold):
	case <-sig:
	}
	done.Store(true)
	for _, s := range streams {
		s.cancel()
	}
	readers.Wait()
	fmt.Printf("held open=%d dropped=%d comments=%d\n", open, dropped.Load(), comments.Load())
	if open == 0 {
		os.Exit(1)
	}
}

// open starts a session and its GET stream, and returns the stream's body
// once the answer's headers are in.
func (c *client) open(buf *bytes.Buffer) (stream, io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	sid, err := c.initialize(ctx, buf)
	cancel()
	if err != nil {
		return stream{}, nil, err
	}
	sctx, scancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, c.url, nil)
	if err != nil {
		scancel()
		return stream{}, nil, err
	}
	req.Header = http.Header{
		"Accept":               {"text/event-stream"},
		"Mcp-Session-Id":       {sid},
		"Mcp-Protocol-Version": {v2025},
		"User-Agent":           {"sluice-bench-mcpclient/1.0"},
	}
	t := time.AfterFunc(c.timeout, scancel) // bounds the wait for the headers
	resp, err := c.hc.Do(req)
	t.Stop()
	if err != nil {
		scancel()
		return stream{}, nil, fmt.Errorf("GET stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		scancel()
		return stream{}, nil, fmt.Errorf("GET stream: status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return stream{sid: sid, cancel: scancel}, resp.Body, nil
}
