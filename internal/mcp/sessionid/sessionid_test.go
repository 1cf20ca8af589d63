package sessionid

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSealOpen(t *testing.T) {
	old, err := New([]string{"old-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := New([]string{"new-secret-0123456789", "old-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	st := &State{ID: NewID(), Consumer: "agent-a", Issued: 1700000000, Version: "2025-11-25",
		Legs: []Leg{{Server: "everything", Target: "http://127.0.0.1:3001", Upstream: "abc"}}}
	id, err := old.Seal("mcp", st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("session id %q has a character outside visible ASCII", id)
		}
	}
	if strings.Contains(id, "agent-a") || strings.Contains(id, "127.0.0.1") {
		t.Fatalf("session id %q shows its state", id)
	}
	for name, s := range map[string]*Sealer{"same keys": old, "rotated keys": rotated} {
		got, err := s.Open("mcp", id)
		if err != nil {
			t.Fatalf("%s: Open: %v", name, err)
		}
		if diff := cmp.Diff(st, got); diff != "" {
			t.Fatalf("%s: Open (-sealed +opened):\n%s", name, diff)
		}
	}
	// The new key seals after rotation; the old-only gateway cannot open it.
	id2, _ := rotated.Seal("mcp", st)
	if _, err := old.Open("mcp", id2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old keys opened an id sealed under the new key: %v", err)
	}

	other, _ := New(nil)
	bad := []struct{ name, route, id string }{
		{"other route", "mcp2", id},
		{"foreign gateway", "mcp", mustSeal(t, other, st)},
		{"tampered", "mcp", id[:len(id)-2] + flip(id[len(id)-2]) + id[len(id)-1:]},
		{"truncated", "mcp", id[:10]},
		{"no prefix", "mcp", "abc"},
		{"bad base64", "mcp", "s1.!!!"},
		{"empty", "mcp", ""},
	}
	for _, b := range bad {
		if _, err := rotated.Open(b.route, b.id); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Open = %v; want ErrInvalid", b.name, err)
		}
	}
}

func mustSeal(t *testing.T, s *Sealer, st *State) string {
	id, err := s.Seal("mcp", st)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestNewRejectsShortSecret(t *testing.T) {
	_, err := New([]string{"0123456789abcdef", "short"})
	if err == nil || !strings.Contains(err.Error(), "session key 1 is 5 bytes") {
		t.Fatalf("New = %v; want a short-key error naming key 1", err)
	}
}

func BenchmarkOpen(b *testing.B) {
	s, _ := New([]string{"bench-secret-0123456789"})
	id, _ := s.Seal("mcp", &State{ID: NewID(), Issued: 1, Legs: []Leg{{Server: "a", Target: "http://127.0.0.1:1", Upstream: "0123456789abcdef"}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open("mcp", id); err != nil {
			b.Fatal(err)
		}
	}
}
