package aicache

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func body(n int) *entry { return &entry{parts: [][]byte{make([]byte, n)}} }

func TestMemStoreLRU(t *testing.T) {
	t.Parallel()
	ctx, now := context.Background(), time.Now()
	put := func(s *memStore, k byte, e *entry) {
		s.put(key{k}, e, now, time.Hour, func(err error) {
			if err != nil {
				t.Errorf("put %d: %v", k, err)
			}
		})
	}
	has := func(s *memStore, k byte) bool {
		e, _ := s.get(ctx, key{k}, now)
		return e != nil
	}

	s := newMemStore(2, 1<<20)
	put(s, 1, body(1))
	put(s, 2, body(1))
	has(s, 1) // 1 is now the most recently used
	put(s, 3, body(1))
	if !has(s, 1) || has(s, 2) || !has(s, 3) || s.len() != 2 {
		t.Errorf("after 1, 2, get 1, 3 with max_entries 2: has 1 %v, 2 %v, 3 %v; want 1 and 3", has(s, 1), has(s, 2), has(s, 3))
	}
	put(s, 3, body(2)) // replacing keeps the count
	if s.len() != 2 {
		t.Errorf("len after replacing = %d; want 2", s.len())
	}

	size := body(1000).size()
	s = newMemStore(100, 2*size)
	put(s, 1, body(1000))
	put(s, 2, body(1000))
	put(s, 3, body(1000))
	if has(s, 1) || !has(s, 2) || !has(s, 3) || s.bytes != 2*size {
		t.Errorf("max_memory of two entries: has 1 %v, 2 %v, 3 %v, bytes %d", has(s, 1), has(s, 2), has(s, 3), s.bytes)
	}
	var err error
	s.put(key{4}, body(int(3*size)), now, time.Hour, func(e error) { err = e })
	if err == nil || has(s, 4) || !has(s, 3) {
		t.Errorf("an entry over max_memory: err %v, stored %v", err, has(s, 4))
	}
}

func TestMemStoreExpiry(t *testing.T) {
	t.Parallel()
	ctx, now := context.Background(), time.Now()
	s := newMemStore(10, 1<<20)
	s.put(key{1}, body(1), now, time.Minute, func(error) {})
	s.put(key{2}, body(1), now, time.Hour, func(error) {})
	if e, _ := s.get(ctx, key{1}, now.Add(time.Minute-1)); e == nil {
		t.Error("entry gone before its TTL")
	}
	if e, _ := s.get(ctx, key{1}, now.Add(time.Minute)); e != nil || s.len() != 1 {
		t.Errorf("entry served at its TTL; len %d", s.len())
	}
	// Expired entries at the cold end go on the next put.
	s.put(key{3}, body(1), now.Add(2*time.Hour), time.Hour, func(error) {})
	if s.len() != 1 {
		t.Errorf("len = %d after a put past every other entry's expiry; want 1", s.len())
	}
}

func TestMemStoreConcurrent(t *testing.T) {
	t.Parallel()
	s := newMemStore(50, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := key{byte(g), byte(i % 80)}
				s.put(k, body(i%100), time.Now(), time.Hour, func(error) {})
				s.get(context.Background(), k, time.Now())
			}
		})
	}
	wg.Wait()
	if s.len() > 50 {
		t.Errorf("len = %d; want at most 50", s.len())
	}
}

func TestEntryEncoding(t *testing.T) {
	t.Parallel()
	for _, e := range []*entry{
		{contentType: "application/json", provider: "up", model: "gpt", storedAt: 1767225600, parts: [][]byte{[]byte(`{"a":1}`)}},
		{stream: true, contentType: "text/event-stream", storedAt: -1, parts: [][]byte{[]byte("data: 1\n\n"), []byte("data: [DONE]\n\n")}},
	} {
		b := e.encode()
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", e, err)
		}
		if diff := cmp.Diff(e, got, cmp.AllowUnexported(entry{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		for i := range len(b) {
			if _, err := decodeEntry(b[:i]); err == nil {
				t.Errorf("truncated to %d bytes: no error", i)
			}
		}
		if _, err := decodeEntry(append(b, 0)); err == nil {
			t.Error("trailing byte: no error")
		}
	}
	// A non-stream entry has exactly one part.
	bad := (&entry{parts: [][]byte{[]byte("a"), []byte("b")}}).encode()
	if _, err := decodeEntry(bad); err == nil {
		t.Error("non-stream entry with two parts: no error")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add((&entry{stream: true, contentType: "text/event-stream", parts: [][]byte{[]byte("data: x\n\n")}}).encode())
	f.Add((&entry{contentType: "application/json", parts: [][]byte{[]byte("{}")}}).encode())
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := decodeEntry(e.encode())
		if err != nil {
			t.Fatalf("re-encoding a decoded entry fails: %v", err)
		}
		if diff := cmp.Diff(e, again, cmp.AllowUnexported(entry{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})
}

func TestStreamParts(t *testing.T) {
	t.Parallel()
	const (
		role      = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}],\"usage\":null}\n\n"
		content   = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
		usageOnly = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
		done      = "data: [DONE]\n\n"
		msgStart  = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
		msgStop   = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
		errEvent  = "event: error\ndata: {\"type\":\"error\"}\n\n"
	)
	tests := []struct {
		name, api, body string
		want            []string // nil: not storable
	}{
		{"openai complete", "openai", role + content + done, []string{role, content, done}},
		{"openai usage chunk kept", "openai", role + content + usageOnly + done, []string{role, content, usageOnly, done}},
		{"openai without DONE", "openai", role + content, nil},
		{"openai partial event", "openai", role + content + "data: [DONE]\n", nil},
		{"openai event typed DONE", "openai", role + "event: x\ndata: [DONE]\n\n", nil},
		{"anthropic complete", "anthropic", msgStart + msgStop, []string{msgStart, msgStop}},
		{"anthropic usage is kept", "anthropic", msgStart + usageOnly + msgStop, []string{msgStart, usageOnly, msgStop}},
		{"anthropic error end", "anthropic", msgStart + errEvent, nil},
		{"anthropic without stop", "anthropic", msgStart, nil},
		{"empty", "openai", "", nil},
	}
	for _, tt := range tests {
		parts, ok := streamParts([]byte(tt.body), tt.api)
		if (tt.want != nil) != ok {
			t.Errorf("%s: storable %v; want %v", tt.name, ok, tt.want != nil)
			continue
		}
		if !ok {
			continue
		}
		var got []string
		for _, p := range parts {
			got = append(got, string(p))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: parts (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		values           []string
		noCache, noStore bool
	}{
		{nil, false, false},
		{[]string{"max-age=0"}, false, false},
		{[]string{"no-cache"}, true, false},
		{[]string{"No-Cache=\"x\""}, true, false},
		{[]string{"max-age=5, no-store"}, true, true},
		{[]string{"private", " NO-STORE "}, true, true},
		{[]string{"no-cachex"}, false, false},
	}
	for _, tt := range tests {
		h := http.Header{"Cache-Control": tt.values}
		nc, ns := cacheControl(h)
		if nc != tt.noCache || ns != tt.noStore {
			t.Errorf("cacheControl(%s) = %v, %v; want %v, %v", strings.Join(tt.values, " | "), nc, ns, tt.noCache, tt.noStore)
		}
	}
}

func TestErrLog(t *testing.T) {
	t.Parallel()
	lg := &logs{}
	now := time.Unix(1000, 0)
	l := &errLog{logger: slog.New(lg), every: 10 * time.Second, now: func() time.Time { return now }}
	l.ok() // nothing to report
	for range 5 {
		l.failed("store", errBusy)
	}
	now = now.Add(10 * time.Second)
	l.failed("store", errBusy)
	l.ok()
	l.ok()
	if w, i := lg.count(slog.LevelWarn), lg.count(slog.LevelInfo); w != 2 || i != 1 {
		t.Errorf("logged %d warnings and %d infos; want 2 and 1", w, i)
	}
}
