package mdns

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/netutil"
)

// Pure tests of the responder's state machine: a fake clock, no sockets.

type fakeClock struct{ t time.Time }

func newClock() *fakeClock                   { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func noJitter(time.Duration) time.Duration { return 0 }

func testIface(index int, v4, v6 string) netutil.Iface {
	return netutil.Iface{Index: index, Name: "eth" + string(rune('0'+index)), Flags: net.FlagUp | net.FlagMulticast,
		Prefixes: []netip.Prefix{netip.MustParsePrefix(v4), netip.MustParsePrefix(v6)}}
}

var eth1 = testIface(1, "10.0.0.1/24", "fe80::1/64")

// testCore returns a started core (host "me") with one service
// registered, its Registration and the clock.
func testCore(t *testing.T, svc Service, ifaces ...netutil.Iface) (*core, *Registration, *fakeClock) {
	t.Helper()
	if len(ifaces) == 0 {
		ifaces = []netutil.Iface{eth1}
	}
	clk := newClock()
	c := newCore(coreConfig{ttl: 120, announceCount: 3, jitter: noJitter, log: quiet}, "me")
	reg := &Registration{established: make(chan struct{})}
	reg.svc = &service{reg: reg, owner: owner{base: svc.Instance}, game: svc.Game, port: svc.Port, txt: svc.TXT}
	c.add(clk.now(), reg.svc)
	c.start(clk.now(), ifaces)
	return c, reg, clk
}

var zoeService = Service{Instance: "Zoë's game", Game: "demo", Port: 7600, TXT: []string{"v=1", "id=zoe1"}}

type sent struct {
	at  time.Duration // since the start
	pkt outPacket
	msg *dns.Msg
}

// runFor ticks c at every scheduled time up to d from now and returns
// what it sent.
func runFor(t *testing.T, c *core, clk *fakeClock, d time.Duration) []sent {
	t.Helper()
	start := clk.now()
	end := start.Add(d)
	var out []sent
	for {
		for _, p := range c.tick(clk.now()) {
			out = append(out, sent{clk.now().Sub(start), p, unpack(t, p.data)})
		}
		at, ok := c.next()
		if !ok || at.After(end) {
			clk.t = end
			return out
		}
		if at.After(clk.now()) {
			clk.t = at
		}
	}
}

func unpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("we sent a malformed message: %v", err)
	}
	return m
}

func pack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// establish runs c until its probing and announcing are done.
func establish(t *testing.T, c *core, clk *fakeClock) []sent {
	t.Helper()
	return runFor(t, c, clk, 5*time.Second)
}

var peer = netip.MustParseAddrPort("10.0.0.9:5353")

func query(qs ...dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.Id = 0x1234
	m.Question = qs
	return m
}

func q(name string, t uint16, qu bool) dns.Question {
	c := uint16(dns.ClassINET)
	if qu {
		c |= topBit
	}
	return dns.Question{Name: name, Qtype: t, Qclass: c}
}

// fromPeer makes an inbound multicast datagram from peer on eth1.
func fromPeer(t *testing.T, m *dns.Msg) inbound {
	return inbound{data: pack(t, m), src: peer, dst: group4, ifIndex: 1, ttl: 255}
}

func types(rrs []dns.RR) []uint16 {
	var out []uint16
	for _, rr := range rrs {
		out = append(out, rr.Header().Rrtype)
	}
	slices.Sort(out)
	return out
}

func TestCoreProbeAndAnnounce(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	out := establish(t, c, clk)
	var probes, announces []time.Duration
	for _, s := range out {
		if s.pkt.dst.IsValid() {
			t.Fatalf("unicast %v", s.pkt)
		}
		if s.msg.Response {
			announces = append(announces, s.at)
			continue
		}
		probes = append(probes, s.at)
		if len(s.msg.Question) != 2 || len(s.msg.Ns) != 4 { // host A+AAAA, SRV+TXT
			t.Fatalf("probe %v", s.msg)
		}
		for _, qq := range s.msg.Question {
			if qq.Qtype != dns.TypeANY {
				t.Errorf("probe question %v", qq)
			}
		}
	}
	ms := time.Millisecond
	if want := []time.Duration{0, 250 * ms, 500 * ms}; !slices.Equal(probes, want) {
		t.Errorf("probes at %v, want %v", probes, want)
	}
	if want := []time.Duration{750 * ms, 1750 * ms, 3750 * ms}; !slices.Equal(announces, want) {
		t.Errorf("announcements at %v, want %v", announces, want)
	}
	select {
	case <-reg.established:
	default:
		t.Fatal("not established")
	}
	a := out[3].msg
	if got, want := types(a.Answer), []uint16{dns.TypeA, dns.TypePTR, dns.TypePTR, dns.TypePTR, dns.TypeTXT, dns.TypeAAAA, dns.TypeSRV}; !slices.Equal(got, sorted(want)) {
		t.Errorf("announcement types %v, want %v", got, want)
	}
	for _, rr := range a.Answer {
		unique := rr.Header().Rrtype != dns.TypePTR
		if cacheFlush(rr) != unique {
			t.Errorf("cache-flush bit wrong on %v", rr)
		}
	}
	if c.hostName() != "me.local." {
		t.Errorf("host %q", c.hostName())
	}
}

func sorted(x []uint16) []uint16 { x = slices.Clone(x); slices.Sort(x); return x }

func TestCoreConflictWhileProbing(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	runFor(t, c, clk, 100*time.Millisecond) // first probe out
	// Someone already owns the name: its announcement arrives.
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = []dns.RR{srvRR(instanceName("Zoë's game"), "other.local.", 9999, 120)}
	c.handle(clk.now(), fromPeer(t, resp))
	if got := reg.svc.owner.label; got != "Zoë's game (2)" {
		t.Fatalf("renamed to %q", got)
	}
	// The (2) name is probed again, and a second conflict gives (3).
	resp.Answer = []dns.RR{txtRR(instanceName("Zoë's game (2)"), []string{"x"}, 120)}
	c.handle(clk.now(), fromPeer(t, resp))
	if got := reg.svc.owner.label; got != "Zoë's game (3)" {
		t.Fatalf("renamed to %q", got)
	}
	out := establish(t, c, clk)
	for _, s := range out {
		for _, rr := range s.msg.Answer {
			if srv, ok := rr.(*dns.SRV); ok && srv.Hdr.Name != instanceName("Zoë's game (3)") {
				t.Errorf("announced %v", srv)
			}
		}
	}
	if c.stats.Renames != 2 {
		t.Errorf("stats %+v", c.stats)
	}
	// Our own announcements coming back are no conflict.
	for _, s := range out {
		if s.msg.Response {
			c.handle(clk.now(), inbound{data: s.pkt.data, src: netip.MustParseAddrPort("10.0.0.1:5353"), dst: group4, ifIndex: 1})
		}
	}
	if reg.svc.owner.label != "Zoë's game (3)" || reg.svc.owner.phase != phaseEstablished {
		t.Errorf("after own echo: %q phase %d", reg.svc.owner.label, reg.svc.owner.phase)
	}
}

func TestCoreConflictAfterAnnouncing(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	establish(t, c, clk)
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = []dns.RR{srvRR(instanceName("Zoë's game"), "other.local.", 9999, 120)}
	c.handle(clk.now(), fromPeer(t, resp))
	if reg.svc.owner.phase != phaseProbing || reg.svc.owner.label != "Zoë's game" {
		t.Fatalf("after conflict: phase %d name %q (want probing the same name, RFC 6762 §9)", reg.svc.owner.phase, reg.svc.owner.label)
	}
	// While probing again, the other host still answers: now we rename.
	runFor(t, c, clk, 100*time.Millisecond)
	c.handle(clk.now(), fromPeer(t, resp))
	if reg.svc.owner.label != "Zoë's game (2)" {
		t.Fatalf("name %q", reg.svc.owner.label)
	}
	// A host name conflict renames the host and re-announces services
	// with the new SRV target.
	establish(t, c, clk)
	hostResp := new(dns.Msg)
	hostResp.Response = true
	hostResp.Answer = []dns.RR{&dns.A{Hdr: hdr("me.local.", dns.TypeA, classFlush, 120), A: net.IPv4(10, 0, 0, 7)}}
	c.handle(clk.now(), fromPeer(t, hostResp))
	runFor(t, c, clk, 100*time.Millisecond)
	c.handle(clk.now(), fromPeer(t, hostResp))
	if c.hostName() != "me-2.local." {
		t.Fatalf("host %q", c.hostName())
	}
	out := establish(t, c, clk)
	found := false
	for _, s := range out {
		for _, rr := range s.msg.Answer {
			if srv, ok := rr.(*dns.SRV); ok {
				found = true
				if srv.Target != "me-2.local." {
					t.Errorf("SRV %v", srv)
				}
			}
		}
	}
	if !found {
		t.Error("services not announced again after the host rename")
	}
}

func TestCoreTieBreak(t *testing.T) {
	inst := instanceName("Zoë's game")
	txt := txtRR(inst, zoeService.TXT, 120)
	// Records compare by class, type, then rdata: TXT (16) sorts before
	// SRV (33), so with equal TXT records the SRV records decide.
	cases := []struct {
		name     string
		theirs   []dns.RR
		deferred bool
	}{
		{"their target sorts later: we defer", []dns.RR{txt, srvRR(inst, "zz.local.", 7600, 120)}, true},
		{"their target sorts earlier: we go on", []dns.RR{srvRR(inst, "aa.local.", 7600, 120), txt}, false},
		{"their port is higher: we defer", []dns.RR{txt, srvRR(inst, "me.local.", 7601, 120)}, true},
		{"identical (our own probe)", []dns.RR{srvRR(inst, "me.local.", 7600, 120), txt}, false},
		{"their list is longer: we defer", []dns.RR{txt, srvRR(inst, "me.local.", 7600, 120), &dns.NSEC{Hdr: hdr(inst, dns.TypeNSEC, classIN, 120), NextDomain: inst}}, true},
		{"their TXT sorts earlier: we go on", []dns.RR{txtRR(inst, []string{"a"}, 120), srvRR(inst, "zz.local.", 7600, 120)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, reg, clk := testCore(t, zoeService)
			runFor(t, c, clk, 100*time.Millisecond)
			probe := query(q(instanceName("Zoë's game"), dns.TypeANY, false))
			probe.Ns = tc.theirs
			c.handle(clk.now(), fromPeer(t, probe))
			o := reg.svc.owner
			if deferred := o.sent == 0 && o.next.Sub(clk.now()) >= probeDefer; deferred != tc.deferred {
				t.Errorf("deferred %v (sent %d, next in %v)", deferred, o.sent, o.next.Sub(clk.now()))
			}
			if o.label != "Zoë's game" {
				t.Errorf("renamed to %q on a tie-break", o.label)
			}
		})
	}
}

func TestCoreDefendsProbe(t *testing.T) {
	c, _, clk := testCore(t, zoeService)
	establish(t, c, clk)
	probe := query(q(instanceName("Zoë's game"), dns.TypeANY, true))
	probe.Ns = []dns.RR{srvRR(instanceName("Zoë's game"), "other.local.", 1, 120)}
	out := c.handle(clk.now(), fromPeer(t, probe))
	if len(out) != 1 || out[0].dst.IsValid() {
		t.Fatalf("defense %+v", out)
	}
	m := unpack(t, out[0].data)
	if got := types(m.Answer); !slices.Equal(got, []uint16{dns.TypeTXT, dns.TypeSRV}) {
		t.Errorf("defense answers %v", m.Answer)
	}
}

// answer runs one query against an established core and returns what is
// sent at once and what 200 ms later.
func answer(t *testing.T, c *core, clk *fakeClock, in inbound) (now, later []outPacket) {
	t.Helper()
	now = c.handle(clk.now(), in)
	for _, s := range runFor(t, c, clk, 200*time.Millisecond) {
		later = append(later, s.pkt)
	}
	return now, later
}

func TestCoreAnswers(t *testing.T) {
	inst := instanceName("Zoë's game")
	legacySrc := netip.MustParseAddrPort("10.0.0.9:40000")
	type want struct {
		now, later int // packets sent at once and within 200 ms
		unicast    bool
		answers    []uint16
	}
	cases := []struct {
		name string
		in   func(t *testing.T) inbound
		want want
	}{
		{"QM PTR: delayed multicast with additionals",
			func(t *testing.T) inbound { return fromPeer(t, query(q(ServiceType, dns.TypePTR, false))) },
			want{0, 1, false, []uint16{dns.TypePTR}}},
		{"QU PTR: unicast at once",
			func(t *testing.T) inbound { return fromPeer(t, query(q(ServiceType, dns.TypePTR, true))) },
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"QM SRV: unique, multicast at once",
			func(t *testing.T) inbound { return fromPeer(t, query(q(inst, dns.TypeSRV, false))) },
			want{0, 1, false, []uint16{dns.TypeSRV}}},
		{"case-insensitive name",
			func(t *testing.T) inbound { return fromPeer(t, query(q("_LANLOBBY._tcp.LOCAL.", dns.TypePTR, true))) },
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"unescaped UTF-8 question name",
			func(t *testing.T) inbound {
				return fromPeer(t, query(q("Zoë's game._lanlobby._tcp.local.", dns.TypeTXT, true)))
			},
			want{1, 0, true, []uint16{dns.TypeTXT}}},
		{"subtype",
			func(t *testing.T) inbound { return fromPeer(t, query(q(subtypeName("demo"), dns.TypePTR, true))) },
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"other subtype: nothing",
			func(t *testing.T) inbound { return fromPeer(t, query(q(subtypeName("other"), dns.TypePTR, true))) },
			want{0, 0, false, nil}},
		{"service enumeration",
			func(t *testing.T) inbound { return fromPeer(t, query(q(servicesEnum, dns.TypePTR, true))) },
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"host addresses",
			func(t *testing.T) inbound { return fromPeer(t, query(q("ME.local.", dns.TypeANY, true))) },
			want{1, 0, true, []uint16{dns.TypeA, dns.TypeAAAA}}},
		{"known answer suppressed",
			func(t *testing.T) inbound {
				m := query(q(ServiceType, dns.TypePTR, false))
				m.Answer = []dns.RR{ptrRR(ServiceType, inst, 60)}
				return fromPeer(t, m)
			},
			want{0, 0, false, nil}},
		{"known answer below half TTL: answered",
			func(t *testing.T) inbound {
				m := query(q(ServiceType, dns.TypePTR, false))
				m.Answer = []dns.RR{ptrRR(ServiceType, inst, 59)}
				return fromPeer(t, m)
			},
			want{0, 1, false, []uint16{dns.TypePTR}}},
		{"off-link unicast query ignored",
			func(t *testing.T) inbound {
				in := fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))
				in.src, in.dst = netip.MustParseAddrPort("192.0.2.9:5353"), netip.MustParseAddr("10.0.0.1")
				return in
			},
			want{0, 0, false, nil}},
		{"on-link unicast query answered",
			func(t *testing.T) inbound {
				in := fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))
				in.dst = netip.MustParseAddr("10.0.0.1")
				return in
			},
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"link-local IPv6 unicast query answered",
			func(t *testing.T) inbound {
				in := fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))
				in.src, in.dst = netip.MustParseAddrPort("[fe80::9%eth1]:5353"), netip.MustParseAddr("fe80::1")
				return in
			},
			want{1, 0, true, []uint16{dns.TypePTR}}},
		{"opcode 1 ignored",
			func(t *testing.T) inbound {
				m := query(q(ServiceType, dns.TypePTR, true))
				m.Opcode = 1
				return fromPeer(t, m)
			},
			want{0, 0, false, nil}},
		{"rcode 3 ignored",
			func(t *testing.T) inbound {
				m := query(q(ServiceType, dns.TypePTR, true))
				m.Rcode = 3
				return fromPeer(t, m)
			},
			want{0, 0, false, nil}},
		{"foreign interface ignored",
			func(t *testing.T) inbound {
				in := fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))
				in.ifIndex = 7
				return in
			},
			want{0, 0, false, nil}},
		{"legacy unicast",
			func(t *testing.T) inbound {
				in := fromPeer(t, query(q(ServiceType, dns.TypePTR, false)))
				in.src = legacySrc
				return in
			},
			want{1, 0, true, []uint16{dns.TypePTR}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, clk := testCore(t, zoeService)
			establish(t, c, clk)
			clk.advance(10 * time.Second) // past the rate limit of the announcements
			in := tc.in(t)
			now, later := answer(t, c, clk, in)
			if len(now) != tc.want.now || len(later) != tc.want.later {
				t.Fatalf("sent %d at once and %d later, want %d and %d", len(now), len(later), tc.want.now, tc.want.later)
			}
			all := append(now, later...)
			if len(all) == 0 {
				return
			}
			p := all[0]
			if p.dst.IsValid() != tc.want.unicast {
				t.Errorf("dst %v, want unicast %v", p.dst, tc.want.unicast)
			}
			if tc.want.unicast && p.dst != in.src {
				t.Errorf("unicast to %v, want %v", p.dst, in.src)
			}
			m := unpack(t, p.data)
			if got := types(m.Answer); !slices.Equal(got, sorted(tc.want.answers)) {
				t.Errorf("answers %v, want types %v", m.Answer, tc.want.answers)
			}
			if !m.Response || !m.Authoritative {
				t.Error("not an authoritative response")
			}
			legacy := in.src.Port() != Port
			if legacy {
				if m.Id != 0x1234 || len(m.Question) != 1 {
					t.Errorf("legacy reply: id %#x questions %v", m.Id, m.Question)
				}
				for _, rr := range append(m.Answer, m.Extra...) {
					if rr.Header().Ttl > 10 || cacheFlush(rr) {
						t.Errorf("legacy reply record %v", rr)
					}
				}
			} else if len(m.Question) != 0 {
				t.Errorf("mDNS response with questions %v", m.Question)
			}
			if m.Answer[0].Header().Rrtype == dns.TypePTR && sameName(m.Answer[0].Header().Name, ServiceType) {
				if got := types(m.Extra); !slices.Equal(got, sorted([]uint16{dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA})) {
					t.Errorf("additionals %v", m.Extra)
				}
			}
		})
	}
}

func TestCoreSharedDelayAndRateLimit(t *testing.T) {
	c, _, clk := testCore(t, zoeService)
	c.cfg.jitter = func(d time.Duration) time.Duration { return d / 2 }
	establish(t, c, clk)
	clk.advance(10 * time.Second)
	start := clk.now()
	c.handle(clk.now(), fromPeer(t, query(q(ServiceType, dns.TypePTR, false))))
	at, _ := c.next()
	if d := at.Sub(start); d < 20*time.Millisecond || d > 120*time.Millisecond {
		t.Errorf("shared answer after %v, want 20-120 ms", d)
	}
	runFor(t, c, clk, 200*time.Millisecond)
	// The same record asked again within a second waits for the second.
	c.handle(clk.now(), fromPeer(t, query(q(ServiceType, dns.TypePTR, false))))
	at, _ = c.next()
	if d := at.Sub(start); d < time.Second {
		t.Errorf("repeat multicast after %v, want >= 1 s", d)
	}
	// A QU question is answered at once regardless.
	if out := c.handle(clk.now(), fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))); len(out) != 1 {
		t.Errorf("QU inside the rate limit: %d packets", len(out))
	}
	// Another responder's identical answer cancels ours (§7.4).
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = []dns.RR{ptrRR(ServiceType, instanceName("Zoë's game"), 120)}
	c.handle(clk.now(), fromPeer(t, resp))
	if out := runFor(t, c, clk, 2*time.Second); len(out) != 0 {
		t.Errorf("sent %d packets after duplicate suppression", len(out))
	}
}

func TestCorePerInterfaceAddresses(t *testing.T) {
	eth2 := testIface(2, "192.168.5.1/24", "2001:db8::1/64")
	c, _, clk := testCore(t, zoeService, eth1, eth2)
	out := establish(t, c, clk)
	for _, s := range out {
		for _, rr := range append(append(s.msg.Answer, s.msg.Ns...), s.msg.Extra...) {
			var a netip.Addr
			switch r := rr.(type) {
			case *dns.A:
				a, _ = netip.AddrFromSlice(r.A.To4())
			case *dns.AAAA:
				a, _ = netip.AddrFromSlice(r.AAAA)
			default:
				continue
			}
			ifi := eth1
			if s.pkt.ifIndex == 2 {
				ifi = eth2
			}
			if !slices.Contains(ifi.Addrs(), a) {
				t.Errorf("address %v sent on interface %d", a, s.pkt.ifIndex)
			}
		}
	}
	clk.advance(10 * time.Second)
	in := fromPeer(t, query(q("me.local.", dns.TypeA, true)))
	in.ifIndex = 2
	in.src = netip.MustParseAddrPort("192.168.5.9:5353")
	res := c.handle(clk.now(), in)
	if len(res) != 1 {
		t.Fatalf("%d packets", len(res))
	}
	m := unpack(t, res[0].data)
	if len(m.Answer) != 1 || !m.Answer[0].(*dns.A).A.Equal(net.IPv4(192, 168, 5, 1)) {
		t.Errorf("A on eth2: %v", m.Answer)
	}
}

func TestCoreTXTChangeAndGoodbye(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	establish(t, c, clk)
	c.setTXT(clk.now(), reg.svc, []string{"v=1", "id=zoe1", "p=2"})
	out := runFor(t, c, clk, 3*time.Second)
	var txtAt []time.Duration
	for _, s := range out {
		for _, rr := range s.msg.Answer {
			if txt, ok := rr.(*dns.TXT); ok && slices.Contains(txtStrings(txt), "p=2") {
				txtAt = append(txtAt, s.at)
			}
		}
	}
	if !slices.Equal(txtAt, []time.Duration{0, time.Second}) {
		t.Errorf("new TXT announced at %v, want at once and after 1 s", txtAt)
	}
	c.remove(reg.svc)
	out = runFor(t, c, clk, time.Second)
	if len(out) != 1 {
		t.Fatalf("%d packets on removal", len(out))
	}
	m := out[0].msg
	if got := types(m.Answer); !slices.Equal(got, sorted([]uint16{dns.TypePTR, dns.TypePTR, dns.TypePTR, dns.TypeSRV, dns.TypeTXT})) {
		t.Errorf("goodbye %v", m.Answer)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye with TTL: %v", rr)
		}
	}
	// Nothing of the service is answered any more.
	clk.advance(10 * time.Second)
	if res := c.handle(clk.now(), fromPeer(t, query(q(ServiceType, dns.TypePTR, true)))); len(res) != 0 {
		t.Errorf("answered after removal: %d", len(res))
	}
	if res := c.goodbyeAll(clk.now()); len(res) != 1 || len(unpack(t, res[0].data).Answer) != 2 {
		t.Errorf("goodbyeAll %v", res)
	}
}

func TestCoreLocalDuplicateNames(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	// ASCII letters fold, UTF-8 does not (RFC 6762 §16): "ZOë'S GAME"
	// is our name, "ZOË'S GAME" is another.
	reg2 := &Registration{established: make(chan struct{})}
	reg2.svc = &service{reg: reg2, owner: owner{base: "ZOË'S GAME"}, port: 1}
	c.add(clk.now(), reg2.svc)
	if reg.svc.owner.label != "Zoë's game" || reg2.svc.owner.label != "ZOË'S GAME" {
		t.Errorf("labels %q %q", reg.svc.owner.label, reg2.svc.owner.label)
	}
	reg3 := &Registration{established: make(chan struct{})}
	reg3.svc = &service{reg: reg3, owner: owner{base: "ZOë'S GAME"}, port: 1}
	c.add(clk.now(), reg3.svc)
	if reg3.svc.owner.label != "ZOë'S GAME (2)" {
		t.Errorf("local duplicate named %q", reg3.svc.owner.label)
	}
}

// TestCoreFallbackName: an established name under FallbackAfter
// conflicts in a row (reprobe, then renames) is given up for a name of
// our own, "<name> [<id>]", announced at once without probing, with
// goodbyes for the records of the given-up name in the same packet; a
// conflict on it is answered by announcing our records again, never by
// renaming.
func TestCoreFallbackName(t *testing.T) {
	c, reg, clk := testCore(t, zoeService)
	reg.svc.uid = "zoe1"
	establish(t, c, clk)
	claim := func(label string) {
		resp := new(dns.Msg)
		resp.Response = true
		resp.Answer = []dns.RR{srvRR(instanceName(label), "evil.local.", 9, 120), txtRR(instanceName(label), []string{"evil=1"}, 120)}
		c.handle(clk.now(), fromPeer(t, resp))
	}
	claim("Zoë's game") // §9: probing again
	if o := reg.svc.owner; o.phase != phaseProbing || o.label != "Zoë's game" {
		t.Fatalf("after a conflict: %q phase %d", o.label, o.phase)
	}
	claim("Zoë's game")
	claim("Zoë's game (2)")
	const fb = "Zoë's game [zoe1]"
	if o := reg.svc.owner; o.label != fb || !o.fallback || o.phase != phaseProbed {
		t.Fatalf("after %d conflicts: %q fallback %v phase %d", FallbackAfter, o.label, o.fallback, o.phase)
	}
	out := runFor(t, c, clk, 10*time.Millisecond)
	if len(out) == 0 || len(out[0].msg.Question) != 0 {
		t.Fatalf("not announced at once: %+v", out)
	}
	var byes, news int
	for _, rr := range out[0].msg.Answer {
		switch {
		case rr.Header().Ttl == 0 && (rr.Header().Name == instanceName("Zoë's game") || rr.Header().Rrtype == dns.TypePTR):
			byes++
		case rr.Header().Name == instanceName(fb):
			news++
		}
	}
	if byes != 4 || news != 2 { // PTR, subtype PTR, SRV, TXT of the old name; SRV and TXT of the new
		t.Fatalf("announcement: %d goodbyes, %d records of the new name: %v", byes, news, out[0].msg.Answer)
	}
	establish(t, c, clk)
	renames := c.stats.Renames
	claim(fb)
	if o := reg.svc.owner; o.label != fb || o.phase != phaseEstablished || c.stats.Renames != renames {
		t.Fatalf("fallback name given up: %q phase %d", o.label, o.phase)
	}
	out = runFor(t, c, clk, 1100*time.Millisecond)
	defended := false
	for _, s := range out {
		for _, rr := range s.msg.Answer {
			if srv, ok := rr.(*dns.SRV); ok && srv.Hdr.Name == instanceName(fb) && srv.Port == 7600 {
				defended = true
			}
		}
	}
	if !defended || c.stats.Fallbacks != 1 {
		t.Fatalf("no defense announcement (%d packets), stats %+v", len(out), c.stats)
	}
}
