package gateway

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/sluicegw/sluice/internal/ai/price"
	airoute "github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/plugin"
)

// aiHandler builds the terminal handler of an ai route from the route's ai
// block and the top-level providers. It is built per generation: key
// cooldowns and target health start fresh after a reload.
func (gw *Gateway) aiHandler(cfg *config.Config, rc config.Route) (*airoute.Handler, error) {
	a := rc.AI
	rcfg := airoute.Config{
		Timeouts: airoute.Timeouts{
			FirstToken:    a.Timeouts.FirstToken.D(),
			BetweenChunks: a.Timeouts.BetweenChunks.D(),
			Total:         a.Timeouts.Total.D(),
		},
		Retry: airoute.Retry{
			Attempts:      a.Retry.Attempts,
			Backoff:       a.Retry.Backoff.D(),
			MaxBackoff:    a.Retry.MaxBackoff.D(),
			On:            a.Retry.On,
			RetryAfterCap: a.Retry.RetryAfterCap.D(),
		},
		MaxBody: int64(a.MaxBody),
		Logger:  gw.log.With("route", rc.Name),
	}
	for _, p := range cfg.Providers {
		rcfg.Providers = append(rcfg.Providers, airoute.Provider{
			Name:             p.Name,
			Type:             p.Type,
			BaseURL:          p.BaseURL,
			APIKeys:          p.APIKeys,
			Headers:          p.Headers,
			Timeouts:         airoute.ProviderTimeouts{Connect: p.Timeouts.Connect.D(), Response: p.Timeouts.Response.D()},
			Azure:            airoute.Azure{Deployment: p.Azure.Deployment, APIVersion: p.Azure.APIVersion},
			AnthropicVersion: p.AnthropicVersion,
			Prices:           prices(p.Prices),
		})
	}
	for _, m := range a.Models {
		rm := airoute.Model{Name: m.Name, Strategy: m.Strategy}
		for _, t := range m.Targets {
			rm.Targets = append(rm.Targets, airoute.Target{Provider: t.Provider, Model: t.Model, Weight: t.Weight})
		}
		rcfg.Models = append(rcfg.Models, rm)
	}
	if err := rcfg.Validate(); err != nil {
		return nil, err
	}
	return airoute.New(rcfg)
}

// prices converts a provider's configured prices.
func prices(ps map[string]config.Price) map[string]price.Price {
	if len(ps) == 0 {
		return nil
	}
	out := make(map[string]price.Price, len(ps))
	for model, p := range ps {
		out[model] = price.Price{Input: p.Input, Output: p.Output, CachedInput: p.CachedInput, CacheWrite: p.CacheWrite}
	}
	return out
}

// consumerLabel is the consumer's metric label: its name when it is a
// configured consumer, "_unlisted" otherwise (a token subject, say, which
// would make label values unbounded).
func consumerLabel(rt *route, x *plugin.Exchange) string {
	if x.Consumer == "" {
		return ""
	}
	if c, ok := rt.consumers[x.Consumer]; !ok || c != x.Caller {
		return "_unlisted"
	}
	return x.Consumer
}

// observeAI records the GenAI metrics of a finished ai route request.
func (gw *Gateway) observeAI(rt *route, x *plugin.Exchange, total time.Duration) {
	a := x.AI
	if a.Operation == plugin.AIModels || a.Cache == "hit" {
		// A listing is not a model call; a cache hit called no provider
		// (ai-cache counts hits in sluice_plugin_decisions_total), and its
		// microseconds would skew the provider's latency histograms.
		return
	}
	gw.metrics.AI(metrics.AIRequest{
		Route:         x.Route,
		Consumer:      consumerLabel(rt, x),
		Operation:     a.Operation,
		Provider:      a.Provider,
		RequestModel:  a.Model,
		ResponseModel: a.ProviderModel,
		Stream:        a.Stream,
		Input:         a.Usage.Input,
		Output:        a.Usage.Output,
		CachedInput:   a.Usage.CachedInput,
		CacheCreation: a.Usage.CacheCreation,
		Reasoning:     a.Usage.Reasoning,
		UsageKnown:    a.UsageKnown,
		CostUSD:       a.CostUSD,
		CostKnown:     a.CostKnown,
		ErrorKind:     a.ErrorKind,
		Attempts:      a.Attempts,
		Fallbacks:     a.Fallbacks,
		Duration:      total,
		TTFT:          a.TimeToFirstToken,
	})
}

// aiAttrs are the access log fields of an ai route request.
func aiAttrs(a *plugin.AI) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("ai_api", a.API),
		slog.String("ai_model", a.Model),
		slog.String("ai_provider", a.Provider),
		slog.String("ai_provider_model", a.ProviderModel),
		slog.Bool("ai_stream", a.Stream),
		slog.Int64("tokens_in", a.Usage.Input),
		slog.Int64("tokens_out", a.Usage.Output),
		slog.Int64("tokens_cached", a.Usage.CachedInput),
		slog.Int64("tokens_reasoning", a.Usage.Reasoning),
		slog.Float64("ttft_ms", float64(a.TimeToFirstToken.Microseconds())/1000),
		slog.Int("ai_fallbacks", a.Fallbacks),
	}
	if a.CostKnown {
		attrs = append(attrs, slog.Float64("cost_usd", a.CostUSD))
	}
	if a.ErrorKind != "" {
		attrs = append(attrs, slog.String("ai_error", a.ErrorKind))
	}
	if a.Cache != "" {
		attrs = append(attrs, slog.String("ai_cache", a.Cache))
	}
	return attrs
}

// aiSpanAttrs are the OpenTelemetry GenAI attributes of the request's span.
func aiSpanAttrs(a *plugin.AI) []attribute.KeyValue {
	kv := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", a.Operation),
		attribute.String("gen_ai.request.model", a.Model),
	}
	if a.Provider != "" {
		kv = append(kv, attribute.String("gen_ai.provider.name", a.Provider),
			attribute.String("gen_ai.response.model", a.ProviderModel))
	}
	if a.UsageKnown {
		kv = append(kv, attribute.Int64("gen_ai.usage.input_tokens", a.Usage.Input),
			attribute.Int64("gen_ai.usage.output_tokens", a.Usage.Output))
	}
	if a.ErrorKind != "" {
		kv = append(kv, attribute.String("error.type", a.ErrorKind))
	}
	if a.Cache != "" {
		kv = append(kv, attribute.String("sluice.ai.cache", a.Cache))
	}
	return kv
}
