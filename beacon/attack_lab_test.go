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
			a := labAdvertiser(t, h1, AdvertiserConfig{Interval: time.Hour}, floodLobbies(896, "flood")...)
			defer a.Close()
			waitQuiet(t, victim) // the start-up announcement is out
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
			testutil.WaitFor(t, waitTimeout, "queries read", func() bool { return a.Stats().Queries >= uint64(sc.n)*9/10 })
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
		for round := uint32(1); round <= 20; round++ { // 10 s at most
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
	testutil.WaitFor(t, waitTimeout, "the flood in the browser's table", func() bool { return len(b.Lobbies()) >= 4000 })

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
