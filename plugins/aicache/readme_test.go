package aicache

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEExamples checks that every ai-cache config in the README
// decodes and validates, so the docs cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	type use struct {
		Name   string
		Config any
	}
	checked := 0
	for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
		var doc struct {
			Plugins []use
			Routes  []struct{ Plugins []use }
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Errorf("README: %v\n%s", err, m[1])
			continue
		}
		uses := doc.Plugins
		for _, r := range doc.Routes {
			uses = append(uses, r.Plugins...)
		}
		for _, u := range uses {
			if u.Name != name {
				continue
			}
			raw, _ := json.Marshal(u.Config)
			if err := Kind.Check(raw); err != nil {
				t.Errorf("README config %s: %v", raw, err)
			}
			checked++
		}
	}
	if checked < 2 {
		t.Errorf("checked %d ai-cache configs in the README; want at least 2", checked)
	}
}
