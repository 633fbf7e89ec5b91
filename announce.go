package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/beacon/mdns"
	"github.com/lanlobby/lanlobby/lobby"
)

// announcer advertises a coordinator's lobbies on the LAN over the UDP
// beacon and mDNS/DNS-SD, each unless switched off. The coordinator's
// state goroutine hands it every lobby change (follow) without ever
// waiting: changes are coalesced per lobby and applied by the announcer's
// own goroutine, so a slow responder never holds up a join.
type announcer struct {
	adv  *beacon.Advertiser // nil when the beacon is off or failed
	resp *mdns.Responder    // nil when mDNS is off or failed
	port uint16
	log  *slog.Logger
	run  running
	// problem says which protocol could not start (nil when both did).
	problem *DiscoveryError

	mu      sync.Mutex // guards pending, order, closed
	pending map[string]lobby.Info
	order   []string // lobby ids in pending, oldest change first
	closed  bool
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

// startAnnouncer starts advertising on the LAN the lobbies of the
// coordinator listening on port. coord, when set, also announces the
// coordinator itself (a daemon); a game's own coordinator passes nil. It
// fails with ErrNoAnnounce (and a DiscoveryError naming each cause) only
// when nothing at all could start; when one protocol failed, the other
// carries on and Problem says why.
func startAnnouncer(cfg Config, port uint16, coord *beacon.Coordinator) (*announcer, error) {
	if cfg.NoBeacon && cfg.NoMDNS {
		return nil, ErrNoDiscovery
	}
	key, err := cfg.lanKey()
	if err != nil {
		return nil, err
	}
	a := &announcer{port: port, log: cfg.Logger, run: running{spawn: cfg.spawn}, pending: make(map[string]lobby.Info),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	var problem DiscoveryError
	ctx := context.Background() // the components stop by Close
	if !cfg.NoBeacon {
		adv, err := beacon.NewAdvertiser(beacon.AdvertiserConfig{Net: cfg.beaconNet(), Interval: cfg.BeaconInterval,
			Coordinator: coord, Logger: cfg.Logger, Key: key})
		if err == nil {
			err = a.run.start(ctx, "beacon", adv)
		}
		if err != nil {
			problem.Beacon = err
			a.log.Warn("cannot announce over the beacon", "err", err)
		} else {
			a.adv = adv
		}
	}
	if !cfg.NoMDNS {
		resp, err := mdns.NewResponder(mdns.ResponderConfig{Interfaces: cfg.ifaces(), Logger: cfg.Logger, Key: key})
		if err == nil {
			err = a.run.start(ctx, "mdns", resp)
		}
		if err != nil {
			problem.MDNS = err
			a.log.Warn("cannot announce over mDNS", "err", err)
		} else {
			a.resp = resp
		}
	}
	if problem.Beacon != nil || problem.MDNS != nil {
		a.problem = &problem
	}
	if a.adv == nil && a.resp == nil {
		a.run.stop()
		return nil, fmt.Errorf("%w: %w", ErrNoAnnounce, a.problem)
	}
	go a.apply()
	return a, nil
}

// Network is nil while announcing has a usable network interface, else an
// error wrapping ErrNoNetwork: the lobby is announced once one comes up.
func (a *announcer) Network() error {
	var cs []networked
	if a.adv != nil {
		cs = append(cs, a.adv)
	}
	if a.resp != nil {
		cs = append(cs, a.resp)
	}
	return waitingForNetwork(cs...)
}

// Problem reports a protocol that could not start, or nil.
func (a *announcer) Problem() error {
	if a.problem == nil {
		return nil
	}
	return a.problem
}

// follow is the coordinator's OnLobbyChange hook: it records the change
// and returns at once.
func (a *announcer) follow(in lobby.Info) {
	if in.Private {
		return // never advertised
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if _, ok := a.pending[in.ID]; !ok {
		a.order = append(a.order, in.ID)
	}
	a.pending[in.ID] = in
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// apply moves the newest state of every changed lobby into the
// advertisers, which announce it at once.
func (a *announcer) apply() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
		case <-a.quit:
			return
		}
		for {
			a.mu.Lock()
			if len(a.order) == 0 {
				a.mu.Unlock()
				break
			}
			id := a.order[0]
			a.order = a.order[1:]
			in := a.pending[id]
			delete(a.pending, id)
			a.mu.Unlock()
			a.announce(in)
		}
	}
}

func (a *announcer) announce(in lobby.Info) {
	closed := in.State == lobby.StateClosed
	if a.adv != nil {
		var err error
		if closed {
			err = a.adv.Remove(in.ID)
		} else {
			err = a.adv.Set(BeaconLobby(in, a.port))
		}
		if err != nil && !errors.Is(err, beacon.ErrClosed) && !errors.Is(err, beacon.ErrUnknownLobby) {
			a.log.Warn("cannot announce lobby over the beacon", "lobby", in.ID, "err", err)
		}
	}
	if a.resp != nil {
		var err error
		if closed {
			err = a.resp.RemoveLobby(in.ID)
		} else {
			_, err = a.resp.SetLobby(BeaconLobby(in, a.port))
		}
		if err != nil && !errors.Is(err, mdns.ErrClosed) {
			a.log.Warn("cannot announce lobby over mDNS", "lobby", in.ID, "err", err)
		}
	}
}

// stop applies the changes still pending (a closed lobby's goodbye among
// them), sends goodbyes for every lobby and waits for the advertisers.
func (a *announcer) stop() {
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if already {
		return
	}
	close(a.quit)
	<-a.done
	for _, id := range a.order {
		a.announce(a.pending[id])
	}
	a.run.stop()
}

// BeaconLobby is a coordinator's lobby as the announcer puts it on the LAN
// (the beacon, and mDNS records made from it), for a coordinator listening
// on port: its reserved seats counted among the players (seats taken, so
// that LAN quick-join sees the free seats a coordinator does), with its
// version, creation time and the filterable metadata that fits
// (beacon.LANMeta). Tests use it to show that every lobby a coordinator
// accepts can be announced.
func BeaconLobby(in lobby.Info, port uint16) beacon.Lobby {
	l := beacon.Lobby{ID: in.ID, Game: in.Game, Name: in.Name, Players: in.Players + in.Reserved, Capacity: in.Capacity,
		State: beaconState(in.State), Port: port}
	l.Version, l.Meta, l.Term = in.Version, beacon.LANMeta(in.Meta, in.Filterable), in.Term
	if !in.Created.IsZero() {
		l.CreatedMS = in.Created.UnixMilli()
	}
	return l
}

func beaconState(s lobby.State) beacon.State {
	switch s {
	case lobby.StateOpen:
		return beacon.StateOpen
	case lobby.StateFull:
		return beacon.StateFull
	case lobby.StateStarted:
		return beacon.StateStarted
	}
	return beacon.StateClosed
}
