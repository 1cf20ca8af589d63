package httpwire

import (
	"net/textproto"
	"testing"
)

func TestCanonicalKey(t *testing.T) {
	interned := Intern("Content-Type")
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"content-type", "Content-Type", true},
		{"Content-Type", "Content-Type", true},
		{"x-request-ID", "X-Request-Id", true},
		{"", "", false},
		{"bad key", "", false},
		{"bad:key", "", false},
		{"caf\xc3\xa9", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalKey(tt.in, interned)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalKey(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && got != textproto.CanonicalMIMEHeaderKey(tt.in) {
			t.Errorf("CanonicalKey(%q) = %q; textproto says %q", tt.in, got, textproto.CanonicalMIMEHeaderKey(tt.in))
		}
	}
	if a := testing.AllocsPerRun(100, func() { CanonicalKey("content-type", interned) }); a != 0 {
		t.Errorf("interned key allocs = %v; want 0", a)
	}
}

func TestEqualFoldASCII(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"chunked", "CHUNKED", true},
		{"chunked", "chunke", false},
		{"chun\u212aed", "chunked", false}, // a Kelvin sign is not k
		{"", "", true},
	}
	for _, tt := range tests {
		if got := EqualFoldASCII(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	if !ValidToken("GET") || ValidToken("") || ValidToken("G T") {
		t.Error("ValidToken")
	}
	if !ValidFieldValue("a b\tc\x80") || ValidFieldValue("a\r\nb") || ValidFieldValue("a\x00") {
		t.Error("ValidFieldValue")
	}
	if got := TrimOWS(" \t x \t"); got != "x" {
		t.Errorf("TrimOWS = %q", got)
	}
}
