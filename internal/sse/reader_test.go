package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// ev is an Event in a comparable form for tables.
type ev struct {
	Type, Data, ID string
	HasID          bool
	Retry          int64
	HasRetry       bool
	Comment        bool
}

func toEv(e Event) ev {
	return ev{Type: e.Type, Data: string(e.Data), ID: e.ID, HasID: e.HasID, Retry: e.Retry, HasRetry: e.HasRetry, Comment: e.Comment}
}

// readAll reads every event from rd, returning them and the final error.
func readAll(rd *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := rd.Next()
		if err != nil {
			return out, err
		}
		out = append(out, toEv(e))
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		comments bool
		want     []ev
		err      error // final error; nil means io.EOF
	}{
		{name: "empty", in: ""},
		{name: "one event", in: "data: hello\n\n", want: []ev{{Data: "hello"}}},
		{name: "no space after colon", in: "data:hello\n\n", want: []ev{{Data: "hello"}}},
		{name: "only one space stripped", in: "data:  two\n\n", want: []ev{{Data: " two"}}},
		{name: "multi-line data joined with LF", in: "data: a\ndata: b\ndata:\n\n", want: []ev{{Data: "a\nb\n"}}},
		{name: "empty data line dispatches an empty event", in: "data\n\n", want: []ev{{Data: ""}}},
		{name: "no data means no event", in: "event: ping\n\nid: 1\n\nretry: 10\n\n"},
		{name: "event type", in: "event: message_start\ndata: {}\n\n", want: []ev{{Type: "message_start", Data: "{}"}}},
		{name: "event type resets after dispatch", in: "event: a\ndata: 1\n\ndata: 2\n\n", want: []ev{{Type: "a", Data: "1"}, {Data: "2"}}},
		{name: "event type resets after empty event", in: "event: a\n\ndata: 2\n\n", want: []ev{{Data: "2"}}},
		{name: "id on its event only", in: "id: 7\ndata: a\n\ndata: b\n\n", want: []ev{{Data: "a", ID: "7", HasID: true}, {Data: "b"}}},
		{name: "empty id", in: "id\ndata: a\n\n", want: []ev{{Data: "a", ID: "", HasID: true}}},
		{name: "id with NULL ignored", in: "id: a\x00b\ndata: a\n\n", want: []ev{{Data: "a"}}},
		{name: "retry", in: "retry: 1500\ndata: a\n\n", want: []ev{{Data: "a", Retry: 1500, HasRetry: true}}},
		{name: "bad retry ignored", in: "retry: 15s\nretry:\nretry: -1\ndata: a\n\n", want: []ev{{Data: "a"}}},
		{name: "comments skipped", in: ": ping\ndata: a\n:\n\n", want: []ev{{Data: "a"}}},
		{name: "comments returned", in: ": ping\n\ndata: a\n:x\n\n", comments: true, want: []ev{{Comment: true, Data: " ping"}, {Comment: true, Data: "x"}, {Data: "a"}}},
		{name: "unknown fields ignored", in: "foo: bar\ndata: a\nDATA: b\n\n", want: []ev{{Data: "a"}}},
		{name: "field without colon", in: "data\ndata\n\n", want: []ev{{Data: "\n"}}},
		{name: "colon in value", in: "data: a:b: c\n\n", want: []ev{{Data: "a:b: c"}}},
		{name: "CRLF", in: "event: x\r\ndata: a\r\ndata: b\r\n\r\n", want: []ev{{Type: "x", Data: "a\nb"}}},
		{name: "CR", in: "data: a\rdata: b\r\r", want: []ev{{Data: "a\nb"}}},
		{name: "mixed endings", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []ev{{Data: "a\nb\nc"}}},
		{name: "CR CR is two lines", in: "data: a\r\rdata: b\n\n", want: []ev{{Data: "a"}, {Data: "b"}}},
		{name: "BOM stripped", in: "\xEF\xBB\xBFdata: a\n\n", want: []ev{{Data: "a"}}},
		{name: "second BOM kept", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n", want: nil},
		{name: "BOM only", in: "\xEF\xBB\xBF"},
		{name: "space before field name", in: " data: a\n\n"},
		{name: "UTF-8 data", in: "data: héllo ✓\n\n", want: []ev{{Data: "héllo ✓"}}},
		{name: "cut inside an event", in: "data: a\n\ndata: b\n", want: []ev{{Data: "a"}}, err: io.ErrUnexpectedEOF},
		{name: "cut inside a line", in: "data: a\n\ndata: b", want: []ev{{Data: "a"}}, err: io.ErrUnexpectedEOF},
		{name: "trailing comment is a clean end", in: "data: a\n\n: bye\n", want: []ev{{Data: "a"}}},
		{name: "openai stream", in: "data: {\"a\":1}\n\ndata: [DONE]\n\n", want: []ev{{Data: `{"a":1}`}, {Data: "[DONE]"}}},
		{name: "anthropic stream", in: "event: ping\ndata: {\"type\": \"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			want: []ev{{Type: "ping", Data: `{"type": "ping"}`}, {Type: "message_stop", Data: `{"type":"message_stop"}`}}},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				t.Parallel()
				rd := NewReader(mk(tt.in), &Options{Comments: tt.comments})
				got, err := readAll(rd)
				want := tt.err
				if want == nil {
					want = io.EOF
				}
				if err != want {
					t.Errorf("final error = %v; want %v", err, want)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestReaderLastEventID(t *testing.T) {
	t.Parallel()
	rd := NewReader(strings.NewReader("id: 1\ndata: a\n\ndata: b\n\nid: 2\n\n"), nil)
	for _, want := range []string{"1", "1"} {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
		if got := rd.LastEventID(); got != want {
			t.Errorf("LastEventID() = %q; want %q", got, want)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("Next() error = %v; want EOF", err)
	}
	if got := rd.LastEventID(); got != "2" {
		t.Errorf("LastEventID() = %q; want %q (set even without dispatch)", got, "2")
	}
}

func TestReaderLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		opts Options
		want []ev
		err  error
	}{
		{name: "line at limit", in: "data: 12345\n\n", opts: Options{MaxLine: 11}, want: []ev{{Data: "12345"}}},
		{name: "line over limit", in: "data: 123456\n\n", opts: Options{MaxLine: 11}, err: ErrLineTooLong},
		{name: "unterminated line over limit", in: "data: 1234567890", opts: Options{MaxLine: 11}, err: ErrLineTooLong},
		{name: "comment over limit", in: ":" + strings.Repeat("x", 64) + "\n", opts: Options{MaxLine: 32}, err: ErrLineTooLong},
		{name: "event at limit", in: "data: 12\ndata: 34\n\n", opts: Options{MaxEvent: 5}, want: []ev{{Data: "12\n34"}}},
		{name: "event over limit", in: "data: 12\ndata: 345\n\n", opts: Options{MaxEvent: 5}, err: ErrEventTooLarge},
		{name: "limit is per event", in: "data: 1234\n\ndata: 1234\n\n", opts: Options{MaxEvent: 4}, want: []ev{{Data: "1234"}, {Data: "1234"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rd := NewReader(iotest.HalfReader(strings.NewReader(tt.in)), &tt.opts)
			got, err := readAll(rd)
			want := tt.err
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("final error = %v; want %v", err, want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if _, again := rd.Next(); tt.err != nil && again != err {
				t.Errorf("second Next() error = %v; want the sticky %v", again, err)
			}
		})
	}
}

// TestReaderNoReadAhead checks that an event is returned as soon as its
// blank line arrives, without waiting for more input, whatever the line
// ending. Buffering here would delay every token of a stream.
func TestReaderNoReadAhead(t *testing.T) {
	t.Parallel()
	for _, eol := range []string{"\n", "\r", "\r\n"} {
		pr, pw := io.Pipe()
		rd := NewReader(pr, &Options{Comments: true})
		done := make(chan error, 1)
		go func() {
			for _, s := range []string{"data: a" + eol + eol, ":" + eol, "data: b" + eol + eol} {
				if _, err := pw.Write([]byte(s)); err != nil {
					done <- err
					return
				}
				// The pipe blocks until the reader consumed the write; the
				// next write happens only after the reader asked for more.
			}
			done <- pw.Close()
		}()
		for _, want := range []ev{{Data: "a"}, {Comment: true}, {Data: "b"}} {
			e, err := rd.Next()
			if err != nil {
				t.Fatalf("eol %q: Next() error = %v", eol, err)
			}
			if got := toEv(e); got != want {
				t.Errorf("eol %q: Next() = %+v; want %+v", eol, got, want)
			}
		}
		if _, err := rd.Next(); err != io.EOF {
			t.Errorf("eol %q: final error = %v; want EOF", eol, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderSourceError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	rd := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)), nil)
	got, err := readAll(rd)
	if err != boom {
		t.Errorf("final error = %v; want %v", err, boom)
	}
	if diff := cmp.Diff([]ev{{Data: "a"}}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	t.Parallel()
	if _, err := NewReader(zeroReader{}, nil).Next(); err != io.ErrNoProgress {
		t.Errorf("Next() error = %v; want io.ErrNoProgress", err)
	}
}

func TestReaderLongLinesGrowBuffer(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100_000)
	in := "data: " + big + "\n\n" + "data: small\n\n"
	got, err := readAll(NewReader(iotest.HalfReader(strings.NewReader(in)), nil))
	if err != io.EOF {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Data != big || got[1].Data != "small" {
		t.Errorf("got %d events; want the big one then the small one", len(got))
	}
}

func TestReaderDataValidUntilNext(t *testing.T) {
	t.Parallel()
	rd := NewReader(strings.NewReader("data: first\n\ndata: second\n\n"), nil)
	e, _ := rd.Next()
	first := bytes.Clone(e.Data)
	if string(first) != "first" {
		t.Fatalf("Data = %q", first)
	}
	e2, _ := rd.Next()
	if string(e2.Data) != "second" {
		t.Fatalf("Data = %q", e2.Data)
	}
}
