package mdns

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// Pure tests of the legacy unicast copies of the browser's first
// queries: how our responder answers them, how the browser caches the
// answers, and that the normal path takes over without a flap.

var (
	browserAddr   = netip.MustParseAddr("10.0.0.2")
	browserMDNS   = netip.AddrPortFrom(browserAddr, Port)
	browserLegacy = netip.AddrPortFrom(browserAddr, 40001)
	responderMDNS = netip.MustParseAddrPort("10.0.0.1:5353")
)

// toResponder hands a packet the browser sent to a responder core, as it
// arrives: multicast, from port 5353 or, for a legacy query, from the
// browser's own port.
func toResponder(rc *core, now time.Time, p outPacket) []outPacket {
	src := browserMDNS
	if p.legacy {
		src = browserLegacy
	}
	return rc.handle(now, inbound{data: p.data, src: src, dst: group4, ifIndex: 1, ttl: 255})
}

// toBrowser hands a packet the responder sent to the browser: a unicast
// one to the browser's own port arrives on its legacy socket.
func toBrowser(tb *testBrowser, p outPacket) []outPacket {
	in := inbound{data: p.data, src: responderMDNS, dst: group4, ifIndex: 1, ttl: 255}
	if p.dst.IsValid() {
		in.dst = browserAddr
		in.legacy = p.dst.Port() != Port
	}
	return tb.b.handle(tb.clk.now(), in)
}

// exchange runs a browser and a responder core against each other for d,
// every packet arriving at once, and returns what the browser sent.
// drop, when set, loses the browser's packets it returns true for.
func exchange(t *testing.T, tb *testBrowser, rc *core, rclk *fakeClock, d time.Duration, drop func(outPacket) bool) []sent {
	t.Helper()
	off := rclk.now().Sub(tb.clk.now())
	end := tb.clk.now().Add(d)
	var out []sent
	var fromBrowser func(p outPacket)
	fromBrowser = func(p outPacket) {
		out = append(out, sent{tb.clk.now().Sub(tb.start), p, unpack(t, p.data)})
		if drop != nil && drop(p) {
			return
		}
		for _, r := range toResponder(rc, rclk.now(), p) {
			for _, q := range toBrowser(tb, r) {
				fromBrowser(q)
			}
		}
	}
	for {
		rclk.t = tb.clk.now().Add(off)
		for _, p := range tb.b.tick(tb.clk.now()) {
			fromBrowser(p)
		}
		for _, r := range rc.tick(rclk.now()) {
			for _, q := range toBrowser(tb, r) {
				fromBrowser(q)
			}
		}
		at, ok := tb.b.next()
		if rat, rok := rc.next(); rok && (!ok || rat.Add(-off).Before(at)) {
			at, ok = rat.Add(-off), true
		}
		if !ok || at.After(end) {
			tb.clk.t = end
			rclk.t = end.Add(off)
			return out
		}
		if at.After(tb.clk.now()) {
			tb.clk.t = at
		}
	}
}

// TestResponderLegacyToGroup: a legacy query sent to the group, as the
// browser sends its first one, is answered at once by unicast to its
// source port with everything needed to show the lobby: the PTR answer
// and the SRV, TXT, A and AAAA records as additional records (RFC 6763
// §12), the ID copied, the question echoed, TTLs capped at 10 s, no
// cache-flush bits, within the size the query's EDNS0 option offers.
func TestResponderLegacyToGroup(t *testing.T) {
	_, first := newTestBrowser(t, "")
	rc, _, rclk, _ := responderFor(t, zoeLobby())
	for _, name := range []string{ServiceType, subtypeName("demo")} {
		m := unpack(t, first[1].data)
		m.Question[0].Name = name
		p := outPacket{data: pack(t, m), ifIndex: 1, legacy: true}
		reply := toResponder(rc, rclk.now(), p)
		if len(reply) != 1 || reply[0].dst != browserLegacy {
			t.Fatalf("%s: replies %+v", name, reply)
		}
		r := unpack(t, reply[0].data)
		if r.Id != m.Id || !r.Response || len(r.Question) != 1 || r.Question[0] != m.Question[0] || r.Truncated {
			t.Errorf("%s: header or question of %v", name, r)
		}
		if got := types(r.Answer); !slices.Equal(got, []uint16{dns.TypePTR}) {
			t.Errorf("%s: answers %v", name, r.Answer)
		}
		if got, want := types(r.Extra), sorted([]uint16{dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA}); !slices.Equal(got, want) {
			t.Errorf("%s: additional records %v, want types %v", name, r.Extra, want)
		}
		for _, rr := range append(r.Answer, r.Extra...) {
			if rr.Header().Ttl != legacyTTL || cacheFlush(rr) {
				t.Errorf("%s: record %v", name, rr)
			}
		}
		if len(reply[0].data) > legacyUDPSize {
			t.Errorf("%s: %d bytes", name, len(reply[0].data))
		}
	}
}

// TestBrowseLegacyOnly: a browser whose QU answers go to another browser
// on its host (the kernel gives each unicast datagram to one socket) gets
// the legacy answers: the lobby shows at once, timed by the legacy
// query's ID; the capped records are not offered as known answers, so
// the repeat a second later is answered with the real TTLs, and nothing
// flaps when the 10 s TTLs of the legacy answer would have run out.
func TestBrowseLegacyOnly(t *testing.T) {
	tb, first := newTestBrowser(t, "")
	rc, _, rclk, _ := responderFor(t, zoeLobby())
	tb.clk.advance(400 * time.Microsecond)
	// The QU query's answer goes to the other browser; the legacy one's
	// to us.
	toResponder(rc, rclk.now(), first[0])
	reply := toResponder(rc, rclk.now(), first[1])
	if len(reply) != 1 {
		t.Fatalf("%d replies to the legacy query", len(reply))
	}
	if out := toBrowser(tb, reply[0]); len(out) != 0 {
		t.Errorf("follow-ups %v: the legacy answer had everything", out)
	}
	ev := tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Added || ev[0].Lobby.Host != netip.MustParseAddrPort("10.0.0.1:7600") || ev[0].Lobby.RTT != 400*time.Microsecond {
		t.Fatalf("events %+v", ev)
	}
	if s := tb.b.stats; s.Legacy != 1 || s.LegacyQueries != 1 || s.Unicast != 0 {
		t.Errorf("stats %+v", s)
	}
	ptrQ := dns.Question{Name: ServiceType, Qtype: dns.TypePTR, Qclass: classIN}
	if known := tb.b.cache.knownAnswers(tb.clk.now(), ptrQ); len(known) != 0 {
		t.Errorf("legacy records offered as known answers: %v", known)
	}

	out := exchange(t, tb, rc, rclk, 30*time.Second, nil)
	if ev := tb.takeEvents(); len(ev) != 0 {
		t.Errorf("events while the host is alive: %+v", ev)
	}
	for _, e := range tb.b.cache.entries {
		if e.legacy || e.rr.Header().Ttl != 120 {
			t.Errorf("after 30 s: %v (legacy %v)", e.rr, e.legacy)
		}
	}
	for _, s := range out {
		if s.pkt.legacy {
			t.Errorf("legacy query at %v: only first queries and follow-ups have copies", s.at)
		}
	}
	if len(tb.b.snapshot()) != 1 || tb.b.stats.LivenessRemovals != 0 {
		t.Errorf("lobbies %v, stats %+v", tb.b.snapshot(), tb.b.stats)
	}
}

// TestBrowseLegacyKeptByLiveness: even when the browse repeats are lost,
// the liveness checks and the refresh queries of the capped records are
// answered with the real TTLs before the 10 s run out: no flap.
func TestBrowseLegacyKeptByLiveness(t *testing.T) {
	tb, first := newTestBrowser(t, "")
	rc, _, rclk, _ := responderFor(t, zoeLobby())
	toBrowser(tb, toResponder(rc, rclk.now(), first[1])[0])
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Type != beacon.Added {
		t.Fatalf("events %+v", ev)
	}
	browseRepeat := func(p outPacket) bool {
		m := unpack(t, p.data)
		return len(m.Question) == 1 && m.Question[0].Qtype == dns.TypePTR && sameName(m.Question[0].Name, ServiceType) &&
			tb.clk.now().Sub(tb.start) < 8*time.Second
	}
	exchange(t, tb, rc, rclk, 20*time.Second, browseRepeat)
	if ev := tb.takeEvents(); len(ev) != 0 {
		t.Errorf("events while the host is alive: %+v", ev)
	}
}

// TestCacheLegacy: a legacy record never shortens a record the normal
// path cached, is replaced by the normal path's copy, and is no known
// answer.
func TestCacheLegacy(t *testing.T) {
	clk := newClock()
	c := newCache(16, noJitter)
	full := aRR("h.local.", "10.0.0.1", 120, true)
	capped := aRR("h.local.", "10.0.0.1", 10, false)
	q := dns.Question{Name: "h.local.", Qtype: dns.TypeA, Qclass: classIN}

	c.add(clk.now(), full, 1, peer)
	clk.advance(time.Second)
	if c.addLegacy(clk.now(), capped, 1, peer) {
		t.Error("legacy copy of a cached record changed the cache")
	}
	if e := c.newest(clk.now(), "h.local.", dns.TypeA); e.legacy || e.rr.Header().Ttl != 120 {
		t.Errorf("entry %v legacy %v", e.rr, e.legacy)
	}
	if len(c.knownAnswers(clk.now(), q)) != 1 {
		t.Error("normal record not a known answer")
	}

	c = newCache(16, noJitter)
	if !c.addLegacy(clk.now(), capped, 1, peer) {
		t.Error("new legacy record did not change the cache")
	}
	if len(c.knownAnswers(clk.now(), q)) != 0 {
		t.Error("legacy record offered as a known answer")
	}
	if c.addLegacy(clk.now(), aRR("h.local.", "10.0.0.1", 0, false), 1, peer) || c.len() != 1 {
		t.Error("a TTL 0 legacy record removed the record")
	}
	clk.advance(time.Second)
	c.add(clk.now(), full, 1, peer)
	if e := c.newest(clk.now(), "h.local.", dns.TypeA); e.legacy || e.rr.Header().Ttl != 120 || len(c.knownAnswers(clk.now(), q)) != 1 {
		t.Errorf("after the normal copy: %v legacy %v", e.rr, e.legacy)
	}
	// A legacy record alone expires with its capped TTL.
	c = newCache(16, noJitter)
	c.addLegacy(clk.now(), capped, 1, peer)
	clk.advance(10 * time.Second)
	if gone := c.expire(clk.now()); len(gone) != 1 {
		t.Errorf("expired %d", len(gone))
	}
}

// TestCoreUnicastBounds: a source off the link never gets a unicast
// answer: its legacy query is dropped, its QU question answered by
// multicast; on the link, unicast answers come out of the source's budget,
// and past it a QU question is answered by multicast and a legacy query
// not at all; a legacy answer is one packet, the question echoed, TTLs at
// most 10 s, and TC set when the answers do not fit.
func TestCoreUnicastBounds(t *testing.T) {
	c, clk := coreWith(t, 64)
	c.budget = netutil.NewAnswerBudget(netutil.AnswerRates{PerSource: 4000, PerInterface: 1e6, PacketsPerInterface: 1e6})
	ptr := func(qu bool) []byte { return pack(t, query(q(ServiceType, dns.TypePTR, qu))) }
	far := netip.MustParseAddr("192.0.2.9")
	in := func(src netip.AddrPort, data []byte) inbound {
		return inbound{data: data, src: src, dst: group4, ifIndex: 1, ttl: 255}
	}
	if out := c.handle(clk.now(), in(netip.AddrPortFrom(far, 40000), ptr(false))); len(out) != 0 || c.stats.OffLink != 1 {
		t.Fatalf("off-link legacy: %d packets, stats %+v", len(out), c.stats)
	}
	if out := c.handle(clk.now(), in(netip.AddrPortFrom(far, Port), ptr(true))); len(out) != 0 || c.stats.OffLink != 2 {
		t.Fatalf("off-link QU answered at once: %d packets", len(out))
	}
	clk.advance(time.Second)
	out := c.tick(clk.now())
	if len(out) == 0 || out[0].dst.IsValid() {
		t.Fatalf("off-link QU: not answered by multicast: %+v", out)
	}
	// On the link: the legacy answer, one packet, cut with TC.
	legacy := netip.MustParseAddrPort("10.0.0.9:40000")
	out = c.handle(clk.now(), in(legacy, ptr(false)))
	if len(out) != 1 || out[0].dst != legacy {
		t.Fatalf("legacy: %+v", out)
	}
	m := unpack(t, out[0].data)
	if !m.Truncated || len(m.Question) != 1 || m.Question[0].Name != ServiceType || len(out[0].data) > legacyMax {
		t.Fatalf("legacy answer: TC %v, %d bytes, questions %v", m.Truncated, len(out[0].data), m.Question)
	}
	for _, rr := range append(m.Answer, m.Extra...) {
		if rr.Header().Ttl > legacyTTL || cacheFlush(rr) {
			t.Fatalf("legacy record %v", rr)
		}
	}
	// 8,000 bytes of budget: the QU answer to every PTR (about 2.7 KB
	// for 64 lobbies) fits twice, then goes by multicast.
	qu := netip.MustParseAddrPort("10.0.0.9:5353")
	for i := range 3 {
		out = c.handle(clk.now(), in(qu, ptr(true)))
		if unicast := len(out) > 0 && out[0].dst == qu; unicast != (i < 2) {
			t.Fatalf("QU %d: unicast %v", i, unicast)
		}
	}
	// Legacy queries take what is left, then get nothing.
	for i := 0; ; i++ {
		out = c.handle(clk.now(), in(legacy, ptr(false)))
		if len(out) == 0 {
			break
		}
		if i == 10 {
			t.Fatalf("legacy answers past the budget: stats %+v", c.stats)
		}
	}
	if c.stats.OverBudget != 2 {
		t.Fatalf("stats %+v", c.stats)
	}
}
