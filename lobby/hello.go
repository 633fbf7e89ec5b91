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

// hello gives a link a new member identity.
func (s *Server) hello(sess *session, req *request) {
	if !s.greetable(sess, req) {
		return
	}
	if err := ValidatePlayerName(req.Player); err != nil {
		sess.conn.Send(encodeError(req.ID, asError(err)))
		return
	}
	if err := ValidatePlayerKey(req.Key); err != nil {
		sess.conn.Send(encodeError(req.ID, asError(err)))
		return
	}
	m := s.newMember(sess, s.freeMemberID(), req.Player, req.Key)
	s.out(sess, s.encodeHello(req, m, nil, nil))
	s.log.Debug("hello", "member", m.id, "player", req.Player, "client", req.Client, "remote", sess.ip)
}

// freeMemberID returns a random member id that no member holds, nor a
// seat held for a restore.
func (s *Server) freeMemberID() string {
	id := RandomID()
	for s.members[id] != nil || len(s.reg.LobbiesOf(id)) > 0 {
		id = RandomID()
	}
	return id
}

// newMember records a member identity, held by link sess, as hello and a
// restore before hello do. Its resume token is derived from the id (see
// credentials.go).
func (s *Server) newMember(sess *session, id, player, key string) *member {
	m := &member{id: id, player: player, token: s.creds.token(id), key: key}
	s.members[id] = m
	s.attach(m, sess)
	return m
}

// attach makes sess the link of member m: the link takes on m's identity
// and its hello deadline no longer applies.
func (s *Server) attach(m *member, sess *session) {
	m.sess, m.local = sess, sess.local
	sess.id, sess.player, sess.key = m.id, m.player, m.key
	sess.helloDone.Store(true)
	sess.stopHelloTimer()
}

// encodeHello builds the answer to hello, resume and restore: the member's
// identity and resume token, and the heartbeat and limits its link lives
// by, and the coordinator's instance identity. resumed and restored carry what a resume or a restore brought back
// (nil for hello). The version is the highest both sides speak; a restore
// sent on a link that already completed hello may leave it out.
func (s *Server) encodeHello(req *request, m *member, resumed *resumedState, restored []restoreResult) []byte {
	return marshal(&helloReply{
		ID: replyID(req.ID), OK: true, V: min(max(req.V, MinProtocolVersion), ProtocolVersion), Server: ServerName,
		You:         Member{ID: m.id, Name: m.player},
		HeartbeatMS: s.cfg.HeartbeatInterval.Milliseconds(), Misses: s.cfg.HeartbeatMisses,
		MaxLine: s.cfg.MaxLineLength, Resume: m.token, GraceMS: max(0, s.cfg.ResumeGrace.Milliseconds()),
		Instance: s.instance, Resumed: resumed, Restored: restored, Takeover: s.cfg.Takeover,
	})
}
