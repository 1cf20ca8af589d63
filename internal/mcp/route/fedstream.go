package route

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/plugin"
)

// fedGet opens the session's server-to-client stream: every member's GET
// stream merged into one. A GET with Last-Event-ID resumes the one
// member's stream that the id names (event ids carry their member).
func (h *Handler) fedGet(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	if st.sess == nil {
		return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
			Public: "GET opens a session's stream: send Mcp-Session-Id", Header: http.Header{"Allow": {"GET, POST, DELETE"}}}
	}
	legs := h.legs(st)
	var resume string
	if last := r.Header.Get("Last-Event-Id"); last != "" {
		server, id, ok := strings.Cut(last, ":")
		m := h.member(server)
		if !ok || m == nil {
			return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "Last-Event-ID names no stream of this endpoint"}
		}
		leg, ok := h.legOf(st, m)
		if !ok {
			return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession, Public: "Last-Event-ID names a server outside this session"}
		}
		legs, resume = []fanLeg{{m, leg}}, id
	}
	var calls []*legCall
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, l := range legs {
		if l.leg == nil || l.leg.Upstream == "" {
			continue // a server without sessions has no stream to give
		}
		wg.Go(func() {
			c, err := h.send(r, l.m, l.leg, nil, func(hd http.Header) {
				hd.Del("Last-Event-Id")
				if resume != "" {
					hd.Set("Last-Event-Id", resume)
				}
			})
			if err != nil {
				h.log.Warn("mcp server's stream did not open", "mcp_server", l.m.name, "error", err)
				return
			}
			if resume == "" && (c.resp.StatusCode != http.StatusOK || !strings.HasPrefix(c.resp.Header.Get("Content-Type"), "text/event-stream")) {
				c.close() // 405: the server sends nothing unasked
				return
			}
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	if resume != "" && len(calls) == 1 && calls[0].resp.StatusCode != http.StatusOK {
		// The server's refusal of a resumption (409 while it still holds
		// the stream, 404 for an unknown event id) is the client's to see.
		c := calls[0]
		defer c.close()
		copyHeaders(w.Header(), c.resp.Header, responseHeaders)
		w.WriteHeader(c.resp.StatusCode)
		_, err := io.Copy(w, io.LimitReader(c.resp.Body, 64<<10))
		return err
	}
	if len(calls) == 0 {
		return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
			Public: "no server of this endpoint offers a stream", Header: http.Header{"Allow": {"GET, POST, DELETE"}}}
	}
	return h.fedStream(w, r, st, x, calls)
}

// fedMerge sends a request to several members and merges their streams:
// 2026's subscriptions/listen, whose answer is a stream that stays open.
func (h *Handler) fedMerge(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange, legs []fanLeg, body []byte) error {
	var calls []*legCall
	for _, l := range legs {
		c, err := h.send(r, l.m, l.leg, body, nil)
		if err != nil {
			h.log.Warn("mcp server left out of a merged stream", "method", st.msg.Method, "mcp_server", l.m.name, "error", err)
			continue
		}
		if c.resp.StatusCode != http.StatusOK || !strings.HasPrefix(c.resp.Header.Get("Content-Type"), "text/event-stream") {
			h.log.Warn("mcp server left out of a merged stream", "method", st.msg.Method, "mcp_server", l.m.name, "status", c.resp.StatusCode)
			c.close()
			continue
		}
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return rpcError(w, st, message.CodeUnavailable, "no MCP server of this route opened %s", st.msg.Method)
	}
	return h.fedStream(w, r, st, x, calls)
}

// fedStream relays the event streams of calls to the client as one,
// event by event, with keep-alives. It owns the calls and closes them.
func (h *Handler) fedStream(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange, calls []*legCall) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Del("Content-Length")
	if hdr.Get("Cache-Control") == "" {
		hdr.Set("Cache-Control", "no-cache")
	}
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := newKeepAlive(w, h.cfg.KeepAlive)
	defer out.stop()
	if err := out.flush(); err != nil {
		for _, c := range calls {
			c.close()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	events := make(chan []byte)
	ended := make(chan error, len(calls))
	var wg sync.WaitGroup
	var ackOnce sync.Once
	for _, c := range calls {
		wg.Go(func() {
			fr := newFramer(c.resp.Body, int(h.cfg.MaxBody)+4096)
			for {
				raw, data, err := fr.next()
				if err != nil {
					if err == io.EOF {
						err = nil
					}
					ended <- err
					return
				}
				ev := h.fedEvent(c.m.name, raw, data, st, x, len(calls) > 1, &ackOnce)
				if ev == nil {
					continue
				}
				select {
				case events <- ev:
				case <-ctx.Done():
					ended <- nil
					return
				}
			}
		})
	}
	defer func() {
		cancel()
		for _, c := range calls {
			c.close() // unblocks readers
		}
		wg.Wait()
	}()
	var cutErr error
	for done := 0; done < len(calls); {
		select {
		case ev := <-events:
			if err := out.write(ev); err != nil {
				return nil // the client left; the request context cancels upstream
			}
		case err := <-ended:
			done++
			if err != nil && r.Context().Err() == nil {
				h.log.Warn("mcp server's stream broke", "error", err)
				cutErr = err
			}
		}
	}
	if cutErr != nil && len(calls) == 1 {
		cancel()
		for _, c := range calls {
			c.close()
		}
		wg.Wait()
		return h.cut(x, cutErr)
	}
	return nil
}

// fedEvent rewrites one event from a member for the client and returns a
// copy of it, or nil to drop it. Event ids take the member's name, so a
// client's Last-Event-ID says which member to resume. In a merged stream
// only the first subscriptions acknowledgement passes: the client made
// one subscription.
func (h *Handler) fedEvent(server string, raw, data []byte, st *state, x *plugin.Exchange, merged bool, ackOnce *sync.Once) []byte {
	nd := data
	if data != nil {
		if merged && bytes.Contains(data, []byte("notifications/subscriptions/acknowledged")) {
			if m, err := message.Parse(data); err == nil && m.Method == "notifications/subscriptions/acknowledged" {
				first := false
				ackOnce.Do(func() { first = true })
				if !first {
					return nil
				}
			}
		}
		nd = h.fedMessage(server, data, st, x)
	}
	changed := !bytes.Equal(nd, data)
	var b []byte
	wrote := false
	for line := range bytes.Lines(raw) {
		c := bytes.TrimRight(line, "\r\n")
		if len(c) == 0 {
			continue
		}
		switch {
		case bytes.HasPrefix(c, []byte("id:")):
			id := bytes.TrimPrefix(bytes.TrimPrefix(c, []byte("id:")), []byte(" "))
			b = append(append(append(b, "id: "...), server...), ':')
			b = append(append(b, id...), '\n')
			continue
		case changed && (bytes.HasPrefix(c, []byte("data:")) || string(c) == "data"):
			if !wrote {
				for part := range bytes.Lines(nd) {
					b = append(append(b, "data: "...), bytes.TrimRight(part, "\n")...)
					b = append(b, '\n')
				}
				wrote = true
			}
			continue
		}
		b = append(append(b, c...), '\n')
	}
	return append(b, '\n')
}
