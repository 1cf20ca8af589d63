package config

import (
	"testing"
)

// FuzzParse checks that Parse never panics and returns either problems or
// a Config, and that Validate and Format cope with whatever it returns.
func FuzzParse(f *testing.F) {
	f.Add([]byte("routes: [{name: a, upstream: b}]\n"))
	env := map[string]string{"A": "1", "U": "http://127.0.0.1:1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	kinds := testKinds()
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, ps := Parse("fuzz.yaml", data, lookup)
		if doc == nil {
			t.Fatal("Parse returned a nil Document")
		}
		if (len(ps) == 0) == (doc.Config == nil) {
			t.Fatalf("Parse returned %d problems and Config %v; want exactly one of them", len(ps), doc.Config != nil)
		}
		if doc.Config != nil {
			ps = Validate(doc.Config, kinds)
		}
		_ = doc.FormatAll(ps)
		_ = ps.Error()
	})
}
