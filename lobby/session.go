package lobby

import (
	"net/netip"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// session is the server side of one link.
type session struct {
	srv   *Server
	conn  *tcpconn.Conn
	ip    netip.Addr // the peer's address as the coordinator sees it
	local netip.Addr // the coordinator's address the peer reached
	// helloTimer closes the link if no hello succeeds in time; stopped
	// and dropped at hello, so that a member holds no timer.
	helloTimer atomic.Pointer[time.Timer]
	helloDone  atomic.Bool // hello succeeded; read by the hello timer
	helloSeen  bool        // a hello was forwarded; reader goroutine only
	bucket     tokenBucket // request rate; reader goroutine only
	// seated is set by the state goroutine while the member may hold a
	// seat; a connection without one can be shed at the cap.
	seated atomic.Bool
	shed   bool // closed to make room at the cap; guarded by srv.sessMu
	corked bool // corked in the state goroutine's batch (Server.out)

	// Set by the state goroutine at hello, read only by it afterwards.
	id     string
	player string
	key    string // the stable player key
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
	return Member{ID: sess.id, Name: sess.player, Addr: addr, Key: sess.key}, nil
}

// HandleLine runs on the link's reader goroutine: it checks and decodes one
// request, answers pings and pongs itself, and hands the rest to the state
// goroutine in order.
func (sess *session) HandleLine(line []byte) error {
	if seq, ok := isPong(line); ok {
		sess.pong(seq) // the heartbeat's hot path: no decode
		return nil
	}
	return sess.handleRequest(line)
}

// handleRequest is HandleLine for anything but a pong. It is a function of
// its own, never inlined, so that its large frame is not on the stack of
// the pong path: an idle member's reader goroutine then fits a smaller
// stack.
//
//go:noinline
func (sess *session) handleRequest(line []byte) error {
	if !sess.bucket.take(time.Now()) {
		sess.srv.obs.refuse(LimitRequestRate)
		sess.conn.Send(encodeError(salvageID(line), errorf(CodeRateLimited, "over %g requests per second", sess.srv.cfg.RequestRate)))
		return nil
	}
	if !utf8.Valid(line) {
		sess.conn.Send(encodeError(salvageID(line), errorf(CodeInvalidUTF8, "request is not valid UTF-8")))
		return nil
	}
	req := new(request)
	if err := decodeRequest(line, req); err != nil {
		sess.conn.Send(encodeError(salvageID(line), errorf(CodeBadRequest, "malformed request: %v", err)))
		return nil
	}
	if !validID(req.ID) {
		// An id a client cannot have meant is not echoed: a reader that
		// chokes on it (1e3, 1.5, 2^64) would lose the error too.
		sess.conn.Send(encodeError(nil, errorf(CodeBadRequest, "id must be an integer 0..%d or a string of at most %d bytes", MaxRequestIDNumber, MaxRequestIDLen)))
		return nil
	}
	if f := missingField(req, line, sess.helloSeen); f != "" {
		sess.conn.Send(encodeError(req.ID, errorf(CodeBadRequest, "%s needs %s", req.Op, f)))
		return nil
	}
	submit := sess.srv.submit
	switch req.Op {
	case OpPong:
		sess.pong(req.Seq)
		return nil
	case OpHello, OpResume, OpRestore:
		if !sess.helloSeen {
			// A connection's first greeting goes ahead of other work (and
			// still before anything pipelined behind it).
			submit = sess.srv.submitGreeting
		}
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
	if !submit(op{kind: opRequest, sess: sess, req: req}) {
		sess.conn.Send(encodeError(req.ID, errorf(CodeShuttingDown, "coordinator is shutting down")))
	}
	return nil
}

// pong records a heartbeat answer and its round trip.
func (sess *session) pong(seq uint64) {
	if d, ok := sess.conn.PongRTT(seq); ok {
		sess.srv.obs.rtt(d)
	}
}

// stopHelloTimer stops the hello deadline and lets go of its timer.
func (sess *session) stopHelloTimer() {
	if t := sess.helloTimer.Swap(nil); t != nil {
		t.Stop()
	}
}

// HandleClose runs once when the link has closed.
func (sess *session) HandleClose(reason tcpconn.CloseReason, err error) {
	sess.srv.obs.linkClosed(reason)
	sess.stopHelloTimer()
	sess.srv.submit(op{kind: opClosed, sess: sess, reason: reason})
	s := sess.srv
	if reason == tcpconn.ReasonSlowConsumer {
		s.slowCount.Add(1)
	}
	s.sessMu.Lock()
	if !sess.shed {
		s.forgetLocked(sess)
	}
	s.sessMu.Unlock()
	s.sessWG.Done()
	s.log.Debug("link closed", "remote", sess.ip, "reason", reason.String(), "err", err)
}
