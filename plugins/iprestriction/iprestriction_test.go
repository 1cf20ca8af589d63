package iprestriction

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

func build(t testing.TB, cfg string) plugin.Handler {
	t.Helper()
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(cfg))
	if err != nil {
		t.Fatalf("Build(%s) = %v", cfg, err)
	}
	return mw(plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil }))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"whitelist", `{"whitelist":["10.0.0.1","192.168.0.0/16","2001:db8::/32","::1"]}`, ""},
		{"blacklist", `{"blacklist":["1.2.3.4"],"message":"go away","response_code":404}`, ""},
		{"host bits", `{"whitelist":["10.1.2.3/8"]}`, ""},
		{"neither", `{}`, "whitelist, blacklist: set exactly one (a non-empty list of IPs or CIDRs)"},
		{"empty lists", `{"whitelist":[],"blacklist":[]}`, "whitelist, blacklist: set exactly one (a non-empty list of IPs or CIDRs)"},
		{"both", `{"whitelist":["1.1.1.1"],"blacklist":["2.2.2.2"]}`, "whitelist, blacklist: set exactly one, not both"},
		{"bad entries", `{"whitelist":["1.1.1.1","10.0.0.300","10.0.0.0/33","fe80::1%eth0","example.org"]}`,
			"whitelist[1]: \"10.0.0.300\" is not a valid IP address or CIDR\n" +
				"whitelist[2]: \"10.0.0.0/33\" is not a valid IP address or CIDR\n" +
				"whitelist[3]: \"fe80::1%eth0\" is not a valid IP address or CIDR\n" +
				"whitelist[4]: \"example.org\" is not a valid IP address or CIDR"},
		{"empty message", `{"blacklist":["1.1.1.1"],"message":""}`, "message: must be 1 to 1024 bytes, got 0"},
		{"bad code", `{"blacklist":["1.1.1.1"],"response_code":401}`, "response_code: 401 is not 403 or 404"},
		{"unknown key", `{"blacklist":["1.1.1.1"],"allow":true}`, `json: unknown field "allow"`},
		{"wrong type", `{"blacklist":"1.1.1.1"}`, `blacklist: expected []string, got string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Kind.Check(json.RawMessage(tt.cfg))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	const white = `{"whitelist":["10.0.0.1","192.168.0.0/16","2001:db8::/32"]}`
	const black = `{"blacklist":["10.0.0.1","192.168.0.0/16","2001:db8::/32"],"message":"nope","response_code":404}`
	deny := &plugin.Error{Status: 403, Code: "ip_forbidden", Public: "Your IP address is not allowed"}
	hide := &plugin.Error{Status: 404, Code: "not_found", Public: "nope"}
	tests := []struct {
		name, cfg  string
		clientIP   string // Exchange.ClientIP; "" leaves it invalid
		remoteAddr string
		want       *plugin.Error
	}{
		{"white single", white, "10.0.0.1", "", nil},
		{"white range", white, "192.168.40.2", "", nil},
		{"white v6", white, "2001:db8::42", "", nil},
		{"white mapped v4", white, "::ffff:10.0.0.1", "", nil},
		{"white miss", white, "10.0.0.2", "", deny},
		{"white v6 miss", white, "2001:db9::1", "", deny},
		{"white from remote addr", white, "", "192.168.1.1:5555", nil},
		{"white from bare remote addr", white, "", "192.168.1.1", nil},
		{"white remote addr miss", white, "", "[2001:db9::1]:443", deny},
		{"white unknown", white, "", "@unix", deny},
		{"exchange wins over remote addr", white, "8.8.8.8", "10.0.0.1:1", deny},
		{"black hit", black, "10.0.0.1", "", hide},
		{"black range", black, "192.168.255.255", "", hide},
		{"black v6 zone", black, "2001:db8::1%eth0", "", hide},
		{"black miss", black, "10.0.0.2", "", nil},
		{"black unknown", black, "", "garbage", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := build(t, tt.cfg)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remoteAddr
			x := &plugin.Exchange{}
			if tt.clientIP != "" {
				x.ClientIP = netip.MustParseAddr(tt.clientIP)
			}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			err := h.ServeHTTP(httptest.NewRecorder(), r)
			var got *plugin.Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not a *plugin.Error", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkIPRestriction(b *testing.B) {
	big := `{"whitelist":[`
	for i := range 1000 {
		big += fmt.Sprintf(`"10.%d.%d.1",`, i/256, i%256)
	}
	for i := range 50 {
		big += fmt.Sprintf(`"172.%d.0.0/16",`, 16+i%16)
	}
	big += `"192.168.0.0/16"]}`
	for _, bc := range []struct{ name, cfg, ip string }{
		{"small-hit", `{"whitelist":["10.0.0.1","192.168.0.0/16"]}`, "192.168.1.1"},
		{"small-deny", `{"whitelist":["10.0.0.1","192.168.0.0/16"]}`, "8.8.8.8"},
		{"1000-addrs-50-ranges-hit-addr", big, "10.3.200.1"},
		{"1000-addrs-50-ranges-hit-last-range", big, "192.168.7.7"},
		{"remote-addr-fallback", `{"whitelist":["10.0.0.1","192.168.0.0/16"]}`, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, bc.cfg)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.168.3.4:1234"
			x := &plugin.Exchange{}
			if bc.ip != "" {
				x.ClientIP = netip.MustParseAddr(bc.ip)
			}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}
