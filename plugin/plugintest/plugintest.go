// Package plugintest helps test plugins without a gateway: build a kind from
// JSON with consumers and their credentials, and serve a request through it
// with a fresh Exchange, the way the gateway would.
package plugintest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Consumer describes a test consumer: its credentials are JSON objects by
// kind name, as under `consumers[].credentials` in the config.
type Consumer struct {
	Name        string
	Groups      []string
	Labels      map[string]string
	Credentials map[string]string
}

// Env returns an Env for route with the consumers, decoding each consumer's
// credential for kind (if it has one) with the kind's CredentialSpec, and
// checking identities are unique as the gateway does. It fails t on error.
func Env(t testing.TB, kind plugin.Kind, route string, consumers ...Consumer) plugin.Env {
	t.Helper()
	env := plugin.Env{Route: route, Consumers: map[string]*plugin.Consumer{}}
	seen := map[string]string{}
	for _, c := range consumers {
		pc := &plugin.Consumer{Name: c.Name, Groups: c.Groups, Labels: c.Labels}
		env.Consumers[c.Name] = pc
		raw, ok := c.Credentials[kind.Name]
		if !ok {
			continue
		}
		if kind.Credential == nil {
			t.Fatalf("plugintest.Env: kind %s takes no credentials", kind.Name)
		}
		v, err := kind.Credential.Decode(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("plugintest.Env: consumer %s: credentials.%s: %v", c.Name, kind.Name, err)
		}
		if id := kind.Credential.Identity(v); id != "" {
			if other, dup := seen[id]; dup {
				t.Fatalf("plugintest.Env: consumers %s and %s share a %s credential", other, c.Name, kind.Name)
			}
			seen[id] = c.Name
		}
		env.Credentials = append(env.Credentials, plugin.Credential{Consumer: pc, Value: v})
	}
	return env
}

// Build builds kind with env and the JSON config around next, failing t on
// error. A nil next answers 200 "ok".
func Build(t testing.TB, kind plugin.Kind, env plugin.Env, config string, next plugin.Handler) plugin.Handler {
	t.Helper()
	mw, err := kind.Build(env, json.RawMessage(config))
	if err != nil {
		t.Fatalf("Build %s(%s) = %v", kind.Name, config, err)
	}
	if next == nil {
		next = OK
	}
	return mw(next)
}

// OK is a terminal handler that answers 200 "ok".
var OK = plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, err := w.Write([]byte("ok"))
	return err
})

// Use builds kind with env and the JSON config, failing t on error.
func Use(t testing.TB, kind plugin.Kind, env plugin.Env, config string) plugin.Use {
	t.Helper()
	mw, err := kind.Build(env, json.RawMessage(config))
	if err != nil {
		t.Fatalf("Build %s(%s) = %v", kind.Name, config, err)
	}
	return plugin.Use{Kind: kind, MW: mw}
}

// Route chains uses as a route with authn policy p does (the authn gate
// around the Authn plugins, then phase order) in front of next; nil next
// answers 200 "ok".
func Route(p plugin.AuthnPolicy, next plugin.Handler, uses ...plugin.Use) plugin.Handler {
	if next == nil {
		next = OK
	}
	return plugin.Chain(plugin.WithAuthnGate(uses, p), next)
}

// Result is what Serve saw.
type Result struct {
	*httptest.ResponseRecorder
	X   *plugin.Exchange
	Err error
}

// Serve runs r through h with a fresh Exchange (client IP from r.RemoteAddr,
// route "test") and records the answer. A returned *plugin.Error is written
// the way the gateway would (status, its headers and a JSON body) unless h
// already wrote.
func Serve(h plugin.Handler, r *http.Request) Result {
	x := &plugin.Exchange{Route: "test", Start: time.Now()}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		x.ClientIP = ap.Addr().Unmap()
	}
	r = r.WithContext(plugin.WithExchange(r.Context(), x))
	w := httptest.NewRecorder()
	tw := &trackingWriter{ResponseRecorder: w}
	err := h.ServeHTTP(tw, r)
	// Like the gateway: render the error only when nothing was written,
	// even if the plugin set response headers before returning it.
	if pe, ok := err.(*plugin.Error); ok && !tw.wrote {
		for k, vs := range pe.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(pe.Status)
		b, _ := json.Marshal(map[string]string{"error": pe.Code, "message": pe.Public})
		w.Write(b)
	}
	return Result{ResponseRecorder: w, X: x, Err: err}
}

// trackingWriter notes whether the handler wrote anything, which
// httptest.ResponseRecorder does not tell (its Code is 200 before a write).
type trackingWriter struct {
	*httptest.ResponseRecorder
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseRecorder.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseRecorder.Write(b)
}

func (w *trackingWriter) WriteString(str string) (int, error) {
	w.wrote = true
	return w.ResponseRecorder.WriteString(str)
}

func (w *trackingWriter) Flush() {
	w.wrote = true
	w.ResponseRecorder.Flush()
}

// Unwrap lets http.ResponseController reach the recorder.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseRecorder }
