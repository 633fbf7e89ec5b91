//go:build linux

package mdns

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
)

// legacyExchange sends m from an ephemeral port of h to dst:5353 and
// returns the first reply within the timeout (nil when none came).
func legacyExchange(t *testing.T, h *netlab.Host, dst netip.Addr, m *dns.Msg, timeout time.Duration) (*dns.Msg, netip.AddrPort) {
	t.Helper()
	var reply *dns.Msg
	var from netip.AddrPort
	err := h.Do(func() error {
		network := "udp4"
		if dst.Is6() {
			network = "udp6"
		}
		c, err := net.ListenPacket(network, ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := m.Pack()
		if err != nil {
			return err
		}
		to := netip.AddrPortFrom(dst, Port)
		if dst.Is6() && dst.IsMulticast() {
			ifi, err := net.InterfaceByName(netlab.HostIface)
			if err != nil {
				return err
			}
			to = netip.AddrPortFrom(dst.WithZone(ifi.Name), Port)
		}
		if _, err := c.WriteTo(b, net.UDPAddrFromAddrPort(to)); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(timeout))
		buf := make([]byte, 9000)
		n, src, err := c.ReadFrom(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		if err != nil {
			return err
		}
		from = src.(*net.UDPAddr).AddrPort()
		reply = new(dns.Msg)
		return reply.Unpack(buf[:n])
	})
	if err != nil {
		t.Fatalf("legacy query to %v: %v", dst, err)
	}
	return reply, from
}

// TestLabAvahiAnswersLegacyToGroup: avahi-daemon answers a legacy
// unicast query sent to the group (what our browser sends beside its
// first QU query) by unicast to the query's source port, from port 5353,
// with the ID copied and the question echoed, TTLs capped at 10 s and the
// SRV, TXT and address records that resolve the service: like our
// responder, but all of them in the answer section, and only the
// addresses of the family the query came over.
func TestLabAvahiAnswersLegacyToGroup(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	av := h1.StartAvahi(t)
	pub := av.Start(t, "avahi-publish", "-s", "Bob's lobby", "_lanlobby._tcp", "7600", "v=1", "id=bob1", "g=demo", "p=1", "c=4", "s=open")
	pub.WaitForLine(t, waitTimeout, netlab.Contains("Established under name"))
	for _, dst := range []netip.Addr{group4, group6} {
		m := query(q(ServiceType, dns.TypePTR, false))
		m.Id = 0xbeef
		m.SetEdns0(legacyUDPSize, false)
		reply, from := legacyExchange(t, h2, dst, m, 3*time.Second)
		if reply == nil {
			t.Fatalf("avahi did not answer a legacy query to %v", dst)
		}
		t.Logf("avahi's answer to a legacy query to %v, from %v:\n%v", dst, from, reply)
		if from.Port() != Port || reply.Id != 0xbeef || len(reply.Question) != 1 || reply.Question[0].Name != ServiceType {
			t.Errorf("reply from %v: %v", from, reply)
		}
		have := map[uint16]bool{}
		for _, rr := range append(reply.Answer, reply.Extra...) {
			have[rr.Header().Rrtype] = true
			if rr.Header().Ttl > legacyTTL || cacheFlush(rr) {
				t.Errorf("record %v", rr)
			}
		}
		for _, typ := range []uint16{dns.TypePTR, dns.TypeSRV, dns.TypeTXT} {
			if !have[typ] {
				t.Errorf("no %s record in the answer to %v", dns.TypeToString[typ], dst)
			}
		}
		// avahi gives the addresses of the family the query came over.
		if !have[dns.TypeA] && !have[dns.TypeAAAA] {
			t.Errorf("no address in the answer to %v", dst)
		}
	}
}

// stealUnicast binds h's IPv4 and IPv6 link-local addresses on port
// 5353, as a browser's querier sockets do, and attaches a reuseport BPF
// program that hands every unicast datagram for them to its own socket.
// Browsers started on h afterwards then never get the answers to their
// QU queries, as happens to all browsers of a host but one: which one the
// kernel's hash of the addresses and ports decides, so without the thief
// the test would depend on the kernel's per-boot hash secret. It returns
// how many datagrams it took.
func stealUnicast(t *testing.T, h *netlab.Host) func() uint64 {
	t.Helper()
	ll, err := h.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.PacketConn
	err = h.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.HostIface)
		if err != nil {
			return err
		}
		for _, a := range []netip.Addr{h.IPv4, ll.WithZone(strconv.Itoa(ifi.Index))} {
			network := "udp4"
			if a.Is6() {
				network = "udp6"
			}
			lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) {
					// Shared like netutil's sockets, and BPF_RET|BPF_K 0:
					// socket 0 of the reuseport group, the first bound:
					// this one.
					prog := []unix.SockFilter{{Code: 0x06, K: 0}}
					serr = errors.Join(
						unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
						unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1),
						unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
							&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}))
				})
				if err != nil {
					return err
				}
				return serr
			}}
			c, err := lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(a, Port).String())
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		t.Fatalf("stealing %s's unicast mDNS: %v", h.Name, err)
	}
	var n atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 9000)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
				n.Add(1)
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	return n.Load
}

// peerEvent is a line of testdata/browsepeer.
type peerEvent struct {
	Event string          `json:"event"`
	ID    string          `json:"id"`
	MS    float64         `json:"ms"`
	RTTMS float64         `json:"rtt_ms"`
	Host  string          `json:"host"`
	Stats json.RawMessage `json:"stats"`
}

func parsePeer(line string) (peerEvent, bool) {
	var e peerEvent
	return e, json.Unmarshal([]byte(line), &e) == nil && e.Event != ""
}

// TestLabBrowsersShareHost: browsing processes on one host (like
// `lanlobby watch` and `lanlobby list` on one machine) each resolve the
// lobbies at once: our responder's (h1) and avahi's (h3). Every browser
// binds h2's address and port 5353 for the unicast answers to its QU
// queries, and the kernel hands each of those answers to one socket only:
// here always to a thief bound first (stealUnicast), so no browser gets
// any; the answers to their legacy copies of the first queries come to
// ports of their own. The third runs beside an avahi-daemon on h2 too. None of them loses a lobby when the
// 10 s TTLs of the legacy answers would have run out. (avahi answers a
// query over IPv6 with its IPv6 addresses only, so its lobby may first
// show with its IPv6 address, then, updated, with its IPv4 one.)
func TestLabBrowsersShareHost(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	av := h3.StartAvahi(t)
	pub := av.Start(t, "avahi-publish", "-s", "Bob's lobby", "_lanlobby._tcp", "7600", "v=1", "id=bob1", "g=demo", "p=1", "c=4", "s=open")
	pub.WaitForLine(t, waitTimeout, netlab.Contains("Established under name"))
	bin := peerBinary(t, "browsepeer")
	stolen := stealUnicast(t, h2)

	// Without the legacy copies, a browser that does not get its QU
	// answers finds the lobbies through the repeat a second later.
	const limit = 500 * time.Millisecond
	type peer struct {
		name    string
		p       *netlab.Process
		started time.Time
	}
	var peers []peer
	run := func(name string) {
		t.Helper()
		start := time.Now()
		p := h2.Start(t, bin, "-iface", netlab.HostIface)
		peers = append(peers, peer{name, p, start})
		seen := map[string]peerEvent{}
		p.WaitForStdoutLine(t, waitTimeout, func(l string) bool {
			if e, ok := parsePeer(l); ok && e.Event == "added" {
				seen[e.ID] = e
			}
			return len(seen) == 2
		})
		for _, id := range []string{"zoe1", "bob1"} {
			e, ok := seen[id]
			if !ok {
				t.Fatalf("%s: events %v", name, seen)
			}
			took := time.Duration(e.MS * float64(time.Millisecond))
			t.Logf("%s: %s after %v from its start (query to answer %.3f ms, %s)", name, id, took.Round(10*time.Microsecond), e.RTTMS, e.Host)
			if took > limit {
				t.Errorf("%s: %s after %v, want < %v", name, id, took, limit)
			}
		}
	}
	run("first browser")
	run("second browser")
	lab.StartAvahi(t, h2)
	run("third browser, avahi-daemon on its host")

	if stolen() == 0 {
		t.Error("the thief got no unicast answer: the browsers may have had their QU answers")
	}
	t.Logf("unicast answers taken by the thief: %d", stolen())

	// Past the 10 s of the legacy answers' TTLs (and a liveness round).
	testutil.WaitFor(t, 30*time.Second, "12 s of the second browser", func() bool { return time.Since(peers[1].started) > 12*time.Second })
	for _, pr := range peers {
		if err := pr.p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		pr.p.WaitForStdoutLine(t, waitTimeout, netlab.Contains(`"event":"stats"`))
		for _, l := range pr.p.Lines() {
			if e, ok := parsePeer(l); ok && e.Event == "stats" {
				t.Logf("%s: %s", pr.name, e.Stats)
				var st BrowserStats
				if err := json.Unmarshal(e.Stats, &st); err != nil || st.Legacy == 0 || st.LivenessRemovals != 0 {
					t.Errorf("%s: stats %+v (%v)", pr.name, st, err)
				}
			} else if ok && e.Event == "removed" {
				t.Errorf("%s: %s", pr.name, l)
			} else if !ok && strings.TrimSpace(l) != "" {
				t.Logf("%s: %s", pr.name, l)
			}
		}
	}
}

// TestLabSignedTXT: with LAN keys. On h1 a responder with key 1 signs
// its TXT records again every 2 s; on h3 one without a key. On h2, a
// browser with key 1 shows h1's lobby only (window 4 s: what h1 hands out
// is at most 2 s old) and keeps it across the re-signing, counting h3's
// as unsigned; a browser with key 2 shows nothing, counting bad
// signatures; a browser without a key shows both.
func TestLabSignedTXT(t *testing.T) {
	k1, k2 := testKeys(t)
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	signed := labResponder(t, h1, ResponderConfig{Key: k1, ResignInterval: 2 * time.Second})
	plain := labResponder(t, h3, ResponderConfig{})
	publish(t, signed, zoeLobby())
	bob := zoeLobby()
	bob.ID, bob.Name = "bob1", "Bob's lobby"
	publish(t, plain, bob)

	keyed := labBrowser(t, h2, BrowserConfig{Key: k1, ReplayWindow: 4 * time.Second})
	otherKey := labBrowser(t, h2, BrowserConfig{Key: k2})
	unkeyed := labBrowser(t, h2, BrowserConfig{})
	ids := func(b *Browser) []string {
		var out []string
		for _, l := range b.Lobbies() {
			out = append(out, l.ID)
		}
		return out
	}
	testutil.WaitFor(t, waitTimeout, "both lobbies without a key", func() bool { return slices.Equal(ids(unkeyed), []string{"bob1", "zoe1"}) })
	testutil.WaitFor(t, waitTimeout, "the signed lobby with key 1, the other counted", func() bool {
		return slices.Equal(ids(keyed), []string{"zoe1"}) && keyed.Stats().Unsigned > 0
	})
	testutil.WaitFor(t, waitTimeout, "both counted with key 2", func() bool {
		s := otherKey.Stats()
		return s.BadSignature > 0 && s.Unsigned > 0
	})
	if got := ids(otherKey); len(got) != 0 {
		t.Errorf("key 2 shows %v", got)
	}

	// Across several re-signings the lobby stays, unchanged.
	w := watcher{t, keyed.Events()}
	w.until(time.Second, "zoe1 added", is(beacon.Added, "zoe1"))
	resigns := signed.Stats().Resigns
	deadline := time.Now().Add(20 * time.Second)
	for signed.Stats().Resigns < resigns+3 {
		select {
		case ev := <-keyed.Events():
			t.Fatalf("event across re-signing: %+v (stats %+v)", ev, keyed.Stats())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no re-signing: %+v", signed.Stats())
		}
	}
	if got := ids(keyed); !slices.Equal(got, []string{"zoe1"}) {
		t.Errorf("with key 1 after re-signing: %v", got)
	}
	t.Logf("key 1: %+v", keyed.Stats())
	t.Logf("key 2: %+v", otherKey.Stats())
	t.Logf("responder: %+v", signed.Stats())
	if s := keyed.Stats(); s.BadTimestamp != 0 || s.BadSignature != 0 || s.LivenessRemovals != 0 {
		t.Errorf("key 1 stats %+v", s)
	}
}
