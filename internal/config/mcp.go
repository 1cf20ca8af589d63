package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// mcpServers checks the mcp_servers entries and returns the defined names.
func (v validator) mcpServers(ss []MCPServer, upstreams map[string]bool) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, s := range ss {
		p := Path{"mcp_servers", i}
		switch {
		case s.Name == "":
			v.add(p, "name is required: mcp routes refer to servers by name")
		case strings.ContainsAny(s.Name, " /\t"):
			v.add(p.with("name"), "%q: a server name is a word like everything or github (it prefixes tool names)", s.Name)
		default:
			if j, ok := first[s.Name]; ok {
				v.add(p.with("name"), "server name %q is already used by mcp_servers[%d]: names must be unique", s.Name, j)
			} else {
				first[s.Name] = i
				names[s.Name] = true
			}
		}
		var set []string
		for _, f := range []struct {
			key string
			on  bool
		}{{"url", s.URL != ""}, {"upstream", s.Upstream != ""}, {"command", len(s.Command) > 0}, {"builtin", s.Builtin != ""}} {
			if f.on {
				set = append(set, f.key)
			}
		}
		switch len(set) {
		case 0:
			v.add(p, "set one of url (a remote server), upstream (replicas in an upstream pool), command (a stdio server) or builtin")
		case 1:
		default:
			v.add(p, "%s: set one, not several", strings.Join(set, ", "))
		}
		if s.URL != "" {
			u, err := url.Parse(s.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(p.with("url"), "%q is not an http or https URL: write it like http://127.0.0.1:3001/mcp", s.URL)
			}
		}
		if s.Upstream != "" && !upstreams[s.Upstream] {
			v.add(p.with("upstream"), "upstream %q is not defined: %s", s.Upstream, defined(upstreams))
		}
		if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
			v.add(p.with("path"), "%q must start with /", s.Path)
		}
		if s.Path != "" && s.Upstream == "" {
			v.add(p.with("path"), "is only for upstream servers (a url carries its own path)")
		}
		if s.Transport != "" {
			v.oneOf(p.with("transport"), s.Transport, MCPTransports)
			if s.URL == "" && s.Upstream == "" {
				v.add(p.with("transport"), "is only for remote servers (url or upstream)")
			}
		}
		for j, a := range s.Command {
			if j == 0 && strings.TrimSpace(a) == "" {
				v.add(p.with("command", 0), "the program is empty")
			}
		}
		if len(s.Command) == 0 && (len(s.Env) > 0 || s.Dir != "" || s.Stdio != (MCPStdio{})) {
			v.add(p, "env, dir and stdio are only for stdio servers (command)")
		}
		if s.Stdio.Mode != "" {
			v.oneOf(p.with("stdio", "mode"), s.Stdio.Mode, MCPStdioModes)
		}
		if s.Stdio.MaxProcesses < 0 {
			v.add(p.with("stdio", "max_processes"), "must not be negative (0 means the default, 32)")
		}
		if s.Stdio.MaxPerConsumer < 0 {
			v.add(p.with("stdio", "max_per_consumer"), "must not be negative (0 means no cap)")
		}
		v.nonNegative(p.with("stdio", "shutdown_timeout"), s.Stdio.ShutdownTimeout)
		if s.Builtin != "" {
			v.oneOf(p.with("builtin"), s.Builtin, MCPBuiltins)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
			if k == "" || strings.ContainsAny(k, " :\t\r\n") {
				v.add(p.with("headers", k), "%q is not a header name", k)
			}
		}
	}
	return names
}

// routeMCP checks an mcp route.
func (v validator) routeMCP(p Path, m *RouteMCP, servers, legacySSE map[string]bool) {
	if len(m.Servers) == 0 {
		v.add(p.with("servers"), "at least one server is required: %s", definedMCPServers(servers))
	}
	sep := m.NameSeparator
	switch {
	case len(m.Servers) < 2 && sep != "":
		v.add(p.with("name_separator"), "is only for routes with several servers (a single server's names pass unchanged)")
	case sep == "":
		sep = "__"
	case strings.IndexFunc(sep, func(r rune) bool { return !isNameChar(r) }) >= 0:
		v.add(p.with("name_separator"), "%q: use letters, digits, _, - and . only (the characters tool names may hold)", sep)
	}
	seen := map[string]int{}
	for i, s := range m.Servers {
		if !servers[s] {
			v.add(p.with("servers", i), "mcp server %q is not defined: %s", s, definedMCPServers(servers))
		}
		if j, ok := seen[s]; ok {
			v.add(p.with("servers", i), "mcp server %q is already servers[%d]", s, j)
		}
		seen[s] = i
		if len(m.Servers) < 2 {
			continue
		}
		if legacySSE[s] {
			v.add(p.with("servers", i), "mcp server %q speaks the legacy HTTP+SSE transport (transport: sse), which cannot be federated: give it its own route", s)
		}
		if strings.Contains(s, sep) {
			v.add(p.with("servers", i), "server name %q contains the name separator %q, so its tool names would be ambiguous: rename the server or set name_separator", s, sep)
		}
	}
	if m.Session.MaxPerConsumer < 0 {
		v.add(p.with("session", "max_per_consumer"), "must not be negative (0 means no cap)")
	}
	v.nonNegative(p.with("session", "idle_timeout"), m.Session.IdleTimeout)
	v.nonNegative(p.with("session", "max_lifetime"), m.Session.MaxLifetime)
	v.nonNegative(p.with("keep_alive"), m.KeepAlive)
	if m.MaxBody < 0 {
		v.add(p.with("max_body"), "must not be negative (0 means the default, 4MiB)")
	}
	for _, list := range []struct {
		key   string
		rules map[string][]string
	}{{"allow", m.Tools.Allow}, {"deny", m.Tools.Deny}} {
		for _, who := range slices.Sorted(maps.Keys(list.rules)) {
			for j, pat := range list.rules[who] {
				if strings.TrimSpace(pat) == "" {
					v.add(p.with("tools", list.key, who, j), "tool pattern is empty")
				}
			}
		}
	}
	for i, o := range m.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add(p.with("allowed_origins", i), "%q is not an origin: write scheme://host[:port], like https://app.example.com", o)
		}
	}
	if a := m.Auth; a != nil {
		ap := p.with("auth")
		if a.Resource == "" {
			v.add(ap.with("resource"), "is required: the route's public URL, like https://gw.example.com/mcp")
		} else if u, err := url.Parse(a.Resource); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			v.add(ap.with("resource"), "%q is not an http or https URL without fragment", a.Resource)
		}
		if len(a.AuthorizationServers) == 0 {
			v.add(ap.with("authorization_servers"), "at least one issuer URL is required")
		}
		for i, s := range a.AuthorizationServers {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(ap.with("authorization_servers", i), "%q is not an http or https URL", s)
			}
		}
		for i, s := range a.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				v.add(ap.with("scopes", i), "%q is not a scope (no spaces, quotes or backslashes)", s)
			}
		}
	}
}

func definedMCPServers(names map[string]bool) string {
	if len(names) == 0 {
		return "no servers are defined (add them under mcp_servers:)"
	}
	return "defined servers are " + strings.Join(slices.Sorted(maps.Keys(names)), ", ")
}

// isNameChar reports whether r may appear in an MCP tool name.
func isNameChar(r rune) bool {
	return r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

// legacySSEServers names the mcp_servers that speak the 2024-11-05
// HTTP+SSE transport.
func legacySSEServers(ss []MCPServer) map[string]bool {
	out := map[string]bool{}
	for _, s := range ss {
		if s.Transport == "sse" {
			out[s.Name] = true
		}
	}
	return out
}
