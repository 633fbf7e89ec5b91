package beacon

// Real-socket tests: advertisers and browsers run inside network
// namespaces built by netlab (never on the machine's own interfaces), with
// the automatic interface choice, which picks each host's "lan0".

import (
	"context"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// fastLAN: announcements every 100 ms ± 33 ms, TTL 1 s.
var fastLAN = AdvertiserConfig{Interval: 100 * time.Millisecond, Logger: quiet}

// runIn runs r inside h's namespace: Run opens its sockets there. The
// test's cleanup closes it and checks that Run returned nil.
func runIn(t *testing.T, h *netlab.Host, r runner) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- h.Do(func() error { return r.Run(context.Background()) }) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Errorf("%s: Run: %v", h.Name, err)
		}
	})
}

func labAdvertiser(t *testing.T, h *netlab.Host, cfg AdvertiserConfig, lobbies ...Lobby) *Advertiser {
	t.Helper()
	cfg.Logger = quiet
	a, err := NewAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lobbies {
		if err := a.Set(l); err != nil {
			t.Fatal(err)
		}
	}
	runIn(t, h, a)
	// The first announcement is sent right after the socket opened.
	testutil.WaitFor(t, waitTimeout, h.Name+" advertiser up", func() bool { return a.Stats().Sent > 0 })
	return a
}

func labBrowser(t *testing.T, h *netlab.Host, cfg BrowserConfig) *Browser {
	t.Helper()
	cfg.Logger = quiet
	b, err := NewBrowser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, h, b)
	return b
}

// TestLabLifecycle: added, updated on change, removed on goodbye, and
// removed after the TTL when the advertiser's host drops off the LAN.
func TestLabLifecycle(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := labBrowser(t, h2, BrowserConfig{})
	w := watch(t, b)
	a := labAdvertiser(t, h1, fastLAN, testLobby("a"))

	ev := w.next()
	if ev.Type != Added || ev.Lobby.ID != "a" || ev.Lobby.Iface != h2.Iface {
		t.Fatalf("event %+v", ev)
	}
	testutil.WaitFor(t, waitTimeout, "IPv4 host preferred", func() bool {
		l := b.Lobbies()
		return len(l) == 1 && l[0].Host == netip.AddrPortFrom(h1.IPv4, 7600)
	})
	l := testLobby("a")
	l.Players = 5
	a.Set(l)
	changed := time.Now()
	if ev := w.next(); ev.Type != Updated || ev.Lobby.Players != 5 {
		t.Fatalf("event %+v", ev)
	}
	t.Logf("update seen after %v", time.Since(changed))
	a.Remove("a")
	if ev := w.next(); ev.Type != Removed {
		t.Fatalf("event %+v", ev)
	}

	a.Set(testLobby("b"))
	if ev := w.next(); ev.Type != Added || ev.Lobby.ID != "b" {
		t.Fatalf("event %+v", ev)
	}
	// Unplug h1: no goodbye can arrive, the lobby expires after its TTL.
	if err := h1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	ev = w.next()
	if ev.Type != Removed || ev.Lobby.ID != "b" {
		t.Fatalf("event %+v", ev)
	}
	gone := time.Since(cut)
	t.Logf("expired %v after the cut (TTL %v)", gone, a.TTL())
	if gone > a.TTL()+500*time.Millisecond {
		t.Fatalf("expired after %v, TTL %v", gone, a.TTL())
	}
}

// TestLabQueryLatency: a browser started long after the announcements (the
// period is an hour) hears every host at once, through its query, from
// two advertisers sharing the port on one host and one on another.
func TestLabQueryLatency(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, testLobby("h1-a"))
	labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, testLobby("h1-b"))
	labAdvertiser(t, h3, AdvertiserConfig{Interval: time.Hour}, testLobby("h3"))

	started := time.Now()
	b := labBrowser(t, h2, BrowserConfig{})
	w := watch(t, b)
	for range 3 {
		if ev := w.next(); ev.Type != Added {
			t.Fatalf("event %+v", ev)
		}
	}
	took := time.Since(started)
	t.Logf("all 3 lobbies %v after browser start", took)
	if took > 500*time.Millisecond {
		t.Fatalf("query answers took %v", took)
	}
	hosts := map[string]netip.Addr{"h1-a": h1.IPv4, "h1-b": h1.IPv4, "h3": h3.IPv4}
	testutil.WaitFor(t, waitTimeout, "IPv4 hosts and RTTs", func() bool {
		for _, l := range b.Lobbies() {
			if l.RTT <= 0 || l.Host.Addr() != hosts[l.ID] {
				return false
			}
		}
		return true
	})
	for _, l := range b.Lobbies() {
		t.Logf("%s via %v: RTT %v", l.ID, l.Host, l.RTT)
	}
}

// TestLabIPv6Only: with IPv6 alone the browser gets the advertiser's
// link-local address, zoned with its own interface, and it is reachable:
// a TCP connection to it from the browser's host works.
func TestLabIPv6Only(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	v6 := NetConfig{Network: "udp6"}
	var ln net.Listener
	if err := h1.Do(func() (err error) {
		ln, err = net.Listen("tcp6", "[::]:7600")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	labAdvertiser(t, h1, AdvertiserConfig{Net: v6, Interval: time.Hour}, testLobby("a"))
	b := labBrowser(t, h2, BrowserConfig{Net: v6})
	ev := nextEvent(t, b.Events())
	ll, err := h1.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(ll.WithZone(h2.Iface), 7600); ev.Type != Added || ev.Lobby.Host != want {
		t.Fatalf("event %+v, want host %v", ev, want)
	}
	if err := h2.Do(func() error {
		c, err := net.DialTimeout("tcp", ev.Lobby.Host.String(), waitTimeout)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("dial %v: %v", ev.Lobby.Host, err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

// TestLabSameHost: two browsers on one host both see a remote lobby, and a
// browser on the advertiser's own host sees it too (multicast loopback).
func TestLabSameHost(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b1 := labBrowser(t, h2, BrowserConfig{})
	b2 := labBrowser(t, h2, BrowserConfig{})
	local := labBrowser(t, h1, BrowserConfig{})
	labAdvertiser(t, h1, fastLAN, testLobby("a"))
	for _, b := range []*Browser{b1, b2, local} {
		if ev := watch(t, b).next(); ev.Type != Added || ev.Lobby.ID != "a" {
			t.Fatalf("event %+v", ev)
		}
		testutil.WaitFor(t, waitTimeout, "IPv4 host", func() bool {
			l := b.Lobbies()
			return len(l) == 1 && l[0].Host.Addr() == h1.IPv4
		})
	}
}

// TestLabGoodbyeOnClose: closing an advertiser removes its lobbies from
// browsers at once, without waiting for the TTL.
func TestLabGoodbyeOnClose(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := labBrowser(t, h2, BrowserConfig{})
	w := watch(t, b)
	a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, testLobby("a"), testLobby("b"))
	for range 2 {
		if ev := w.next(); ev.Type != Added {
			t.Fatalf("event %+v", ev)
		}
	}
	closed := time.Now()
	a.Close()
	for range 2 {
		if ev := w.next(); ev.Type != Removed {
			t.Fatalf("event %+v", ev)
		}
	}
	if d := time.Since(closed); d > time.Second {
		t.Fatalf("removed %v after Close", d)
	}
}

// TestLabBrowserFollowsUp: a daemon's 896 lobbies do not fit one answer
// (MaxAnswerPackets); the browser asks for the rest after the last id of
// each answer cut short (FlagMore), and has them all from its first query
// alone (the daemon's periodic announcements are an hour apart).
func TestLabBrowserFollowsUp(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, floodLobbies(896, "flood")...)
	sent := a.Stats().Sent
	start := time.Now()
	b := labBrowser(t, h2, BrowserConfig{})
	testutil.WaitFor(t, waitTimeout, "896 lobbies", func() bool { return len(b.Lobbies()) == 896 })
	s := a.Stats()
	t.Logf("896 lobbies in %v: %d queries (with follow-ups), %d answers, %d cut short, %d packets",
		time.Since(start).Round(time.Millisecond), b.Stats().Queries, s.Answers, s.Truncated, s.Sent-sent)
	if s.Truncated == 0 || s.MulticastAnswers != 0 {
		t.Fatalf("stats %+v", s)
	}
}
