package consumerrestriction_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/basicauth"
	"github.com/sluicegw/sluice/plugins/consumerrestriction"
	"github.com/sluicegw/sluice/plugins/keyauth"
	"github.com/sluicegw/sluice/plugins/mtlsauth"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEExamples checks that the consumer credentials and plugin
// configs in the READMEs of the consumer plugins decode and validate, so the
// docs cannot drift from the code. (Whole-config checks, with routes and
// listeners, belong to the gateway's tests.)
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	kinds := map[string]plugin.Kind{}
	for _, k := range []plugin.Kind{keyauth.Kind, basicauth.Kind, mtlsauth.Kind, consumerrestriction.Kind} {
		kinds[k.Name] = k
	}
	for _, readme := range []string{"../keyauth/README.md", "../basicauth/README.md", "../mtlsauth/README.md", "README.md"} {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
			var doc struct {
				Consumers []struct {
					Name        string
					Credentials map[string]any
				}
				Routes []struct {
					Plugins []struct {
						Name   string
						Config any
					}
				}
			}
			if err := yaml.Unmarshal(m[1], &doc); err != nil {
				t.Errorf("%s: %v", readme, err)
				continue
			}
			for _, c := range doc.Consumers {
				for kind, cred := range c.Credentials {
					raw, _ := json.Marshal(cred)
					if strings.Contains(string(raw), "${file:") {
						continue // a file on the reader's machine
					}
					if _, err := kinds[kind].Credential.Decode(raw); err != nil {
						t.Errorf("%s: consumer %s: credentials.%s: %v", readme, c.Name, kind, err)
					}
					checked++
				}
			}
			for _, r := range doc.Routes {
				for _, p := range r.Plugins {
					raw, _ := json.Marshal(p.Config)
					if err := kinds[p.Name].Check(raw); err != nil {
						t.Errorf("%s: plugin %s: %s: %v", readme, p.Name, raw, err)
					}
					checked++
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no example checked", readme)
		}
	}
}
