package route

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFramer(t *testing.T) {
	in := "id: 1\ndata:\n\n: comment\n\nevent: message\r\ndata: {\"a\":1}\r\ndata: x\r\n\r\nretry: 500\n\ndata: cut"
	f := newFramer(strings.NewReader(in), 1<<10)
	var raws, datas []string
	for {
		raw, data, err := f.next()
		raws = append(raws, string(raw))
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("end: %v; want ErrUnexpectedEOF for the cut event", err)
			}
			break
		}
		datas = append(datas, string(data)+"|")
	}
	if got := strings.Join(raws, ""); got != in {
		t.Fatalf("raw events do not add up to the stream:\n%q\n%q", got, in)
	}
	want := []string{"|", "|", "{\"a\":1}\nx|", "|"}
	if strings.Join(datas, ",") != strings.Join(want, ",") {
		t.Fatalf("data = %q; want %q", datas, want)
	}
	if _, _, err := newFramer(strings.NewReader("data: "+strings.Repeat("a", 100)+"\n\n"), 50).next(); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("oversize event: %v", err)
	}
}

// FuzzFramer checks that framing never changes a byte: the events a
// stream is split into add up to the stream.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{"id: 1\ndata:\n\n", "data: a\r\rdata: b\r\n\r\n", ": ping\n\nevent: endpoint\ndata: /m?s=1\n\n", "data"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFramer(bytes.NewReader(in), 1<<20)
		var out []byte
		for {
			raw, _, err := fr.next()
			out = append(out, raw...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("framing changed the stream:\n%q\n%q", in, out)
		}
	})
}
