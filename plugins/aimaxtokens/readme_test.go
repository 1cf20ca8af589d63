package aimaxtokens_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/aimaxtokens"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEExamples builds the plugin configs in the README with the
// example's consumers, so the docs cannot drift from the code.
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
		var doc struct {
			Consumers []struct {
				Name   string
				Groups []string
			}
			Routes []struct {
				Name    string
				Plugins []struct {
					Name   string
					Config any
				}
			}
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Fatal(err)
		}
		env := plugin.Env{AIRoute: true, Consumers: map[string]*plugin.Consumer{}}
		for _, c := range doc.Consumers {
			env.Consumers[c.Name] = &plugin.Consumer{Name: c.Name, Groups: c.Groups}
		}
		for _, r := range doc.Routes {
			env.Route = r.Name
			for _, p := range r.Plugins {
				if p.Name != aimaxtokens.Kind.Name {
					continue
				}
				raw, _ := json.Marshal(p.Config)
				if _, err := aimaxtokens.Kind.Build(env, raw); err != nil {
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
