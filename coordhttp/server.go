package coordhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the HTTP server: operators' browsers and scrapers, never
// players, so small and strict.
const (
	readHeaderTimeout = 5 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = time.Second
)

// Server is a running HTTP endpoint (Start).
type Server struct {
	hs     *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Serve's result, set before done closes
	once   sync.Once
}

// Start listens on addr and serves h until ctx ends or Close. A port held
// by another program fails at once with an error wrapping
// syscall.EADDRINUSE.
func Start(ctx context.Context, addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("coordhttp: cannot listen on %s: %w", addr, err)
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{ln: ln, cancel: cancel, done: make(chan struct{}),
		hs: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, MaxHeaderBytes: maxHeaderBytes,
			BaseContext: func(net.Listener) context.Context { return base }}}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Close stops the server: event streams end at once, other requests get
// a moment to finish. It waits and is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel() // ends the event streams, which Shutdown would wait for
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.hs.Shutdown(ctx); err != nil {
			s.hs.Close()
		}
	})
	<-s.done
	return s.err
}
