package lanlobby

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

// Matchmaking for games: filters, versions, parties and bans. The rules
// themselves live in package lobby (filter.go), so the LAN view below and
// a coordinator daemon admit the same lobbies and try them in the same
// order.

// Filter selects lobbies by game version, metadata, numeric ranges and
// free seats (see lobby.Filter); the zero Filter admits every lobby.
//
//	f := lanlobby.Filter{Version: "1.4", Meta: map[string]string{"map": "dunes"},
//		Ranges: []lanlobby.Range{lanlobby.AtLeast("level", 10)}}
//
// On the LAN a filter sees the metadata the host marked filterable
// (HostOptions.Filterable) as far as it fits the beacon and mDNS (see
// PROTOCOL.md, "Lobby attributes"); a lobby whose announcement left out a
// key the filter needs is not listed, but quick-join still tries it after
// the lobbies known to match, and its coordinator decides.
type Filter = lobby.Filter

// Range is a numeric range on a metadata key: AtLeast, AtMost, Between.
type Range = lobby.Range

// VersionRule says how a filter's version compares with a lobby's.
type VersionRule = lobby.VersionRule

// Version rules: exact (the default), or compatible (same major.minor).
const (
	VersionExact      = lobby.VersionExact
	VersionCompatible = lobby.VersionCompatible
)

// AtLeast is the range key ≥ min.
func AtLeast(key string, min float64) Range { return lobby.AtLeast(key, min) }

// AtMost is the range key ≤ max.
func AtMost(key string, max float64) Range { return lobby.AtMost(key, max) }

// Between is the range min ≤ key ≤ max.
func Between(key string, min, max float64) Range { return lobby.Between(key, min, max) }

// Reservation is the seats held for a party (JoinOptions.Seats) or for
// invited players (Session.Reserve): its Token is what the others join
// with (JoinOptions.Reservation).
type Reservation = lobby.Reservation

// NewPlayerKey makes a player key for Config.PlayerKey: a game makes one
// once and keeps it with its settings.
func NewPlayerKey() string { return lobby.NewPlayerKey() }

// processKey is the player key of a Config without one: made once per
// process, so that every call of one game run is the same player.
var processKey = sync.OnceValue(lobby.NewPlayerKey)

// candidate is a lobby heard on the LAN (or reported by a coordinator) as
// matchmaking reads it. Seats reserved for a party count as taken: the
// LAN's players are the coordinator's players plus its reserved seats.
func candidate(l LobbyInfo) lobby.Candidate {
	c := rank(l)
	c.Game, c.Version, c.Meta, c.Partial = l.Game, l.Version, l.Meta.Map(), l.Meta.Partial()
	return c
}

// rank is what the quick-join order reads of l.
func rank(l LobbyInfo) lobby.Candidate {
	c := lobby.Candidate{ID: l.ID, Open: joinable(l), Free: l.Capacity - l.Players}
	if l.CreatedMS > 0 {
		c.Created = time.UnixMilli(l.CreatedMS)
	}
	return c
}

// sortLobbies orders open lobbies the way quick-join picks them
// (lobby.CompareCandidates: fewest free seats, the oldest, then by id, as
// a coordinator does, so that every player tries them in the same order),
// then the rest by name and id.
func sortLobbies(ls []LobbyInfo) {
	slices.SortFunc(ls, func(a, b LobbyInfo) int {
		ao, bo := joinable(a), joinable(b)
		switch {
		case ao && !bo:
			return -1
		case bo && !ao:
			return 1
		case ao:
			return lobby.CompareCandidates(rank(a), rank(b))
		}
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}

// joinable reports whether quick-join may pick l.
func joinable(l LobbyInfo) bool {
	return l.State == beacon.StateOpen && l.Players < l.Capacity
}

// quickJoinOrder sorts the open lobbies of game that have seats free seats
// and may pass f into the order quick-join tries them: those known to
// match, then those the LAN could not tell (lobby.MaybeMatch), each in
// the quick-join order.
func quickJoinOrder(view []LobbyInfo, game string, seats int, f Filter) []LobbyInfo {
	type pick struct {
		info  LobbyInfo
		maybe bool
	}
	var picks []pick
	for _, l := range view {
		if l.Game != game || !joinable(l) || l.Capacity-l.Players < seats {
			continue
		}
		switch f.Match(candidate(l)) {
		case lobby.Matches:
			picks = append(picks, pick{l, false})
		case lobby.MaybeMatch:
			picks = append(picks, pick{l, true})
		}
	}
	slices.SortFunc(picks, func(a, b pick) int {
		if a.maybe != b.maybe {
			if a.maybe {
				return 1
			}
			return -1
		}
		return lobby.CompareCandidates(rank(a.info), rank(b.info))
	})
	out := make([]LobbyInfo, len(picks))
	for i, p := range picks {
		out[i] = p.info
	}
	return out
}

// Reservation is the seats held for this player's party, from QuickJoin
// or Join with JoinOptions.Seats > 1 (nil otherwise): hand its Token (with
// the lobby's ID) to the party, whose members Join with
// JoinOptions{Reservation: token} within the window.
func (s *Session) Reservation() *Reservation { return s.joined.Reservation }

// Reserve holds seats for invited players (owner only) for window (0: 10
// s): players named by key in players get in by joining; others with the
// returned Token.
func (s *Session) Reserve(ctx context.Context, seats int, players []string, window time.Duration) (*Reservation, error) {
	return s.client.Reserve(ctx, s.ID(), seats, players, window)
}

// KickBan removes a member and bans it by its player key, for d (0: until
// the lobby closes); owner only. On a LAN a ban is a courtesy: a client
// that makes up a new player key is a new player.
func (s *Session) KickBan(ctx context.Context, memberID string, d time.Duration) error {
	return s.client.KickBan(ctx, s.ID(), memberID, d)
}
