package mdns

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// FuzzHandleMessage feeds arbitrary bytes to the responder's and the
// browser's message handlers, as a multicast query or response, as a
// legacy unicast query and as a unicast answer. Nothing may panic, and
// everything they send in reply must parse. The seed corpus is in
// testdata/fuzz/FuzzHandleMessage: truncated headers, counts larger than
// the data, compression-pointer loops, oversized TXT, the TC bit,
// non-zero opcode and rcode, and real traffic, signed and unsigned. The
// browser runs without and with a LAN key; the answers to its legacy
// queries come in too.
func FuzzHandleMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	key, _ := testKeys(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := newClock()
		c := establishedCore()
		var bs []*browseCore
		for _, k := range []beacon.Key{{}, key} {
			b := newBrowseCore(browseConfig{liveness: 2 * time.Second, expiry: 6 * time.Second, maxLobbies: 8, jitter: noJitter,
				key: k, window: DefaultTXTReplayWindow})
			b.sink = func(beacon.Event) {}
			b.start(clk.now(), []netutil.Iface{eth1})
			bs = append(bs, b)
		}
		ins := []inbound{
			{data: data, src: peer, dst: group4, ifIndex: 1, ttl: 255},
			{data: data, src: netip.MustParseAddrPort("10.0.0.9:40000"), dst: netip.MustParseAddr("10.0.0.1"), ifIndex: 1, ttl: 64},
			{data: data, src: netip.MustParseAddrPort("[fe80::9%eth1]:5353"), dst: netip.MustParseAddr("fe80::1"), ifIndex: 1},
			{data: data, src: peer, dst: netip.MustParseAddr("10.0.0.1"), ifIndex: 1, ttl: 255, legacy: true},
		}
		for _, in := range ins {
			check(t, c.handle(clk.now(), in))
			for _, b := range bs {
				check(t, b.handle(clk.now(), in))
			}
		}
		for range 3 {
			clk.advance(700 * time.Millisecond)
			check(t, c.tick(clk.now()))
			for _, b := range bs {
				check(t, b.tick(clk.now()))
			}
		}
		check(t, c.goodbyeAll(clk.now()))
	})
}

func check(t *testing.T, out []outPacket) {
	t.Helper()
	for _, p := range out {
		if err := new(dns.Msg).Unpack(p.data); err != nil {
			t.Fatalf("sent a malformed message: %v", err)
		}
		if len(p.data) > 9000 {
			t.Fatalf("sent %d bytes", len(p.data))
		}
	}
}

// establishedCore returns a responder core with the Zoë lobby, past
// probing, without running the clock.
func establishedCore() *core {
	c := newCore(coreConfig{ttl: 120, announceCount: 3, jitter: noJitter, log: quiet}, "me")
	reg := &Registration{established: make(chan struct{})}
	l := zoeLobby()
	reg.svc = &service{reg: reg, owner: owner{base: l.Name, label: l.Name, n: 1, phase: phaseEstablished}, game: l.Game, port: l.Port, txt: EncodeTXT(l), announced: true}
	c.svcs = append(c.svcs, reg.svc)
	c.start(newClock().now(), []netutil.Iface{eth1})
	c.host.phase = phaseEstablished
	reg.svc.owner.phase = phaseEstablished
	return c
}

// fuzzSeeds builds seeds from real messages (the checked-in corpus holds
// the hand-made malformed ones).
func fuzzSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	add := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	add(query(q(ServiceType, dns.TypePTR, true)))
	add(query(q(instanceName("Zoë's game"), dns.TypeANY, false)))
	probe := query(q(instanceName("Zoë's game"), dns.TypeANY, false))
	probe.Ns = []dns.RR{srvRR(instanceName("Zoë's game"), "x.local.", 1, 120)}
	add(probe)
	c := establishedCore()
	for _, p := range c.announceRecords(newClock().now(), c.authoritative(eth1)) {
		out = append(out, p.data)
	}
	// Signed: the same with a key.
	key, _ := testKeys(tb)
	c = establishedCore()
	c.cfg.key, c.cfg.resign = key, DefaultResignInterval
	c.sign(newClock().now(), c.svcs[0])
	for _, p := range c.announceRecords(newClock().now(), c.authoritative(eth1)) {
		out = append(out, p.data)
	}
	return out
}
