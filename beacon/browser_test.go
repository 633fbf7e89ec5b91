package beacon

import (
	"context"
	"errors"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net/netip"
	"testing"
	"time"
)

func newTestBrowser(t *testing.T, n *fakeNet, h fakeHost, cfg BrowserConfig) (*Browser, *opened) {
	t.Helper()
	var o *opened
	cfg.ifaces, cfg.listen, o = n.seams(h)
	cfg.Logger = quiet
	b, err := NewBrowser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, o
}

// runAdvertiser starts an advertiser holding lobbies on h and returns once
// it listens.
func runAdvertiser(t *testing.T, n *fakeNet, h fakeHost, cfg AdvertiserConfig, lobbies ...Lobby) (*Advertiser, *opened) {
	t.Helper()
	a, o := newTestAdvertiser(t, n, h, cfg)
	for _, l := range lobbies {
		if err := a.Set(l); err != nil {
			t.Fatal(err)
		}
	}
	startListening(t, a, o)
	return a, o
}

// TestBrowserQueryAtStart: a browser started after the announcements
// learns of the lobby from the answer to its first query, with the source
// address as host and a round-trip time.
func TestBrowserQueryAtStart(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	runAdvertiser(t, n, h1, slow, testLobby("a"))
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	ev := nextEvent(t, b.Events())
	if ev.Type != Added || ev.Lobby.ID != "a" || ev.Lobby.Host != netip.AddrPortFrom(h1.v4, 7600) ||
		ev.Lobby.Iface != "eth0" || ev.Lobby.Source != SourceName {
		t.Fatalf("event %+v", ev)
	}
	testutil.WaitFor(t, waitTimeout, "RTT", func() bool {
		l := b.Lobbies()
		return len(l) == 1 && l[0].RTT > 0 && l[0].RTT < waitTimeout
	})
	if s := b.Stats(); s.Queries < 1 || s.Packets < 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBrowserFollowsChanges: updates and goodbyes arrive as events; the
// copies over both families and periodic repeats cause none.
func TestBrowserFollowsChanges(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	b, bo := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	testutil.WaitFor(t, waitTimeout, "browser listening", func() bool { return bo.count() == 2 })
	a, _ := runAdvertiser(t, n, h1, AdvertiserConfig{Interval: 10 * time.Millisecond}, testLobby("a"))
	if ev := nextEvent(t, b.Events()); ev.Type != Added || ev.Lobby.Host.Addr() != h1.v4 {
		t.Fatalf("event %+v", ev)
	}
	// Let several periods pass over both families: the next event must be
	// the change, nothing before it.
	seen := b.Stats().Packets
	testutil.WaitFor(t, waitTimeout, "periodic packets", func() bool { return b.Stats().Packets >= seen+6 })
	l := testLobby("a")
	l.State = StateStarted
	a.Set(l)
	if ev := nextEvent(t, b.Events()); ev.Type != Updated || ev.Lobby.State != StateStarted {
		t.Fatalf("event %+v", ev)
	}
	a.Remove("a")
	if ev := nextEvent(t, b.Events()); ev.Type != Removed || ev.Lobby.ID != "a" {
		t.Fatalf("event %+v", ev)
	}
	if len(b.Lobbies()) != 0 {
		t.Fatalf("lobbies %+v", b.Lobbies())
	}
}

// TestBrowserExpiry: an advertiser that dies without goodbye disappears
// after its TTL (1 s here).
func TestBrowserExpiry(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	a, ao := runAdvertiser(t, n, h1, AdvertiserConfig{Interval: 20 * time.Millisecond}, testLobby("a"))
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	if ev := nextEvent(t, b.Events()); ev.Type != Added {
		t.Fatalf("event %+v", ev)
	}
	ao.get(0).mute.Store(true) // crash: nothing more leaves the host
	died := time.Now()
	ev := nextEvent(t, b.Events())
	if ev.Type != Removed || ev.Lobby.ID != "a" {
		t.Fatalf("event %+v", ev)
	}
	if d := time.Since(died); d < a.TTL()-100*time.Millisecond {
		t.Fatalf("removed after %v, TTL %v", d, a.TTL())
	}
}

// TestBrowserIPv6Only: on IPv6 alone the host is the link-local source
// address with the receiving interface as zone.
func TestBrowserIPv6Only(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp6"), newFakeHost(2, "udp6")
	runAdvertiser(t, n, h1, slow, testLobby("a"))
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	ev := nextEvent(t, b.Events())
	if ev.Type != Added || ev.Lobby.Host != netip.AddrPortFrom(h1.v6, 7600) || ev.Lobby.Host.Addr().Zone() != "eth0" {
		t.Fatalf("event %+v", ev)
	}
}

func TestBrowserGameFilter(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	d := testLobby("d")
	d.Game = "doom"
	runAdvertiser(t, n, h1, AdvertiserConfig{Interval: 10 * time.Millisecond}, testLobby("q"), d)
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{Game: "doom"})
	start(t, b)
	if ev := nextEvent(t, b.Events()); ev.Lobby.ID != "d" {
		t.Fatalf("event %+v", ev)
	}
	seen := b.Stats().Packets
	testutil.WaitFor(t, waitTimeout, "more packets", func() bool { return b.Stats().Packets >= seen+3 })
	if l := b.Lobbies(); len(l) != 1 {
		t.Fatalf("lobbies %+v", l)
	}
}

// TestTwoBrowsersOneHost: two browsers on one host both hear everything.
func TestTwoBrowsersOneHost(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	runAdvertiser(t, n, h1, slow, testLobby("a"))
	b1, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	b2, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b1)
	start(t, b2)
	for _, b := range []*Browser{b1, b2} {
		if ev := nextEvent(t, b.Events()); ev.Type != Added {
			t.Fatalf("event %+v", ev)
		}
	}
}

// TestBrowserSlowConsumer: a consumer that does not read never blocks the
// browser; it then gets the latest state, coalesced.
func TestBrowserSlowConsumer(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	b, bo := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	testutil.WaitFor(t, waitTimeout, "browser listening", func() bool { return bo.count() == 2 })
	a, _ := runAdvertiser(t, n, h1, slow)
	l := testLobby("a")
	for i := range 300 {
		l.Players = i % (l.Capacity + 1)
		if i == 299 {
			// The last state must be told apart from an earlier one with
			// as many players, which the table may show while the
			// advertiser is still behind.
			l.Name = "Alice's last game"
		}
		a.Set(l)
		if i%50 == 0 { // let the advertiser keep up, so that the fake LAN drops nothing
			testutil.WaitFor(t, waitTimeout, "sent", func() bool { return a.Stats().Sent >= uint64(i/50) })
		}
	}
	want := 299 % (l.Capacity + 1)
	testutil.WaitFor(t, waitTimeout, "latest state in the table", func() bool {
		ls := b.Lobbies()
		return len(ls) == 1 && ls[0].Players == want && ls[0].Name == l.Name
	})
	ev := nextEvent(t, b.Events())
	if ev.Type != Added || ev.Lobby.Players != want || ev.Lobby.Name != l.Name {
		t.Fatalf("event %+v, want Added with %d players", ev, want)
	}
	if s := b.Stats(); s.Coalesced == 0 || s.EventDrops != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBrowserCoordinators(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	runAdvertiser(t, n, h1, AdvertiserConfig{Interval: time.Hour,
		Coordinator: &Coordinator{ID: "daemon", Name: "LAN server", Port: 7600}})
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	start(t, b)
	testutil.WaitFor(t, waitTimeout, "coordinator", func() bool {
		c := b.Coordinators()
		return len(c) == 1 && c[0].Addr == netip.AddrPortFrom(h1.v4, 7600) && c[0].Name == "LAN server"
	})
}

func TestBrowserLifecycle(t *testing.T) {
	n := newFakeNet()
	b, _ := newTestBrowser(t, n, newFakeHost(1, ""), BrowserConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	b.Query()
	testutil.WaitFor(t, waitTimeout, "queries", func() bool { return b.Stats().Queries >= 2 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-b.Events(); ok {
		t.Fatal("Events open after Run")
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run again: %v", err)
	}
	b.Close()
	b.Close()
	if _, err := NewBrowser(BrowserConfig{Game: "a\nb"}); err == nil {
		t.Fatal("bad game filter accepted")
	}
}

// TestMergeBrowser: the Browser plugs into Merge as a Source.
func TestMergeBrowser(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	runAdvertiser(t, n, h1, slow, testLobby("a"))
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{})
	other := make(chanSource)
	m := NewMerge(b, other)
	start(t, m)
	start(t, b)
	if ev := nextEvent(t, m.Events()); ev.Type != Added || ev.Lobby.Source != SourceName {
		t.Fatalf("event %+v", ev)
	}
	close(other)
}
