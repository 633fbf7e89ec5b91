package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/lobby"
)

func host(t *testing.T, h *netlab.Host, cfg Config, o HostOptions) *Session {
	t.Helper()
	s := in(t, h, func() (*Session, error) { return Host(context.Background(), cfg, o) })
	t.Cleanup(func() { s.Close() })
	return s
}

// nextEvent waits for the next lobby event of kind on s.
func nextEvent(t *testing.T, s *Session, kind lobby.NoticeKind) LobbyEvent {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within %v", kind, waitTimeout)
		}
	}
}

// TestLabHostAndQuickJoin is the five-line promise: one host hosts, another
// quick-joins with nothing but a game id, and each gets the other's game
// address; the host is told, and told again when the player leaves.
func TestLabHostAndQuickJoin(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	hosted := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "Alice's game", Players: 3, Port: 7777})
	if !hosted.Own() || hosted.AnnounceProblem() != nil {
		t.Fatalf("own %v, announce problem %v", hosted.Own(), hosted.AnnounceProblem())
	}
	s := in(t, h2, func() (*Session, error) {
		return QuickJoin(context.Background(), labConfig(h2), "demo", JoinOptions{Port: 7778})
	})
	if s.ID() != hosted.ID() || len(s.Peers()) != 1 {
		t.Fatalf("joined %s with peers %v, want lobby %s with the host", s.ID(), s.Peers(), hosted.ID())
	}
	if want := netip.AddrPortFrom(h1.IPv4, 7777).String(); s.Peers()[0].Addr != want {
		t.Fatalf("host's game address %s, want %s (reachable from h2)", s.Peers()[0].Addr, want)
	}
	if want := netip.AddrPortFrom(h2.IPv4, 7778).String(); s.You().Addr != want {
		t.Fatalf("joiner's game address %s, want %s", s.You().Addr, want)
	}
	ev := nextEvent(t, hosted, lobby.NoticeMemberJoined)
	if ev.Member.ID != s.You().ID || ev.Lobby.Players != 2 {
		t.Fatalf("member_joined %+v", ev)
	}
	if ps := hosted.Peers(); len(ps) != 1 || ps[0].ID != s.You().ID {
		t.Fatalf("host's peers after the join: %v", ps)
	}
	s.Close()
	ev = nextEvent(t, hosted, lobby.NoticeMemberLeft)
	if ev.Member.ID != s.You().ID || ev.Reason != lobby.ReasonLeft {
		t.Fatalf("member_left %+v", ev)
	}
	if ps := hosted.Peers(); len(ps) != 0 {
		t.Fatalf("host's peers after the leave: %v", ps)
	}
}

// TestLabBrowseLiveView: a running Browse sees a lobby appear, its player
// count change and its goodbye; its QuickJoin acts on the view at once.
func TestLabBrowseLiveView(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	b := in(t, h2, func() (*Browser, error) { return Browse(context.Background(), labConfig(h2), "demo") })
	defer b.Close()
	hosted := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "live", Players: 4, Port: 7777})
	next := func(typ EventType) Event {
		t.Helper()
		timeout := time.After(waitTimeout)
		for {
			select {
			case ev := <-b.Events():
				if ev.Type == typ && ev.Lobby.ID == hosted.ID() {
					return ev
				}
			case <-timeout:
				t.Fatalf("no %v for %s", typ, hosted.ID())
			}
		}
	}
	ev := next(Added)
	if ev.Lobby.Players != 1 || ev.Lobby.Name != "live" {
		t.Fatalf("added %+v", ev.Lobby)
	}
	start := time.Now()
	s := in(t, h2, func() (*Session, error) { return b.QuickJoin(context.Background(), "", JoinOptions{Port: 7778}) })
	t.Logf("quick-join on a running view: %v", time.Since(start))
	defer s.Close()
	if s.ID() != hosted.ID() {
		t.Fatalf("quick-joined %s, want %s", s.ID(), hosted.ID())
	}
	testutil.WaitFor(t, waitTimeout, "player count 2 in the view", func() bool {
		ls := b.Lobbies()
		return len(ls) == 1 && ls[0].Players == 2
	})
	// A third player's one-shot QuickJoin agrees with the view.
	s3 := in(t, h3, func() (*Session, error) {
		return QuickJoin(context.Background(), labConfig(h3), "demo", JoinOptions{Port: 7779})
	})
	defer s3.Close()
	if len(s3.Peers()) != 2 {
		t.Fatalf("third player's peers %v", s3.Peers())
	}
	hosted.Close()
	next(Removed)
}

// TestLabQuickJoinPicksClosestToStarting: of three lobbies, the one with
// the fewest free seats; when it has one seat left, the join does not
// wait for the look to settle.
func TestLabQuickJoinPicksClosestToStarting(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	var ids []string
	for i, free := range []int{3, 1, 2} {
		h := lab.Hosts[i]
		s := host(t, h, labConfig(h), HostOptions{Game: "demo", Name: fmt.Sprintf("free %d", free), Players: free + 1, Port: 7777})
		ids = append(ids, s.ID())
	}
	h4 := lab.Hosts[3]
	// Wait until all three answer, so the pick is not a race with hosts
	// still starting.
	testutil.WaitFor(t, waitTimeout, "three lobbies listed", func() bool {
		ls := in(t, h4, func() ([]LobbyInfo, error) { return List(context.Background(), labConfig(h4), "demo") })
		return len(ls) == 3
	})
	s := in(t, h4, func() (*Session, error) {
		return QuickJoin(context.Background(), labConfig(h4), "demo", JoinOptions{Port: 7778})
	})
	defer s.Close()
	if s.ID() != ids[1] {
		t.Fatalf("quick-joined %s, want %s (one seat left)", s.ID(), ids[1])
	}
}

// TestLabJoinByName: names match without regard to case; a full lobby
// joined by name says lobby_full (not unknown_lobby); a name two lobbies
// share is refused with both ids.
func TestLabJoinByName(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	h1, h2, h3, h4 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2], lab.Hosts[3]
	duo := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "Duo", Players: 2, Port: 7777})
	s := in(t, h2, func() (*Session, error) {
		return Join(context.Background(), labConfig(h2), "dUO", JoinOptions{Port: 7778})
	})
	defer s.Close()
	if s.ID() != duo.ID() {
		t.Fatalf("joined %s, want %s", s.ID(), duo.ID())
	}
	testutil.WaitFor(t, waitTimeout, "duo full on the LAN", func() bool {
		ls := in(t, h4, func() ([]LobbyInfo, error) { return List(context.Background(), labConfig(h4), "") })
		return len(ls) == 1 && ls[0].Players == 2
	})
	err := h4.Do(func() error {
		_, err := Join(context.Background(), labConfig(h4), "Duo", JoinOptions{Port: 7779})
		return err
	})
	if !errors.Is(err, lobby.ErrLobbyFull) {
		t.Fatalf("joining a full lobby by name: %v, want lobby_full", err)
	}

	a := host(t, h3, labConfig(h3), HostOptions{Game: "demo", Name: "Same", Players: 4, Port: 7777})
	b := host(t, h1, labConfig(h1), HostOptions{Game: "other", Name: "same", Players: 4, Port: 7777})
	testutil.WaitFor(t, waitTimeout, "both lobbies named same listed", func() bool {
		ls := in(t, h4, func() ([]LobbyInfo, error) { return List(context.Background(), labConfig(h4), "") })
		return len(ls) == 3
	})
	err = h4.Do(func() error {
		_, err := Join(context.Background(), labConfig(h4), "SAME", JoinOptions{Port: 7779})
		return err
	})
	var amb *AmbiguousError
	if !errors.As(err, &amb) || len(amb.Lobbies) != 2 {
		t.Fatalf("ambiguous name: %v", err)
	}
	for _, id := range []string{a.ID(), b.ID()} {
		if !strings.Contains(amb.Error(), id) {
			t.Fatalf("%q does not list id %s", amb.Error(), id)
		}
	}
	byID := in(t, h4, func() (*Session, error) {
		return Join(context.Background(), labConfig(h4), a.ID(), JoinOptions{Port: 7779})
	})
	byID.Close()
}

// A player joining a lobby by its id waits for a host slow to answer (a
// laptop on power-saving Wi-Fi, a machine too busy to answer at once)
// past the adaptive look's first-answer window, up to Config.MaxWait,
// rather than failing with unknown_lobby: the lobby exists.
func TestLabJoinByIDWaitsForASlowHost(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	owner := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "Slow", Players: 2, Port: 7777})
	cfg := labConfig(h2)
	// Answers from h1 take 2 × 150 ms, past the first-answer window.
	delay := 150 * time.Millisecond
	if err := h1.Impair(netlab.Impairment{Delay: delay, Direction: netlab.BothWays}); err != nil {
		t.Fatal(err)
	}
	if 2*delay <= cfg.FirstAnswerWait || 2*delay >= cfg.MaxWait {
		t.Fatalf("the delay must fall between the first-answer window %v and MaxWait %v", cfg.FirstAnswerWait, cfg.MaxWait)
	}
	start := time.Now()
	s := in(t, h2, func() (*Session, error) {
		return Join(context.Background(), cfg, owner.ID(), JoinOptions{Port: 7778})
	})
	defer s.Close()
	t.Logf("joined a host answering %v late in %v", 2*delay, time.Since(start).Round(time.Millisecond))
	if s.ID() != owner.ID() {
		t.Fatalf("joined %s, want %s", s.ID(), owner.ID())
	}
}
