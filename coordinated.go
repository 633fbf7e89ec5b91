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

// pollInterval is how often a Browser on a coordinator asks it for its
// lobbies.
const pollInterval = time.Second

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

// fromCoordinator is a coordinator's lobby as a LobbyInfo.
func fromCoordinator(l lobby.Info, host netip.AddrPort) LobbyInfo {
	return LobbyInfo{ID: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity,
		State: beaconState(l.State), Host: host, Seen: time.Now(), Source: "coordinator"}
}

func listCoordinator(ctx context.Context, cfg Config, game string) ([]LobbyInfo, error) {
	addr := coordinatorAddr(cfg.Coordinator)
	c, err := dial(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ls, err := c.List(ctx, game)
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

// poller is a beacon.Source over a coordinator's list: it asks every
// pollInterval and reports the differences.
type poller struct {
	c      *lobby.Client
	host   netip.AddrPort
	game   string
	events chan Event
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func startPoller(ctx context.Context, cfg Config, game string) (*poller, error) {
	addr := coordinatorAddr(cfg.Coordinator)
	c, err := dial(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	p := &poller{c: c, host: hostOf(addr), game: game, events: make(chan Event),
		quit: make(chan struct{}), done: make(chan struct{})}
	go p.run(cfg.Timeout)
	return p, nil
}

func (p *poller) Events() <-chan beacon.Event { return p.events }

func (p *poller) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.done
	p.c.Close()
}

func (p *poller) run(timeout time.Duration) {
	defer close(p.done)
	defer close(p.events)
	known := map[string]LobbyInfo{}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	send := func(ev Event) bool {
		select {
		case p.events <- ev:
			return true
		case <-p.quit:
			return false
		}
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		ls, err := p.c.List(ctx, p.game)
		cancel()
		if err == nil {
			now := map[string]LobbyInfo{}
			for _, l := range ls {
				in := fromCoordinator(l, p.host)
				now[l.ID] = in
				old, ok := known[l.ID]
				switch {
				case !ok:
					if !send(Event{Type: Added, Lobby: in}) {
						return
					}
				case !sameLobby(old, in):
					if !send(Event{Type: Updated, Lobby: in}) {
						return
					}
				}
			}
			for id, old := range known {
				if _, ok := now[id]; !ok && !send(Event{Type: Removed, Lobby: old}) {
					return
				}
			}
			known = now
		}
		select {
		case <-tick.C:
		case <-p.quit:
			return
		case <-p.c.Done():
			return
		}
	}
}

// sameLobby compares what a player sees of a lobby.
func sameLobby(a, b LobbyInfo) bool {
	return a.ID == b.ID && a.Game == b.Game && a.Name == b.Name && a.Players == b.Players &&
		a.Capacity == b.Capacity && a.State == b.State && a.Host == b.Host
}
