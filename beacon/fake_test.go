package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNet is an in-memory LAN: every host has one interface "eth0" with an
// IPv4 and a link-local IPv6 address; multicast reaches every joined conn
// (the sender's own included, like IP_MULTICAST_LOOP), unicast the conn
// bound to the destination.
type fakeNet struct {
	connsMu  sync.Mutex // guards conns and nextPort
	conns    map[*fakeConn]bool
	nextPort uint16
}

func newFakeNet() *fakeNet { return &fakeNet{conns: make(map[*fakeConn]bool), nextPort: 40000} }

type fakeHost struct {
	v4, v6 netip.Addr // v6 is link-local, zoned "eth0"
	only   string     // "udp4" or "udp6" restricts the host to a family
}

func newFakeHost(k int, only string) fakeHost {
	return fakeHost{
		v4:   netip.AddrFrom4([4]byte{10, 0, 0, byte(k)}),
		v6:   netip.MustParseAddr(fmt.Sprintf("fe80::%d%%eth0", k)),
		only: only,
	}
}

func (h fakeHost) iface() netutil.Iface {
	return netutil.Iface{Index: 1, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast, Prefixes: []netip.Prefix{
		netip.PrefixFrom(h.v4, 24), netip.PrefixFrom(h.v6.WithZone(""), 64),
	}}
}

type fakePacket struct {
	data []byte
	src  netip.AddrPort
}

// fakeConn is one host's conn: a listener on DefaultPort (join) or a
// querier on a port of its own.
type fakeConn struct {
	net   *fakeNet
	addrs []netip.AddrPort // one per family
	join  bool
	in    chan fakePacket

	closeOnce sync.Once
	closed    chan struct{}
	mute      atomic.Bool   // drop everything sent: a crashed host
	dropped   atomic.Uint64 // packets lost to a full in queue
}

var _ packetConn = (*fakeConn)(nil)

// opened records the conns a component opened through its seams.
type opened struct {
	connsMu sync.Mutex // guards conns
	conns   []*fakeConn
}

func (o *opened) count() int {
	o.connsMu.Lock()
	defer o.connsMu.Unlock()
	return len(o.conns)
}

func (o *opened) get(i int) *fakeConn {
	o.connsMu.Lock()
	defer o.connsMu.Unlock()
	return o.conns[i]
}

// seams returns the config seams that put a component on host h.
func (n *fakeNet) seams(h fakeHost) (func() (netutil.IfaceStatus, error), listenFunc, *opened) {
	o := &opened{}
	ifaces := func() (netutil.IfaceStatus, error) {
		return netutil.IfaceStatus{Ifaces: []netutil.Iface{h.iface()}}, nil
	}
	listen := func(join bool, _ []netutil.Iface) (packetConn, error) {
		c := n.open(h, join)
		o.connsMu.Lock()
		o.conns = append(o.conns, c)
		o.connsMu.Unlock()
		return c, nil
	}
	return ifaces, listen, o
}

func (n *fakeNet) open(h fakeHost, join bool) *fakeConn {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	port := uint16(DefaultPort)
	if !join {
		port = n.nextPort
		n.nextPort++
	}
	c := &fakeConn{net: n, join: join, in: make(chan fakePacket, 64), closed: make(chan struct{})}
	if h.only != "udp6" {
		c.addrs = append(c.addrs, netip.AddrPortFrom(h.v4, port))
	}
	if h.only != "udp4" {
		c.addrs = append(c.addrs, netip.AddrPortFrom(h.v6, port))
	}
	n.conns[c] = true
	return c
}

func (c *fakeConn) deliver(p fakePacket) {
	select {
	case c.in <- p:
	default:
		c.dropped.Add(1)
	}
}

func (c *fakeConn) ReadFrom(b []byte) (int, netip.AddrPort, int, error) {
	select {
	case <-c.closed:
		return 0, netip.AddrPort{}, 0, net.ErrClosed
	case p := <-c.in:
		return copy(b, p.data), p.src, 1, nil
	}
}

func (c *fakeConn) SendMulticast(b []byte) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	if c.mute.Load() {
		return nil
	}
	c.net.connsMu.Lock()
	defer c.net.connsMu.Unlock()
	for _, src := range c.addrs {
		for d := range c.net.conns {
			if d.join && d.has(src.Addr().Is4()) {
				d.deliver(fakePacket{data: append([]byte(nil), b...), src: src})
			}
		}
	}
	return nil
}

func (c *fakeConn) SendTo(b []byte, dst netip.AddrPort) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	if c.mute.Load() {
		return nil
	}
	c.net.connsMu.Lock()
	defer c.net.connsMu.Unlock()
	for _, src := range c.addrs {
		if src.Addr().Is4() != dst.Addr().Is4() {
			continue
		}
		for d := range c.net.conns {
			for _, a := range d.addrs {
				if a == dst {
					d.deliver(fakePacket{data: append([]byte(nil), b...), src: src})
				}
			}
		}
		return nil
	}
	return errors.New("fake: no socket for this family")
}

// SetIfaces: a fake host keeps its one interface.
func (c *fakeConn) SetIfaces([]netutil.Iface) error { return nil }

func (c *fakeConn) has(v4 bool) bool {
	for _, a := range c.addrs {
		if a.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

func (c *fakeConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.net.connsMu.Lock()
		delete(c.net.conns, c)
		c.net.connsMu.Unlock()
	})
	return nil
}

// tap is a raw listener on host h: tests read what is multicast with it.
func (n *fakeNet) tap(t *testing.T, h fakeHost) *fakeConn {
	c := n.open(h, true)
	t.Cleanup(func() { c.Close() })
	return c
}

// next reads the next decoded beacon packet from c.
func (c *fakeConn) next(t *testing.T) (Packet, netip.AddrPort) {
	t.Helper()
	select {
	case p := <-c.in:
		pkt, err := Decode(p.data)
		if err != nil {
			t.Fatalf("tap: %v", err)
		}
		return pkt, p.src
	case <-time.After(waitTimeout):
		t.Fatal("tap: nothing within", waitTimeout)
		return Packet{}, netip.AddrPort{}
	}
}

// drain returns the packets waiting in c, without waiting for more.
func (c *fakeConn) drain() []fakePacket {
	var out []fakePacket
	for {
		select {
		case p := <-c.in:
			out = append(out, p)
		default:
			return out
		}
	}
}

// nextKind skips packets until one of kind k arrives.
func (c *fakeConn) nextKind(t *testing.T, k Kind) (Packet, netip.AddrPort) {
	t.Helper()
	for {
		if p, src := c.next(t); p.Kind == k {
			return p, src
		}
	}
}

const waitTimeout = 5 * time.Second

// nextEvent returns the next event of ch within the timeout.
func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("events closed")
		}
		t.Logf("event: %s %s host %v players %d", ev.Type, ev.Lobby.ID, ev.Lobby.Host, ev.Lobby.Players)
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("no event within", waitTimeout)
		return Event{}
	}
}

// watcher reads a Source's events, skipping Updated events that only
// moved a lobby to a preferred address: the IPv4 copy of a packet often
// arrives microseconds after the IPv6 one, which gives Added (IPv6)
// followed by Updated (IPv4).
type watcher struct {
	t    *testing.T
	ch   <-chan Event
	last map[string]LobbyInfo
}

func watch(t *testing.T, s Source) *watcher {
	return &watcher{t: t, ch: s.Events(), last: make(map[string]LobbyInfo)}
}

func (w *watcher) next() Event {
	w.t.Helper()
	for {
		ev := nextEvent(w.t, w.ch)
		prev, known := w.last[ev.Lobby.ID]
		w.last[ev.Lobby.ID] = ev.Lobby
		if ev.Type == Removed {
			delete(w.last, ev.Lobby.ID)
		}
		moved := ev.Lobby
		moved.Host, moved.Iface = prev.Host, prev.Iface
		if ev.Type == Updated && known && moved.sameContent(prev) {
			continue
		}
		return ev
	}
}

var quiet = slog.New(slog.DiscardHandler)

// runner is something with Run and Close.
type runner interface {
	Run(context.Context) error
	Close() error
}

// start runs r in the background; the test's cleanup closes it and checks
// that Run returned nil.
func start(t *testing.T, r runner) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
