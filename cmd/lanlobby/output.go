package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/doctor"
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
	// lan are this machine's LAN addresses: a game address recorded as
	// loopback (a member on the coordinator's machine) is shown as the
	// others see it.
	lan []netip.Addr
	// color is set on a fancy terminal (see fancy).
	color bool
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	return &printer{w: w, json: asJSON, names: map[string]string{}, color: !asJSON && fancy(w)}
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

// seenAs is a game address as the other members see it: a loopback one
// (the member runs on the coordinator's machine) becomes this machine's
// LAN address with the same port.
func (p *printer) seenAs(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() || len(p.lan) == 0 {
		return addr
	}
	return netip.AddrPortFrom(p.lan[0], ap.Port()).String()
}

// joinCommand is what a player pastes to join a private lobby: its id,
// the coordinator's address as others reach it, and the password or
// invite code ("PASSWORD" when only the host knows it).
func (p *printer) joinCommand(l lobby.Info, coordinator, invite string) string {
	if port, ok := strings.CutPrefix(coordinator, ":"); ok && len(p.lan) > 0 {
		coordinator = net.JoinHostPort(p.lan[0].String(), port)
	}
	secret := invite
	if secret == "" {
		secret = "PASSWORD"
	}
	return fmt.Sprintf("lanlobby join %s --coordinator %s --password %s --port GAMEPORT", l.ID, coordinator, secret)
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
		JoinCommand string     `json:"join_command,omitempty"`
		You         peerJSON   `json:"you"`
		YouSeenAs   string     `json:"you_seen_as"`
		Peers       []peerJSON `json:"peers"`
	}{Event: event, Lobby: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity, Owner: l.Owner,
		Coordinator: coordinator, Private: l.Private, Invite: invite,
		You: peerJSON{you.ID, you.Name, you.Addr}, YouSeenAs: p.seenAs(you.Addr), Peers: peersJSON(peers)}
	if l.Private && created {
		v.JoinCommand = p.joinCommand(l, coordinator, invite)
	}
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
		if created {
			b.WriteString(", like this:\n  " + v.JoinCommand)
		}
	}
	fmt.Fprintf(&b, "\nyou are %s; the others reach your game at %s", you.ID, p.seenAs(you.Addr))
	if len(peers) == 0 {
		b.WriteString("\nno peers yet; waiting for players")
	} else {
		b.WriteString("\npeers:")
		for _, m := range peers {
			fmt.Fprintf(&b, "\n  %s %s %s", cell(m.ID, 10), cell(m.Name, 20), m.Addr)
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
			fmt.Sprintf("- %s %s (%d/%d players)", p.who(ev.Member.ID), leftHow(ev.Reason), l.Players, l.Capacity))
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
			ownerText(p.who(l.Owner), l.Successor, p.who))
	case lobby.NoticeStarted:
		var b strings.Builder
		fmt.Fprintf(&b, "> game started with %d players:", len(ev.Peers))
		for _, m := range ev.Peers {
			fmt.Fprintf(&b, "\n  %s %s %s", cell(m.ID, 10), cell(m.Name, 20), m.Addr)
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
	case lobby.NoticeReservationExpired:
		p.emit(struct {
			Event    string `json:"event"`
			Lobby    string `json:"lobby"`
			Released int    `json:"released"`
			Players  int    `json:"players"`
			Capacity int    `json:"capacity"`
		}{"reservation_expired", l.ID, ev.Released, l.Players, l.Capacity},
			fmt.Sprintf("~ %d held seats were not claimed in time and are free again (%d/%d players)", ev.Released, l.Players, l.Capacity))
	case lobby.EventCoordinatorLost, lobby.EventReconnecting, lobby.NoticeTakenOver, lobby.NoticeCoordinatorMoved:
		p.failover(ev)
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

// leftHow words a member_left reason: "left" when it left, else how it
// was dropped.
func leftHow(r lobby.Reason) string {
	switch r {
	case lobby.ReasonLeft:
		return "left"
	case lobby.ReasonKicked:
		return "was kicked"
	}
	return "dropped (" + strings.ReplaceAll(string(r), "_", " ") + ")"
}

// ownerText is the owner_changed line; the next in line only when there
// is one.
func ownerText(owner, successor string, who func(string) string) string {
	if successor == "" {
		return fmt.Sprintf("* owner is now %s", owner)
	}
	return fmt.Sprintf("* owner is now %s; next in line %s", owner, who(successor))
}

// plural is "1 lobby", "2 lobbies".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// hostString shows a coordinator address without the zone of a
// link-local IPv6 address (it names an interface of this machine, and
// the list prefers IPv4, which a host with one is shown by).
func hostString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "-"
	}
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()).String()
}

// Table columns, in terminal columns: names may be wide (CJK, emoji) or
// long, and are fitted to these.
const (
	colID      = 10
	colName    = 24
	colGame    = 12
	colPlayers = 7
	colState   = 7
	colHost    = 26
)

// dupNames returns the names (without case) several lobbies share.
func dupNames(ls []lanlobby.LobbyInfo) map[string]bool {
	n := map[string]int{}
	for _, l := range ls {
		n[strings.ToLower(l.Name)]++
	}
	dup := map[string]bool{}
	for k, c := range n {
		if c > 1 {
			dup[k] = true
		}
	}
	return dup
}

func tableHeader(withHost bool) string {
	h := cell("ID", colID) + "  " + cell("NAME", colName) + "  " + cell("GAME", colGame) + "  " + cell("PLAYERS", colPlayers) + "  " + cell("STATE", colState)
	if withHost {
		h += "  " + cell("HOST", colHost) + "  RTT"
	}
	return strings.TrimRight(h, " ")
}

// tableRow is one lobby; dup marks a name several lobbies share.
func tableRow(l lanlobby.LobbyInfo, dup, withHost bool) string {
	name := l.Name
	if dup {
		name = "*" + name
	}
	row := cell(l.ID, colID) + "  " + cell(name, colName) + "  " + cell(l.Game, colGame) + "  " +
		cell(fmt.Sprintf("%d/%d", l.Players, l.Capacity), colPlayers) + "  " + cell(l.State.String(), colState)
	if withHost {
		rtt := "-"
		if l.RTT > 0 {
			rtt = fmt.Sprintf("%.1fms", float64(l.RTT.Microseconds())/1000)
		}
		row += "  " + cell(hostString(l.Host), colHost) + "  " + rtt
	}
	return strings.TrimRight(row, " ")
}

// table is a listing for people: a header, one row per lobby, and a note
// when names repeat.
func table(ls []lanlobby.LobbyInfo, withHost bool) string {
	dup := dupNames(ls)
	var b strings.Builder
	b.WriteString(tableHeader(withHost))
	for _, l := range ls {
		b.WriteString("\n" + tableRow(l, dup[strings.ToLower(l.Name)], withHost))
	}
	if len(dup) > 0 {
		b.WriteString("\n* several lobbies have this name: join one by its ID")
	}
	return b.String()
}

// lanLobbyJSON is a lobby in JSON output.
type lanLobbyJSON struct {
	Event     string            `json:"event,omitempty"`
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Game      string            `json:"game"`
	Players   int               `json:"players"`
	Capacity  int               `json:"capacity"`
	State     string            `json:"state"`
	Addr      string            `json:"addr,omitempty"`
	RTTms     float64           `json:"rtt_ms,omitempty"`
	Source    string            `json:"source,omitempty"`
	Duplicate bool              `json:"duplicate_name,omitempty"`
	Version   string            `json:"version,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
}

func toLANJSON(event string, l beacon.LobbyInfo, dup bool) lanLobbyJSON {
	addr := ""
	if l.Host.IsValid() {
		addr = hostString(l.Host)
	}
	return lanLobbyJSON{Event: event, ID: l.ID, Name: l.Name, Game: l.Game, Players: l.Players, Capacity: l.Capacity,
		State: l.State.String(), Addr: addr, RTTms: float64(l.RTT.Microseconds()) / 1000, Source: l.Source, Duplicate: dup,
		Version: l.Version, Meta: l.Meta.Map()}
}

// lobbies prints a listing: a table for people (with the host on the
// LAN), one object per lobby for programs.
func (p *printer) lobbies(ls []lanlobby.LobbyInfo, withHost bool) {
	if p.json {
		dup := dupNames(ls)
		for _, l := range ls {
			p.emit(toLANJSON("", l, dup[strings.ToLower(l.Name)]), "")
		}
		return
	}
	if len(ls) == 0 {
		if withHost {
			p.emit(nil, "no lobbies found on the LAN")
		} else {
			p.emit(nil, "no lobbies")
		}
		return
	}
	p.emit(nil, table(ls, withHost))
}

// reservation reports the seats held for the player's party and how the
// party claims them.
func (p *printer) reservation(r *lobby.Reservation) {
	p.emit(struct {
		Event      string  `json:"event"`
		Lobby      string  `json:"lobby"`
		Seats      int     `json:"seats"`
		Token      string  `json:"token"`
		ExpiresInS float64 `json:"expires_in_s"`
	}{"reserved", r.Lobby, r.Seats, r.Token, time.Until(r.Expires).Seconds()},
		fmt.Sprintf("%d seats held for your party for %v: each joins with\n  lanlobby join %s --reservation %s",
			r.Seats, time.Until(r.Expires).Round(time.Second), r.Lobby, r.Token))
}

// lanEvent prints one change seen by watch as a line.
func (p *printer) lanEvent(ev beacon.Event) {
	mark := map[beacon.EventType]string{beacon.Added: "+", beacon.Updated: "~", beacon.Removed: "-"}[ev.Type]
	p.emit(toLANJSON(ev.Type.String(), ev.Lobby, false), mark+" "+tableRow(ev.Lobby, false, true))
}

// finding prints one result of lanlobby doctor: a line with its status
// and check, the fix indented below.
func (p *printer) finding(f doctor.Finding) {
	mark := map[doctor.Status]string{doctor.OK: "ok  ", doctor.Warn: "WARN", doctor.Fail: "FAIL"}[f.Status]
	if p.color {
		mark = map[doctor.Status]string{doctor.OK: "\x1b[32m", doctor.Warn: "\x1b[33m", doctor.Fail: "\x1b[31m"}[f.Status] + mark + "\x1b[0m"
	}
	text := fmt.Sprintf("%s  %-26s %s", mark, f.Check, f.Detail)
	if f.Fix != "" {
		text += "\n      fix: " + f.Fix
	}
	p.emit(f, text)
}
