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

	ops       chan op
	greetings chan op       // hello, resume and restore: handled first
	loopDone  chan struct{} // closed when the state goroutine exits

	creds    credentials
	instance string // random per process start: tells a restart from a blip
	guesses  guesses
	lines    *tcpconn.Budget // partial request lines of every link

	// Owned by the state goroutine.
	scratch  []byte                 // encoders' buffer (exact)
	batching bool                   // a batch of ops is being handled (loop)
	corked   []*session             // links corked in this batch (out)
	members  map[string]*member     // by member id, after hello
	subs     *subTable              // live subscriptions (subscribe.go); nil until the first
	resvs    map[string]*time.Timer // reservation windows by reservation id (party.go)
	held     map[string]*heldSeats  // by lobby id: seats held for a restore
	heldGen  uint64

	sessMu   sync.Mutex // guards sessions, perIP and sources
	sessions map[*session]struct{}
	perIP    map[netip.Addr]*source
	sources  sourceHeap // perIP's values, heaviest first
	sessWG   sync.WaitGroup

	heartbeat *tcpconn.Heartbeat // pings every link; set by Serve

	serving   atomic.Bool
	closeOnce sync.Once
	closing   chan struct{}

	accepted  atomic.Int64
	rejected  atomic.Int64
	shedCount atomic.Int64
	slowCount atomic.Int64

	obs observer // counters, snapshot version, activity hook (observe.go)
}

// NewServer checks cfg and returns a server ready to Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if secret == nil {
		secret = NewSecret()
	}
	var lines *tcpconn.Budget
	if cfg.LineBudget > 0 {
		lines = tcpconn.NewBudget(int64(cfg.LineBudget))
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		reg: NewRegistry(RegistryConfig{MaxLobbiesPerMember: cfg.MaxLobbiesPerMember, NewID: cfg.NewLobbyID,
			TrackChanges: true, Now: cfg.Now}),
		names:     newNames(cfg.MaxNames, cfg.NameTTL, cfg.Now),
		creds:     newCredentials(secret),
		instance:  RandomID(),
		lines:     lines,
		ops:       make(chan op, DefaultOpQueue),
		greetings: make(chan op, DefaultOpQueue),
		loopDone:  make(chan struct{}),
		members:   make(map[string]*member),
		held:      make(map[string]*heldSeats),
		sessions:  make(map[*session]struct{}),
		perIP:     make(map[netip.Addr]*source),
		closing:   make(chan struct{}),
	}, nil
}

// Instance is this coordinator's instance identity, random per NewServer:
// hello replies carry it so that clients tell a restart from a blip.
func (s *Server) Instance() string { return s.instance }

// Config returns the server's effective configuration.
func (s *Server) Config() ServerConfig { return s.cfg }

// ListenAndServe listens on addr (":7600" when empty) and serves until ctx
// ends or Close is called.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":" + strconv.Itoa(DefaultPort)
	}
	ln, err := Listen(ctx, addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen opens a coordinator's TCP listener, with TCP keep-alives off on
// the connections it accepts (the heartbeat watches them; package net
// would otherwise spend system calls on every accept setting them up).
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
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
	// (Package net sets TCP_NODELAY on every TCP connection already.)
	if tc, ok := nc.(*net.TCPConn); ok && s.cfg.SocketBuffer > 0 {
		tc.SetWriteBuffer(s.cfg.SocketBuffer)
	}
	sess := &session{srv: s}
	sess.ip, sess.local = addrOf(nc.RemoteAddr()), addrOf(nc.LocalAddr())
	sess.conn = tcpconn.New(nc, tcpconn.Config{
		MaxLineLength:         s.cfg.MaxLineLength,
		SendQueue:             s.cfg.SendQueue,
		MaxPendingBytes:       s.cfg.MaxPendingBytes,
		LineBudget:            s.lines,
		WriteTimeout:          s.cfg.WriteTimeout,
		Heartbeat:             s.heartbeat,
		ReadBuffer:            serverReadBuffer,
		ReleaseIdleReadBuffer: true,
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
	limit, over := s.overLimitLocked(sess.ip)
	var shed *session
	if over != "" && s.perIPRoomLocked(sess.ip) {
		// At the cap: an idle connection that holds no lobby, from the
		// heaviest source, makes room before anyone is refused.
		if shed = s.pickShedLocked(); shed != nil {
			s.forgetLocked(shed)
			shed.shed = true
			over = ""
		}
	}
	if over != "" {
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
	s.addLocked(sess)
	s.sessWG.Add(1)
	s.sessMu.Unlock()
	if shed != nil {
		s.shedCount.Add(1)
		s.log.Info("connection shed at the cap to admit a new one", "shed", shed.ip, "admitted", sess.ip)
		shed.conn.Send(encodeError(nil, errorf(CodeTooManyConnections, "the coordinator is at its maximum of %d connections; idle connections without a lobby are closed first", s.cfg.MaxConns)))
		shed.conn.Close(tcpconn.ReasonShutdown)
	}
	sess.bucket = newTokenBucket(s.cfg.RequestRate, s.cfg.RequestBurst)
	sess.helloTimer.Store(time.AfterFunc(s.cfg.HelloTimeout, func() {
		if !sess.helloDone.Load() {
			s.obs.refuse(LimitHelloTimeout)
			sess.conn.Send(encodeError(nil, errorf(CodeHelloRequired, "no hello within %v", s.cfg.HelloTimeout)))
			sess.conn.CloseAfterFlush(tcpconn.ReasonTimeout)
		}
	}))
	sess.conn.Start(sess)
}

// overLimitLocked says which connection limit a new connection from ip
// would break, and how, or "".
func (s *Server) overLimitLocked(ip netip.Addr) (Limit, string) {
	if s.cfg.MaxConns > 0 && len(s.sessions) >= s.cfg.MaxConns {
		return LimitMaxConns, fmt.Sprintf("the coordinator has its maximum of %d connections", s.cfg.MaxConns)
	}
	if !s.perIPRoomLocked(ip) {
		return LimitMaxConnsPerIP, fmt.Sprintf("%d connections from %v already", s.cfg.MaxConnsPerIP, ip)
	}
	return 0, ""
}

// perIPRoomLocked reports whether ip may open one more connection.
func (s *Server) perIPRoomLocked(ip netip.Addr) bool {
	src := s.perIP[ip]
	return s.cfg.MaxConnsPerIP <= 0 || src == nil || src.n < s.cfg.MaxConnsPerIP
}

// Stats is a snapshot of the coordinator's load and of what its limits
// did. Counters count since start; the metrics endpoint reads them.
type Stats struct {
	Connections int // open links, with or without hello
	Members     int // members (links that completed hello), away ones included
	Away        int // members waiting to resume
	Held        int // seats held for members restoring after a restart
	Lobbies     int
	Accepted    int64 // connections accepted since start
	Rejected    int64 // connections refused by MaxConns / MaxConnsPerIP
	// Shed counts idle connections without a lobby closed at the
	// connection cap to admit a new one.
	Shed int64
	// SlowConsumers counts members cut because their outbound backlog
	// passed SendQueue frames or MaxPendingBytes, or a write blocked.
	SlowConsumers int64
	// LineBytes is the memory held now by request lines still arriving,
	// and LineEvictions the connections closed to bring it under
	// LineBudget.
	LineBytes     int64
	LineEvictions int64
	// TokenFailures counts resume and restore attempts with a wrong token
	// for a member id; CredentialFailures restores of a seat or of
	// ownership without a valid credential. Both are logged, at most once
	// a second.
	TokenFailures      int64
	CredentialFailures int64
	// Instance is the coordinator's instance identity (see Instance).
	Instance string
}

// Stats asks the state goroutine for a snapshot.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	st, err := onLoop(ctx, s, true, func() Stats {
		st := Stats{Members: len(s.members), Lobbies: s.reg.Len(), Held: s.heldCount()}
		for _, m := range s.members {
			if m.sess == nil {
				st.Away++
			}
		}
		return st
	})
	if err != nil {
		return Stats{}, err
	}
	s.sessMu.Lock()
	st.Connections = len(s.sessions)
	s.sessMu.Unlock()
	st.Accepted = s.accepted.Load()
	st.Rejected = s.rejected.Load()
	st.Shed = s.shedCount.Load()
	st.SlowConsumers = s.slowCount.Load()
	if s.lines != nil {
		st.LineBytes, st.LineEvictions = s.lines.Used(), s.lines.Evicted()
	}
	st.TokenFailures, st.CredentialFailures = s.guesses.tokens.Load(), s.guesses.creds.Load()
	st.Instance = s.instance
	return st, nil
}

// addrOf is the IP address of a connection's end, unmapped (invalid when
// it has none).
func addrOf(a net.Addr) netip.Addr {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
