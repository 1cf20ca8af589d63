package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// upgrade tunnels a 101 Switching Protocols response (WebSocket and the
// like): the hijacked client connection and the upstream connection are
// copied into each other until either side closes.
func (p *Proxy) upgrade(w http.ResponseWriter, r *http.Request, resp *http.Response) error {
	// r.Header is the outbound header map: outRequest put Upgrade back.
	reqUp, respUp := r.Header.Get("Upgrade"), upgradeType(resp.Header)
	if !strings.EqualFold(reqUp, respUp) {
		return &plugin.Error{Status: http.StatusBadGateway, Code: "bad_upgrade",
			Public: "the upstream switched to a protocol the client did not ask for",
			Err:    fmt.Errorf("client asked for %q, upstream switched to %q", reqUp, respUp)}
	}
	backConn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return &plugin.Error{Status: http.StatusBadGateway, Code: "bad_upgrade",
			Public: "the upstream connection cannot be upgraded", Err: errors.New("101 response body is not writable")}
	}
	defer backConn.Close()

	rh := resp.Header
	removeHopHeaders(rh)
	wh := w.Header()
	for k, vs := range rh {
		wh[k] = vs
	}
	wh["Connection"] = []string{"Upgrade"}
	wh["Upgrade"] = []string{respUp}

	rc := http.NewResponseController(w)
	conn, brw, err := rc.Hijack()
	if err != nil {
		return &plugin.Error{Status: http.StatusInternalServerError, Code: "bad_upgrade",
			Public: "the connection cannot be upgraded", Err: fmt.Errorf("hijack: %w", err)}
	}
	defer conn.Close()
	// The server set deadlines for the request; a tunnel lives by its own.
	_ = conn.SetDeadline(time.Time{})

	resp.Body = nil // written below by hand
	if err := (&http.Response{StatusCode: http.StatusSwitchingProtocols, ProtoMajor: 1, ProtoMinor: 1, Header: wh}).Write(brw); err != nil {
		return nil
	}
	if err := brw.Flush(); err != nil {
		return nil
	}
	// Bytes the client already sent past the request are in brw's reader.
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(backConn, brw)
		errc <- err
	}()
	go func() {
		_, err := io.Copy(conn, backConn)
		errc <- err
	}()
	select {
	case <-errc:
	case <-r.Context().Done():
	}
	return nil
}
