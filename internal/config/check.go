package config

import "github.com/sluicegw/sluice/plugin"

// Check runs the whole pipeline a user expects from `sluice validate`:
// Parse, then Validate, then extra (route patterns, from the router), and
// returns every problem. When Parse finds key or value problems, the rest is
// still validated on what did decode, so one run lists every problem;
// problems about a value Parse already reported (or its parents) are dropped
// as echoes. The config is returned only when there is no problem at all.
func Check(name string, data []byte, env func(string) (string, bool), kinds map[string]plugin.Kind,
	extra func(*Config) Problems) (*Document, Problems) {
	doc, ps := Parse(name, data, env)
	c := doc.Config
	if c == nil {
		c = doc.Partial
	}
	if c == nil {
		return doc, ps
	}
	more := Validate(c, kinds)
	if extra != nil {
		more = append(more, extra(c)...)
	}
	for _, p := range more {
		if !overlaps(p.Path, ps) {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		doc.Config = nil
	}
	return doc, ps
}

// overlaps reports whether path is equal to, inside, or a parent of the path
// of any problem in ps.
func overlaps(path Path, ps Problems) bool {
	for _, p := range ps {
		n := min(len(path), len(p.Path))
		same := true
		for i := 0; i < n; i++ {
			if path[i] != p.Path[i] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}
