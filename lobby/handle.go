package lobby

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

type opKind uint8

const (
	opRequest opKind = iota
	opClosed
	opGraceExpired
	opReservationExpired // a reservation's window passed (party.go)
	opSubFlush           // retry subscription output held back (subscribe.go)
	opFunc               // run fn on the state goroutine (onLoop, inLoop)
	opRestoreWindow
)

// op is one unit of work for the state goroutine.
type op struct {
	kind   opKind
	sess   *session
	req    *request
	reason tcpconn.CloseReason
	member string // opGraceExpired
	lobby  string // opRestoreWindow
	gen    uint64
	resv   *Reservation // opReservationExpired
	fn     func()       // opFunc
	look   bool         // opFunc: fn only reads, nothing changed
}

// submit hands an op to the state goroutine; false when it has stopped.
func (s *Server) submit(o op) bool {
	return s.submitTo(s.ops, o)
}

// inLoop runs f on the state goroutine, which owns every table, and waits
// for it; false when the server has stopped. For tests and diagnostics.
func (s *Server) inLoop(f func()) bool {
	_, err := onLoop(context.Background(), s, false, func() struct{} { f(); return struct{}{} })
	return err == nil
}

// onLoop runs f on the state goroutine and returns its result, or the
// context's error, or ErrServerClosed when the server has stopped. look
// says f only reads: the observers' version does not move for it.
func onLoop[T any](ctx context.Context, s *Server, look bool, f func() T) (T, error) {
	res := make(chan T, 1)
	var zero T
	if !s.submit(op{kind: opFunc, look: look, fn: func() { res <- f() }}) {
		return zero, ErrServerClosed
	}
	select {
	case v := <-res:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-s.loopDone:
		return zero, ErrServerClosed
	}
}

// submitGreeting hands a hello, resume or restore to the state goroutine
// ahead of the other ops: a new connection is answered in the time of one
// op however many wait (a burst of creates, lists), well within its hello
// deadline.
func (s *Server) submitGreeting(o op) bool {
	return s.submitTo(s.greetings, o)
}

func (s *Server) submitTo(ch chan op, o op) bool {
	select {
	case ch <- o:
		return true
	case <-s.loopDone:
		return false
	}
}

// loop is the state goroutine: the only code that touches the registry and
// the members map. Greetings go first; before any other op, those already
// waiting are handled, so that a request pipelined behind its
// connection's hello (submitted after it, from the same reader) always
// finds the hello done.
//
// Ops already waiting are handled as one batch (up to maxBatch ops or
// maxBatchTime), and what they send to the links is written at the end
// of the batch, each link's share in one system call (see out): under
// load a join's reply and notices cost a fraction of a write each; an idle
// coordinator's batch is the one op, written at once.
func (s *Server) loop() {
	defer close(s.loopDone)
	for {
		var o op
		select {
		case o = <-s.greetings:
		default:
			select {
			case o = <-s.greetings:
			case o = <-s.ops:
			case <-s.closing:
				s.shutdown()
				return
			}
		}
		s.batching = true
		start := time.Now()
		s.drainGreetings()
		s.handle(o)
		for n := 1; n < maxBatch && time.Since(start) < maxBatchTime; n++ {
			s.drainGreetings()
			select {
			case o = <-s.ops:
				s.handle(o)
				continue
			default:
			}
			break
		}
		s.batching = false
		s.flushBatch()
	}
}

// A batch of ops ends after maxBatch ops or maxBatchTime, whichever comes
// first, so a reply waits at most that long for the batch's writes.
const (
	maxBatch     = 64
	maxBatchTime = 200 * time.Microsecond
)

// out sends frame on sess's link. During a batch the link is corked (its
// frames wait) until flushBatch writes each link's frames at once.
func (s *Server) out(sess *session, frame []byte) {
	if s.batching && !sess.corked {
		sess.corked = true
		sess.conn.Cork()
		s.corked = append(s.corked, sess)
	}
	sess.conn.Send(frame)
}

// flushBatch writes what the batch sent to each link.
func (s *Server) flushBatch() {
	for i, sess := range s.corked {
		sess.corked = false
		sess.conn.Uncork()
		s.corked[i] = nil
	}
	s.corked = s.corked[:0]
}

func (s *Server) drainGreetings() {
	for {
		select {
		case o := <-s.greetings:
			s.handle(o)
		default:
			return
		}
	}
}

func (s *Server) publishChanges() {
	changes := s.reg.takeChanges()
	defer s.reg.doneChanges(changes)
	for i := range changes {
		if changes[i].State == StateClosed {
			s.creds.forget(changes[i].ID)
		}
	}
	if s.cfg.OnLobbyChange != nil {
		for _, in := range changes {
			s.cfg.OnLobbyChange(in)
		}
	}
	s.subs.publish(s, changes)
}

func (s *Server) shutdown() {
	s.stopMatchTimers()
	keep := s.cfg.KeepLobbiesOnShutdown
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

func (s *Server) handle(o op) {
	defer s.publishChanges()
	switch o.kind {
	case opClosed:
		s.subs.dropSession(o.sess)
		m := s.members[o.sess.id]
		if m == nil || m.sess != o.sess {
			return // no hello, or a link replaced by a resume
		}
		reason := memberReason(o.reason)
		if s.suspend(m, o.sess, reason) {
			return
		}
		s.removeMember(m, reason)
	case opGraceExpired:
		if m := s.members[o.member]; m != nil && m.sess == nil && m.gen == o.gen {
			s.removeMember(m, m.awayReason)
		}
	case opRestoreWindow:
		s.restoreWindowOver(o.lobby, o.gen)
	case opRequest:
		s.handleRequest(o.sess, o.req)
		s.noteSeated(o.sess)
	case opReservationExpired:
		s.reservationExpired(o.resv)
	case opSubFlush:
		s.subs.flush(s)
	case opFunc:
		o.fn()
		if o.look {
			return
		}
	}
	s.obs.version.Add(1)
}

// noteSeated tells the accept loop whether sess's member holds a seat or
// a registered name (a connection with neither may be shed at the
// connection cap).
func (s *Server) noteSeated(sess *session) {
	if sess != nil && sess.id != "" {
		sess.seated.Store(len(s.reg.LobbiesOf(sess.id)) > 0 || s.names.holds(nameOwner{member: sess.id}))
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
	sent := 0
	defer func() { s.obs.notices.Add(uint64(sent)) }()
	for i := range notices {
		n := &notices[i]
		s.obs.notice(n)
		var plain []byte
		var byView map[netip.Addr][]byte
		local := n.hasLoopbackAddr()
		for _, id := range n.Recipients {
			m := s.members[id]
			if m == nil {
				continue
			}
			if n.Kind == NoticeClosed || n.Kind == NoticeMemberLeft && n.Member.ID == id {
				s.noteSeated(m.sess) // closed, or kicked
			}
			if n.Kind == NoticeOwnerChanged && id == n.Lobby.Owner {
				// The new owner alone gets the credential of its ownership.
				s.send(m, encodeOwnerChanged(n.loopbackAs(m.local), s.creds.owner(n.Lobby.ID, id)))
				continue
			}
			if !local || !m.local.IsValid() || m.local.IsLoopback() {
				if plain == nil {
					plain = s.exact(appendNotice(s.scratch[:0], *n))
				}
				s.send(m, plain)
				sent++
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
			sent++
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
	case OpSubscribe, OpUnsubscribe:
		if sess.id != "" {
			s.subscription(sess, req)
			return
		}
	}
	if sess.id == "" {
		s.out(sess, encodeError(req.ID, errorf(CodeHelloRequired, "send hello first")))
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
			l, err = s.reg.Create(m, CreateSpec{Game: req.Game, Name: req.Name, Capacity: req.Capacity, Meta: req.Meta, Password: password,
				Version: req.Version, Filterable: req.Filterable, AutoStart: req.AutoStart})
			if err == nil {
				reply = s.encodeJoined(req.ID, l, m, sess.local, invite)
				s.obs.created(l)
				s.log.Info("lobby created", "lobby", l.ID, "game", l.Game, "name", l.Name, "capacity", l.Capacity, "owner", m.ID)
			}
		}
	case OpJoin, OpQuickJoin:
		var m Member
		if m, err = sess.member(req); err == nil {
			var l *Lobby
			var res *Reservation
			if req.Op == OpJoin {
				l, res, notices, err = s.reg.JoinWith(m, req.Lobby, s.joinSpec(req))
			} else {
				l, res, notices, err = s.reg.QuickJoinWith(m, req.Game, s.joinSpec(req))
			}
			if err == nil {
				reply = s.encodeJoinedParty(req.ID, l, m, sess.local, res)
				s.obs.joined(req.Op == OpQuickJoin)
			}
		}
	case OpLeave:
		notices, err = s.reg.Leave(sess.id, req.Lobby, ReasonLeft)
	case OpKick:
		if req.Ban {
			notices, err = s.reg.KickBan(sess.id, req.Lobby, req.Member, time.Duration(req.BanMS)*time.Millisecond)
		} else {
			notices, err = s.reg.Kick(sess.id, req.Lobby, req.Member)
		}
	case OpReserve:
		reply, notices, err = s.reserve(sess, req)
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
		var after uint64
		if err == nil {
			err = req.Filter.filter().Validate()
		}
		if err == nil {
			after, err = parseCursor(req.After)
		}
		if err == nil {
			reply = s.listPage(req.ID, game, req.Filter.filter(), after, req.Limit)
		}
	case OpRegister, OpDeregister, OpLookup:
		reply, err = s.nameOp(sess, req)
	case OpStandby, OpProve:
		reply, err = s.takeoverOp(sess, req)
	default:
		err = errorf(CodeUnknownOp, "unknown op %q", req.Op)
	}
	if err != nil {
		e := asError(err)
		if e.Code == CodeTooManyLobbies {
			s.obs.refuse(LimitLobbiesPerMember)
		}
		s.out(sess, encodeError(req.ID, e))
		return
	}
	if reply == nil {
		reply = encodeOK(req.ID)
	}
	s.noteSeated(sess) // before the reply: a client that has it is seated
	// The reply goes first: a joiner learns its peers before any notice.
	s.out(sess, reply)
	s.deliver(notices)
}

// encodeJoined builds the answer to create, join and quick-join: the lobby,
// the member as recorded, its peers as this link must see them, its resume
// token and seat credentials, and the invite code of a private lobby just
// created ("" if none).
func (s *Server) encodeJoined(id json.RawMessage, l *Lobby, you Member, local netip.Addr, invite string) []byte {
	r := joinReply{ID: replyID(id), OK: true, lobbyState: stateAs(l.Info(), local), You: you,
		Peers: peersAs(l, you.ID, local), Resume: s.tokenOf(you.ID), seatCredentials: s.forSeat(l, you.ID),
		Invite: invite}
	b, _ := r.appendJSON(s.scratch[:0])
	return s.exact(b)
}

// exact returns a copy of b, a frame encoded in the state goroutine's
// scratch buffer, of exactly its length (frames live on in send queues;
// the scratch buffer is used again), and keeps b's array as the scratch
// buffer.
func (s *Server) exact(b []byte) []byte {
	if cap(b) <= maxScratch {
		s.scratch = b[:0]
	}
	return append(make([]byte, 0, len(b)), b...)
}

// maxScratch bounds the scratch buffer kept between frames.
const maxScratch = 64 << 10

// tokenOf is a member's resume token: kept since its hello.
func (s *Server) tokenOf(id string) string {
	if m := s.members[id]; m != nil {
		return m.token
	}
	return s.creds.token(id)
}

// encodeOwnerChanged is the new owner's copy of owner_changed, with the
// credential of its ownership.
func encodeOwnerChanged(n Notice, cred string) []byte {
	return marshal(notice{Event: string(n.Kind), lobbyState: stateOf(n.Lobby), OwnerCredential: cred})
}
