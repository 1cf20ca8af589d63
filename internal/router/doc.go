// Package router compiles route predicates into an index and matches
// requests against it.
//
// The package is pure: it does no I/O and imports no other Sluice package.
// [Compile] runs once per configuration generation; the resulting [Router] is
// immutable and safe for concurrent use, and [Router.Match] allocates nothing.
//
// # Predicates
//
// A [Route] matches a request when every condition it sets holds. An empty
// condition matches anything.
//
//   - Hosts: any one of the patterns matches the request host. "api.example.com"
//     matches that host only. "*.example.org" matches any host that ends in
//     ".example.org" with one or more labels in front ("a.example.org",
//     "a.b.example.org"), but not "example.org" itself. A lone "*" is rejected:
//     leave Hosts empty to match any host. Patterns and request hosts are
//     compared case-insensitively; a port ("example.com:8443") and one trailing
//     dot ("example.com.") are removed from the request host first. IPv6
//     literals are written in brackets ("[::1]"). A request host longer than 253
//     bytes never matches a host pattern.
//   - Paths: any one of the patterns matches the request path. "/x" matches
//     "/x" only: it does not match "/x/", and "/x/" does not match "/x".
//     "/x/*" is a prefix and matches "/x", "/x/" and "/x/anything/deeper", but
//     not "/xy". "/*" matches every path. "/users/{id}" captures one whole,
//     non-empty segment as the parameter id, and "/users/{id}/*" combines a
//     parameter with a prefix. A pattern has at most [MaxParams] parameters. The
//     path is matched as given, byte for byte: the caller passes the already
//     cleaned r.URL.Path, and the router neither cleans nor decodes it. A
//     request path that does not start with "/" (such as "*" in
//     "OPTIONS *") matches only routes without path patterns.
//   - Methods: the request method equals one of them. Methods are
//     case-sensitive (RFC 9110, section 9.1) and must be written in upper case.
//   - Headers: for every key, one of the request's values for that header
//     equals the configured value exactly, or, if the configured value is "*",
//     the header is present (with any value, even an empty one). Keys are
//     case-insensitive. Each field line is compared whole; comma-separated
//     lists are not split.
//   - Query: for every key, one of the query's values for that key equals the
//     configured value, or, if the configured value is "*", the key is present
//     (even as "?key" with no value). The raw query is decoded the way
//     url.ParseQuery decodes it ("+" is a space, "%41" is "A", pairs with
//     invalid escapes or a ";" are ignored, and a query of more than 10,000
//     parameters has none), so a route sees the same values as
//     r.URL.Query(). Configured keys and values are the decoded forms and are
//     case-sensitive.
//
// Because "*" means "present", an exact header or query value of "*" cannot
// be required.
//
// # Specificity
//
// When several routes match, the most specific one wins. Routes are compared
// rule by rule, and a later rule only breaks ties left by the earlier ones:
//
//  1. Host: a route whose exact host matched beats one whose wildcard host
//     matched, and that beats a route with no host condition. Between
//     wildcards, the longer suffix wins ("*.b.example.org" beats
//     "*.example.org").
//  2. Path: an exact path beats a parameterized path, which beats a prefix,
//     which beats a route with no path condition. Between parameterized paths,
//     segments are compared from the left and the first one where a literal
//     meets a parameter decides for the literal ("/users/me" beats
//     "/users/{id}", and "/a/{x}/c" beats "/{y}/b/c"). Between prefixes, the
//     one with more segments wins ("/api/v1/*" beats "/api/*" beats "/*"),
//     and prefixes of equal length are compared like parameterized paths.
//  3. Conditions: the route with more conditions wins, counting one for a
//     non-empty Methods list, one for each header and one for each query key.
//  4. Priority: the higher Route.Priority wins.
//  5. Order: the route that comes first in the list given to Compile wins.
//
// A route with several hosts or paths is ranked by the most specific of its
// patterns that matched the request. Ranking is over matching routes only: if
// the most specific host or path has no route whose other conditions hold
// (say the method differs), the best route at the next less specific host or
// path is used.
package router
