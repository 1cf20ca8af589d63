package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRoundTrip compares h1.Transport with net/http.Transport (set up
// as sluice's upstream transport is) against a local httptest server:
// a GET with a tiny response, and a POST of 1 KiB.
func BenchmarkRoundTrip(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	}))
	defer s.Close()
	payload := bytes.Repeat([]byte("p"), 1024)

	transports := []struct {
		name string
		rt   interface {
			http.RoundTripper
			CloseIdleConnections()
		}
	}{
		{"h1", &Transport{}},
		{"std", &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 256, WriteBufferSize: 32 << 10, ReadBufferSize: 32 << 10}},
	}
	// Requests are built once and reused (both transports allow that once
	// the previous response is closed), so only the transport is measured.
	get, _ := http.NewRequest("GET", s.URL+"/x", nil)
	get.Header.Set("User-Agent", "")
	payloadReader := bytes.NewReader(payload)
	post, _ := http.NewRequest("POST", s.URL+"/x", io.NopCloser(payloadReader)) // in-memory to net/http too
	post.ContentLength = int64(len(payload))
	post.Header.Set("User-Agent", "")
	cases := []struct {
		name string
		req  *http.Request
	}{
		{"GET", get},
		{"POST1K", post},
	}
	for _, c := range cases {
		for _, tr := range transports {
			b.Run(c.name+"/"+tr.name, func(b *testing.B) {
				defer tr.rt.CloseIdleConnections()
				b.ReportAllocs()
				for b.Loop() {
					payloadReader.Reset(payload)
					resp, err := tr.rt.RoundTrip(c.req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	}
}

// BenchmarkParallel runs the GET from several goroutines, so pooling and
// the pool's lock are exercised.
func BenchmarkParallel(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer s.Close()
	for _, tr := range []struct {
		name string
		rt   interface {
			http.RoundTripper
			CloseIdleConnections()
		}
	}{
		{"h1", &Transport{}},
		{"std", &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 256}},
	} {
		b.Run(tr.name, func(b *testing.B) {
			defer tr.rt.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", s.URL+"/x", nil)
					req.Header.Set("User-Agent", "")
					resp, err := tr.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkRoundTripRaw is BenchmarkRoundTrip against a minimal upstream
// that allocates nothing per request, so allocs/op is the transport's own.
func BenchmarkRoundTripRaw(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveMinimal(c)
		}
	}()
	url := "http://" + ln.Addr().String() + "/x"
	payload := bytes.Repeat([]byte("p"), 1024)
	get, _ := http.NewRequest("GET", url, nil)
	get.Header.Set("User-Agent", "")
	payloadReader := bytes.NewReader(payload)
	post, _ := http.NewRequest("POST", url, io.NopCloser(payloadReader))
	post.ContentLength = int64(len(payload))
	post.Header.Set("User-Agent", "")
	// A cancellable context, as a proxied request has: h1 registers a
	// context.AfterFunc per request.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	getCtx := get.WithContext(ctx)
	for _, c := range []struct {
		name string
		req  *http.Request
	}{{"GET", get}, {"GETctx", getCtx}, {"POST1K", post}} {
		for _, tr := range []struct {
			name string
			rt   interface {
				http.RoundTripper
				CloseIdleConnections()
			}
		}{
			{"h1", &Transport{}},
			{"std", &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 256, WriteBufferSize: 32 << 10, ReadBufferSize: 32 << 10}},
		} {
			b.Run(c.name+"/"+tr.name, func(b *testing.B) {
				defer tr.rt.CloseIdleConnections()
				b.ReportAllocs()
				for b.Loop() {
					payloadReader.Reset(payload)
					resp, err := tr.rt.RoundTrip(c.req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	}
}

// serveMinimal answers each request with a fixed 2-byte response, reading
// the head line by line and skipping a Content-Length body.
func serveMinimal(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	prefix := []byte("content-length:")
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
			if len(line) > len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix) {
				for _, d := range bytes.TrimSpace(line[len(prefix):]) {
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
