package keyauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"defaults", `{}`, ""},
		{"all set", `{"header":"X-API-Key","query":"key","cookie":"sid","hide_credentials":false,"realm":"api"}`, ""},
		{"header only", `{"query":""}`, ""},
		{"cookie only", `{"header":"","query":"","cookie":"k"}`, ""},
		{"nowhere", `{"header":"","query":""}`, "header, query, cookie: all are empty; set at least one place to look for the key"},
		{"bad header", `{"header":"api key"}`, `header: "api key" is not a valid header name`},
		{"bad header colon", `{"header":"a:b"}`, `header: "a:b" is not a valid header name`},
		{"bad cookie", `{"cookie":"a=b"}`, `cookie: "a=b" is not a valid cookie name`},
		{"bad query", `{"query":"a\nb"}`, `query: "a\nb" contains control characters`},
		{"empty realm", `{"realm":""}`, "realm: must be 1 to 256 bytes without control characters"},
		{"newline realm", `{"realm":"a\r\nSet-Cookie: x"}`, "realm: must be 1 to 256 bytes without control characters"},
		{"several", `{"header":"a b","cookie":"c;d","realm":""}`, "header: \"a b\" is not a valid header name\ncookie: \"c;d\" is not a valid cookie name\nrealm: must be 1 to 256 bytes without control characters"},
		{"unknown key", `{"key_names":["apikey"]}`, `json: unknown field "key_names"`},
		{"wrong type", `{"hide_credentials":"yes"}`, "hide_credentials: expected bool, got string"},
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
	tests := []struct{ name, cred, want string }{
		{"ok", `{"key":"k-0123456789"}`, ""},
		{"one byte", `{"key":"k"}`, ""},
		{"inner space", `{"key":"a b"}`, ""},
		{"missing", `{}`, "key: required (a non-empty string)"},
		{"empty", `{"key":""}`, "key: required (a non-empty string)"},
		{"control", `{"key":"abc\u0000def"}`, "key: contains control characters, so no client could send it"},
		{"leading space", `{"key":" abc"}`, "key: begins or ends with a space or tab, which HTTP strips from header values"},
		{"trailing tab", `{"key":"abc\t"}`, "key: contains control characters, so no client could send it"},
		{"trailing space", `{"key":"abc "}`, "key: begins or ends with a space or tab, which HTTP strips from header values"},
		{"number", `{"key":12345}`, "key: expected string, got number"},
		{"unknown", `{"key":"a","secret":"b"}`, `json: unknown field "secret"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kind.Credential.Decode(json.RawMessage(tt.cred))
			got := errString(err)
			if got != tt.want {
				t.Errorf("Decode(%s) = %q; want %q", tt.cred, got, tt.want)
			}
			if strings.Contains(got, "abc") {
				t.Errorf("error %q quotes the key", got)
			}
		})
	}
}

// TestIdentity checks what the gateway's duplicate check relies on: equal
// keys have equal identities, different keys different ones, and the
// identity is not the key.
func TestIdentity(t *testing.T) {
	t.Parallel()
	id := func(cred string) string {
		v, err := Kind.Credential.Decode(json.RawMessage(cred))
		if err != nil {
			t.Fatal(err)
		}
		return Kind.Credential.Identity(v)
	}
	a, a2, b := id(`{"key":"key-of-a"}`), id(`{"key":"key-of-a"}`), id(`{"key":"key-of-b"}`)
	if a == "" || a != a2 {
		t.Errorf("identities of equal keys differ or are empty: %q, %q", a, a2)
	}
	if a == b {
		t.Error("identities of different keys are equal")
	}
	if strings.Contains(a, "key-of-a") {
		t.Error("identity holds the key")
	}
}

var consumers = []plugintest.Consumer{
	{Name: "alice", Credentials: map[string]string{Name: `{"key":"alice-key-0123"}`}},
	{Name: "bob", Groups: []string{"ops"}, Credentials: map[string]string{Name: `{"key":"bob key/+&=%"}`}},
	{Name: "carol"}, // no key
}

// upstream records what reaches the upstream.
type upstream struct {
	header http.Header
	query  string
}

func (u *upstream) handler() plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		u.header, u.query = r.Header.Clone(), r.URL.RawQuery
		return nil
	})
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	const all = `{"cookie":"apikey"}`
	tests := []struct {
		name     string
		cfg      string
		target   string
		header   http.Header
		status   int
		consumer string
		err      string // logged cause of a 401
		upHeader http.Header
		upQuery  string
	}{
		{name: "header", cfg: all, target: "/", header: http.Header{"Apikey": {"alice-key-0123"}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "header any case", cfg: `{"header":"X-API-KEY"}`, target: "/", header: http.Header{"X-Api-Key": {"alice-key-0123"}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "bearer in Authorization", cfg: `{"header":"authorization","query":""}`, target: "/", header: http.Header{"Authorization": {"bearer  alice-key-0123"}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "Authorization with another scheme is no key", cfg: `{"header":"Authorization","query":""}`, target: "/",
			header: http.Header{"Authorization": {"Basic YWxpY2Uta2V5LTAxMjM="}}, status: 401, err: "no credential"},
		{name: "query", cfg: all, target: "/p?a=1&apikey=alice-key-0123&b=2",
			status: 200, consumer: "alice", upHeader: http.Header{}, upQuery: "a=1&b=2"},
		{name: "query escaped", cfg: all, target: "/p?api%6Bey=bob+key%2F%2B%26%3D%25&z=%20",
			status: 200, consumer: "bob", upHeader: http.Header{}, upQuery: "z=%20"},
		{name: "cookie", cfg: all, target: "/", header: http.Header{"Cookie": {`a=1; apikey="alice-key-0123"; b=2`, "c=3"}},
			status: 200, consumer: "alice", upHeader: http.Header{"Cookie": {"a=1; b=2", "c=3"}}},
		{name: "cookie only one in line", cfg: all, target: "/", header: http.Header{"Cookie": {"apikey=alice-key-0123"}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "header before query and cookie", cfg: all, target: "/?apikey=wrong", header: http.Header{"Apikey": {"bob key/+&=%"}, "Cookie": {"apikey=wrong"}},
			status: 200, consumer: "bob", upHeader: http.Header{}},
		{name: "query before cookie", cfg: all, target: "/?apikey=alice-key-0123", header: http.Header{"Cookie": {"apikey=wrong"}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "empty header falls through", cfg: all, target: "/?apikey=alice-key-0123", header: http.Header{"Apikey": {""}},
			status: 200, consumer: "alice", upHeader: http.Header{}},
		{name: "keep credentials", cfg: `{"hide_credentials":false,"cookie":"apikey"}`, target: "/?apikey=x&q=1",
			header: http.Header{"Apikey": {"alice-key-0123"}, "Cookie": {"apikey=y"}},
			status: 200, consumer: "alice", upHeader: http.Header{"Apikey": {"alice-key-0123"}, "Cookie": {"apikey=y"}}, upQuery: "apikey=x&q=1"},
		{name: "query disabled", cfg: `{"query":""}`, target: "/?apikey=alice-key-0123",
			status: 401, err: "no credential"},
		{name: "missing", cfg: all, target: "/?q=1", status: 401, err: "no credential"},
		{name: "wrong", cfg: all, target: "/", header: http.Header{"Apikey": {"alice-key-012"}}, status: 401, err: "key-auth: invalid API key"},
		{name: "twice in header", cfg: all, target: "/", header: http.Header{"Apikey": {"alice-key-0123", "bob key/+&=%"}},
			status: 401, err: "key-auth: the API key is sent more than once"},
		{name: "twice in query", cfg: all, target: "/?apikey=alice-key-0123&apikey=alice-key-0123",
			status: 401, err: "key-auth: the API key is sent more than once"},
		{name: "twice in cookies", cfg: all, target: "/", header: http.Header{"Cookie": {"apikey=a", "apikey=b"}},
			status: 401, err: "key-auth: the API key is sent more than once"},
		{name: "bad escape", cfg: all, target: "/?apikey=%zz", status: 401, err: "key-auth: the API key in the query is not validly escaped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := plugintest.Env(t, Kind, "r", consumers...)
			up := &upstream{}
			h := plugintest.Route(plugin.AuthnPolicy{}, up.handler(), plugintest.Use(t, Kind, env, tt.cfg))
			r := httptest.NewRequest("GET", tt.target, nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			res := plugintest.Serve(h, r)
			if res.Code != tt.status || res.X.Consumer != tt.consumer {
				t.Fatalf("got %d consumer %q; want %d %q (err %v)", res.Code, res.X.Consumer, tt.status, tt.consumer, res.Err)
			}
			if tt.status == 401 {
				if got := res.Header().Values("WWW-Authenticate"); !cmp.Equal(got, []string{`Key realm="sluice"`}) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if got := errString(errorsUnwrap(res.Err)); got != tt.err {
					t.Errorf("logged cause = %q; want %q", got, tt.err)
				}
				return
			}
			if res.X.AuthnBy != Name {
				t.Errorf("AuthnBy = %q; want %q", res.X.AuthnBy, Name)
			}
			if diff := cmp.Diff(tt.upHeader, up.header); diff != "" {
				t.Errorf("upstream header (-want +got):\n%s", diff)
			}
			if up.query != tt.upQuery {
				t.Errorf("upstream query = %q; want %q", up.query, tt.upQuery)
			}
		})
	}
}

func errorsUnwrap(err error) error {
	if pe, ok := err.(*plugin.Error); ok {
		return pe.Err
	}
	return err
}

// TestWrongKeysLookAlike checks the client cannot tell near misses from
// random keys: the answer and the logged cause are the same. (The lookup's
// timing is argued in plugins/internal/secret; it cannot be tested here.)
func TestWrongKeysLookAlike(t *testing.T) {
	t.Parallel()
	env := plugintest.Env(t, Kind, "r", consumers...)
	h := plugintest.Route(plugin.AuthnPolicy{}, nil, plugintest.Use(t, Kind, env, `{}`))
	var first *plugintest.Result
	for _, key := range []string{"alice-key-012", "alice-key-01234", "Alice-key-0123", "zzzzzzzzzzzz", "x", strings.Repeat("a", 5000)} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("apikey", key)
		res := plugintest.Serve(h, r)
		if res.Code != 401 {
			t.Fatalf("key %.20q: status %d; want 401", key, res.Code)
		}
		if first == nil {
			first = &res
			continue
		}
		if res.Body.String() != first.Body.String() || !cmp.Equal(res.Header(), first.Header()) || res.Err.Error() != first.Err.Error() {
			t.Errorf("key %.20q: answer %v %s (%v) differs from %v %s (%v)", key, res.Header(), res.Body, res.Err, first.Header(), first.Body, first.Err)
		}
	}
}

// TestSkipWhenAuthenticated checks that a caller identified by an earlier
// plugin is passed on, with this plugin's key still stripped.
func TestSkipWhenAuthenticated(t *testing.T) {
	t.Parallel()
	env := plugintest.Env(t, Kind, "r", consumers...)
	first := plugin.Use{Kind: plugin.Kind{Name: "first", Phase: plugin.Authn}, MW: func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			plugin.ExchangeOf(r).Identify(&plugin.Consumer{Name: "carol"}, "first")
			return next.ServeHTTP(w, r)
		})
	}}
	up := &upstream{}
	h := plugintest.Route(plugin.AuthnPolicy{}, up.handler(), first, plugintest.Use(t, Kind, env, `{}`))
	r := httptest.NewRequest("GET", "/?apikey=wrong", nil)
	r.Header.Set("apikey", "alice-key-0123")
	res := plugintest.Serve(h, r)
	if res.Code != 200 || res.X.Consumer != "carol" || res.X.AuthnBy != "first" {
		t.Fatalf("got %d %q by %q; want 200 carol by first", res.Code, res.X.Consumer, res.X.AuthnBy)
	}
	if up.header.Get("apikey") != "" || up.query != "" {
		t.Errorf("key reached the upstream: header %v query %q", up.header, up.query)
	}
}

func TestNewRefusesDuplicateKeys(t *testing.T) {
	t.Parallel()
	v1, _ := Kind.Credential.Decode(json.RawMessage(`{"key":"same"}`))
	v2, _ := Kind.Credential.Decode(json.RawMessage(`{"key":"same"}`))
	env := plugin.Env{Credentials: []plugin.Credential{
		{Consumer: &plugin.Consumer{Name: "a"}, Value: v1},
		{Consumer: &plugin.Consumer{Name: "b"}, Value: v2},
	}}
	_, err := Kind.Build(env, nil)
	if want := "consumers a and b have the same key-auth key"; errString(err) != want {
		t.Errorf("Build = %v; want %s", err, want)
	}
}

func TestStripQuery(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"apikey=1", ""},
		{"a=1&apikey=2", "a=1"},
		{"apikey=2&a=1", "a=1"},
		{"a=1&apikey=2&b=3&apikey&c", "a=1&b=3&c"},
		{"a=%20&api%6Bey=1&&b", "a=%20&&b"},
		{"a=1&b=2", "a=1&b=2"},
		{"apikeys=1&xapikey=2", "apikeys=1&xapikey=2"},
	}
	for _, tt := range tests {
		got, changed := stripQuery(tt.raw, "apikey")
		if got != tt.want || changed != (tt.raw != tt.want) {
			t.Errorf("stripQuery(%q) = %q, %v; want %q", tt.raw, got, changed, tt.want)
		}
	}
}

func BenchmarkKeyAuth(b *testing.B) {
	cs := make([]plugintest.Consumer, 1000)
	for i := range cs {
		cs[i] = plugintest.Consumer{Name: "c" + strconv.Itoa(i),
			Credentials: map[string]string{Name: `{"key":"k-` + strconv.Itoa(i) + `-0123456789abcdef0123456789abcdef"}`}}
	}
	env := plugintest.Env(b, Kind, "r", cs...)
	const key = "k-500-0123456789abcdef0123456789abcdef"
	for _, bc := range []struct {
		name, cfg, header, target string
	}{
		{"header", `{}`, key, "/"},
		{"header-keep", `{"hide_credentials":false}`, key, "/"},
		{"query-keep", `{"hide_credentials":false}`, "", "/p?a=1&apikey=" + key},
		{"invalid", `{}`, key[:len(key)-1] + "X", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := plugintest.Build(b, Kind, env, bc.cfg, plugin.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", bc.target, nil)
				x := &plugin.Exchange{}
				r = r.WithContext(plugin.WithExchange(r.Context(), x))
				hv := []string{bc.header}
				w := httptest.NewRecorder()
				for pb.Next() {
					*x = plugin.Exchange{}
					if bc.header != "" {
						r.Header["Apikey"] = hv // hide_credentials removed it
					}
					_ = h.ServeHTTP(w, r)
				}
			})
		})
	}
}
