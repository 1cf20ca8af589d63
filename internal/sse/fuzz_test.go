package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// reference is a direct, slow transcription of the standard's algorithm:
// split all input into lines first, then process them. FuzzReader checks
// the Reader against it.
func reference(in []byte) (events []ev, cut bool) {
	in = bytes.TrimPrefix(in, bom)
	var lines [][]byte
	for len(in) > 0 {
		i := indexEOL(in)
		if i < 0 {
			lines = append(lines, in)
			cut = true
			break
		}
		lines = append(lines, in[:i])
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
	}
	var data, typ []byte
	var hasData, pending bool
	var cur ev
	for _, l := range lines {
		switch {
		case len(l) == 0:
			if hasData {
				cur.Data = string(data[:len(data)-1])
				cur.Type = string(typ)
				events = append(events, cur)
			}
			data, typ, hasData, pending, cur = nil, nil, false, false, ev{}
			continue
		case l[0] == ':':
			continue
		}
		name, value, found := bytes.Cut(l, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "data":
			data = append(append(data, value...), '\n')
			hasData, pending = true, true
		case "event":
			typ, pending = append([]byte(nil), value...), true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				cur.ID, cur.HasID, pending = string(value), true, true
			}
		case "retry":
			if n, ok := parseDigits(value); ok {
				cur.Retry, cur.HasRetry, pending = n, true, true
			}
		}
	}
	return events, cut || pending
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n",
		"event: x\r\ndata: 1\r\ndata: 2\r\n\r\n",
		"data: a\rdata: b\r\r",
		"\xEF\xBB\xBFid: 1\ndata\n\n: c\nretry: 10\ndata: z\n\n",
		"data: cut",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, cut := reference(in)
		for _, src := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			rd := NewReader(src, &Options{MaxLine: 1 << 16, MaxEvent: 1 << 16})
			got, err := readAll(rd)
			if errors.Is(err, ErrLineTooLong) || errors.Is(err, ErrEventTooLarge) {
				return
			}
			wantErr := io.EOF
			if cut {
				wantErr = io.ErrUnexpectedEOF
			}
			if err != wantErr {
				t.Fatalf("final error = %v; want %v", err, wantErr)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d events %+v; want %d %+v", len(got), got, len(want), want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("event %d = %+v; want %+v", i, got[i], want[i])
				}
			}
		}
		// Whatever was read must survive a write and a second read.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, e := range want {
			if strings.ContainsAny(e.Type, "\r\n") || strings.ContainsAny(e.ID, "\r\n") {
				continue
			}
			if err := w.WriteEvent(Event{Type: e.Type, Data: []byte(e.Data), ID: e.ID, HasID: e.HasID, Retry: e.Retry, HasRetry: e.HasRetry}); err != nil {
				t.Fatalf("WriteEvent(%+v) error = %v", e, err)
			}
		}
		rd := NewReader(&buf, nil)
		for _, e := range want {
			if strings.ContainsAny(e.Type, "\r\n") || strings.ContainsAny(e.ID, "\r\n") {
				continue
			}
			got, err := rd.Next()
			if err != nil || toEv(got) != e {
				t.Fatalf("round trip: got %+v, %v; want %+v", toEv(got), err, e)
			}
		}
	})
}
