package mdns

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/netutil"
)

// addrsIn returns the A records of m's answers with their TTLs.
func addrsIn(m *dns.Msg) map[netip.Addr]uint32 {
	out := map[netip.Addr]uint32{}
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ip, _ := netip.AddrFromSlice(a.A)
			out[ip.Unmap()] = a.Hdr.Ttl
		}
	}
	return out
}

// TestCoreWaitsForNetwork: a core started without an interface probes
// nothing, schedules nothing (Run must not spin), establishes nothing;
// when an interface comes it probes and announces as at start, and when
// every interface went and one came back it probes again.
func TestCoreWaitsForNetwork(t *testing.T) {
	c, reg, clk := newCoreWithout(t)
	if out := runFor(t, c, clk, 5*time.Second); len(out) != 0 {
		t.Fatalf("sent without an interface: %+v", out)
	}
	if _, ok := c.next(); ok {
		t.Fatal("work scheduled without an interface")
	}
	select {
	case <-reg.established:
		t.Fatal("established without an interface")
	default:
	}
	if out := c.setIfaces(clk.now(), []netutil.Iface{eth1}); len(out) != 0 {
		t.Fatalf("sent at once on the first interface: %+v", out)
	}
	out := establish(t, c, clk)
	if len(out) == 0 || out[0].msg.Response || !out[len(out)-1].msg.Response {
		t.Fatalf("want probes, then announcements: %+v", out)
	}
	select {
	case <-reg.established:
	default:
		t.Fatal("not established")
	}
	// Every interface gone, one back: probes again.
	c.setIfaces(clk.now(), nil)
	c.setIfaces(clk.now(), []netutil.Iface{eth1})
	out = establish(t, c, clk)
	if len(out) == 0 || out[0].msg.Response || len(out[0].msg.Ns) == 0 {
		t.Fatalf("no probe after the network came back: %+v", out)
	}
}

// newCoreWithout is testCore with no interface at start.
func newCoreWithout(t *testing.T) (*core, *Registration, *fakeClock) {
	t.Helper()
	clk := newClock()
	c := newCore(coreConfig{ttl: 120, announceCount: 3, jitter: noJitter, log: quiet}, "me")
	reg := &Registration{established: make(chan struct{})}
	reg.svc = &service{reg: reg, owner: owner{base: zoeService.Instance}, game: zoeService.Game, port: zoeService.Port, txt: zoeService.TXT}
	c.add(clk.now(), reg.svc)
	c.start(clk.now(), nil)
	return c, reg, clk
}

// TestCoreAddressChange: a new address on an interface: a goodbye (TTL 0)
// for the old one there at once, then the records announced with the new
// one, again 1 s and 3 s later; no probe. Another interface is left
// alone.
func TestCoreAddressChange(t *testing.T) {
	eth2 := testIface(2, "10.2.0.1/24", "fe80::2/64")
	c, _, clk := testCore(t, zoeService, eth1, eth2)
	establish(t, c, clk)
	moved := testIface(1, "10.0.0.101/24", "fe80::1/64")
	out := c.setIfaces(clk.now(), []netutil.Iface{moved, eth2})
	if len(out) != 2 {
		t.Fatalf("sent %d packets, want a goodbye and an announcement", len(out))
	}
	for _, p := range out {
		if p.ifIndex != 1 || p.dst.IsValid() {
			t.Fatalf("sent %+v, want multicast on eth1", p)
		}
	}
	bye, ann := unpack(t, out[0].data), unpack(t, out[1].data)
	if got := addrsIn(bye); len(got) != 1 || got[netip.MustParseAddr("10.0.0.1")] != 0 || len(bye.Answer) != 1 {
		t.Fatalf("goodbye %v", bye)
	}
	if got := addrsIn(ann); len(got) != 1 || got[netip.MustParseAddr("10.0.0.101")] != 120 {
		t.Fatalf("announcement addresses %v", got)
	}
	if !slices.Contains(types(ann.Answer), dns.TypeSRV) || !slices.Contains(types(ann.Answer), dns.TypeTXT) || !slices.Contains(types(ann.Answer), dns.TypePTR) {
		t.Fatalf("announcement %v", ann)
	}
	var at []time.Duration
	for _, s := range runFor(t, c, clk, 5*time.Second) {
		if s.pkt.ifIndex != 1 || !s.msg.Response {
			t.Fatalf("then sent %+v", s)
		}
		at = append(at, s.at)
	}
	if want := []time.Duration{time.Second, 3 * time.Second}; !slices.Equal(at, want) {
		t.Fatalf("repeats at %v, want %v", at, want)
	}
}

// TestCoreIfaceAddedAndRemoved: an interface added beside another gets
// the announcements at once; a removed one loses its pending answers and
// nothing is sent on it.
func TestCoreIfaceAddedAndRemoved(t *testing.T) {
	c, _, clk := testCore(t, zoeService)
	establish(t, c, clk)
	eth2 := testIface(2, "10.2.0.1/24", "fe80::2/64")
	out := c.setIfaces(clk.now(), []netutil.Iface{eth1, eth2})
	if len(out) != 1 || out[0].ifIndex != 2 || !unpack(t, out[0].data).Response {
		t.Fatalf("added: sent %+v", out)
	}
	// A QM query on eth2 schedules a delayed multicast answer there.
	c.handle(clk.now(), inbound{data: pack(t, query(q(ServiceType, dns.TypePTR, false))), src: netip.MustParseAddrPort("10.2.0.9:5353"), dst: group4, ifIndex: 2, ttl: 255})
	if len(c.pending[2]) == 0 {
		t.Fatal("no pending answer")
	}
	if out := c.setIfaces(clk.now(), []netutil.Iface{eth1}); len(out) != 0 {
		t.Fatalf("removed: sent %+v", out)
	}
	if _, ok := c.pending[2]; ok {
		t.Fatal("pending answers kept for a removed interface")
	}
	for _, s := range runFor(t, c, clk, 5*time.Second) {
		if s.pkt.ifIndex == 2 {
			t.Fatalf("sent on a removed interface: %+v", s)
		}
	}
}

// TestBrowseFollowsNetwork: a browser without an interface sends and
// counts nothing; an interface that appears or changes gets a QU query
// and its legacy copy at once, on it alone, and the repeats start over;
// one removed gets nothing.
func TestBrowseFollowsNetwork(t *testing.T) {
	clk := newClock()
	b := newBrowseCore(browseConfig{liveness: 2 * time.Second, expiry: 6 * time.Second, maxLobbies: 16, jitter: noJitter})
	if out := b.start(clk.now(), nil); len(out) != 0 {
		t.Fatalf("sent without an interface: %+v", out)
	}
	clk.advance(10 * time.Second)
	if out := b.tick(clk.now()); len(out) != 0 || b.stats.Queries != 0 {
		t.Fatalf("repeat without an interface: %+v, %d queries", out, b.stats.Queries)
	}
	eth2 := testIface(2, "10.2.0.1/24", "fe80::2/64")
	ifs := []netutil.Iface{eth1, eth2}
	out := b.setIfaces(clk.now(), ifs, netutil.DiffIfaces(nil, ifs[:1]))
	var legacy, qu int
	for _, p := range out {
		if p.ifIndex != 1 {
			t.Fatalf("query on %d, want eth1 only", p.ifIndex)
		}
		m := unpack(t, p.data)
		switch {
		case p.legacy:
			legacy++
		case m.Question[0].Qclass&topBit != 0:
			qu++
		}
	}
	if qu != 1 || legacy != 1 {
		t.Fatalf("sent %d QU and %d legacy queries, want 1 each", qu, legacy)
	}
	if at, ok := b.next(); !ok || at.Sub(clk.now()) != firstRepeat {
		t.Fatalf("next repeat in %v, want %v", at.Sub(clk.now()), firstRepeat)
	}
	if out := b.setIfaces(clk.now(), ifs[1:], netutil.DiffIfaces(ifs, ifs[1:])); len(out) != 0 {
		t.Fatalf("sent on removal: %+v", out)
	}
}
