package gateway

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/internal/tracing"
)

// collector is a fake OTLP/HTTP trace collector.
type collector struct {
	t     *testing.T
	url   string
	mu    sync.Mutex
	spans []exported
}

// exported is one span with the service.name of its resource.
type exported struct {
	service string
	span    *tracepb.Span
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{t: t}
	s := httptest.NewServer(http.HandlerFunc(c.serveHTTP))
	t.Cleanup(s.Close)
	c.url = s.URL
	return c
}

func (c *collector) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		c.t.Errorf("collector got %s %s; want POST /v1/traces", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		c.t.Errorf("collector got Content-Type %q; want application/x-protobuf", ct)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			c.t.Errorf("collector: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		c.t.Errorf("collector: decoding ExportTraceServiceRequest: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		svc := attr(rs.GetResource().GetAttributes(), "service.name").GetStringValue()
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.spans = append(c.spans, exported{svc, sp})
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *collector) exported() []exported {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exported(nil), c.spans...)
}

func attr(kvs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

// startTraced is start with a tracer. stop shuts the listeners down (which
// waits for handlers, so every span has ended), closes the gateway and
// flushes the tracer; it is idempotent and also runs at cleanup.
func startTraced(t *testing.T, y string, tr *tracing.Tracer) (h *harness, stop func()) {
	t.Helper()
	cfg := loadConfig(t, y, testKinds)
	for i := range cfg.Listeners {
		cfg.Listeners[i].Addr = "127.0.0.1:0"
	}
	cfg.Status.Addr = "127.0.0.1:0"
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New()
	gw, err := New(Options{Kinds: testKinds, Logger: log, AccessLog: log, Metrics: m, Tracer: tr, Drain: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ps := gw.Apply(cfg); len(ps) > 0 {
		t.Fatalf("apply: %v", ps)
	}
	srv, err := Listen(cfg, gw, m, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	h = &harness{t: t, gw: gw, srv: srv, metrics: m, logs: logs,
		url:    "http://" + srv.Addrs()[0].String(),
		status: "http://" + srv.StatusAddr().String()}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			gw.Close(ctx)
			<-done
			if err := tr.Shutdown(ctx); err != nil {
				t.Errorf("tracer Shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return h, stop
}

// traceparent is a parsed W3C traceparent header.
type traceparent struct {
	traceID, spanID, flags string
}

func parseTraceparent(t *testing.T, v string) traceparent {
	t.Helper()
	parts := strings.Split(v, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 ||
		parts[1] == strings.Repeat("0", 32) || parts[2] == strings.Repeat("0", 16) {
		t.Fatalf("traceparent %q is not a valid W3C version 00 value", v)
	}
	return traceparent{parts[1], parts[2], parts[3]}
}

func TestTracing(t *testing.T) {
	t.Parallel()
	const (
		inTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		inParent = "00f067aa0ba902b7"
	)
	tests := []struct {
		name       string
		ratio      float64
		incoming   string // traceparent the client sends; "" none
		tracestate string // tracestate the client sends
		upStatus   int
		wantSpans  bool   // a server and a client span are exported
		wantFlags  string // trace flags the upstream sees
	}{
		{name: "sampled parent", ratio: 1, incoming: "00-" + inTrace + "-" + inParent + "-01",
			tracestate: "vendor=abc", upStatus: 200, wantSpans: true, wantFlags: "01"},
		{name: "new root", ratio: 1, upStatus: 200, wantSpans: true, wantFlags: "01"},
		{name: "upstream error", ratio: 1, upStatus: 503, wantSpans: true, wantFlags: "01"},
		{name: "ratio 0 without parent", ratio: 0, upStatus: 200, wantSpans: false, wantFlags: "00"},
		// The sampler is parent-based: a caller's decision wins over the ratio.
		{name: "ratio 0 honours sampled parent", ratio: 0, incoming: "00-" + inTrace + "-" + inParent + "-01",
			upStatus: 200, wantSpans: true, wantFlags: "01"},
		{name: "ratio 1 honours unsampled parent", ratio: 1, incoming: "00-" + inTrace + "-" + inParent + "-00",
			upStatus: 200, wantSpans: false, wantFlags: "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			col := newCollector(t)
			tr, err := tracing.New(config.Tracing{Enabled: true, Endpoint: col.url + "/v1/traces",
				SamplingRatio: tt.ratio, ServiceName: "sluice-test"}, "test")
			if err != nil {
				t.Fatalf("tracing.New: %v", err)
			}

			var mu sync.Mutex
			var gotParent, gotState string
			up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotParent, gotState = r.Header.Get("Traceparent"), r.Header.Get("Tracestate")
				mu.Unlock()
				w.WriteHeader(tt.upStatus)
			}))
			h, stop := startTraced(t, simple("", up.URL), tr)

			req, _ := http.NewRequest(http.MethodGet, h.url+"/traced", nil)
			if tt.incoming != "" {
				req.Header.Set("Traceparent", tt.incoming)
			}
			if tt.tracestate != "" {
				req.Header.Set("Tracestate", tt.tracestate)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.upStatus {
				t.Fatalf("GET /traced status = %d; want %d", resp.StatusCode, tt.upStatus)
			}
			stop()

			mu.Lock()
			upTP := parseTraceparent(t, gotParent)
			upState := gotState
			mu.Unlock()
			if tt.incoming != "" {
				if upTP.traceID != inTrace {
					t.Errorf("upstream trace id = %s; want the caller's %s", upTP.traceID, inTrace)
				}
				if upTP.spanID == inParent {
					t.Errorf("upstream parent id = caller's %s; want the gateway's own span", inParent)
				}
			}
			if upTP.flags != tt.wantFlags {
				t.Errorf("upstream trace flags = %s; want %s", upTP.flags, tt.wantFlags)
			}
			if upState != tt.tracestate {
				t.Errorf("upstream tracestate = %q; want %q", upState, tt.tracestate)
			}

			spans := col.exported()
			if !tt.wantSpans {
				if len(spans) != 0 {
					t.Errorf("exported %d spans; want none (not sampled)", len(spans))
				}
				return
			}
			var server, client *tracepb.Span
			for _, e := range spans {
				if e.service != "sluice-test" {
					t.Errorf("span %q service.name = %q; want sluice-test", e.span.GetName(), e.service)
				}
				switch e.span.GetKind() {
				case tracepb.Span_SPAN_KIND_SERVER:
					if server != nil {
						t.Errorf("more than one server span")
					}
					server = e.span
				case tracepb.Span_SPAN_KIND_CLIENT:
					if client != nil {
						t.Errorf("more than one client span")
					}
					client = e.span
				default:
					t.Errorf("unexpected span %q of kind %v", e.span.GetName(), e.span.GetKind())
				}
			}
			if server == nil || client == nil {
				t.Fatalf("exported %d spans, server %v, client %v; want one of each", len(spans), server != nil, client != nil)
			}

			for _, sp := range []*tracepb.Span{server, client} {
				if got := hex.EncodeToString(sp.GetTraceId()); got != upTP.traceID {
					t.Errorf("%v span trace id = %s; want the upstream's %s", sp.GetKind(), got, upTP.traceID)
				}
			}
			wantServerParent := ""
			if tt.incoming != "" {
				wantServerParent = inParent
			}
			if got := hex.EncodeToString(server.GetParentSpanId()); got != wantServerParent {
				t.Errorf("server span parent = %q; want %q", got, wantServerParent)
			}
			if got, want := hex.EncodeToString(client.GetParentSpanId()), hex.EncodeToString(server.GetSpanId()); got != want {
				t.Errorf("client span parent = %s; want the server span %s", got, want)
			}
			if got, want := upTP.spanID, hex.EncodeToString(client.GetSpanId()); got != want {
				t.Errorf("upstream traceparent parent id = %s; want the client span %s", got, want)
			}

			for _, sp := range []*tracepb.Span{server, client} {
				attrs := sp.GetAttributes()
				if got := attr(attrs, "http.request.method").GetStringValue(); got != http.MethodGet {
					t.Errorf("%v span http.request.method = %q; want GET", sp.GetKind(), got)
				}
				if got := attr(attrs, "http.response.status_code").GetIntValue(); got != int64(tt.upStatus) {
					t.Errorf("%v span http.response.status_code = %d; want %d", sp.GetKind(), got, tt.upStatus)
				}
				wantCode := tracepb.Status_STATUS_CODE_UNSET
				if tt.upStatus >= 500 {
					wantCode = tracepb.Status_STATUS_CODE_ERROR
				}
				if got := sp.GetStatus().GetCode(); got != wantCode {
					t.Errorf("%v span status = %v; want %v", sp.GetKind(), got, wantCode)
				}
			}
			if got := attr(server.GetAttributes(), "http.route").GetStringValue(); got != "all" {
				t.Errorf("server span http.route = %q; want all", got)
			}
			if got := attr(server.GetAttributes(), "url.path").GetStringValue(); got != "/traced" {
				t.Errorf("server span url.path = %q; want /traced", got)
			}
			if got := attr(client.GetAttributes(), "sluice.upstream").GetStringValue(); got != "up" {
				t.Errorf("client span sluice.upstream = %q; want up", got)
			}
		})
	}
}

// Tracing off: the gateway neither starts spans nor touches trace context,
// so the caller's traceparent reaches the upstream unchanged.
func TestTracingOffPassesTraceparent(t *testing.T) {
	t.Parallel()
	const in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var mu sync.Mutex
	var got string
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Get("Traceparent")
		mu.Unlock()
	}))
	h := start(t, simple("", up.URL))
	req, _ := http.NewRequest(http.MethodGet, h.url+"/", nil)
	req.Header.Set("Traceparent", in)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if got != in {
		t.Errorf("upstream traceparent = %q; want %q (unchanged)", got, in)
	}
}

// TestTracingAI: an ai route's server span carries the GenAI attributes.
func TestTracingAI(t *testing.T) {
	t.Parallel()
	col := newCollector(t)
	tr, err := tracing.New(config.Tracing{Enabled: true, Endpoint: col.url + "/v1/traces", SamplingRatio: 1, ServiceName: "sluice-test"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	h, stop := startTraced(t, `
listeners: [{addr: 127.0.0.1:0}]
providers: [{name: local, type: mock}]
routes:
  - name: llm
    match: {paths: ["/v1/*"]}
    ai: {models: [{name: demo, targets: [{provider: local, model: mock-1}]}]}
`, tr)
	resp, err := http.Post(h.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"one two three"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stop()
	spans := col.exported()
	if len(spans) != 1 {
		t.Fatalf("exported %d spans; want the server span only", len(spans))
	}
	kv := spans[0].span.GetAttributes()
	for key, want := range map[string]string{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "demo",
		"gen_ai.provider.name": "local", "gen_ai.response.model": "mock-1",
	} {
		if got := attr(kv, key).GetStringValue(); got != want {
			t.Errorf("%s = %q; want %q", key, got, want)
		}
	}
	if in := attr(kv, "gen_ai.usage.input_tokens").GetIntValue(); in == 0 {
		t.Error("gen_ai.usage.input_tokens missing")
	}
}
