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

// Pure tests of the browser's state machine, fed with what a responder
// core sends.

var browserIface = func() netutil.Iface {
	i := testIface(1, "10.0.0.2/24", "2001:db8::2/64")
	i.Prefixes = append(i.Prefixes, netip.MustParsePrefix("fe80::2/64"))
	return i
}()

type testBrowser struct {
	t      *testing.T
	b      *browseCore
	clk    *fakeClock
	events []beacon.Event
	start  time.Time
}

func newTestBrowser(t *testing.T, game string) (*testBrowser, []outPacket) {
	clk := newClock()
	tb := &testBrowser{t: t, clk: clk, start: clk.now()}
	tb.b = newBrowseCore(browseConfig{game: game, liveness: 2 * time.Second, expiry: 6 * time.Second, maxLobbies: 16, jitter: noJitter})
	tb.b.sink = func(ev beacon.Event) { tb.events = append(tb.events, ev) }
	return tb, tb.b.start(clk.now(), []netutil.Iface{browserIface})
}

// feed hands the browser a datagram the responder at 10.0.0.1 sent.
func (tb *testBrowser) feed(data []byte, unicast bool) []outPacket {
	in := inbound{data: data, src: netip.MustParseAddrPort("10.0.0.1:5353"), dst: group4, ifIndex: 1, ttl: 255}
	if unicast {
		in.dst = netip.MustParseAddr("10.0.0.2")
	}
	return tb.b.handle(tb.clk.now(), in)
}

func (tb *testBrowser) feedAll(out []sent) {
	for _, s := range out {
		if s.msg.Response {
			tb.feed(s.pkt.data, false)
		}
	}
}

// run ticks the browser up to d from now and returns the queries sent.
func (tb *testBrowser) run(d time.Duration) []sent {
	end := tb.clk.now().Add(d)
	var out []sent
	for {
		for _, p := range tb.b.tick(tb.clk.now()) {
			out = append(out, sent{tb.clk.now().Sub(tb.start), p, unpack(tb.t, p.data)})
		}
		at, ok := tb.b.next()
		if !ok || at.After(end) {
			tb.clk.t = end
			return out
		}
		if at.After(tb.clk.now()) {
			tb.clk.t = at
		}
	}
}

func (tb *testBrowser) takeEvents() []beacon.Event {
	ev := tb.events
	tb.events = nil
	return ev
}

// responderFor returns an established responder core publishing l.
func responderFor(t *testing.T, l beacon.Lobby) (*core, *Registration, *fakeClock, []sent) {
	c, reg, clk := testCore(t, Service{Instance: l.Name, Game: l.Game, Port: l.Port, TXT: EncodeTXT(l)})
	return c, reg, clk, establish(t, c, clk)
}

func TestBrowseFindUpdateRemove(t *testing.T) {
	tb, first := newTestBrowser(t, "")
	if len(first) != 2 || first[0].legacy || !first[1].legacy {
		t.Fatalf("first queries %+v, want a QU one and its legacy copy", first)
	}
	m := unpack(t, first[0].data)
	if len(m.Question) != 1 || m.Question[0].Qclass&topBit == 0 || m.Question[0].Qtype != dns.TypePTR || m.Question[0].Name != ServiceType {
		t.Fatalf("first query %v", m.Question)
	}
	lm := unpack(t, first[1].data)
	if lm.Id == 0 || len(lm.Question) != 1 || lm.Question[0] != q(ServiceType, dns.TypePTR, false) || len(lm.Answer) != 0 ||
		lm.IsEdns0() == nil || lm.IsEdns0().UDPSize() != legacyUDPSize {
		t.Fatalf("legacy query %v", lm)
	}
	l := zoeLobby()
	rc, reg, rclk, ann := responderFor(t, l)
	// The QU answer: unicast, so it also gives the RTT.
	tb.clk.advance(300 * time.Microsecond)
	reply := rc.handle(rclk.now(), inbound{data: first[0].data, src: netip.MustParseAddrPort("10.0.0.2:5353"), dst: group4, ifIndex: 1})
	if len(reply) != 1 {
		t.Fatalf("responder sent %d replies", len(reply))
	}
	tb.feed(reply[0].data, true)
	ev := tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Added {
		t.Fatalf("events %v", ev)
	}
	got := ev[0].Lobby
	want := beacon.LobbyInfo{ID: "zoe1", Game: "demo", Name: "Zoë's game", Players: 1, Capacity: 4, State: beacon.StateOpen,
		Host: netip.MustParseAddrPort("10.0.0.1:7600"), Iface: "eth1", Source: "mdns"}
	if !sameContent(got, want) || got.RTT != 300*time.Microsecond {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// The announcements change nothing.
	tb.feedAll(ann)
	if ev := tb.takeEvents(); len(ev) != 0 {
		t.Errorf("events on announcements: %v", ev)
	}
	// A TXT change: Updated.
	l.Players, l.State = 4, beacon.StateFull
	rc.setTXT(rclk.now(), reg.svc, EncodeTXT(l))
	tb.feedAll(runFor(t, rc, rclk, 10*time.Millisecond))
	ev = tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Updated || ev[0].Lobby.Players != 4 || ev[0].Lobby.State != beacon.StateFull {
		t.Fatalf("events %v", ev)
	}
	// Goodbye: Removed at once.
	rc.remove(reg.svc)
	tb.feedAll(runFor(t, rc, rclk, 10*time.Millisecond))
	ev = tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Removed || ev[0].Lobby.ID != "zoe1" {
		t.Fatalf("events %v", ev)
	}
	if len(tb.b.snapshot()) != 0 || len(tb.b.insts) != 0 {
		t.Errorf("left %v / %d instances", tb.b.snapshot(), len(tb.b.insts))
	}
}

func TestBrowseLiveness(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	rc, _, rclk, ann := responderFor(t, zoeLobby())
	tb.feedAll(ann[3:4]) // the first announcement
	if ev := tb.takeEvents(); len(ev) != 1 {
		t.Fatalf("events %v", ev)
	}
	heard := tb.clk.now()
	// Silent for LivenessInterval: a QM query for SRV and TXT, with no
	// known answers, goes out; the responder's answer keeps it alive.
	out := tb.run(2100 * time.Millisecond)
	var check *sent
	for i, s := range out {
		for _, qq := range s.msg.Question {
			if qq.Qtype == dns.TypeSRV {
				check = &out[i]
			}
		}
	}
	if check == nil {
		t.Fatalf("no liveness query in %d packets", len(out))
	}
	if len(check.msg.Answer) != 0 || check.msg.Question[0].Qclass&topBit != 0 {
		t.Errorf("liveness query %v", check.msg)
	}
	rclk.t = rclk.t.Add(10 * time.Second)
	answers := rc.handle(rclk.now(), inbound{data: check.pkt.data, src: netip.MustParseAddrPort("10.0.0.2:5353"), dst: group4, ifIndex: 1})
	answers = append(answers, rc.tick(rclk.now())...)
	if len(answers) == 0 {
		t.Fatal("responder did not answer the liveness query")
	}
	for _, p := range answers {
		if p.dst.IsValid() {
			t.Error("liveness answered by unicast, want multicast")
		}
		tb.feed(p.data, false)
	}
	heard = tb.clk.now()
	// Then the responder dies: removed Expiry after it was last heard,
	// after several unanswered checks, whatever the 120 s TTLs say.
	out = tb.run(10 * time.Second)
	ev := tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Removed {
		t.Fatalf("events %v", ev)
	}
	checks := 0
	for _, s := range out {
		if len(s.msg.Question) > 0 && s.msg.Question[0].Qtype == dns.TypeSRV {
			checks++
		}
	}
	if checks < 3 {
		t.Errorf("%d liveness checks before removal", checks)
	}
	if tb.b.stats.LivenessRemovals != 1 {
		t.Errorf("stats %+v", tb.b.stats)
	}
	_ = heard
	// Heard again (it comes back): Added again.
	tb.feedAll(ann[3:4])
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Type != beacon.Added {
		t.Errorf("events after coming back %v", ev)
	}
}

func TestBrowseLivenessRemovalTime(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	_, _, _, ann := responderFor(t, zoeLobby())
	tb.feedAll(ann[3:4])
	tb.takeEvents()
	heard := tb.clk.now()
	for tb.clk.now().Sub(heard) < 10*time.Second {
		tb.run(100 * time.Millisecond)
		if ev := tb.takeEvents(); len(ev) > 0 {
			if d := tb.clk.now().Sub(heard); d < 6*time.Second || d > 6100*time.Millisecond {
				t.Errorf("removed %v after last heard, want 6 s", d)
			}
			return
		}
	}
	t.Fatal("never removed")
}

func TestBrowseFollowUps(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	inst := instanceName("Zoë's game")
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = []dns.RR{ptrRR(ServiceType, inst, 120)}
	out := tb.feed(pack(t, resp), false)
	if len(out) != 2 || out[0].legacy || !out[1].legacy {
		t.Fatalf("follow-ups %+v, want a QU one and its legacy copy", out)
	}
	m := unpack(t, out[0].data)
	if got := []uint16{m.Question[0].Qtype, m.Question[1].Qtype}; !slices.Equal(got, []uint16{dns.TypeSRV, dns.TypeTXT}) || m.Question[0].Qclass&topBit == 0 {
		t.Errorf("follow-up %v", m.Question)
	}
	if lm := unpack(t, out[1].data); len(lm.Question) != 2 || lm.Question[0].Qclass != classIN || lm.Question[1].Qtype != dns.TypeTXT {
		t.Errorf("legacy follow-up %v", lm.Question)
	}
	resp.Answer = []dns.RR{srvRR(inst, "h.local.", 7600, 120), txtRR(inst, EncodeTXT(zoeLobby()), 120)}
	tb.clk.advance(10 * time.Millisecond)
	tb.feed(pack(t, resp), false)
	later := tb.run(1100 * time.Millisecond)
	if len(later) == 0 {
		t.Fatal("no address follow-up")
	}
	m = later[len(later)-1].msg
	if len(m.Question) != 2 || m.Question[0].Qtype != dns.TypeA || m.Question[1].Qtype != dns.TypeAAAA || m.Question[0].Name != "h.local." {
		t.Errorf("follow-up %v", m.Question)
	}
	if len(tb.takeEvents()) != 0 {
		t.Error("shown without an address")
	}
	resp.Answer = []dns.RR{aRR("h.local.", "10.0.0.1", 120, true)}
	tb.feed(pack(t, resp), false)
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Lobby.Host != netip.MustParseAddrPort("10.0.0.1:7600") {
		t.Errorf("events %v", ev)
	}
	// Follow-ups stop after resolveTries.
	tb2, _ := newTestBrowser(t, "")
	resp.Answer = []dns.RR{ptrRR(ServiceType, instanceName("x"), 120)}
	n := 0
	for _, p := range tb2.feed(pack(t, resp), false) {
		if !p.legacy {
			n++
		}
	}
	for _, s := range tb2.run(30 * time.Second) {
		if len(s.msg.Question) > 0 && s.msg.Question[0].Qtype == dns.TypeSRV && !s.pkt.legacy {
			n++
		}
	}
	if n != resolveTries {
		t.Errorf("%d follow-ups, want %d", n, resolveTries)
	}
}

func TestBrowseQuerySchedule(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	_, _, _, ann := responderFor(t, zoeLobby())
	tb.feedAll(ann[3:4])
	var at []time.Duration
	for _, s := range tb.run(20 * time.Second) {
		if len(s.msg.Question) == 1 && s.msg.Question[0].Qtype == dns.TypePTR {
			at = append(at, s.at.Round(time.Millisecond))
			if s.msg.Question[0].Qclass&topBit != 0 {
				t.Error("repeat browse query with QU")
			}
			// The lobby is alive (known) until it expires at 6 s.
			if alive := s.at < 6*time.Second; alive != (len(s.msg.Answer) == 1) {
				t.Errorf("at %v: known answers %v", s.at, s.msg.Answer)
			}
		}
	}
	if want := []time.Duration{time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second}; !slices.Equal(at, want) {
		t.Errorf("browse queries at %v, want %v", at, want)
	}
}

func TestBrowseGameFilter(t *testing.T) {
	tb, first := newTestBrowser(t, "demo")
	if m := unpack(t, first[0].data); m.Question[0].Name != subtypeName("demo") {
		t.Errorf("query %v", m.Question)
	}
	other := zoeLobby()
	other.ID, other.Game, other.Name = "o1", "other", "Other"
	_, _, _, ann := responderFor(t, other)
	tb.feedAll(ann)
	_, _, _, ann = responderFor(t, zoeLobby())
	tb.feedAll(ann)
	ev := tb.takeEvents()
	if len(ev) != 1 || ev[0].Lobby.ID != "zoe1" {
		t.Errorf("events %v", ev)
	}
}

func TestBrowseIgnores(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	_, _, _, ann := responderFor(t, zoeLobby())
	data := ann[3].pkt.data
	in := inbound{data: data, src: netip.MustParseAddrPort("10.0.0.1:5354"), dst: group4, ifIndex: 1}
	tb.b.handle(tb.clk.now(), in) // not from port 5353
	in.src = netip.MustParseAddrPort("192.0.2.1:5353")
	in.dst, in.ttl = netip.MustParseAddr("10.0.0.2"), 64
	tb.b.handle(tb.clk.now(), in) // unicast from off the link, TTL not 255
	in.src, in.dst, in.ifIndex = netip.MustParseAddrPort("10.0.0.1:5353"), group4, 9
	tb.b.handle(tb.clk.now(), in) // foreign interface
	if len(tb.takeEvents()) != 0 || tb.b.stats.Ignored != 3 {
		t.Errorf("stats %+v", tb.b.stats)
	}
	// A service without our TXT keys is not shown.
	bad := zoeLobby()
	_, _, _, ann = responderFor(t, bad)
	for _, s := range ann {
		for _, rr := range s.msg.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				txt.Txt = []string{"v=1", "g=demo"}
			}
		}
		if s.msg.Response {
			tb.feed(pack(t, s.msg), false)
		}
	}
	if len(tb.takeEvents()) != 0 {
		t.Error("lobby without id shown")
	}
}

func TestBrowseAddressChoice(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	cases := []struct {
		addrs []string
		want  string
	}{
		{[]string{"fe80::1", "2001:db8::1", "10.0.0.1"}, "10.0.0.1"},
		{[]string{"fe80::1", "2001:db8::1"}, "2001:db8::1"},
		{[]string{"fe80::1", "2001:db9::1"}, "fe80::1%eth1"}, // a global address off the link loses too
		{[]string{"fe80::1"}, "fe80::1%eth1"},
		{[]string{"192.168.9.9", "fe80::1"}, "fe80::1%eth1"}, // an IPv4 of another subnet loses to the link
		{[]string{"192.168.9.9"}, "192.168.9.9"},
	}
	for _, c := range cases {
		b := tb.b
		b.cache = newCache(100, noJitter)
		for _, a := range c.addrs {
			ip := netip.MustParseAddr(a)
			var rr dns.RR
			if ip.Is4() {
				rr = aRR("h.local.", a, 120, true)
			} else {
				rr = &dns.AAAA{Hdr: hdr("h.local.", dns.TypeAAAA, classFlush, 120), AAAA: ip.AsSlice()}
			}
			b.cache.add(tb.clk.now(), rr, 1, peer)
		}
		got, _, ok := b.address(tb.clk.now(), "h.local.", netip.Addr{})
		if !ok || got.String() != c.want {
			t.Errorf("%v: chose %v, want %s", c.addrs, got, c.want)
		}
	}
}
