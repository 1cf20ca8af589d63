package openidconnect

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

// errInactive is the introspection answer active=false (RFC 7662 2.2): the
// token is expired, revoked, or was never issued.
var errInactive = errors.New("token is not active (introspection)")

// introspector asks the provider about tokens (RFC 7662) and caches the
// answers, positive and negative, keyed by the token's SHA-256 so that
// the cache holds no token.
type introspector struct {
	client  *http.Client
	id      string
	secret  string
	post    bool // client_secret_post rather than client_secret_basic
	always  bool
	timeout time.Duration // bounds each request
	ttl     time.Duration // 0: no cache
	size    int
	now     func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]answer
}

// answer is one cached introspection answer.
type answer struct {
	claims map[string]any // read-only once cached; nil when inactive
	until  time.Time
}

func (in *introspector) introspect(ctx context.Context, endpoint, tok string) (map[string]any, error) {
	key := sha256.Sum256([]byte(tok))
	now := in.now()
	if a, ok := in.get(key, now); ok {
		if a.claims == nil {
			return nil, errInactive
		}
		return a.claims, nil
	}
	claims, err := in.ask(ctx, endpoint, tok)
	if err != nil {
		return nil, err // not cached: the next request asks again
	}
	active, _ := claims["active"].(bool)
	a := answer{until: now.Add(in.ttl)}
	if active {
		a.claims = claims
		// An answer is no good past the token's own exp.
		if exp, ok := claims["exp"].(float64); ok {
			if e := time.Unix(int64(exp), 0); e.Before(a.until) {
				a.until = e
			}
		}
	}
	in.put(key, a, now)
	if !active {
		return nil, errInactive
	}
	return claims, nil
}

// ask makes one introspection request.
func (in *introspector) ask(ctx context.Context, endpoint, tok string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	if in.post {
		form.Set("client_id", in.id)
		form.Set("client_secret", in.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("introspection at %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !in.post {
		// RFC 6749 2.3.1: the client ID and secret are form-encoded before
		// they go into Basic authentication.
		req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.secret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("introspection at %s: %w", endpoint, err)
	}
	b, err := jwtverify.ReadBody(resp, "introspection at "+endpoint)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("introspection at %s: answer is not a JSON object", endpoint)
	}
	if _, ok := claims["active"].(bool); !ok {
		return nil, fmt.Errorf("introspection at %s: answer has no boolean active", endpoint)
	}
	return claims, nil
}

func (in *introspector) get(key [32]byte, now time.Time) (answer, bool) {
	if in.ttl <= 0 {
		return answer{}, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	a, ok := in.cache[key]
	if !ok || !now.Before(a.until) {
		return answer{}, false
	}
	return a, true
}

func (in *introspector) put(key [32]byte, a answer, now time.Time) {
	if in.ttl <= 0 || !now.Before(a.until) {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.cache) >= in.size {
		// Full: drop what has expired, then, if that was not enough, an
		// arbitrary eighth, so that the next inserts need not scan again.
		for k, v := range in.cache {
			if !now.Before(v.until) {
				delete(in.cache, k)
			}
		}
		for k := range in.cache {
			if len(in.cache) <= in.size-max(in.size/8, 1) {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[key] = a
}
