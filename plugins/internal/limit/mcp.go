package limit

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sluicegw/sluice/plugin"
)

// MCPFilter narrows a limit to some MCP messages: the JSON-RPC methods
// (`methods: [tools/call]`) and tool names (`tools: [search*]`, * matching
// any run of characters) parsed once by the mcp route. Empty lists match
// everything.
type MCPFilter struct {
	Methods []string
	Tools   []string
}

// Set reports whether the filter narrows anything.
func (f MCPFilter) Set() bool { return len(f.Methods) > 0 || len(f.Tools) > 0 }

// Validate checks the filter for a plugin built on a route; mcpRoute says
// whether the route is an mcp route, where alone the filter means something.
func (f MCPFilter) Validate(mcpRoute bool) error {
	var errs []error
	if f.Set() && !mcpRoute {
		errs = append(errs, errors.New("methods, tools: only mcp routes carry MCP methods and tools; remove them or put the plugin on an mcp route"))
	}
	for i, m := range f.Methods {
		if m == "" {
			errs = append(errs, fmt.Errorf("methods[%d]: is empty", i))
		}
	}
	for i, t := range f.Tools {
		if t == "" {
			errs = append(errs, fmt.Errorf("tools[%d]: is empty", i))
		}
	}
	return errors.Join(errs...)
}

// Applies reports whether the request is one the limit counts.
func (f MCPFilter) Applies(r *http.Request) bool {
	if !f.Set() {
		return true
	}
	m := plugin.ExchangeOf(r).MCP
	if m == nil {
		return false
	}
	if len(f.Methods) > 0 && !contains(f.Methods, m.Method) {
		return false
	}
	if len(f.Tools) > 0 {
		for _, t := range f.Tools {
			if plugin.Glob(t, m.Name) {
				return true
			}
		}
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
