package lanlobby

import (
	"context"
	"errors"
	"testing"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/lobby"
)

// coordinatorConfig runs a coordinator on loopback, off the LAN, and
// returns the Config of a player named player that uses it.
func coordinatorConfig(t *testing.T) func(player string) Config {
	t.Helper()
	base := LocalConfig()
	base.Logger = quiet
	co, err := StartCoordinator(context.Background(), base, CoordinatorOptions{Listen: "127.0.0.1:0", NoAnnounce: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { co.Close() })
	return func(player string) Config {
		c := base
		c.Coordinator = co.local()
		c.Player = player
		c.PlayerKey = "key-" + player
		return c
	}
}

// TestCoordinatorMatchmaking: on a coordinator, a filtered Browse is a
// live subscription (a lobby that starts or stops passing is added or
// removed), List filters, and a game quick-joins "version 1.4, map dunes,
// 3 seats for me and my friends" in one call; the friends claim their
// seats with the token, and a banned friend stays out.
func TestCoordinatorMatchmaking(t *testing.T) {
	cfgOf := coordinatorConfig(t)
	ctx := context.Background()
	hostCfg := cfgOf("host")
	hostLobby := func(name, version string, players int, meta map[string]string) *Session {
		t.Helper()
		s, err := Host(ctx, hostCfg, HostOptions{Game: "demo", Name: name, Players: players, Port: 7777,
			Version: version, Meta: meta, Filterable: []string{"map"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	dunes := map[string]string{"map": "dunes"}
	small := hostLobby("small dunes", "1.4", 3, dunes) // 2 free: too few for 3
	forest := hostLobby("forest", "1.4", 8, map[string]string{"map": "forest"})
	old := hostLobby("old dunes", "1.3", 8, dunes)
	big := hostLobby("big dunes", "1.4.2", 6, dunes)

	f := Filter{Version: "1.4", VersionRule: VersionCompatible, Meta: dunes}
	b, err := BrowseFiltered(ctx, cfgOf("browser"), "demo", f)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ids := func() map[string]bool {
		m := map[string]bool{}
		for _, l := range b.Lobbies() {
			m[l.ID] = true
		}
		return m
	}
	testutil.WaitFor(t, waitTimeout, "the filtered view", func() bool {
		m := ids()
		return len(m) == 2 && m[small.ID()] && m[big.ID()]
	})
	ls, err := ListFiltered(ctx, cfgOf("lister"), "demo", f)
	if err != nil || len(ls) != 2 || ls[0].ID != small.ID() || ls[0].Version != "1.4" {
		t.Fatalf("ListFiltered: %+v %v", ls, err)
	}
	if v, _ := ls[1].Meta.Get("map"); v != "dunes" || ls[1].CreatedMS == 0 {
		t.Fatalf("listed lobby without its metadata: %+v", ls[1])
	}
	_ = forest
	_ = old

	// The one call.
	lead, err := QuickJoin(ctx, cfgOf("lead"), "demo", JoinOptions{Port: 7001, Seats: 3, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	defer lead.Close()
	res := lead.Reservation()
	if lead.ID() != big.ID() || res == nil || res.Seats != 2 || res.Token == "" {
		t.Fatalf("quick-joined %s with %+v, want %s with 2 seats held", lead.ID(), res, big.ID())
	}
	// The browser sees the held seats as taken.
	testutil.WaitFor(t, waitTimeout, "seats taken in the view", func() bool {
		for _, l := range b.Lobbies() {
			if l.ID == big.ID() {
				return l.Players == 4
			}
		}
		return false
	})
	var friends []*Session
	for _, name := range []string{"friend1", "friend2"} {
		s, err := Join(ctx, cfgOf(name), lead.ID(), JoinOptions{Port: 7002, Reservation: res.Token})
		if err != nil {
			t.Fatalf("%s claims: %v", name, err)
		}
		defer s.Close()
		friends = append(friends, s)
	}
	if ps := friends[1].Peers(); len(ps) != 3 {
		t.Fatalf("last friend's peers %v", ps)
	}
	// The owner bans a friend; it cannot come back, and its quick-join
	// passes the lobby by.
	if err := big.KickBan(ctx, friends[0].You().ID, 0); err != nil {
		t.Fatal(err)
	}
	friends[0].Close()
	if _, err := Join(ctx, cfgOf("friend1"), big.ID(), JoinOptions{Port: 7002}); !errors.Is(err, lobby.ErrBanned) {
		t.Fatalf("banned friend joins: %v", err)
	}
	if s, err := QuickJoin(ctx, cfgOf("friend1"), "demo", JoinOptions{Port: 7002, Filter: f}); err != nil || s.ID() != small.ID() {
		t.Fatalf("banned friend's quick-join: %v, %v (want %s)", s, err, small.ID())
	} else {
		s.Close()
	}
	// A lobby that stops passing leaves the view.
	if err := small.SetMeta(ctx, map[string]string{"map": "forest"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitTimeout, "the changed lobby to leave the view", func() bool {
		m := ids()
		return len(m) == 1 && m[big.ID()]
	})
}

// TestLabQuickJoinFilters: on the LAN, a filter sees the version and the
// metadata a host marked filterable; quick-join takes the best lobby known
// to match before any the LAN cannot tell about (metadata not carried),
// which its coordinator then decides; a party's seats are taken on the
// LAN at once.
func TestLabQuickJoinFilters(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	cfg1, cfg2 := labConfig(h1), labConfig(h2)
	dunes := map[string]string{"map": "dunes"}
	marked := []string{"map"}
	match := host(t, h1, cfg1, HostOptions{Game: "demo", Name: "match", Players: 8, Port: 7777, Version: "1.4", Meta: dunes, Filterable: marked})
	host(t, h1, cfg1, HostOptions{Game: "demo", Name: "forest", Players: 4, Port: 7777, Version: "1.4",
		Meta: map[string]string{"map": "forest"}, Filterable: marked})
	host(t, h1, cfg1, HostOptions{Game: "demo", Name: "old", Players: 4, Port: 7777, Version: "1.3", Meta: dunes, Filterable: marked})
	// Metadata not marked filterable: the LAN cannot tell; these rank
	// before "match" (fewer free seats) but are tried after it.
	unknownNo := host(t, h1, cfg1, HostOptions{Game: "demo", Name: "unknown forest", Players: 4, Port: 7777, Version: "1.4",
		Meta: map[string]string{"map": "forest"}})
	unknownYes := host(t, h1, cfg1, HostOptions{Game: "demo", Name: "unknown dunes", Players: 5, Port: 7777, Version: "1.4", Meta: dunes})

	f := Filter{Version: "1.4", Meta: dunes}
	testutil.WaitFor(t, waitTimeout, "five lobbies on the LAN", func() bool {
		ls := in(t, h2, func() ([]LobbyInfo, error) { return List(context.Background(), cfg2, "demo") })
		return len(ls) == 5
	})
	ls := in(t, h2, func() ([]LobbyInfo, error) { return ListFiltered(context.Background(), cfg2, "demo", f) })
	if len(ls) != 1 || ls[0].ID != match.ID() {
		t.Fatalf("filtered LAN list %+v, want only %s", ls, match.ID())
	}
	if v, ok := ls[0].Meta.Get("map"); !ok || v != "dunes" || ls[0].Version != "1.4" || ls[0].CreatedMS == 0 {
		t.Fatalf("attributes heard on the LAN: %+v", ls[0])
	}
	lead := in(t, h2, func() (*Session, error) {
		return QuickJoin(context.Background(), cfg2, "demo", JoinOptions{Port: 7778, Seats: 3, Filter: f})
	})
	defer lead.Close()
	if lead.ID() != match.ID() || lead.Reservation() == nil {
		t.Fatalf("quick-joined %s (reservation %+v), want %s", lead.ID(), lead.Reservation(), match.ID())
	}
	testutil.WaitFor(t, waitTimeout, "the party's seats taken on the LAN", func() bool {
		for _, l := range in(t, h2, func() ([]LobbyInfo, error) { return List(context.Background(), cfg2, "demo") }) {
			if l.ID == match.ID() {
				return l.Players == 4
			}
		}
		return false
	})
	friend := in(t, h2, func() (*Session, error) {
		return Join(context.Background(), cfg2, lead.ID(), JoinOptions{Port: 7779, Reservation: lead.Reservation().Token})
	})
	friend.Close()
	// Without the known match, the lobbies the LAN cannot tell about are
	// tried in order, and their coordinators decide.
	match.Close()
	testutil.WaitFor(t, waitTimeout, "the match gone from the LAN", func() bool {
		return len(in(t, h2, func() ([]LobbyInfo, error) { return List(context.Background(), cfg2, "demo") })) == 4
	})
	s := in(t, h2, func() (*Session, error) {
		return QuickJoin(context.Background(), cfg2, "demo", JoinOptions{Port: 7780, Filter: f})
	})
	defer s.Close()
	if s.ID() != unknownYes.ID() {
		t.Fatalf("quick-joined %s, want %s (not %s, which fails at its coordinator)", s.ID(), unknownYes.ID(), unknownNo.ID())
	}
	if ps := unknownNo.Peers(); len(ps) != 0 {
		t.Fatalf("the lobby that fails the filter took %v", ps)
	}
}
