package route

import (
	"encoding/json"

	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/plugin"
)

// ACL decides which tools a caller may list and call. Rules are keyed by
// consumer name, group name or "*"; values are glob patterns where *
// matches any run of characters. With no allow rules at all every tool is
// allowed; with some, a tool must match an allow rule of the caller's.
// Deny rules win.
type ACL struct {
	allow, deny map[string][]string
}

// NewACL returns the ACL of a route's tools block.
func NewACL(allow, deny map[string][]string) *ACL {
	return &ACL{allow: allow, deny: deny}
}

// Open reports whether the ACL allows everything to everyone, so callers
// can skip inspecting bodies.
func (a *ACL) Open() bool { return a == nil || (len(a.allow) == 0 && len(a.deny) == 0) }

// Allowed reports whether the caller may use tool.
func (a *ACL) Allowed(consumer string, c *plugin.Consumer, tool string) bool {
	if a.Open() {
		return true
	}
	if a.match(a.deny, consumer, c, tool) {
		return false
	}
	return len(a.allow) == 0 || a.match(a.allow, consumer, c, tool)
}

func (a *ACL) match(rules map[string][]string, consumer string, c *plugin.Consumer, tool string) bool {
	if matchAny(rules["*"], tool) {
		return true
	}
	if consumer != "" && matchAny(rules[consumer], tool) {
		return true
	}
	if c != nil {
		for _, g := range c.Groups {
			if matchAny(rules[g], tool) {
				return true
			}
		}
	}
	return false
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if plugin.Glob(p, s) {
			return true
		}
	}
	return false
}

// filterTools removes the tools the caller may not use from a tools/list
// result ({"tools":[...], ...}). It returns the result unchanged (same
// slice) when nothing was removed, and ok false when result is not a
// tools/list result. names receives each tool name seen.
func (a *ACL) filterTools(result json.RawMessage, consumer string, c *plugin.Consumer, names func(string)) (json.RawMessage, bool) {
	raw, err := jsonobj.Member(result, "tools")
	if err != nil || len(raw) == 0 || raw[0] != '[' {
		return result, false
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(raw, &tools); err != nil {
		return result, false
	}
	kept := tools[:0:0]
	for _, t := range tools {
		var name string
		if n, err := jsonobj.Member(t, "name"); err == nil && n != nil {
			_ = json.Unmarshal(n, &name)
		}
		if names != nil && name != "" {
			names(name)
		}
		if a.Allowed(consumer, c, name) {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tools) {
		return result, true
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(result, &obj); err != nil {
		return result, false
	}
	if kept == nil {
		kept = []json.RawMessage{}
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return result, false
	}
	obj["tools"] = b
	out, err := json.Marshal(obj)
	if err != nil {
		return result, false
	}
	return out, true
}
