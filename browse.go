package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/beacon/mdns"
	"github.com/lanlobby/lanlobby/lobby"
)

// LobbyInfo is a lobby seen on the LAN (or on a coordinator): its id,
// game, name, players, capacity, state, and Host, the coordinator to dial
// to join it.
type LobbyInfo = beacon.LobbyInfo

// Event is a change in the lobbies a Browser sees: Type is Added,
// Updated or Removed (with the last known state).
type Event = beacon.Event

// EventType says what happened to a lobby: Added, Updated or Removed.
type EventType = beacon.EventType

// Event types.
const (
	Added   = beacon.Added
	Updated = beacon.Updated
	Removed = beacon.Removed
)

// maxPendingEvents bounds the changes a Browser holds for a game that does
// not read Events: one per lobby (changes to a lobby are merged), at most
// this many lobbies.
const maxPendingEvents = 2*beacon.DefaultMaxLobbies + 64

// Browser is a live view of the lobbies on the LAN (or on a coordinator,
// with Config.Coordinator), merged from the beacon and mDNS by lobby id.
// A game keeps one open on its lobby screen: Lobbies is the list to draw,
// Events says what changed, and QuickJoin and Join act on what is already
// known, without another look at the LAN. Its methods are safe for
// concurrent use.
type Browser struct {
	cfg    Config
	game   string
	filter Filter

	run     running
	bb      *beacon.Browser // nil with NoBeacon, or in coordinator mode
	mb      *mdns.Browser   // nil with NoMDNS, or in coordinator mode
	merge   *beacon.Merge
	sub     *subSource // coordinator mode only
	problem *DiscoveryError

	out       chan Event
	quit      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once

	viewMu  sync.Mutex // guards view, look, changed, ended
	view    map[string]*seen
	look    *look
	changed chan struct{} // closed and replaced on every change
	ended   bool          // the sources stopped
}

// seen is a lobby in the view, with when it was first heard and whether
// it passes the Browser's filter (shown in Lobbies and Events).
type seen struct {
	info  LobbyInfo
	first time.Time
	shown bool
}

// Browse starts a live view of the lobbies of game ("" for every game).
// It queries the LAN at once; answers arrive within milliseconds. It fails
// only when no discovery protocol can start (a DiscoveryError names each
// cause); when one protocol fails, the other carries on and Problem says
// why. Close it when done.
func Browse(ctx context.Context, cfg Config, game string) (*Browser, error) {
	return BrowseFiltered(ctx, cfg, game, Filter{})
}

// BrowseFiltered is Browse showing only the lobbies that pass f (see
// Filter): Lobbies and Events hold those, and a lobby that starts or
// stops passing is Added or Removed. With Config.Coordinator the
// coordinator sends only the changes of those lobbies (a subscription);
// on the LAN the Browser hears every lobby of game and filters itself.
func BrowseFiltered(ctx context.Context, cfg Config, game string, f Filter) (*Browser, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if game != "" {
		g, err := lobby.NormalizeGame(game)
		if err != nil {
			return nil, err
		}
		game = g
	}
	b := &Browser{cfg: cfg, game: game, filter: f, run: running{spawn: cfg.spawn}, out: make(chan Event), quit: make(chan struct{}),
		loopDone: make(chan struct{}), view: make(map[string]*seen), changed: make(chan struct{})}
	runCtx := context.WithoutCancel(ctx) // stopped by Close, not by the caller's ctx
	start := time.Now()
	var sources []beacon.Source
	if cfg.Coordinator != "" {
		s, err := startSubSource(ctx, cfg, game, f)
		if err != nil {
			return nil, err
		}
		b.sub = s
		sources = append(sources, s)
	} else {
		key, err := cfg.lanKey()
		if err != nil {
			return nil, err
		}
		var problem DiscoveryError
		if !cfg.NoBeacon {
			bb, err := beacon.NewBrowser(beacon.BrowserConfig{Net: cfg.beaconNet(), Game: game, Logger: cfg.Logger, Key: key})
			if err == nil {
				err = b.run.start(runCtx, "beacon", bb)
			}
			if err != nil {
				problem.Beacon = err
			} else {
				b.bb = bb
				sources = append(sources, bb)
			}
		}
		if !cfg.NoMDNS {
			mb, err := mdns.NewBrowser(mdns.BrowserConfig{Interfaces: cfg.ifaces(), Game: game, Logger: cfg.Logger, Key: key})
			if err == nil {
				err = b.run.start(runCtx, "mdns", mb)
			}
			if err != nil {
				problem.MDNS = err
			} else {
				b.mb = mb
				sources = append(sources, mb)
			}
		}
		if problem.Beacon != nil || problem.MDNS != nil {
			b.problem = &problem
		}
		if len(sources) == 0 {
			b.run.stop()
			return nil, fmt.Errorf("lanlobby: cannot discover on the LAN: %w", b.problem)
		}
		if b.problem != nil {
			cfg.Logger.Warn("LAN discovery runs with one protocol", "problem", b.problem)
		}
	}
	b.look = newLook(cfg, start)
	b.merge = beacon.NewMerge(sources...)
	if err := b.run.start(runCtx, "merge", readyAtOnce{b.merge}); err != nil {
		b.run.stop()
		if b.sub != nil {
			b.sub.stop()
		}
		return nil, err
	}
	go b.loop()
	cfg.Logger.Debug("browsing the LAN", "game", game, "beacon", b.bb != nil, "problem", b.problem)
	return b, nil
}

// readyAtOnce gives Merge, which opens no sockets, a Ready.
type readyAtOnce struct{ *beacon.Merge }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (readyAtOnce) Ready() <-chan struct{} { return closedChan }

// Events delivers the changes in the view: Added, Updated, Removed. It is
// closed by Close. A game that does not read it loses nothing but
// intermediate states: pending changes are merged per lobby.
func (b *Browser) Events() <-chan Event { return b.out }

// Lobbies returns the lobbies visible now that pass the Browser's filter,
// in quick-join order for the open ones (fewest free seats first, then
// the oldest), then the others by name.
func (b *Browser) Lobbies() []LobbyInfo {
	b.viewMu.Lock()
	defer b.viewMu.Unlock()
	return b.snapshotLocked()
}

func (b *Browser) snapshotLocked() []LobbyInfo {
	out := make([]LobbyInfo, 0, len(b.view))
	for _, s := range b.view {
		if s.shown {
			out = append(out, s.info)
		}
	}
	sortLobbies(out)
	return out
}

// Problem reports a discovery protocol that could not start while the
// other works, or nil.
func (b *Browser) Problem() error {
	if b.problem == nil {
		return nil
	}
	return b.problem
}

// Network is nil while discovery has a usable network interface, and an
// error wrapping ErrNoNetwork, saying what is missing, while it waits for
// one (not connected yet, or only loopback).
func (b *Browser) Network() error {
	var cs []networked
	if b.bb != nil {
		cs = append(cs, b.bb)
	}
	if b.mb != nil {
		cs = append(cs, b.mb)
	}
	return waitingForNetwork(cs...)
}

// Coordinators lists the coordinator daemons heard of on the LAN.
func (b *Browser) Coordinators() []beacon.CoordinatorInfo {
	if b.bb == nil {
		return nil
	}
	return b.bb.Coordinators()
}

// Close stops browsing and closes Events. It is idempotent.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		close(b.quit)
		b.run.stop()
		if b.sub != nil {
			b.sub.stop()
		}
		<-b.loopDone
	})
	return nil
}

// loop applies the merged events to the view and hands them to the game
// through a coalescing queue, so a game that reads slowly or never never
// stalls discovery.
func (b *Browser) loop() {
	defer close(b.loopDone)
	defer close(b.out)
	q := beacon.NewEventQueue(maxPendingEvents)
	in := b.merge.Events()
	for {
		var out chan Event
		next, ok := q.Peek()
		if ok {
			out = b.out
		}
		if in == nil && !ok {
			return
		}
		select {
		case ev, ok := <-in:
			if !ok {
				in = nil
				b.viewMu.Lock()
				b.ended = true
				b.notifyLocked()
				b.viewMu.Unlock()
				continue
			}
			if ev, ok := b.apply(ev, time.Now()); ok {
				q.Push(ev)
			}
		case out <- next:
			q.Pop()
		case <-b.quit:
			return
		}
	}
}

// apply takes a merged event into the view and returns the event the
// game sees, as the filter turns it: a lobby that starts passing is
// Added, one that stops is Removed.
func (b *Browser) apply(ev Event, now time.Time) (Event, bool) {
	b.viewMu.Lock()
	defer b.viewMu.Unlock()
	defer b.notifyLocked()
	id := ev.Lobby.ID
	s := b.view[id]
	was := s != nil && s.shown
	if ev.Type == Removed {
		delete(b.view, id)
		return Event{Type: Removed, Lobby: ev.Lobby}, was
	}
	first := s == nil
	if first {
		s = &seen{first: now}
		b.view[id] = s
	}
	s.info = ev.Lobby
	s.shown = b.filter.IsZero() || b.filter.Match(candidate(s.info)) == lobby.Matches
	b.look.heard(now, ev.Lobby.Host.Addr().Is4(), first)
	switch {
	case s.shown && !was:
		return Event{Type: Added, Lobby: ev.Lobby}, true
	case s.shown:
		return Event{Type: Updated, Lobby: ev.Lobby}, true
	case was:
		return Event{Type: Removed, Lobby: ev.Lobby}, true
	}
	return Event{}, false
}

func (b *Browser) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait calls decide with the view until it returns true, the look at the
// LAN is over (then decide gets final=true and its answer stands), ctx
// ends, or the Browser closes.
func (b *Browser) wait(ctx context.Context, decide func(view map[string]*seen, now time.Time, final bool) bool) error {
	return b.waitUntil(ctx, time.Time{}, decide)
}

// waitUntil is wait with the look kept open at least until until.
func (b *Browser) waitUntil(ctx context.Context, until time.Time, decide func(view map[string]*seen, now time.Time, final bool) bool) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		b.viewMu.Lock()
		deadline := b.look.deadline()
		if until.After(deadline) {
			deadline = until
		}
		final := !now.Before(deadline) || b.ended
		done := decide(b.view, now, final)
		changed := b.changed
		b.viewMu.Unlock()
		if done || final {
			return nil
		}
		timer.Reset(deadline.Sub(now))
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.quit:
			return ErrClosed
		}
	}
}

// patientUntil is how long a look for one lobby the player named keeps
// listening when nothing matched within the adaptive look: the lobby
// exists (the player got its id or name from somewhere), so a late answer
// (a host on power-saving Wi-Fi, a machine too busy to answer at once) is
// worth the wait, up to MaxWait from the look's start, rather than an
// unknown_lobby.
func (b *Browser) patientUntil() time.Time {
	b.viewMu.Lock()
	defer b.viewMu.Unlock()
	return b.look.start.Add(b.look.maxWait)
}

// settled returns the view once the first look at the LAN is over.
func (b *Browser) settled(ctx context.Context) ([]LobbyInfo, error) {
	var out []LobbyInfo
	err := b.wait(ctx, func(view map[string]*seen, now time.Time, final bool) bool {
		if final {
			out = b.snapshotLocked()
		}
		return false
	})
	return out, err
}

// List takes one look at the LAN (or asks Config.Coordinator) and returns
// the lobbies of game ("" for all) in quick-join order. On a LAN it
// returns once answers stop (see Config.Settle): tens of milliseconds.
func List(ctx context.Context, cfg Config, game string) ([]LobbyInfo, error) {
	return ListFiltered(ctx, cfg, game, Filter{})
}

// ListFiltered is List with only the lobbies that pass f (see Filter).
func ListFiltered(ctx context.Context, cfg Config, game string, f Filter) ([]LobbyInfo, error) {
	cfg = cfg.withDefaults()
	if cfg.Coordinator != "" {
		return listCoordinator(ctx, cfg, game, f)
	}
	b, err := BrowseFiltered(ctx, cfg, game, f)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ls, err := b.settled(ctx)
	if err != nil && ctx.Err() != nil {
		ls, err = b.Lobbies(), nil // the caller's time is up: what was heard
	}
	if err == nil && len(ls) == 0 {
		err = b.Network() // nothing heard because there is no network
	}
	return ls, err
}

// errIsClosed reports the errors a component returns when it was closed
// on purpose.
func errIsClosed(err error) bool {
	return errors.Is(err, beacon.ErrClosed) || errors.Is(err, mdns.ErrClosed)
}
