package lobby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// ServerName is what the coordinator calls itself in hello replies.
const ServerName = "lanlobby/0.1"

// ErrServerClosed is returned by Serve after Close or context cancellation.
var ErrServerClosed = errors.New("lobby: server closed")

// Server is a coordinator: it holds a persistent link to every member,
// applies lobby operations in one goroutine that owns all lobby state (no
// locks around the model), and pushes notices to the members of the lobby
// concerned only.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	reg   *Registry
	names *names // the name registry; its own lock

	ops      chan op
	loopDone chan struct{} // closed when the state goroutine exits

	// Owned by the state goroutine.
	members map[string]*member     // by member id, after hello
	subs    *subTable              // live subscriptions (subscribe.go); nil until the first
	resvs   map[string]*time.Timer // reservation windows by reservation id (party.go)

	sessMu   sync.Mutex // guards sessions and perIP
	sessions map[*session]struct{}
	perIP    map[netip.Addr]int
	sessWG   sync.WaitGroup

	heartbeat *tcpconn.Heartbeat // pings every link; set by Serve

	serving   atomic.Bool
	closeOnce sync.Once
	closing   chan struct{}

	accepted atomic.Int64
	rejected atomic.Int64

	obs observer // counters, snapshot version, activity hook (observe.go)
}

// NewServer checks cfg and returns a server ready to Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		reg: NewRegistry(RegistryConfig{MaxLobbiesPerMember: cfg.MaxLobbiesPerMember, NewID: cfg.NewLobbyID,
			TrackChanges: true, Now: cfg.Now}),
		names:    newNames(cfg.MaxNames, cfg.NameTTL, cfg.Now),
		ops:      make(chan op, DefaultOpQueue),
		loopDone: make(chan struct{}),
		members:  make(map[string]*member),
		sessions: make(map[*session]struct{}),
		perIP:    make(map[netip.Addr]int),
		closing:  make(chan struct{}),
	}, nil
}

// Config returns the server's effective configuration.
func (s *Server) Config() ServerConfig { return s.cfg }

// ListenAndServe listens on addr (":7600" when empty) and serves until ctx
// ends or Close is called.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":" + strconv.Itoa(DefaultPort)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends or Close is called, then
// closes every lobby (members get a closed notice with reason shutdown),
// closes every link and returns ErrServerClosed once all of its goroutines
// have stopped. A Server serves one listener, once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.serving.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("lobby: Serve called twice")
	}
	s.heartbeat = tcpconn.NewHeartbeat(s.cfg.HeartbeatInterval, s.cfg.HeartbeatInterval*time.Duration(s.cfg.HeartbeatMisses), encodePing)
	defer s.heartbeat.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.loop()
	}()
	stopAccept := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.closing:
		case <-stopAccept:
			return
		}
		ln.Close()
	}()
	s.log.Info("coordinator listening", "addr", ln.Addr().String())
	err := s.acceptLoop(ln)
	close(stopAccept)
	s.Close()
	wg.Wait()
	s.sessWG.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return ErrServerClosed
}

// Close stops the server: lobbies close with reason shutdown, links close
// after flushing that notice. It does not wait; Serve returns when done.
// Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, backing off", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.closing:
					return nil
				}
				continue
			}
			return err
		}
		backoff = 0
		s.accepted.Add(1)
		s.startSession(nc)
	}
}

// isTemporary reports accept errors worth retrying (out of file
// descriptors, aborted handshakes).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) startSession(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		if s.cfg.SocketBuffer > 0 {
			tc.SetWriteBuffer(s.cfg.SocketBuffer)
		}
	}
	sess := &session{srv: s}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		sess.ip = ap.Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(nc.LocalAddr().String()); err == nil {
		sess.local = ap.Addr().Unmap()
	}
	sess.conn = tcpconn.New(nc, tcpconn.Config{
		MaxLineLength: s.cfg.MaxLineLength,
		SendQueue:     s.cfg.SendQueue,
		WriteTimeout:  s.cfg.WriteTimeout,
		Heartbeat:     s.heartbeat,
		ReadBuffer:    serverReadBuffer,
		TooLongReply: func() []byte {
			s.obs.refuse(LimitLineLength)
			return encodeError(nil, errorf(CodeLineTooLong, "frame over %d bytes; closing", s.cfg.MaxLineLength))
		},
	})
	s.sessMu.Lock()
	select {
	case <-s.closing:
		s.sessMu.Unlock()
		nc.Close()
		return
	default:
	}
	if limit, over := s.overLimitLocked(sess.ip); over != "" {
		s.sessMu.Unlock()
		s.rejected.Add(1)
		s.obs.refuse(limit)
		s.log.Warn("connection refused", "remote", sess.ip, "limit", over)
		// The socket's send buffer is empty: this write does not block.
		nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		nc.Write(append(encodeError(nil, errorf(CodeTooManyConnections, "%s", over)), '\n'))
		nc.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.perIP[sess.ip]++
	s.sessWG.Add(1)
	s.sessMu.Unlock()
	sess.bucket = newTokenBucket(s.cfg.RequestRate, s.cfg.RequestBurst)
	sess.helloTimer = time.AfterFunc(s.cfg.HelloTimeout, func() {
		if !sess.helloDone.Load() {
			s.obs.refuse(LimitHelloTimeout)
			sess.conn.Send(encodeError(nil, errorf(CodeHelloRequired, "no hello within %v", s.cfg.HelloTimeout)))
			sess.conn.CloseAfterFlush(tcpconn.ReasonTimeout)
		}
	})
	sess.conn.Start(sess)
}

// overLimitLocked says which connection limit a new connection from ip
// would break, and how, or "".
func (s *Server) overLimitLocked(ip netip.Addr) (Limit, string) {
	if s.cfg.MaxConns > 0 && len(s.sessions) >= s.cfg.MaxConns {
		return LimitMaxConns, fmt.Sprintf("the coordinator has its maximum of %d connections", s.cfg.MaxConns)
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return LimitMaxConnsPerIP, fmt.Sprintf("%d connections from %v already", s.cfg.MaxConnsPerIP, ip)
	}
	return 0, ""
}

// Stats is a snapshot of the coordinator's load.
type Stats struct {
	Connections int // open links, with or without hello
	Members     int // members (links that completed hello), away ones included
	Away        int // members waiting to resume
	Lobbies     int
	Accepted    int64 // connections accepted since start
	Rejected    int64 // connections refused by MaxConns / MaxConnsPerIP
}

// Stats asks the state goroutine for a snapshot.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	reply := make(chan Stats, 1)
	if !s.submit(op{kind: opStats, stats: reply}) {
		return Stats{}, ErrServerClosed
	}
	select {
	case st := <-reply:
		s.sessMu.Lock()
		st.Connections = len(s.sessions)
		s.sessMu.Unlock()
		st.Accepted = s.accepted.Load()
		st.Rejected = s.rejected.Load()
		return st, nil
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	case <-s.loopDone:
		return Stats{}, ErrServerClosed
	}
}
