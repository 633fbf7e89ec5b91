package lobby

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// member is one identity on the coordinator: a link that completed hello,
// kept through link drops for the resume grace. Owned by the state
// goroutine.
type member struct {
	id, player string
	token      string     // proves the identity on resume; never sent to anyone else
	sess       *session   // the current link; nil while away
	local      netip.Addr // coordinator address the member reached (see LoopbackAs)

	awayReason Reason   // why the link dropped
	missed     [][]byte // notices queued while away, delivered on resume
	gen        uint64   // counts absences, so a stale grace timer is ignored
	grace      *time.Timer
}

// newToken makes a resume token: 128 random bits.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// send delivers a frame to a member, or keeps it for the member's return.
// A member that misses more than SendQueue notices while away is dropped
// as a slow consumer when it would come back: it could not catch up.
func (s *Server) send(m *member, frame []byte) {
	if m.sess != nil {
		m.sess.conn.Send(frame)
		return
	}
	if len(m.missed) < s.cfg.SendQueue {
		m.missed = append(m.missed, frame)
	} else {
		m.awayReason = ReasonSlowConsumer
		m.missed = nil
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
	if s.cfg.ResumeGrace <= 0 || len(s.reg.LobbiesOf(m.id)) == 0 {
		return false
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

// resume re-attaches a member identity to a new link: the member keeps its
// seats, receives the notices it missed, and the others see member_back (or
// nothing at all, when the old link had not yet been noticed as gone).
func (s *Server) resume(sess *session, req *request) {
	if !s.greetable(sess, req) {
		return
	}
	m := s.members[req.Member]
	if m == nil || subtle.ConstantTimeCompare([]byte(m.token), []byte(req.Token)) != 1 {
		sess.conn.Send(encodeError(req.ID, errorf(CodeResumeFailed, "no member %q waiting to resume with that token", req.Member)))
		return
	}
	wasAway := m.sess == nil
	if !wasAway {
		// The old link has not been noticed as dead yet: retire it quietly
		// (its close is ignored, since it is no longer the member's link).
		old := m.sess
		m.sess = nil
		old.conn.Close(tcpconn.ReasonClosed)
	}
	if m.grace != nil {
		m.grace.Stop()
	}
	m.gen++
	m.sess, m.local = sess, sess.local
	sess.id, sess.player = m.id, m.player
	sess.helloDone.Store(true)
	sess.helloTimer.Stop()
	var lobbies []lobbyState
	for _, id := range s.reg.LobbiesOf(m.id) {
		if l := s.reg.Get(id); l != nil {
			lobbies = append(lobbies, stateOf(l.Info()))
		}
	}
	missed := m.missed
	m.missed = nil
	sess.conn.Send(s.encodeHello(req, m, &resumedState{Lobbies: lobbies, Missed: len(missed)}))
	for _, f := range missed {
		sess.conn.Send(f)
	}
	if wasAway {
		s.deliver(s.presenceNotices(m, NoticeMemberBack, ""))
	}
	s.log.Info("member resumed", "member", m.id, "missed", len(missed), "was_away", wasAway)
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

// restore takes back lobbies a client held on a previous instance of this
// coordinator (it restarted and lost its soft state). Before hello it also
// identifies the client, under its old member id and token when that id is
// free, so peers see the same ids as before. Owners re-create their lobbies
// under the old ids; members re-join them. Nobody is notified: from the
// players' point of view nothing changed. A member whose owner has not
// restored the lobby yet gets unknown_lobby for it and retries.
func (s *Server) restore(sess *session, req *request) {
	if sess.id == "" {
		if !s.greetable(sess, req) {
			return
		}
		if err := ValidatePlayerName(req.Player); err != nil {
			sess.conn.Send(encodeError(req.ID, err.(*Error)))
			return
		}
		id := req.Member
		if !validLobbyID(id) || s.members[id] != nil {
			id = RandomID() // taken by a live member: never steal an identity
			for s.members[id] != nil {
				id = RandomID()
			}
		}
		token := req.Token
		if len(token) != 32 {
			token = newToken()
		}
		sess.id, sess.player = id, req.Player
		s.members[id] = &member{id: id, player: req.Player, token: token, sess: sess, local: sess.local}
		sess.helloDone.Store(true)
		sess.helloTimer.Stop()
	}
	m := s.members[sess.id]
	if len(req.Restore) > s.cfg.MaxLobbiesPerMember {
		sess.conn.Send(encodeError(req.ID, errorf(CodeTooManyLobbies, "%d lobbies to restore, the limit is %d", len(req.Restore), s.cfg.MaxLobbiesPerMember)))
		return
	}
	results := make([]restoreResult, len(req.Restore))
	for i, e := range req.Restore {
		addr, err := GameAddr(sess.ip, e.Port, e.Addr)
		if err == nil {
			you := Member{ID: m.id, Name: m.player, Addr: addr}
			var l *Lobby
			if e.Owner {
				l, err = s.reg.Restore(you, e.Lobby, CreateSpec{Game: e.Game, Name: e.Name, Capacity: e.Capacity, Meta: e.Meta, Password: e.Password}, e.Started)
			} else if l = s.reg.Get(e.Lobby); l != nil && l.memberIndex(m.id) >= 0 {
				err = nil
			} else {
				l, _, err = s.reg.JoinWithPassword(you, e.Lobby, e.Password) // quietly: nothing changed for the others
			}
			if err == nil {
				peers := make([]Member, 0, len(l.Members))
				for _, p := range l.Members {
					if p.ID != m.id {
						p.Addr = LoopbackAs(p.Addr, sess.local)
						peers = append(peers, p)
					}
				}
				results[i] = restoreResult{lobbyState: stateOf(l.Info()), Peers: peers}
				continue
			}
		}
		e2, ok := err.(*Error)
		if !ok {
			e2 = errorf(CodeInternal, "%v", err)
		}
		results[i] = restoreResult{lobbyState: lobbyState{Lobby: e.Lobby}, Error: e2}
	}
	reply := helloReply{
		ID: replyID(req.ID), OK: true, V: min(max(req.V, MinProtocolVersion), ProtocolVersion), Server: ServerName,
		You:         Member{ID: m.id, Name: m.player},
		HeartbeatMS: s.cfg.HeartbeatInterval.Milliseconds(), Misses: s.cfg.HeartbeatMisses,
		MaxLine: s.cfg.MaxLineLength, Resume: m.token, GraceMS: max(0, s.cfg.ResumeGrace.Milliseconds()),
		Restored: results,
	}
	sess.conn.Send(marshal(reply))
	s.log.Info("member restored lobbies", "member", m.id, "lobbies", len(results))
}
