package secret

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestSum(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 32, 255, 256, 257, 1000} {
		s := strings.Repeat("k", n)
		if got, want := Sum(s), Digest(sha256.Sum256([]byte(s))); got != want {
			t.Errorf("Sum(%d bytes) = %x; want %x", n, got, want)
		}
	}
}

func TestSumDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("k", 1000)
	if n := testing.AllocsPerRun(100, func() { _ = Sum(s) }); n != 0 {
		t.Errorf("Sum allocates %v times; want 0", n)
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	var ix Index[string]
	if _, ok := ix.Lookup("a"); ok {
		t.Fatal("empty Index found a secret")
	}
	for _, kv := range [][2]string{{"key-a", "alice"}, {"key-b", "bob"}} {
		if prev, ok := ix.Add(Sum(kv[0]), kv[1]); !ok || prev != "" {
			t.Fatalf("Add(%s) = %q, %v; want \"\", true", kv[0], prev, ok)
		}
	}
	if prev, ok := ix.Add(Sum("key-a"), "mallory"); ok || prev != "alice" {
		t.Errorf("Add of a present digest = %q, %v; want \"alice\", false", prev, ok)
	}
	tests := []struct{ secret, want string }{
		{"key-a", "alice"}, {"key-b", "bob"}, {"key-", ""}, {"key-aa", ""}, {"", ""}, {"KEY-A", ""},
	}
	for _, tt := range tests {
		got, ok := ix.Lookup(tt.secret)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.secret, got, ok, tt.want)
		}
	}
	if ix.Len() != 2 {
		t.Errorf("Len = %d; want 2", ix.Len())
	}
	if !Sum("x").Equal(Sum("x")) || Sum("x").Equal(Sum("y")) {
		t.Error("Equal disagrees with ==")
	}
}
