package consumerrestriction

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
		{"whitelist", `{"whitelist":["a"]}`, ""},
		{"all", `{"type":"consumer_group_id","whitelist":["a"],"blacklist":["b"],"allowed_by_methods":[{"user":"a","methods":["GET","PURGE"]}],"rejected_code":404,"rejected_msg":"nope"}`, ""},
		{"nothing", `{}`, "whitelist, blacklist, allowed_by_methods: set at least one"},
		{"route_id", `{"type":"route_id","whitelist":["1"]}`, `type: "route_id" is not supported (list consumer-restriction on the routes it is for); use consumer_name or consumer_group_id`},
		{"bad type", `{"type":"name","whitelist":["a"]}`, `type: "name" is not consumer_name or consumer_group_id`},
		{"empty names", `{"whitelist":[""],"blacklist":[""]}`, "whitelist[0]: empty name\nblacklist[0]: empty name"},
		{"both lists", `{"whitelist":["a","b"],"blacklist":["c","b"]}`, `blacklist[1]: "b" is in the whitelist too`},
		{"methods", `{"allowed_by_methods":[{"methods":["GET"]},{"user":"a","methods":[]},{"user":"a","methods":["get","FETCH"]}]}`,
			"allowed_by_methods[0].user: required\nallowed_by_methods[1].methods: must list at least one method\n" +
				`allowed_by_methods[2].user: "a" is listed in allowed_by_methods[1] already` + "\n" +
				`allowed_by_methods[2].methods[0]: "get" is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE` + "\n" +
				`allowed_by_methods[2].methods[1]: "FETCH" is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE`},
		{"code", `{"whitelist":["a"],"rejected_code":200}`, "rejected_code: 200 is not from 400 to 599"},
		{"msg", `{"whitelist":["a"],"rejected_msg":""}`, "rejected_msg: must be 1 to 1024 bytes without control characters"},
		{"unknown key", `{"whitelist":["a"],"allow":["b"]}`, `json: unknown field "allow"`},
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

var consumers = []plugintest.Consumer{
	{Name: "alice", Groups: []string{"admins", "staff"}},
	{Name: "bob", Groups: []string{"staff"}},
	{Name: "carol"},
	{Name: "guest", Groups: []string{"anonymous"}},
}

func TestBuildChecksNames(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"known", `{"whitelist":["alice"],"blacklist":["bob"],"allowed_by_methods":[{"user":"carol","methods":["GET"]}]}`, ""},
		{"unknown consumers", `{"whitelist":["alice","dave"],"blacklist":["Bob"],"allowed_by_methods":[{"user":"admins","methods":["GET"]}]}`,
			`whitelist[1]: unknown consumer "dave"` + "\n" + `blacklist[0]: unknown consumer "Bob"` + "\n" + `allowed_by_methods[0].user: unknown consumer "admins"`},
		{"known groups", `{"type":"consumer_group_id","whitelist":["admins"],"allowed_by_methods":[{"user":"staff","methods":["GET"]}]}`, ""},
		{"unknown group", `{"type":"consumer_group_id","blacklist":["alice"]}`,
			`blacklist[0]: unknown group "alice" (known groups: admins, anonymous, staff)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kind.Build(plugintest.Env(t, Kind, "r", consumers...), json.RawMessage(tt.cfg))
			if got := errString(err); got != tt.want {
				t.Errorf("Build(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
	_, err := Kind.Build(plugintest.Env(t, Kind, "r", plugintest.Consumer{Name: "x"}), json.RawMessage(`{"type":"consumer_group_id","whitelist":["a"]}`))
	if want := `whitelist[0]: unknown group "a" (no consumer has groups)`; errString(err) != want {
		t.Errorf("Build without groups = %v; want %s", err, want)
	}
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	forbidden := func(why string) *plugin.Error { return plugin.Forbidden("consumer-restriction: " + why) }
	tests := []struct {
		name, cfg, caller, method string
		want                      *plugin.Error
	}{
		{"whitelisted", `{"whitelist":["alice","bob"]}`, "alice", "GET", nil},
		{"not whitelisted", `{"whitelist":["alice","bob"]}`, "carol", "GET", forbidden(`consumer "carol" is not in the whitelist`)},
		{"blacklisted", `{"blacklist":["bob"]}`, "bob", "GET", forbidden(`consumer "bob" is in the blacklist`)},
		{"not blacklisted", `{"blacklist":["bob"]}`, "carol", "GET", nil},
		{"group whitelisted", `{"type":"consumer_group_id","whitelist":["staff"]}`, "bob", "GET", nil},
		{"no group whitelisted", `{"type":"consumer_group_id","whitelist":["admins"]}`, "carol", "GET", forbidden(`no group of consumer "carol" is in the whitelist`)},
		{"one group blacklisted", `{"type":"consumer_group_id","blacklist":["admins"]}`, "alice", "GET", forbidden(`group "admins" of consumer "alice" is in the blacklist`)},
		{"blacklist wins", `{"type":"consumer_group_id","whitelist":["staff"],"blacklist":["admins"]}`, "alice", "GET", forbidden(`group "admins" of consumer "alice" is in the blacklist`)},
		{"method allowed", `{"allowed_by_methods":[{"user":"bob","methods":["GET","HEAD"]}]}`, "bob", "HEAD", nil},
		{"method refused", `{"allowed_by_methods":[{"user":"bob","methods":["GET","HEAD"]}]}`, "bob", "POST", forbidden(`consumer "bob" may not use method POST`)},
		{"unlisted caller any method", `{"allowed_by_methods":[{"user":"bob","methods":["GET"]}]}`, "carol", "DELETE", nil},
		{"methods apply to the whitelisted", `{"whitelist":["bob"],"allowed_by_methods":[{"user":"bob","methods":["GET"]}]}`, "bob", "POST",
			forbidden(`consumer "bob" may not use method POST`)},
		{"group methods add up", `{"type":"consumer_group_id","allowed_by_methods":[{"user":"staff","methods":["GET"]},{"user":"admins","methods":["POST"]}]}`, "alice", "POST", nil},
		{"group methods", `{"type":"consumer_group_id","allowed_by_methods":[{"user":"staff","methods":["GET"]},{"user":"admins","methods":["POST"]}]}`, "bob", "POST",
			forbidden(`consumer "bob" may not use method POST`)},
		{"custom rejection", `{"whitelist":["alice"],"rejected_code":402,"rejected_msg":"upgrade"}`, "bob", "GET",
			&plugin.Error{Status: 402, Code: "forbidden", Public: "upgrade", Err: errors.New(`consumer-restriction: consumer "bob" is not in the whitelist`)}},
		{"hidden", `{"whitelist":["alice"],"rejected_code":404,"rejected_msg":"not found"}`, "bob", "GET",
			&plugin.Error{Status: 404, Code: "not_found", Public: "not found", Err: errors.New(`consumer-restriction: consumer "bob" is not in the whitelist`)}},
		{"no caller", `{"whitelist":["alice"]}`, "", "GET", &plugin.Error{Status: 401, Code: "unauthorized", Public: "missing or invalid credentials",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="sluice"`}},
			Err:    errors.New("consumer-restriction: no caller was identified (is an authentication plugin on the route?)")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := plugintest.Env(t, Kind, "r", consumers...)
			h := plugintest.Build(t, Kind, env, tt.cfg, nil)
			r := httptest.NewRequest(tt.method, "/", nil)
			x := &plugin.Exchange{}
			if tt.caller != "" {
				x.Identify(env.Consumers[tt.caller], "test")
			}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			err := h.ServeHTTP(httptest.NewRecorder(), r)
			var got *plugin.Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not a *plugin.Error", err)
			}
			if diff := cmp.Diff(view(tt.want), view(got)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// errView is a *plugin.Error with its cause as text, for comparing.
type errView struct {
	Status               int
	Code, Public, Reason string
	Header               http.Header
}

func view(e *plugin.Error) *errView {
	if e == nil {
		return nil
	}
	return &errView{e.Status, e.Code, e.Public, errString(e.Err), e.Header}
}

func BenchmarkConsumerRestriction(b *testing.B) {
	env := plugintest.Env(b, Kind, "r", consumers...)
	h := plugintest.Build(b, Kind, env, `{"type":"consumer_group_id","whitelist":["staff"],"blacklist":["anonymous"],"allowed_by_methods":[{"user":"staff","methods":["GET"]}]}`,
		plugin.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	r := httptest.NewRequest("GET", "/", nil)
	x := &plugin.Exchange{}
	x.Identify(env.Consumers["alice"], "test")
	r = r.WithContext(plugin.WithExchange(r.Context(), x))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ServeHTTP(w, r); err != nil {
			b.Fatal(err)
		}
	}
}
