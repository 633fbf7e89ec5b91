package lobby

import (
	"context"
	"time"
)

// The Go client's side of matchmaking beyond joins: filtered lists, seats
// an owner reserves, bans, and the player key.

// NewPlayerKey makes a random player key (128 bits, 32 hex digits) for
// ClientConfig.PlayerKey. A game makes one once and keeps it (in its
// settings), so that the player is the same player tomorrow.
func NewPlayerKey() string { return newToken() }

// withMatch adds o's filter and party to a join or quick-join request.
func (o JoinOptions) withMatch(req *request) *request {
	req.Filter = filterWire(o.Filter)
	req.Seats, req.Party, req.Reservation = o.Seats, o.Party, o.Reservation
	return req
}

// ListFiltered returns the coordinator's lobbies of game ("" for all)
// that pass f, oldest first.
func (c *Client) ListFiltered(ctx context.Context, game string, f Filter) ([]Info, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	out := []Info{}
	after := ""
	for { // one page a call (PROTOCOL.md, list), until there is no next
		req := &request{Op: OpList, Game: game, After: after}
		req.Filter = filterWire(f)
		in, err := c.call(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, l := range in.Lobbies {
			out = append(out, l.info())
		}
		if in.Next == "" {
			return out, nil
		}
		if in.Next == after || len(out) > MaxListed {
			return nil, errorf(CodeInternal, "list: the coordinator's pages do not end (cursor %q, %d lobbies)", in.Next, len(out))
		}
		after = in.Next
	}
}

// Reserve holds seats of a lobby this client owns for invited players, for
// window (0: the coordinator's default, 10 s; at most 10 minutes). Players
// whose keys are named in party claim theirs by joining the lobby; the
// others with the returned reservation's Token (JoinOptions.Reservation).
// Seats not claimed in time are released (reservation_expired).
func (c *Client) Reserve(ctx context.Context, lobbyID string, seats int, party []string, window time.Duration) (*Reservation, error) {
	req := &request{Op: OpReserve, Lobby: lobbyID}
	req.Seats, req.Party, req.WindowMS = seats, party, window.Milliseconds()
	in, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	return in.Reservation.reservation(time.Now()), nil
}

// KickBan removes a member from a lobby this client owns and bans it, by
// its player key, for d (0: until the lobby closes): its joins get
// ErrBanned and quick-join passes the lobby by for it.
func (c *Client) KickBan(ctx context.Context, lobbyID, memberID string, d time.Duration) error {
	req := &request{Op: OpKick, Lobby: lobbyID, Member: memberID}
	req.Ban, req.BanMS = true, d.Milliseconds()
	_, err := c.call(ctx, req)
	return err
}
