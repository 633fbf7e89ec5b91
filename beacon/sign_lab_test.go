package beacon

// Signed beacons between real sockets in netlab namespaces. Assertions
// wait on counters, never on silence: a rejected packet is counted by the
// receive loop before it could have had any effect.

import (
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/netutil"
)

// keyed returns cfg with the key set.
func keyed(cfg AdvertiserConfig, k Key) AdvertiserConfig {
	cfg.Key = k
	return cfg
}

// TestLabSignedSameKey: advertiser and browser with one key see each
// other (announcements and answers to queries); a browser without a key
// sees the signed lobby too.
func TestLabSignedSameKey(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	k := testKey(t, "lan party")
	a := labAdvertiser(t, h1, keyed(fastLAN, k), testLobby("a"))
	b := labBrowser(t, h2, BrowserConfig{Key: k})
	plain := labBrowser(t, h3, BrowserConfig{})
	for _, b := range []*Browser{b, plain} {
		if ev := watch(t, b).next(); ev.Type != Added || ev.Lobby.ID != "a" {
			t.Fatalf("event %+v", ev)
		}
	}
	testutil.WaitFor(t, waitTimeout, "signed query answered", func() bool { return a.Stats().Answers > 0 })
	if s := b.Stats(); s.Unsigned != 0 || s.BadSignature != 0 || s.BadTimestamp != 0 {
		t.Fatalf("keyed browser rejected packets: %+v", s)
	}
	// The unkeyed browser's queries were not answered.
	testutil.WaitFor(t, waitTimeout, "unsigned query counted", func() bool { return a.Stats().Unsigned > 0 })
}

// TestLabSignedWrongKey: a browser with another key sees nothing and
// counts bad signatures; the advertiser does not answer its queries.
func TestLabSignedWrongKey(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	a := labAdvertiser(t, h1, keyed(fastLAN, testKey(t, "lan party")), testLobby("a"))
	b := labBrowser(t, h2, BrowserConfig{Key: testKey(t, "other party")})
	testutil.WaitFor(t, waitTimeout, "bad signatures counted", func() bool {
		return b.Stats().BadSignature >= 5 && a.Stats().BadSignature > 0
	})
	if l := b.Lobbies(); len(l) != 0 {
		t.Fatalf("lobbies %+v", l)
	}
	if s := a.Stats(); s.Answers != 0 {
		t.Fatalf("advertiser answered: %+v", s)
	}
}

// TestLabSignedUnkeyedAdvertiser: a keyed browser ignores an unkeyed
// advertiser (its announcements and its answers) and counts them unsigned.
func TestLabSignedUnkeyedAdvertiser(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	a := labAdvertiser(t, h1, fastLAN, testLobby("a"))
	b := labBrowser(t, h2, BrowserConfig{Key: testKey(t, "lan party")})
	testutil.WaitFor(t, waitTimeout, "unsigned packets counted", func() bool { return b.Stats().Unsigned >= 5 })
	if l := b.Lobbies(); len(l) != 0 {
		t.Fatalf("lobbies %+v", l)
	}
	// An unkeyed advertiser answers signed queries (it skips the TLVs);
	// the answers are unsigned and dropped like the rest.
	testutil.WaitFor(t, waitTimeout, "signed query answered", func() bool { return a.Stats().Answers > 0 })
}

// TestLabSignedUnkeyedQuery: a keyed advertiser does not answer an
// unkeyed browser's query, so that browser learns nothing from it; a
// keyed browser on another host is answered.
func TestLabSignedUnkeyedQuery(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	k := testKey(t, "lan party")
	// One announcement when it starts, before the browsers: from then on
	// only answers can tell them about the lobby.
	a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour, Key: k}, testLobby("a"))
	plain := labBrowser(t, h2, BrowserConfig{})
	testutil.WaitFor(t, waitTimeout, "unsigned query counted", func() bool { return a.Stats().Unsigned > 0 })
	if s := a.Stats(); s.Answers != 0 {
		t.Fatalf("unsigned query answered: %+v", s)
	}
	b := labBrowser(t, h3, BrowserConfig{Key: k})
	if ev := nextEvent(t, b.Events()); ev.Type != Added || ev.Lobby.ID != "a" {
		t.Fatalf("event %+v", ev)
	}
	if l := plain.Lobbies(); len(l) != 0 {
		t.Fatalf("unkeyed browser has %+v", l)
	}
}

// TestLabSignedReplay: the bytes of a signed announcement, captured on the
// LAN and sent again from another host after the advertiser left, are
// rejected as outside the window by a browser whose clock has moved past
// it. A browser whose clock is still inside the window, and which never
// heard the goodbye, takes them: they are a valid signed packet, and only
// the timestamp stops the replay.
func TestLabSignedReplay(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	k := testKey(t, "lan party")
	tap := labListen(t, h3)
	a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour, Key: k}, testLobby("a"))
	captured := capture(t, tap, func(b []byte) bool {
		p, err := k.VerifyPacket(b, time.Now(), DefaultReplayWindow)
		return err == nil && p.Kind == KindAnnounce && p.Lobbies[0].ID == "a"
	})
	a.Close() // goodbye: nobody is left to announce "a"

	late := &testClock{}
	late.advance(DefaultReplayWindow + time.Second)
	moved := labBrowser(t, h2, BrowserConfig{Key: k, now: late.now})
	inWindow := labBrowser(t, h2, BrowserConfig{Key: k})
	testutil.WaitFor(t, waitTimeout, "browsers listening", func() bool {
		return moved.Stats().Queries > 0 && inWindow.Stats().Queries > 0
	})
	if err := tap.SendMulticast(captured); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitTimeout, "replay counted", func() bool { return moved.Stats().BadTimestamp > 0 })
	if ev := nextEvent(t, inWindow.Events()); ev.Type != Added || ev.Lobby.ID != "a" {
		t.Fatalf("event %+v", ev)
	}
	if l := moved.Lobbies(); len(l) != 0 {
		t.Fatalf("replay accepted: %+v", l)
	}
	if s := moved.Stats(); s.BadSignature != 0 || s.Unsigned != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// labListen opens a raw beacon socket on the group port of h, as the
// Advertiser does, and closes it when the test ends.
func labListen(t *testing.T, h *netlab.Host) packetConn {
	t.Helper()
	n, err := NetConfig{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var c packetConn
	if err := h.Do(func() error {
		ifaces, err := netutil.Interfaces(n.Interfaces)
		if err != nil {
			return err
		}
		c, err = n.listener(quiet, nil)(true, ifaces)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// capture returns the first packet c receives that match accepts.
func capture(t *testing.T, c packetConn, match func([]byte) bool) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, MaxPacketSize+1)
		for {
			n, _, _, err := c.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if b := buf[:n]; match(b) {
				got <- append([]byte(nil), b...)
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	select {
	case b := <-got:
		return b
	case <-time.After(waitTimeout):
		t.Fatal("nothing captured within", waitTimeout)
		return nil
	}
}
