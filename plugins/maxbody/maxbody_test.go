package maxbody

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, want string
		wantN           int64
	}{
		{"default", ``, "", 1 << 20},
		{"number", `{"max_bytes":1000}`, "", 1000},
		{"KiB", `{"max_bytes":"512KiB"}`, "", 512 << 10},
		{"MB spaced lower", `{"max_bytes":"10 mb"}`, "", 10e6},
		{"GiB", `{"max_bytes":"2GiB"}`, "", 2 << 30},
		{"bytes unit", `{"max_bytes":"42B"}`, "", 42},
		{"bare string", `{"max_bytes":"42"}`, "", 42},
		{"zero", `{"max_bytes":0}`, "max_bytes: must be positive", 0},
		{"negative", `{"max_bytes":-5}`, "max_bytes: must be positive", 0},
		{"bad unit", `{"max_bytes":"5 TB"}`, `max_bytes: "5 TB" is not a size (a whole number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)`, 0},
		{"fraction", `{"max_bytes":"1.5MiB"}`, `max_bytes: "1.5MiB" is not a size (a whole number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)`, 0},
		{"overflow", `{"max_bytes":"9999999999999GiB"}`, `max_bytes: "9999999999999GiB" is too large`, 0},
		{"float", `{"max_bytes":1.5}`, `max_bytes: expected maxbody.Size, got non-integer`, 0},
		{"unknown key", `{"max_body_size":10}`, `json: unknown field "max_body_size"`, 0},
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
				t.Errorf("Check(%s) = %q; want %q", tt.cfg, got, tt.want)
			}
			if tt.want == "" {
				c := defaults()
				if err := plugin.DecodeStrict(json.RawMessage(tt.cfg), c); err != nil || c.MaxBytes.N != tt.wantN {
					t.Errorf("max_bytes = %d, %v; want %d", c.MaxBytes.N, err, tt.wantN)
				}
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	tooLarge := &plugin.Error{Status: 413, Code: "body_too_large", Public: "request body too large"}
	tests := []struct {
		name          string
		body          string
		contentLength int64 // -1 for chunked
		wantErr       *plugin.Error
		wantNext      bool
		wantReadErr   bool // the upstream's read fails with *http.MaxBytesError
	}{
		{"no body", "", 0, nil, true, false},
		{"at limit", "0123456789", 10, nil, true, false},
		{"declared over", "01234567890", 11, tooLarge, false, false},
		{"chunked under", "0123456789", -1, nil, true, false},
		{"chunked over", "0123456789abc", -1, nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := Kind.Build(plugin.Env{}, json.RawMessage(`{"max_bytes":"10B"}`))
			if err != nil {
				t.Fatal(err)
			}
			called, readErr := false, error(nil)
			h := mw(plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				_, readErr = io.ReadAll(r.Body)
				return nil
			}))
			var body io.Reader = http.NoBody
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest("POST", "/", body)
			r.ContentLength = tt.contentLength
			err = h.ServeHTTP(httptest.NewRecorder(), r)
			var got *plugin.Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("err = %v; want a *plugin.Error", err)
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if called != tt.wantNext {
				t.Errorf("next called = %v; want %v", called, tt.wantNext)
			}
			var mbe *http.MaxBytesError
			if gotReadErr := errors.As(readErr, &mbe); gotReadErr != tt.wantReadErr {
				t.Errorf("read error = %v; want MaxBytesError %v", readErr, tt.wantReadErr)
			}
		})
	}
}

// TestServer checks the limit over a real connection, chunked.
func TestServer(t *testing.T) {
	t.Parallel()
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(`{"max_bytes":16}`))
	if err != nil {
		t.Fatal(err)
	}
	h := mw(plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.ReadAll(r.Body)
		return err
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var mbe *http.MaxBytesError
		if err := h.ServeHTTP(w, r); errors.As(err, &mbe) {
			w.WriteHeader(413)
		}
	}))
	defer srv.Close()
	// io.MultiReader hides the length, so the client sends it chunked.
	resp, err := http.Post(srv.URL, "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("x", 64))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("status = %d; want 413", resp.StatusCode)
	}
}
