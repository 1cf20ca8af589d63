// Package sessionid seals an MCP session's routing state into the
// Mcp-Session-Id the gateway gives the client, so that any gateway replica
// can route any request of the session with no shared store: the id carries
// which upstream target holds the session and the upstream's own session
// id, encrypted and authenticated (AES-256-GCM) under keys from config.
//
// This is agentgateway's and Envoy AI Gateway's design (the anchors' fix
// for "session not found" behind load balancers). The client cannot read
// or forge the state, so a session cannot be steered to another target or
// replayed on another route (the route name is authenticated data) or by
// another consumer (the consumer is sealed inside and checked on open).
//
// Keys rotate: the first key seals, every key opens. Add the new key first,
// keep the old one second until sessions sealed under it have expired.
package sessionid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Leg is the session's state at one upstream MCP server.
type Leg struct {
	Server   string `json:"s"`           // the mcp_servers entry
	Target   string `json:"t,omitempty"` // the upstream target that holds the session
	Upstream string `json:"u,omitempty"` // the upstream's own Mcp-Session-Id, "" if it minted none
	Version  string `json:"v,omitempty"` // the protocol version spoken with this server, "" when it is the session's
}

// State is what a session id carries.
type State struct {
	ID       string `json:"i"`           // random, names the session in logs, metrics and local tables
	Consumer string `json:"c,omitempty"` // the consumer the session is bound to
	Issued   int64  `json:"n"`           // unix seconds
	Version  string `json:"v,omitempty"` // negotiated protocol version
	Legs     []Leg  `json:"l"`
}

// IssuedAt returns Issued as a time.
func (s *State) IssuedAt() time.Time { return time.Unix(s.Issued, 0) }

// Leg returns the leg of server, or nil.
func (s *State) Leg(server string) *Leg {
	for i := range s.Legs {
		if s.Legs[i].Server == server {
			return &s.Legs[i]
		}
	}
	return nil
}

// NewID returns a fresh random session name.
func NewID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// MinSecretLen is the shortest secret accepted: 128 bits as bytes.
const MinSecretLen = 16

// prefix versions the format; a client sees an opaque visible-ASCII token.
const prefix = "s1."

// ErrInvalid is returned for an id that no key opens: expired keys, a
// foreign gateway, another route or tampering. MCP answers it with 404,
// which tells the client to start a new session.
var ErrInvalid = errors.New("unknown or invalid session id")

// Sealer seals and opens session ids. Safe for concurrent use.
type Sealer struct {
	aeads []cipher.AEAD
}

// New derives one AES-256-GCM key per secret (HKDF-SHA256). With no secret
// it makes a random key: sessions then work on this process only and end at
// restart, which is right for one gateway and wrong for replicas.
func New(secrets []string) (*Sealer, error) {
	if len(secrets) == 0 {
		var k [32]byte
		rand.Read(k[:])
		a, err := aead(k[:])
		if err != nil {
			return nil, err
		}
		return &Sealer{aeads: []cipher.AEAD{a}}, nil
	}
	s := &Sealer{}
	for i, sec := range secrets {
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("session key %d is %d bytes; want at least %d (e.g. openssl rand -hex 32)", i, len(sec), MinSecretLen)
		}
		k, err := hkdf.Key(sha256.New, []byte(sec), nil, "sluice mcp session id v1", 32)
		if err != nil {
			return nil, fmt.Errorf("session key %d: %w", i, err)
		}
		a, err := aead(k)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, a)
	}
	return s, nil
}

func aead(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encrypts st for route.
func (s *Sealer) Seal(route string, st *State) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	a := s.aeads[0]
	buf := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(buf)
	buf = a.Seal(buf, buf, plain, []byte(route))
	return prefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts an id sealed for route, trying each key.
func (s *Sealer) Open(route, id string) (*State, error) {
	if len(id) < len(prefix) || id[:len(prefix)] != prefix {
		return nil, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(id[len(prefix):])
	if err != nil {
		return nil, ErrInvalid
	}
	for _, a := range s.aeads {
		if len(raw) < a.NonceSize()+a.Overhead() {
			return nil, ErrInvalid
		}
		plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(route))
		if err != nil {
			continue
		}
		st := new(State)
		if err := json.Unmarshal(plain, st); err != nil || st.ID == "" || len(st.Legs) == 0 {
			return nil, ErrInvalid
		}
		return st, nil
	}
	return nil, ErrInvalid
}
