package builtin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUpstreamHealthErrors(t *testing.T) {
	tests := []struct {
		name    string
		ups     []Upstream
		in      upstreamHealthIn
		wantErr string
	}{
		{name: "no upstreams, no filter", ups: nil},
		{name: "no upstreams", ups: nil, in: upstreamHealthIn{Upstream: "a"}, wantErr: `upstream_health: unknown upstream "a": the gateway has no upstreams`},
		{name: "names sorted", ups: []Upstream{{Name: "b"}, {Name: "a"}}, in: upstreamHealthIn{Upstream: "c"}, wantErr: `upstream_health: unknown upstream "c": known upstreams are a, b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upstreamHealth(tt.ups, tt.in)
			var got string
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("upstreamHealth(%v, %+v) error = %q; want %q", tt.ups, tt.in, got, tt.wantErr)
			}
		})
	}
}

// TestSourceNotModified checks that sorting works on copies: a Source may
// return slices it keeps and reads again.
func TestSourceNotModified(t *testing.T) {
	src := fakeSource{}
	routes, ups, rows := src.Routes(), src.Upstreams(), src.Usage()
	if _, err := listRoutes(routes, listRoutesIn{}); err != nil {
		t.Fatal(err)
	}
	if _, err := upstreamHealth(ups, upstreamHealthIn{}); err != nil {
		t.Fatal(err)
	}
	usage(rows, usageIn{})
	if diff := cmp.Diff(src.Routes(), routes); diff != "" {
		t.Errorf("routes changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(src.Upstreams(), ups); diff != "" {
		t.Errorf("upstreams changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(src.Usage(), rows); diff != "" {
		t.Errorf("usage changed (-before +after):\n%s", diff)
	}
}

func TestUsageText(t *testing.T) {
	out := usage([]Usage{{Route: "chat", Requests: 1, CostUSD: 0.000125}}, usageIn{})
	got := usageText(out)
	for _, want := range []string{"1 row;", "$0.000125", "chat / (anonymous): 1 requests"} {
		if !strings.Contains(got, want) {
			t.Errorf("usageText = %q; want it to contain %q", got, want)
		}
	}
}

func TestUSD(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{0.5, "0.5"},
		{12, "12"},
		{0.0000004, "0"},
		{1.2345678, "1.234568"},
	}
	for _, tt := range tests {
		if got := usd(tt.in); got != tt.want {
			t.Errorf("usd(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
