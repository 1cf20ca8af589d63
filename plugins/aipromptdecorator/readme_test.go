package aipromptdecorator_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicegw/sluice/plugins/aipromptdecorator"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEExamples checks that the plugin configs in the README decode
// and validate, so the docs cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
		var doc struct {
			Routes []struct {
				Plugins []struct {
					Name   string
					Config any
				}
			}
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Fatal(err)
		}
		for _, r := range doc.Routes {
			for _, p := range r.Plugins {
				if p.Name != aipromptdecorator.Kind.Name {
					continue
				}
				raw, _ := json.Marshal(p.Config)
				if err := aipromptdecorator.Kind.Check(raw); err != nil {
					t.Errorf("%s: %v", raw, err)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no example checked")
	}
}
