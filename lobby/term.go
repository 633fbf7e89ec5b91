package lobby

import (
	"slices"
	"time"
)

// Terms and standby addresses: what the model keeps so that a lobby can
// outlive its coordinator (takeover.go is the server's side, failover.go
// the client's).
//
// A lobby's term counts how often it changed coordinator: 0 when created,
// one more each time a successor takes it over or its owner moves it to
// another coordinator. Every announcement and state block carries it, and
// when two coordinators hold the same lobby the higher term wins: browsers
// show that one, and the coordinator with the lower term, once it hears of
// the other, hands its members over (coordinator_moved).
//
// A standby address is where a member would serve the lobby if it had to
// take it over: every member of a lobby on a coordinator that hands its
// lobbies to their successors registers one (op standby), and the state
// block carries the successor's as successor_addr, so that the others know
// where to go before anything goes wrong.

// adoption is what a coordinator keeps about a lobby it took over from
// another one (a successor's coordinator, or a daemon its owner moved it
// to): the lobby's secret, which the members' seat credentials are made
// with, and who left in the takeover, told to the members as they arrive.
type adoption struct {
	secret   []byte
	departed *Member // the previous owner, when a successor took over
	reason   Reason  // why it departed
}

// AdoptSpec is what a lobby brings along when it moves to a coordinator
// other than the one that made it.
type AdoptSpec struct {
	// Term is the lobby's term on its new coordinator (one more than it
	// had).
	Term uint32
	// Started: the lobby had started.
	Started bool
	// Created is when the lobby was first made (zero: now), so that it
	// keeps its place in the quick-join order.
	Created time.Time
}

// Adopt makes the lobby id, with m as owner and first member, on a
// coordinator that did not make it (see AdoptSpec); it fails as Create
// does, and with CodeAlreadyMember when a lobby of that id exists.
func (r *Registry) Adopt(m Member, id string, spec CreateSpec, a AdoptSpec) (*Lobby, error) {
	if !validLobbyID(id) {
		return nil, errorf(CodeBadRequest, "lobby id %q cannot be taken over", id)
	}
	if r.lobbies[id] != nil {
		return nil, errorf(CodeAlreadyMember, "a lobby %s exists here already", id)
	}
	prevID, prevNow := r.newID, r.now
	r.newID = func() string { return id }
	if !a.Created.IsZero() {
		r.now = func() time.Time { return a.Created }
	}
	var l *Lobby
	var err error
	r.quietly(func() { l, err = r.Create(m, spec) })
	r.newID, r.now = prevID, prevNow
	if err != nil {
		return nil, err
	}
	l.Term = a.Term
	if a.Started {
		l.State = StateStarted
		r.index(l.Game).remove(l)
	}
	r.noteChange(l)
	return l, nil
}

// quietly runs f, which makes a lobby in steps, without recording the
// changes it makes (noteChange): the caller records the lobby once it is
// whole. A lobby adopted under term 1 must never reach the LAN or the
// subscribers as term 0: another coordinator still announcing term 0
// would take that for a false claim about its lobby.
func (r *Registry) quietly(f func()) {
	track := r.track
	r.track = false
	defer func() { r.track = track }()
	f()
}

// SetStandby records where member would serve lobby l if it took it over.
// It reports whether that changed the lobby's successor or successor_addr
// (a member with a standby address goes before those without: Successor).
func (r *Registry) SetStandby(l *Lobby, member, addr string) bool {
	if l.standby == nil {
		l.standby = make(map[string]string)
	}
	succ := l.Successor()
	before := l.standby[succ]
	l.standby[member] = addr
	return l.Successor() != succ || l.standby[l.Successor()] != before
}

// Drop removes a lobby without telling anyone (it lives on at another
// coordinator, whose members were told where): its members' seats go, and
// it is recorded as closed for the LAN's goodbye. It returns the members it
// had, nil when there is no such lobby.
func (r *Registry) Drop(lobbyID string) []Member {
	l := r.lobbies[lobbyID]
	if l == nil {
		return nil
	}
	members := slices.Clone(l.Members)
	for _, m := range l.Members {
		r.unlinkMember(m.ID, l.ID)
	}
	r.dropLobby(l)
	return members
}

// successorAddr is the standby address of l's successor ("" when none).
func (l *Lobby) successorAddr() string {
	if len(l.standby) == 0 {
		return ""
	}
	return l.standby[l.Successor()]
}

// forgetStandby drops a departing member's standby address.
func (l *Lobby) forgetStandby(member string) {
	delete(l.standby, member)
}
