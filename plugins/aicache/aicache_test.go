package aicache

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

const (
	chatPath     = "/v1/chat/completions"
	messagesPath = "/v1/messages"
	embedPath    = "/v1/embeddings"

	chatBody       = `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`
	chatStream     = `{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	messagesBody   = `{"model":"smart","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`
	messagesStream = `{"model":"smart","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	embedBody      = `{"model":"smart","input":"hi"}`
)

// TestHitReplaysAnswer sends each kind of request twice through the real
// ai route: the second is answered from the cache, byte for byte, with no
// upstream call.
func TestHitReplaysAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		anthropic bool // the provider speaks Anthropic's API
		path      string
		body      string
		stream    bool
	}{
		{"openai chat", false, chatPath, chatBody, false},
		{"openai chat stream", false, chatPath, chatStream, true},
		{"anthropic messages via openai provider", false, messagesPath, messagesBody, false},
		{"anthropic stream via openai provider", false, messagesPath, messagesStream, true},
		{"embeddings", false, embedPath, embedBody, false},
		{"anthropic stream", true, messagesPath, messagesStream, true},
		{"openai chat stream via anthropic provider", true, chatPath, chatStream, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rg := newRig(t, rigConfig{cache: `{}`, anthropic: tt.anthropic})
			first := rg.do(t, tt.path, tt.body, "X-Test-Consumer", "alice")
			if first.resp.StatusCode != 200 || first.cache() != "miss" || first.x.AI.Cache != "miss" {
				t.Fatalf("first: status %d, %s %q, AI.Cache %q: %s", first.resp.StatusCode, HeaderCache, first.cache(), first.x.AI.Cache, first.body)
			}
			second := rg.do(t, tt.path, tt.body, "X-Test-Consumer", "alice")
			if n := rg.upstreamCalls(); n != 1 {
				t.Errorf("upstream calls = %d; want 1", n)
			}
			if second.resp.StatusCode != 200 || second.cache() != "hit" {
				t.Fatalf("second: status %d, %s %q; want 200 hit", second.resp.StatusCode, HeaderCache, second.cache())
			}
			if !bytes.Equal(first.body, second.body) {
				t.Errorf("hit body differs:\n got %s\nwant %s", second.body, first.body)
			}
			for _, name := range []string{"Content-Type", headerProvider, headerModel} {
				if g, w := second.resp.Header.Get(name), first.resp.Header.Get(name); g != w || w == "" {
					t.Errorf("hit %s = %q; want %q", name, g, w)
				}
			}
			if tt.stream && !strings.HasPrefix(second.resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Errorf("stream hit Content-Type = %q", second.resp.Header.Get("Content-Type"))
			}
			a := second.x.AI
			if a.Cache != "hit" || a.Provider != "up" || a.ProviderModel != "gpt-up" || a.Model != "smart" || a.Stream != tt.stream {
				t.Errorf("hit AI = cache %q provider %q/%q model %q stream %v", a.Cache, a.Provider, a.ProviderModel, a.Model, a.Stream)
			}
			if a.Usage != (plugin.TokenUsage{}) || a.UsageKnown || a.Attempts != 0 {
				t.Errorf("hit spent tokens: usage %+v known %v attempts %d", a.Usage, a.UsageKnown, a.Attempts)
			}
			for name, want := range map[string]int64{"miss": 1, "stored": 1, "hit": 1, "bypass": 0, "store_error": 0} {
				if got := rg.dec.get(name); got != want {
					t.Errorf("decision %s = %d; want %d", name, got, want)
				}
			}
		})
	}
}

// TestKeyIsCanonical: member order and spacing do not change the key.
func TestKeyIsCanonical(t *testing.T) {
	t.Parallel()
	rg := newRig(t, rigConfig{cache: `{"scope":"global"}`})
	rg.do(t, chatPath, `{"model":"smart","temperature":0.5,"messages":[{"role":"user","content":"hi"}]}`)
	r := rg.do(t, chatPath, "{ \"messages\": [ {\"content\": \"hi\", \"role\": \"user\"} ],\n  \"temperature\": 0.5, \"model\": \"smart\" }")
	if r.cache() != "hit" {
		t.Errorf("reordered request: %s %q; want hit", HeaderCache, r.cache())
	}
}

// step is one request of a sequence and what it must see.
type step struct {
	consumer     string
	cacheControl string
	path, body   string // default: chatPath, chatBody
	fault        *aitest.Fault
	wantCache    string // the X-Sluice-Cache header
	wantStatus   int    // default 200
	wantUpstream int    // upstream calls so far
}

// TestSequences checks what is looked up, stored and kept apart.
func TestSequences(t *testing.T) {
	t.Parallel()
	hotter := `{"model":"smart","temperature":1.5,"messages":[{"role":"user","content":"hi"}]}`
	fast := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name        string
		cache       string
		steps       []step
		wantStored  int64
		wantBypass  int64
		wantStoreEr int64
	}{
		{"same consumer hits", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", wantCache: "hit", wantUpstream: 1},
		}, 1, 0, 0},
		{"another consumer misses", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "bob", wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", wantCache: "hit", wantUpstream: 2},
			{consumer: "bob", wantCache: "hit", wantUpstream: 2},
		}, 2, 0, 0},
		{"another temperature misses", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", body: hotter, wantCache: "miss", wantUpstream: 2},
		}, 2, 0, 0},
		{"another model misses", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", body: fast, wantCache: "miss", wantUpstream: 2},
		}, 2, 0, 0},
		{"stream and non-stream are apart", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", body: chatStream, wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", body: chatStream, wantCache: "hit", wantUpstream: 2},
		}, 2, 0, 0},
		{"scope global shares between consumers", `{"scope":"global"}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "bob", wantCache: "hit", wantUpstream: 1},
			{wantCache: "hit", wantUpstream: 1},
		}, 1, 0, 0},
		{"scope consumer never caches anonymous callers", `{}`, []step{
			{wantCache: "bypass", wantUpstream: 1},
			{wantCache: "bypass", wantUpstream: 2},
		}, 0, 2, 0},
		{"no-cache skips the lookup and stores", `{}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", cacheControl: "no-cache", wantCache: "bypass", wantUpstream: 2},
			{consumer: "alice", wantCache: "hit", wantUpstream: 2},
		}, 2, 1, 0},
		{"no-store neither looks up nor stores", `{}`, []step{
			{consumer: "alice", cacheControl: "max-age=0, No-Store", wantCache: "bypass", wantUpstream: 1},
			{consumer: "alice", wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", cacheControl: "no-store", wantCache: "bypass", wantUpstream: 3},
			{consumer: "alice", wantCache: "hit", wantUpstream: 3},
		}, 1, 2, 0},
		{"upstream 500 is not stored", `{}`, []step{
			{consumer: "alice", fault: &aitest.Fault{Status: 500}, wantCache: "miss", wantStatus: 502, wantUpstream: 1},
			{consumer: "alice", wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", wantCache: "hit", wantUpstream: 2},
		}, 1, 0, 0},
		{"upstream 400 is not stored", `{}`, []step{
			{consumer: "alice", fault: &aitest.Fault{Status: 400}, wantCache: "miss", wantStatus: 400, wantUpstream: 1},
			{consumer: "alice", wantCache: "miss", wantUpstream: 2},
		}, 1, 0, 0},
		{"cut stream is not stored", `{}`, []step{
			{consumer: "alice", body: chatStream, fault: &aitest.Fault{CutAfter: 3}, wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", body: chatStream, wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", body: chatStream, wantCache: "hit", wantUpstream: 2},
		}, 1, 0, 0},
		{"cleanly cut stream is not stored", `{}`, []step{
			{consumer: "alice", body: chatStream, fault: &aitest.Fault{CutAfter: 3, CleanCut: true}, wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", body: chatStream, wantCache: "miss", wantUpstream: 2},
		}, 1, 0, 0},
		{"stream ending in an error event is not stored", `{}`, []step{
			{consumer: "alice", path: messagesPath, body: messagesStream, fault: &aitest.Fault{ErrorAfter: 4}, wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", path: messagesPath, body: messagesStream, wantCache: "miss", wantUpstream: 2},
		}, 1, 0, 0},
		{"answers over max_body are not stored", `{"max_body":64}`, []step{
			{consumer: "alice", wantCache: "miss", wantUpstream: 1},
			{consumer: "alice", wantCache: "miss", wantUpstream: 2},
			{consumer: "alice", body: chatStream, wantCache: "miss", wantUpstream: 3},
			{consumer: "alice", body: chatStream, wantCache: "miss", wantUpstream: 4},
		}, 0, 0, 0},
		{"invalid request passes through", `{}`, []step{
			{consumer: "alice", body: `{"model":"smart","messages":"nope"}`, wantStatus: 400, wantUpstream: 0},
		}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rg := newRig(t, rigConfig{cache: tt.cache})
			for i, s := range tt.steps {
				if s.fault != nil {
					rg.up.Enqueue(*s.fault)
				}
				path, body := s.path, s.body
				if path == "" {
					path = chatPath
				}
				if body == "" {
					body = chatBody
				}
				r := rg.do(t, path, body, "X-Test-Consumer", s.consumer, "Cache-Control", s.cacheControl)
				want := s.wantStatus
				if want == 0 {
					want = 200
				}
				if r.resp.StatusCode != want || r.cache() != s.wantCache || r.x.AI.Cache != s.wantCache {
					t.Errorf("step %d: status %d, %s %q, AI.Cache %q; want %d %q", i, r.resp.StatusCode, HeaderCache, r.cache(), r.x.AI.Cache, want, s.wantCache)
				}
				if n := rg.upstreamCalls(); n != s.wantUpstream {
					t.Errorf("step %d: upstream calls = %d; want %d", i, n, s.wantUpstream)
				}
			}
			if got := rg.dec.get("stored"); got != tt.wantStored {
				t.Errorf("stored = %d; want %d", got, tt.wantStored)
			}
			if got := rg.dec.get("bypass"); got != tt.wantBypass {
				t.Errorf("bypass = %d; want %d", got, tt.wantBypass)
			}
			if got := rg.dec.get("store_error"); got != tt.wantStoreEr {
				t.Errorf("store_error = %d; want %d", got, tt.wantStoreEr)
			}
		})
	}
}

// TestSDKsReadReplayedStream: the official SDKs read a replayed stream as
// they read the live one.
func TestSDKsReadReplayedStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := aitest.DefaultReply.Text

	t.Run("openai", func(t *testing.T) {
		t.Parallel()
		rg := newRig(t, rigConfig{cache: `{"scope":"global"}`})
		c := oaisdk.NewClient(oaiopt.WithBaseURL(rg.URL+"/v1"), oaiopt.WithAPIKey("k"), oaiopt.WithMaxRetries(0))
		for i, includeUsage := range []bool{false, false, true, true} {
			params := oaisdk.ChatCompletionNewParams{Model: "smart", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hi")}}
			if includeUsage {
				params.StreamOptions = oaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: oaisdk.Bool(true)}
			}
			var raw *http.Response
			stream := c.Chat.Completions.NewStreaming(ctx, params, oaiopt.WithResponseInto(&raw))
			var acc oaisdk.ChatCompletionAccumulator
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("accumulator refused %s", stream.Current().RawJSON())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			rg.done(t)
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != want || acc.Choices[0].FinishReason != "stop" {
				t.Errorf("request %d: accumulated %+v", i, acc.Choices)
			}
			// The key holds the client's stream_options: asking for the
			// usage chunk is another request, whose replay has it.
			wantCache := []string{"miss", "hit", "miss", "hit"}[i]
			if includeUsage && acc.Usage.TotalTokens == 0 {
				t.Errorf("request %d asked for usage and got none", i)
			}
			if got := raw.Header.Get(HeaderCache); got != wantCache {
				t.Errorf("request %d: %s %q; want %q", i, HeaderCache, got, wantCache)
			}
		}
		if n := rg.upstreamCalls(); n != 2 {
			t.Errorf("upstream calls = %d; want 2", n)
		}
	})

	t.Run("anthropic", func(t *testing.T) {
		t.Parallel()
		for _, provider := range []string{"openai", "anthropic"} {
			rg := newRig(t, rigConfig{cache: `{"scope":"global"}`, anthropic: provider == "anthropic", route: t.Name() + provider})
			c := antsdk.NewClient(antopt.WithBaseURL(rg.URL), antopt.WithAPIKey("k"), antopt.WithMaxRetries(0))
			for i := range 2 {
				var raw *http.Response
				stream := c.Messages.NewStreaming(ctx, antsdk.MessageNewParams{Model: "smart", MaxTokens: 50,
					Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi"))}}, antopt.WithResponseInto(&raw))
				var msg antsdk.Message
				for stream.Next() {
					if err := msg.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				rg.done(t)
				if len(msg.Content) != 1 || msg.Content[0].Text != want || msg.StopReason != antsdk.StopReasonEndTurn {
					t.Errorf("%s request %d: message %s", provider, i, msg.RawJSON())
				}
				// Anthropic's usage travels in message_start and
				// message_delta, so a hit still shows the original's.
				if msg.Usage.OutputTokens != aitest.DefaultReply.Usage.Output {
					t.Errorf("%s request %d: usage %s", provider, i, msg.Usage.RawJSON())
				}
				if got, wantCache := raw.Header.Get(HeaderCache), []string{"miss", "hit"}[i]; got != wantCache {
					t.Errorf("%s request %d: %s %q; want %q", provider, i, HeaderCache, got, wantCache)
				}
			}
			if n := rg.upstreamCalls(); n != 1 {
				t.Errorf("%s: upstream calls = %d; want 1", provider, n)
			}
		}
	})
}

// TestMissIsNotBuffered: on a miss the client gets each event before the
// upstream sends the next one; only then is the stream stored.
func TestMissIsNotBuffered(t *testing.T) {
	t.Parallel()
	rg := newRig(t, rigConfig{cache: `{"scope":"global"}`})
	rg.up.SetReply(aitest.Reply{Text: "aaaaabbbbbccccc", ChunkSize: 5, Usage: aitest.DefaultReply.Usage})
	gate := rg.up.Step()

	// Cancelled first among the cleanups, so a failing test ends its
	// request instead of leaving the server's Close waiting on it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rg.URL+chatPath, strings.NewReader(chatStream))
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- result{resp, err}
	}()
	// The route holds the role chunk until the first content chunk.
	gate.Release(2)
	var res result
	select {
	case res = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers after the first content chunk")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				events <- line
			}
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("event not received before the upstream sent the next one: the stream is buffered")
			return ""
		}
	}
	if ev := next(); !strings.Contains(ev, `"role":"assistant"`) {
		t.Fatalf("first event %s; want the role chunk", ev)
	}
	for _, piece := range []string{"aaaaa", "bbbbb", "ccccc"} {
		if ev := next(); !strings.Contains(ev, `"content":"`+piece+`"`) {
			t.Fatalf("event %s; want content %q", ev, piece)
		}
		gate.Release(1) // only now may the upstream send the next event
	}
	gate.Release(10) // finish, usage, [DONE]
	for ev := range events {
		_ = ev
	}
	rg.done(t)
	if r := rg.do(t, chatPath, chatStream); r.cache() != "hit" || !bytes.Contains(r.body, []byte("data: [DONE]")) {
		t.Errorf("after the stepped stream: %s %q, body %s", HeaderCache, r.cache(), r.body)
	}
}

// flushLog records, at every flush, how much of the body was written.
type flushLog struct {
	*httptest.ResponseRecorder
	at []int
}

func (w *flushLog) Flush() {
	w.at = append(w.at, w.Body.Len())
	w.ResponseRecorder.Flush()
}

// TestHitReplaysEventByEvent: a stream hit is flushed after every event,
// not written in one piece.
func TestHitReplaysEventByEvent(t *testing.T) {
	t.Parallel()
	rg := newRig(t, rigConfig{cache: `{"scope":"global"}`})
	first := rg.do(t, chatPath, chatStream)
	events := sseEvents(first.body)
	if len(events) < 5 {
		t.Fatalf("stream has %d events: %s", len(events), first.body)
	}

	r := httptest.NewRequest(http.MethodPost, chatPath, strings.NewReader(chatStream))
	x := &plugin.Exchange{Route: rg.route}
	r = r.WithContext(plugin.WithExchange(r.Context(), x))
	w := &flushLog{ResponseRecorder: httptest.NewRecorder()}
	if err := rg.chain.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	if x.AI.Cache != "hit" {
		t.Fatalf("AI.Cache = %q; want hit", x.AI.Cache)
	}
	want, n := []int{}, 0
	for _, ev := range events {
		n += len(ev)
		want = append(want, n)
	}
	if len(w.at) != len(want) {
		t.Fatalf("flushed at %v; want after each event, at %v", w.at, want)
	}
	for i := range want {
		if w.at[i] != want[i] {
			t.Errorf("flush %d at byte %d; want %d", i, w.at[i], want[i])
		}
	}
	if w.Header().Get("X-Accel-Buffering") != "no" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("stream hit headers = %v", w.Header())
	}
}

// TestTTL: an entry is served until its TTL passes, with its Age.
func TestTTL(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	rg := newRig(t, rigConfig{cache: `{"ttl":"1h","scope":"global"}`, opt: options{now: clock}})
	rg.do(t, chatPath, chatBody)
	now.Add(int64(59 * time.Minute))
	r := rg.do(t, chatPath, chatBody)
	if r.cache() != "hit" || r.resp.Header.Get("Age") != "3540" {
		t.Errorf("after 59m: %s %q, Age %q; want hit, 3540", HeaderCache, r.cache(), r.resp.Header.Get("Age"))
	}
	now.Add(int64(time.Minute))
	if r := rg.do(t, chatPath, chatBody); r.cache() != "miss" {
		t.Errorf("after 1h: %s %q; want miss", HeaderCache, r.cache())
	}
	if n := rg.upstreamCalls(); n != 2 {
		t.Errorf("upstream calls = %d; want 2", n)
	}
}

// TestNotCached: what never reaches the cache.
func TestNotCached(t *testing.T) {
	t.Parallel()
	rg := newRig(t, rigConfig{cache: `{"scope":"global"}`})
	req, _ := http.NewRequest(http.MethodGet, rg.URL+"/v1/models", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	x := rg.done(t)
	if resp.StatusCode != 200 || resp.Header.Get(HeaderCache) != "" || x.AI.Cache != "" {
		t.Errorf("models: status %d, %s %q, AI.Cache %q; want 200 and no cache", resp.StatusCode, HeaderCache, resp.Header.Get(HeaderCache), x.AI.Cache)
	}

	// Not an ai route: passed through untouched.
	env := plugintest.Env(t, Kind, "")
	h := plugintest.Build(t, Kind, env, `{}`, nil)
	res := plugintest.Serve(h, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody)))
	if res.Code != 200 || res.Body.String() != "ok" || res.Header().Get(HeaderCache) != "" || res.Err != nil {
		t.Errorf("without Exchange.AI: %d %q %v", res.Code, res.Body, res.Err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		config string
		want   string // substring of the error; "" for none
	}{
		{`{}`, ""},
		{`{"store":"memory","ttl":"30m","max_entries":5,"max_body":"64KiB","max_memory":"1GiB","scope":"global"}`, ""},
		{`{"store":"redis","ttl":60,"key_prefix":"x:"}`, ""},
		{`{"store":"disk"}`, `store: "disk" is not memory or redis`},
		{`{"ttl":"0s"}`, "ttl: 0s is out of range"},
		{`{"ttl":"721h"}`, "ttl: 721h0m0s is out of range"},
		{`{"ttl":"soon"}`, `ttl: "soon" is not a duration`},
		{`{"max_entries":0}`, "max_entries: must be from 1"},
		{`{"max_body":"huge"}`, `max_body: "huge" is not a size`},
		{`{"max_body":"65MiB"}`, "max_body: must be from 1 to 67108864 bytes"},
		{`{"max_body":"2MiB","max_memory":"1MiB"}`, "max_memory: must be at least max_body"},
		{`{"scope":"ip"}`, `scope: "ip" is not consumer or global`},
		{`{"key_prefix":"` + strings.Repeat("k", 257) + `"}`, "key_prefix: must be at most 256 bytes"},
		{`{"bypass_header":"X"}`, `unknown field "bypass_header"`},
	}
	for _, tt := range tests {
		err := Kind.Check([]byte(tt.config))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%s) = %v; want nil", tt.config, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%s) = %v; want %q", tt.config, err, tt.want)
		}
	}

	// Built on a route without an ai block: refused. As a global plugin:
	// fine, it passes non-AI requests through.
	env := plugintest.Env(t, Kind, "web")
	if _, err := Kind.Build(env, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), `route "web" has no ai block`) {
		t.Errorf("Build on a plain route = %v", err)
	}
	env.AIRoute = true
	if _, err := Kind.Build(env, []byte(`{}`)); err != nil {
		t.Errorf("Build on an ai route = %v", err)
	}
	if _, err := Kind.Build(plugin.Env{}, []byte(`{}`)); err != nil {
		t.Errorf("Build as a global plugin = %v", err)
	}
	if _, err := Kind.Build(env, []byte(`{"store":"redis"}`)); err == nil || !strings.Contains(err.Error(), "top-level redis block") {
		t.Errorf("Build with store redis and no redis block = %v", err)
	}
}

// TestMemorySurvivesReload: a new generation's instance finds the old
// one's entries; the store goes when the last instance is released.
func TestMemorySurvivesReload(t *testing.T) {
	t.Parallel()
	var closers []func() error
	env := plugin.Env{Route: t.Name(), AIRoute: true, OnClose: func(f func() error) { closers = append(closers, f) }}
	old := mustBuild(t, env, `{}`, options{})
	k := key{1}
	old.store.put(k, &entry{parts: [][]byte{[]byte("{}")}}, time.Now(), time.Hour, func(error) {})
	cur := mustBuild(t, env, `{}`, options{})
	if e, _ := cur.store.get(context.Background(), k, time.Now()); e == nil {
		t.Error("the new generation lost the cache")
	}
	other := mustBuild(t, env, `{"max_entries":5}`, options{})
	if e, _ := other.store.get(context.Background(), k, time.Now()); e != nil {
		t.Error("a store with other bounds shares entries")
	}
	for _, f := range closers {
		f()
	}
	mems.Lock()
	for mk := range mems.m {
		if mk.route == t.Name() {
			t.Errorf("store %+v kept after every instance was released", mk)
		}
	}
	mems.Unlock()
}

func TestRecorderPassesFlushThrough(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := &recorder{ResponseWriter: rec, max: 4}
	if w.Unwrap() != rec {
		t.Error("Unwrap did not return the underlying writer")
	}
	w.Write([]byte("ab"))
	if err := http.NewResponseController(w).Flush(); err != nil || !rec.Flushed {
		t.Errorf("Flush through the controller: %v, flushed %v", err, rec.Flushed)
	}
	w.Write([]byte("cde"))
	if !w.over || w.buf != nil || rec.Body.String() != "abcde" {
		t.Errorf("over max: over %v, buf %q, client got %q", w.over, w.buf, rec.Body)
	}
}
