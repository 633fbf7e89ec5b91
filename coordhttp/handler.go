// Package coordhttp is a coordinator's HTTP face for operators: Prometheus
// metrics (/metrics, names prefixed lanlobby_), liveness and readiness
// probes (/healthz, /readyz), and a live status page (/) showing the
// lobbies, their members with round-trip time and state, and a picture of
// the network, updated by server-sent events (/events). The page's script
// and stylesheet are embedded in the binary: it works on a LAN with no
// internet.
//
// It reads the coordinator through lobby.Server's read-only view (Metrics,
// Snapshot, Version) and changes nothing. The lanlobby daemon serves it on
// 127.0.0.1:7680 by default, so nothing is exposed unless asked:
//
//	h := coordhttp.NewHandler(coord.Server(), coordhttp.Config{})
//	hs, err := coordhttp.Start(ctx, "127.0.0.1:7680", h)
package coordhttp

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lanlobby/lanlobby/lobby"
)

// Defaults of Config.
const (
	// DefaultAddr is where the daemon serves HTTP: loopback only, so a
	// daemon exposes nothing until its operator asks.
	DefaultAddr = "127.0.0.1:7680"
	// DefaultMaxLobbies bounds the lobbies one status update carries; the
	// rest are counted.
	DefaultMaxLobbies = 500
	// DefaultPoll is how often an event stream checks whether the
	// coordinator's state moved (an atomic load, free): a change reaches
	// the page within about this long.
	DefaultPoll = 100 * time.Millisecond
	// DefaultRefresh is how often an event stream sends a fresh snapshot
	// even when nothing moved, so round-trip times stay current.
	DefaultRefresh = 2 * time.Second
	// DefaultMaxStreams bounds the event streams open at once: each holds
	// a goroutine and takes snapshots.
	DefaultMaxStreams = 32
)

// Config tunes the handler. Zero fields take the defaults above.
type Config struct {
	MaxLobbies int           // lobbies per status update (default DefaultMaxLobbies)
	Poll       time.Duration // change check period of event streams (default DefaultPoll)
	Refresh    time.Duration // snapshot period without changes (default DefaultRefresh)
	MaxStreams int           // event streams at once (default DefaultMaxStreams); more get 503
	// Name labels the coordinator on the status page ("" : none).
	Name string
	// Logger receives warnings (nil: discarded).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxLobbies <= 0 {
		c.MaxLobbies = DefaultMaxLobbies
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Refresh <= 0 {
		c.Refresh = DefaultRefresh
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

//go:embed assets
var assets embed.FS

// NewHandler returns the HTTP handler for srv: /metrics, /healthz,
// /readyz, /api/status (one snapshot as JSON), /events (the snapshot
// stream) and / (the status page).
func NewHandler(srv *lobby.Server, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(srv), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st := &status{srv: srv, cfg: cfg, streams: make(chan struct{}, cfg.MaxStreams)}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogLogger{cfg.Logger}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Alive: the state goroutine answers.
		ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
		defer cancel()
		if _, err := srv.Snapshot(ctx, 0); err != nil {
			http.Error(w, "coordinator not answering: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !srv.Serving() {
			http.Error(w, "coordinator not accepting connections", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /api/status", st.serveJSON)
	mux.HandleFunc("GET /events", st.serveEvents)
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	return mux
}

// slogLogger adapts a slog.Logger to promhttp's Println logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Println(v ...any) { s.l.Warn("metrics", "err", v) }
