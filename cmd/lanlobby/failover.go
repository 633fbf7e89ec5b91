package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// nextText words what a client does after losing its coordinator.
var nextText = map[string]string{
	lobby.NextResuming:    "reconnecting to it",
	lobby.NextFailingOver: "moving to the successor's coordinator",
	lobby.NextTakingOver:  "you are next in line: taking the lobby over",
	lobby.NextMoving:      "following the lobby",
	lobby.NextGivingUp:    "giving up",
}

// failover reports the coordinator's loss, the reconnection's progress, a
// takeover and a move.
func (p *printer) failover(ev lobby.Event) {
	l := ev.Lobby
	switch ev.Kind {
	case lobby.EventCoordinatorLost:
		p.emit(struct {
			Event  string `json:"event"`
			Lobby  string `json:"lobby,omitempty"`
			Reason string `json:"reason"`
			Next   string `json:"next"`
		}{"coordinator_lost", l.ID, string(ev.Reason), ev.Next},
			fmt.Sprintf("! lost the coordinator (%s); %s", strings.ReplaceAll(string(ev.Reason), "_", " "), nextText[ev.Next]))
	case lobby.EventReconnecting:
		p.emit(struct {
			Event     string `json:"event"`
			Lobby     string `json:"lobby,omitempty"`
			Attempt   int    `json:"attempt"`
			ElapsedMS int64  `json:"elapsed_ms"`
			Addr      string `json:"addr,omitempty"`
		}{"reconnecting", l.ID, ev.Attempt, ev.Elapsed.Milliseconds(), ev.Addr},
			fmt.Sprintf("… still reconnecting after %v (attempt %d, trying %s)", ev.Elapsed.Round(100*time.Millisecond), ev.Attempt, ev.Addr))
	case lobby.NoticeTakenOver:
		p.remember(ev.Peers...)
		var b strings.Builder
		fmt.Fprintf(&b, "* the lobby's coordinator was lost: %s took lobby %s over (term %d); %s %s (%d/%d players)",
			p.who(l.Owner), l.ID, l.Term, p.who(ev.Member.ID), leftHow(ev.Reason), l.Players, l.Capacity)
		b.WriteString("\npeers:")
		for _, m := range ev.Peers {
			fmt.Fprintf(&b, "\n  %s %s %s", cell(m.ID, 10), cell(m.Name, 20), m.Addr)
		}
		p.emit(struct {
			Event    string     `json:"event"`
			Lobby    string     `json:"lobby"`
			Term     uint32     `json:"term"`
			Owner    string     `json:"owner"`
			Departed peerJSON   `json:"departed"`
			Reason   string     `json:"reason"`
			Players  int        `json:"players"`
			Capacity int        `json:"capacity"`
			Peers    []peerJSON `json:"peers"`
		}{"taken_over", l.ID, l.Term, l.Owner, peerJSON{ev.Member.ID, ev.Member.Name, ev.Member.Addr}, string(ev.Reason),
			l.Players, l.Capacity, peersJSON(ev.Peers)}, b.String())
	case lobby.NoticeCoordinatorMoved:
		p.emit(struct {
			Event string `json:"event"`
			Lobby string `json:"lobby"`
			Addr  string `json:"addr"`
			Term  uint32 `json:"term"`
		}{"coordinator_moved", l.ID, ev.Addr, l.Term},
			fmt.Sprintf("> lobby %s moved to the coordinator at %s (term %d)", l.ID, ev.Addr, l.Term))
	}
}
