package lobby

import (
	"context"
	"encoding/hex"
	"net/netip"
	"time"
)

// The coordinator's side of a lobby outliving its coordinator (term.go
// tells the model's part, failover.go the client's):
//   - standby: a member registers where it would serve the lobby; the
//     successor's address travels in every state block (successor_addr);
//   - adoption: a restore entry with "adopt" makes, on a coordinator that
//     did not create it, a lobby with its id, secret, term and roster (the
//     successor's own coordinator after a takeover, or a daemon its owner
//     moves it to); the members then restore into it with their seat
//     credentials, checked with the lobby's secret, and are told of the
//     takeover (taken_over);
//   - prove: a coordinator shows it holds a lobby's secret, so that a
//     member or the old coordinator trusts a higher term it heard of on
//     the LAN only after checking it;
//   - Moved: a coordinator hands a lobby's members to the coordinator
//     that holds it now (coordinator_moved) and drops it.

// secretOf is the secret of lobby l: the one it was adopted with, else the
// one derived from this coordinator's secret.
func (s *Server) secretOf(l *Lobby) []byte {
	if l.adopted != nil {
		return l.adopted.secret
	}
	return s.creds.lobbySecret(l.ID)
}

// forSeat is what a member of l keeps: its seat credential, the lobby's
// secret, and the owner credential when it owns l.
func (s *Server) forSeat(l *Lobby, member string) seatCredentials {
	if l.adopted == nil {
		return s.creds.forSeat(l, member)
	}
	sc := seatCredentials{Credential: SeatCredential(l.adopted.secret, member), LobbySecret: hex.EncodeToString(l.adopted.secret)}
	if l.Owner == member {
		sc.OwnerCredential = s.creds.owner(l.ID, member)
	}
	return sc
}

// stateAs is a lobby's state block as a recipient that reached the
// coordinator at local must see it (see LoopbackAs).
func stateAs(i Info, local netip.Addr) lobbyState {
	i.SuccessorAddr = LoopbackAs(i.SuccessorAddr, local)
	return stateOf(i)
}

// entrySecret is the secret a restore entry's seat credential is checked
// with: the lobby's own when it exists here, the one the entry brings
// when it adopts a lobby not here, else the one derived from this
// coordinator's secret (a restart). Nil when an adopting entry's secret
// is not valid hex of the right length.
func (s *Server) entrySecret(l *Lobby, e *restoreLobby) []byte {
	switch {
	case l != nil:
		return s.secretOf(l)
	case e.Adopt:
		return decodeSecret(e.LobbySecret)
	}
	return s.creds.lobbySecret(e.Lobby)
}

// decodeSecret reads a lobby secret from its hex form; nil when it is not
// one.
func decodeSecret(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != lobbySecretLen {
		return nil
	}
	return b
}

// lobbySecretLen is the length of a lobby secret (HMAC-SHA256).
const lobbySecretLen = 32

// adoptedIdentity reports whether a restore before hello proves member id
// id without a resume token of this coordinator: one of its entries holds
// a valid seat credential for id in a lobby adopted here, or adopts a lobby
// not here. (The token it has was made by the coordinator it comes from.)
// A live member keeps its id whatever is proven.
func (s *Server) adoptedIdentity(id string, entries []restoreLobby) bool {
	if !validLobbyID(id) || s.members[id] != nil {
		return false
	}
	for i := range entries {
		e := &entries[i]
		l := s.reg.Get(e.Lobby)
		if l != nil && l.adopted == nil || l == nil && (!e.Adopt || !e.Owner) {
			continue
		}
		if secret := s.entrySecret(l, e); secret != nil && CheckSeatCredential(secret, id, e.Credential) {
			return true
		}
	}
	return false
}

// awaitsAdoption reports whether a restore before hello that proves no
// identity takes a seat in a lobby not here: a member that got to a
// successor's coordinator before the successor adopted the lobby. It is refused as a whole (unknown_lobby), without an identity,
// so that it can retry under its own id.
func (s *Server) awaitsAdoption(id string, entries []restoreLobby) bool {
	if !validLobbyID(id) || s.members[id] != nil || len(s.reg.LobbiesOf(id)) > 0 {
		return false
	}
	for i := range entries {
		if !entries[i].Owner && s.reg.Get(entries[i].Lobby) == nil {
			return true
		}
	}
	return false
}

// adopt makes on this coordinator the lobby of restore entry e, which
// member you brings from another coordinator (its takeover's successor, or
// its owner moving it here), and holds the seats of the members it lists.
func (s *Server) adopt(you Member, e *restoreLobby) (*Lobby, error) {
	secret := decodeSecret(e.LobbySecret)
	if secret == nil {
		return nil, errorf(CodeBadCredential, "lobby %s: lobby_secret must be %d bytes in hex", e.Lobby, lobbySecretLen)
	}
	var created time.Time
	if e.CreatedMS > 0 {
		created = time.UnixMilli(e.CreatedMS)
	}
	l, err := s.reg.Adopt(you, e.Lobby, CreateSpec{Game: e.Game, Name: e.Name, Capacity: e.Capacity, Meta: e.Meta, Password: e.Password,
		AutoStart: e.AutoStart, Version: e.Version, Filterable: e.Filterable}, AdoptSpec{Term: e.Term, Started: e.Started, Created: created})
	if err != nil {
		return nil, err
	}
	l.adopted = &adoption{secret: secret}
	if d := e.Departed; d != nil && d.Member.ID != you.ID {
		m := Member{ID: d.Member.ID, Name: d.Member.Name, Addr: d.Member.Addr}
		l.adopted.departed, l.adopted.reason = &m, d.Reason
	}
	var roster []Member
	for _, m := range e.Members {
		if l.adopted.departed == nil || m.ID != l.adopted.departed.ID {
			roster = append(roster, m)
		}
	}
	s.hold(l, roster)
	s.obs.adopted.Add(1)
	s.log.Info("lobby adopted", "lobby", l.ID, "term", l.Term, "owner", you.ID, "held", len(l.Members)-1,
		"departed", e.Departed != nil)
	return l, nil
}

// recreated sets what an owner's restore on a restarted coordinator brings
// beyond the lobby itself: its term, and the secret it was adopted with.
func recreated(l *Lobby, e *restoreLobby) {
	l.Term = e.Term
	if secret := decodeSecret(e.LobbySecret); secret != nil {
		l.adopted = &adoption{secret: secret}
	}
}

// tellsTakeover reports, before restore entry e is applied for member,
// whether the member is to be told of the lobby's takeover afterwards: it
// adopts the lobby with a departed owner, or takes back a seat the
// adoption held for it.
func (s *Server) tellsTakeover(e *restoreLobby, member string) bool {
	l := s.reg.Get(e.Lobby)
	if l == nil {
		return e.Adopt && e.Owner && e.Departed != nil
	}
	return l.adopted != nil && l.adopted.departed != nil && s.isHeld(l.ID, member)
}

// isHeld reports whether member's seat in lobby is held for it.
func (s *Server) isHeld(lobby, member string) bool {
	if h := s.held[lobby]; h != nil {
		for _, id := range h.ids {
			if id == member {
				return true
			}
		}
	}
	return false
}

// takenOverFrame is the taken_over push of adopted lobby l to member you,
// as it sees it having reached the coordinator at local; nil when no
// owner departed.
func (s *Server) takenOverFrame(l *Lobby, you string, local netip.Addr) []byte {
	a := l.adopted
	if a == nil || a.departed == nil {
		return nil
	}
	d := *a.departed
	d.Addr = LoopbackAs(d.Addr, local)
	return marshal(movePush{Event: string(NoticeTakenOver), lobbyState: stateAs(l.Info(), local), Member: &d, Reason: a.reason,
		Peers: peersAs(l, you, local)})
}

// takeoverOp answers standby and prove.
func (s *Server) takeoverOp(sess *session, req *request) ([]byte, error) {
	l := s.reg.Get(req.Lobby)
	if req.Lobby == "" || l == nil {
		return nil, errorf(CodeUnknownLobby, "no lobby %q", req.Lobby)
	}
	if req.Op == OpProve {
		if !validNonce(req.Nonce) {
			return nil, errorf(CodeBadRequest, "nonce must be %d-%d bytes of printable ASCII", MinNonceLen, MaxNonceLen)
		}
		return marshal(proveReply{ID: replyID(req.ID), OK: true, Lobby: l.ID, Term: l.Term,
			Proof: Proof(s.secretOf(l), l.ID, l.Term, req.Nonce)}), nil
	}
	if !s.cfg.Takeover {
		return nil, errorf(CodeBadRequest, "this coordinator does not hand its lobbies to a successor (a daemon: its lobbies survive its restarts)")
	}
	if l.memberIndex(sess.id) < 0 {
		return nil, errorf(CodeNotMember, "not in lobby %s", l.ID)
	}
	addr, err := GameAddr(sess.ip, req.Port, req.Addr)
	if err != nil {
		return nil, err
	}
	if s.reg.SetStandby(l, sess.id, addr) {
		// The others learn where the successor would serve now, before
		// anything goes wrong; the member that registered, when that made
		// it the successor.
		except := sess.id
		if l.Successor() == sess.id {
			except = ""
		}
		s.tellStandby(l, except)
	}
	return nil, nil
}

// tellStandby sends the standby push (the state block with the new
// successor_addr) to the members of l but the one that registered it.
func (s *Server) tellStandby(l *Lobby, except string) {
	var others []string
	for _, m := range l.Members {
		if m.ID != except {
			others = append(others, m.ID)
		}
	}
	s.deliver([]Notice{{Kind: noticeStandby, Lobby: l.Info(), Recipients: others}})
}

// Term reports the term of lobby lobbyID on this coordinator, and whether
// it holds the lobby: what the owner of a game's own coordinator compares
// the terms it hears of on the LAN with (its own coordinator's
// announcements among them, which are no higher term).
func (s *Server) Term(ctx context.Context, lobbyID string) (term uint32, held bool, err error) {
	type result struct {
		term uint32
		held bool
	}
	r, err := onLoop(ctx, s, true, func() result {
		if l := s.reg.Get(lobbyID); l != nil {
			return result{l.Term, true}
		}
		return result{}
	})
	return r.term, r.held, err
}

// Moved ends lobby lobbyID on this coordinator because it lives on at the
// coordinator at addr under term (its owner moved it there, or that
// coordinator took it over with a higher term): every member is told where
// (coordinator_moved) and moves there by itself, keeping its seat; nothing
// else is sent (no closed notice). The lobby is dropped; on the LAN its
// goodbye carries its old term, which browsers that heard of the new one
// ignore.
func (s *Server) Moved(ctx context.Context, lobbyID, addr string, term uint32) error {
	err, lerr := onLoop(ctx, s, false, func() error { return s.moved(lobbyID, addr, term) })
	if lerr != nil {
		return lerr
	}
	return err
}

func (s *Server) moved(lobbyID, addr string, term uint32) error {
	l := s.reg.Get(lobbyID)
	if l == nil {
		return errorf(CodeUnknownLobby, "no lobby %q", lobbyID)
	}
	info := l.Info()
	info.Term = term
	frame := marshal(movePush{Event: string(NoticeCoordinatorMoved), lobbyState: stateOf(info), Addr: addr})
	if h := s.held[lobbyID]; h != nil {
		h.timer.Stop()
		delete(s.held, lobbyID)
	}
	for _, m := range s.reg.Drop(lobbyID) {
		if mm := s.members[m.ID]; mm != nil {
			s.send(mm, frame)
			s.noteSeated(mm.sess)
		}
	}
	s.obs.moved.Add(1)
	s.log.Info("lobby moved to another coordinator", "lobby", lobbyID, "to", addr, "term", term)
	return nil
}
