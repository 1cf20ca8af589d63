package gateway

import (
	"maps"
	"slices"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/plugin"
)

// identities is what a generation's plugins know about callers: every
// consumer by name, each Authn kind's decoded credentials, and the Redis
// block limits share.
type identities struct {
	consumers   map[string]*plugin.Consumer
	credentials map[string][]plugin.Credential // by kind name, in consumer order
	redis       *plugin.RedisConfig
	problems    config.Problems
}

// buildIdentities decodes every consumer's credentials with its kind's
// CredentialSpec. Validate has checked them already (names, decoding,
// duplicate identities); a problem here means the config skipped Validate.
func buildIdentities(cfg *config.Config, kinds map[string]plugin.Kind) identities {
	ids := identities{
		consumers:   make(map[string]*plugin.Consumer, len(cfg.Consumers)),
		credentials: map[string][]plugin.Credential{},
		redis:       redisConfig(cfg.Redis),
	}
	for i, c := range cfg.Consumers {
		pc := &plugin.Consumer{Name: c.Name, Groups: c.Groups, Labels: c.Labels}
		ids.consumers[c.Name] = pc
		for _, k := range slices.Sorted(maps.Keys(c.Credentials)) {
			p := config.Path{"consumers", i, "credentials", k}
			kind, ok := kinds[k]
			if !ok || kind.Credential == nil {
				ids.problems = append(ids.problems, config.Problem{Path: p, Msg: "plugin " + k + " does not take consumer credentials"})
				continue
			}
			v, err := kind.Credential.Decode(c.Credentials[k])
			if err != nil {
				ids.problems = append(ids.problems, config.Problem{Path: p, Msg: err.Error()})
				continue
			}
			ids.credentials[k] = append(ids.credentials[k], plugin.Credential{Consumer: pc, Value: v})
		}
	}
	return ids
}

// redisConfig converts the top-level redis block for plugins.
func redisConfig(r *config.Redis) *plugin.RedisConfig {
	if r == nil {
		return nil
	}
	rc := &plugin.RedisConfig{
		Addrs:    r.Addrs,
		Cluster:  r.Cluster || len(r.Addrs) > 1,
		Username: r.Username,
		Password: r.Password,
		DB:       r.DB,
		Timeout:  r.Timeout.D(),
		PoolSize: r.PoolSize,
	}
	if r.Addr != "" {
		rc.Addrs = []string{r.Addr}
	}
	if t := r.TLS; t != nil {
		rc.TLS, rc.CAFile, rc.CertFile, rc.KeyFile, rc.ServerName = true, t.CA, t.Cert, t.Key, t.ServerName
	}
	return rc
}
