package jwtverify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// MaxDocumentSize bounds what Fetch reads: key sets, discovery documents
// and introspection answers are a few KiB.
const MaxDocumentSize = 1 << 20

// Fetch GETs url (with Accept: accept) and returns the body of a 200
// answer, up to MaxDocumentSize. Errors name the URL, never a credential.
func Fetch(ctx context.Context, client *http.Client, url, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return ReadBody(resp, "GET "+url)
}

// ReadBody reads a 200 answer's body, up to MaxDocumentSize, and closes it.
// what names the request in errors.
func ReadBody(resp *http.Response, what string) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return nil, fmt.Errorf("%s: status %d", what, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > MaxDocumentSize {
		return nil, fmt.Errorf("%s: body is larger than %d bytes", what, MaxDocumentSize)
	}
	return b, nil
}

// RemoteOptions configure a Remote.
type RemoteOptions struct {
	LoaderOptions
	// Client makes the requests. Default: a client on
	// http.DefaultTransport (proxy settings from the environment).
	Client *http.Client
	// Logger gets one line per failed fetch (rate limited by MinInterval),
	// one when fetching works again, and one per fetch that skipped keys.
	// nil logs nothing.
	Logger *slog.Logger
}

// Remote is a JWK set at a URL, cached: fetched on first use, refreshed in
// the background when older than Refresh, fetched again when a token names
// a kid it lacks (at most once per MinInterval, so random kids cannot make
// the gateway hammer the provider), and kept as it is when the provider is
// down. A successful answer replaces the set entirely, even an empty one: a
// provider that withdrew a key means it.
type Remote struct {
	url string
	l   *Loader[*Set]
}

// NewRemote returns the key set at url. Close it when done.
func NewRemote(url string, o RemoteOptions) *Remote {
	client := o.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lo := o.LoaderOptions
	if lo.OnError == nil {
		lo.OnError = func(err error) {
			log.Warn("JWKS fetch failed; cached keys, if any, are still used", "jwks_url", url, "error", err)
		}
	}
	if lo.OnRecover == nil {
		lo.OnRecover = func() { log.Info("JWKS fetch works again", "jwks_url", url) }
	}
	fetch := func(ctx context.Context) (*Set, error) {
		b, err := Fetch(ctx, client, url, "application/jwk-set+json, application/json")
		if err != nil {
			return nil, err
		}
		s, err := ParseSet(b)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		if len(s.Skipped) > 0 {
			log.Warn("JWKS keys skipped", "jwks_url", url, "skipped", strings.Join(s.Skipped, "; "))
		}
		return s, nil
	}
	return &Remote{url: url, l: NewLoader(fetch, lo)}
}

// URL returns the key set's URL.
func (r *Remote) URL() string { return r.url }

// Key returns the key for a token with header kid and alg (see Set.Lookup).
// A miss fetches the set again if MinInterval allows, for a provider that
// has just rotated its keys.
func (r *Remote) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	s, err := r.l.Get(ctx, false)
	if s != nil {
		k, err := s.Lookup(kid, alg)
		if !errors.Is(err, ErrNoKey) {
			return k, err
		}
		if s, _ = r.l.Get(ctx, true); s != nil { // rotation: look again in a fresh set
			return s.Lookup(kid, alg)
		}
	}
	return nil, fmt.Errorf("no key set from %s yet: %w", r.url, err)
}

// Prefetch starts fetching the set in the background, if it was never
// fetched.
func (r *Remote) Prefetch() { r.l.Prefetch() }

// Wait waits for a fetch in flight (tests use it after a background
// refresh).
func (r *Remote) Wait() { r.l.Wait() }

// Close stops a fetch in flight. It returns nil.
func (r *Remote) Close() error { return r.l.Close() }
