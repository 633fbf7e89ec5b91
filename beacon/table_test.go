package beacon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var (
	t0     = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	src4   = netip.MustParseAddrPort("10.0.0.1:7601")
	src4b  = netip.MustParseAddrPort("10.0.0.9:7601")
	src6ll = netip.MustParseAddrPort("[fe80::1%eth0]:7601")
	src6g  = netip.MustParseAddrPort("[2001:db8::1]:7601")
)

func announce(seq uint32, ls ...Lobby) *Packet {
	return &Packet{Kind: KindAnnounce, Seq: seq, TTLSeconds: 6, Lobbies: ls}
}

func goodbye(seq uint32, ls ...Lobby) *Packet {
	return &Packet{Kind: KindGoodbye, Seq: seq, Lobbies: ls}
}

// check asserts the events' types and ids.
func check(t *testing.T, evs []Event, want ...string) {
	t.Helper()
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Type.String()+" "+ev.Lobby.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestTableLifecycle(t *testing.T) {
	tb := newTable("", 10, SourceName)
	l := testLobby("a")
	evs := tb.observe(t0, announce(1, l), src4, "eth0")
	check(t, evs, "added a")
	got := evs[0].Lobby
	want := LobbyInfo{ID: "a", Game: "quake", Name: "Alice's game", Players: 3, Capacity: 8, State: StateOpen,
		Host: netip.MustParseAddrPort("10.0.0.1:7600"), Iface: "eth0", Seen: t0, Source: SourceName}
	if got != want {
		t.Fatalf("added %+v\nwant %+v", got, want)
	}
	// The same packet again (other family or interface): no event.
	check(t, tb.observe(t0.Add(time.Millisecond), announce(1, l), src4, "eth0"))
	// A periodic announcement with nothing new: no event, but Seen moves.
	check(t, tb.observe(t0.Add(time.Second), announce(2, l), src4, "eth0"))
	if s := tb.snapshot(); len(s) != 1 || !s[0].Seen.Equal(t0.Add(time.Second)) {
		t.Fatalf("snapshot %+v", s)
	}
	// A change.
	l.Players = 4
	evs = tb.observe(t0.Add(2*time.Second), announce(3, l), src4, "eth0")
	check(t, evs, "updated a")
	if evs[0].Lobby.Players != 4 {
		t.Fatalf("updated %+v", evs[0].Lobby)
	}
	// A reordered older packet is ignored.
	old := l
	old.Players = 3
	check(t, tb.observe(t0.Add(2*time.Second), announce(2, old), src4, "eth0"))
	if tb.stale != 1 {
		t.Fatalf("stale = %d", tb.stale)
	}
	// Goodbye removes at once; its copy over the other family does nothing.
	check(t, tb.observe(t0.Add(3*time.Second), goodbye(4, l), src4, "eth0"), "removed a")
	check(t, tb.observe(t0.Add(3*time.Second), goodbye(4, l), src6ll, "eth0"))
	// A late copy of an earlier announcement does not resurrect it.
	check(t, tb.observe(t0.Add(3*time.Second), announce(3, l), src6ll, "eth0"))
	if len(tb.snapshot()) != 0 || tb.live != 0 {
		t.Fatalf("still listed: %+v", tb.snapshot())
	}
	// Set again later (newer sequence number): back.
	check(t, tb.observe(t0.Add(4*time.Second), announce(5, l), src4, "eth0"), "added a")
	// A restarted sender (sequence far behind) is accepted.
	restartSeq := uint32(5)
	restartSeq -= 100000
	l.Name = "restarted"
	check(t, tb.observe(t0.Add(5*time.Second), announce(restartSeq, l), src4, "eth0"), "updated a")
}

func TestTableExpiry(t *testing.T) {
	tb := newTable("", 10, SourceName)
	if _, ok := tb.next(); ok {
		t.Fatal("next with empty table")
	}
	tb.observe(t0, announce(1, testLobby("a")), src4, "eth0")
	tb.observe(t0.Add(2*time.Second), announce(2, testLobby("b")), src4, "eth0")
	if at, ok := tb.next(); !ok || !at.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("next = %v %v", at, ok)
	}
	check(t, tb.expire(t0.Add(6*time.Second-1)))
	check(t, tb.expire(t0.Add(6*time.Second)), "removed a")
	// b refreshed at 7 s lives until 13 s.
	tb.observe(t0.Add(7*time.Second), announce(3, testLobby("b")), src4, "eth0")
	check(t, tb.expire(t0.Add(12*time.Second)))
	check(t, tb.expire(t0.Add(13*time.Second)), "removed b")
	if _, ok := tb.next(); ok || tb.live != 0 || len(tb.lobbies) != 0 {
		t.Fatalf("left: %+v", tb.lobbies)
	}
	// A tombstone expires silently.
	tb.observe(t0, announce(10, testLobby("c")), src4, "eth0")
	check(t, tb.observe(t0, goodbye(11, testLobby("c")), src4, "eth0"), "removed c")
	check(t, tb.expire(t0.Add(time.Hour)))
	if len(tb.lobbies) != 0 {
		t.Fatal("tombstone kept")
	}
}

// TestTableHostChoice: one lobby heard over several addresses is one entry
// with the preferred address: IPv4, then IPv6 global, then link-local; the
// choice falls back when the preferred address goes quiet for a TTL.
func TestTableHostChoice(t *testing.T) {
	tb := newTable("", 10, SourceName)
	l := testLobby("a")
	check(t, tb.observe(t0, announce(1, l), src6ll, "eth0"), "added a")
	evs := tb.observe(t0, announce(1, l), src6g, "eth0")
	check(t, evs, "updated a")
	if h := evs[0].Lobby.Host; h != netip.MustParseAddrPort("[2001:db8::1]:7600") {
		t.Fatalf("host %v", h)
	}
	evs = tb.observe(t0, announce(1, l), src4, "wlan0")
	check(t, evs, "updated a")
	if h := evs[0].Lobby; h.Host != netip.MustParseAddrPort("10.0.0.1:7600") || h.Iface != "wlan0" {
		t.Fatalf("host %v on %s", h.Host, h.Iface)
	}
	// IPv6 keeps coming, IPv4 does not: still IPv4 until a TTL passed.
	check(t, tb.observe(t0.Add(5*time.Second), announce(2, l), src6ll, "eth0"))
	evs = tb.observe(t0.Add(6*time.Second), announce(3, l), src6ll, "eth0")
	check(t, evs, "updated a")
	if h := evs[0].Lobby.Host; h.Addr() != src6ll.Addr() {
		t.Fatalf("host %v, want the link-local one", h)
	}
	// Another IPv4 address of the same rank does not displace a live one.
	check(t, tb.observe(t0.Add(7*time.Second), announce(4, l), src4, "eth0"), "updated a")
	check(t, tb.observe(t0.Add(7*time.Second), announce(4, l), src4b, "eth0"))
}

// TestTableHostMoves: a host whose address changed (DHCP) is followed
// after two packets from the new address that the old one did not
// deliver, within milliseconds, not a TTL later; a single lost copy on
// the current address moves nothing.
func TestTableHostMoves(t *testing.T) {
	tb := newTable("", 10, SourceName)
	l := testLobby("a")
	check(t, tb.observe(t0, announce(1, l), src4, "eth0"), "added a")
	check(t, tb.observe(t0, announce(1, l), src6ll, "eth0"))
	// The IPv4 copy of seq 2 is lost; seq 3 comes over both again.
	check(t, tb.observe(t0.Add(time.Second), announce(2, l), src6ll, "eth0"))
	check(t, tb.observe(t0.Add(2*time.Second), announce(3, l), src6ll, "eth0"))
	check(t, tb.observe(t0.Add(2*time.Second), announce(3, l), src4, "eth0"))
	check(t, tb.observe(t0.Add(3*time.Second), announce(4, l), src6ll, "eth0"))
	if h := tb.snapshot()[0].Host.Addr(); h != src4.Addr() {
		t.Fatalf("host %v after a lost copy", h)
	}
	// New IPv4 address: the announcement at once and its repeat.
	check(t, tb.observe(t0.Add(3100*time.Millisecond), announce(5, l), src4b, "eth0"))
	evs := tb.observe(t0.Add(3400*time.Millisecond), announce(6, l), src4b, "eth0")
	check(t, evs, "updated a")
	if h := evs[0].Lobby.Host; h.Addr() != src4b.Addr() {
		t.Fatalf("moved to %v, want %v", h, src4b)
	}
	// The old address is not taken back by a late copy.
	check(t, tb.observe(t0.Add(3400*time.Millisecond), announce(4, l), src4, "eth0"))
}

// TestTableHostChoiceAcrossReorder: a host answers a query over IPv6 and
// IPv4 in two sends (seq 5, then 6); when the IPv6 one arrives last it is
// stale for content, but its address must not be lost the other way round:
// the IPv4 address wins whichever copy came first.
func TestTableHostChoiceAcrossReorder(t *testing.T) {
	tb := newTable("", 10, SourceName)
	l := testLobby("a")
	check(t, tb.observe(t0, announce(6, l), src6ll, "eth0"), "added a")
	evs := tb.observe(t0, announce(5, l), src4, "eth0") // older seq, better address
	check(t, evs, "updated a")
	if h := evs[0].Lobby.Host; h != netip.MustParseAddrPort("10.0.0.1:7600") {
		t.Fatalf("host %v, want the IPv4 one", h)
	}
	// An older packet from a worse address changes nothing.
	check(t, tb.observe(t0, announce(4, l), src6g, "eth0"))
	// Nor does an older packet bring back a lobby a goodbye removed.
	check(t, tb.observe(t0, goodbye(7, l), src4, "eth0"), "removed a")
	check(t, tb.observe(t0, announce(5, l), src4, "eth0"))
}

func TestTableGameFilter(t *testing.T) {
	tb := newTable("doom", 10, SourceName)
	d := testLobby("d")
	d.Game = "doom"
	check(t, tb.observe(t0, announce(1, testLobby("q"), d), src4, "eth0"), "added d")
	check(t, tb.observe(t0, goodbye(2, testLobby("q")), src4, "eth0"))
}

// TestTableFull: beyond maxLobbies new lobbies are dropped and counted;
// tombstones never crowd out live lobbies and stay bounded.
func TestTableFull(t *testing.T) {
	tb := newTable("", 3, SourceName)
	for i := range 5 {
		tb.observe(t0, announce(uint32(i+1), testLobby(fmt.Sprint(i))), src4, "eth0")
	}
	if tb.live != 3 || tb.tableFull != 2 {
		t.Fatalf("live %d, dropped %d", tb.live, tb.tableFull)
	}
	seq := uint32(100)
	for i := range 50 {
		id := fmt.Sprint("churn", i)
		tb.observe(t0, goodbye(seq, testLobby("0")), src4, "eth0")
		seq++
		tb.observe(t0, announce(seq, testLobby(id)), src4, "eth0")
		seq++
		tb.observe(t0, goodbye(seq, testLobby(id)), src4, "eth0")
		seq++
		tb.observe(t0, announce(seq, testLobby("0")), src4, "eth0")
		seq++
		if len(tb.lobbies) > 2*tb.maxLobbies {
			t.Fatalf("%d entries for max %d", len(tb.lobbies), tb.maxLobbies)
		}
	}
	if tb.live != 3 {
		t.Fatalf("live %d", tb.live)
	}
}

// TestTableShares: when the table is full, a lobby from a source holding
// less than the heaviest takes the place of one of the heaviest's
// (Removed), until the two are within one lobby; the heaviest's own new
// lobbies are dropped. The bytes bound acts alike; the accounts follow
// goodbyes, expiry and address changes, and IPv6 sources count per /64.
func TestTableShares(t *testing.T) {
	tb := newTable("", 10, SourceName)
	flood := netip.MustParseAddrPort("10.0.0.66:7601")
	for i := range 12 {
		tb.observe(t0, announce(uint32(i+1), testLobby(fmt.Sprint("fake", i))), flood, "eth0")
	}
	if tb.live != 10 || tb.tableFull != 2 {
		t.Fatalf("live %d, dropped %d", tb.live, tb.tableFull)
	}
	evs := tb.observe(t0, announce(1, testLobby("real")), src4, "eth0")
	if len(evs) != 2 || evs[0].Type != Removed || evs[1].Type != Added || evs[1].Lobby.ID != "real" {
		t.Fatalf("events %+v", evs)
	}
	for i := range 10 {
		tb.observe(t0, announce(uint32(i+2), testLobby(fmt.Sprint("real", i))), src4, "eth0")
	}
	cost := entryCost(&LobbyInfo{ID: "fake10", Game: "quake", Name: "Alice's game"})
	if a, b := tb.shares[sourceKey(flood.Addr())].bytes, tb.shares[sourceKey(src4.Addr())].bytes; tb.live != 10 || a-b > cost || b-a > cost {
		t.Fatalf("live %d, shares %d and %d bytes", tb.live, a, b)
	}
	if tb.evicted != 5 {
		t.Fatalf("%d evicted", tb.evicted)
	}
	// IPv6 addresses of one /64 are one source: a host cannot take a new
	// address for each lobby.
	for i := range 10 {
		src := netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("fe80::%x%%eth0", i+1)), 7601)
		tb.observe(t0, announce(1, testLobby(fmt.Sprint("v6-", i))), src, "eth0")
	}
	if n := len(tb.shares[sourceKey(src6ll.Addr())].ids); n != 4 {
		t.Fatalf("a /64 holds %d lobbies", n)
	}
	// Goodbyes and expiry give the bytes back.
	for id := range tb.lobbies {
		tb.observe(t0, goodbye(1000, testLobby(id)), flood, "eth0")
	}
	tb.expire(t0.Add(time.Hour))
	if tb.live != 0 || tb.bytes != 0 || len(tb.shares) != 0 {
		t.Fatalf("live %d, %d bytes, shares %v", tb.live, tb.bytes, tb.shares)
	}
	// The bytes bound: room for three lobbies of this size.
	tb = newTable("", 100, SourceName)
	tb.maxBytes = 3 * cost
	for i := range 5 {
		tb.observe(t0, announce(uint32(i+1), testLobby(fmt.Sprint("fake", i))), flood, "eth0")
	}
	if tb.live != 3 || tb.bytes > tb.maxBytes {
		t.Fatalf("live %d, %d bytes of %d", tb.live, tb.bytes, tb.maxBytes)
	}
}

// TestTableMaxTTL: a TTL over MaxTTL is cut to it.
func TestTableMaxTTL(t *testing.T) {
	tb := newTable("", 10, SourceName)
	tb.observe(t0, &Packet{Kind: KindAnnounce, Seq: 1, TTLSeconds: 65535, Lobbies: []Lobby{testLobby("a")}}, src4, "eth0")
	tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 1, TTLSeconds: 65535, Coordinator: &Coordinator{ID: "d", Port: 1}}, src4, "eth0")
	if at, _ := tb.next(); !at.Equal(t0.Add(MaxTTL)) {
		t.Fatalf("expires %v after", at.Sub(t0))
	}
	check(t, tb.expire(t0.Add(MaxTTL)), "removed a")
	if len(tb.coordinators()) != 0 {
		t.Fatal("coordinator kept past MaxTTL")
	}
}

func TestTableRTT(t *testing.T) {
	tb := newTable("", 10, SourceName)
	reply := announce(1, testLobby("a"))
	reply.Flags = FlagReply
	tb.observe(t0, reply, src4, "eth0") // before any query: no RTT
	if tb.snapshot()[0].RTT != 0 {
		t.Fatal("RTT without query")
	}
	tb.queried(t0.Add(time.Second))
	reply.Seq = 2
	evs := tb.observe(t0.Add(time.Second+3*time.Millisecond), reply, src4, "eth0")
	check(t, evs) // RTT alone is no event
	reply.Seq = 3
	tb.observe(t0.Add(time.Second+9*time.Millisecond), reply, src4, "eth0") // not the first answer
	if rtt := tb.snapshot()[0].RTT; rtt != 3*time.Millisecond {
		t.Fatalf("RTT %v", rtt)
	}
	// Periodic announcements (no reply flag) do not count.
	tb.queried(t0.Add(2 * time.Second))
	tb.observe(t0.Add(2*time.Second+time.Millisecond), announce(4, testLobby("a")), src4, "eth0")
	if rtt := tb.snapshot()[0].RTT; rtt != 3*time.Millisecond {
		t.Fatalf("RTT %v after a multicast announcement", rtt)
	}
}

func TestTableCoordinators(t *testing.T) {
	tb := newTable("", 10, SourceName)
	c := &Coordinator{ID: "d1", Name: "daemon", Port: 7600}
	tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 2, TTLSeconds: 6, Coordinator: c}, src6ll, "eth0")
	// The IPv4 copy was sent first (seq 1) but arrives last: its address wins.
	tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 1, TTLSeconds: 6, Coordinator: c}, src4, "eth0")
	cs := tb.coordinators()
	if len(cs) != 1 || cs[0].Addr != netip.MustParseAddrPort("10.0.0.1:7600") || cs[0].Name != "daemon" {
		t.Fatalf("coordinators %+v", cs)
	}
	tb.expire(t0.Add(6 * time.Second))
	if len(tb.coordinators()) != 0 {
		t.Fatal("coordinator not expired")
	}
	tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 3, TTLSeconds: 6, Coordinator: c}, src4, "eth0")
	tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 4, Coordinator: c}, src4, "eth0") // withdrawn
	if len(tb.coordinators()) != 0 {
		t.Fatal("coordinator not withdrawn")
	}
}

func TestSeqOrder(t *testing.T) {
	for _, tt := range []struct {
		seq, last uint32
		want      int
	}{
		{5, 5, 0}, {6, 5, 1}, {4, 5, -1}, {0, 0xffffffff, 1}, {0xffffffff, 0, -1},
		{5000 - staleWindow + 1, 5000, -1}, {5000 - staleWindow, 5000, 1}, {5 + 1<<31, 5, 1},
	} {
		if got := seqOrder(tt.seq, tt.last); got != tt.want {
			t.Errorf("seqOrder(%d, %d) = %d, want %d", tt.seq, tt.last, got, tt.want)
		}
	}
}

// TestTableHold: with signed beacons the table remembers what went away
// (goodbye, withdrawal or expiry) for hold, so a replayed copy of its last
// packets, still inside the replay window, does not bring it back; a newer
// packet does. Without hold, an expired lobby comes back (as before).
func TestTableHold(t *testing.T) {
	const hold = time.Minute
	for _, withHold := range []bool{false, true} {
		tb := newTable("", 10, SourceName)
		if withHold {
			tb.hold = hold
		}
		a, b := testLobby("a"), testLobby("b")
		c := &Coordinator{ID: "d1", Port: 7600}
		coord := func(seq uint32, ttl uint16) *Packet {
			return &Packet{Kind: KindCoordinator, Seq: seq, TTLSeconds: ttl, Coordinator: c}
		}
		check(t, tb.observe(t0, announce(1, a, b), src4, "eth0"), "added a", "added b")
		tb.observe(t0, coord(2, 6), src4, "eth0")
		check(t, tb.observe(t0, goodbye(3, b), src4, "eth0"), "removed b")
		tb.observe(t0, coord(4, 0), src4, "eth0") // withdrawn
		check(t, tb.expire(t0.Add(6*time.Second)), "removed a")

		// 10 s later, past every TTL: the captured packets again.
		later := t0.Add(10 * time.Second)
		tb.expire(later)
		evs := tb.observe(later, announce(1, a, b), src4b, "eth0")
		tb.observe(later, coord(2, 6), src4b, "eth0")
		if !withHold {
			check(t, evs, "added a", "added b") // b's goodbye tombstone lasted one TTL
			if len(tb.coordinators()) != 1 {
				t.Fatalf("coordinators %+v", tb.coordinators())
			}
			continue
		}
		check(t, evs)
		if len(tb.snapshot()) != 0 || len(tb.coordinators()) != 0 {
			t.Fatalf("replay brought back %+v %+v", tb.snapshot(), tb.coordinators())
		}
		// The hosts come back: newer packets are taken.
		check(t, tb.observe(later, announce(5, a, b), src4, "eth0"), "added a", "added b")
		tb.observe(later, coord(6, 6), src4, "eth0")
		if cs := tb.coordinators(); len(cs) != 1 || cs[0].Addr.Addr() != src4.Addr() {
			t.Fatalf("coordinators %+v", cs)
		}
		// Tombstones go after hold.
		tb.observe(later, goodbye(7, a, b), src4, "eth0")
		tb.observe(later, coord(8, 0), src4, "eth0")
		tb.expire(later.Add(hold))
		if len(tb.lobbies) != 0 || len(tb.coords) != 0 {
			t.Fatalf("left: %+v %+v", tb.lobbies, tb.coords)
		}
	}
}

// TestTableHoldCopies: with signed beacons a copy of the last packet (same
// seq) does not extend a lobby's or coordinator's life, so replaying a
// crashed host's last packet cannot keep it listed; it still moves the
// entry to a better address. Without, a copy refreshes it (as before).
func TestTableHoldCopies(t *testing.T) {
	for _, withHold := range []bool{false, true} {
		tb := newTable("", 10, SourceName)
		if withHold {
			tb.hold = time.Minute
		}
		c := &Coordinator{ID: "d1", Port: 7600}
		tb.observe(t0, announce(1, testLobby("a")), src6ll, "eth0")
		tb.observe(t0, &Packet{Kind: KindCoordinator, Seq: 2, TTLSeconds: 6, Coordinator: c}, src6ll, "eth0")
		evs := tb.observe(t0.Add(5*time.Second), announce(1, testLobby("a")), src4, "eth0")
		tb.observe(t0.Add(5*time.Second), &Packet{Kind: KindCoordinator, Seq: 2, TTLSeconds: 6, Coordinator: c}, src4, "eth0")
		if withHold {
			check(t, evs, "updated a") // the better address only
		}
		if l := tb.snapshot(); len(l) != 1 || l[0].Host.Addr() != src4.Addr() {
			t.Fatalf("lobbies %+v", l)
		}
		if cs := tb.coordinators(); len(cs) != 1 || cs[0].Addr.Addr() != src4.Addr() {
			t.Fatalf("coordinators %+v", cs)
		}
		evs = tb.expire(t0.Add(6 * time.Second))
		if withHold {
			check(t, evs, "removed a")
			if len(tb.coordinators()) != 0 {
				t.Fatal("coordinator kept by a copy")
			}
		} else {
			check(t, evs)
		}
		if tb.stale != 0 {
			t.Fatalf("copies counted stale: %d", tb.stale)
		}
	}
}

// TestTableSignedOrder: with signed packets the signed timestamp orders
// them: a replay of an older packet changes nothing and extends nothing,
// even when its seq is so far behind that the seq alone would take it for
// a restart; a replayed goodbye is ignored; a newer packet from a
// restarted sender is accepted whatever its seq; a twin (same time) may
// only move the lobby to a better address.
func TestTableSignedOrder(t *testing.T) {
	tb := newTable("", 10, SourceName)
	tb.hold = time.Minute
	l := testLobby("a")
	ts := func(ms int) time.Time { return t0.Add(-time.Minute).Add(time.Duration(ms) * time.Millisecond) }
	old := announce(100, l) // captured early
	check(t, tb.observeSigned(t0, old, src6ll, "eth0", ts(0)), "added a")
	check(t, tb.observeSigned(t0, announce(100, l), src4, "eth0", ts(0)), "updated a") // its IPv4 twin: a better address
	l.Players = 4
	check(t, tb.observeSigned(t0, announce(100+2000, l), src4, "eth0", ts(5000)), "updated a")
	// The host dies; the early packet is replayed: 2000 behind, which the
	// seq alone takes for a restart.
	if seqOrder(100, 2100) != 1 {
		t.Fatal("the test needs a seq the stale window calls newer")
	}
	at := t0.Add(3 * time.Second)
	check(t, tb.observeSigned(at, old, src4, "eth0", ts(0)))
	if e := tb.lobbies["a"]; e.info.Players != 4 || !e.expires.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("replay changed the entry: %+v", e)
	}
	// A replayed goodbye of an older time is ignored too.
	check(t, tb.observeSigned(at, goodbye(3000, l), src4, "eth0", ts(4000)))
	// A restarted sender: a random seq the window calls stale, a newer time.
	l.Players = 5
	check(t, tb.observeSigned(at, announce(2100-5, l), src4, "eth0", ts(9000)), "updated a")
	check(t, tb.expire(t0.Add(9*time.Second)), "removed a")
	// Past expiry, the tombstone stops every replay.
	check(t, tb.observeSigned(t0.Add(10*time.Second), old, src4, "eth0", ts(0)))
	check(t, tb.observeSigned(t0.Add(10*time.Second), announce(2100-5, l), src4, "eth0", ts(9000)))
	if tb.stale < 3 {
		t.Fatalf("%d stale", tb.stale)
	}
}
