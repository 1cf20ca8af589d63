package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// adopter is a ResponseWriter that takes header maps over, as h1server's
// does (refuse: as it does once the header is written).
type adopter struct {
	*httptest.ResponseRecorder
	refuse  bool
	adopted http.Header
}

func (a *adopter) AdoptHeader(h http.Header) bool {
	if a.refuse {
		return false
	}
	a.adopted = h
	return true
}

func (a *adopter) Header() http.Header {
	if a.adopted != nil {
		return a.adopted
	}
	return a.ResponseRecorder.Header()
}

// TestAdoptHeader: whether w takes the upstream's map over or gets the
// fields copied, the result is the same header: the upstream's fields,
// with the ones a plugin set first (with a value) winning.
func TestAdoptHeader(t *testing.T) {
	t.Parallel()
	upstream := func() http.Header {
		return http.Header{
			"Content-Type": {"application/json"},
			"X-Request-Id": {"from-upstream"},
			"X-Empty":      {"upstream"},
		}
	}
	plugin := http.Header{
		"X-Request-Id": {"from-gateway"}, // set before the upstream answered: wins
		"X-Empty":      {},               // no value: the upstream's wins
		"X-Cors":       {"*"},            // not from the upstream: kept
	}
	want := http.Header{
		"Content-Type": {"application/json"},
		"X-Request-Id": {"from-gateway"},
		"X-Empty":      {"upstream"},
		"X-Cors":       {"*"},
	}
	for _, tc := range []struct {
		name      string
		w         func() http.ResponseWriter
		preset    http.Header
		wantAdopt bool
		want      http.Header
	}{
		{"copied, nothing preset", func() http.ResponseWriter { return httptest.NewRecorder() }, nil, false, upstream()},
		{"copied, plugin fields", func() http.ResponseWriter { return httptest.NewRecorder() }, plugin, false, want},
		{"adopted, nothing preset", func() http.ResponseWriter { return &adopter{ResponseRecorder: httptest.NewRecorder()} }, nil, true, upstream()},
		{"adopted, plugin fields", func() http.ResponseWriter { return &adopter{ResponseRecorder: httptest.NewRecorder()} }, plugin, true, want},
		{"adoption refused", func() http.ResponseWriter {
			return &adopter{ResponseRecorder: httptest.NewRecorder(), refuse: true}
		}, plugin, false, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.w()
			for k, vs := range tc.preset {
				w.Header()[k] = vs
			}
			rh := upstream()
			got := adoptHeader(w, rh)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, w.Header()); diff != "" {
				t.Errorf("w.Header() after (-want +got):\n%s", diff)
			}
			if adopted := len(got) > 0 && sameMap(got, rh); adopted != tc.wantAdopt {
				t.Errorf("upstream map adopted = %v; want %v", adopted, tc.wantAdopt)
			}
		})
	}
}

// sameMap reports whether a and b are the same map (not equal copies).
func sameMap(a, b http.Header) bool {
	const probe = "X-Same-Map-Probe"
	a[probe] = nil
	_, same := b[probe]
	delete(a, probe)
	return same
}
