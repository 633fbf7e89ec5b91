package beacon

// Attacks on the beacon by a hostile host of the LAN, mounted in netlab
// namespaces only (forged sources through netlab.Spoofer, a raw socket in
// the attacker's namespace), bounded in count and time. Each test asserts
// the bound of its row of RELIABILITY.md ("Attacks from the LAN") and logs
// the figure measured.

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
)

// floodLobbies returns n valid lobbies of game with names of a realistic
// length (records of about 40 bytes).
func floodLobbies(n int, game string) []Lobby {
	out := make([]Lobby, n)
	for i := range out {
		out[i] = Lobby{ID: fmt.Sprintf("%s-%04d", game, i), Game: game, Name: fmt.Sprintf("Lobby %d of many", i),
			Players: 1, Capacity: 8, State: StateOpen, Port: 7600}
	}
	return out
}

// rawQuery returns an encoded query for game, padded (with TLVs every
// version 1 decoder skips) to pad bytes in all when pad is larger.
func rawQuery(t *testing.T, game string, pad int) []byte {
	t.Helper()
	b, err := Encode(&Packet{Kind: KindQuery, Game: game})
	if err != nil {
		t.Fatal(err)
	}
	return appendPadding(b, pad-len(b))
}

// waitQuiet waits until c has counted nothing new for 300 ms (the
// answers to an attack are out), within 10 s.
func waitQuiet(t *testing.T, c *netlab.UDPCounter) {
	t.Helper()
	last, since := c.Bytes(), time.Now()
	testutil.WaitFor(t, 10*time.Second, "the victim's counter quiet", func() bool {
		if b := c.Bytes(); b != last {
			last, since = b, time.Now()
		}
		return time.Since(since) >= 300*time.Millisecond
	})
}

var beaconGroup4 = netip.AddrPortFrom(netip.MustParseAddr(DefaultGroupIPv4), DefaultPort)

// TestLabAttackAmplification (row 1): a host sends queries whose source is
// forged to be a victim's address, to make an advertiser holding 896
// lobbies flood the victim. Whatever the attacker's pattern (a new source
// port per query, one port at 10 queries a second, queries padded to the
// largest packet), the victim receives at most 3 times the bytes the
// attacker sent, counting every IP byte from the advertiser (its unicast
// answers and any multicast the queries caused).
func TestLabAttackAmplification(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	spoof, err := h2.Spoofer()
	if err != nil {
		t.Fatal(err)
	}
	victim, err := h3.CountUDP(func(src, _ netip.Addr, _ uint16) bool { return src == h1.IPv4 }, beaconGroup4.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		name   string
		n      int
		port   func(i int) uint16
		pad    int
		every  time.Duration // one query per every (in bursts of up to 10)
		bursts int
	}{
		{name: "new port each", n: 1000, port: func(i int) uint16 { return uint16(20000 + i) }, every: 500 * time.Microsecond},
		{name: "one port 10 per s", n: 10, port: func(int) uint16 { return 40000 }, every: 100 * time.Millisecond},
		{name: "padded", n: 200, port: func(i int) uint16 { return uint16(30000 + i) }, pad: MaxPacketSize, every: 2 * time.Millisecond},
	} {
		t.Run(sc.name, func(t *testing.T) {
			// A fresh advertiser per pattern: what one pattern spent does
			// not help the next. Periodic announcements are an hour apart:
			// everything the victim counts during the attack is caused by it.
			lobbies := floodLobbies(896, "flood")
			a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, lobbies...)
			defer a.Close()
			// The start-up announcement is out, and in the counter.
			startup, err := Pack(&Packet{Kind: KindAnnounce, TTLSeconds: 1, Lobbies: lobbies})
			if err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, waitTimeout, "start-up announcement sent", func() bool { return a.Stats().Sent >= uint64(len(startup)) })
			waitQuiet(t, victim)
			before, sentBefore := victim.Bytes(), spoof.Sent()
			q := rawQuery(t, "", sc.pad)
			start := time.Now()
			for i := range sc.n {
				src := netip.AddrPortFrom(h3.IPv4, sc.port(i))
				if _, err := spoof.SendUDP(src, beaconGroup4, 1, q); err != nil {
					t.Fatal(err)
				}
				if d := time.Until(start.Add(time.Duration(i+1) * sc.every)); d > 0 && (i%10 == 9 || sc.every >= time.Millisecond) {
					time.Sleep(d) // pacing the attacker, not a wait for the code under test
				}
			}
			sent := spoof.Sent() - sentBefore
			// Until the advertiser has read what it will read (a busy one
			// drops queries at its full queues: they are in the attacker's
			// bytes and get no answer), and the answers are out.
			last, since := a.Stats().Queries, time.Now()
			testutil.WaitFor(t, 10*time.Second, "queries read", func() bool {
				if q := a.Stats().Queries; q != last {
					last, since = q, time.Now()
				}
				return time.Since(since) >= 300*time.Millisecond
			})
			waitQuiet(t, victim)
			got := victim.Bytes() - before
			ratio := float64(got) / float64(sent)
			t.Logf("%s: attacker sent %d queries, %d B in %v; victim received %d B: %.2f×; advertiser %+v",
				sc.name, sc.n, sent, time.Since(start).Round(time.Millisecond), got, ratio, a.Stats())
			if ratio > 3 {
				t.Errorf("amplification %.2f×, bound 3×", ratio)
			}
		})
	}
}

// TestLabAttackTableFlood (row 4): a host floods the LAN with 5,000 fake
// lobbies announced with the longest TTL (65,535 s), from its own address
// and 20 forged ones, again every half second. A lobby created meanwhile
// on another host appears in a browser within 2 s.
func TestLabAttackTableFlood(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	spoof, err := h2.Spoofer()
	if err != nil {
		t.Fatal(err)
	}
	b := labBrowser(t, h3, BrowserConfig{})
	a := labAdvertiser(t, h1, AdvertiserConfig{}, testLobby("warm-up"))
	testutil.WaitFor(t, waitTimeout, "warm-up lobby", func() bool { return len(b.Lobbies()) == 1 })

	sources := []netip.Addr{h2.IPv4}
	for i := range 20 {
		sources = append(sources, netip.AddrFrom4([4]byte{198, 18, 1, byte(50 + i)}))
	}
	fakes := floodLobbies(5000, "fake")
	per := len(fakes) / len(sources)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for round := uint32(1); round <= 60; round++ { // 30 s at most
			for i, src := range sources {
				pkts, err := Pack(&Packet{Kind: KindAnnounce, Seq: round, TTLSeconds: 65535, Lobbies: fakes[i*per : (i+1)*per]})
				if err != nil {
					t.Error(err)
					return
				}
				for _, p := range pkts {
					if _, err := spoof.SendUDP(netip.AddrPortFrom(src, DefaultPort), beaconGroup4, 1, p); err != nil {
						t.Error(err)
						return
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond): // pacing the attacker
			}
		}
	}()
	defer func() { close(stop); <-done }()
	// A browser falling behind sheds the flood's packets: on a busy
	// machine the table fills over a few rounds.
	testutil.WaitFor(t, 20*time.Second, "the flood in the browser's table", func() bool { return len(b.Lobbies()) >= 4000 })

	start := time.Now()
	real := testLobby("real")
	if err := a.Set(real); err != nil {
		t.Fatal(err)
	}
	seen := func() bool { return slices.ContainsFunc(b.Lobbies(), func(l LobbyInfo) bool { return l.ID == "real" }) }
	testutil.WaitFor(t, 10*time.Second, "the real lobby", seen)
	took := time.Since(start)
	s := b.Stats()
	t.Logf("real lobby seen %v after its creation, among %d lobbies; browser %+v", took.Round(time.Millisecond), len(b.Lobbies()), s)
	if took > 2*time.Second {
		t.Errorf("real lobby appeared after %v, bound 2 s", took)
	}
}

// TestLabAttackReplay (row 15): on a LAN with a key, a host captures the
// signed announcements of a lobby while its host changes it 1,100 times
// (players come and go: the host's seq moves on by more than the browsers'
// stale window), and replays them all, with the host's address as source,
// after the host died without a goodbye (its cable cut). A browser that
// saw the lobby live removes it within one TTL of the host's last packet.
func TestLabAttackReplay(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	k := testKey(t, "lan party")
	tap := labListen(t, h2)
	var capMu sync.Mutex
	var captured [][]byte
	capDone := make(chan struct{})
	go func() {
		defer close(capDone)
		buf := make([]byte, MaxPacketSize+1)
		for {
			n, src, _, err := tap.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if p, err := k.VerifyPacket(buf[:n], time.Now(), DefaultReplayWindow); err == nil && src.Addr() == h1.IPv4 && p.Kind == KindAnnounce {
				capMu.Lock()
				captured = append(captured, append([]byte(nil), buf[:n]...))
				capMu.Unlock()
			}
		}
	}()
	defer func() { tap.Close(); <-capDone }()
	b := labBrowser(t, h3, BrowserConfig{Key: k})
	l := testLobby("victim")
	a := labAdvertiser(t, h1, AdvertiserConfig{Interval: 500 * time.Millisecond, Key: k}, l)
	ttl := a.TTL()
	testutil.WaitFor(t, waitTimeout, "lobby seen", func() bool { return len(b.Lobbies()) == 1 })
	for i := range 1100 {
		l.Players = 1 + i%2
		sent := a.Stats().Sent
		if err := a.Set(l); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, waitTimeout, "change announced", func() bool { return a.Stats().Sent > sent })
	}
	testutil.WaitFor(t, waitTimeout, "changes captured", func() bool {
		capMu.Lock()
		defer capMu.Unlock()
		return len(captured) >= 1100
	})
	if err := h1.SetLinkSilent(true); err != nil { // dies: no goodbye
		t.Fatal(err)
	}
	// The last packet that can still arrive left before the cut.
	lastFresh := time.Now()
	capMu.Lock()
	replays := slices.Clone(captured)
	capMu.Unlock()
	spoof, err := h2.Spoofer()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, p := range replays { // oldest first
				if _, err := spoof.SendUDP(netip.AddrPortFrom(h1.IPv4, DefaultPort), beaconGroup4, 1, p); err != nil {
					t.Error(err)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond): // pacing the attacker
			}
		}
	}()
	defer func() { close(stop); <-done }()
	testutil.WaitFor(t, 4*ttl+5*time.Second, "lobby gone", func() bool { return len(b.Lobbies()) == 0 })
	gone := time.Since(lastFresh)
	t.Logf("%d captured packets replayed every 200 ms; lobby gone %v after the host's last packet (TTL %v); browser %+v",
		len(replays), gone.Round(time.Millisecond), ttl, b.Stats())
	// A browser checks expiry on a timer: allow it half a second on a
	// loaded machine.
	if gone > ttl+500*time.Millisecond {
		t.Errorf("lobby kept %v after the host's last packet, bound one TTL (%v)", gone, ttl)
	}
}

// TestLabAttackForgedClaims (row 16): on a LAN without a key, a host that
// heard a lobby's announcements sends forged ones about it, with a seq
// 500 ahead of its host's: an announcement with another name and port
// (as if the lobby moved to a trap), then a goodbye. The lobby's host,
// hearing a claim about its own lobby that it did not make, announces the
// truth at once, past the forged seq: a browser shows the truth again
// within a second of each forgery.
func TestLabAttackForgedClaims(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	tap := labListen(t, h2)
	b := labBrowser(t, h3, BrowserConfig{})
	l := testLobby("victim")
	a := labAdvertiser(t, h1, AdvertiserConfig{}, l)
	// The truth past seq: the browser shows the lobby as its host has it,
	// from a packet newer than seq (so newer than a forgery with it).
	truthPast := func(seq uint32) bool {
		b.tableMu.Lock()
		defer b.tableMu.Unlock()
		e := b.table.lobbies[l.ID]
		return e != nil && !e.gone && seqOrder(e.seq, seq) > 0 && e.info.Name == l.Name &&
			e.info.Host == netip.AddrPortFrom(h1.IPv4, l.Port)
	}
	testutil.WaitFor(t, waitTimeout, "lobby seen", func() bool { return len(b.Lobbies()) == 1 })
	// The attacker learns the host's seq from what it announces.
	var seq uint32
	buf := make([]byte, MaxPacketSize+1)
	for seq == 0 {
		n, src, _, err := tap.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := Decode(buf[:n]); err == nil && src.Addr() == h1.IPv4 && p.Kind == KindAnnounce {
			seq = p.Seq
		}
	}
	trap := l
	trap.Name, trap.Port = "Free pizza", 6666
	for _, forged := range []struct {
		name string
		p    *Packet
	}{
		{"announcement", &Packet{Kind: KindAnnounce, Seq: seq + 500, TTLSeconds: 6, Lobbies: []Lobby{trap}}},
		{"goodbye", &Packet{Kind: KindGoodbye, Seq: seq + 1000, Lobbies: []Lobby{l}}},
	} {
		raw, err := Encode(forged.p)
		if err != nil {
			t.Fatal(err)
		}
		refuted := a.Stats().Refutations
		start := time.Now()
		if err := tap.SendMulticast(raw); err != nil {
			t.Fatal(err)
		}
		// Polled (every 20 ms at most), not by events: the browser merges
		// the events of a lobby while its consumer is slow.
		testutil.WaitFor(t, 10*time.Second, "the truth back after the forged "+forged.name, func() bool { return truthPast(forged.p.Seq) })
		took := time.Since(start)
		t.Logf("forged %s: the truth shown again %v later; advertiser refuted %d times",
			forged.name, took.Round(100*time.Microsecond), a.Stats().Refutations-refuted)
		if took > time.Second {
			t.Errorf("forged %s shown for %v, bound 1 s", forged.name, took)
		}
	}
}
