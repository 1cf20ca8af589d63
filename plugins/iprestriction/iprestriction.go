// Package iprestriction implements the ip-restriction plugin: it lets a
// request through or stops it by the client's IP address, against a
// whitelist or a blacklist of addresses and CIDR ranges (IPv4 and IPv6).
// Keys follow APISIX's ip-restriction plugin.
package iprestriction

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the ip-restriction plugin.
var Kind = plugin.Define("ip-restriction", plugin.Edge, defaults, New)

// Config is the ip-restriction plugin's configuration. Exactly one of
// Whitelist and Blacklist must be set.
type Config struct {
	// Whitelist lets only these addresses or CIDR ranges through.
	Whitelist []string `json:"whitelist"`
	// Blacklist stops these addresses or CIDR ranges.
	Blacklist []string `json:"blacklist"`
	// Message is sent to a refused client. Default "Your IP address is not
	// allowed".
	Message string `json:"message"`
	// ResponseCode is the status for a refused client: 403 (default) or 404.
	ResponseCode int `json:"response_code"`
}

func defaults() *Config {
	return &Config{Message: "Your IP address is not allowed", ResponseCode: http.StatusForbidden}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case len(c.Whitelist) > 0 && len(c.Blacklist) > 0:
		errs = append(errs, errors.New("whitelist, blacklist: set exactly one, not both"))
	case len(c.Whitelist) == 0 && len(c.Blacklist) == 0:
		errs = append(errs, errors.New("whitelist, blacklist: set exactly one (a non-empty list of IPs or CIDRs)"))
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"whitelist", c.Whitelist}, {"blacklist", c.Blacklist}} {
		for i, s := range l.list {
			if _, err := parse(s); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is not a valid IP address or CIDR", l.key, i, s))
			}
		}
	}
	if n := len(c.Message); n < 1 || n > 1024 {
		errs = append(errs, fmt.Errorf("message: must be 1 to 1024 bytes, got %d", n))
	}
	if c.ResponseCode != http.StatusForbidden && c.ResponseCode != http.StatusNotFound {
		errs = append(errs, fmt.Errorf("response_code: %d is not 403 or 404", c.ResponseCode))
	}
	return errors.Join(errs...)
}

// parse reads an address ("10.0.0.1", "2001:db8::1") or a CIDR
// ("10.0.0.0/8"; host bits are ignored, as in APISIX) as a masked prefix.
// IPv4-mapped IPv6 input is unmapped so it matches IPv4 clients.
func parse(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zones are not allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// set holds single addresses in a map and ranges in a list, so long lists of
// single addresses stay O(1) per request.
type set struct {
	addrs  map[netip.Addr]struct{}
	ranges []netip.Prefix
}

func (s *set) contains(a netip.Addr) bool {
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.ranges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	allow := len(c.Whitelist) > 0
	list := c.Blacklist
	if allow {
		list = c.Whitelist
	}
	s := &set{addrs: map[netip.Addr]struct{}{}}
	for _, e := range list {
		p, err := parse(e)
		if err != nil {
			return nil, err
		}
		if p.IsSingleIP() {
			s.addrs[p.Addr()] = struct{}{}
		} else {
			s.ranges = append(s.ranges, p)
		}
	}
	code := "ip_forbidden"
	if c.ResponseCode == http.StatusNotFound {
		code = "not_found" // a 404 is meant to hide the route; do not explain it
	}
	status, msg := c.ResponseCode, c.Message
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			a, ok := clientIP(r)
			if ok && s.contains(a) == allow || !ok && !allow {
				return next.ServeHTTP(w, r)
			}
			// A fresh Error each time: the gateway may annotate what it renders.
			return &plugin.Error{Status: status, Code: code, Public: msg}
		})
	}, nil
}

// clientIP returns the gateway's resolved client IP, or else the peer address
// of the connection, unmapped and without a zone. It does not allocate.
func clientIP(r *http.Request) (netip.Addr, bool) {
	a := plugin.ExchangeOf(r).ClientIP
	if !a.IsValid() {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			if a, err = netip.ParseAddr(r.RemoteAddr); err != nil {
				return netip.Addr{}, false // unknown: only a blacklist lets it through
			}
		} else {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone(""), true
}
