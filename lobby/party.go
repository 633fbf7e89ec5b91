package lobby

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// Parties and reserved seats. A player who joins for a group takes its own
// seat and reserves the others in the same lobby, atomically (the registry
// has one owner), so a party is never split and a lobby never overfilled:
// Players + Reserved ≤ Capacity always. Its members then claim the seats
// with the reservation's token, or by their player key when the leader
// named them, within the window; what is not claimed by then is released
// (ReleaseReservation). An owner reserves seats for invited players the
// same way (Reserve).

// JoinSpec says what a join or quick-join asks beyond the lobby or game.
type JoinSpec struct {
	// Password of a private lobby (join only).
	Password string
	// Filter the lobby must pass (a join of a lobby that does not gets
	// filter_mismatch; a quick-join picks among the lobbies that pass).
	Filter Filter
	// Seats is how many seats to take: the player's own plus Seats-1
	// reserved for its party (0 means 1; at most rules.MaxPartySeats).
	Seats int
	// Party names party members by player key: the reserved seats are held
	// for them (at most Seats-1); seats not named are claimed with the
	// reservation's token.
	Party []string
	// Window is how long the party's seats are held (0: the default
	// rules.DefaultReservationWindow).
	Window time.Duration
	// Ticket claims a seat of the lobby's reservation with this token
	// (join only; Seats must be 1).
	Ticket string
}

func (s JoinSpec) seats() int { return max(s.Seats, 1) }

// check validates the spec's own fields.
func (s JoinSpec) check() error {
	if err := s.Filter.Validate(); err != nil {
		return err
	}
	if err := fromRules(rules.ValidateSeats(s.seats())); err != nil {
		return err
	}
	if s.Ticket != "" && s.seats() > 1 {
		return errorf(CodeBadRequest, "a reserved seat is claimed for one player; give seats 1")
	}
	return checkReservation(s.seats()-1, s.Party, s.Window)
}

// checkReservation validates a reservation of n seats held for the named
// player keys (at most n of them) for window.
func checkReservation(n int, party []string, window time.Duration) error {
	if len(party) > n {
		return errorf(CodeBadRequest, "%d players named for %d reserved seats", len(party), n)
	}
	for i, k := range party {
		if k == "" {
			return errorf(CodeInvalidPlayerKey, "named player key is empty")
		}
		if err := fromRules(rules.ValidatePlayerKey(k)); err != nil {
			return err
		}
		if slices.Contains(party[:i], k) {
			return errorf(CodeBadRequest, "player named twice")
		}
	}
	if window < 0 || window > rules.MaxReservationWindow {
		return errorf(CodeBadRequest, "reservation window %v outside 0..%v", window, rules.MaxReservationWindow)
	}
	return nil
}

// Reservation is seats held in a lobby for players yet to come.
type Reservation struct {
	// ID names the reservation in reservation_expired notices.
	ID string
	// Token is what a party member presents to claim a seat; the holder
	// hands it to its party. It is sent to no one else.
	Token string
	// Lobby holds the seats.
	Lobby string
	// Seats still unclaimed.
	Seats int
	// Party are the player keys still expected (named seats).
	Party []string
	// Expires is when unclaimed seats are released.
	Expires time.Time
	// Holder is the member who made it (the party's leader or the owner).
	Holder string
}

// reservation is a Reservation as the lobby holds it.
type reservation struct{ Reservation }

func (res *reservation) public() *Reservation {
	p := res.Reservation
	p.Party = slices.Clone(res.Party)
	return &p
}

// JoinWith adds m to the lobby with that id, as spec asks: with its
// password, if it passes the filter, taking spec.Seats seats. A player
// with a ticket, or one a reservation names by player key, takes its
// reserved seat instead (a full lobby has room for it). It returns the
// reservation made for m's party, if any.
func (r *Registry) JoinWith(m Member, lobbyID string, spec JoinSpec) (*Lobby, *Reservation, []Notice, error) {
	if err := spec.check(); err != nil {
		return nil, nil, nil, err
	}
	l := r.lobbies[lobbyID]
	if l == nil {
		return nil, nil, nil, errorf(CodeUnknownLobby, "no lobby %q", lobbyID)
	}
	if err := checkPassword(l, spec.Password); err != nil {
		return nil, nil, nil, err
	}
	if l.memberIndex(m.ID) >= 0 {
		return nil, nil, nil, errorf(CodeAlreadyMember, "already in lobby %s", l.ID)
	}
	if err := r.notBanned(l, m); err != nil {
		return nil, nil, nil, err
	}
	if spec.Filter.Match(l.candidate()) != Matches {
		return nil, nil, nil, errorf(CodeFilterMismatch, "lobby %s does not pass the filter", l.ID)
	}
	if res, err := l.reservationFor(m, spec.Ticket); err != nil || res != nil {
		if err != nil {
			return nil, nil, nil, err
		}
		return r.claim(l, res, m)
	}
	if err := r.joinable(m.ID, l); err != nil {
		return nil, nil, nil, err
	}
	if l.Free() < spec.seats() {
		return nil, nil, nil, errorf(CodeLobbyFull, "lobby %s has %d free seats, not %d", l.ID, l.Free(), spec.seats())
	}
	return r.seat(l, m, spec)
}

// QuickJoinWith puts m in the best lobby of game for spec: the first, in
// the quick-join order (CompareCandidates), of the public open lobbies
// with spec.Seats free seats that pass spec.Filter, that m is not in, and
// from which neither m nor a named party member is banned.
func (r *Registry) QuickJoinWith(m Member, game string, spec JoinSpec) (*Lobby, *Reservation, []Notice, error) {
	g, err := NormalizeGame(game)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := spec.check(); err != nil {
		return nil, nil, nil, err
	}
	if spec.Ticket != "" || spec.Password != "" {
		return nil, nil, nil, errorf(CodeBadRequest, "quick_join takes no reservation or password; join the lobby by id")
	}
	if len(r.byMember[m.ID]) >= r.maxPerMbr {
		return nil, nil, nil, errorf(CodeTooManyLobbies, "already in %d lobbies", len(r.byMember[m.ID]))
	}
	idx := r.games[g]
	if idx == nil {
		return nil, nil, nil, errorf(CodeNoOpenLobby, "no open lobby for game %q", g)
	}
	mine := r.byMember[m.ID]
	now := r.now()
	l := idx.best(max(spec.seats(), spec.Filter.Free), func(l *Lobby) bool {
		return !slices.Contains(mine, l.ID) && !l.bansAny(m, spec.Party, now) && spec.Filter.Match(l.candidate()) == Matches
	})
	if l == nil {
		return nil, nil, nil, errorf(CodeNoOpenLobby, "no open lobby for game %q with %d free seats that passes the filter", g, spec.seats())
	}
	return r.seat(l, m, spec)
}

// seat adds m to l and reserves the rest of its party's seats; l has room.
func (r *Registry) seat(l *Lobby, m Member, spec JoinSpec) (*Lobby, *Reservation, []Notice, error) {
	var res *Reservation
	if n := spec.seats() - 1; n > 0 {
		res = r.reserve(l, m.ID, n, spec.Party, spec.Window).public()
	}
	return l, res, r.addMember(l, m), nil
}

// reserve holds n free seats of l; the caller checked they are free.
func (r *Registry) reserve(l *Lobby, holder string, n int, party []string, window time.Duration) *reservation {
	if window <= 0 {
		window = rules.DefaultReservationWindow
	}
	res := &reservation{Reservation{ID: RandomID(), Token: newToken(), Lobby: l.ID, Seats: n,
		Party: slices.Clone(party), Expires: r.now().Add(window), Holder: holder}}
	l.reservations = append(l.reservations, res)
	l.reserved += n
	l.refreshState()
	r.index(l.Game).update(l)
	r.noteChange(l)
	return res
}

// reservationFor finds the reservation m joins l under: the one whose
// token is ticket, else one that names m's player key; nil when m is an
// ordinary joiner.
func (l *Lobby) reservationFor(m Member, ticket string) (*reservation, error) {
	if ticket != "" {
		for _, res := range l.reservations {
			if subtle.ConstantTimeCompare([]byte(res.Token), []byte(ticket)) == 1 {
				if m.Key == "" || !slices.Contains(res.Party, m.Key) {
					if res.Seats <= len(res.Party) {
						return nil, errorf(CodeLobbyFull, "the seats left in lobby %s are held for named players", l.ID)
					}
				}
				return res, nil
			}
		}
		return nil, errorf(CodeUnknownReservation, "lobby %s holds no reservation with that token (claimed, expired or wrong)", l.ID)
	}
	if m.Key == "" {
		return nil, nil
	}
	for _, res := range l.reservations {
		if slices.Contains(res.Party, m.Key) {
			return res, nil
		}
	}
	return nil, nil
}

// claim seats m in a seat res holds.
func (r *Registry) claim(l *Lobby, res *reservation, m Member) (*Lobby, *Reservation, []Notice, error) {
	switch l.State {
	case StateStarted:
		return nil, nil, nil, errorf(CodeLobbyStarted, "lobby %s has started", l.ID)
	case StateClosed:
		return nil, nil, nil, errorf(CodeUnknownLobby, "lobby %s is closed", l.ID)
	}
	if len(r.byMember[m.ID]) >= r.maxPerMbr {
		return nil, nil, nil, errorf(CodeTooManyLobbies, "already in %d lobbies", len(r.byMember[m.ID]))
	}
	if i := slices.Index(res.Party, m.Key); m.Key != "" && i >= 0 {
		res.Party = slices.Delete(res.Party, i, i+1)
	}
	res.Seats--
	l.reserved--
	if res.Seats == 0 {
		l.dropReservation(res)
	}
	return l, nil, r.addMember(l, m), nil
}

func (l *Lobby) dropReservation(res *reservation) {
	if i := slices.Index(l.reservations, res); i >= 0 {
		l.reservations = slices.Delete(l.reservations, i, i+1)
	}
}

// Reserve holds seats of a lobby it owns for invited players, for window
// (0: rules.DefaultReservationWindow; at most rules.MaxReservationWindow):
// they claim them with the returned token, or, when party names their
// player keys, simply by joining. The members get lobby_updated.
func (r *Registry) Reserve(ownerID, lobbyID string, seats int, party []string, window time.Duration) (*Reservation, []Notice, error) {
	l, err := r.owned(ownerID, lobbyID)
	if err != nil {
		return nil, nil, err
	}
	if seats < 1 || seats >= MaxCapacity {
		return nil, nil, errorf(CodeBadRequest, "seats %d outside 1..%d", seats, MaxCapacity-1)
	}
	if err := checkReservation(seats, party, window); err != nil {
		return nil, nil, err
	}
	switch {
	case l.State == StateStarted:
		return nil, nil, errorf(CodeLobbyStarted, "lobby %s has started", l.ID)
	case l.Free() < seats:
		return nil, nil, errorf(CodeLobbyFull, "lobby %s has %d free seats, not %d", l.ID, l.Free(), seats)
	}
	res := r.reserve(l, ownerID, seats, party, window)
	return res.public(), []Notice{{Kind: NoticeUpdated, Lobby: l.Info(), Recipients: l.MemberIDs()}}, nil
}

// ReleaseReservation gives back the seats of reservation id in the lobby
// that are still unclaimed, as when its window passed, and tells the
// members (reservation_expired). It does nothing when the reservation was
// claimed in full or its lobby is gone.
func (r *Registry) ReleaseReservation(lobbyID, id string) []Notice {
	l := r.lobbies[lobbyID]
	if l == nil {
		return nil
	}
	i := slices.IndexFunc(l.reservations, func(res *reservation) bool { return res.ID == id })
	if i < 0 {
		return nil
	}
	res := l.reservations[i]
	l.reservations = slices.Delete(l.reservations, i, i+1)
	l.reserved -= res.Seats
	l.refreshState()
	r.index(l.Game).update(l)
	r.noteChange(l)
	return []Notice{{Kind: NoticeReservationExpired, Lobby: l.Info(), Reservation: res.ID, Released: res.Seats,
		Recipients: l.MemberIDs()}}
}

// Reservations lists a lobby's reservations (nil when it has none).
func (l *Lobby) Reservations() []*Reservation {
	var out []*Reservation
	for _, res := range l.reservations {
		out = append(out, res.public())
	}
	return out
}

// newToken makes a secret token (a reservation's, a player key): 128
// random bits in hex.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
