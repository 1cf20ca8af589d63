// Package tracing sets up OpenTelemetry tracing: an OTLP/HTTP exporter, a
// parent-based ratio sampler and W3C trace-context propagation. When tracing
// is off the gateway holds a nil *Tracer and pays nothing per request.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicegw/sluice/internal/config"
)

// Tracer starts spans and propagates context. A nil *Tracer is valid and
// does nothing.
type Tracer struct {
	trace.Tracer
	provider *sdktrace.TracerProvider
	prop     propagation.TextMapPropagator
}

// New builds a tracer from cfg, or returns nil when tracing is disabled.
// version is reported as service.version.
func New(cfg config.Tracing, version string) (*Tracer, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(cfg.Endpoint),
		otlptracehttp.WithHeaders(cfg.Headers),
		otlptracehttp.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint %q: %w", cfg.Endpoint, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplingRatio))),
	)
	return &Tracer{
		Tracer:   tp.Tracer("github.com/sluicegw/sluice"),
		provider: tp,
		prop:     propagation.TraceContext{},
	}, nil
}

// Extract returns ctx with the remote span context found in h.
func (t *Tracer) Extract(ctx context.Context, h http.Header) context.Context {
	return t.prop.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's span context into h (traceparent, tracestate).
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// Shutdown flushes pending spans. Safe on nil.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
