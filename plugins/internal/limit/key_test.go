package limit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json string
		parts      []string // canonical, when valid
		err        string
	}{
		{"ip", `"ip"`, []string{"ip"}, ""},
		{"list", `["consumer","ip"]`, []string{"consumer", "ip"}, ""},
		{"apisix names", `["remote_addr","consumer_name","route_id","http_x_api_key","arg_user","cookie_sid"]`,
			[]string{"ip", "consumer", "route", "header:x-api-key", "query:user", "cookie:sid"}, ""},
		{"header case", `"header:X-Team"`, []string{"header:x-team"}, ""},
		{"query odd name", `"query:a b[0]"`, []string{"query:a b[0]"}, ""},
		{"empty list", `[]`, nil, "key: must name at least one part (ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME, cookie:NAME)"},
		{"unknown", `"user"`, nil, `key: "user" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME`},
		{"unknown in list", `["ip","host",""]`, nil,
			"key[1]: \"host\" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME\n" +
				"key[2]: \"\" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME"},
		{"no name", `"header:"`, nil, `key: "header:" needs a header name after the prefix`},
		{"bad header", `"header:a b"`, nil, `key: "header:a b": "a b" is not a valid header name`},
		{"bad cookie", `"cookie:a;b"`, nil, `key: "cookie:a;b": "a;b" is not a valid cookie name`},
		{"control in query", "\"query:a\\u0001\"", nil, `key: "query:a\x01": the query name has a control character`},
		{"repeat", `["ip","remote_addr","header:X-A","http_x_a"]`, nil,
			"key[1]: \"remote_addr\" repeats key[0]\nkey[3]: \"http_x_a\" repeats key[2]"},
		{"too many", `["ip","consumer","route","header:a","header:b","header:c","header:d","header:e","header:f"]`, nil,
			"key: has 9 parts; at most 8 are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var k Key
			if err := json.Unmarshal([]byte(tt.json), &k); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", tt.json, err)
			}
			spec, err := ParseKey(k)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.err {
				t.Fatalf("ParseKey(%s) error =\n%s\nwant\n%s", tt.json, got, tt.err)
			}
			if err == nil {
				if diff := cmp.Diff(tt.parts, spec.Parts()); diff != "" {
					t.Errorf("Parts() (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestKeyJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, out string }{
		{`"ip"`, `"ip"`},
		{`["ip"]`, `["ip"]`},
		{`["consumer","ip"]`, `["consumer","ip"]`},
	} {
		var k Key
		if err := json.Unmarshal([]byte(tt.in), &k); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(k)
		if string(b) != tt.out {
			t.Errorf("Marshal(Unmarshal(%s)) = %s; want %s", tt.in, b, tt.out)
		}
	}
	for in, want := range map[string]string{
		`{"a":1}`: "key: must be a string or a list of strings, got an object",
		`["a",1]`: "key: must be a string or a list of strings, got a list with an item that is not a string",
		` 3`:      "key: must be a string or a list of strings, got a number",
		`true`:    "key: must be a string or a list of strings, got a boolean",
	} {
		var k Key
		if err := json.Unmarshal([]byte(in), &k); err != nil {
			t.Fatalf("Unmarshal(%s) = %v; want it kept for ParseKey", in, err)
		}
		if _, err := ParseKey(k); err == nil || err.Error() != want {
			t.Errorf("ParseKey(%s) = %v; want %q", in, err, want)
		}
	}
	k := Key{Parts: []string{"consumer"}}
	if err := json.Unmarshal([]byte(`null`), &k); err != nil || len(k.Parts) != 1 {
		t.Errorf("Unmarshal(null) = %v, %v; want the default kept", err, k.Parts)
	}
}

func hashOf(v string) string {
	spec, _ := ParseKey(Key{Parts: []string{"header:x"}})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X", v)
	return strings.TrimPrefix(spec.Value(r), "header.x=")
}

func TestKeyValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("c", 200)
	tests := []struct {
		name     string
		parts    []string
		consumer string
		route    string
		clientIP string // "" leaves Exchange.ClientIP unset
		remote   string
		header   http.Header
		target   string
		want     string
	}{
		{"ip", []string{"ip"}, "", "", "203.0.113.7", "", nil, "/", "ip=203.0.113.7"},
		{"ipv4-mapped", []string{"ip"}, "", "", "::ffff:10.0.0.1", "", nil, "/", "ip=10.0.0.1"},
		{"ipv6", []string{"ip"}, "", "", "2001:db8::1", "", nil, "/", "ip=2001:db8::1"},
		{"remote addr when unresolved", []string{"ip"}, "", "", "", "192.0.2.1:4242", nil, "/", "ip=192.0.2.1"},
		{"unknown ip", []string{"ip"}, "", "", "", "@", nil, "/", "ip=unknown"},
		{"consumer", []string{"consumer"}, "alice", "", "203.0.113.7", "", nil, "/", "consumer=alice"},
		{"no consumer falls back to ip", []string{"consumer"}, "", "", "203.0.113.7", "", nil, "/", "ip=203.0.113.7"},
		{"consumer escaped", []string{"consumer", "route"}, "a|b%c", "r:1@x", "203.0.113.7", "", nil, "/",
			"consumer=a%7Cb%25c|route=r%3A1%40x"},
		{"header hashed", []string{"header:X-API-Key"}, "", "", "203.0.113.7", "",
			http.Header{"X-Api-Key": {"secret-key"}}, "/", "header.x-api-key=" + hashOf("secret-key")},
		{"missing header falls back", []string{"consumer", "header:X-Team"}, "bob", "", "203.0.113.7", "", nil, "/",
			"consumer=bob|ip=203.0.113.7"},
		{"query", []string{"query:user"}, "", "", "203.0.113.7", "", nil, "/?a=1&user=u%2B1&user=2",
			"query.user=" + hashOf("u+1")},
		{"query encoded name", []string{"query:a b"}, "", "", "203.0.113.7", "", nil, "/?a+b=x", "query.a b=" + hashOf("x")},
		{"query missing", []string{"query:user"}, "", "", "203.0.113.7", "", nil, "/?username=x", "ip=203.0.113.7"},
		{"cookie", []string{"cookie:sid"}, "", "", "203.0.113.7", "",
			http.Header{"Cookie": {"a=1; sid=s3ss10n"}}, "/", "cookie.sid=" + hashOf("s3ss10n")},
		{"long key hashed", []string{"consumer", "route"}, long, "r", "203.0.113.7", "", nil, "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := ParseKey(Key{Parts: tt.parts})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", tt.target, nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header[k] = v
			}
			x := &plugin.Exchange{Consumer: tt.consumer, Route: tt.route}
			if tt.clientIP != "" {
				x.ClientIP = netip.MustParseAddr(tt.clientIP)
			}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			got := spec.Value(r)
			if tt.want == "" { // long: hashed as a whole
				if !strings.HasPrefix(got, "sha256=") || len(got) != len("sha256=")+32 || strings.Contains(got, "ccc") {
					t.Errorf("Value() = %q; want sha256= and 32 hex digits", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Value() = %q; want %q", got, tt.want)
			}
			if strings.Contains(got, "secret-key") || strings.Contains(got, "s3ss10n") {
				t.Errorf("Value() = %q holds a raw credential", got)
			}
		})
	}
}

func TestScope(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ route, group, extra, want string }{
		{"chat", "", "", "route.chat"},
		{"chat", "", "60s", "route.chat@60s"},
		{"", "", "", "route."},
		{"chat", "gold", "1h0m0s", "group.gold@1h0m0s"},
		{"a:b", "", "", "route.a%3Ab"},
	} {
		if got := Scope(tt.route, tt.group, tt.extra); got != tt.want {
			t.Errorf("Scope(%q, %q, %q) = %q; want %q", tt.route, tt.group, tt.extra, got, tt.want)
		}
	}
	if got := RedisKey("limit-count", "route.chat@60s:ip=1.2.3.4"); got != "sluice:limit:limit-count:route.chat@60s:ip=1.2.3.4" {
		t.Errorf("RedisKey = %q", got)
	}
}

// FuzzKey decodes a `key` config value and, when it parses, checks that
// the canonical spelling parses back to the same spec and that building a
// key never panics nor exceeds the bound.
func FuzzKey(f *testing.F) {
	f.Add([]byte(`"ip"`))
	f.Add([]byte(`["consumer","header:X-Team"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k Key
		if json.Unmarshal(data, &k) != nil {
			return
		}
		spec, err := ParseKey(k)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "key") {
				t.Fatalf("ParseKey error %q does not start with its key", err)
			}
			return
		}
		again, err := ParseKey(Key{Parts: spec.Parts(), list: true})
		if err != nil {
			t.Fatalf("ParseKey(%q) = %v; the canonical form must parse", spec.Parts(), err)
		}
		if !cmp.Equal(spec.Parts(), again.Parts()) {
			t.Fatalf("round trip %q -> %q", spec.Parts(), again.Parts())
		}
		r := httptest.NewRequest("GET", "/?a=1", nil)
		r.Header.Set("Cookie", "a=b")
		for _, p := range spec.parts {
			if p.kind == partHeader {
				r.Header.Set(p.name, strings.Repeat("v", 300))
			}
		}
		if v := spec.Value(r); len(v) > MaxKeyLen || v == "" {
			t.Fatalf("Value() = %q: empty or longer than %d", v, MaxKeyLen)
		}
	})
}
