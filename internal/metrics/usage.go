package metrics

import (
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// UsageRow is the traffic of one consumer on one route since start.
type UsageRow struct {
	Route, Consumer     string
	Requests, Errors    int64
	InputTokens, Output int64
	CostUSD             float64
}

// Usage sums the consumer, token and cost counters by route and consumer,
// for the built-in MCP server's usage tool. It reads the registry, so it
// costs a gather: fine for a tool call, not for a hot path.
func (m *Metrics) Usage() []UsageRow {
	families, err := m.Registry.Gather()
	if err != nil {
		return nil
	}
	rows := map[[2]string]*UsageRow{}
	row := func(ls []*dto.LabelPair) *UsageRow {
		var route, consumer string
		for _, l := range ls {
			switch l.GetName() {
			case "route":
				route = l.GetValue()
			case "consumer":
				consumer = l.GetValue()
			}
		}
		k := [2]string{route, consumer}
		if rows[k] == nil {
			rows[k] = &UsageRow{Route: route, Consumer: consumer}
		}
		return rows[k]
	}
	label := func(ls []*dto.LabelPair, name string) string {
		for _, l := range ls {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			v := mt.GetCounter().GetValue()
			switch f.GetName() {
			case "sluice_consumer_requests_total":
				r := row(mt.GetLabel())
				r.Requests += int64(v)
				if c := label(mt.GetLabel(), "class"); strings.HasPrefix(c, "5") || strings.HasPrefix(c, "4") {
					r.Errors += int64(v)
				}
			case "sluice_ai_tokens_total":
				switch label(mt.GetLabel(), "type") {
				case "input":
					row(mt.GetLabel()).InputTokens += int64(v)
				case "output":
					row(mt.GetLabel()).Output += int64(v)
				}
			case "sluice_ai_cost_usd_total":
				row(mt.GetLabel()).CostUSD += v
			}
		}
	}
	out := make([]UsageRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Consumer < out[j].Consumer
	})
	return out
}
