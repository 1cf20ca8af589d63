package upstream

import (
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// maglevSize is the Maglev lookup table size: a prime, and at least 100
// times the target count (the paper's advice for an even spread); larger
// pools get the next prime above 100*n.
const maglevSize = 65537

// maglev is consistent hashing with Maglev's lookup table (Eisenbud et al.,
// NSDI 2016), with Envoy's weighting: in each round of filling the table a
// target claims its next preferred slot only while its share so far is
// below its weight's share. A key maps to table[hash % M].
//
// When that slot's target is not eligible (unhealthy or tried), pick walks
// forward to the next slot held by a different eligible target. Keys on
// eligible targets never move, and the keys of an ejected target spread over
// the others in proportion to their table share. Removing a target from
// config rebuilds the table, and Maglev moves little more than the removed
// target's 1/n of the keys.
//
// A request without a key (HasHash false) is balanced by smooth weighted
// round robin instead: hashing an empty key would pin all such requests to
// one target.
type maglev struct {
	targets []*Target
	table   []int32 // target index per slot; read-only after newMaglev
	rr      *swrr
}

func newMaglev(targets []*Target) *maglev {
	n := len(targets)
	m := uint64(maglevSize)
	if uint64(n)*100 > m {
		m = nextPrime(uint64(n) * 100)
	}
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	count := make([]int64, n)
	var maxW int64
	for i, t := range targets {
		h := fnv1a(t.str)
		offset[i] = mix64(h) % m
		skip[i] = mix64(h^0x9e3779b97f4a7c15)%(m-1) + 1
		maxW = max(maxW, t.weight)
	}
	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	filled := uint64(0)
	for round := int64(1); filled < m; round++ {
		for i, t := range targets {
			// Claim a slot only while count/round is below weight/maxW.
			if count[i]*maxW >= round*t.weight {
				continue
			}
			c := (offset[i] + next[i]*skip[i]) % m
			for table[c] >= 0 {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % m
			}
			table[c] = int32(i)
			next[i]++
			count[i]++
			if filled++; filled == m {
				break
			}
		}
	}
	return &maglev{targets: targets, table: table, rr: newSWRR(targets)}
}

func (b *maglev) pick(k Key, f filter) *Target {
	if !k.HasHash {
		return b.rr.pick(k, f)
	}
	n := len(b.targets)
	// rejected remembers turned-down targets (the first 64) so the walk
	// stops as soon as every target has been turned down.
	var rejected, all uint64
	if n <= 64 {
		all = 1<<n - 1
		if n == 64 {
			all = ^uint64(0)
		}
	}
	m := len(b.table)
	s := int(k.Hash % uint64(m))
	last := int32(-1)
	for range m {
		if i := b.table[s]; i != last {
			last = i
			t := b.targets[i]
			if f.ok(t) {
				return t
			}
			if i < 64 {
				rejected |= 1 << i
				if rejected == all {
					return nil
				}
			}
		}
		if s++; s == m {
			s = 0
		}
	}
	return nil
}

func nextPrime(n uint64) uint64 {
	for n |= 1; ; n += 2 {
		prime := true
		for d := uint64(3); d*d <= n; d += 2 {
			if n%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return n
		}
	}
}

// fnv1a is 64-bit FNV-1a. It is stable across processes, so every gateway
// replica maps a key to the same target.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser; it spreads FNV's weak low bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString returns the Key for s; an empty s has no hash.
func hashString(s string) Key {
	if s == "" {
		return Key{}
	}
	return Key{Hash: mix64(fnv1a(s)), HasHash: true}
}

type hashKind uint8

const (
	hashNone hashKind = iota
	hashHeader
	hashCookie
	hashQuery
	hashIP
	hashConsumer
	hashPath
)

// hashOn is a parsed hash_on.
type hashOn struct {
	kind hashKind
	name string // canonical header name, cookie name or query parameter
}

func parseHashOn(s string) (hashOn, error) {
	kind, name, hasName := strings.Cut(s, ":")
	switch {
	case !hasName && kind == "ip":
		return hashOn{kind: hashIP}, nil
	case !hasName && kind == "consumer":
		return hashOn{kind: hashConsumer}, nil
	case !hasName && kind == "path":
		return hashOn{kind: hashPath}, nil
	case hasName && name != "" && kind == "header":
		return hashOn{kind: hashHeader, name: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case hasName && name != "" && kind == "cookie":
		return hashOn{kind: hashCookie, name: name}, nil
	case hasName && name != "" && kind == "query":
		return hashOn{kind: hashQuery, name: name}, nil
	}
	return hashOn{}, fmt.Errorf("%q: want header:NAME, cookie:NAME, query:NAME, ip, consumer or path", s)
}

// HashKey returns the balancing key of r under the upstream's hash_on:
// the value of a header, cookie or query parameter, the client IP, the
// consumer name, or the path. clientIP is the address the gateway resolved
// (after trusted proxies); when empty, the host of r.RemoteAddr is used.
// A missing or empty value, or a pool whose balancer is not hash, yields a
// Key without a hash, which the hash balancer sends round robin.
// HashKey does not allocate except to unescape a %-encoded query parameter.
func (p *Pool) HashKey(r *http.Request, clientIP, consumer string) Key {
	switch p.hashOn.kind {
	case hashHeader:
		if vs := r.Header[p.hashOn.name]; len(vs) > 0 {
			return hashString(vs[0])
		}
	case hashCookie:
		return hashString(cookieValue(r.Header, p.hashOn.name))
	case hashQuery:
		if r.URL != nil {
			return hashString(queryValue(r.URL.RawQuery, p.hashOn.name))
		}
	case hashIP:
		if clientIP == "" {
			clientIP = r.RemoteAddr
			if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				clientIP = h
			}
		}
		return hashString(clientIP)
	case hashConsumer:
		return hashString(consumer)
	case hashPath:
		if r.URL != nil {
			return hashString(r.URL.Path)
		}
	}
	return Key{}
}

// cookieValue returns the value of the first cookie named name, without
// parsing every cookie as http.Request.Cookie does.
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v
			}
		}
	}
	return ""
}

// queryValue returns the first value of the query parameter name in raw.
func queryValue(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if u, err := url.QueryUnescape(k); err == nil {
				k = u
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		return v
	}
	return ""
}

var _ balancer = (*maglev)(nil)

// NeedsClientIP reports whether HashKey uses its clientIP argument, so
// callers format the address only when it matters.
func (p *Pool) NeedsClientIP() bool { return p.hashOn.kind == hashIP }
