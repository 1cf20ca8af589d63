package config

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"

	"github.com/sluicegw/sluice/plugin"
)

//go:generate go test -run TestFieldDocs -update .

// SchemaID is the $id of the JSON Schema that Schema returns.
const SchemaID = "https://github.com/sluicegw/sluice/schema/config.json"

const (
	durationPattern = `^(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+$`
	sizePattern     = `^ *[0-9]+ *([bB]|[kKmMgG][bB]?|[kKmMgG][iI][bB])? *$`
)

// orEnv extends a string pattern to accept a ${VAR} reference too, since
// editors see the file before expansion.
func orEnv(p string) string { return "(" + p + `)|\$\{` }

// requiredFields are the keys without which an item is invalid. The
// schema, the docs and Validate agree on them.
var requiredFields = map[string]bool{
	"Listener.Addr":            true,
	"ListenerTLS.Certificates": true,
	"Certificate.Cert":         true,
	"Certificate.Key":          true,
	"Upstream.Name":            true,
	"Upstream.Targets":         true,
	"Target.URL":               true,
	"Route.Name":               true,
	"PluginRef.Name":           true,
}

// fieldSchema adds constraints to a field's schema, keyed "Type.Field".
var fieldSchema = map[string]map[string]any{
	"Upstream.Balancer":          {"enum": Balancers},
	"Upstream.PassHost":          {"enum": PassHosts},
	"Upstream.HashOn":            {"pattern": `^(ip|consumer|path|(header|cookie|query):[^\s:]+)$`},
	"Upstream.Targets":           {"minItems": 1},
	"Target.URL":                 {"pattern": `^https?://[^/?#@\s]+:[0-9]{1,5}/?$`},
	"Target.Weight":              {"minimum": 1},
	"HealthCheck.Path":           {"pattern": "^/"},
	"HealthCheck.Healthy":        {"minimum": 1},
	"HealthCheck.Unhealthy":      {"minimum": 1},
	"HealthCheck.ExpectStatus":   {"items": map[string]any{"type": "integer", "minimum": 100, "maximum": 599}},
	"Passive.MaxFailures":        {"minimum": 0},
	"Passive.FailOn":             {"items": map[string]any{"type": "integer", "minimum": 100, "maximum": 599}},
	"Retries.Attempts":           {"minimum": 0},
	"RetryBudget.Ratio":          {"minimum": 0, "maximum": 1},
	"RetryBudget.MinPerSecond":   {"minimum": 0},
	"KeepAlive.MaxIdlePerTarget": {"minimum": 0},
	"HTTP2.MaxConcurrentStreams": {"minimum": 1},
	"ListenerTLS.Certificates":   {"minItems": 1},
	"Match.Hosts":                {"items": map[string]any{"type": "string", "minLength": 1}},
	"Match.Paths":                {"items": map[string]any{"type": "string", "pattern": "^/"}},
	"Match.Methods":              {"items": map[string]any{"enum": Methods}},
	"Log.Level":                  {"enum": LogLevels},
	"Log.Format":                 {"enum": LogFormats},
	"Tracing.SamplingRatio":      {"minimum": 0, "maximum": 1},
	"Config.TrustedProxies":      {"items": map[string]any{"type": "string", "pattern": `^[0-9a-fA-F:.]+/[0-9]{1,3}$`}},
	"Retries.On":                 {"items": map[string]any{"anyOf": []any{map[string]any{"enum": RetryOn}, map[string]any{"type": "integer", "minimum": 100, "maximum": 599}, map[string]any{"type": "string", "pattern": "^[1-5][0-9]{2}$"}}}},
	"Tracing.ServiceName":        {"minLength": 1},
	"Upstream.Name":              {"minLength": 1},
	"Route.Name":                 {"minLength": 1},
	"Listener.Addr":              {"minLength": 1},
	"PluginRef.Name":             {"minLength": 1},
	"Certificate.Cert":           {"minLength": 1},
	"Certificate.Key":            {"minLength": 1},
	"Route.Upstream":             {"minLength": 1},
}

// Schema returns a JSON Schema (draft 2020-12) of the config file, for
// editors and CI. It is generated from the Go types: every object rejects
// unknown keys, durations and sizes are patterned strings (a size may be a
// number of bytes), enumerations are listed, defaults and descriptions are
// given, and each plugins[].config is described by its kind's config type
// (from Kind.NewConfig), selected by the entry's name.
func Schema(kinds []plugin.Kind) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Config](), reflect.ValueOf(*Defaults()))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Sluice configuration"
	root["description"] = "Configuration file of the Sluice gateway. See docs/configuration.md."
	// x- keys at the top level hold YAML anchors and are ignored.
	root["patternProperties"] = map[string]any{"^x-": true}

	ref := g.defs["PluginRef"].(map[string]any)
	ks := slices.Clone(kinds)
	slices.SortFunc(ks, func(a, b plugin.Kind) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	if len(ks) > 0 {
		names := make([]string, 0, len(ks))
		var cases []any
		for _, k := range ks {
			names = append(names, k.Name)
			if k.NewConfig == nil {
				continue
			}
			cfg := k.NewConfig()
			pg := &schemaGen{inline: true, seen: map[reflect.Type]bool{}}
			cs := pg.schema(reflect.TypeOf(cfg), reflect.ValueOf(cfg))
			cs["description"] = "Config of the " + k.Name + " plugin (phase " + k.Phase.String() + ")."
			cases = append(cases, map[string]any{
				"if":   map[string]any{"properties": map[string]any{"name": map[string]any{"const": k.Name}}, "required": []string{"name"}},
				"then": map[string]any{"properties": map[string]any{"config": cs}},
			})
		}
		props := ref["properties"].(map[string]any)
		props["name"].(map[string]any)["enum"] = names
		if len(cases) > 0 {
			ref["allOf"] = cases
		}
	}
	// Consumer credentials: one property per kind that takes them, so
	// editors complete `credentials: {key-auth: {key: ...}}` too.
	creds := map[string]any{}
	for _, k := range ks {
		if k.Credential == nil || k.Credential.New == nil {
			continue
		}
		c := k.Credential.New()
		pg := &schemaGen{inline: true, seen: map[reflect.Type]bool{}}
		cs := pg.schema(reflect.TypeOf(c), reflect.ValueOf(c))
		cs["description"] = "A consumer's credential for the " + k.Name + " plugin."
		creds[k.Name] = cs
	}
	if cons, ok := g.defs["Consumer"].(map[string]any); ok {
		props := cons["properties"].(map[string]any)
		props["credentials"] = map[string]any{
			"type":                 "object",
			"description":          props["credentials"].(map[string]any)["description"],
			"properties":           creds,
			"additionalProperties": false,
		}
	}
	root["$defs"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

// schemaGen builds schemas by reflection. The config's own struct types go
// to $defs by name; plugin config types are inlined (their names collide
// across packages), with a guard against recursive types.
type schemaGen struct {
	defs   map[string]any
	inline bool
	seen   map[reflect.Type]bool
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schema returns the schema of type t; dv is a default value of t, or
// invalid.
func (g *schemaGen) schema(t reflect.Type, dv reflect.Value) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string", "pattern": orEnv(durationPattern)},
			map[string]any{"const": 0},
		}}
	case sizeType:
		return map[string]any{"type": []string{"integer", "string"}, "minimum": 0, "pattern": orEnv(sizePattern)}
	case rawMessageType:
		return map[string]any{}
	}
	if t.Kind() == reflect.Pointer {
		if dv.IsValid() && dv.Kind() == reflect.Pointer {
			if dv.IsNil() {
				dv = reflect.Value{}
			} else {
				dv = dv.Elem()
			}
		}
		return g.schema(t.Elem(), dv)
	}
	if t.Kind() != reflect.Interface && (t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler)) {
		return map[string]any{} // its own format, unknown here
	}
	if t.Kind() != reflect.Interface && (t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), itemDefault(t.Elem()))}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), reflect.Value{})}
	case reflect.Struct:
		if g.inline {
			if g.seen[t] {
				return map[string]any{} // recursive type: leave it open
			}
			g.seen[t] = true
			defer delete(g.seen, t)
			return g.object(t, dv)
		}
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // reserve, for recursion
			g.defs[name] = g.object(t, dv)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	return map[string]any{}
}

// itemDefault is the default value of a list item of type t, if it has one.
func itemDefault(t reflect.Type) reflect.Value {
	switch t {
	case reflect.TypeFor[Listener]():
		return reflect.ValueOf(defaultListener())
	case reflect.TypeFor[Upstream]():
		return reflect.ValueOf(defaultUpstream())
	case reflect.TypeFor[Target]():
		return reflect.ValueOf(defaultTarget())
	}
	return reflect.Value{}
}

// object is the schema of struct type t with properties, descriptions,
// defaults and required keys.
func (g *schemaGen) object(t reflect.Type, dv reflect.Value) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t) {
		id := t.Name() + "." + f.Name
		var fdv reflect.Value
		if dv.IsValid() {
			if v, err := dv.FieldByIndexErr(f.Index); err == nil {
				fdv = v
			}
		}
		if f.Type == reflect.TypeFor[*HealthCheck]() {
			fdv = reflect.ValueOf(defaultHealthCheck())
		}
		s := g.schema(f.Type, fdv)
		if _, isRef := s["$ref"]; isRef {
			s = map[string]any{"$ref": s["$ref"]}
		}
		if !g.inline {
			for k, v := range fieldSchema[id] {
				if p, ok := v.(string); ok && k == "pattern" {
					v = orEnv(p)
				}
				s[k] = v
			}
			if d := fieldDocs[id]; d != "" {
				s["description"] = d
			}
			if requiredFields[id] {
				required = append(required, f.Key)
			}
		}
		if d, ok := defaultJSON(fdv); ok {
			s["default"] = d
		}
		props[f.Key] = s
	}
	o := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// defaultJSON is v as a JSON default, for scalars and lists of scalars that
// are not zero.
func defaultJSON(v reflect.Value) (json.RawMessage, bool) {
	if !v.IsValid() || v.IsZero() {
		return nil, false
	}
	switch v.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer, reflect.Interface:
		return nil, false
	case reflect.Slice:
		if k := v.Type().Elem().Kind(); k == reflect.Struct || k == reflect.Pointer {
			return nil, false
		}
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, false
	}
	return b, true
}
