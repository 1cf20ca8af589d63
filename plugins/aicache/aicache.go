// Package aicache implements the ai-cache plugin: an exact-match cache of
// an ai route's answers, opt-in per route, in this process or in Redis.
//
// A request is looked up by a SHA-256 key over the route, the client's API
// and operation, the caller's scope (the consumer by default), the stream
// flag and the request in canonical JSON (plugin.AIRequest.Canonical), so
// the same question asked twice in a different member order or spacing
// is the same key. A hit is written without calling the terminal handler:
// a JSON answer as it was, a stream replayed event by event with a flush
// after each, so SDKs read a real SSE stream. A miss goes upstream through
// a writer that passes every write and flush straight on and keeps a copy
// of the body, which is stored only when the answer is complete: status
// 200, no error kind, a stream that reached its own end.
package aicache

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

const name = "ai-cache"

// HeaderCache tells the client what the cache did with its request: "hit",
// "miss" (looked, not found; the answer may now be stored) or "bypass"
// (not looked up: Cache-Control, or an anonymous caller under scope
// consumer).
const HeaderCache = "X-Sluice-Cache"

// Response headers of the ai route that a hit replays as they were stored.
const (
	headerProvider = plugin.AIProviderHeader
	headerModel    = plugin.AIModelHeader
)

// Kind is the ai-cache plugin.
var Kind = plugin.Define(name, plugin.Transform, defaults, New)

// Stores and scopes.
const (
	StoreMemory   = "memory"
	StoreRedis    = "redis"
	ScopeConsumer = "consumer"
	ScopeGlobal   = "global"
)

// Bounds of the config.
const (
	minTTL        = time.Second
	maxTTL        = 30 * 24 * time.Hour
	maxEntriesCap = 10_000_000
	maxBodyCap    = 64 << 20
	maxMemoryCap  = 64 << 30
)

// Config is the ai-cache plugin's configuration.
type Config struct {
	// Store is memory (default: this process, an LRU) or redis (every
	// gateway sharing the top-level redis block).
	Store string `json:"store"`
	// TTL is how long an answer is served from the cache: "1h", "30m", or
	// a number of seconds; 1s to 30 days (720h). Default 1h.
	TTL limit.Duration `json:"ttl"`
	// MaxEntries bounds the memory store's entries; the least recently
	// used go first. Default 10000.
	MaxEntries int `json:"max_entries"`
	// MaxMemory bounds the bytes the memory store holds (bodies plus a
	// small overhead per entry). Default 256MiB.
	MaxMemory Size `json:"max_memory"`
	// MaxBody is the largest answer stored; larger ones are served and not
	// kept. Default 1MiB.
	MaxBody Size `json:"max_body"`
	// Scope is consumer (default: each consumer has its own answers, and
	// callers no Authn plugin identified are never cached) or global (one
	// cache for every caller of the route).
	Scope string `json:"scope"`
	// KeyPrefix starts every Redis key. Default "sluice:aicache:".
	KeyPrefix string `json:"key_prefix"`
}

func defaults() *Config {
	return &Config{
		Store:      StoreMemory,
		TTL:        limit.Dur(time.Hour),
		MaxEntries: 10000,
		MaxMemory:  Size{N: 256 << 20},
		MaxBody:    Size{N: 1 << 20},
		Scope:      ScopeConsumer,
		KeyPrefix:  "sluice:aicache:",
	}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Store != StoreMemory && c.Store != StoreRedis {
		bad("store: %q is not memory or redis", c.Store)
	}
	if err := c.TTL.Check("ttl", minTTL, maxTTL); err != nil {
		errs = append(errs, err)
	}
	if c.MaxEntries < 1 || c.MaxEntries > maxEntriesCap {
		bad("max_entries: must be from 1 to %d, got %d", maxEntriesCap, c.MaxEntries)
	}
	if err := c.MaxBody.Check("max_body", 1, maxBodyCap); err != nil {
		errs = append(errs, err)
	}
	if err := c.MaxMemory.Check("max_memory", 1, maxMemoryCap); err != nil {
		errs = append(errs, err)
	} else if c.MaxBody.text == "" && c.MaxMemory.N < c.MaxBody.N {
		bad("max_memory: must be at least max_body (%d bytes), got %d", c.MaxBody.N, c.MaxMemory.N)
	}
	if c.Scope != ScopeConsumer && c.Scope != ScopeGlobal {
		bad("scope: %q is not consumer or global", c.Scope)
	}
	if len(c.KeyPrefix) > 256 {
		bad("key_prefix: must be at most 256 bytes, got %d", len(c.KeyPrefix))
	}
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	ca, err := build(env, c, options{})
	if err != nil {
		return nil, err
	}
	return ca.middleware, nil
}

// options are for tests.
type options struct {
	now      func() time.Time // a fake clock for the memory store's expiry
	logEvery time.Duration    // least time between two store error logs (10s)
}

// cache is one built ai-cache. It is safe for concurrent use.
type cache struct {
	store   store
	ttl     time.Duration
	maxBody int
	global  bool
	now     func() time.Time
	log     *errLog

	hit, miss, bypass, stored, storeError plugin.Counter
}

func build(env plugin.Env, c *Config, o options) (*cache, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, fmt.Errorf("%s needs an ai route: route %q has no ai block", name, env.Route)
	}
	ca := &cache{
		ttl:        c.TTL.D,
		maxBody:    int(c.MaxBody.N),
		global:     c.Scope == ScopeGlobal,
		now:        o.now,
		hit:        env.Decision("hit"),
		miss:       env.Decision("miss"),
		bypass:     env.Decision("bypass"),
		stored:     env.Decision("stored"),
		storeError: env.Decision("store_error"),
	}
	if ca.now == nil {
		ca.now = time.Now
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ca.log = &errLog{logger: logger, every: o.logEvery, now: ca.now}
	if ca.log.every <= 0 {
		ca.log.every = 10 * time.Second
	}
	switch c.Store {
	case StoreRedis:
		if env.Redis == nil {
			return nil, errors.New("store: redis needs the top-level redis block")
		}
		client, release, err := limit.Client(env.Redis)
		if err != nil {
			return nil, err
		}
		env.Cleanup(release)
		ca.store = newRedisStore(client, c.KeyPrefix)
	default:
		m, release := sharedMemory(env.Route, c.MaxEntries, c.MaxMemory.N)
		env.Cleanup(release)
		ca.store = m
	}
	return ca, nil
}

func (ca *cache) middleware(next plugin.Handler) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return ca.serve(next, w, r)
	})
}

func (ca *cache) serve(next plugin.Handler, w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	a := x.AI
	// Listings change with the config, not the question: never cached.
	if a == nil || r.Method != http.MethodPost || (a.Operation != "chat" && a.Operation != "embeddings") {
		return next.ServeHTTP(w, r)
	}
	noCache, noStore := cacheControl(r.Header)
	scope := ""
	if !ca.global {
		// One consumer must never see another's answer; callers nobody
		// identified have no scope of their own to be kept apart by.
		scope = x.Consumer
		noStore = noStore || scope == ""
	}
	if noStore {
		return ca.pass(next, w, r, a)
	}
	q, err := a.Request()
	if err != nil || q == nil {
		// The terminal handler answers the same error in the client's API.
		return next.ServeHTTP(w, r)
	}
	k := ca.key(x.Route, a, scope, q)
	if noCache {
		ca.bypass.Inc()
		a.Cache = "bypass"
		w.Header().Set(HeaderCache, "bypass")
	} else {
		e, err := ca.store.get(r.Context(), k, ca.now())
		if err != nil && r.Context().Err() == nil {
			ca.storeError.Inc()
			ca.log.failed("lookup", err)
		}
		if e != nil && e.stream == a.Stream {
			return ca.replay(w, a, e)
		}
		ca.miss.Inc()
		a.Cache = "miss"
		w.Header().Set(HeaderCache, "miss")
	}
	rec := &recorder{ResponseWriter: w, max: ca.maxBody}
	err = next.ServeHTTP(rec, r)
	if e := ca.capture(rec, a); e != nil {
		ca.store.put(k, e, ca.now(), ca.ttl, ca.done)
	}
	return err
}

// pass serves a request the cache neither looks up nor stores.
func (ca *cache) pass(next plugin.Handler, w http.ResponseWriter, r *http.Request, a *plugin.AI) error {
	ca.bypass.Inc()
	a.Cache = "bypass"
	w.Header().Set(HeaderCache, "bypass")
	return next.ServeHTTP(w, r)
}

// done is called once a store has kept an entry, or failed to.
func (ca *cache) done(err error) {
	if err != nil {
		ca.storeError.Inc()
		ca.log.failed("store", err)
		return
	}
	ca.log.ok()
	ca.stored.Inc()
}

// key is the SHA-256 of everything that makes two requests the same.
type key [32]byte

func (ca *cache) key(route string, a *plugin.AI, scope string, q plugin.AIRequest) key {
	mode, stream := ScopeConsumer, "0"
	if ca.global {
		mode = ScopeGlobal
	}
	if a.Stream {
		stream = "1"
	}
	h := sha256.New()
	var b []byte
	// Each field is length-prefixed, so no two field lists hash alike.
	for _, s := range [...]string{route, a.API, a.Operation, mode, scope, stream} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	h.Write(b)
	h.Write(q.Canonical())
	var k key
	h.Sum(k[:0])
	return k
}

// cacheControl reads the request's no-cache (do not answer from the cache)
// and no-store (do not keep the answer either) directives.
func cacheControl(h http.Header) (noCache, noStore bool) {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d, _, _ = strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache":
				noCache = true
			case "no-store":
				noCache, noStore = true, true
			}
		}
	}
	return noCache, noStore
}

// replay writes a stored answer as the ai route would have, and records
// on the Exchange what served it. No tokens were spent: Usage stays zero
// and UsageKnown false, so the request adds nothing to token metrics.
func (ca *cache) replay(w http.ResponseWriter, a *plugin.AI, e *entry) error {
	ca.hit.Inc()
	a.Cache = "hit"
	a.Provider, a.ProviderModel = e.provider, e.model
	h := w.Header()
	h.Set(HeaderCache, "hit")
	h.Set("Content-Type", e.contentType)
	if e.provider != "" {
		h.Set(headerProvider, e.provider)
	}
	if e.model != "" {
		h.Set(headerModel, e.model)
	}
	if age := ca.now().Unix() - e.storedAt; age >= 0 {
		h.Set("Age", strconv.FormatInt(age, 10))
	}
	if !e.stream {
		h.Set("Content-Length", strconv.Itoa(len(e.parts[0])))
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(e.parts[0]); err != nil {
			a.ErrorKind = "client_closed"
		}
		return nil
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, p := range e.parts {
		if _, err := w.Write(p); err != nil {
			a.ErrorKind = "client_closed"
			return nil
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			a.ErrorKind = "client_closed"
			return nil
		}
	}
	return nil
}

// capture returns the entry to store for the answer rec saw, or nil when
// it must not be stored: not a complete, successful answer, or too large.
func (ca *cache) capture(rec *recorder, a *plugin.AI) *entry {
	if rec.status != http.StatusOK || rec.over || a.ErrorKind != "" || len(rec.buf) == 0 {
		return nil
	}
	h := rec.Header()
	e := &entry{
		stream:      a.Stream,
		storedAt:    ca.now().Unix(),
		contentType: h.Get("Content-Type"),
		provider:    h.Get(headerProvider),
		model:       h.Get(headerModel),
	}
	if !a.Stream {
		if !strings.HasPrefix(e.contentType, "application/json") {
			return nil
		}
		e.parts = [][]byte{rec.buf}
		return e
	}
	// A stream without usage was cut or failed somewhere the error kind
	// did not tell.
	if !a.UsageKnown || !strings.HasPrefix(e.contentType, "text/event-stream") {
		return nil
	}
	parts, ok := streamParts(rec.buf, a.API)
	if !ok {
		return nil
	}
	e.parts = parts
	return e
}

// recorder passes every write and flush straight to the client and keeps
// a copy of the body, up to max bytes. It implements Flush, FlushError and
// Unwrap, so the route's SSE writer flushes through it and
// http.ResponseController reaches the writer below.
type recorder struct {
	http.ResponseWriter
	status int
	buf    []byte
	max    int
	over   bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.over {
		if len(w.buf)+len(b) > w.max {
			w.over, w.buf = true, nil
		} else {
			w.buf = append(w.buf, b...)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the client's writer.
func (w *recorder) Flush() { _ = w.FlushError() }

// FlushError is Flush with the error http.ResponseController reports.
func (w *recorder) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the client's writer for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher                    = (*recorder)(nil)
	_ interface{ FlushError() error } = (*recorder)(nil)
)
