package config

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/config/*.txtar, generated docs)")

// archive is a txtar-like file: a comment, then "-- name --" sections.
type archive struct {
	comment string
	files   []archiveFile
}

type archiveFile struct {
	name string
	data string
}

func parseArchive(s string) archive {
	var a archive
	cur := -1
	for line := range strings.Lines(s) {
		t := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			a.files = append(a.files, archiveFile{name: strings.TrimSpace(t[3 : len(t)-3])})
			cur = len(a.files) - 1
			continue
		}
		if cur < 0 {
			a.comment += line
		} else {
			a.files[cur].data += line
		}
	}
	return a
}

func (a archive) format() string {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, f := range a.files {
		b.WriteString("-- " + f.name + " --\n")
		b.WriteString(f.data)
		if f.data != "" && !strings.HasSuffix(f.data, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (a archive) file(name string) (string, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f.data, true
		}
	}
	return "", false
}

// testKinds are fake plugins standing in for the real ones, which live in
// packages this one must not import.
func testKinds() map[string]plugin.Kind {
	mocking := plugin.Define("mocking", plugin.Transform, func() *mockConfig { return &mockConfig{Status: 200} }, noBuild[*mockConfig])
	mocking.Terminal = true
	keyAuth := plugin.Define("key-auth", plugin.Authn, func() *keyAuthConfig { return &keyAuthConfig{Header: "apikey"} }, noBuild[*keyAuthConfig])
	keyAuth.Credential = plugin.DefineCredential(func() *keyCredential { return &keyCredential{} },
		func(c *keyCredential) string { return c.Key })
	ks := []plugin.Kind{
		keyAuth,
		plugin.Define("proxy-rewrite", plugin.Transform, func() *rewriteConfig { return &rewriteConfig{} }, noBuild[*rewriteConfig]),
		plugin.Define("request-id", plugin.Edge, func() *requestIDConfig { return &requestIDConfig{Header: "X-Request-Id"} }, noBuild[*requestIDConfig]),
		plugin.Define("cors", plugin.Edge, func() *corsConfig { return &corsConfig{MaxAge: 600} }, noBuild[*corsConfig]),
		mocking,
	}
	m := map[string]plugin.Kind{}
	for _, k := range ks {
		m[k.Name] = k
	}
	return m
}

func noBuild[C any](plugin.Env, C) (plugin.Middleware, error) {
	return nil, errors.New("not built in tests")
}

type keyAuthConfig struct {
	Header string `json:"header"`
}

func (c *keyAuthConfig) Validate() error { return nil }

type keyCredential struct {
	Key string `json:"key"`
}

func (c *keyCredential) Validate() error {
	if c.Key == "" {
		return errors.New("key: is required")
	}
	return nil
}

type rewriteConfig struct {
	StripPrefix string            `json:"strip_prefix,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

func (c *rewriteConfig) Validate() error {
	if c.StripPrefix != "" && !strings.HasPrefix(c.StripPrefix, "/") {
		return errors.New("strip_prefix: must start with /")
	}
	return nil
}

type requestIDConfig struct {
	Header string `json:"header"`
}

func (c *requestIDConfig) Validate() error {
	if c.Header == "" {
		return errors.New("header: must not be empty")
	}
	return nil
}

type corsConfig struct {
	Origins []string `json:"origins"`
	MaxAge  int      `json:"max_age"`
}

func (c *corsConfig) Validate() error {
	var errs []error
	if len(c.Origins) == 0 {
		errs = append(errs, errors.New("origins: at least one origin is required"))
	}
	if c.MaxAge < 0 {
		errs = append(errs, errors.New("max_age: must not be negative"))
	}
	return errors.Join(errs...)
}

type mockConfig struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func (c *mockConfig) Validate() error {
	if c.Status < 100 || c.Status > 599 {
		return errors.New("status: must be an HTTP status from 100 to 599")
	}
	return nil
}

// load parses and validates input the way `sluice validate` does, and
// returns the formatted problems or the config as indented JSON.
func load(t *testing.T, input string, env map[string]string) string {
	t.Helper()
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	doc, ps := Parse("sluice.yaml", []byte(input), lookup)
	if len(ps) == 0 {
		ps = Validate(doc.Config, testKinds())
	}
	if len(ps) > 0 {
		if doc.Config != nil && len(Validate(doc.Config, testKinds())) == 0 {
			t.Errorf("Parse returned problems and a Config")
		}
		return doc.FormatAll(ps) + "\n"
	}
	b, err := json.MarshalIndent(doc.Config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\r\n")
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/config/*.txtar files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(string(data))
			input, ok := a.file("input.yaml")
			if !ok {
				t.Fatalf("%s: no -- input.yaml -- section", file)
			}
			envText, _ := a.file("env")
			got := load(t, input, parseEnv(envText))
			want, _ := a.file("want")
			if *update {
				var out archive
				out.comment = a.comment
				for _, f := range a.files {
					if f.name != "want" {
						out.files = append(out.files, f)
					}
				}
				out.files = append(out.files, archiveFile{name: "want", data: got})
				if err := os.WriteFile(file, []byte(out.format()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: mismatch (-want +got), run go test ./internal/config -update to accept:\n%s", file, diff)
			}
		})
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	in := "comment\n-- a --\nx\n-- b --\ny\nz\n"
	if got := parseArchive(in).format(); got != in {
		t.Errorf("parseArchive(%q).format() = %q; want the input", in, got)
	}
}
