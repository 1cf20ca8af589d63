// Command ttft is the AI benchmark's streaming client. It POSTs one fixed
// chat completion body (with "stream": true) to a URL and reads the
// server-sent events as they come.
//
// Sequential mode (the default) sends -n requests one after another on one
// keep-alive connection and prints the median and tail of the time to the
// first token: from just before the request is written to the arrival of
// the first data: event whose delta carries non-empty content. It also
// prints the time to the first data: event of any kind and to the end of
// the stream.
//
// Load mode (-c > 0) runs -c workers that each send requests back to back
// for -d, lets the streams in flight finish, and prints how many data:
// events ([DONE] excluded) arrived, for the CPU per chunk figure.
//
// A stream counts as an error unless it has status 200, ends with
// data: [DONE], and (with -expect N) carries exactly N content chunks.
// Output is one line of key=value pairs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	url := flag.String("url", "", "chat completions URL, like http://127.0.0.1:8080/v1/chat/completions")
	bodyFile := flag.String("body", "", "file holding the JSON request body (with \"stream\": true)")
	n := flag.Int("n", 100, "sequential mode: requests measured")
	warmup := flag.Int("warmup", 3, "requests sent first and not measured")
	conc := flag.Int("c", 0, "load mode: concurrent streams (0: sequential mode)")
	dur := flag.Duration("d", 5*time.Second, "load mode: how long new streams are started")
	expect := flag.Int("expect", 0, "content chunks every stream must carry (0: any)")
	timeout := flag.Duration("timeout", 30*time.Second, "bound on one request")
	var hdrs headers
	flag.Var(&hdrs, "H", "request header \"Name: value\" (repeatable)")
	flag.Parse()
	if *url == "" || *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "ttft: -url and -body are required")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttft:", err)
		os.Exit(2)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "ttft: header %q is not \"Name: value\"\n", h)
			os.Exit(2)
		}
		hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	c := &client{
		url: *url, body: body, hdr: hdr, expect: *expect, timeout: *timeout,
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback only, whatever the environment says
			DisableCompression:  true,
			MaxIdleConnsPerHost: max(*conc, 1),
			IdleConnTimeout:     time.Minute,
		}},
	}
	for i := 0; i < *warmup; i++ {
		c.do()
	}
	if *conc > 0 {
		c.load(*conc, *dur)
	} else {
		c.sequential(*n)
	}
}

type client struct {
	url     string
	body    []byte
	hdr     http.Header
	expect  int
	timeout time.Duration
	hc      *http.Client
}

// result is one stream, as the client saw it.
type result struct {
	firstEvent, firstToken, total time.Duration
	events, content               int
	err                           error
}

func (c *client) do() result {
	var res result
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header = c.hdr.Clone()
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		res.err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
		return res
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	done := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && !done {
			data, ok := bytes.CutPrefix(line, []byte("data:"))
			if ok {
				data = bytes.TrimSpace(data)
				if string(data) == "[DONE]" {
					done = true
				} else {
					if res.events == 0 {
						res.firstEvent = time.Since(start)
					}
					res.events++
					if hasContent(data) {
						if res.content == 0 {
							res.firstToken = time.Since(start)
						}
						res.content++
					}
				}
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err != io.EOF {
				res.err = err
			}
			break
		}
	}
	res.total = time.Since(start)
	switch {
	case res.err != nil:
	case !done:
		res.err = fmt.Errorf("the stream ended without data: [DONE] after %d events", res.events)
	case c.expect > 0 && res.content != c.expect:
		res.err = fmt.Errorf("%d content chunks, want %d", res.content, c.expect)
	}
	return res
}

// hasContent reports whether a chunk's JSON has a non-empty "content"
// string (a token), whatever the spacing around the colon.
func hasContent(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`"content"`))
		if i < 0 {
			return false
		}
		data = bytes.TrimLeft(data[i+len(`"content"`):], " \t")
		if len(data) == 0 || data[0] != ':' {
			continue
		}
		data = bytes.TrimLeft(data[1:], " \t")
		if len(data) >= 2 && data[0] == '"' && data[1] != '"' {
			return true
		}
	}
}

func (c *client) sequential(n int) {
	var first, token, total []time.Duration
	errs, events := 0, 0
	var lastErr error
	for i := 0; i < n; i++ {
		r := c.do()
		if r.err != nil {
			errs++
			lastErr = r.err
			continue
		}
		first = append(first, r.firstEvent)
		token = append(token, r.firstToken)
		total = append(total, r.total)
		events = r.events
	}
	fmt.Printf("requests=%d errors=%d ttft_p50_us=%s ttft_p90_us=%s ttft_p99_us=%s first_event_p50_us=%s total_p50_us=%s events_per_stream=%d",
		n, errs, pct(token, 50), pct(token, 90), pct(token, 99), pct(first, 50), pct(total, 50), events)
	if lastErr != nil {
		fmt.Printf(" last_error=%q", lastErr.Error())
	}
	fmt.Println()
}

func (c *client) load(conc int, d time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	streams, errs, events, content := 0, 0, 0, 0
	var lastErr error
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r := c.do()
				mu.Lock()
				streams++
				events += r.events
				content += r.content
				if r.err != nil {
					errs++
					lastErr = r.err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("streams=%d errors=%d events=%d content_chunks=%d seconds=%.3f",
		streams, errs, events, content, time.Since(start).Seconds())
	if lastErr != nil {
		fmt.Printf(" last_error=%q", lastErr.Error())
	}
	fmt.Println()
}

// pct is the p-th percentile in microseconds with one decimal, or "NA".
func pct(v []time.Duration, p int) string {
	if len(v) == 0 {
		return "NA"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	i = min(max(i, 0), len(s)-1)
	return fmt.Sprintf("%.1f", float64(s[i].Nanoseconds())/1e3)
}
