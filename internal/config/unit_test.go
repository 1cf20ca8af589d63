package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestJSONTagsSnakeCase walks every field reachable from Config and checks
// its json key is snake_case (STYLE.md 4.6).
func TestJSONTagsSnakeCase(t *testing.T) {
	t.Parallel()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] || rt.PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return
		}
		seen[rt] = true
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag, ok := f.Tag.Lookup("json")
			key, _, _ := strings.Cut(tag, ",")
			if !ok || key == "" {
				t.Errorf("%s.%s (%s): no json key", rt.Name(), f.Name, path)
				continue
			}
			if !snakeCase.MatchString(key) {
				t.Errorf("%s.%s: json key %q is not snake_case", rt.Name(), f.Name, key)
			}
			walk(f.Type, path+"."+key)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(seen) < 15 {
		t.Errorf("walked %d types; want all of them (>= 15)", len(seen))
	}
}

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "1", "EMPTY": "", "URL": "http://x:1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name, in, want string
		errs           int
	}{
		{"plain", "abc", "abc", 0},
		{"var", "${A}", "1", 0},
		{"embedded", "x${A}y${A}", "x1y1", 0},
		{"default unused", "${A:-9}", "1", 0},
		{"default unset", "${NOPE:-9}", "9", 0},
		{"default empty", "${EMPTY:-9}", "9", 0},
		{"empty without default", "${EMPTY}", "", 0},
		{"default with colon", "${NOPE:-http://a:1}", "http://a:1", 0},
		{"escape", "$${A}", "${A}", 0},
		{"escape then var", "$${A}${A}", "${A}1", 0},
		{"regex group kept", "/users/${1}/x", "/users/${1}/x", 0},
		{"regex group beside var", "${10}-${A}", "${10}-1", 0},
		{"lone dollar", "$A $", "$A $", 0},
		{"missing", "${NOPE}", "", 1},
		{"two missing", "${X1}-${X2}", "", 2},
		{"bad name", "${1A}", "", 1},
		{"empty name", "${}", "", 1},
		{"unterminated", "${A", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := expandEnv(tt.in, lookup)
			if len(errs) != tt.errs {
				t.Fatalf("expandEnv(%q) errors = %q; want %d", tt.in, errs, tt.errs)
			}
			if tt.errs == 0 && got != tt.want {
				t.Errorf("expandEnv(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	doc, ps := Parse("s.yaml", []byte("routes:\n  - name: api\n    match: {paths: [/x]}\n  - match: {}\n"), nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	byHand := &Document{Config: doc.Config}
	tests := []struct {
		name string
		doc  *Document
		p    Problem
		want string
	}{
		{"named item", doc, Problem{Path{"routes", 0, "upstream"}, "m"}, "s.yaml:2:5: routes[api].upstream: m"},
		{"deepest existing", doc, Problem{Path{"routes", 0, "match", "paths", 0}, "m"}, "s.yaml:3:21: routes[api].match.paths[0]: m"},
		{"unnamed item", doc, Problem{Path{"routes", 1}, "m"}, "s.yaml:4:5: routes[1]: m"},
		{"root", doc, Problem{nil, "m"}, "s.yaml:1:1: m"},
		{"no positions", byHand, Problem{Path{"routes", 0, "upstream"}, "m"}, "routes[api].upstream: m"},
		{"nil doc", nil, Problem{Path{"routes", 0, "upstream"}, "m"}, "routes[0].upstream: m"},
		{"plugin", nil, Problem{Path{"global_plugins", 2, "config"}, "m"}, "global_plugins[2].config: m"},
		{"odd key", nil, Problem{Path{"match", "headers", "a.b"}, "m"}, `match.headers["a.b"]: m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.doc.Format(tt.p); got != tt.want {
				t.Errorf("Format(%v) = %q; want %q", tt.p, got, tt.want)
			}
		})
	}
}

func TestPluginPathNames(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Routes = []Route{{Name: "r", Plugins: []PluginRef{{Name: "a"}, {Name: "cors"}}}}
	d := &Document{Config: c}
	got := d.Format(Problem{Path{"routes", 0, "plugins", 1, "config"}, "bad"})
	if want := "routes[r].plugins[1](cors).config: bad"; got != want {
		t.Errorf("Format = %q; want %q", got, want)
	}
}

func TestProblemsErr(t *testing.T) {
	t.Parallel()
	if err := Problems(nil).Err(); err != nil {
		t.Errorf("Problems(nil).Err() = %v; want nil", err)
	}
	ps := Problems{{Path{"a"}, "one"}, {Path{"b", 0}, "two"}}
	if got, want := ps.Err().Error(), "a: one\nb[0]: two"; got != want {
		t.Errorf("Err().Error() = %q; want %q", got, want)
	}
}

func TestParseProblemsHaveNoConfig(t *testing.T) {
	t.Parallel()
	doc, ps := Parse("x.yaml", []byte("routes: 3\n"), nil)
	if len(ps) == 0 || doc == nil || doc.Config != nil {
		t.Fatalf("Parse = %v, %v; want problems, a Document and no Config", doc, ps)
	}
}

// TestApplyDefaultsMatchesParse checks that ApplyDefaults, on a Config
// built in code, gives what Parse gives for the same minimal YAML (apart
// from the fields documented as left alone).
func TestApplyDefaultsMatchesParse(t *testing.T) {
	t.Parallel()
	doc, ps := Parse("x.yaml", []byte("upstreams: [{name: u, targets: [{url: http://a:1}], health_check: {}}]\n"), nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	c := Defaults()
	c.Upstreams = []Upstream{{Name: "u", Targets: []Target{{URL: "http://a:1"}}, HealthCheck: &HealthCheck{}}}
	ApplyDefaults(c)
	// Documented as left alone by ApplyDefaults: zero is meaningful.
	c.Upstreams[0].Passive.MaxFailures = 5
	c.Upstreams[0].Retries.Attempts = 1
	c.Upstreams[0].Retries.Budget = RetryBudget{Ratio: 0.2, MinPerSecond: 10}
	if diff := cmp.Diff(doc.Config, c); diff != "" {
		t.Errorf("ApplyDefaults differs from Parse (-parse +apply):\n%s", diff)
	}
	ApplyDefaults(c)
	if diff := cmp.Diff(doc.Config, c); diff != "" {
		t.Errorf("ApplyDefaults is not idempotent:\n%s", diff)
	}
	ApplyDefaults(nil) // must not panic
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {2 * time.Minute, "2m"}, {90 * time.Second, "1m30s"},
		{time.Hour, "1h"}, {time.Hour + 5*time.Second, "1h0m5s"}, {250 * time.Millisecond, "250ms"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q; want %q", tt.d, got, tt.want)
		}
		if back, err := ParseDuration(Duration(tt.d).String()); err != nil || back != tt.d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", Duration(tt.d).String(), back, err, tt.d)
		}
	}
}

func TestValidateNil(t *testing.T) {
	t.Parallel()
	if ps := Validate(nil, nil); len(ps) != 1 {
		t.Errorf("Validate(nil) = %v; want one problem", ps)
	}
	if ps := Validate(&Config{}, nil); len(ps) == 0 {
		t.Errorf("Validate(&Config{}) found nothing; want log level and format problems")
	}
}

func TestExpandSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", "s3cret\n")
	crlf := write("crlf", "s3cret\r\n")
	two := write("two", "line1\nline2\n\n")
	big := write("big", strings.Repeat("x", maxSecretFile+1))
	tests := []struct {
		name, in, want string
		err            string // substring of the one error; "" for none
	}{
		{"trailing newline dropped", "${file:" + key + "}", "s3cret", ""},
		{"crlf dropped", "${file:" + crlf + "}", "s3cret", ""},
		{"only one newline dropped", "${file:" + two + "}", "line1\nline2\n", ""},
		{"inside text", "Bearer ${file:" + key + "}", "Bearer s3cret", ""},
		{"missing file", "${file:" + dir + "/nope}", "", "no such file"},
		{"no path", "${file:}", "", "names no file"},
		{"too big", "${file:" + big + "}", "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := expandEnv(tt.in, func(string) (string, bool) { return "", false })
			switch {
			case tt.err == "" && len(errs) > 0:
				t.Fatalf("errors = %q", errs)
			case tt.err != "" && (len(errs) != 1 || !strings.Contains(errs[0], tt.err)):
				t.Fatalf("errors = %q; want one containing %q", errs, tt.err)
			case tt.err == "" && got != tt.want:
				t.Errorf("= %q; want %q", got, tt.want)
			}
			for _, e := range errs {
				if strings.Contains(e, "s3cret") || strings.Contains(e, "xxxx") {
					t.Errorf("error %q shows the secret", e)
				}
			}
		})
	}
}
