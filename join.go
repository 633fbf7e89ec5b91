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
		return joinAt(ctx, cfg, coordinatorAddr(cfg.Coordinator), func(c *lobby.Client) (*lobby.Joined, error) {
			return c.QuickJoin(ctx, game, opts)
		})
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
		return joinAt(ctx, cfg, coordinatorAddr(cfg.Coordinator), func(c *lobby.Client) (*lobby.Joined, error) {
			return joinByIDOrName(ctx, c, nameOrID, opts)
		})
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
		return joinAt(ctx, b.cfg, coordinatorAddr(b.cfg.Coordinator), func(c *lobby.Client) (*lobby.Joined, error) {
			return c.QuickJoin(ctx, g, opts)
		})
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
	return b.tryJoin(ctx, candidates, func(c *lobby.Client, l LobbyInfo) (*lobby.Joined, error) {
		if b.isDaemon(l) {
			// A daemon's own quick-join is exact (fewest free seats, then
			// the oldest lobby) among all its lobbies, which the LAN's
			// view cannot order by age.
			return c.QuickJoin(ctx, g, opts)
		}
		return c.Join(ctx, l.ID, opts)
	})
}

// Join takes a seat in the lobby with that id or name (see Join).
func (b *Browser) Join(ctx context.Context, nameOrID string, opts JoinOptions) (*Session, error) {
	ctx, cancel := withTimeout(ctx, b.cfg)
	defer cancel()
	var byID *LobbyInfo
	var byName []LobbyInfo
	err := b.wait(ctx, func(view map[string]*seen, now time.Time, final bool) bool {
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
	})
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
	return b.tryJoin(ctx, []LobbyInfo{target}, func(c *lobby.Client, l LobbyInfo) (*lobby.Joined, error) {
		return c.Join(ctx, l.ID, opts)
	})
}

// joinByIDOrName joins on one coordinator: by id, else by the one lobby
// of that name in its list.
func joinByIDOrName(ctx context.Context, c *lobby.Client, nameOrID string, opts JoinOptions) (*lobby.Joined, error) {
	j, err := c.Join(ctx, nameOrID, opts)
	if err == nil || !errors.Is(err, lobby.ErrUnknownLobby) {
		return j, err
	}
	ls, lerr := c.List(ctx, "")
	if lerr != nil {
		return nil, err
	}
	var named []LobbyInfo
	for _, l := range ls {
		if strings.EqualFold(l.Name, nameOrID) {
			named = append(named, fromCoordinator(l, netip.AddrPort{}))
		}
	}
	switch len(named) {
	case 0:
		return nil, err
	case 1:
		return c.Join(ctx, named[0].ID, opts)
	}
	return nil, &AmbiguousError{Name: nameOrID, Lobbies: named}
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

// tryJoin dials each candidate's coordinator in turn and joins, moving on
// when a lobby is gone (filled, started, closed) or its coordinator is
// unreachable. Candidates on the same coordinator share one connection.
func (b *Browser) tryJoin(ctx context.Context, candidates []LobbyInfo, join func(*lobby.Client, LobbyInfo) (*lobby.Joined, error)) (*Session, error) {
	var lastErr error
	var c *lobby.Client
	var suc *succession
	var at string
	for _, l := range candidates {
		addr := l.Host.String()
		if c == nil || at != addr {
			if c != nil {
				c.Close()
			}
			var err error
			if c, suc, err = dialSeat(ctx, b.cfg, addr); err != nil {
				c, lastErr = nil, err
				b.cfg.Logger.Info("lobby's coordinator unreachable", "lobby", l.ID, "host", addr, "err", err)
				continue
			}
			at = addr
		}
		j, err := join(c, l)
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

// joinAt dials the coordinator at addr and joins with join.
func joinAt(ctx context.Context, cfg Config, addr string, join func(*lobby.Client) (*lobby.Joined, error)) (*Session, error) {
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	c, suc, err := dialSeat(ctx, cfg, addr)
	if err != nil {
		return nil, err
	}
	j, err := join(c)
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
