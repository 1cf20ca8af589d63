package config

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Path locates a value in a config: string keys and int indexes, for example
// Path{"routes", 0, "upstream"}. The empty Path is the whole document.
type Path []any

// key is p as a map key for the position index.
func (p Path) key() string {
	var b strings.Builder
	for _, e := range p {
		switch v := e.(type) {
		case int:
			b.WriteString("\x1f#")
			b.WriteString(strconv.Itoa(v))
		default:
			b.WriteString("\x1f.")
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// with returns a copy of p with elems appended, so that sibling paths never
// share a backing array.
func (p Path) with(elems ...any) Path {
	q := make(Path, 0, len(p)+len(elems))
	return append(append(q, p...), elems...)
}

// Problem is one thing wrong with a config: where it is and what to do.
type Problem struct {
	Path Path
	Msg  string
}

// Problems is every problem found in a config. It implements error, one line
// per problem, without file positions (use Document.FormatAll for those).
type Problems []Problem

// Error lists the problems, one per line.
func (ps Problems) Error() string {
	var d *Document
	return d.FormatAll(ps)
}

// Err returns ps as an error, or nil when there are no problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// add appends a problem at path p.
func (ps *Problems) add(p Path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: p, Msg: fmt.Sprintf(format, args...)})
}

// pos is a 1-based line and column; a zero column means the line alone is known.
type pos struct{ line, col int }

// Format renders p for humans:
//
//	sluice.yaml:14:15: routes[api].upstream: upstream "billing" is not defined
//
// List items that have a name are shown by it (routes[api]); plugin list
// items by index and name (plugins[1](cors)). The position is that of the
// deepest node on p that exists in the file, so a missing key points at its
// parent mapping. A nil d, or a Document without positions (one built by hand
// around a Config from another source), prints no position. Format is safe on
// a nil *Document.
func (d *Document) Format(p Problem) string {
	var b strings.Builder
	if at := d.position(p.Path); at.line > 0 {
		b.WriteString(d.Name)
		if at.col > 0 {
			fmt.Fprintf(&b, ":%d:%d: ", at.line, at.col)
		} else {
			fmt.Fprintf(&b, ":%d: ", at.line)
		}
	}
	if s := d.pathString(p.Path); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// FormatAll renders every problem with Format, one per line, in the order
// they appear in the file (problems without a position keep their order).
func (d *Document) FormatAll(ps Problems) string {
	return strings.Join(d.FormatLines(ps), "\n")
}

// FormatLines is FormatAll as a slice of lines.
func (d *Document) FormatLines(ps Problems) []string {
	type line struct {
		at  pos
		txt string
	}
	lines := make([]line, len(ps))
	for i, p := range ps {
		lines[i] = line{d.position(p.Path), d.Format(p)}
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		return cmp.Or(cmp.Compare(a.at.line, b.at.line), cmp.Compare(a.at.col, b.at.col))
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.txt
	}
	return out
}

// position is where the deepest existing node on p is, or the zero pos.
func (d *Document) position(p Path) pos {
	if d == nil || d.pos == nil {
		return pos{}
	}
	for i := len(p); i >= 0; i-- {
		if at, ok := d.pos[p[:i].key()]; ok {
			return at
		}
	}
	return pos{}
}

// pathString renders p as routes[api].match.hosts[0].
func (d *Document) pathString(p Path) string {
	var b strings.Builder
	for i, e := range p {
		switch v := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
			if name := d.itemName(p[:i+1]); name != "" {
				// routes[api] rather than routes[0]; plugins keep the index
				// because one list may name a plugin twice (a problem itself).
				s := b.String()
				b.Reset()
				if k, _ := p[max(i-1, 0)].(string); k == "plugins" || k == "global_plugins" {
					fmt.Fprintf(&b, "%s(%s)", s, name)
				} else {
					b.WriteString(s[:strings.LastIndexByte(s, '[')])
					fmt.Fprintf(&b, "[%s]", name)
				}
			}
		default:
			k := fmt.Sprint(v)
			if plainKey(k) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(k)
			} else {
				fmt.Fprintf(&b, "[%q]", k)
			}
		}
	}
	return b.String()
}

// plainKey reports whether k prints unquoted in a path.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// itemName is the name of the list item at p, from the file if it was
// parsed, else from the Config. Names that would make the path ambiguous to
// read (brackets, dots) are not used.
func (d *Document) itemName(p Path) string {
	if d == nil {
		return ""
	}
	name, ok := d.names[p.key()]
	if !ok && d.Config != nil {
		name = nameAt(reflect.ValueOf(d.Config), p)
	}
	if name == "" || strings.ContainsAny(name, "[]().\n") {
		return ""
	}
	return name
}

// nameAt follows p through v by json tags and returns the name field of
// the struct it ends at, or "".
func nameAt(v reflect.Value, p Path) string {
	for _, e := range p {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
		}
		switch k := e.(type) {
		case int:
			if v.Kind() != reflect.Slice || k < 0 || k >= v.Len() {
				return ""
			}
			v = v.Index(k)
		case string:
			switch v.Kind() {
			case reflect.Struct:
				f, ok := fieldByTag(v.Type(), k)
				if !ok {
					return ""
				}
				fv, err := v.FieldByIndexErr(f.Index)
				if err != nil {
					return ""
				}
				v = fv
			case reflect.Map:
				if v.Type().Key().Kind() != reflect.String {
					return ""
				}
				v = v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))
				if !v.IsValid() {
					return ""
				}
			default:
				return ""
			}
		default:
			return ""
		}
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	if f, ok := fieldByTag(v.Type(), "name"); ok && f.Type.Kind() == reflect.String {
		if fv, err := v.FieldByIndexErr(f.Index); err == nil {
			return fv.String()
		}
	}
	return ""
}
