package lanlobby

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

// coordinatorAddr completes a coordinator address given without a port.
func coordinatorAddr(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return net.JoinHostPort(addr, strconv.Itoa(lobby.DefaultPort))
	}
	return addr
}

// dial connects to the coordinator at addr with the config's player name
// and timeout.
func dial(ctx context.Context, cfg Config, addr string) (*lobby.Client, error) {
	c, err := lobby.Dial(ctx, addr, cfg.clientConfig())
	if err != nil {
		return nil, fmt.Errorf("cannot reach coordinator %s: %w", addr, err)
	}
	return c, nil
}

// hostOf is the address a coordinator's lobbies are reached at, as a
// LobbyInfo.Host (the zero value when addr is a name that does not
// resolve).
func hostOf(addr string) netip.AddrPort {
	if ap, ok := addrPort(addr); ok {
		return ap
	}
	if tcp, err := net.ResolveTCPAddr("tcp", addr); err == nil {
		return tcp.AddrPort()
	}
	return netip.AddrPort{}
}

// fromCoordinator is a coordinator's lobby as a LobbyInfo: with all of
// its metadata, and its reserved seats counted among the players (seats
// taken), as the LAN counts them.
func fromCoordinator(l lobby.Info, host netip.AddrPort) LobbyInfo {
	in := LobbyInfo{ID: l.ID, Game: l.Game, Name: l.Name, Players: l.Players + l.Reserved, Capacity: l.Capacity,
		State: beaconState(l.State), Host: host, Seen: time.Now(), Source: "coordinator"}
	in.Version, in.Meta, in.Term = l.Version, beacon.MetaOf(l.Meta), l.Term
	if !l.Created.IsZero() {
		in.CreatedMS = l.Created.UnixMilli()
	}
	return in
}

func listCoordinator(ctx context.Context, cfg Config, game string, f Filter) ([]LobbyInfo, error) {
	addr := coordinatorAddr(cfg.Coordinator)
	c, err := dial(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ls, err := c.ListFiltered(ctx, game, f)
	if err != nil {
		return nil, err
	}
	host := hostOf(addr)
	out := make([]LobbyInfo, len(ls))
	for i, l := range ls {
		out[i] = fromCoordinator(l, host)
	}
	sortLobbies(out)
	return out, nil
}

// subSource is a beacon.Source over a live subscription on a coordinator:
// the coordinator pushes the changes of the lobbies that pass the filter,
// and nothing else (no polling).
type subSource struct {
	c      *lobby.Client
	sub    *lobby.Subscription
	host   netip.AddrPort
	events chan Event
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func startSubSource(ctx context.Context, cfg Config, game string, f Filter) (*subSource, error) {
	addr := coordinatorAddr(cfg.Coordinator)
	c, err := dial(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	sub, err := c.Subscribe(ctx, game, f)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot subscribe at coordinator %s: %w", addr, err)
	}
	s := &subSource{c: c, sub: sub, host: hostOf(addr), events: make(chan Event),
		quit: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

func (s *subSource) Events() <-chan beacon.Event { return s.events }

// run turns the subscription's changes into the view's events; it ends
// when the subscription does (Close, or the coordinator was lost).
func (s *subSource) run() {
	defer close(s.done)
	defer close(s.events)
	for ch := range s.sub.Changes() {
		ev := Event{Type: Updated, Lobby: fromCoordinator(ch.Lobby, s.host)}
		switch ch.Kind {
		case lobby.EventLobbyAdded:
			ev.Type = Added
		case lobby.EventLobbyRemoved:
			ev.Type = Removed
		}
		select {
		case s.events <- ev:
		case <-s.quit:
			return
		}
	}
}

func (s *subSource) stop() {
	s.once.Do(func() { close(s.quit) })
	s.sub.Close()
	<-s.done
	s.c.Close()
}
