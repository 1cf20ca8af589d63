package route

import (
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicegw/sluice/internal/upstream/h1"
)

// Connection settings of the transports newTransport builds.
const (
	defaultConnect = 10 * time.Second
	idleTimeout    = 90 * time.Second
	maxIdlePerHost = 64
)

// transport carries the requests of a provider with an http:// base URL (a
// local vLLM, Ollama or LiteLLM, a fake in a benchmark) over h1, which
// writes the request and reads the answer on the calling goroutine.
// net/http's Transport hands both to goroutines of the connection, and it
// was a quarter of the CPU of a request in bench/ai.sh's profile.
// h1.Supports sends what h1 cannot carry (an Expect or Upgrade header among
// the provider's configured headers) to net/http. Unlike net/http, h1 adds
// no User-Agent and no Accept-Encoding: gzip of its own, so such a provider
// answers uncompressed, which costs nothing on a local network.
//
// Of the timeouts, only the dial timeout is the transports': the route
// bounds an attempt (response, first_token, between_chunks, total) and
// follows the client's cancellation by cancelling the request's context,
// which h1 obeys while it sends, waits and reads the body.
type transport struct {
	fast *h1.Transport
	std  *http.Transport
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h1.Supports(r) {
		return t.fast.RoundTrip(r)
	}
	return t.std.RoundTrip(r)
}

// CloseIdleConnections closes both transports' idle connections.
func (t *transport) CloseIdleConnections() {
	t.fast.CloseIdleConnections()
	t.std.CloseIdleConnections()
}

// newTransport returns the transport of a provider at base, whose
// connections take at most connect to open (10s when zero). It is
// net/http's Transport, wrapped in a transport that sends through h1
// when base is http:// and no proxy from the environment applies to it;
// https (TLS, HTTP/2) and proxies are net/http's alone.
func newTransport(base string, connect time.Duration) http.RoundTripper {
	if connect <= 0 {
		connect = defaultConnect
	}
	std := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   connect,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       idleTimeout,
		ExpectContinueTimeout: time.Second,
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return std
	}
	// The proxy decision depends only on the scheme and host, which every
	// request of the provider shares, and net/http reads the environment
	// once per process: deciding here is deciding for every request.
	if p, err := std.Proxy(&http.Request{URL: u}); p != nil || err != nil {
		return std
	}
	return &transport{
		fast: &h1.Transport{DialTimeout: connect, IdleTimeout: idleTimeout, MaxIdlePerHost: maxIdlePerHost},
		std:  std,
	}
}

var _ http.RoundTripper = (*transport)(nil)
