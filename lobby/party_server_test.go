package lobby

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

func dialKey(t testing.TB, addr, player string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, ClientConfig{Player: player, PlayerKey: "key-" + player})
	if err != nil {
		t.Fatalf("dial %s: %v", player, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPartyRace: 30 parties of 1 to 4 players race for the seats of the
// same few lobbies. Each leader quick-joins for its whole party; its
// members claim their seats with the token. A lobby never holds more
// players and reserved seats than its capacity (a subscriber checks every
// state the coordinator reports), and no party is split: every member of
// a seated party is in its leader's lobby, and of a party that found no
// room, nobody is anywhere.
func TestPartyRace(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, ReservationWindow: time.Minute})
	ctx := context.Background()
	capacities := []int{5, 6, 8, 4, 7}
	free := 0
	owners := make([]*Client, len(capacities))
	for i, n := range capacities {
		owners[i] = dialKey(t, ts.addr, fmt.Sprint("owner", i))
		create(t, owners[i], CreateOptions{Game: "race", Name: fmt.Sprint("l", i), Capacity: n})
		free += n - 1
	}

	// The referee sees every state of every lobby.
	referee := dial(t, ts.addr, "referee")
	sub, err := referee.Subscribe(ctx, "race", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var refMu sync.Mutex
	var overfull []string
	refDone := make(chan struct{})
	go func() {
		defer close(refDone)
		for ch := range sub.Changes() {
			if in := ch.Lobby; in.Players+in.Reserved > in.Capacity {
				refMu.Lock()
				overfull = append(overfull, fmt.Sprintf("%s: %d players + %d reserved > %d", in.ID, in.Players, in.Reserved, in.Capacity))
				refMu.Unlock()
			}
		}
	}()

	type result struct {
		size    int
		lobby   string   // the leader's lobby, "" when it found no room
		members []string // the lobby each member ended in
		err     error
	}
	rng := rand.New(rand.NewPCG(14, 30))
	sizes := make([]int, 30)
	demand := 0
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(4)
		demand += sizes[i]
	}
	if demand <= free {
		t.Fatalf("demand %d fits the %d seats: no race", demand, free)
	}
	results := make([]result, len(sizes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, size := range sizes {
		leader := dialKey(t, ts.addr, fmt.Sprintf("p%d-0", i))
		members := make([]*Client, size-1)
		for m := range members {
			members[m] = dialKey(t, ts.addr, fmt.Sprintf("p%d-%d", i, m+1))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.size = size
			<-start
			j, err := leader.QuickJoin(ctx, "race", JoinOptions{Port: 7000 + i, Seats: size})
			if errors.Is(err, ErrNoOpenLobby) {
				return
			}
			if err != nil {
				r.err = err
				return
			}
			r.lobby = j.Lobby.ID
			if (size > 1) != (j.Reservation != nil) {
				r.err = fmt.Errorf("party of %d got reservation %+v", size, j.Reservation)
				return
			}
			r.members = make([]string, len(members))
			var mwg sync.WaitGroup
			var merr error
			var mu sync.Mutex
			for m, c := range members {
				mwg.Add(1)
				go func() {
					defer mwg.Done()
					jm, err := c.Join(ctx, j.Lobby.ID, JoinOptions{Port: 7100 + m, Reservation: j.Reservation.Token})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						merr = fmt.Errorf("member %d: %w", m+1, err)
						return
					}
					r.members[m] = jm.Lobby.ID
				}()
			}
			mwg.Wait()
			r.err = merr
		}()
	}
	close(start)
	wg.Wait()

	seated, parties := 0, 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("party %d (%d players): %v", i, r.size, r.err)
			continue
		}
		if r.lobby == "" {
			continue
		}
		parties++
		seated += r.size
		for m, l := range r.members {
			if l != r.lobby {
				t.Errorf("party %d split: leader in %s, member %d in %q", i, r.lobby, m+1, l)
			}
		}
	}
	ls, err := referee.List(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	players := 0
	for _, in := range ls {
		players += in.Players
		if in.Players > in.Capacity || in.Reserved != 0 {
			t.Errorf("lobby %s at the end: %d players, %d reserved, capacity %d", in.ID, in.Players, in.Reserved, in.Capacity)
		}
	}
	if players != seated+len(owners) {
		t.Errorf("%d players in the lobbies, but %d seated in %d parties plus %d owners", players, seated, parties, len(owners))
	}
	if parties < 3 || seated > free {
		t.Errorf("%d parties seated, %d players of %d seats", parties, seated, free)
	}
	// Every state the referee saw was within capacity.
	testutil.WaitFor(t, 10*time.Second, "the referee to see the final states", func() bool {
		n := 0
		for _, in := range sub.Lobbies() {
			n += in.Players
		}
		return n == players
	})
	sub.Close()
	<-refDone
	for _, o := range overfull {
		t.Error("overfull:", o)
	}
	t.Logf("%d of 30 parties seated (%d players, demand %d, %d seats)", parties, seated, demand, free)
}

// TestReservationExpires: seats not claimed within the window are released
// and the lobby's members are told; the lobby takes others again.
func TestReservationExpires(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, ReservationWindow: 300 * time.Millisecond})
	ctx := context.Background()
	owner := dialKey(t, ts.addr, "owner")
	l := create(t, owner, CreateOptions{Game: "demo", Capacity: 4})
	leader := dialKey(t, ts.addr, "leader")
	j, err := leader.QuickJoin(ctx, "demo", JoinOptions{Port: 1, Seats: 3})
	if err != nil {
		t.Fatal(err)
	}
	if j.Lobby.Reserved != 2 || j.Lobby.State != StateFull || j.Reservation == nil || j.Reservation.Seats != 2 {
		t.Fatalf("joined %+v, reservation %+v", j.Lobby, j.Reservation)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	friend := dialKey(t, ts.addr, "friend")
	if _, err := friend.Join(ctx, l.ID, JoinOptions{Port: 2, Reservation: j.Reservation.Token}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Lobby.Reserved == 1 })
	expectEvent(t, leader, NoticeMemberJoined, nil)
	// The second friend never comes: everyone is told when the window ends.
	for _, c := range []*Client{owner, leader, friend} {
		expectEvent(t, c, NoticeReservationExpired, func(e Event) bool {
			return e.Released == 1 && e.Reservation == j.Reservation.ID && e.Lobby.Reserved == 0 && e.Lobby.State == StateOpen
		})
	}
	late := dialKey(t, ts.addr, "late")
	if _, err := late.Join(ctx, l.ID, JoinOptions{Port: 3, Reservation: j.Reservation.Token}); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("claim after the window: %v", err)
	}
	if _, err := late.Join(ctx, l.ID, JoinOptions{Port: 3}); err != nil {
		t.Fatalf("plain join of the freed seat: %v", err)
	}
}

// TestOwnerReservesForInvited: an owner holds a seat for an invited player
// known by key, who gets in by joining though the lobby looks full.
func TestOwnerReservesForInvited(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dialKey(t, ts.addr, "owner")
	l := create(t, owner, CreateOptions{Game: "demo", Capacity: 2})
	res, err := owner.Reserve(ctx, l.ID, 1, []string{"key-guest"}, time.Minute)
	if err != nil || res.Seats != 1 || res.Token == "" || time.Until(res.Expires) < 30*time.Second {
		t.Fatalf("reserve: %+v %v", res, err)
	}
	stranger := dialKey(t, ts.addr, "stranger")
	if _, err := stranger.QuickJoin(ctx, "demo", JoinOptions{Port: 1}); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("stranger quick-joins a held seat: %v", err)
	}
	guest := dialKey(t, ts.addr, "guest")
	if j, err := guest.Join(ctx, l.ID, JoinOptions{Port: 1}); err != nil || j.Lobby.Players != 2 || j.Lobby.Reserved != 0 {
		t.Fatalf("invited guest: %+v %v", j, err)
	}
	member := dialKey(t, ts.addr, "member")
	if _, err := member.Reserve(ctx, l.ID, 1, nil, 0); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("reserve by a non-owner: %v", err)
	}
}

// TestKickBanOverTheWire: a kicked and banned player is told so; it is
// refused (banned) when it comes back on a new connection with the same
// player key, and quick-join passes the lobby by for it.
func TestKickBanOverTheWire(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dialKey(t, ts.addr, "owner")
	l := create(t, owner, CreateOptions{Game: "demo", Capacity: 4})
	grief := dialKey(t, ts.addr, "grief")
	j, err := grief.Join(ctx, l.ID, JoinOptions{Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.KickBan(ctx, l.ID, j.You.ID, 0); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, grief, NoticeMemberLeft, func(e Event) bool { return e.Banned && e.Reason == ReasonKicked && e.Member.ID == j.You.ID })
	grief.Close()
	again := dialKey(t, ts.addr, "grief") // same key, new member id
	if _, err := again.Join(ctx, l.ID, JoinOptions{Port: 1}); !errors.Is(err, ErrBanned) {
		t.Fatalf("banned player joins: %v", err)
	}
	if _, err := again.QuickJoin(ctx, "demo", JoinOptions{Port: 1}); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("banned player quick-joins: %v", err)
	}
	other := dialKey(t, ts.addr, "other")
	if _, err := other.QuickJoin(ctx, "demo", JoinOptions{Port: 1}); err != nil {
		t.Fatalf("someone else: %v", err)
	}
	raw := dialRaw(t, ts.addr)
	raw.send(map[string]any{"op": "hello", "id": 1, "v": 1, "key": "has space"})
	raw.expectError(CodeInvalidPlayerKey, 1)
}

// TestSubscriptionSurvivesBlip: a client whose link drops resumes its
// seat and subscribes again by itself; the change it missed comes as an
// update, nothing is added twice.
func TestSubscriptionSurvivesBlip(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: 10 * time.Second})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	l := create(t, owner, CreateOptions{Game: "demo", Meta: map[string]string{"map": "dunes"}})
	proxy := startProxy(t, ts.addr)
	wifi := dial(t, proxy.addr(), "headset")
	if _, err := wifi.Join(ctx, l.ID, JoinOptions{Port: 7}); err != nil {
		t.Fatal(err)
	}
	sub, err := wifi.Subscribe(ctx, "demo", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expectChange(t, sub, EventLobbyAdded, l.ID, func(in Info) bool { return in.Players == 2 })
	proxy.silence()
	expectEvent(t, owner, NoticeMemberJoined, nil)
	expectEvent(t, owner, NoticeMemberAway, nil)
	if err := owner.SetMeta(ctx, l.ID, map[string]string{"map": "forest"}); err != nil {
		t.Fatal(err)
	}
	proxy.heal()
	expectEvent(t, wifi, EventResumed, nil)
	expectChange(t, sub, NoticeUpdated, l.ID, func(in Info) bool { return in.Meta["map"] == "forest" })
	testutil.WaitFor(t, 10*time.Second, "the new subscription on the coordinator", func() bool { return ts.subsCount() == 1 })
	l2 := create(t, owner, CreateOptions{Game: "demo", Name: "second"})
	expectChange(t, sub, EventLobbyAdded, l2.ID, nil)
}
