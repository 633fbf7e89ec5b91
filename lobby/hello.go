package lobby

import "github.com/lanlobby/lanlobby/tcpconn"

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

func (s *Server) encodeHello(req *request, m *member, resumed *resumedState) []byte {
	return marshal(helloReply{
		ID: replyID(req.ID), OK: true, V: min(req.V, ProtocolVersion), Server: ServerName,
		You:         Member{ID: m.id, Name: m.player},
		HeartbeatMS: s.cfg.HeartbeatInterval.Milliseconds(), Misses: s.cfg.HeartbeatMisses,
		MaxLine: s.cfg.MaxLineLength, Resume: m.token, GraceMS: max(0, s.cfg.ResumeGrace.Milliseconds()),
		Resumed: resumed,
	})
}
