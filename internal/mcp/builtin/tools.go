package builtin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names, as clients call them.
const (
	toolListRoutes     = "list_routes"
	toolUpstreamHealth = "upstream_health"
	toolUsage          = "usage"
)

// readOnly marks every tool here: none changes the gateway, and repeating a
// call only reads fresher numbers. OpenWorldHint is false because the tools
// see only this gateway, not the outside world.
func readOnly(title string) *mcp.ToolAnnotations {
	closed := false
	return &mcp.ToolAnnotations{
		Title:          title,
		ReadOnlyHint:   true,
		IdempotentHint: true,
		OpenWorldHint:  &closed,
	}
}

// listRoutesIn is the list_routes tool's input.
type listRoutesIn struct {
	Kind string `json:"kind,omitempty" jsonschema:"only routes of this kind: http, ai or mcp; all kinds if empty"`
}

// listRoutesOut is the list_routes tool's structured output.
type listRoutesOut struct {
	Routes []Route `json:"routes" jsonschema:"routes sorted by name"`
}

// upstreamHealthIn is the upstream_health tool's input.
type upstreamHealthIn struct {
	Upstream string `json:"upstream,omitempty" jsonschema:"only the upstream with this name; all upstreams if empty"`
}

// upstreamHealthOut is the upstream_health tool's structured output.
type upstreamHealthOut struct {
	Upstreams []Upstream `json:"upstreams" jsonschema:"upstreams sorted by name, each with its targets sorted by URL"`
}

// usageIn is the usage tool's input. Filters match exactly; a name with
// no traffic yet gives an empty list, not an error.
type usageIn struct {
	Consumer string `json:"consumer,omitempty" jsonschema:"only this consumer; all consumers if empty"`
	Route    string `json:"route,omitempty" jsonschema:"only this route; all routes if empty"`
}

// usageOut is the usage tool's structured output.
type usageOut struct {
	Usage []Usage    `json:"usage" jsonschema:"one row per route and consumer, sorted by route then consumer"`
	Total usageTotal `json:"total" jsonschema:"sums over the rows in usage"`
}

// usageTotal sums usage rows.
type usageTotal struct {
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// addTools registers the tools on server. Each returns its full data as
// structured content and a short summary as text, for clients that show
// only text to the model.
func addTools(server *mcp.Server, src Source) {
	mcp.AddTool(server, &mcp.Tool{
		Name:        toolListRoutes,
		Description: "List the gateway's routes: name, kind (http, ai or mcp), the hosts, paths and methods they match, and the upstream they send to.",
		Annotations: readOnly("List routes"),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in listRoutesIn) (*mcp.CallToolResult, listRoutesOut, error) {
		out, err := listRoutes(src.Routes(), in)
		if err != nil {
			return nil, listRoutesOut{}, err
		}
		return textResult(routesText(out)), out, nil
	})

	mcp.AddTool(server, &mcp.Tool{
		Name:        toolUpstreamHealth,
		Description: "Show each upstream's targets with whether they are healthy and how many requests they have in flight.",
		Annotations: readOnly("Upstream health"),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in upstreamHealthIn) (*mcp.CallToolResult, upstreamHealthOut, error) {
		out, err := upstreamHealth(src.Upstreams(), in)
		if err != nil {
			return nil, upstreamHealthOut{}, err
		}
		return textResult(upstreamsText(out)), out, nil
	})

	mcp.AddTool(server, &mcp.Tool{
		Name:        toolUsage,
		Description: "Show requests, errors, input and output tokens and cost in USD per route and consumer since the gateway started, with totals.",
		Annotations: readOnly("Usage"),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in usageIn) (*mcp.CallToolResult, usageOut, error) {
		out := usage(src.Usage(), in)
		return textResult(usageText(out)), out, nil
	})
}

// textResult sets the text content. The SDK fills StructuredContent from the
// handler's output value, and would otherwise put that JSON in the text too.
func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func listRoutes(routes []Route, in listRoutesIn) (listRoutesOut, error) {
	switch in.Kind {
	case "", KindHTTP, KindAI, KindMCP:
	default:
		// A tool error, not a protocol error, so the model reads it and can
		// call again with a valid kind.
		return listRoutesOut{}, fmt.Errorf("%s: unknown kind %q: want %s, %s or %s", toolListRoutes, in.Kind, KindHTTP, KindAI, KindMCP)
	}
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		if in.Kind != "" && r.Kind != in.Kind {
			continue
		}
		r.Hosts = cloneList(r.Hosts)
		r.Paths = cloneList(r.Paths)
		r.Methods = cloneList(r.Methods)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return listRoutesOut{Routes: out}, nil
}

func upstreamHealth(ups []Upstream, in upstreamHealthIn) (upstreamHealthOut, error) {
	out := make([]Upstream, 0, len(ups))
	for _, u := range ups {
		if in.Upstream != "" && u.Name != in.Upstream {
			continue
		}
		targets := make([]Target, len(u.Targets))
		copy(targets, u.Targets)
		slices.SortFunc(targets, func(a, b Target) int { return cmp.Compare(a.URL, b.URL) })
		out = append(out, Upstream{Name: u.Name, Targets: targets})
	}
	slices.SortFunc(out, func(a, b Upstream) int { return cmp.Compare(a.Name, b.Name) })
	if in.Upstream != "" && len(out) == 0 {
		known := make([]string, 0, len(ups))
		for _, u := range ups {
			known = append(known, u.Name)
		}
		slices.Sort(known)
		if len(known) == 0 {
			return upstreamHealthOut{}, fmt.Errorf("%s: unknown upstream %q: the gateway has no upstreams", toolUpstreamHealth, in.Upstream)
		}
		return upstreamHealthOut{}, fmt.Errorf("%s: unknown upstream %q: known upstreams are %s", toolUpstreamHealth, in.Upstream, strings.Join(known, ", "))
	}
	return upstreamHealthOut{Upstreams: out}, nil
}

func usage(rows []Usage, in usageIn) usageOut {
	out := usageOut{Usage: make([]Usage, 0, len(rows))}
	for _, u := range rows {
		if (in.Route != "" && u.Route != in.Route) || (in.Consumer != "" && u.Consumer != in.Consumer) {
			continue
		}
		out.Usage = append(out.Usage, u)
	}
	slices.SortFunc(out.Usage, func(a, b Usage) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Consumer, b.Consumer))
	})
	// Summed after sorting, so the float total is the same on every call.
	for _, u := range out.Usage {
		out.Total.Requests += u.Requests
		out.Total.Errors += u.Errors
		out.Total.InputTokens += u.InputTokens
		out.Total.OutputTokens += u.OutputTokens
		out.Total.CostUSD += u.CostUSD
	}
	return out
}

// cloneList copies s so sorting or later changes by the Source cannot race,
// and turns nil into an empty list so the JSON shows [] rather than null.
func cloneList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func routesText(out listRoutesOut) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", len(out.Routes), plural(len(out.Routes), "route", "routes"))
	for _, r := range out.Routes {
		fmt.Fprintf(&b, "\n%s (%s)", r.Name, r.Kind)
		writeList(&b, "hosts", r.Hosts)
		writeList(&b, "paths", r.Paths)
		writeList(&b, "methods", r.Methods)
		if r.Upstream != "" {
			fmt.Fprintf(&b, " -> %s", r.Upstream)
		}
	}
	return b.String()
}

func writeList(b *strings.Builder, name string, vals []string) {
	if len(vals) > 0 {
		fmt.Fprintf(b, " %s=%s", name, strings.Join(vals, ","))
	}
}

func upstreamsText(out upstreamHealthOut) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", len(out.Upstreams), plural(len(out.Upstreams), "upstream", "upstreams"))
	for _, u := range out.Upstreams {
		healthy := 0
		for _, t := range u.Targets {
			if t.Healthy {
				healthy++
			}
		}
		fmt.Fprintf(&b, "\n%s: %d/%d healthy", u.Name, healthy, len(u.Targets))
		for _, t := range u.Targets {
			state := "healthy"
			if !t.Healthy {
				state = "UNHEALTHY"
			}
			fmt.Fprintf(&b, "\n  %s %s, %d in flight", t.URL, state, t.InFlight)
		}
	}
	return b.String()
}

func usageText(out usageOut) string {
	var b strings.Builder
	t := out.Total
	fmt.Fprintf(&b, "%d %s; total %d requests, %d errors, %d input + %d output tokens, $%s",
		len(out.Usage), plural(len(out.Usage), "row", "rows"),
		t.Requests, t.Errors, t.InputTokens, t.OutputTokens, usd(t.CostUSD))
	for _, u := range out.Usage {
		consumer := u.Consumer
		if consumer == "" {
			consumer = "(anonymous)"
		}
		fmt.Fprintf(&b, "\n%s / %s: %d requests, %d errors, %d in + %d out tokens, $%s",
			u.Route, consumer, u.Requests, u.Errors, u.InputTokens, u.OutputTokens, usd(u.CostUSD))
	}
	return b.String()
}

// usd prints a cost with enough digits for per-request LLM prices, which are
// often fractions of a cent, without trailing zeros.
func usd(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
