package gateway

import (
	airoute "github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/internal/config"
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
