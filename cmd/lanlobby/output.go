package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

// printer writes what the CLI has to say, as text for people or as one JSON
// object per line (each with an "event" field) for programs.
type printer struct {
	mu   sync.Mutex // one line at a time
	w    io.Writer
	json bool
	self string // our member id, to say "you" in text
	// names remembers player names by member id for readable text output.
	names map[string]string
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	return &printer{w: w, json: asJSON, names: map[string]string{}}
}

// peerJSON is a peer in JSON output.
type peerJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Addr string `json:"addr"`
}

func peersJSON(ms []lobby.Member) []peerJSON {
	out := make([]peerJSON, len(ms))
	for i, m := range ms {
		out[i] = peerJSON{ID: m.ID, Name: m.Name, Addr: m.Addr}
	}
	return out
}

func (p *printer) emit(v any, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(v)
		p.w.Write(append(b, '\n'))
		return
	}
	fmt.Fprintln(p.w, text)
}

func (p *printer) who(id string) string {
	if id == "" {
		return "nobody"
	}
	if id == p.self {
		return "you"
	}
	if n := p.names[id]; n != "" {
		return fmt.Sprintf("%s (%s)", n, id)
	}
	return id
}

func (p *printer) remember(ms ...lobby.Member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms {
		p.names[m.ID] = m.Name
	}
}

// joined reports a successful create (created=true) or join.
func (p *printer) joined(l lobby.Info, you lobby.Member, peers []lobby.Member, invite string, created bool, coordinator string) {
	p.self = you.ID
	p.remember(you)
	p.remember(peers...)
	event := "joined"
	if created {
		event = "created"
	}
	v := struct {
		Event       string     `json:"event"`
		Lobby       string     `json:"lobby"`
		Game        string     `json:"game"`
		Name        string     `json:"name"`
		Players     int        `json:"players"`
		Capacity    int        `json:"capacity"`
		Owner       string     `json:"owner"`
		Coordinator string     `json:"coordinator,omitempty"`
		Private     bool       `json:"private,omitempty"`
		Invite      string     `json:"invite,omitempty"`
		You         peerJSON   `json:"you"`
		Peers       []peerJSON `json:"peers"`
	}{event, l.ID, l.Game, l.Name, l.Players, l.Capacity, l.Owner, coordinator, l.Private, invite,
		peerJSON{you.ID, you.Name, you.Addr}, peersJSON(peers)}
	var b strings.Builder
	if created {
		fmt.Fprintf(&b, "created lobby %s %q (%s, %d/%d players)", l.ID, l.Name, l.Game, l.Players, l.Capacity)
	} else {
		fmt.Fprintf(&b, "joined lobby %s %q (%s, %d/%d players), owner %s", l.ID, l.Name, l.Game, l.Players, l.Capacity, p.who(l.Owner))
	}
	if coordinator != "" {
		fmt.Fprintf(&b, " on coordinator %s", coordinator)
	}
	if l.Private {
		b.WriteString("\nprivate lobby: not listed or announced; players join with its id")
		if invite != "" {
			fmt.Fprintf(&b, " and the invite code %s", invite)
		} else {
			b.WriteString(" and the password")
		}
	}
	fmt.Fprintf(&b, "\nyou are %s, your game address %s", you.ID, you.Addr)
	if len(peers) == 0 {
		b.WriteString("\nno peers yet; waiting for players")
	} else {
		b.WriteString("\npeers:")
		for _, m := range peers {
			fmt.Fprintf(&b, "\n  %-10s %-20s %s", m.ID, m.Name, m.Addr)
		}
	}
	p.emit(v, b.String())
}

// event reports a notice from the coordinator.
func (p *printer) event(ev lobby.Event) {
	l := ev.Lobby
	switch ev.Kind {
	case lobby.NoticeMemberJoined:
		p.remember(ev.Member)
		p.emit(struct {
			Event     string   `json:"event"`
			Lobby     string   `json:"lobby"`
			Member    peerJSON `json:"member"`
			Players   int      `json:"players"`
			Capacity  int      `json:"capacity"`
			Owner     string   `json:"owner"`
			Successor string   `json:"successor"`
		}{"member_joined", l.ID, peerJSON{ev.Member.ID, ev.Member.Name, ev.Member.Addr}, l.Players, l.Capacity, l.Owner, l.Successor},
			fmt.Sprintf("+ %s joined from %s (%d/%d players)", p.who(ev.Member.ID), ev.Member.Addr, l.Players, l.Capacity))
	case lobby.NoticeMemberLeft:
		p.emit(struct {
			Event     string   `json:"event"`
			Lobby     string   `json:"lobby"`
			Member    peerJSON `json:"member"`
			Reason    string   `json:"reason"`
			Players   int      `json:"players"`
			Capacity  int      `json:"capacity"`
			Owner     string   `json:"owner"`
			Successor string   `json:"successor"`
		}{"member_left", l.ID, peerJSON{ev.Member.ID, ev.Member.Name, ev.Member.Addr}, string(ev.Reason), l.Players, l.Capacity, l.Owner, l.Successor},
			fmt.Sprintf("- %s left: %s (%d/%d players)", p.who(ev.Member.ID), ev.Reason, l.Players, l.Capacity))
	case lobby.NoticeMemberAway, lobby.NoticeMemberBack:
		text := fmt.Sprintf("? %s is away (%s); their seat is kept while they reconnect", p.who(ev.Member.ID), ev.Reason)
		if ev.Kind == lobby.NoticeMemberBack {
			text = fmt.Sprintf("= %s is back", p.who(ev.Member.ID))
		}
		p.emit(struct {
			Event    string   `json:"event"`
			Lobby    string   `json:"lobby"`
			Member   peerJSON `json:"member"`
			Reason   string   `json:"reason,omitempty"`
			Players  int      `json:"players"`
			Capacity int      `json:"capacity"`
		}{string(ev.Kind), l.ID, peerJSON{ev.Member.ID, ev.Member.Name, ev.Member.Addr}, string(ev.Reason), l.Players, l.Capacity}, text)
	case lobby.EventResumed, lobby.EventCoordinatorRestarted, lobby.EventRejoined:
		text := fmt.Sprintf("= link to the coordinator restored; still in lobby %s (%d/%d players)", l.ID, l.Players, l.Capacity)
		switch ev.Kind {
		case lobby.EventCoordinatorRestarted:
			text = fmt.Sprintf("= the coordinator restarted; lobby %s restored (%d/%d players so far)", l.ID, l.Players, l.Capacity)
		case lobby.EventRejoined:
			text = fmt.Sprintf("= the link was down past the coordinator's grace; back in lobby %s as a new member (%d/%d players)", l.ID, l.Players, l.Capacity)
		}
		p.emit(struct {
			Event    string `json:"event"`
			Lobby    string `json:"lobby"`
			Players  int    `json:"players"`
			Capacity int    `json:"capacity"`
			Owner    string `json:"owner"`
		}{string(ev.Kind), l.ID, l.Players, l.Capacity, l.Owner}, text)
	case lobby.NoticeOwnerChanged:
		p.emit(struct {
			Event     string `json:"event"`
			Lobby     string `json:"lobby"`
			Owner     string `json:"owner"`
			Successor string `json:"successor"`
		}{"owner_changed", l.ID, l.Owner, l.Successor},
			fmt.Sprintf("* owner is now %s; next in line %s", p.who(l.Owner), p.who(l.Successor)))
	case lobby.NoticeStarted:
		var b strings.Builder
		fmt.Fprintf(&b, "> game started with %d players:", len(ev.Peers))
		for _, m := range ev.Peers {
			fmt.Fprintf(&b, "\n  %-10s %-20s %s", m.ID, m.Name, m.Addr)
		}
		p.emit(struct {
			Event string     `json:"event"`
			Lobby string     `json:"lobby"`
			Peers []peerJSON `json:"peers"`
		}{"started", l.ID, peersJSON(ev.Peers)}, b.String())
	case lobby.NoticeClosed:
		p.emit(struct {
			Event  string `json:"event"`
			Lobby  string `json:"lobby"`
			Reason string `json:"reason"`
		}{"closed", l.ID, string(ev.Reason)}, fmt.Sprintf("x lobby %s closed: %s", l.ID, ev.Reason))
	case lobby.NoticeUpdated:
		p.emit(struct {
			Event string            `json:"event"`
			Lobby string            `json:"lobby"`
			Meta  map[string]string `json:"meta"`
		}{"lobby_updated", l.ID, l.Meta}, fmt.Sprintf("~ lobby %s metadata: %v", l.ID, l.Meta))
	case lobby.EventError:
		p.fail(ev.Err)
	}
}

// fail reports an error as an "error" event.
func (p *printer) fail(err error) {
	code := ""
	var e *lobby.Error
	if errors.As(err, &e) {
		code = string(e.Code)
	}
	p.emit(struct {
		Event string `json:"event"`
		Error string `json:"error"`
		Code  string `json:"code,omitempty"`
	}{"error", err.Error(), code}, "! "+err.Error())
}

// warn reports a problem that does not stop the command, as a "warning"
// event.
func (p *printer) warn(err error) {
	p.emit(struct {
		Event   string `json:"event"`
		Warning string `json:"warning"`
	}{"warning", err.Error()}, "! "+err.Error())
}

// lobbies prints a listing: a table for people, one object per lobby for
// programs.
func (p *printer) lobbies(ls []lanlobby.LobbyInfo) {
	if !p.json {
		if len(ls) == 0 {
			p.emit(nil, "no lobbies")
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%-10s  %-16s  %-24s  %-7s  %s", "ID", "GAME", "NAME", "PLAYERS", "STATE")
		for _, l := range ls {
			fmt.Fprintf(&b, "\n%-10s  %-16s  %-24s  %3d/%-3d  %s", l.ID, l.Game, l.Name, l.Players, l.Capacity, l.State)
		}
		p.emit(nil, b.String())
		return
	}
	for _, l := range ls {
		p.emit(struct {
			ID       string `json:"id"`
			Game     string `json:"game"`
			Name     string `json:"name"`
			Players  int    `json:"players"`
			Capacity int    `json:"capacity"`
			State    string `json:"state"`
		}{l.ID, l.Game, l.Name, l.Players, l.Capacity, l.State.String()}, "")
	}
}

// lanLobbyJSON is a lobby seen on the LAN, in JSON output.
type lanLobbyJSON struct {
	Event    string  `json:"event,omitempty"`
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Game     string  `json:"game"`
	Players  int     `json:"players"`
	Capacity int     `json:"capacity"`
	State    string  `json:"state"`
	Addr     string  `json:"addr"`
	RTTms    float64 `json:"rtt_ms,omitempty"`
	Source   string  `json:"source,omitempty"`
}

func toLANJSON(event string, l beacon.LobbyInfo) lanLobbyJSON {
	return lanLobbyJSON{Event: event, ID: l.ID, Name: l.Name, Game: l.Game, Players: l.Players, Capacity: l.Capacity,
		State: l.State.String(), Addr: l.Host.String(), RTTms: float64(l.RTT.Microseconds()) / 1000, Source: l.Source}
}

const lanHeader = "NAME                      GAME          PLAYERS  STATE    HOST                          RTT"

func lanRow(l beacon.LobbyInfo) string {
	rtt := "-"
	if l.RTT > 0 {
		rtt = fmt.Sprintf("%.1fms", float64(l.RTT.Microseconds())/1000)
	}
	return fmt.Sprintf("%-24s  %-12s  %3d/%-3d  %-7s  %-28s  %s", l.Name, l.Game, l.Players, l.Capacity, l.State, l.Host, rtt)
}

// lanLobby prints one lobby of a LAN listing as soon as it is heard.
func (p *printer) lanLobby(l beacon.LobbyInfo, first bool) {
	row := lanRow(l)
	if first {
		row = lanHeader + "\n" + row
	}
	p.emit(toLANJSON("", l), row)
}

// lanEvent prints one change seen by watch as a line.
func (p *printer) lanEvent(ev beacon.Event) {
	mark := map[beacon.EventType]string{beacon.Added: "+", beacon.Updated: "~", beacon.Removed: "-"}[ev.Type]
	p.emit(toLANJSON(ev.Type.String(), ev.Lobby), mark+" "+lanRow(ev.Lobby))
}
