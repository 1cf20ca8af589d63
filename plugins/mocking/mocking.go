// Package mocking implements the mocking plugin: the route answers by itself
// with a configured status, headers and body, and never calls the upstream.
// Keys follow APISIX's mocking plugin. The body may be a Go text/template.
package mocking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
)

// Kind is the mocking plugin. It is terminal: a route using it needs no
// upstream.
var Kind = func() plugin.Kind {
	k := plugin.Define("mocking", plugin.Transform, defaults, New)
	k.Terminal = true
	return k
}()

// Config is the mocking plugin's configuration.
type Config struct {
	// ResponseStatus is the status sent. Default 200.
	ResponseStatus int `json:"response_status"`
	// ContentType is the Content-Type sent. Default
	// "application/json;charset=utf8" (APISIX's default); "" sends none.
	ContentType string `json:"content_type"`
	// ResponseExample is the body. If it contains "{{" it is a Go
	// text/template run per request; see the README for its fields.
	ResponseExample string `json:"response_example"`
	// ResponseHeaders are extra response headers.
	ResponseHeaders map[string]string `json:"response_headers"`
	// Delay waits before answering: a number of seconds (APISIX's form) or a
	// duration string such as "250ms". Default 0.
	Delay Duration `json:"delay"`
	// WithMockHeader adds "X-Mock-By: Sluice". Default true.
	WithMockHeader bool `json:"with_mock_header"`
}

// Duration is a time.Duration written as seconds (a JSON number) or as a
// Go duration string. A malformed string is reported by Validate.
type Duration struct {
	D    time.Duration
	text string // the string form, kept for Validate
}

// UnmarshalJSON accepts 1.5 or "1500ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		d.text = s
		d.D, _ = time.ParseDuration(s)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return &json.UnmarshalTypeError{Value: "non-number", Type: durationType}
	}
	d.D, d.text = time.Duration(f*float64(time.Second)), ""
	return nil
}

var durationType = reflect.TypeFor[Duration]()

func defaults() *Config {
	return &Config{
		ResponseStatus: http.StatusOK,
		ContentType:    "application/json;charset=utf8",
		WithMockHeader: true,
	}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.ResponseStatus < 200 || c.ResponseStatus > 599 {
		errs = append(errs, fmt.Errorf("response_status: %d is not a final status (200 to 599)", c.ResponseStatus))
	} else if c.ResponseExample != "" && !bodyAllowed(c.ResponseStatus) {
		errs = append(errs, fmt.Errorf("response_example: must be empty for status %d, which has no body", c.ResponseStatus))
	}
	if strings.ContainsAny(c.ContentType, "\r\n\x00") {
		errs = append(errs, errors.New("content_type: must not contain CR, LF or NUL"))
	}
	if _, err := parseTemplate(c.ResponseExample); err != nil {
		errs = append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.ResponseHeaders)) {
		key := fmt.Sprintf("response_headers[%q]", name)
		switch {
		case !headerop.ValidName(name):
			errs = append(errs, fmt.Errorf("%s: %q is not a valid header name", key, name))
		case http.CanonicalHeaderKey(name) == "Content-Length" || http.CanonicalHeaderKey(name) == "Transfer-Encoding":
			errs = append(errs, fmt.Errorf("%s: %q is set by the gateway", key, name))
		case strings.ContainsAny(c.ResponseHeaders[name], "\r\n\x00"):
			errs = append(errs, fmt.Errorf("%s: value must not contain CR, LF or NUL", key))
		}
	}
	if c.Delay.text != "" {
		if _, err := time.ParseDuration(c.Delay.text); err != nil {
			errs = append(errs, fmt.Errorf("delay: %q is not a duration (use seconds, or a string like \"250ms\")", c.Delay.text))
		}
	}
	if c.Delay.D < 0 {
		errs = append(errs, fmt.Errorf("delay: %v must not be negative", c.Delay.D))
	}
	return errors.Join(errs...)
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// data is what a response_example template sees.
type data struct {
	Method, Path, Host, RequestID, Route, RemoteAddr string
	// Consumer is the caller an authentication plugin identified, or "".
	Consumer string

	r *http.Request
	x *plugin.Exchange
}

// Query returns the parsed query string: {{.Query.Get "q"}}.
func (d *data) Query() url.Values { return d.r.URL.Query() }

// Header returns a request header: {{.Header "User-Agent"}}.
func (d *data) Header(name string) string { return d.r.Header.Get(name) }

// Param returns a path parameter captured by the router: {{.Param "id"}}.
func (d *data) Param(name string) string { return d.x.Param(name) }

var tmplErrRE = regexp.MustCompile(`^template: response_example:(\d+):(?:\d+:)? (?:executing "response_example" at <[^>]*>: )?`)

// parseTemplate returns nil for a body without "{{". Errors name the line.
func parseTemplate(s string) (*template.Template, error) {
	if !strings.Contains(s, "{{") {
		return nil, nil
	}
	t, err := template.New("response_example").Parse(s)
	if err != nil {
		return nil, templateError(err)
	}
	// Catch misspelled fields now rather than on the first request. Other
	// execution errors can depend on the request, so they are left alone.
	r, _ := http.NewRequest("GET", "http://example.org/", nil)
	d := &data{r: r, x: &plugin.Exchange{}}
	if err := t.Execute(&bytes.Buffer{}, d); err != nil && strings.Contains(err.Error(), "can't evaluate field") {
		return nil, templateError(err)
	}
	return t, nil
}

func templateError(err error) error {
	msg := err.Error()
	if m := tmplErrRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("response_example: line %s: %s", m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("response_example: %s", strings.TrimPrefix(msg, "template: "))
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	tmpl, err := parseTemplate(c.ResponseExample)
	if err != nil {
		return nil, err
	}
	body := []byte(c.ResponseExample)
	hdr := http.Header{}
	if c.ContentType != "" {
		hdr["Content-Type"] = []string{c.ContentType}
	} else {
		hdr["Content-Type"] = nil // stops net/http from sniffing one
	}
	if c.WithMockHeader {
		hdr["X-Mock-By"] = []string{"Sluice"}
	}
	for k, v := range c.ResponseHeaders {
		hdr[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if tmpl == nil && bodyAllowed(c.ResponseStatus) {
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	for k, v := range hdr {
		hdr[k] = v[:len(v):len(v)] // shared across requests: appends must copy
	}
	status, delay := c.ResponseStatus, c.Delay.D
	return func(plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return &plugin.Error{Status: 499, Code: "client_closed_request", Public: "client closed request", Err: r.Context().Err()}
				}
			}
			h := w.Header()
			for k, v := range hdr {
				h[k] = v
			}
			if tmpl == nil {
				w.WriteHeader(status)
				_, _ = w.Write(body)
				return nil
			}
			return serveTemplate(w, r, tmpl, status)
		})
	}, nil
}

func serveTemplate(w http.ResponseWriter, r *http.Request, tmpl *template.Template, status int) error {
	x := plugin.ExchangeOf(r)
	d := &data{
		Method: r.Method, Path: r.URL.Path, Host: r.Host,
		RequestID: x.RequestID, Route: x.Route, RemoteAddr: remoteAddr(r, x), Consumer: x.Consumer,
		r: r, x: x,
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // do not pin the odd huge body
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	if err := tmpl.Execute(buf, d); err != nil {
		return &plugin.Error{Status: http.StatusInternalServerError, Code: "mock_template_failed", Public: "the mock response template failed", Err: err}
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func remoteAddr(r *http.Request, x *plugin.Exchange) string {
	if x.ClientIP.IsValid() {
		return x.ClientIP.String()
	}
	return r.RemoteAddr
}
