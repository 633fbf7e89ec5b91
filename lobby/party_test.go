package lobby

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// fakeClock is the registry's clock in tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClockedRegistry() (*Registry, *fakeClock) {
	clk := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	n := 0
	return NewRegistry(RegistryConfig{Now: clk.now, NewID: func() string { n++; return fmt.Sprintf("l%03d", n) }}), clk
}

func player(id string) Member {
	return Member{ID: id, Name: id, Addr: "198.18.0.1:7777", Key: "key-" + id}
}

// checkSeats holds the registry's seat invariants: players and reserved
// seats never exceed capacity, the reserved count is what the
// reservations hold, and the state says full exactly when no seat is free.
func checkSeats(t *testing.T, r *Registry) {
	t.Helper()
	for _, l := range r.lobbies {
		held := 0
		for _, res := range l.reservations {
			held += res.Seats
			if res.Seats <= 0 || len(res.Party) > res.Seats {
				t.Fatalf("lobby %s: reservation %+v", l.ID, res.Reservation)
			}
		}
		if held != l.reserved {
			t.Fatalf("lobby %s: reserved %d, reservations hold %d", l.ID, l.reserved, held)
		}
		if len(l.Members)+l.reserved > l.Capacity {
			t.Fatalf("lobby %s overfilled: %d players + %d reserved > %d", l.ID, len(l.Members), l.reserved, l.Capacity)
		}
		if full := l.Free() == 0; (l.State == StateFull) != full && l.State != StateStarted {
			t.Fatalf("lobby %s: state %s with %d free", l.ID, l.State, l.Free())
		}
	}
}

func TestRegistryParty(t *testing.T) {
	r, _ := newClockedRegistry()
	l, err := r.Create(player("owner"), CreateSpec{Game: "demo", Name: "g", Capacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	_, res, notices, err := r.QuickJoinWith(player("lead"), "demo", JoinSpec{Seats: 3, Party: []string{"key-named"}})
	if err != nil {
		t.Fatal(err)
	}
	checkSeats(t, r)
	if res == nil || res.Seats != 2 || res.Token == "" || res.Lobby != l.ID || !slices.Equal(res.Party, []string{"key-named"}) {
		t.Fatalf("reservation %+v", res)
	}
	if l.Players() != 2 || l.Reserved() != 2 || l.State != StateFull || len(notices) != 1 || notices[0].Lobby.Reserved != 2 {
		t.Fatalf("lobby %d players, %d reserved, %s; notices %+v", l.Players(), l.Reserved(), l.State, notices)
	}
	// The seats are held: nobody else gets them.
	if _, _, _, err := r.QuickJoinWith(player("other"), "demo", JoinSpec{}); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("quick-join into held seats: %v", err)
	}
	if _, _, _, err := r.JoinWith(player("other"), l.ID, JoinSpec{}); !errors.Is(err, ErrLobbyFull) {
		t.Fatalf("join into held seats: %v", err)
	}
	if _, _, _, err := r.JoinWith(player("other"), l.ID, JoinSpec{Ticket: "wrong"}); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("wrong token: %v", err)
	}
	// The one unnamed seat goes to a token holder; a second token holder
	// finds the last seat held for the named player.
	if _, _, _, err := r.JoinWith(player("friend"), l.ID, JoinSpec{Ticket: res.Token}); err != nil {
		t.Fatalf("claim with token: %v", err)
	}
	if _, _, _, err := r.JoinWith(player("stranger"), l.ID, JoinSpec{Ticket: res.Token}); !errors.Is(err, ErrLobbyFull) {
		t.Fatalf("token holder takes a named seat: %v", err)
	}
	// The named player claims by joining, no token needed.
	if _, _, _, err := r.JoinWith(player("named"), l.ID, JoinSpec{}); err != nil {
		t.Fatalf("named claim: %v", err)
	}
	checkSeats(t, r)
	if l.Players() != 4 || l.Reserved() != 0 || len(l.reservations) != 0 || l.State != StateFull {
		t.Fatalf("after claims: %d players, %d reserved, %d reservations, %s", l.Players(), l.Reserved(), len(l.reservations), l.State)
	}
	if n := r.ReleaseReservation(l.ID, res.ID); n != nil {
		t.Fatalf("releasing a claimed reservation: %+v", n)
	}
}

func TestRegistryReservationRelease(t *testing.T) {
	r, clk := newClockedRegistry()
	l, _ := r.Create(player("owner"), CreateSpec{Game: "demo", Name: "g", Capacity: 4})
	_, res, _, err := r.JoinWith(player("lead"), l.ID, JoinSpec{Seats: 3, Window: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.now().Add(3 * time.Second); !res.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", res.Expires, want)
	}
	r.JoinWith(player("friend"), l.ID, JoinSpec{Ticket: res.Token})
	notices := r.ReleaseReservation(l.ID, res.ID)
	checkSeats(t, r)
	if len(notices) != 1 || notices[0].Kind != NoticeReservationExpired || notices[0].Released != 1 ||
		notices[0].Reservation != res.ID || len(notices[0].Recipients) != 3 {
		t.Fatalf("notices %+v", notices)
	}
	if l.Reserved() != 0 || l.State != StateOpen || l.Free() != 1 {
		t.Fatalf("after release: %d reserved, %s, %d free", l.Reserved(), l.State, l.Free())
	}
	if _, _, _, err := r.JoinWith(player("late"), l.ID, JoinSpec{Ticket: res.Token}); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("late claim: %v", err)
	}
	// The owner reserves for an invited player; starting releases it.
	inv, notices, err := r.Reserve("owner", l.ID, 1, []string{"key-guest"}, time.Minute)
	if err != nil || inv.Seats != 1 || len(notices) != 1 || notices[0].Kind != NoticeUpdated || notices[0].Lobby.Reserved != 1 {
		t.Fatalf("reserve: %+v %+v %v", inv, notices, err)
	}
	if _, _, err := r.Reserve("lead", l.ID, 1, nil, 0); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("reserve by a member: %v", err)
	}
	if _, _, err := r.Reserve("owner", l.ID, 1, nil, 0); !errors.Is(err, ErrLobbyFull) {
		t.Fatalf("reserve past capacity: %v", err)
	}
	if _, err := r.Start("owner", l.ID); err != nil {
		t.Fatal(err)
	}
	checkSeats(t, r)
	if l.Reserved() != 0 || len(l.reservations) != 0 {
		t.Fatalf("started lobby keeps %d reserved seats", l.Reserved())
	}
}

func TestRegistryQuickJoinSeatsAndFilter(t *testing.T) {
	r, clk := newClockedRegistry()
	mk := func(owner string, capacity int, meta map[string]string, version string) *Lobby {
		clk.advance(time.Second)
		l, err := r.Create(player(owner), CreateSpec{Game: "demo", Name: owner, Capacity: capacity, Meta: meta, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	free1 := mk("o1", 2, map[string]string{"map": "dunes"}, "1.4")     // 1 free
	free3old := mk("o2", 4, map[string]string{"map": "forest"}, "1.4") // 3 free, older
	free3 := mk("o3", 4, map[string]string{"map": "dunes"}, "1.4.1")   // 3 free
	free5 := mk("o4", 6, map[string]string{"map": "dunes"}, "1.5")     // 5 free
	for _, c := range []struct {
		spec JoinSpec
		want *Lobby
	}{
		{JoinSpec{}, free1},
		{JoinSpec{Seats: 2}, free3old},
		{JoinSpec{Seats: 3, Filter: Filter{Meta: map[string]string{"map": "dunes"}}}, free3},
		{JoinSpec{Filter: Filter{Version: "1.4", VersionRule: VersionCompatible, Meta: map[string]string{"map": "dunes"}, Free: 2}}, free3},
		{JoinSpec{Filter: Filter{Version: "1.5"}}, free5},
		{JoinSpec{Seats: 4}, free5},
	} {
		// Dry run: pick, then undo, so every case sees the same lobbies.
		l, _, _, err := r.QuickJoinWith(player("p"), "demo", c.spec)
		if err != nil || l != c.want {
			t.Errorf("%+v: got %v (%v), want %s", c.spec, l, err, c.want.ID)
			continue
		}
		r.RemoveMember("p", ReasonLeft)
		for _, res := range l.reservations {
			r.ReleaseReservation(l.ID, res.ID)
		}
	}
	if _, _, _, err := r.QuickJoinWith(player("p"), "demo", JoinSpec{Seats: 6}); !errors.Is(err, ErrNoOpenLobby) {
		t.Errorf("6 seats: %v", err)
	}
	if _, _, _, err := r.QuickJoinWith(player("p"), "demo", JoinSpec{Seats: rules.MaxPartySeats + 1}); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("too many seats: %v", err)
	}
	if _, _, _, err := r.JoinWith(player("p"), free1.ID, JoinSpec{Filter: Filter{Meta: map[string]string{"map": "forest"}}}); !errors.Is(err, ErrFilterMismatch) {
		t.Errorf("join with a failing filter: %v", err)
	}
	if _, _, _, err := r.QuickJoinWith(player("p"), "demo", JoinSpec{Seats: 2, Party: []string{"a", "b"}}); err == nil {
		t.Error("more named members than reserved seats accepted")
	}
	checkSeats(t, r)
}

// TestRegistrySeatsRandom drives a registry with random parties, claims,
// departures, kicks and releases, and holds the seat invariants after
// every step: never overfilled, and a party's seats are in one lobby.
func TestRegistrySeatsRandom(t *testing.T) {
	r, clk := newClockedRegistry()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 6 {
		if _, err := r.Create(player(fmt.Sprintf("owner%d", i)), CreateSpec{Game: "demo", Name: "g", Capacity: 2 + rng.IntN(7)}); err != nil {
			t.Fatal(err)
		}
	}
	var open []*Reservation
	next, parties, claims := 0, 0, 0
	for range 3000 {
		clk.advance(time.Millisecond)
		next++
		p := player(fmt.Sprintf("p%d", next))
		if r.Len() < 4 {
			r.Create(p, CreateSpec{Game: "demo", Name: "g", Capacity: 2 + rng.IntN(7)})
			continue
		}
		switch op := rng.IntN(10); {
		case op < 4:
			if l, res, _, err := r.QuickJoinWith(p, "demo", JoinSpec{Seats: 1 + rng.IntN(4)}); err == nil && res != nil {
				if res.Lobby != l.ID {
					t.Fatalf("party split: leader in %s, seats in %s", l.ID, res.Lobby)
				}
				open = append(open, res)
				parties++
			}
		case op < 7 && len(open) > 0:
			res := open[rng.IntN(len(open))]
			if l, _, _, err := r.JoinWith(p, res.Lobby, JoinSpec{Ticket: res.Token}); err == nil {
				if l.ID != res.Lobby {
					t.Fatalf("claim landed in %s, reservation in %s", l.ID, res.Lobby)
				}
				claims++
			}
		case op < 8 && len(open) > 0:
			i := rng.IntN(len(open))
			r.ReleaseReservation(open[i].Lobby, open[i].ID)
			open = slices.Delete(open, i, i+1)
		case op < 9:
			for id := range r.byMember {
				if rng.IntN(3) == 0 {
					r.RemoveMember(id, ReasonLeft)
				}
				break
			}
		default:
			for _, l := range r.lobbies {
				if len(l.Members) > 1 {
					r.KickBan(l.Owner, l.ID, l.Members[len(l.Members)-1].ID, time.Duration(rng.IntN(3))*time.Second)
				}
				break
			}
		}
		checkSeats(t, r)
	}
	if parties < 100 || claims < 100 {
		t.Fatalf("only %d parties seated and %d seats claimed: the walk tests little", parties, claims)
	}
}

func TestRegistryBan(t *testing.T) {
	r, clk := newClockedRegistry()
	a, _ := r.Create(player("owner"), CreateSpec{Game: "demo", Name: "a", Capacity: 4})
	clk.advance(time.Second)
	b, _ := r.Create(player("owner2"), CreateSpec{Game: "demo", Name: "b", Capacity: 5})
	grief := player("grief")
	if _, _, err := r.JoinWithPassword(grief, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	notices, err := r.KickBan("owner", a.ID, "grief", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || !notices[0].Banned || notices[0].Reason != ReasonKicked || !slices.Contains(notices[0].Recipients, "grief") {
		t.Fatalf("notices %+v", notices)
	}
	// Back under a new connection (member id), same player key.
	back := Member{ID: "grief2", Key: grief.Key, Addr: grief.Addr}
	if _, _, err := r.JoinWithPassword(back, a.ID, ""); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned join: %v", err)
	}
	if l, _, err := r.QuickJoin(back, "demo"); err != nil || l != b {
		t.Fatalf("quick-join of a banned player: %v %v, want lobby b", l, err)
	}
	r.Leave("grief2", b.ID, ReasonLeft)
	// A party naming a banned player skips the lobby too.
	if l, _, _, err := r.QuickJoinWith(player("lead"), "demo", JoinSpec{Seats: 2, Party: []string{grief.Key}}); err != nil || l != b {
		t.Fatalf("party with a banned member: %v %v, want lobby b", l, err)
	}
	// A timed ban ends.
	clk.advance(time.Second)
	if _, _, err := r.JoinWithPassword(player("timed"), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.KickBan("owner", a.ID, "timed", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.JoinWithPassword(player("timed"), a.ID, ""); !errors.Is(err, ErrBanned) {
		t.Fatalf("within a timed ban: %v", err)
	}
	clk.advance(time.Minute)
	if _, _, err := r.JoinWithPassword(player("timed"), a.ID, ""); err != nil {
		t.Fatalf("after a timed ban: %v", err)
	}
	// Without a key, the ban holds the member id.
	nokey := Member{ID: "anon", Addr: grief.Addr}
	r.JoinWithPassword(nokey, a.ID, "")
	r.KickBan("owner", a.ID, "anon", 0)
	if _, _, err := r.JoinWithPassword(nokey, a.ID, ""); !errors.Is(err, ErrBanned) {
		t.Fatalf("keyless banned member: %v", err)
	}
	if _, err := r.KickBan("owner", a.ID, "owner", 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("owner bans itself: %v", err)
	}
	if _, err := r.KickBan("owner", a.ID, "x", rules.MaxBanDuration+time.Second); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("ban over the maximum: %v", err)
	}
}

// TestBanTableBounded: a lobby keeps at most MaxBansPerLobby bans; the one
// ending first makes room, a ban until close last.
func TestBanTableBounded(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	l := &Lobby{}
	l.addBan(ban{key: "forever"}, now)
	for i := range rules.MaxBansPerLobby + 10 {
		l.addBan(ban{key: fmt.Sprint("k", i), until: now.Add(time.Duration(i+1) * time.Minute)}, now)
	}
	if len(l.bans) != rules.MaxBansPerLobby {
		t.Fatalf("%d bans, want %d", len(l.bans), rules.MaxBansPerLobby)
	}
	if _, ok := l.bannedUntil("forever", now); !ok {
		t.Error("the ban until close was evicted")
	}
	if _, ok := l.bannedUntil("k0", now); ok {
		t.Error("the ban ending first was kept")
	}
	if _, ok := l.bannedUntil(fmt.Sprint("k", rules.MaxBansPerLobby+9), now); !ok {
		t.Error("the newest ban was dropped")
	}
}
