package lobby

import (
	"net/netip"
	"time"
)

// member is one identity on the coordinator: a link that completed hello,
// kept through link drops for the resume grace. Owned by the state
// goroutine.
type member struct {
	id, player string
	key        string     // the stable player key of hello ("" when none); never sent to anyone
	token      string     // proves the identity on resume; never sent to anyone else
	sess       *session   // the current link; nil while away
	local      netip.Addr // coordinator address the member reached (see LoopbackAs)

	awayReason Reason   // why the link dropped
	missed     [][]byte // notices queued while away, delivered on resume
	gen        uint64   // counts absences, so a stale grace timer is ignored
	grace      *time.Timer
}

// send delivers a frame to a member, or keeps it for the member's return.
// A member that misses more than SendQueue notices while away is dropped
// as a slow consumer when it would come back: it could not catch up.
func (s *Server) send(m *member, frame []byte) {
	if m.sess != nil {
		s.out(m.sess, frame)
		return
	}
	if len(m.missed) < s.cfg.SendQueue {
		m.missed = append(m.missed, frame)
	} else {
		m.awayReason = ReasonSlowConsumer
		m.missed = nil
		s.obs.slowConsumers.Add(1)
		s.removeMember(m, ReasonSlowConsumer)
	}
}

// suspend keeps a member's seats after its link dropped, when that looks
// like a blip rather than a departure: the link went silent (timeout), or
// it closed after a silence of at least one heartbeat interval (a peer
// whose network came back and reset the old connection). A link that
// closes while the peer was talking (a killed process, a clean exit) is a
// departure and is reported at once. The member must be in a lobby, and
// the grace enabled.
func (s *Server) suspend(m *member, sess *session, reason Reason) bool {
	if s.cfg.ResumeGrace <= 0 || len(s.reg.LobbiesOf(m.id)) == 0 && !s.names.holds(nameOwner{member: m.id}) {
		return false // nothing to keep for it
	}
	switch reason {
	case ReasonTimeout:
	case ReasonDisconnected:
		if sess.conn.SinceLastRead() < s.cfg.HeartbeatInterval {
			return false
		}
	default:
		return false
	}
	m.sess = nil
	m.awayReason = reason
	m.gen++
	id, gen := m.id, m.gen
	m.grace = time.AfterFunc(s.cfg.ResumeGrace, func() {
		s.submit(op{kind: opGraceExpired, member: id, gen: gen})
	})
	s.deliver(s.presenceNotices(m, NoticeMemberAway, reason))
	s.log.Info("member away", "member", m.id, "reason", reason, "grace", s.cfg.ResumeGrace)
	return true
}

// removeMember takes a member out of every lobby and forgets it.
func (s *Server) removeMember(m *member, reason Reason) {
	if m.grace != nil {
		m.grace.Stop()
	}
	delete(s.members, m.id)
	s.names.dropOwner(nameOwner{member: m.id})
	s.deliver(s.reg.RemoveMember(m.id, reason))
	s.log.Debug("member gone", "member", m.id, "reason", reason)
}

// presenceNotices builds member_away / member_back for every lobby of m,
// addressed to the other members.
func (s *Server) presenceNotices(m *member, kind NoticeKind, reason Reason) []Notice {
	var out []Notice
	for _, id := range s.reg.LobbiesOf(m.id) {
		l := s.reg.Get(id)
		if l == nil {
			continue
		}
		i := l.memberIndex(m.id)
		if i < 0 {
			continue
		}
		var others []string
		for _, x := range l.Members {
			if x.ID != m.id {
				others = append(others, x.ID)
			}
		}
		out = append(out, Notice{Kind: kind, Lobby: l.Info(), Member: l.Members[i], Reason: reason, Recipients: others})
	}
	return out
}
