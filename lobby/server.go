package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// ServerName is what the coordinator calls itself in hello replies.
const ServerName = "lanlobby/0.1"

// Server defaults.
const (
	DefaultPort              = 7600
	DefaultHeartbeatInterval = tcpconn.DefaultHeartbeatInterval
	DefaultHeartbeatMisses   = tcpconn.DefaultHeartbeatMisses
	// DefaultHelloTimeout is how long a new connection has to complete hello.
	DefaultHelloTimeout = 2 * time.Second
	// serverReadBuffer is each link's read buffer: requests and pongs are
	// short, and a coordinator holds thousands of mostly idle links.
	serverReadBuffer = 1024
	// DefaultResumeGrace is how long a dropped member may resume its seat.
	DefaultResumeGrace = 10 * time.Second
	// DefaultSocketBuffer is each connection's kernel send buffer.
	DefaultSocketBuffer = 64 * 1024
	// DefaultMaxConns caps open connections in total.
	DefaultMaxConns = 16384
	// DefaultMaxConnsPerIP caps open connections from one source address:
	// a LAN party has one or a few per machine.
	DefaultMaxConnsPerIP = 512
	// DefaultRequestRate and DefaultRequestBurst are each connection's
	// token bucket for requests (pongs are free): far above what a player
	// does, far below what a flood does.
	DefaultRequestRate  = 200
	DefaultRequestBurst = 400
	// DefaultOpQueue bounds requests waiting for the state goroutine; past
	// it, connection readers wait, which pushes back on the senders' TCP.
	DefaultOpQueue = 4096
)

// ErrServerClosed is returned by Serve after Close or context cancellation.
var ErrServerClosed = errors.New("lobby: server closed")

// ServerConfig tunes a coordinator. Zero fields take the documented defaults.
type ServerConfig struct {
	// HeartbeatInterval is the ping period (default 1 s).
	HeartbeatInterval time.Duration
	// HeartbeatMisses is how many intervals of silence drop a member with
	// reason timeout (default 3). A silent member is dropped within
	// HeartbeatInterval × (HeartbeatMisses + 1).
	HeartbeatMisses int
	// HelloTimeout is how long a connection may take to complete hello
	// (default 2 s).
	HelloTimeout time.Duration
	// WriteTimeout bounds one flush to a member (default 2 s); past it the
	// member is dropped as a slow consumer.
	WriteTimeout time.Duration
	// SendQueue is each member's outbound queue in messages (default 1024).
	SendQueue int
	// SocketBuffer is each connection's kernel send buffer in bytes
	// (default 64 KiB; negative: the system's default). Small enough that a
	// member that stops reading is noticed (its writes block, then the
	// write timeout cuts it) before megabytes pile up in the kernel, big
	// enough for any burst of notices a healthy member reads at once.
	SocketBuffer int
	// MaxLineLength is the largest request frame (default 64 KiB).
	MaxLineLength int
	// MaxLobbiesPerMember caps lobbies per connection (default 8).
	MaxLobbiesPerMember int
	// MaxConns caps open connections (default 16384; negative: no cap).
	// Past it a new connection gets a too_many_connections error and is
	// closed.
	MaxConns int
	// MaxConnsPerIP caps open connections from one source address
	// (default 512; negative: no cap).
	MaxConnsPerIP int
	// RequestRate is each connection's sustained requests per second and
	// RequestBurst its bucket size (defaults 200 and 400; a negative rate
	// means no limit). A request over the rate gets a rate_limited error
	// and is not carried out.
	RequestRate  float64
	RequestBurst int
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
	// ResumeGrace is how long a member whose link went silent or dropped
	// after a silence keeps its seat, waiting to resume (default 10 s: VR
	// headsets on Wi-Fi blip and sleep; negative: no grace). The others get
	// member_away at once, then member_back, or member_left when it passes.
	ResumeGrace time.Duration
	// KeepLobbiesOnShutdown makes Close drop the links without closing the
	// lobbies (no closed notices): clients then restore them on the next
	// instance at the same address, as after a crash. The daemon sets it, so
	// a restart (an upgrade) loses no lobby; a host's own coordinator does
	// not, since its lobby ends with it.
	KeepLobbiesOnShutdown bool
	// OnLobbyChange, when set, is called with a lobby's new state after
	// every change (created, joined, left, started, metadata, closed: State
	// StateClosed), in order, from the goroutine that owns lobby state. It
	// must not block; it is how a LAN advertiser follows the lobbies.
	OnLobbyChange func(Info)
	// NewLobbyID makes lobby ids (default RandomID); tests make them
	// predictable.
	NewLobbyID func() string
}

// DefaultServerConfig returns the defaults for a LAN coordinator.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		HeartbeatInterval:   DefaultHeartbeatInterval,
		HeartbeatMisses:     DefaultHeartbeatMisses,
		HelloTimeout:        DefaultHelloTimeout,
		WriteTimeout:        tcpconn.DefaultWriteTimeout,
		SendQueue:           tcpconn.DefaultSendQueue,
		SocketBuffer:        DefaultSocketBuffer,
		ResumeGrace:         DefaultResumeGrace,
		MaxLineLength:       tcpconn.DefaultMaxLineLength,
		MaxLobbiesPerMember: DefaultMaxLobbiesPerMember,
		MaxConns:            DefaultMaxConns,
		MaxConnsPerIP:       DefaultMaxConnsPerIP,
		RequestRate:         DefaultRequestRate,
		RequestBurst:        DefaultRequestBurst,
	}
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	d := DefaultServerConfig()
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.HeartbeatMisses == 0 {
		c.HeartbeatMisses = d.HeartbeatMisses
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = d.HelloTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = d.SocketBuffer
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = d.ResumeGrace
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = d.MaxLineLength
	}
	if c.MaxLobbiesPerMember == 0 {
		c.MaxLobbiesPerMember = d.MaxLobbiesPerMember
	}
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = d.MaxConnsPerIP
	}
	if c.RequestRate == 0 {
		c.RequestRate = d.RequestRate
	}
	if c.RequestBurst <= 0 {
		c.RequestBurst = max(d.RequestBurst, int(2*c.RequestRate))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case c.HeartbeatInterval < time.Millisecond:
		return c, fmt.Errorf("lobby: heartbeat interval %v is below 1ms", c.HeartbeatInterval)
	case c.HeartbeatMisses < 1:
		return c, fmt.Errorf("lobby: heartbeat misses %d must be at least 1", c.HeartbeatMisses)
	case c.HelloTimeout < 0 || c.WriteTimeout < 0 || c.SendQueue < 0 || c.MaxLineLength < 0:
		return c, errors.New("lobby: negative limit in server config")
	}
	return c, nil
}

// Server is a coordinator: it holds a persistent link to every member,
// applies lobby operations in one goroutine that owns all lobby state (no
// locks around the model), and pushes notices to the members of the lobby
// concerned only.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	reg *Registry

	ops      chan op
	loopDone chan struct{} // closed when the state goroutine exits

	// Owned by the state goroutine.
	members map[string]*member // by member id, after hello

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
	crashed  atomic.Bool
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
			TrackChanges: cfg.OnLobbyChange != nil}),
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
	if over := s.overLimitLocked(sess.ip); over != "" {
		s.sessMu.Unlock()
		s.rejected.Add(1)
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
			sess.conn.Send(encodeError(nil, errorf(CodeHelloRequired, "no hello within %v", s.cfg.HelloTimeout)))
			sess.conn.CloseAfterFlush(tcpconn.ReasonTimeout)
		}
	})
	sess.conn.Start(sess)
}

// overLimitLocked says which connection limit a new connection from ip
// would break, or "".
func (s *Server) overLimitLocked(ip netip.Addr) string {
	if s.cfg.MaxConns > 0 && len(s.sessions) >= s.cfg.MaxConns {
		return fmt.Sprintf("the coordinator has its maximum of %d connections", s.cfg.MaxConns)
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return fmt.Sprintf("%d connections from %v already", s.cfg.MaxConnsPerIP, ip)
	}
	return ""
}

// submit hands an op to the state goroutine; false when it has stopped.
func (s *Server) submit(o op) bool {
	select {
	case s.ops <- o:
		return true
	case <-s.loopDone:
		return false
	}
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

type opKind uint8

const (
	opRequest opKind = iota
	opClosed
	opStats
	opGraceExpired
	opInspect
)

// op is one unit of work for the state goroutine.
type op struct {
	kind    opKind
	sess    *session
	req     *request
	reason  tcpconn.CloseReason
	stats   chan Stats
	member  string // opGraceExpired
	gen     uint64
	inspect func(*Registry) // opInspect: runs on the state goroutine (tests)
}

// loop is the state goroutine: the only code that touches the registry and
// the members map.
func (s *Server) loop() {
	defer close(s.loopDone)
	for {
		select {
		case o := <-s.ops:
			s.handle(o)
		case <-s.closing:
			s.shutdown()
			return
		}
	}
}

func (s *Server) publishChanges() {
	if s.cfg.OnLobbyChange == nil {
		return
	}
	for _, in := range s.reg.TakeChanges() {
		s.cfg.OnLobbyChange(in)
	}
}

func (s *Server) shutdown() {
	keep := s.cfg.KeepLobbiesOnShutdown || s.crashed.Load()
	if !keep {
		s.deliver(s.reg.CloseAll(ReasonShutdown))
		s.publishChanges()
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	for sess := range s.sessions {
		if keep {
			sess.conn.Close(tcpconn.ReasonShutdown)
		} else {
			sess.conn.CloseAfterFlush(tcpconn.ReasonShutdown)
		}
	}
}

// crash stops the server as a killed process would: links vanish, nobody is
// told anything. Tests use it to exercise restore.
func (s *Server) crash() {
	s.crashed.Store(true)
	s.Close()
}

func (s *Server) handle(o op) {
	defer s.publishChanges()
	switch o.kind {
	case opStats:
		st := Stats{Members: len(s.members), Lobbies: s.reg.Len()}
		for _, m := range s.members {
			if m.sess == nil {
				st.Away++
			}
		}
		o.stats <- st
	case opClosed:
		m := s.members[o.sess.id]
		if m == nil || m.sess != o.sess {
			return // no hello, or a link replaced by a resume
		}
		reason := memberReason(o.reason)
		if s.suspend(m, o.sess, reason) {
			return
		}
		s.removeMember(m, reason)
	case opInspect:
		o.inspect(s.reg)
	case opGraceExpired:
		if m := s.members[o.member]; m != nil && m.sess == nil && m.gen == o.gen {
			s.removeMember(m, m.awayReason)
		}
	case opRequest:
		s.handleRequest(o.sess, o.req)
	}
}

func memberReason(r tcpconn.CloseReason) Reason {
	switch r {
	case tcpconn.ReasonTimeout:
		return ReasonTimeout
	case tcpconn.ReasonSlowConsumer:
		return ReasonSlowConsumer
	case tcpconn.ReasonProtocolError:
		return ReasonProtocolError
	case tcpconn.ReasonShutdown:
		return ReasonShutdown
	default:
		return ReasonDisconnected
	}
}

// deliver sends each notice to its recipients, encoded once; only when the
// notice names a member on the coordinator's own host (a loopback game
// address) do remote recipients get a copy with that address rewritten to
// the coordinator address they reached (see LoopbackAs).
func (s *Server) deliver(notices []Notice) {
	for _, n := range notices {
		var plain []byte
		var byView map[netip.Addr][]byte
		local := n.hasLoopbackAddr()
		for _, id := range n.Recipients {
			m := s.members[id]
			if m == nil {
				continue
			}
			if !local || !m.local.IsValid() || m.local.IsLoopback() {
				if plain == nil {
					plain = encodeNotice(n)
				}
				s.send(m, plain)
				continue
			}
			frame := byView[m.local]
			if frame == nil {
				frame = encodeNotice(n.loopbackAs(m.local))
				if byView == nil {
					byView = make(map[netip.Addr][]byte)
				}
				byView[m.local] = frame
			}
			s.send(m, frame)
		}
	}
}

func (s *Server) handleRequest(sess *session, req *request) {
	switch req.Op {
	case OpHello:
		s.hello(sess, req)
		return
	case OpResume:
		s.resume(sess, req)
		return
	case OpRestore:
		s.restore(sess, req)
		return
	}
	if sess.id == "" {
		sess.conn.Send(encodeError(req.ID, errorf(CodeHelloRequired, "send hello first")))
		return
	}
	var (
		notices []Notice
		err     error
		reply   []byte
	)
	switch req.Op {
	case OpCreate:
		var m Member
		if m, err = sess.member(req); err == nil {
			var l *Lobby
			password, invite := req.Password, ""
			if req.Private && password == "" {
				password = RandomID() // an invite code: 50 random bits
				invite = password
			}
			l, err = s.reg.Create(m, CreateSpec{Game: req.Game, Name: req.Name, Capacity: req.Capacity, Meta: req.Meta, Password: password})
			if err == nil {
				reply = encodeJoinedInvite(req.ID, l, m, sess.local, s.members[sess.id].token, invite)
				s.log.Info("lobby created", "lobby", l.ID, "game", l.Game, "name", l.Name, "capacity", l.Capacity, "owner", m.ID)
			}
		}
	case OpJoin, OpQuickJoin:
		var m Member
		if m, err = sess.member(req); err == nil {
			var l *Lobby
			if req.Op == OpJoin {
				l, notices, err = s.reg.JoinWithPassword(m, req.Lobby, req.Password)
			} else {
				l, notices, err = s.reg.QuickJoin(m, req.Game)
			}
			if err == nil {
				reply = encodeJoined(req.ID, l, m, sess.local, s.members[sess.id].token)
			}
		}
	case OpLeave:
		notices, err = s.reg.Leave(sess.id, req.Lobby, ReasonLeft)
	case OpKick:
		notices, err = s.reg.Kick(sess.id, req.Lobby, req.Member)
	case OpStart:
		notices, err = s.reg.Start(sess.id, req.Lobby)
	case OpClose:
		notices, err = s.reg.CloseLobby(sess.id, req.Lobby)
	case OpSetMeta:
		notices, err = s.reg.SetMeta(sess.id, req.Lobby, req.Meta)
	case OpList:
		game := req.Game
		if game != "" {
			game, err = NormalizeGame(game)
		}
		if err == nil {
			infos := s.reg.List(game)
			entries := make([]lobbyState, len(infos))
			for i, in := range infos {
				entries[i] = stateOf(in)
			}
			reply = marshal(listReply{ID: replyID(req.ID), OK: true, Lobbies: entries})
		}
	default:
		err = errorf(CodeUnknownOp, "unknown op %q", req.Op)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = errorf(CodeInternal, "%v", err)
		}
		sess.conn.Send(encodeError(req.ID, e))
		return
	}
	if reply == nil {
		reply = encodeOK(req.ID)
	}
	// The reply goes first: a joiner learns its peers before any notice.
	sess.conn.Send(reply)
	s.deliver(notices)
}

func encodeJoined(id json.RawMessage, l *Lobby, you Member, local netip.Addr, token string) []byte {
	return encodeJoinedInvite(id, l, you, local, token, "")
}

func encodeJoinedInvite(id json.RawMessage, l *Lobby, you Member, local netip.Addr, token, invite string) []byte {
	peers := make([]Member, 0, len(l.Members)-1)
	for _, m := range l.Members {
		if m.ID != you.ID {
			m.Addr = LoopbackAs(m.Addr, local)
			peers = append(peers, m)
		}
	}
	return marshal(joinReply{ID: replyID(id), OK: true, lobbyState: stateOf(l.Info()), You: you, Peers: peers, Resume: token, Invite: invite})
}

// greetable checks what hello, resume and restore share: the link has no
// identity yet and speaks a version this coordinator does (else it is told
// so and closed).
func (s *Server) greetable(sess *session, req *request) bool {
	if sess.id != "" {
		sess.conn.Send(encodeError(req.ID, errorf(CodeAlreadyHello, "hello already done")))
		return false
	}
	if req.V < MinProtocolVersion {
		sess.conn.Send(encodeError(req.ID, errorf(CodeUnsupportedVersion,
			"client version %d; this server speaks %d..%d", req.V, MinProtocolVersion, ProtocolVersion)))
		sess.conn.CloseAfterFlush(tcpconn.ReasonProtocolError)
		return false
	}
	return true
}

func (s *Server) hello(sess *session, req *request) {
	if !s.greetable(sess, req) {
		return
	}
	if err := ValidatePlayerName(req.Player); err != nil {
		sess.conn.Send(encodeError(req.ID, err.(*Error)))
		return
	}
	id := RandomID()
	for s.members[id] != nil {
		id = RandomID()
	}
	sess.id, sess.player = id, req.Player
	m := &member{id: id, player: req.Player, token: newToken(), sess: sess, local: sess.local}
	s.members[id] = m
	sess.helloDone.Store(true)
	sess.helloTimer.Stop()
	sess.conn.Send(s.encodeHello(req, m, nil))
	s.log.Debug("hello", "member", id, "player", req.Player, "client", req.Client, "remote", sess.ip)
}

// session is the server side of one link.
type session struct {
	srv        *Server
	conn       *tcpconn.Conn
	ip         netip.Addr // the peer's address as the coordinator sees it
	local      netip.Addr // the coordinator's address the peer reached
	helloTimer *time.Timer
	helloDone  atomic.Bool // hello succeeded; read by the hello timer
	helloSeen  bool        // a hello was forwarded; reader goroutine only
	bucket     tokenBucket // request rate; reader goroutine only

	// Set by the state goroutine at hello, read only by it afterwards.
	id     string
	player string
}

// member builds the lobby member for a create or join: the address the
// coordinator sees plus the declared game port, unless the request gives a
// full game address. An unspecified host in that address (0.0.0.0:7777,
// [::]:7777) means "my address as you see it".
func (sess *session) member(req *request) (Member, error) {
	addr, err := GameAddr(sess.ip, req.Port, req.Addr)
	if err != nil {
		return Member{}, err
	}
	return Member{ID: sess.id, Name: sess.player, Addr: addr}, nil
}

// LoopbackAs rewrites a loopback game address to the same port on local,
// the coordinator address a remote recipient connected to. A member on the
// coordinator's own host (such as an owner whose process runs the
// coordinator) reaches it over loopback; remote peers must be given an
// address of that host they can reach, and the one they used to reach the
// coordinator is the best evidence there is. Other addresses, and an
// invalid or loopback local, are returned unchanged.
func LoopbackAs(addr string, local netip.Addr) string {
	if !local.IsValid() || local.IsLoopback() {
		return addr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return addr
	}
	// A zone names an interface of the coordinator's host, meaningless to
	// the recipient.
	return netip.AddrPortFrom(local.WithZone(""), ap.Port()).String()
}

// GameAddr derives a member's game address (see session.member).
func GameAddr(seen netip.Addr, port int, addr string) (string, error) {
	if addr != "" {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || ap.Port() == 0 {
			return "", errorf(CodeInvalidAddress, "game address %q is not ip:port", addr)
		}
		if !ap.Addr().IsUnspecified() {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
		}
		port = int(ap.Port())
	}
	if port < 1 || port > 65535 {
		return "", errorf(CodeInvalidAddress, "game port %d outside 1..65535 (give port or addr)", port)
	}
	if !seen.IsValid() {
		return "", errorf(CodeInvalidAddress, "cannot tell your address; give addr as ip:port")
	}
	return netip.AddrPortFrom(seen, uint16(port)).String(), nil
}

// HandleLine runs on the link's reader goroutine: it checks and decodes one
// request, answers pings and pongs itself, and hands the rest to the state
// goroutine in order.
func (sess *session) HandleLine(line []byte) error {
	if seq, ok := isPong(line); ok {
		sess.conn.Pong(seq) // the heartbeat's hot path: no decode
		return nil
	}
	if !sess.bucket.take(time.Now()) {
		sess.conn.Send(encodeError(salvageID(line), errorf(CodeRateLimited, "over %g requests per second", sess.srv.cfg.RequestRate)))
		return nil
	}
	if !utf8.Valid(line) {
		sess.conn.Send(encodeError(nil, errorf(CodeInvalidUTF8, "request is not valid UTF-8")))
		return nil
	}
	req := new(request)
	if err := json.Unmarshal(line, req); err != nil {
		sess.conn.Send(encodeError(salvageID(line), errorf(CodeBadRequest, "malformed request: %v", err)))
		return nil
	}
	if !validID(req.ID) {
		sess.conn.Send(encodeError(nil, errorf(CodeBadRequest, "id must be a number or a string of at most %d bytes", MaxRequestIDLen)))
		return nil
	}
	switch req.Op {
	case OpPong:
		sess.conn.Pong(req.Seq)
		return nil
	case OpHello, OpResume, OpRestore:
		sess.helloSeen = true
	case "":
		sess.conn.Send(encodeError(req.ID, errorf(CodeBadRequest, "missing op")))
		return nil
	default:
		// Requests pipelined right behind hello are fine: the state
		// goroutine sees them in order and checks hello itself.
		if !sess.helloSeen {
			sess.conn.Send(encodeError(req.ID, errorf(CodeHelloRequired, "send hello first")))
			return nil
		}
		if req.Op == OpPing {
			sess.conn.Send(encodeOK(req.ID))
			return nil
		}
	}
	if !sess.srv.submit(op{kind: opRequest, sess: sess, req: req}) {
		sess.conn.Send(encodeError(req.ID, errorf(CodeShuttingDown, "coordinator is shutting down")))
	}
	return nil
}

// HandleClose runs once when the link has closed.
func (sess *session) HandleClose(reason tcpconn.CloseReason, err error) {
	if sess.helloTimer != nil {
		sess.helloTimer.Stop()
	}
	sess.srv.submit(op{kind: opClosed, sess: sess, reason: reason})
	s := sess.srv
	s.sessMu.Lock()
	delete(s.sessions, sess)
	if s.perIP[sess.ip]--; s.perIP[sess.ip] <= 0 {
		delete(s.perIP, sess.ip)
	}
	s.sessMu.Unlock()
	s.sessWG.Done()
	s.log.Debug("link closed", "remote", sess.ip, "reason", reason.String(), "err", err)
}
