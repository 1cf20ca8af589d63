package config

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

func TestSchema(t *testing.T) {
	t.Parallel()
	var kinds []plugin.Kind
	for _, k := range testKinds() {
		kinds = append(kinds, k)
	}
	b, err := Schema(kinds)
	if err != nil {
		t.Fatalf("Schema() error: %v", err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	if got := root["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", got)
	}
	defs := root["$defs"].(map[string]any)
	objects := map[string]any{"Config": root}
	for k, v := range defs {
		objects[k] = v
	}
	for name, o := range objects {
		obj := o.(map[string]any)
		if obj["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties = %v; want false", name, obj["additionalProperties"])
		}
		for key, p := range obj["properties"].(map[string]any) {
			if d, _ := p.(map[string]any)["description"].(string); d == "" {
				t.Errorf("%s.%s: no description", name, key)
			}
		}
	}
	for _, name := range []string{"Config", "Listener", "Upstream", "Target", "HealthCheck", "Route", "Match", "PluginRef"} {
		if objects[name] == nil {
			t.Errorf("schema has no %s", name)
		}
	}

	up := defs["Upstream"].(map[string]any)["properties"].(map[string]any)
	if got, want := up["balancer"].(map[string]any)["enum"], []any{"round_robin", "least_conn", "p2c", "hash"}; !reflect.DeepEqual(got, want) {
		t.Errorf("balancer enum = %v; want %v", got, want)
	}
	if got := up["balancer"].(map[string]any)["default"]; got != "round_robin" {
		t.Errorf("balancer default = %v; want round_robin", got)
	}

	ref := defs["PluginRef"].(map[string]any)
	allOf, _ := ref["allOf"].([]any)
	if len(allOf) != len(kinds) {
		t.Fatalf("PluginRef.allOf has %d cases; want %d", len(allOf), len(kinds))
	}
	s := string(b)
	for _, want := range []string{`"const": "cors"`, `"strip_prefix"`, `"max_age"`} {
		if !strings.Contains(s, want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

// TestSchemaPatterns checks the duration and size patterns against the
// parsers they describe.
func TestSchemaPatterns(t *testing.T) {
	t.Parallel()
	dur := regexp.MustCompile(orEnv(durationPattern))
	size := regexp.MustCompile(orEnv(sizePattern))
	tests := []struct {
		name string
		re   *regexp.Regexp
		s    string
		ok   bool
	}{
		{"duration seconds", dur, "30s", true},
		{"duration compound", dur, "1h30m", true},
		{"duration fraction", dur, "1.5s", true},
		{"duration zero", dur, "0", true},
		{"duration env", dur, "${T}", true},
		{"duration no unit", dur, "30", false},
		{"duration words", dur, "2 minutes", false},
		{"size bytes", size, "512", true},
		{"size mib", size, "10MiB", true},
		{"size kb", size, "64kb", true},
		{"size bad unit", size, "10 furlongs", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.re.MatchString(tt.s); got != tt.ok {
				t.Errorf("pattern match %q = %v; want %v", tt.s, got, tt.ok)
			}
			var err error
			if tt.re == dur {
				_, err = ParseDuration(tt.s)
			} else {
				_, err = ParseSize(tt.s)
			}
			if !strings.Contains(tt.s, "${") && (err == nil) != tt.ok {
				t.Errorf("parser on %q: err = %v; want ok = %v", tt.s, err, tt.ok)
			}
		})
	}
}
