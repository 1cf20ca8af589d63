package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/h1server"
	"github.com/sluicegw/sluice/internal/metrics"
)

// Server is the set of bound listeners: the proxy listeners and the status
// listener. Listeners are fixed for the life of the process; a reload that
// changes them is applied to routes and upstreams only (and says so).
type Server struct {
	log     *slog.Logger
	proxies []httpServer
	lns     []net.Listener
	status  *http.Server
	statusL net.Listener
}

// httpServer is what serves one proxy listener: net/http's server, or
// h1server's for plain HTTP/1.1 listeners.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Listen binds every listener of cfg. Nothing is served until Serve.
func Listen(cfg *config.Config, gw *Gateway, m *metrics.Metrics, log *slog.Logger) (*Server, error) {
	s := &Server{log: log}
	errLog := slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug)
	for i, lc := range cfg.Listeners {
		var srv httpServer
		var tc *tls.Config
		if lc.TLS == nil && !lc.HTTP2.H2C && lc.Server != "net/http" {
			h, reqCtx := gw.h1Handler(int64(lc.MaxRequestBody), lc.BodyIdleTimeout.D())
			srv = &h1server.Server{
				Handler:           h,
				RequestContext:    reqCtx,
				WriteIdleTimeout:  lc.BodyIdleTimeout.D(),
				ReadHeaderTimeout: lc.ReadHeaderTimeout.D(),
				IdleTimeout:       lc.IdleTimeout.D(),
				MaxHeaderBytes:    int(lc.MaxHeaderBytes),
				ErrorLog:          log.With("component", "http"),
			}
		} else {
			std, err := newServer(lc, gw)
			if err != nil {
				s.closeListeners()
				return nil, fmt.Errorf("listeners[%d] (%s): %w", i, lc.Addr, err)
			}
			std.ErrorLog = errLog
			srv, tc = std, std.TLSConfig
		}
		ln, err := net.Listen("tcp", lc.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("listeners[%d]: %w", i, err)
		}
		if tc != nil {
			ln = tls.NewListener(ln, tc)
		}
		s.proxies = append(s.proxies, srv)
		s.lns = append(s.lns, ln)
	}
	if cfg.Status.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Status.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("status.addr: %w", err)
		}
		s.statusL = ln
		s.status = &http.Server{
			Handler:           statusHandler(gw, m, cfg.Status.Pprof),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          errLog,
		}
	}
	return s, nil
}

func newServer(lc config.Listener, gw *Gateway) (*http.Server, error) {
	srv := &http.Server{
		Handler:           gw.Handler(int64(lc.MaxRequestBody), lc.BodyIdleTimeout.D()),
		ReadHeaderTimeout: lc.ReadHeaderTimeout.D(),
		IdleTimeout:       lc.IdleTimeout.D(),
		MaxHeaderBytes:    int(lc.MaxHeaderBytes),
		// No ReadTimeout or WriteTimeout: they would cut long streams. Bodies
		// are guarded by progress deadlines (body_idle_timeout) instead.
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: lc.HTTP2.MaxConcurrentStreams},
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if lc.TLS != nil {
		tc, err := serverTLS(lc.TLS)
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = tc
		protos.SetHTTP2(true)
	}
	if lc.HTTP2.H2C {
		protos.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = protos
	return srv, nil
}

func serverTLS(c *config.ListenerTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	for i, cf := range c.Certificates {
		cert, err := tls.LoadX509KeyPair(cf.Cert, cf.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.certificates[%d]: %w", i, err)
		}
		tc.Certificates = append(tc.Certificates, cert)
	}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca: %s holds no PEM certificate", c.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		if c.ClientAuth == "verify_if_given" {
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return tc, nil
}

func statusHandler(gw *Gateway, m *metrics.Metrics, profile bool) http.Handler {
	mux := http.NewServeMux()
	if profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !gw.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"not ready"}` + "\n"))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	return mux
}

// Addrs returns the bound proxy addresses, in config order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// StatusAddr returns the bound status address, or nil when disabled.
func (s *Server) StatusAddr() net.Addr {
	if s.statusL == nil {
		return nil
	}
	return s.statusL.Addr()
}

// Serve serves every listener until Shutdown. It returns the first error
// other than http.ErrServerClosed.
func (s *Server) Serve() error {
	var wg sync.WaitGroup
	errc := make(chan error, len(s.proxies)+1)
	serve := func(srv httpServer, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving %s: %w", ln.Addr(), err)
		}
	}
	for i, srv := range s.proxies {
		wg.Add(1)
		go serve(srv, s.lns[i])
	}
	if s.status != nil {
		wg.Add(1)
		go serve(s.status, s.statusL)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then closes what is left. The status listener goes last so /readyz keeps
// answering (not ready) while requests drain.
func (s *Server) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, srv := range s.proxies {
		wg.Add(1)
		go func(srv httpServer) {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(srv)
	}
	wg.Wait()
	if s.status != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.status.Shutdown(sctx)
	}
	return first
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
	if s.statusL != nil {
		s.statusL.Close()
	}
}
