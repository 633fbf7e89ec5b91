package mdns

// Attacks on the responder by a hostile host of the LAN, in netlab
// namespaces only: forged sources through netlab.Spoofer, what reaches a
// victim counted by netlab.UDPCounter. Each test asserts the bound of its
// row of RELIABILITY.md ("Attacks from the LAN on discovery") and logs the
// figure measured.

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/netutil"
)

var mdnsGroup4 = netip.AddrPortFrom(group4, Port)

// ptrQuery is a query for every lobby, with the QU bit when qu; id 0 is
// mDNS, a legacy resolver sets one.
func ptrQuery(t *testing.T, qu bool, id uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.Id = id
	m.Question = []dns.Question{q(ServiceType, dns.TypePTR, qu)}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitQuiet waits until c has counted nothing new for 300 ms.
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

// publishMany publishes n lobbies on r at once (they probe together) and
// waits until all are established.
func publishMany(t *testing.T, r *Responder, n int) []*Registration {
	t.Helper()
	regs := make([]*Registration, n)
	for i := range regs {
		var err error
		regs[i], err = r.SetLobby(beacon.Lobby{ID: fmt.Sprintf("l%03d", i), Game: "demo", Name: fmt.Sprintf("Lobby %d of many", i),
			Players: 1, Capacity: 8, State: beacon.StateOpen, Port: 7600})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, reg := range regs {
		select {
		case <-reg.Established():
		case <-time.After(waitTimeout):
			t.Fatalf("%q not established", reg.Name())
		}
	}
	return regs
}

// TestLabAttackUnicastReflection (row 2): a host sends mDNS queries whose
// source is forged to be a victim's address, to make a responder
// publishing 64 lobbies answer the victim by unicast: QU questions (from
// port 5353) and legacy queries (from other ports), to the group and to
// the responder's address. A victim on another subnet (beyond the router)
// gets nothing; a victim on the link gets at most its per-source budget.
func TestLabAttackUnicastReflection(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 5, Subnets: 2})
	h1, h2, h3, h5 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2], lab.Hosts[4] // h1, h3, h5 in subnet 1
	r := labResponder(t, h1, ResponderConfig{})
	publishMany(t, r, 64)
	spoof, err := h3.Spoofer()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name   string
		victim *netlab.Host
		bound  func(sent int, took time.Duration) int
	}{
		{"off-link victim", h2, func(int, time.Duration) int { return 0 }},
		{"on-link victim", h5, func(_ int, took time.Duration) int {
			return netutil.AnswerBurst*DefaultUnicastBytesPerSource + int(took.Seconds()*DefaultUnicastBytesPerSource)
		}},
	} {
		t.Run(v.name, func(t *testing.T) {
			victim, err := v.victim.CountUDP(func(src, _ netip.Addr, _ uint16) bool { return src == h1.IPv4 })
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close()
			waitQuiet(t, victim)
			sentBefore, start := spoof.Sent(), time.Now()
			const n = 300 // in 1.5 s: QU to the group, legacy to the group and to h1
			for i := range n {
				var err error
				switch i % 3 {
				case 0:
					_, err = spoof.SendUDP(netip.AddrPortFrom(v.victim.IPv4, Port), mdnsGroup4, 255, ptrQuery(t, true, 0))
				case 1:
					_, err = spoof.SendUDP(netip.AddrPortFrom(v.victim.IPv4, uint16(40000+i)), mdnsGroup4, 255, ptrQuery(t, false, uint16(i)))
				case 2:
					_, err = spoof.SendUDP(netip.AddrPortFrom(v.victim.IPv4, uint16(40000+i)), netip.AddrPortFrom(h1.IPv4, Port), 64, ptrQuery(t, false, uint16(i)))
				}
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // pacing the attacker
			}
			sent := spoof.Sent() - sentBefore
			waitQuiet(t, victim)
			// Until the answers stopped: a busy responder may answer the
			// last queries late, with the budget refilled meanwhile.
			took := time.Since(start)
			got := int(victim.Bytes())
			t.Logf("%s: attacker sent %d queries, %d B in %v; victim received %d B (%.1f×); responder %+v",
				v.name, n, sent, took.Round(time.Millisecond), got, float64(got)/float64(sent), r.Stats())
			if bound := v.bound(sent, took); got > bound {
				t.Errorf("victim received %d B, bound %d", got, bound)
			}
		})
	}
}

// conflicter is a hostile responder in a lab host: it claims every name
// it hears probed or announced by others (instance names of
// _lanlobby._tcp and host names), at once, with records that conflict
// (its own SRV target and port, a TXT record and an address of its own),
// as a host owning them would.
type conflicter struct {
	conn   *net.UDPConn
	claims atomic.Int64
	done   chan struct{}
}

func startConflicter(t *testing.T, h *netlab.Host) *conflicter {
	t.Helper()
	c := &conflicter{done: make(chan struct{})}
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return err
		}
		c.conn, err = net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(mdnsGroup4))
		if err != nil {
			return err
		}
		return ipv4.NewPacketConn(c.conn).SetMulticastTTL(255)
	}); err != nil {
		t.Fatal(err)
	}
	go c.run(h.IPv4)
	t.Cleanup(c.stop)
	return c
}

func (c *conflicter) stop() {
	c.conn.Close()
	<-c.done
}

func (c *conflicter) run(self netip.Addr) {
	defer close(c.done)
	buf := make([]byte, 9000)
	for {
		n, src, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		if src.Addr().Unmap() == self {
			continue
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) != nil {
			continue
		}
		var names []string
		switch {
		case !m.Response && len(m.Ns) > 0: // a probe
			for _, q := range m.Question {
				names = append(names, q.Name)
			}
		case m.Response:
			for _, rr := range append(m.Answer, m.Extra...) {
				switch rr.Header().Rrtype {
				case dns.TypeSRV, dns.TypeTXT, dns.TypeA:
					if rr.Header().Ttl > 0 {
						names = append(names, rr.Header().Name)
					}
				}
			}
		}
		claim := new(dns.Msg)
		claim.Response, claim.Authoritative = true, true
		for _, name := range names {
			if slices.ContainsFunc(claim.Answer, func(rr dns.RR) bool { return rr.Header().Name == name }) {
				continue
			}
			if _, ok := parseInstance(name); ok {
				claim.Answer = append(claim.Answer, srvRR(name, "evil.local.", 9, 120), txtRR(name, []string{"evil=1"}, 120))
			} else if strings.HasSuffix(name, ".local.") {
				claim.Answer = append(claim.Answer, addrRRs(name, []netip.Addr{self}, 120)...)
			}
		}
		if len(claim.Answer) == 0 {
			continue
		}
		if b, err := claim.Pack(); err == nil {
			c.conn.WriteToUDPAddrPort(b, mdnsGroup4)
			c.claims.Add(1)
		}
	}
}

// TestLabAttackNameConflicts (row 5): a hostile responder claims every
// name our responder probes or announces, at once, with conflicting
// records. A lobby published during the attack becomes visible in a
// browser (over mDNS only) within 3 s, under a name derived from its id
// after a few conflicts; a lobby established before the attack stays
// visible throughout.
func TestLabAttackNameConflicts(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	r := labResponder(t, h1, ResponderConfig{})
	b := labBrowser(t, h3, BrowserConfig{})
	old := zoeLobby()
	publish(t, r, old)
	visible := func(id string) bool {
		return slices.ContainsFunc(b.Lobbies(), func(l beacon.LobbyInfo) bool { return l.ID == id && l.Host == netip.AddrPortFrom(h1.IPv4, 7600) })
	}
	testutil.WaitFor(t, waitTimeout, "established lobby seen", func() bool { return visible(old.ID) })

	c := startConflicter(t, h2)
	attack := time.Now()
	// The established lobby is re-announced on conflict, which the
	// attacker answers: watch it through the attack.
	var gone time.Duration
	var goneSince time.Time
	watchOld := func() {
		switch v := visible(old.ID); {
		case !v && goneSince.IsZero():
			goneSince = time.Now()
		case v && !goneSince.IsZero():
			gone = max(gone, time.Since(goneSince))
			goneSince = time.Time{}
		}
	}
	fresh := beacon.Lobby{ID: "new1", Game: "demo", Name: "Fresh lobby", Players: 1, Capacity: 4, State: beacon.StateOpen, Port: 7600}
	start := time.Now()
	if _, err := r.SetLobby(fresh); err != nil {
		t.Fatal(err)
	}
	// Both watched for 6 s of attack (polled, as a game would draw them).
	var took time.Duration
	testutil.WaitFor(t, 10*time.Second, "6 s of attack", func() bool {
		watchOld()
		if took == 0 && visible(fresh.ID) {
			took = time.Since(start)
		}
		return time.Since(attack) > 6*time.Second
	})
	if !goneSince.IsZero() {
		gone = max(gone, time.Since(goneSince))
	}
	reg, _ := r.Lobby(fresh.ID)
	t.Logf("new lobby visible %v after it was published, as %q; established lobby invisible %v at most; %d claims; responder %+v",
		took.Round(time.Millisecond), reg.Name(), gone.Round(time.Millisecond), c.claims.Load(), r.Stats())
	if took == 0 || took > 3*time.Second {
		t.Errorf("new lobby visible after %v (0: never), bound 3 s", took)
	}
	if gone > time.Second {
		t.Errorf("established lobby invisible for %v", gone)
	}
}
