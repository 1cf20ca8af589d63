package route

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// wellKnown is the RFC 9728 metadata path prefix.
const wellKnown = "/.well-known/oauth-protected-resource"

// metadataURL is where the resource's metadata lives: the well-known path
// inserted before the resource's own path (RFC 9728 section 3.1).
func metadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + wellKnown + strings.TrimSuffix(u.Path, "/")
}

// MetadataPaths are the paths the metadata of resource is served on: the
// path-inserted form and the root form, which clients try in that order.
func MetadataPaths(resource string) []string {
	u, err := url.Parse(resource)
	if err != nil {
		return nil
	}
	p := strings.TrimSuffix(u.Path, "/")
	if p == "" {
		return []string{wellKnown}
	}
	return []string{wellKnown + p, wellKnown}
}

// Metadata serves the protected resource metadata document. It is public
// (no authentication) and readable cross-origin, as browser-based agents
// fetch it before they have a token.
func (h *Handler) Metadata() plugin.Handler {
	a := h.cfg.Auth
	doc := map[string]any{
		"resource":                 a.Resource,
		"authorization_servers":    a.AuthorizationServers,
		"bearer_methods_supported": []string{"header"},
	}
	if len(a.Scopes) > 0 {
		doc["scopes_supported"] = a.Scopes
	}
	if a.ResourceName != "" {
		doc["resource_name"] = a.ResourceName
	}
	body, _ := json.Marshal(doc)
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return nil
		default:
			hdr.Set("Allow", "GET, HEAD, OPTIONS")
			return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Public: "metadata is read with GET"}
		}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, err := w.Write(body)
			return err
		}
		return nil
	})
}

// challenge is the WWW-Authenticate value of a 401 or 403 (MCP
// authorization, 2025-11-25): where the metadata is and which scopes to
// ask for, plus the error the authentication plugin named, if any. The
// scopes are the route's, else those the plugin's challenge asked for.
func (h *Handler) challenge(e *plugin.Error, status int) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	pluginChallenge := e.Header.Get("WWW-Authenticate")
	if status == http.StatusForbidden {
		b.WriteString(`error="insufficient_scope", `)
	} else if errParam := bearerError(pluginChallenge); errParam != "" {
		b.WriteString(`error="` + errParam + `", `)
	}
	b.WriteString(`resource_metadata="` + h.metaURL + `"`)
	scope := strings.Join(h.cfg.Auth.Scopes, " ")
	if scope == "" {
		scope = param(pluginChallenge, "scope")
	}
	if scope != "" {
		b.WriteString(`, scope="` + scope + `"`)
	}
	return b.String()
}

// bearerError returns the error parameter of a Bearer challenge.
func bearerError(v string) string { return param(v, "error") }

// param returns a quoted parameter of a challenge, "" if absent or odd.
func param(challenge, name string) string {
	_, rest, ok := strings.Cut(challenge, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	if strings.ContainsAny(v, "\\\r\n") {
		return ""
	}
	return v
}
