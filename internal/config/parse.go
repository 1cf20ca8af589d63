package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Document is a parsed config file and an index of where each value is in
// it, for Format. A Document built by hand around a Config (from a source
// without a file, such as etcd) formats problems without positions.
type Document struct {
	// Name is the file name shown in positions ("sluice.yaml").
	Name string
	// Config is the decoded config with defaults applied; nil when Parse
	// found problems.
	Config *Config
	// Partial is set when Parse found key or value problems in readable
	// YAML: it holds everything that did decode, bad values left at their
	// defaults. It exists so Check can report reference and range problems
	// in the same pass; it must never be run.
	Partial *Config

	pos   map[string]pos    // Path.key() -> where the value (or unknown key) is
	names map[string]string // Path.key() of a list item -> its name field
}

// maxNodes bounds the YAML nodes Parse visits, aliases expanded, so that an
// alias bomb ("billion laughs") is a problem rather than an outage.
const maxNodes = 1 << 17

// maxDepth bounds nesting, so that recursion cannot exhaust the stack.
const maxDepth = 200

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	durationType   = reflect.TypeFor[Duration]()
	sizeType       = reflect.TypeFor[Size]()
)

// Parse reads a config file (YAML, or JSON, which is YAML too) and returns it
// decoded over Defaults(), with per-item defaults filled in for absent keys.
//
// In order, it: parses the YAML; expands ${VAR} and ${VAR:-default} in
// scalar values using env (nil means os.LookupEnv), where $${ is a literal
// ${; checks every key against the schema (plugin configs are left to the
// plugins); checks every value's type (numbers, booleans, durations, sizes);
// and decodes. It returns every problem it finds, and then a nil
// Document.Config. It never panics. The returned Document is never nil, so
// that problems can be formatted with it.
//
// Parse does not call Validate: references, enums and ranges are checked
// there, because plugin kinds are needed for some of them.
func Parse(name string, data []byte, env func(string) (string, bool)) (doc *Document, probs Problems) {
	if env == nil {
		env = os.LookupEnv
	}
	d := &Document{Name: name, pos: map[string]pos{}, names: map[string]string{}}
	defer func() {
		// A bug in the YAML library or here must not take the gateway down
		// on a reload; report it as a problem instead.
		if r := recover(); r != nil {
			d.Config = nil
			doc, probs = d, append(probs, Problem{Msg: fmt.Sprintf("internal error while parsing (please report it): %v", r)})
		}
	}()

	top, ps := parseYAML(d, data)
	if len(ps) > 0 {
		return d, ps
	}
	w := &walker{d: d, env: env, bad: map[*yaml.Node]bool{}, active: map[*yaml.Node]bool{}}
	w.expand(top, Path{}, 0)
	var v any
	if top != nil {
		d.pos[Path{}.key()] = pos{top.Line, top.Column}
		v, _ = w.value(top, reflect.TypeFor[Config](), Path{}, nil, 0)
	}
	c, err := decodeWalked(v)
	if len(w.probs) > 0 {
		if err == nil {
			d.Partial = c
		}
		return d, w.probs
	}
	if err != nil {
		// The walk checked every key and type, so this is a bug.
		return d, Problems{{Msg: fmt.Sprintf("internal error while decoding (please report it): %v", err)}}
	}
	d.Config = c
	return d, nil
}

// decodeWalked decodes the walker's checked value over the defaults.
func decodeWalked(v any) (*Config, error) {
	c := Defaults()
	if v != nil {
		b, err := json.Marshal(v)
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			err = dec.Decode(c)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.Listeners == nil {
		l := defaultListener()
		l.Addr = DefaultListenAddr
		c.Listeners = []Listener{l}
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseYAML parses data as exactly one YAML document and returns its top
// node, nil for an empty document. A syntax error is a problem at the root,
// and the root's position is set to the error's line.
func parseYAML(d *Document, data []byte) (*yaml.Node, Problems) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Problems{syntaxProblem(d, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Problems{syntaxProblem(d, err)}
	default:
		d.pos[Path{}.key()] = pos{extra.Line, extra.Column}
		return nil, Problems{{Msg: "found a second YAML document (after ---): a config file holds exactly one; merge them or remove the ---"}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil, nil
	}
	return root.Content[0], nil
}

func syntaxProblem(d *Document, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.pos[Path{}.key()] = pos{line: line}
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return Problem{Msg: "invalid YAML: " + msg}
}

// walker walks the YAML tree alongside the Go types.
type walker struct {
	d      *Document
	env    func(string) (string, bool)
	probs  Problems
	nodes  int                 // visited, aliases expanded
	bad    map[*yaml.Node]bool // scalars whose ${VAR} failed: already reported
	active map[*yaml.Node]bool // alias targets being walked, to catch cycles
	stop   bool                // too many nodes: reported once, then stop
}

func (w *walker) problem(p Path, format string, args ...any) {
	w.probs.add(p, format, args...)
}

// at records where the value at p is, unless something else already is.
func (w *walker) at(p Path, n *yaml.Node) {
	k := p.key()
	if _, ok := w.d.pos[k]; !ok {
		w.d.pos[k] = pos{n.Line, n.Column}
	}
}

// count charges one node against maxNodes and depth against maxDepth.
func (w *walker) count(p Path, depth int) bool {
	if w.stop {
		return false
	}
	w.nodes++
	if w.nodes > maxNodes {
		w.stop = true
		w.problem(p, "document is too large once aliases are expanded (over %d values); use fewer or smaller aliases", maxNodes)
		return false
	}
	if depth > maxDepth {
		w.stop = true
		w.problem(p, "document is nested too deeply (over %d levels)", maxDepth)
		return false
	}
	return true
}

// expand replaces ${VAR} in every scalar value under n, in place. Mapping
// keys are not expanded. Aliases are not followed: their targets are
// expanded where they are defined, exactly once.
func (w *walker) expand(n *yaml.Node, p Path, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		w.expandScalar(n, p)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.expand(c, p.with(i), depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.expand(n.Content[i+1], p.with(n.Content[i].Value), depth+1)
		}
	}
}

func (w *walker) expandScalar(n *yaml.Node, p Path) {
	if !strings.Contains(n.Value, "${") {
		return
	}
	s, errs := expandEnv(n.Value, w.env)
	if len(errs) > 0 {
		w.bad[n] = true
		w.at(p, n)
		for _, e := range errs {
			w.problem(p, "%s", e)
		}
		return
	}
	if s == n.Value {
		return
	}
	n.Value = s
	// A plain scalar is typed by what it says after expansion, so that
	// `weight: ${W}` is a number; an empty result stays an empty string
	// rather than becoming null.
	if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		if s == "" {
			n.Tag = "!!str"
		} else {
			n.Tag = ""
		}
	}
}

// maxSecretFile bounds a ${file:PATH} secret; a secret is a key or a
// password, not a document.
const maxSecretFile = 64 << 10

// readSecretFile reads a ${file:PATH} secret. Its errors name the file, never
// its content.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New(`"${file:}" names no file: write it like ${file:/run/secrets/api-key}`)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("secret file %s: %v", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d bytes: it should hold one secret", path, maxSecretFile)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// expandEnv replaces ${NAME} and ${NAME:-default} in s. ${NAME:-default}
// uses the default when NAME is unset or empty. ${file:PATH} is the content
// of the file PATH, less one trailing newline (Docker and Kubernetes
// secrets). $${ is a literal ${. A lone $ is left as it is, and so is ${1}
// (all digits: a regex group).
func expandEnv(s string, env func(string) (string, bool)) (string, []string) {
	var b strings.Builder
	var errs []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				errs = append(errs, `unterminated "${": close it with "}", or write "$${" for a literal "${"`)
				return s, errs
			}
			body := s[i+2 : i+2+end]
			if allDigits(body) {
				// ${1} is a regex group in a replacement (proxy-rewrite's
				// regex_uri), never an environment variable: keep it.
				b.WriteString(s[i : i+2+end+1])
				i += 2 + end + 1
				continue
			}
			i += 2 + end + 1
			if path, ok := strings.CutPrefix(body, "file:"); ok {
				v, err := readSecretFile(path)
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				b.WriteString(v)
				continue
			}
			name, def, hasDef := strings.Cut(body, ":-")
			if !envName.MatchString(name) {
				errs = append(errs, fmt.Sprintf(`invalid variable name %q in "${%s}": use letters, digits and _, as in ${API_KEY} or ${PORT:-8080}`, name, body))
				continue
			}
			v, ok := env(name)
			switch {
			case ok && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				errs = append(errs, fmt.Sprintf("environment variable %s is not set: set it, or give a default with ${%s:-default}", name, name))
			}
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), errs
}

// resolve follows an alias. It returns nil (after reporting it) for a
// cycle. When it returns true, the caller must delete the node from
// w.active when done with it.
func (w *walker) resolve(n *yaml.Node, p Path) (*yaml.Node, bool) {
	if n.Kind != yaml.AliasNode {
		if n.Anchor == "" || w.active[n] {
			return n, false
		}
		// An anchored value is active while it is walked, so that an alias
		// to it from inside is caught at once.
		w.active[n] = true
		return n, true
	}
	t := n.Alias
	if t == nil {
		w.problem(p, "alias *%s is not defined", n.Value)
		return nil, false
	}
	if w.active[t] {
		w.problem(p, "alias *%s refers to a value that contains it", n.Value)
		return nil, false
	}
	w.active[t] = true
	return t, true
}

// pair is one key and value of a mapping, after merge keys.
type pair struct{ k, v *yaml.Node }

// pairs returns n's keys and values, with "<<: *anchor" merges expanded
// (explicit keys win over merged ones; earlier merges win over later ones).
// Duplicate and non-string keys are problems.
func (w *walker) pairs(n *yaml.Node, p Path, depth int) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, w.mergePairs(v, p, depth)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.at(p, k)
			w.problem(p, "key at line %d is a %s: keys must be plain strings", k.Line, describeKind(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			kp := p.with(k.Value)
			w.at(kp, k)
			w.problem(kp, "duplicate key (first set at line %d): remove one of them", first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	for _, m := range merged {
		if _, ok := seen[m.k.Value]; !ok {
			seen[m.k.Value] = m.k
			own = append(own, m)
		}
	}
	return own
}

// mergePairs expands the value of a "<<" key: a mapping or a list of them.
func (w *walker) mergePairs(v *yaml.Node, p Path, depth int) []pair {
	if !w.count(p, depth) {
		return nil
	}
	t, alias := w.resolve(v, p)
	if t == nil {
		return nil
	}
	if alias {
		defer delete(w.active, t)
	}
	switch t.Kind {
	case yaml.MappingNode:
		return w.pairs(t, p, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, c := range t.Content {
			for _, m := range w.mergePairs(c, p, depth+1) {
				if !containsKey(out, m.k.Value) {
					out = append(out, m)
				}
			}
		}
		return out
	}
	w.at(p, v)
	w.problem(p, "<< (merge) needs a mapping or a list of mappings, got %s", describe(t))
	return nil
}

func containsKey(ps []pair, k string) bool {
	for _, p := range ps {
		if p.k.Value == k {
			return true
		}
	}
	return false
}

// value converts n to a JSON-ready value for Go type t, reporting every
// key and type problem. base is the JSON form of t's defaults (a map, for
// structs), over which n's keys are laid. ok is false when there is nothing
// to set: n is null, or n had a problem.
func (w *walker) value(n *yaml.Node, t reflect.Type, p Path, base any, depth int) (v any, ok bool) {
	if !w.count(p, depth) {
		return nil, false
	}
	w.at(p, n)
	n, alias := w.resolve(n, p)
	if n == nil {
		return nil, false
	}
	if alias {
		defer delete(w.active, n)
	}
	if w.bad[n] {
		return nil, false
	}
	if t == rawMessageType {
		g, ok := w.generic(n, p, depth)
		if !ok || g == nil {
			return nil, false
		}
		b, err := json.Marshal(g)
		if err != nil {
			w.problem(p, "cannot convert to JSON: %v", err)
			return nil, false
		}
		return json.RawMessage(b), true
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch t {
	case durationType:
		return w.duration(n, p, null)
	case sizeType:
		return w.size(n, p, null)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if null {
			return nil, true // explicit null: unset (health_check: ~ turns it off)
		}
		return w.value(n, t.Elem(), p, itemBase(t.Elem()), depth)
	case reflect.Struct:
		if null {
			return nil, false
		}
		return w.object(n, t, p, base, depth)
	case reflect.Slice:
		if null {
			return nil, true
		}
		if n.Kind != yaml.SequenceNode {
			w.problem(p, "expected a list, got %s%s", describe(n), listHint(n))
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			ip := p.with(i)
			if c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" {
				w.at(ip, c)
				w.problem(ip, "list item is empty: remove it or give it a value")
				continue
			}
			iv, _ := w.value(c, t.Elem(), ip, itemBase(t.Elem()), depth+1)
			out = append(out, iv)
		}
		return out, true
	case reflect.Map:
		if null {
			return nil, false
		}
		if n.Kind != yaml.MappingNode {
			w.problem(p, "expected a mapping (key: value), got %s", describe(n))
			return nil, false
		}
		out := map[string]any{}
		for _, kv := range w.pairs(n, p, depth) {
			kp := p.with(kv.k.Value)
			if mv, ok := w.value(kv.v, t.Elem(), kp, nil, depth+1); ok {
				out[kv.k.Value] = mv
			}
		}
		return out, true
	}
	if null {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode {
		w.problem(p, "expected %s, got %s", typeName(t), describe(n))
		return nil, false
	}
	tag := n.ShortTag()
	switch t.Kind() {
	case reflect.String:
		return n.Value, true
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			w.problem(p, "expected true or false, got %s", describe(n))
			return nil, false
		}
		return b, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			w.problem(p, "expected an integer, got %s%s", describe(n), quoteHint(n, tag))
			return nil, false
		}
		if reflect.New(t).Elem().OverflowInt(i) {
			w.problem(p, "integer %s is out of range", n.Value)
			return nil, false
		}
		return json.Number(strconv.FormatInt(i, 10)), true
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			w.problem(p, "expected a number, got %s%s", describe(n), quoteHint(n, tag))
			return nil, false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			w.problem(p, "expected a finite number, got %s", n.Value)
			return nil, false
		}
		return f, true
	}
	w.problem(p, "unsupported value for %s", t)
	return nil, false
}

// object converts a mapping to a JSON object for struct type t, laid over
// base.
func (w *walker) object(n *yaml.Node, t reflect.Type, p Path, base any, depth int) (any, bool) {
	if n.Kind != yaml.MappingNode {
		w.problem(p, "expected a mapping with keys %s, got %s", keyList(t, 6), describe(n))
		return nil, false
	}
	out := map[string]any{}
	if bm, ok := base.(map[string]any); ok {
		for k, v := range bm {
			out[k] = v
		}
	}
	for _, kv := range w.pairs(n, p, depth) {
		key := kv.k.Value
		kp := p.with(key)
		f, ok := fieldByTag(t, key)
		if !ok && depth == 0 && strings.HasPrefix(key, "x-") {
			// Top-level x- keys are ignored, to hold anchors for aliases
			// (the Docker Compose convention).
			continue
		}
		if !ok {
			w.at(kp, kv.k)
			w.problem(kp, "%s", unknownKey(t, key))
			continue
		}
		if key == "name" && len(p) > 0 {
			if _, isIndex := p[len(p)-1].(int); isIndex {
				if nv, _ := w.resolveQuiet(kv.v); nv != nil && nv.Kind == yaml.ScalarNode {
					w.d.names[p.key()] = nv.Value
				}
			}
		}
		var childBase any
		if f.Type.Kind() == reflect.Struct {
			childBase = out[key]
		}
		if v, ok := w.value(kv.v, f.Type, kp, childBase, depth+1); ok {
			out[key] = v
		}
	}
	return out, true
}

// resolveQuiet follows an alias without cycle tracking, for peeking.
func (w *walker) resolveQuiet(n *yaml.Node) (*yaml.Node, bool) {
	if n.Kind == yaml.AliasNode {
		return n.Alias, true
	}
	return n, false
}

func (w *walker) duration(n *yaml.Node, p Path, null bool) (any, bool) {
	if null {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			if _, err := ParseDuration(n.Value); err != nil {
				w.problem(p, "%v", err)
				return nil, false
			}
			return n.Value, true
		case "!!int", "!!float":
			var f float64
			if n.Decode(&f) == nil && f == 0 {
				return "0s", true
			}
			w.problem(p, "duration %s has no unit: write it like 30s, 250ms or 5m (only 0 may go without one)", n.Value)
			return nil, false
		}
	}
	w.problem(p, "expected a duration like 30s or 250ms, got %s", describe(n))
	return nil, false
}

func (w *walker) size(n *yaml.Node, p Path, null bool) (any, bool) {
	if null {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			v, err := ParseSize(n.Value)
			if err != nil {
				w.problem(p, "%v", err)
				return nil, false
			}
			return json.Number(strconv.FormatInt(v, 10)), true
		case "!!int":
			var i int64
			if n.Decode(&i) != nil {
				w.problem(p, "size %s is out of range", n.Value)
				return nil, false
			}
			if i < 0 {
				w.problem(p, "size %s must not be negative", n.Value)
				return nil, false
			}
			return json.Number(strconv.FormatInt(i, 10)), true
		}
	}
	w.problem(p, "expected a size like 512, 64KiB or 10MiB, got %s", describe(n))
	return nil, false
}

// generic converts any YAML value to JSON-ready Go values, for plugin
// configs, which their plugins decode and check.
func (w *walker) generic(n *yaml.Node, p Path, depth int) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for _, kv := range w.pairs(n, p, depth) {
			kp := p.with(kv.k.Value)
			if !w.count(kp, depth+1) {
				return nil, false
			}
			w.at(kp, kv.v)
			v, alias := w.resolve(kv.v, kp)
			if v == nil {
				continue
			}
			if g, ok := w.generic(v, kp, depth+1); ok {
				out[kv.k.Value] = g
			}
			if alias {
				delete(w.active, v)
			}
		}
		return out, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			ip := p.with(i)
			if !w.count(ip, depth+1) {
				return nil, false
			}
			w.at(ip, c)
			v, alias := w.resolve(c, ip)
			if v == nil {
				out = append(out, nil)
				continue
			}
			g, _ := w.generic(v, ip, depth+1)
			out = append(out, g)
			if alias {
				delete(w.active, v)
			}
		}
		return out, true
	case yaml.ScalarNode:
		if w.bad[n] {
			return nil, false
		}
		switch n.ShortTag() {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, true
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return json.Number(strconv.FormatInt(i, 10)), true
			}
			var u uint64
			if n.Decode(&u) == nil {
				return json.Number(strconv.FormatUint(u, 10)), true
			}
			w.problem(p, "integer %s is out of range", n.Value)
			return nil, false
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					w.problem(p, "%s cannot be written in JSON: use a finite number", n.Value)
					return nil, false
				}
				return f, true
			}
		}
		return n.Value, true
	case yaml.AliasNode:
		v, alias := w.resolve(n, p)
		if v == nil {
			return nil, false
		}
		if alias {
			defer delete(w.active, v)
		}
		return w.generic(v, p, depth+1)
	}
	return nil, true
}

// itemBase is the JSON form of the defaults of a list item or pointer
// target of type t, or nil when t has none.
func itemBase(t reflect.Type) any {
	var v any
	switch t {
	case reflect.TypeFor[Listener]():
		v = defaultListener()
	case reflect.TypeFor[Upstream]():
		v = defaultUpstream()
	case reflect.TypeFor[Target]():
		v = defaultTarget()
	case reflect.TypeFor[HealthCheck]():
		v = defaultHealthCheck()
	case reflect.TypeFor[Route]():
		v = defaultRoute()
	case reflect.TypeFor[Redis]():
		v = defaultRedis()
	default:
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// describe names what n is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return describeKind(n)
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return v
	case "!!int", "!!float":
		return "the number " + v
	}
	return fmt.Sprintf("the string %q", v)
}

func describeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a value"
}

// quoteHint explains the common mistake of quoting a number.
func quoteHint(n *yaml.Node, tag string) string {
	if tag != "!!str" {
		return ""
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil {
		return " (remove the quotes)"
	}
	return ""
}

// listHint suggests the list syntax when a single value was given.
func listHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf(" (write a one-item list as [%s])", n.Value)
	}
	return ""
}

// typeName names Go type t for config authors.
func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration like 30s"
	case sizeType:
		return "a size like 10MiB"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// keyList lists up to max valid keys of struct type t.
func keyList(t reflect.Type, max int) string {
	fs := jsonFields(t)
	keys := make([]string, 0, len(fs))
	for _, f := range fs {
		keys = append(keys, f.Key)
	}
	if len(keys) > max {
		return strings.Join(keys[:max], ", ") + ", ..."
	}
	return strings.Join(keys, ", ")
}

// unknownKey explains an unknown key of struct type t, with a suggestion.
func unknownKey(t reflect.Type, key string) string {
	fs := jsonFields(t)
	keys := make([]string, 0, len(fs))
	for _, f := range fs {
		keys = append(keys, f.Key)
	}
	msg := "unknown key"
	if s := suggest(key, keys); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if len(keys) <= 12 {
		msg += " (valid keys: " + strings.Join(keys, ", ") + ")"
	}
	return msg
}

// suggest returns the candidate closest to s, if it is close enough to be a
// likely typo.
func suggest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	best, bestD := "", 3
	for _, c := range candidates {
		if norm(c) == norm(s) {
			return c
		}
		if d := editDistance(s, c); d < bestD && d <= max(1, len(c)/3) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
