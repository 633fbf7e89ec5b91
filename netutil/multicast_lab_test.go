package netutil

// Real-socket tests. Every test that multicasts does it inside network
// namespaces built by netlab: never on the machine's own interfaces.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

var (
	testGroup4 = netip.MustParseAddrPort("239.255.76.1:7601")
	testGroup6 = netip.MustParseAddrPort("[ff12::7601]:7601")
)

const waitTimeout = 5 * time.Second

// listen opens a MulticastConn inside h's namespace on the named interfaces
// (default: the lab's LAN interface) and closes it when the test ends.
func listen(t *testing.T, h *netlab.Host, cfg MulticastConfig, names ...string) *MulticastConn {
	t.Helper()
	if len(names) == 0 {
		names = []string{h.Iface}
	}
	var c *MulticastConn
	err := h.Do(func() error {
		ifs, err := Interfaces(IfaceOptions{Names: names})
		if err != nil {
			return err
		}
		cfg.Ifaces = ifs
		c, err = ListenMulticast(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func both(join bool) MulticastConfig {
	return MulticastConfig{Group4: testGroup4, Group6: testGroup6, Join: join}
}

type rx struct {
	data    []byte
	src     netip.AddrPort
	ifIndex int
}

// recv waits for the next packet on c. On timeout the reading goroutine
// stays blocked until the conn is closed by the test's cleanup.
func recv(t *testing.T, c *MulticastConn) rx {
	t.Helper()
	ch := make(chan rx, 1)
	go func() {
		buf := make([]byte, 2048)
		n, src, idx, err := c.ReadFrom(buf)
		if err == nil {
			ch <- rx{buf[:n], src, idx}
		}
	}()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no packet within", waitTimeout)
		return rx{}
	}
}

// recvFamilies reads until it has one packet with payload want from each
// family and returns them by family (true = IPv4).
func recvFamilies(t *testing.T, c *MulticastConn, want string) map[bool]rx {
	t.Helper()
	got := map[bool]rx{}
	for len(got) < 2 {
		r := recv(t, c)
		if string(r.data) == want {
			got[r.src.Addr().Is4()] = r
		}
	}
	return got
}

func ifIndex(t *testing.T, h *netlab.Host, name string) int {
	t.Helper()
	var idx int
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			idx = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestLabMulticast: a packet sent on the LAN arrives over both families,
// from the sender's own address on that link, tagged with the receiving
// interface; loopback delivers it to the sender's host too.
func TestLabMulticast(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	l1 := listen(t, h1, both(true))
	l2 := listen(t, h2, both(true))
	if err := l1.SendMulticast([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ll1, err := h1.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	got := recvFamilies(t, l2, "hello")
	lan0 := ifIndex(t, h2, h2.Iface)
	if r := got[true]; r.src != netip.AddrPortFrom(h1.IPv4, 7601) || r.ifIndex != lan0 {
		t.Errorf("IPv4: from %v on %d, want %v:7601 on %d", r.src, r.ifIndex, h1.IPv4, lan0)
	}
	// IPv6 link-local scope: the source is h1's link-local address, zoned
	// with the receiver's interface name.
	if r := got[false]; r.src != netip.AddrPortFrom(ll1.WithZone(h2.Iface), 7601) || r.ifIndex != lan0 {
		t.Errorf("IPv6: from %v on %d, want [%v]:7601 on %d", r.src, r.ifIndex, ll1.WithZone(h2.Iface), lan0)
	}
	recvFamilies(t, l1, "hello") // multicast loopback
	if l2.Dropped() != 0 {
		t.Errorf("dropped %d", l2.Dropped())
	}
}

// TestLabSharedPortAllReceive: several listeners in one namespace share the
// group port (SO_REUSEADDR + SO_REUSEPORT) and each gets its own copy of
// every multicast packet: several lanlobby processes on one host all work.
func TestLabSharedPortAllReceive(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	sender := listen(t, h1, both(false))
	var ls []*MulticastConn
	for range 3 {
		ls = append(ls, listen(t, h2, both(true)))
	}
	if err := sender.SendMulticast([]byte("all")); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		recvFamilies(t, l, "all")
	}
}

// TestLabUnicastToSharedPortReachesOne pins the machine fact behind the
// querier design: a unicast datagram to the shared group port reaches only
// one of the sockets sharing it, which is why a browser sends its query
// from a port of its own. A multicast marker sent after it tells, without
// sleeping, that the other socket got nothing.
func TestLabUnicastToSharedPortReachesOne(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	cfg := MulticastConfig{Group4: testGroup4, Join: true}
	sender := listen(t, h1, MulticastConfig{Group4: testGroup4})
	a, b := listen(t, h2, cfg), listen(t, h2, cfg)
	if err := sender.SendTo([]byte("unicast"), netip.AddrPortFrom(h2.IPv4, 7601)); err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMulticast([]byte("marker")); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, c := range []*MulticastConn{a, b} {
		for r := recv(t, c); string(r.data) != "marker"; r = recv(t, c) {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("unicast to the shared port reached %d sockets, want 1", count)
	}
}

// TestLabQueryReply: a querier on an ephemeral port multicasts, a listener
// answers by unicast to the query's source from the group port, over both
// families (IPv6 to a link-local address with zone).
func TestLabQueryReply(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	l1 := listen(t, h1, both(true))
	q := listen(t, h2, both(false))
	for _, ap := range q.LocalAddrs() {
		if ap.Port() == 7601 || ap.Port() == 0 {
			t.Fatalf("querier bound %v, want an ephemeral port", ap)
		}
	}
	if err := q.SendMulticast([]byte("query")); err != nil {
		t.Fatal(err)
	}
	for v4, r := range recvFamilies(t, l1, "query") {
		if err := l1.SendTo([]byte("answer"), r.src); err != nil {
			t.Fatalf("reply to %v: %v", r.src, err)
		}
		_ = v4
	}
	got := recvFamilies(t, q, "answer")
	if r := got[true]; r.src != netip.AddrPortFrom(h1.IPv4, 7601) {
		t.Errorf("IPv4 answer from %v", r.src)
	}
	if r := got[false]; !r.src.Addr().IsLinkLocalUnicast() || r.src.Port() != 7601 {
		t.Errorf("IPv6 answer from %v", r.src)
	}
}

// TestLabHopLimitOne: what leaves the host carries TTL / hop limit 1, so a
// router never forwards it.
func TestLabHopLimitOne(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	type obs struct {
		p4 *ipv4.PacketConn
		p6 *ipv6.PacketConn
	}
	var o obs
	err := h2.Do(func() error {
		ifi, err := net.InterfaceByName(h2.Iface)
		if err != nil {
			return err
		}
		lc := net.ListenConfig{Control: reuseControl}
		c4, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:7601")
		if err != nil {
			return err
		}
		t.Cleanup(func() { c4.Close() })
		c6, err := lc.ListenPacket(context.Background(), "udp6", "[::]:7601")
		if err != nil {
			return err
		}
		t.Cleanup(func() { c6.Close() })
		o.p4, o.p6 = ipv4.NewPacketConn(c4), ipv6.NewPacketConn(c6)
		if err := o.p4.JoinGroup(ifi, &net.UDPAddr{IP: testGroup4.Addr().AsSlice()}); err != nil {
			return err
		}
		if err := o.p6.JoinGroup(ifi, &net.UDPAddr{IP: testGroup6.Addr().AsSlice()}); err != nil {
			return err
		}
		if err := o.p4.SetControlMessage(ipv4.FlagTTL, true); err != nil {
			return err
		}
		return o.p6.SetControlMessage(ipv6.FlagHopLimit, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	o.p4.SetReadDeadline(time.Now().Add(waitTimeout))
	o.p6.SetReadDeadline(time.Now().Add(waitTimeout))
	if err := listen(t, h1, both(false)).SendMulticast([]byte("ttl")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, cm4, _, err := o.p4.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("ttl")) || cm4 == nil || cm4.TTL != 1 {
		t.Errorf("IPv4: %q %v %v, want TTL 1", buf[:n], cm4, err)
	}
	n, cm6, _, err := o.p6.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("ttl")) || cm6 == nil || cm6.HopLimit != 1 {
		t.Errorf("IPv6: %q %v %v, want hop limit 1", buf[:n], cm6, err)
	}
}

// TestLabIPv6Only: a conn without an IPv4 group works on IPv6 alone, and
// SendTo an IPv4 address says there is no such socket.
func TestLabIPv6Only(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	cfg := MulticastConfig{Group6: testGroup6, Join: true}
	l1, l2 := listen(t, h1, cfg), listen(t, h2, cfg)
	if err := l1.SendMulticast([]byte("six")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, l2); string(r.data) != "six" || !r.src.Addr().Is6() {
		t.Fatalf("got %q from %v", r.data, r.src)
	}
	if err := l1.SendTo([]byte("x"), netip.AddrPortFrom(h2.IPv4, 7601)); err == nil {
		t.Fatal("SendTo IPv4 on an IPv6-only conn succeeded")
	}
}

// TestLabLoopbackIface: inside one namespace, the loopback interface alone
// carries IPv4 multicast between two listeners (Linux "lo" has no multicast
// flag but works as the outgoing interface; the kernel picks the host's
// primary address as source). IPv6 multicast does not work over Linux "lo"
// (no ff00::/8 route there: ENETUNREACH), so that family's socket stays
// idle: an IPv6-only conn on lo has nowhere to send.
func TestLabLoopbackIface(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	a := listen(t, h, both(true), "lo")
	b := listen(t, h, both(true), "lo")
	if err := a.SendMulticast([]byte("lo")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, b); string(r.data) != "lo" || r.src.Addr() != h.IPv4 || r.ifIndex != 1 {
		t.Errorf("over lo: %q from %v on %d", r.data, r.src, r.ifIndex)
	}
	six := listen(t, h, MulticastConfig{Group6: testGroup6, Join: true}, "lo")
	if err := six.SendMulticast([]byte("x")); !errors.Is(err, ErrNoInterfaces) {
		t.Errorf("IPv6-only on lo: %v, want ErrNoInterfaces", err)
	}
}

// TestLabClose: Close unblocks a pending ReadFrom, is idempotent, and later
// reads report net.ErrClosed.
func TestLabClose(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	c := listen(t, lab.Hosts[0], both(true))
	errc := make(chan error, 1)
	go func() {
		_, _, _, err := c.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	select {
	case err := <-errc:
		if err != net.ErrClosed {
			t.Fatalf("ReadFrom after Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("ReadFrom not unblocked by Close")
	}
}
