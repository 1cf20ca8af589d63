// Command upstream is the benchmark backend: a tiny HTTP/1.1 server that
// answers every path with a 2-byte JSON body, and /sse with a stream of
// server-sent events.
//
//	GET /anything          -> 200 application/json "{}"
//	GET /sse?n=200&gap=5ms -> n events "data: i\n\n", gap apart, each flushed
//
// It is deliberately minimal so that it costs as little CPU per request as
// possible: the benchmark compares proxies, not backends.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

var body = []byte("{}")

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address (host:port)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/sse", serveSSE)
	mux.HandleFunc("/", serveJSON)

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
	log.Printf("upstream: listening on %s (GOMAXPROCS=%d, NumCPU=%d)", *addr, runtime.GOMAXPROCS(0), runtime.NumCPU())
	log.Fatal(srv.ListenAndServe())
}

func serveJSON(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{"2"}
	_, _ = w.Write(body)
}

func serveSSE(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n := 200
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i > 1_000_000 {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		n = i
	}
	gap := 5 * time.Millisecond
	if v := q.Get("gap"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			http.Error(w, "bad gap", http.StatusBadRequest)
			return
		}
		gap = d
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	// The first event goes out at once, with the headers; the rest follow
	// gap apart, so time-to-first-byte measures the proxy's own delay.
	var t *time.Timer
	for i := 0; i < n; i++ {
		if i > 0 {
			if t == nil {
				t = time.NewTimer(gap)
			} else {
				t.Reset(gap)
			}
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: {\"i\":%d}\n\n", i, i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
