package lobby

import (
	"crypto/subtle"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// resume re-attaches a member identity to a new link: the member keeps its
// seats, receives the notices it missed, and the others see member_back (or
// nothing at all, when the old link had not yet been noticed as gone).
func (s *Server) resume(sess *session, req *request) {
	if !s.greetable(sess, req) {
		return
	}
	m := s.members[req.Member]
	if m == nil || subtle.ConstantTimeCompare([]byte(m.token), []byte(req.Token)) != 1 {
		if m != nil {
			s.noteGuess("token", sess, req.Member, "")
		}
		sess.conn.Send(encodeError(req.ID, errorf(CodeResumeFailed, "no member %q waiting to resume with that token", req.Member)))
		return
	}
	wasAway := m.sess == nil
	if !wasAway {
		// The old link has not been noticed as dead yet: retire it, telling
		// it why in case it is alive after all (its close is then ignored,
		// since it is no longer the member's link).
		old := m.sess
		m.sess = nil
		old.conn.Send(encodeReplaced())
		old.conn.CloseAfterFlush(tcpconn.ReasonClosed)
	}
	if m.grace != nil {
		m.grace.Stop()
	}
	m.gen++
	s.attach(m, sess)
	s.obs.resumes.Add(1)
	var lobbies []lobbyState
	for _, id := range s.reg.LobbiesOf(m.id) {
		if l := s.reg.Get(id); l != nil {
			lobbies = append(lobbies, stateAs(l.Info(), sess.local))
		}
	}
	s.noteSeated(sess)
	missed := m.missed
	m.missed = nil
	sess.conn.Send(s.encodeHello(req, m, &resumedState{Lobbies: lobbies, Missed: len(missed)}, nil))
	for _, f := range missed {
		sess.conn.Send(f)
	}
	if wasAway {
		s.deliver(s.presenceNotices(m, NoticeMemberBack, ""))
	}
	s.log.Info("member resumed", "member", m.id, "missed", len(missed), "was_away", wasAway)
}
