// Command plainproxy is the "plain Go proxy" reference point of the
// benchmark: net/http/httputil.ReverseProxy with nothing but Rewrite+SetURL
// and the default transport given a larger idle pool. Whatever Sluice costs
// on top of this is the price of its own features.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (host:port)")
	upstream := flag.String("upstream", "http://127.0.0.1:18080", "upstream base URL")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("plainproxy: bad -upstream %q", *upstream)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.MaxIdleConns = 256

	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
		},
		Transport: tr,
		// FlushInterval 0: text/event-stream and unknown-length bodies are
		// still flushed immediately by ReverseProxy itself.
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
	log.Printf("plainproxy: listening on %s -> %s (GOMAXPROCS=%d, NumCPU=%d)", *addr, target, runtime.GOMAXPROCS(0), runtime.NumCPU())
	log.Fatal(srv.ListenAndServe())
}
