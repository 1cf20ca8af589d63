package basicauth

import (
	stdcmp "cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// bcryptOf hashes pw at the lowest cost, to keep tests fast.
func bcryptOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// argon2idOf hashes pw with tiny parameters, to keep tests fast.
func argon2idOf(pw string) string {
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(sum))
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"defaults", `{}`, ""},
		{"all set", `{"hide_credentials":false,"realm":"api","cache_ttl":0,"cache_size":10}`, ""},
		{"bad realm", `{"realm":"a\"\nb"}`, "realm: must be 1 to 256 bytes without control characters"},
		{"negative ttl", `{"cache_ttl":-1}`, "cache_ttl: -1 is outside 0 to 3600 seconds"},
		{"zero size", `{"cache_size":0}`, "cache_size: 0 is outside 1 to 1048576"},
		{"several", `{"realm":"","cache_ttl":7200,"cache_size":-5}`, "realm: must be 1 to 256 bytes without control characters\ncache_ttl: 7200 is outside 0 to 3600 seconds\ncache_size: -5 is outside 1 to 1048576"},
		{"unknown", `{"anonymous_consumer":"guest"}`, `json: unknown field "anonymous_consumer"`},
		{"wrong type", `{"cache_ttl":"1m"}`, "cache_ttl: expected int, got string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errString(Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestCredentialValidate(t *testing.T) {
	t.Parallel()
	bc := bcryptOf(t, "secret-pw")
	ar := argon2idOf("secret-pw")
	const help = "; generate one with `htpasswd -nbBC 12 USER PASSWORD` (bcrypt; drop the USER: prefix) or an argon2id tool"
	tests := []struct{ name, cred, want string }{
		{"bcrypt", `{"username":"a","password_hash":"` + bc + `"}`, ""},
		{"bcrypt 2y", `{"username":"a","password_hash":"$2y$` + bc[4:] + `"}`, ""},
		{"argon2id", `{"username":"a","password_hash":"` + ar + `"}`, ""},
		{"no username", `{"password_hash":"` + bc + `"}`, "username: required"},
		{"colon", `{"username":"a:b","password_hash":"` + bc + `"}`, `username: must not contain ":" (RFC 7617)`},
		{"ctl", `{"username":"a\u0001","password_hash":"` + bc + `"}`, "username: contains control characters"},
		{"no hash", `{"username":"a"}`, "password_hash: required: a bcrypt or argon2id hash" + help},
		{"plain password", `{"username":"a","password":"secret-pw"}`,
			"password: plain-text passwords are not accepted; set password_hash to a bcrypt or argon2id hash: " + help[2:]},
		{"plain in hash", `{"username":"a","password_hash":"secret-pw"}`,
			"password_hash: not a bcrypt or argon2id hash (is it a plain-text password?)" + help},
		{"htpasswd line", `{"username":"a","password_hash":"a:` + bc + `"}`,
			`password_hash: starts with "USER:" as htpasswd prints it; remove that prefix` + help},
		{"md5", `{"username":"a","password_hash":"$apr1$abc$secret-pw"}`, "password_hash: $apr1$ hashes are not accepted; use bcrypt or argon2id" + help},
		{"sha", `{"username":"a","password_hash":"{SHA}secret-pw"}`, "password_hash: {SHA} hashes are not accepted; use bcrypt or argon2id" + help},
		{"bcrypt cost", `{"username":"a","password_hash":"$2b$17$` + bc[7:] + `"}`, "password_hash: bcrypt: cost 17 is outside 4 to 16 (10 to 12 is usual)" + help},
		{"bcrypt short", `{"username":"a","password_hash":"` + bc[:59] + `"}`, "password_hash: bcrypt: malformed hash (want $2b$NN$ and 53 characters)" + help},
		{"argon2i", `{"username":"a","password_hash":"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$c2VjcmV0LXB3c2VjcmV0LXB3"}`,
			"password_hash: argon2i and argon2d hashes are not accepted; use argon2id" + help},
		{"argon2 limits", `{"username":"a","password_hash":"$argon2id$v=19$m=1048576,t=100,p=0$c2FsdA$c2VjcmV0LXB3"}`,
			"password_hash: argon2id: p=0 is outside 1 to 16\nargon2id: t=100 is outside 1 to 16\nargon2id: m=1048576 is outside 8*p to 262144 KiB\n" +
				"argon2id: the salt must be 8 to 64 bytes in unpadded base64\nargon2id: the hash must be 16 to 64 bytes in unpadded base64" + help},
		{"unknown key", `{"username":"a","password_hash":"` + bc + `","salt":"x"}`, `json: unknown field "salt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kind.Credential.Decode(json.RawMessage(tt.cred))
			got := errString(err)
			if got != tt.want {
				t.Errorf("Decode =\n%s\nwant\n%s", got, tt.want)
			}
			if strings.Contains(got, "secret-pw") || strings.Contains(got, bc[7:]) {
				t.Errorf("error %q quotes the password or hash", got)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	id := func(cred string) string {
		v, err := Kind.Credential.Decode(json.RawMessage(cred))
		if err != nil {
			t.Fatal(err)
		}
		return Kind.Credential.Identity(v)
	}
	h1, h2 := argon2idOf("one"), argon2idOf("two")
	a, a2, b := id(`{"username":"a","password_hash":"`+h1+`"}`), id(`{"username":"a","password_hash":"`+h2+`"}`), id(`{"username":"b","password_hash":"`+h1+`"}`)
	if a != a2 || a == b || a == "" {
		t.Errorf("identities: a %q, a with another password %q, b %q; want the username", a, a2, b)
	}
}

// consumers returns the test consumers; their hashes are made once, since
// even bcrypt at its lowest cost adds up under the race detector.
func consumers(t testing.TB) []plugintest.Consumer { return testConsumers(t) }

var testConsumers = func() func(testing.TB) []plugintest.Consumer {
	var once sync.Once
	var cs []plugintest.Consumer
	return func(t testing.TB) []plugintest.Consumer {
		once.Do(func() {
			cs = []plugintest.Consumer{
				{Name: "alice", Credentials: map[string]string{Name: `{"username":"alice","password_hash":"` + bcryptOf(t, "alice-pw") + `"}`}},
				{Name: "bob", Credentials: map[string]string{Name: `{"username":"bob","password_hash":"` + argon2idOf("bob:pw é") + `"}`}},
				{Name: "carol", Credentials: map[string]string{Name: `{"username":"carol","password_hash":"` + bcryptOf(t, "carol-pw") + `"}`}},
			}
		})
		return cs
	}
}()

func TestBehaviour(t *testing.T) {
	t.Parallel()
	cs := consumers(t)
	tests := []struct {
		name     string
		cfg      string
		auth     []string
		status   int
		consumer string
		err      string
		upAuth   []string // Authorization reaching the upstream
	}{
		{name: "bcrypt", auth: []string{basic("alice", "alice-pw")}, status: 200, consumer: "alice"},
		{name: "argon2id, colon and UTF-8 in password", auth: []string{basic("bob", "bob:pw é")}, status: 200, consumer: "bob"},
		{name: "scheme any case, several spaces", auth: []string{"bAsIc   " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))}, status: 200, consumer: "alice"},
		{name: "keep credentials", cfg: `{"hide_credentials":false}`, auth: []string{basic("alice", "alice-pw")}, status: 200, consumer: "alice",
			upAuth: []string{basic("alice", "alice-pw")}},
		{name: "missing", status: 401, err: "no credential"},
		{name: "other scheme", auth: []string{"Bearer abc"}, status: 401, err: "no credential"},
		{name: "wrong password", auth: []string{basic("alice", "alice-pw2")}, status: 401, err: "basic-auth: wrong username or password"},
		{name: "unknown user", auth: []string{basic("mallory", "alice-pw")}, status: 401, err: "basic-auth: wrong username or password"},
		{name: "empty user", auth: []string{basic("", "alice-pw")}, status: 401, err: "basic-auth: wrong username or password"},
		{name: "user is case-sensitive", auth: []string{basic("Alice", "alice-pw")}, status: 401, err: "basic-auth: wrong username or password"},
		{name: "no colon", auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "unpadded", auth: []string{strings.TrimRight(basic("alice", "alice-pw"), "=")}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "not base64", auth: []string{"Basic alice:alice-pw"}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "scheme only", auth: []string{"Basic"}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "trailing junk", auth: []string{basic("alice", "alice-pw") + " x"}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "control character", auth: []string{basic("alice", "alice-pw\n")}, status: 401, err: "basic-auth: malformed Basic credentials"},
		{name: "twice", auth: []string{basic("alice", "alice-pw"), basic("alice", "alice-pw")}, status: 401,
			err: "basic-auth: Basic credentials among several Authorization headers"},
		{name: "Basicx is another scheme", auth: []string{"Basicx abc"}, status: 401, err: "no credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := plugintest.Env(t, Kind, "r", cs...)
			var up http.Header
			next := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				up = r.Header.Clone()
				return nil
			})
			h := plugintest.Route(plugin.AuthnPolicy{}, next, plugintest.Use(t, Kind, env, stdcmp.Or(tt.cfg, `{}`)))
			r := httptest.NewRequest("GET", "/", nil)
			if tt.auth != nil {
				r.Header["Authorization"] = tt.auth
			}
			res := plugintest.Serve(h, r)
			if res.Code != tt.status || res.X.Consumer != tt.consumer {
				t.Fatalf("got %d consumer %q; want %d %q (err %v)", res.Code, res.X.Consumer, tt.status, tt.consumer, res.Err)
			}
			if tt.status == 401 {
				if got := res.Header().Values("WWW-Authenticate"); !cmp.Equal(got, []string{`Basic realm="sluice", charset="UTF-8"`}) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if got := errString(res.Err.(*plugin.Error).Err); got != tt.err {
					t.Errorf("logged cause = %q; want %q", got, tt.err)
				}
				return
			}
			if got := up["Authorization"]; !cmp.Equal(got, tt.upAuth) {
				t.Errorf("upstream Authorization = %q; want %q", got, tt.upAuth)
			}
		})
	}
}

// TestWrongPasswordLooksLikeUnknownUser checks the client (and the log)
// cannot tell a wrong password from an unknown username.
func TestWrongPasswordLooksLikeUnknownUser(t *testing.T) {
	t.Parallel()
	env := plugintest.Env(t, Kind, "r", consumers(t)...)
	h := plugintest.Route(plugin.AuthnPolicy{}, nil, plugintest.Use(t, Kind, env, `{}`))
	var first *plugintest.Result
	for _, up := range [][2]string{{"alice", "wrong"}, {"mallory", "wrong"}, {"bob", "alice-pw"}, {"", ""}, {"alice", ""}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", basic(up[0], up[1]))
		res := plugintest.Serve(h, r)
		if res.Code != 401 {
			t.Fatalf("%q: status %d; want 401", up, res.Code)
		}
		if first == nil {
			first = &res
			continue
		}
		if res.Body.String() != first.Body.String() || !cmp.Equal(res.Header(), first.Header()) || res.Err.Error() != first.Err.Error() {
			t.Errorf("%q: answer %v %s (%v) differs from %v %s (%v)", up, res.Header(), res.Body, res.Err, first.Header(), first.Body, first.Err)
		}
	}
}

// countingHash counts checks, to see which hash a login was checked against.
type countingHash struct {
	hash
	n atomic.Int32
}

func (c *countingHash) verify(pw []byte) bool {
	c.n.Add(1)
	return c.hash.verify(pw)
}

func buildHandler(t *testing.T, cfg string, cs ...plugintest.Consumer) *handler {
	t.Helper()
	h := plugintest.Build(t, Kind, plugintest.Env(t, Kind, "r", cs...), cfg, nil)
	return h.(*handler)
}

// TestUnknownUserChecksDecoy checks the constant-time path exists: an
// unknown username costs a hash check against a decoy with the parameters
// most consumers use.
func TestUnknownUserChecksDecoy(t *testing.T) {
	t.Parallel()
	cs := consumers(t) // two bcrypt cost 4, one argon2id
	h := buildHandler(t, `{}`, cs...)
	if got, want := h.decoy.params(), "bcrypt cost 4"; got != want {
		t.Fatalf("decoy params = %q; want %q", got, want)
	}
	if h.decoy.(*bcryptHash).verify([]byte("alice-pw")) {
		t.Fatal("decoy matches a password")
	}
	decoy := &countingHash{hash: h.decoy}
	h.decoy = decoy
	alice := &countingHash{hash: h.users["alice"].hash}
	h.users["alice"].hash = alice
	for _, up := range [][2]string{{"mallory", "x"}, {"alice", "x"}, {"alice", "alice-pw"}, {"alice", "alice-pw"}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", basic(up[0], up[1]))
		plugintest.Serve(h, r)
	}
	// The second good login is served from the cache.
	if d, a := decoy.n.Load(), alice.n.Load(); d != 1 || a != 2 {
		t.Errorf("checks: decoy %d, alice %d; want 1, 2", d, a)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	c := newCache(time.Minute, 2)
	var now time.Duration // only this goroutine reads it
	c.now = func() time.Duration { return now }
	a, b, d := &plugin.Consumer{Name: "a"}, &plugin.Consumer{Name: "b"}, &plugin.Consumer{Name: "d"}
	ka, kb, kd := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c.put(ka, a)
	now = 1
	c.put(kb, b)
	now = 2
	if got, ok := c.get(ka); !ok || got != a { // a is now used more recently than b
		t.Fatalf("get(a) = %v, %v", got, ok)
	}
	now = 3
	c.put(kd, d) // full: evicts b, the least recently used
	if _, ok := c.get(kb); ok {
		t.Error("b was not evicted")
	}
	if _, ok := c.get(ka); !ok {
		t.Error("a was evicted")
	}
	now = time.Minute + 3 // a (put at 0) and d (put at 3) expire at 60s and 60s+3
	if _, ok := c.get(ka); ok {
		t.Error("a outlived its TTL")
	}
	if _, ok := c.get(kd); ok {
		t.Error("d outlived its TTL")
	}
	c.put(kb, b) // full of expired entries: they all go
	if n := c.len(); n != 1 {
		t.Errorf("len after put over expired entries = %d; want 1", n)
	}
}

// TestCacheOff checks cache_ttl 0 checks the hash every time.
func TestCacheOff(t *testing.T) {
	t.Parallel()
	h := buildHandler(t, `{"cache_ttl":0}`, consumers(t)...)
	if h.cache != nil {
		t.Fatal("cache_ttl 0 made a cache")
	}
	alice := &countingHash{hash: h.users["alice"].hash}
	h.users["alice"].hash = alice
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", basic("alice", "alice-pw"))
		if res := plugintest.Serve(h, r); res.X.Consumer != "alice" {
			t.Fatalf("consumer %q; want alice", res.X.Consumer)
		}
	}
	if n := alice.n.Load(); n != 3 {
		t.Errorf("checks = %d; want 3", n)
	}
}

// TestGivesUpWhenBusy checks a request waiting for a hash check slot stops
// waiting when its client goes away.
func TestGivesUpWhenBusy(t *testing.T) {
	t.Parallel()
	ba := buildHandler(t, `{}`, consumers(t)...).basicAuth
	for range cap(ba.checks) {
		ba.checks <- struct{}{}
	}
	use := plugin.Use{Kind: Kind, MW: func(next plugin.Handler) plugin.Handler { return &handler{basicAuth: ba, next: next} }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	r.Header.Set("Authorization", basic("alice", "alice-pw"))
	res := plugintest.Serve(plugintest.Route(plugin.AuthnPolicy{}, nil, use), r)
	if want := "basic-auth: gave up waiting to check a password: context canceled"; res.Code != 401 || errString(res.Err.(*plugin.Error).Err) != want {
		t.Errorf("got %d (%v); want 401 with cause %q", res.Code, res.Err, want)
	}
}

func TestStripKeepsOtherSchemes(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want []string }{
		{[]string{"Bearer x"}, []string{"Bearer x"}},
		{[]string{"Basic YTpi"}, nil},
		{[]string{"Basic YTpi", "Bearer x"}, []string{"Bearer x"}},
	}
	for _, tt := range tests {
		h := http.Header{"Authorization": tt.in}
		stripBasic(h)
		if got := h["Authorization"]; !cmp.Equal(got, tt.want) {
			t.Errorf("stripBasic(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewRefusesDuplicateUsernames(t *testing.T) {
	t.Parallel()
	cred := `{"username":"same","password_hash":"` + argon2idOf("x") + `"}`
	v1, _ := Kind.Credential.Decode(json.RawMessage(cred))
	v2, _ := Kind.Credential.Decode(json.RawMessage(cred))
	env := plugin.Env{Credentials: []plugin.Credential{
		{Consumer: &plugin.Consumer{Name: "a"}, Value: v1},
		{Consumer: &plugin.Consumer{Name: "b"}, Value: v2},
	}}
	_, err := Kind.Build(env, nil)
	if want := "consumers a and b have the same basic-auth username"; errString(err) != want {
		t.Errorf("Build = %v; want %s", err, want)
	}
}

func BenchmarkBasicAuthCached(b *testing.B) {
	env := plugintest.Env(b, Kind, "r", consumers(b)...)
	h := plugintest.Build(b, Kind, env, `{"hide_credentials":false}`, plugin.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	auth := basic("alice", "alice-pw")
	warm := httptest.NewRequest("GET", "/", nil)
	warm.Header.Set("Authorization", auth)
	if res := plugintest.Serve(h, warm); res.X.Consumer != "alice" {
		b.Fatalf("warm-up login failed: %v", res.Err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", auth)
		x := &plugin.Exchange{}
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		w := httptest.NewRecorder()
		for pb.Next() {
			*x = plugin.Exchange{}
			_ = h.ServeHTTP(w, r)
			if x.Consumer != "alice" {
				b.Fatal("not identified")
			}
		}
	})
}

// BenchmarkVerify measures one uncached check at usual parameters: what a
// cache miss, a wrong password or an unknown username costs.
func BenchmarkVerify(b *testing.B) {
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), 10)
	if err != nil {
		b.Fatal(err)
	}
	salt := []byte("0123456789abcdef")
	enc := base64.RawStdEncoding
	ar := fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%s$%s", enc.EncodeToString(salt), // OWASP's minimum
		enc.EncodeToString(argon2.IDKey([]byte("pw"), salt, 2, 19456, 1, 32)))
	for _, bc := range []struct{ name, hash string }{{"bcrypt-10", string(bc)}, {"argon2id-m19456-t2-p1", ar}} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := parseHash(bc.hash)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !h.verify([]byte("pw")) {
					b.Fatal("no match")
				}
			}
		})
	}
}
