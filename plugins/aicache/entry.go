package aicache

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// entry is one stored answer.
type entry struct {
	stream      bool
	storedAt    int64 // Unix seconds, for the Age header
	contentType string
	provider    string // X-Sluice-Provider of the answer
	model       string // X-Sluice-Model of the answer
	// parts is the body: one part for a JSON answer; for a stream, one
	// part per event, each in its wire form with the blank line that ends
	// it, written and flushed one by one on a hit.
	parts [][]byte
}

// size is what the entry costs the memory store, roughly.
func (e *entry) size() int64 {
	n := int64(128 + len(e.contentType) + len(e.provider) + len(e.model))
	for _, p := range e.parts {
		n += int64(24 + len(p))
	}
	return n
}

// entryVersion starts every encoded entry, so that a future layout is not
// misread from a Redis shared with an older gateway.
const entryVersion = 1

// encode returns e in its Redis form: the version, a flags byte (1:
// stream), the storing time, three length-prefixed strings and the
// length-prefixed parts.
func (e *entry) encode() []byte {
	n := 32 + len(e.contentType) + len(e.provider) + len(e.model)
	for _, p := range e.parts {
		n += binary.MaxVarintLen32 + len(p)
	}
	b := make([]byte, 0, n)
	var flags byte
	if e.stream {
		flags = 1
	}
	b = append(b, entryVersion, flags)
	b = binary.AppendVarint(b, e.storedAt)
	for _, s := range [...]string{e.contentType, e.provider, e.model} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.parts)))
	for _, p := range e.parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

var errCorrupt = errors.New("stored entry is corrupt or of another version")

// decodeEntry reads an encoded entry. Its parts alias b.
func decodeEntry(b []byte) (*entry, error) {
	if len(b) < 2 || b[0] != entryVersion || b[1] > 1 {
		return nil, errCorrupt
	}
	e := &entry{stream: b[1] == 1}
	b = b[2:]
	v, n := binary.Varint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	e.storedAt, b = v, b[n:]
	bytesOf := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		out := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		return out, true
	}
	for _, s := range [...]*string{&e.contentType, &e.provider, &e.model} {
		v, ok := bytesOf()
		if !ok {
			return nil, errCorrupt
		}
		*s = string(v)
	}
	count, n := binary.Uvarint(b)
	// Each part takes at least one byte, which bounds the allocation.
	if n <= 0 || count > uint64(len(b)-n) || count == 0 || !e.stream && count != 1 {
		return nil, errCorrupt
	}
	b = b[n:]
	e.parts = make([][]byte, 0, count)
	for range count {
		p, ok := bytesOf()
		if !ok {
			return nil, errCorrupt
		}
		e.parts = append(e.parts, p)
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}

// streamParts splits a stream the ai route wrote (one event per write,
// LF line ends, as its SSE writer does) into its events and reports
// whether the stream ended as the client's API ends a complete one:
// OpenAI with data: [DONE], Anthropic with event: message_stop.
//
// The stream is stored as the client got it: the cache key holds the
// client's own stream_options, so a client that asked for the usage chunk
// and one that did not never share an entry.
func streamParts(body []byte, api string) ([][]byte, bool) {
	var parts [][]byte
	for len(body) > 0 {
		i := bytes.Index(body, eventEnd)
		if i < 0 {
			return nil, false // a partial event
		}
		ev := body[: i+2 : i+2]
		body = body[i+2:]
		parts = append(parts, ev)
	}
	if len(parts) == 0 {
		return nil, false
	}
	typ, data := fields(parts[len(parts)-1])
	if api == "anthropic" {
		return parts, typ == "message_stop"
	}
	return parts, typ == "" && bytes.Equal(data, doneData)
}

var (
	eventEnd = []byte("\n\n")
	doneData = []byte("[DONE]")
)

// fields returns an event's type and its data lines joined with LF.
func fields(ev []byte) (typ string, data []byte) {
	n := 0
	for line := range bytes.SplitSeq(bytes.TrimSuffix(ev, eventEnd), []byte("\n")) {
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			typ = string(value)
		case "data":
			if n > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
			n++
		}
	}
	return typ, data
}
