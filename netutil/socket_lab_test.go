package netutil

// Real-socket tests of Socket, Receiver, SetIfaces and Watcher, inside
// netlab namespaces.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
)

var (
	mdnsGroup4 = netip.MustParseAddr("224.0.0.251")
	mdnsGroup6 = netip.MustParseAddr("ff02::fb")
)

// lanIface returns h's LAN interface as seen inside its namespace.
func lanIface(t *testing.T, h *netlab.Host) Iface {
	t.Helper()
	var ifs []Iface
	if err := h.Do(func() (err error) {
		ifs, err = Interfaces(IfaceOptions{Names: []string{h.Iface}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ifs[0]
}

// socketIn opens a Socket inside h's namespace, closed by the cleanup.
func socketIn(t *testing.T, h *netlab.Host, cfg SocketConfig) *Socket {
	t.Helper()
	var s *Socket
	if err := h.Do(func() (err error) {
		s, err = ListenUDP(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receiverOf reads the sockets; closed (with them) by the cleanup.
func receiverOf(t *testing.T, ifs []Iface, socks ...*Socket) *Receiver {
	t.Helper()
	r := NewReceiver(ReceiverConfig{Logger: quietLog})
	r.SetIfaces(ifs)
	for _, s := range socks {
		if err := r.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// next waits for the next datagram with payload want, skipping others
// (the sender's own loopback copies, say).
func next(t *testing.T, r *Receiver, want string) Received {
	t.Helper()
	ch := make(chan Received, 1)
	go func() {
		for {
			p, err := r.Read()
			if err != nil {
				return
			}
			if string(p.Data) == want {
				ch <- p
				return
			}
		}
	}()
	select {
	case p := <-ch:
		return p
	case <-time.After(waitTimeout):
		t.Fatalf("no %q within %v", want, waitTimeout)
		return Received{}
	}
}

// TestLabSocketTTLAndDestination: what an mDNS socket (TTL 255 both ways)
// sends arrives with TTL / hop limit 255, and the receiver learns the
// arrival interface and the destination: the group for multicast, its
// own address for unicast (the RFC 6762 §11 and §5.5 checks need both).
// A default socket multicasts with TTL 1.
func TestLabSocketTTLAndDestination(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	lan1, lan2 := lanIface(t, h1), lanIface(t, h2)
	const port = 5399
	for _, fam := range []struct {
		network string
		group   netip.Addr
		to      netip.Addr
	}{
		{"udp4", mdnsGroup4, h2.IPv4},
		{"udp6", mdnsGroup6, h2.IPv6},
	} {
		t.Run(fam.network, func(t *testing.T) {
			rs := socketIn(t, h2, SocketConfig{Network: fam.network, Addr: netip.AddrPortFrom(netip.Addr{}, port), Shared: true})
			if err := rs.JoinGroup(lan2, fam.group); err != nil {
				t.Fatal(err)
			}
			if err := rs.JoinGroup(lan2, fam.group); err != nil {
				t.Fatalf("second join: %v", err)
			}
			r := receiverOf(t, []Iface{lan2}, rs)
			s := socketIn(t, h1, SocketConfig{Network: fam.network, MulticastTTL: 255, UnicastTTL: 255})
			if err := s.WriteTo([]byte("m255"), netip.AddrPortFrom(fam.group, port), lan1, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
			p := next(t, r, "m255")
			if p.TTL != 255 || p.Dst != fam.group || !p.Multicast() || p.IfIndex != lan2.Index || p.Socket != rs {
				t.Errorf("multicast: %+v", p.PacketInfo)
			}
			if err := s.WriteTo([]byte("u255"), netip.AddrPortFrom(fam.to, port), Iface{}, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
			p = next(t, r, "u255")
			if p.TTL != 255 || p.Dst != fam.to || p.Multicast() || p.IfIndex != lan2.Index {
				t.Errorf("unicast: %+v", p.PacketInfo)
			}
			def := socketIn(t, h1, SocketConfig{Network: fam.network})
			if err := def.WriteTo([]byte("m1"), netip.AddrPortFrom(fam.group, port), lan1, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
			if p := next(t, r, "m1"); p.TTL != 1 {
				t.Errorf("default multicast TTL %d, want 1", p.TTL)
			}
		})
	}
}

// TestLabPortHeld: a group port another program holds without sharing
// makes ListenMulticast fail at once, naming the port, with an error
// wrapping EADDRINUSE; also when only one family's port is held: never
// half a listener.
func TestLabPortHeld(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	for _, network := range []string{"udp4", "udp6"} {
		var hold net.PacketConn
		err := h.Do(func() (err error) {
			addr := "0.0.0.0:7601"
			if network == "udp6" {
				addr = "[::]:7601"
			}
			hold, err = net.ListenPacket(network, addr)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		err = h.Do(func() error {
			c, err := ListenMulticast(MulticastConfig{Group4: testGroup4, Group6: testGroup6, Join: true, Logger: quietLog})
			if err == nil {
				c.Close()
			}
			return err
		})
		hold.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "7601") {
			t.Errorf("%s port held: %v, want EADDRINUSE naming 7601", network, err)
		}
	}
}

// TestLabSetIfacesJoins: a listener opened without interfaces hears no
// group traffic; once SetIfaces gives it the LAN interface it does, and
// after SetIfaces(nil) it does not any more. A unicast marker from the
// same sender, which membership does not affect, tells without sleeping
// that a multicast packet sent before it was not delivered.
func TestLabSetIfacesJoins(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	var l *MulticastConn
	if err := h2.Do(func() (err error) {
		l, err = ListenMulticast(MulticastConfig{Group4: testGroup4, Join: true, Logger: quietLog})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sender := listen(t, h1, MulticastConfig{Group4: testGroup4})
	marker := func(name string) {
		t.Helper()
		if err := sender.SendTo([]byte(name), netip.AddrPortFrom(h2.IPv4, testGroup4.Port())); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if r := recv(t, l); string(r.data) != w {
				t.Fatalf("got %q, want %q", r.data, w)
			}
		}
	}
	sender.SendMulticast([]byte("before"))
	marker("m1")
	expect("m1")
	if err := l.SetIfaces([]Iface{lanIface(t, h2)}); err != nil {
		t.Fatal(err)
	}
	sender.SendMulticast([]byte("joined"))
	marker("m2")
	expect("joined", "m2")
	if err := l.SetIfaces(nil); err != nil {
		t.Fatal(err)
	}
	sender.SendMulticast([]byte("left"))
	marker("m3")
	expect("m3")
}

// TestLabWatcherNetlink: a Watcher made inside a namespace hears that
// namespace's address and link changes through netlink, debounced into
// one signal per burst.
func TestLabWatcherNetlink(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	var w *Watcher
	h.Do(func() error {
		w = NewWatcher(WatchConfig{Poll: -1, Logger: quietLog})
		return nil
	})
	defer w.Close()
	if !w.Notifying() {
		t.Fatal("no netlink notifications")
	}
	changes := []string{
		"addr add 198.18.1.77/24 dev lan0",
		"addr del 198.18.1.77/24 dev lan0",
		"link set lan0 down\nlink set lan0 up",
	}
	for _, batch := range changes {
		start := time.Now()
		if err := h.IP(batch); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.C():
			t.Logf("%q signalled after %v", batch, time.Since(start))
		case <-time.After(waitTimeout):
			t.Fatalf("%q: no signal", batch)
		}
	}
}

// TestLabSendNeverWaits: datagrams to an address of the LAN that no host
// holds wait in the kernel for an address resolution that fails after
// seconds, and fill the socket's send buffer. Sends must still return at
// once: the ones that do not fit are dropped with ErrSendBufferFull, so a
// loop answering forged queries is never stalled. A blocking send with a
// 500 ms deadline spent that long on each datagram past the buffer.
func TestLabSendNeverWaits(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	for _, network := range []string{"udp4", "udp6"} {
		s := socketIn(t, h, SocketConfig{Network: network})
		// Many destinations: the kernel bounds what waits for one
		// neighbour, dropping the oldest, but not what waits for many.
		dst := func(i int) netip.AddrPort {
			if network == "udp6" {
				return netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:2:0:1::%x", 0x100+i%200)), 9)
			}
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(20 + i%200)}), 9) // nobody's
		}
		b := make([]byte, 1200)
		const n = 1000
		var full int
		var slowest time.Duration
		start := time.Now()
		for i := range n {
			t0 := time.Now()
			err := s.WriteTo(b, dst(i), Iface{}, netip.Addr{})
			slowest = max(slowest, time.Since(t0))
			switch {
			case errors.Is(err, ErrSendBufferFull):
				full++
			case err != nil:
				t.Fatalf("%s: %v", network, err)
			}
		}
		took := time.Since(start)
		t.Logf("%s: %d sends to 200 unresolvable addresses in %v (slowest %v), %d dropped: buffer full", network, n, took.Round(time.Millisecond), slowest.Round(time.Microsecond), full)
		if full == 0 {
			t.Errorf("%s: the send buffer never filled; the test proves nothing", network)
		}
		// A loaded machine may preempt a sender, never for the 500 ms a
		// blocking send waited, n-full times over.
		if took > 2*time.Second {
			t.Errorf("%s: %d sends took %v", network, n, took)
		}
	}
}

// TestLabReceiverShed: while the queue is more than a quarter full, the
// sources Shed names lose their datagrams and the others keep their
// place: a flood from one host does not crowd out another's datagrams.
func TestLabReceiverShed(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	rs := socketIn(t, h1, SocketConfig{Network: "udp4", Addr: netip.AddrPortFrom(netip.Addr{}, 9999)})
	r := NewReceiver(ReceiverConfig{QueueLen: 8, Logger: quietLog, Shed: func(a netip.Addr) bool { return a == h2.IPv4 }})
	r.Add(rs)
	t.Cleanup(func() { r.Close() })
	to := netip.AddrPortFrom(h1.IPv4, 9999)
	send := func(h *netlab.Host, n int) {
		s := socketIn(t, h, SocketConfig{Network: "udp4"})
		for range n {
			if err := s.WriteTo([]byte(h.Name), to, Iface{}, netip.Addr{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(h2, 20) // the flood: 3 queued (up to more than a quarter), the rest shed
	testutil.WaitFor(t, 5*time.Second, "flood read", func() bool { return r.Dropped() == 17 })
	send(h3, 4)
	got := map[string]int{}
	for range 7 {
		p, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		got[string(p.Data)]++
	}
	if got["h2"] != 3 || got["h3"] != 4 || r.Dropped() != 17 {
		t.Fatalf("read %v, %d dropped", got, r.Dropped())
	}
}
