package lanlobby

import (
	"context"
	"net/netip"
	"strconv"
	"testing"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/lobby"
)

// join takes a seat in lobby id from lab host h.
func join(t *testing.T, h *netlab.Host, cfg Config, id string, port int) *Session {
	t.Helper()
	s := in(t, h, func() (*Session, error) { return Join(context.Background(), cfg, id, JoinOptions{Port: port}) })
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLabSessionMovesToLaterDaemon: a Session hosting on its own
// coordinator moves its lobby to a coordinator daemon started on the LAN
// afterwards; the host and the member each get one coordinator_moved,
// and their Sessions say where the lobby lives now.
func TestLabSessionMovesToLaterDaemon(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	cfg := labConfig(h1)
	cfg.DaemonWait = DefaultDaemonWait // look for daemons, then keep watching
	hosted := host(t, h1, cfg, HostOptions{Game: "demo", Name: "moving", Players: 4, Port: 7777})
	if !hosted.Own() {
		t.Fatal("no daemon yet, but the lobby is not on the host's own coordinator")
	}
	member := join(t, h2, labConfig(h2), hosted.ID(), 7778)
	nextEvent(t, hosted, lobby.NoticeMemberJoined)

	daemon := in(t, h3, func() (*Coordinator, error) {
		return StartCoordinator(context.Background(), labConfig(h3), CoordinatorOptions{Daemon: true, Listen: ":0", StateDir: t.TempDir()})
	})
	defer daemon.Close()
	want := netip.AddrPortFrom(h3.IPv4, uint16(daemon.Port())).String()
	for _, s := range []*Session{hosted, member} {
		ev := nextEvent(t, s, lobby.NoticeCoordinatorMoved)
		if ev.Addr != want || ev.Lobby.Term != 1 || ev.Lobby.ID != hosted.ID() {
			t.Fatalf("coordinator_moved %+v, want to %s under term 1", ev, want)
		}
	}
	testutil.WaitFor(t, waitTimeout, "both sessions on the daemon", func() bool {
		return !hosted.Own() && hosted.Coordinator() == want && member.Coordinator() == want
	})
	st, err := daemon.Server().Stats(context.Background())
	if err != nil || st.Lobbies != 1 || st.Members != 2 {
		t.Fatalf("daemon: %+v, %v", st, err)
	}
	// The host leaving no longer ends the lobby: the member stays, owner.
	hosted.Close()
	ev := nextEvent(t, member, lobby.NoticeOwnerChanged)
	if ev.Lobby.Owner != member.You().ID {
		t.Fatalf("owner_changed %+v", ev)
	}
}

// TestLabSessionTakeoverAndHeal: the host's cable is cut silently. The
// successor's Session takes the lobby over (its own coordinator now, on
// the port it held in reserve), the other member's Session follows it; when
// the cut heals, the old host's Session learns it lost, follows the lobby
// as a member, and no longer holds a coordinator.
func TestLabSessionTakeoverAndHeal(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	hosted := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "survivor", Players: 4, Port: 7777})
	bob := join(t, h2, labConfig(h2), hosted.ID(), 7778)
	nextEvent(t, hosted, lobby.NoticeMemberJoined)
	carol := join(t, h3, labConfig(h3), hosted.ID(), 7779)
	nextEvent(t, hosted, lobby.NoticeMemberJoined)

	if err := h1.SetLinkSilent(true); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, bob, lobby.EventCoordinatorLost); ev.Next != lobby.NextTakingOver || ev.Reason != lobby.ReasonTimeout {
		t.Fatalf("bob: %+v", ev)
	}
	for _, s := range []*Session{bob, carol} {
		ev := nextEvent(t, s, lobby.NoticeTakenOver)
		if ev.Lobby.Owner != bob.You().ID || ev.Member.ID != hosted.You().ID || ev.Lobby.Term != 1 || len(ev.Peers) != 1 {
			t.Fatalf("taken_over %+v", ev)
		}
	}
	if !bob.Own() || bob.Coordinator() == "" {
		t.Fatalf("bob's Session after the takeover: own %v at %q", bob.Own(), bob.Coordinator())
	}
	port := bob.OwnCoordinator().Port()
	want := netip.AddrPortFrom(h2.IPv4, uint16(port)).String()
	testutil.WaitFor(t, waitTimeout, "carol on bob's coordinator", func() bool { return carol.Coordinator() == want })
	if bob.Coordinator() != ":"+strconv.Itoa(port) {
		t.Fatalf("bob's coordinator %q, want :%d", bob.Coordinator(), port)
	}

	if err := h1.SetLinkSilent(false); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, hosted, lobby.NoticeCoordinatorMoved)
	if ev.Addr != want || ev.Lobby.Term != 1 {
		t.Fatalf("the old host: %+v, want moved to %s", ev, want)
	}
	if j := nextEvent(t, bob, lobby.NoticeMemberJoined); j.Member.ID != hosted.You().ID {
		t.Fatalf("bob saw %+v, want the old host joining", j)
	}
	testutil.WaitFor(t, waitTimeout, "the old host's Session follows", func() bool {
		return !hosted.Own() && hosted.Coordinator() == want && len(hosted.Peers()) == 2
	})
	// One lobby on the LAN, at bob's.
	ls := in(t, h3, func() ([]LobbyInfo, error) { return List(context.Background(), labConfig(h3), "demo") })
	if len(ls) != 1 || ls[0].Host.String() != want || ls[0].Players != 3 || ls[0].Term != 1 {
		t.Fatalf("listed %+v", ls)
	}
	// bob holds the lobby now: closing his Session ends it for all.
	bob.Close()
	for _, s := range []*Session{carol, hosted} {
		if ev := nextEvent(t, s, lobby.NoticeClosed); ev.Reason != lobby.ReasonShutdown {
			t.Fatalf("closed %+v", ev)
		}
	}
}
