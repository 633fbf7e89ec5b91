package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// QuickJoin takes a seat in the open lobby of game closest to starting
// (fewest free seats, then the oldest; see Config.Settle for how long it
// listens) among those that pass opts.Filter and have opts.Seats seats
// free, trying the next when one fills meanwhile, and returns the peers
// to connect to. With opts.Seats > 1 the seats of this player's party are
// reserved in the same lobby, all at once (Session.Reservation). With
// Config.Coordinator it asks that coordinator, whose rule is exact. A
// game quick-joins "version 1.4, map dunes, 3 seats for me and my
// friends" in one call:
//
//	s, err := lanlobby.QuickJoin(ctx, cfg, "demo", lanlobby.JoinOptions{Port: 7777, Seats: 3,
//		Filter: lanlobby.Filter{Version: "1.4", Meta: map[string]string{"map": "dunes"}}})
//	// hand s.ID() and s.Reservation().Token to the two friends, who
//	// lanlobby.Join(ctx, cfg, id, lanlobby.JoinOptions{Port: 7777, Reservation: token})
func QuickJoin(ctx context.Context, cfg Config, game string, opts JoinOptions) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	if cfg.Coordinator != "" {
		return joinAt(ctx, cfg, coordinatorAddr(cfg.Coordinator), quickJoinOp(game, opts))
	}
	if _, err := lobby.NormalizeGame(game); err != nil {
		return nil, err
	}
	b, err := Browse(ctx, cfg, game)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.QuickJoin(ctx, game, opts)
}

// Join takes a seat in the lobby with that id, or that name (matched
// without regard to case; an ambiguous name is an *AmbiguousError listing
// the ids). With Config.Coordinator the lobby is looked up there.
func Join(ctx context.Context, cfg Config, nameOrID string, opts JoinOptions) (*Session, error) {
	cfg = cfg.withDefaults()
	if nameOrID == "" {
		return nil, &lobby.Error{Code: lobby.CodeBadRequest, Message: "give a lobby name or id"}
	}
	if cfg.Coordinator != "" {
		return joinByIDOrName(ctx, cfg, coordinatorAddr(cfg.Coordinator), nameOrID, opts)
	}
	b, err := Browse(ctx, cfg, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Join(ctx, nameOrID, opts)
}

// QuickJoin takes a seat in the best open lobby of game the Browser
// knows of ("" means the Browser's game) that passes opts.Filter (the
// Browser's own filter when opts.Filter is zero) with opts.Seats free. A
// Browser that has been running decides at once on its view; a fresh one
// first listens as a one-shot QuickJoin does, and joins at once when a
// lobby with exactly the seats asked for answers (none can be better).
func (b *Browser) QuickJoin(ctx context.Context, game string, opts JoinOptions) (*Session, error) {
	if opts.Filter.IsZero() && opts.Filter.VersionRule == "" {
		opts.Filter = b.filter
	}
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	if game == "" {
		game = b.game
	}
	g, err := lobby.NormalizeGame(game)
	if err != nil {
		return nil, err
	}
	if b.game != "" && g != b.game {
		return nil, fmt.Errorf("lanlobby: this Browser sees game %q only, not %q", b.game, g)
	}
	ctx, cancel := withTimeout(ctx, b.cfg)
	defer cancel()
	if b.sub != nil {
		return joinAt(ctx, b.cfg, coordinatorAddr(b.cfg.Coordinator), quickJoinOp(g, opts))
	}
	seats := max(opts.Seats, opts.Filter.Free, 1)
	var candidates []LobbyInfo
	err = b.wait(ctx, func(view map[string]*seen, now time.Time, final bool) bool {
		all := make([]LobbyInfo, 0, len(view))
		for _, s := range view {
			all = append(all, s.info)
		}
		candidates = quickJoinOrder(all, g, seats, opts.Filter)
		if final || len(candidates) == 0 {
			return false
		}
		// None can be better than one with exactly the seats asked for.
		best := candidates[0]
		return best.Capacity-best.Players == seats && opts.Filter.Match(candidate(best)) == lobby.Matches &&
			addressSettled(view[best.ID], now)
	})
	if err != nil {
		return nil, err
	}
	if len(candidates) == 0 {
		if err := b.Network(); err != nil {
			return nil, err
		}
		return nil, &lobby.Error{Code: lobby.CodeNoOpenLobby, Message: fmt.Sprintf("no open lobby of game %q with %d free seats that passes the filter visible on the LAN", g, seats)}
	}
	return b.tryJoin(ctx, candidates, func(l LobbyInfo) seatOp {
		if b.isDaemon(l) {
			// A daemon's own quick-join is exact (fewest free seats, then
			// the oldest lobby) among all its lobbies, which the LAN's
			// view cannot order by age.
			return quickJoinOp(g, opts)
		}
		return joinOp(l.ID, opts)
	})
}

// Join takes a seat in the lobby with that id or name (see Join).
func (b *Browser) Join(ctx context.Context, nameOrID string, opts JoinOptions) (*Session, error) {
	ctx, cancel := withTimeout(ctx, b.cfg)
	defer cancel()
	var byID *LobbyInfo
	var byName []LobbyInfo
	find := func(view map[string]*seen, now time.Time, final bool) bool {
		if s := view[nameOrID]; s != nil {
			l := s.info
			byID = &l
			return addressSettled(s, now) || final
		}
		if !final {
			return false
		}
		byName = byName[:0]
		for _, s := range view {
			if strings.EqualFold(s.info.Name, nameOrID) {
				byName = append(byName, s.info)
			}
		}
		sortLobbies(byName)
		return true
	}
	err := b.wait(ctx, find)
	if err == nil && byID == nil && len(byName) == 0 {
		err = b.waitUntil(ctx, b.patientUntil(), find)
	}
	if err != nil {
		return nil, err
	}
	var target LobbyInfo
	switch {
	case byID != nil:
		target = *byID
	case len(byName) == 1:
		target = byName[0]
	case len(byName) > 1:
		return nil, &AmbiguousError{Name: nameOrID, Lobbies: byName}
	default:
		if err := b.Network(); err != nil {
			return nil, err
		}
		return nil, &lobby.Error{Code: lobby.CodeUnknownLobby, Message: fmt.Sprintf("no lobby %q visible on the LAN", nameOrID)}
	}
	// A full or started lobby is still asked: the coordinator's answer
	// (lobby_full, lobby_started) is the truth, and a seat may have freed.
	return b.tryJoin(ctx, []LobbyInfo{target}, func(l LobbyInfo) seatOp {
		return joinOp(l.ID, opts)
	})
}

// joinByIDOrName joins on the coordinator at addr: by id (with the
// connection's hello, in one round trip), else by the one lobby of that
// name in its list.
func joinByIDOrName(ctx context.Context, cfg Config, addr, nameOrID string, opts JoinOptions) (*Session, error) {
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	c, suc, j, err := joinOp(nameOrID, opts).dial(ctx, cfg, addr)
	if c == nil {
		return nil, err
	}
	if err != nil && errors.Is(err, lobby.ErrUnknownLobby) {
		j, err = joinByName(ctx, c, nameOrID, opts, err)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return newSession(ctx, c, suc, j, addr), nil
}

// joinByName joins the one lobby named name in c's coordinator's list;
// notFound is the error when there is none.
func joinByName(ctx context.Context, c *lobby.Client, name string, opts JoinOptions, notFound error) (*lobby.Joined, error) {
	ls, lerr := c.List(ctx, "")
	if lerr != nil {
		return nil, notFound
	}
	var named []LobbyInfo
	for _, l := range ls {
		if strings.EqualFold(l.Name, name) {
			named = append(named, fromCoordinator(l, netip.AddrPort{}))
		}
	}
	switch len(named) {
	case 0:
		return nil, notFound
	case 1:
		return c.Join(ctx, named[0].ID, opts)
	}
	return nil, &AmbiguousError{Name: name, Lobbies: named}
}

// seatOp takes a seat on a coordinator: a join by id, a quick-join or a
// create. On a new connection it goes out with the connection's hello, in
// one round trip after the TCP handshake (lobby.DialJoin); on one already
// open, as a call.
type seatOp struct {
	take func(ctx context.Context, c *lobby.Client) (*lobby.Joined, error)
	open func(ctx context.Context, addr string, cfg lobby.ClientConfig) (*lobby.Client, *lobby.Joined, error)
}

func joinOp(id string, opts JoinOptions) seatOp {
	return seatOp{
		take: func(ctx context.Context, c *lobby.Client) (*lobby.Joined, error) { return c.Join(ctx, id, opts) },
		open: func(ctx context.Context, addr string, cc lobby.ClientConfig) (*lobby.Client, *lobby.Joined, error) {
			return lobby.DialJoin(ctx, addr, cc, id, opts)
		},
	}
}

func quickJoinOp(game string, opts JoinOptions) seatOp {
	return seatOp{
		take: func(ctx context.Context, c *lobby.Client) (*lobby.Joined, error) { return c.QuickJoin(ctx, game, opts) },
		open: func(ctx context.Context, addr string, cc lobby.ClientConfig) (*lobby.Client, *lobby.Joined, error) {
			return lobby.DialQuickJoin(ctx, addr, cc, game, opts)
		},
	}
}

func createOp(o lobby.CreateOptions) seatOp {
	return seatOp{
		take: func(ctx context.Context, c *lobby.Client) (*lobby.Joined, error) { return c.Create(ctx, o) },
		open: func(ctx context.Context, addr string, cc lobby.ClientConfig) (*lobby.Client, *lobby.Joined, error) {
			return lobby.DialCreate(ctx, addr, cc, o)
		},
	}
}

// dial connects to the coordinator at addr and takes the seat in the same
// round trip. The client is nil when the coordinator could not be
// reached (the error says so); else the error is the seat's, and the
// caller closes the client or takes another seat with it.
func (op seatOp) dial(ctx context.Context, cfg Config, addr string) (*lobby.Client, *succession, *lobby.Joined, error) {
	suc := newSuccession(cfg)
	c, j, err := op.open(ctx, addr, suc.clientConfig())
	if c == nil {
		return nil, nil, nil, fmt.Errorf("cannot reach coordinator %s: %w", addr, err)
	}
	return c, suc, j, err
}

// addressSettled reports whether a lobby's address is final: IPv4, or
// heard long enough ago that no IPv4 answer is coming.
func addressSettled(s *seen, now time.Time) bool {
	return s.info.Host.Addr().Is4() || now.Sub(s.first) >= addressSettle
}

// isDaemon reports whether l lives on a coordinator daemon heard on the
// LAN.
func (b *Browser) isDaemon(l LobbyInfo) bool {
	for _, c := range b.Coordinators() {
		if c.Addr == l.Host {
			return true
		}
	}
	return false
}

// tryJoin dials each candidate's coordinator in turn and takes a seat
// (the op seat picks for it), moving on when a lobby is gone (filled,
// started, closed) or its coordinator is unreachable. Candidates on the
// same coordinator share one connection; the first on each goes out with
// the connection's hello.
func (b *Browser) tryJoin(ctx context.Context, candidates []LobbyInfo, seat func(LobbyInfo) seatOp) (*Session, error) {
	var lastErr error
	var c *lobby.Client
	var suc *succession
	var at string
	for _, l := range candidates {
		addr := l.Host.String()
		var j *lobby.Joined
		var err error
		if c != nil && at == addr {
			j, err = seat(l).take(ctx, c)
		} else {
			if c != nil {
				c.Close()
			}
			if c, suc, j, err = seat(l).dial(ctx, b.cfg, addr); c == nil {
				lastErr = err
				b.cfg.Logger.Info("lobby's coordinator unreachable", "lobby", l.ID, "host", addr, "err", err)
				continue
			}
			at = addr
		}
		if err == nil {
			return newSession(ctx, c, suc, j, addr), nil
		}
		lastErr = err
		if !isGone(err) {
			c.Close()
			return nil, err
		}
		b.cfg.Logger.Info("lobby no longer open", "lobby", l.ID, "err", err)
	}
	if c != nil {
		c.Close()
	}
	return nil, lastErr
}

// joinAt dials the coordinator at addr and takes the seat of op, in one
// round trip after the TCP handshake.
func joinAt(ctx context.Context, cfg Config, addr string, op seatOp) (*Session, error) {
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	c, suc, j, err := op.dial(ctx, cfg, addr)
	if c == nil {
		return nil, err
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return newSession(ctx, c, suc, j, addr), nil
}

// withTimeout bounds ctx by the config's Timeout when it has no deadline.
func withTimeout(ctx context.Context, cfg Config) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, cfg.Timeout)
}
