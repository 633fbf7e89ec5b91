package lobby

import (
	"net/netip"
	"time"
)

// Seats held after a restart. When an owner re-creates its lobby on a
// restarted coordinator, it lists the members it knew (restoreLobby
// Members, in join order). Their seats are held for them for the restore
// window: they are members of the lobby as far as everyone can tell
// (listed as peers, counted as taken by join and quick-join), without a
// link. A member that restores takes its seat back quietly; one that is
// not back when the window ends is reported gone (member_left, reason
// timeout). Without this, new players quick-joining the restored lobby
// took the seats of members that had not come back yet.

// heldSeats are the seats held in one lobby. Owned by the state goroutine.
type heldSeats struct {
	ids   []string // members whose seats are held, in join order
	gen   uint64   // tells this hold from a later one of a lobby with the same id
	timer *time.Timer
}

// hold keeps, for the restore window, the seats of the members the owner
// listed when it restored l.
func (s *Server) hold(l *Lobby, roster []Member) {
	if s.cfg.RestoreWindow <= 0 || len(roster) == 0 {
		return
	}
	ids := s.reg.holdSeats(l, roster)
	if len(ids) == 0 {
		return
	}
	if old := s.held[l.ID]; old != nil {
		old.timer.Stop()
	}
	s.heldGen++
	h := &heldSeats{ids: ids, gen: s.heldGen}
	id, gen := l.ID, h.gen
	h.timer = time.AfterFunc(s.cfg.RestoreWindow, func() {
		s.submit(op{kind: opRestoreWindow, lobby: id, gen: gen})
	})
	s.held[l.ID] = h
	s.log.Info("seats held for a restore", "lobby", l.ID, "seats", len(ids), "window", s.cfg.RestoreWindow)
}

// reclaim gives member you its seat in l back: a held seat, or one it has
// already. The others are told only when its game address changed
// (member_back with the new one).
func (s *Server) reclaim(l *Lobby, you Member) []Notice {
	if h := s.held[l.ID]; h != nil {
		for i, id := range h.ids {
			if id == you.ID {
				h.ids = append(h.ids[:i], h.ids[i+1:]...)
				break
			}
		}
		if len(h.ids) == 0 {
			h.timer.Stop()
			delete(s.held, l.ID)
		}
	}
	i := l.memberIndex(you.ID)
	if cur := l.Members[i]; cur.Name == you.Name && cur.Addr == you.Addr {
		l.Members[i].Key = you.Key // a held seat knows no player key
		return nil
	}
	l.Members[i] = you
	var others []string
	for _, x := range l.Members {
		if x.ID != you.ID {
			others = append(others, x.ID)
		}
	}
	return []Notice{{Kind: NoticeMemberBack, Lobby: l.Info(), Member: you, Recipients: others}}
}

// restoreWindowOver ends the hold of a lobby's seats: members not back
// leave it, and the others are told.
func (s *Server) restoreWindowOver(lobbyID string, gen uint64) {
	h := s.held[lobbyID]
	if h == nil || h.gen != gen {
		return
	}
	delete(s.held, lobbyID)
	if s.reg.Get(lobbyID) == nil {
		return
	}
	for _, id := range h.ids {
		if ns, err := s.reg.Leave(id, lobbyID, ReasonTimeout); err == nil {
			s.deliver(ns)
			s.log.Info("held seat released: its member did not come back", "lobby", lobbyID, "member", id)
		}
	}
}

// heldCount is how many seats are held now.
func (s *Server) heldCount() int {
	n := 0
	for lobbyID, h := range s.held {
		l := s.reg.Get(lobbyID)
		for _, id := range h.ids {
			if l != nil && l.memberIndex(id) >= 0 {
				n++
			}
		}
	}
	return n
}

// holdSeats adds the members of roster (an owner's view of l, in join
// order) that l lacks, as far as its capacity allows, without notices:
// everyone had them already. Entries that are not valid members (id,
// name, game address) or are in too many lobbies are skipped. It returns
// the ids added.
func (r *Registry) holdSeats(l *Lobby, roster []Member) []string {
	var ids []string
	for _, m := range roster {
		if len(l.Members) >= l.Capacity {
			break
		}
		if !validLobbyID(m.ID) || l.memberIndex(m.ID) >= 0 || ValidatePlayerName(m.Name) != nil ||
			len(r.byMember[m.ID]) >= r.maxPerMbr {
			continue
		}
		ap, err := netip.ParseAddrPort(m.Addr)
		if err != nil || ap.Port() == 0 {
			continue
		}
		l.Members = append(l.Members, Member{ID: m.ID, Name: m.Name, Addr: ap.String()})
		r.byMember[m.ID] = append(r.byMember[m.ID], l.ID)
		ids = append(ids, m.ID)
	}
	if len(ids) > 0 {
		l.refreshState()
		r.index(l.Game).update(l)
		r.noteChange(l)
	}
	return ids
}
