//go:build gatewaybench

package h1server_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/gateway"
	"github.com/sluicegw/sluice/internal/h1server"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/plugin"
)

// TestCompareGatewayCPU measures sluice's own edge handler (routing,
// metrics, the proxy and its h1 upstream transport, body_idle_timeout
// deadlines) behind net/http.Server and behind h1server, as bench/run.sh's
// "sluice" target configures it, against an in-process minimal upstream.
// It is behind a build tag so that this package's tests do not depend on
// the gateway compiling:
//
//	H1SERVER_COMPARE=1 go test -tags gatewaybench -run TestCompareGatewayCPU -v ./internal/h1server/
func TestCompareGatewayCPU(t *testing.T) {
	if os.Getenv("H1SERVER_COMPARE") == "" {
		t.Skip("set H1SERVER_COMPARE=1 to run")
	}
	up := h1server.StartFloor(t)
	y := "listeners: [{addr: 127.0.0.1:0}]\nupstreams:\n  - name: up\n    targets:\n      - {url: http://" + up + "}\n" +
		"routes:\n  - name: all\n    match: {paths: [\"/*\"]}\n    upstream: up\n"
	doc, ps := config.Check("bench.yaml", []byte(y), func(string) (string, bool) { return "", false },
		map[string]plugin.Kind{}, gateway.CheckRoutes)
	if len(ps) > 0 {
		t.Fatalf("config: %s", doc.FormatAll(ps))
	}
	discard := slog.New(slog.DiscardHandler)
	gw, err := gateway.New(gateway.Options{Logger: discard, Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	if ps := gw.Apply(doc.Config); len(ps) > 0 {
		t.Fatalf("apply: %v", ps)
	}
	defer gw.Close(t.Context())
	h1server.CompareCPU(t, "sluice gateway", gw.Handler(0, 60*time.Second))
}
