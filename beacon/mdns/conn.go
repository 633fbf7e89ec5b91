package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/lanlobby/lanlobby/netutil"
)

// The mDNS groups and port (RFC 6762 §3).
const (
	Port = 5353
	// writeTimeout bounds one send on one socket.
	writeTimeout = 500 * time.Millisecond
	// connQueueLen bounds received packets waiting for the owner's loop.
	connQueueLen = 256
	// maxRecv is the read buffer: RFC 6762 §17 allows 9000-byte packets;
	// anything longer is cut and then fails to parse.
	maxRecv = 9000
	// mdnsTTL is the IP TTL / hop limit of everything we send (RFC 6762
	// §11); the beacon's netutil sockets use 1, so mDNS opens its own.
	mdnsTTL = 255
)

var (
	group4 = netip.MustParseAddr("224.0.0.251")
	group6 = netip.MustParseAddr("ff02::fb")
)

// inbound is one received datagram and where it came from.
type inbound struct {
	data []byte
	// src is the sender; an IPv6 link-local src is zoned with the name of
	// the interface it arrived on.
	src netip.AddrPort
	// dst is the datagram's destination: a group for multicast, our own
	// address for unicast; invalid when the platform cannot tell.
	dst netip.Addr
	// ifIndex is the interface it arrived on; 0 when unknown.
	ifIndex int
	// ttl is the IP TTL / hop limit it arrived with; 0 when unknown.
	ttl int
	// legacy marks a datagram that arrived on the browser's legacy
	// socket (an ephemeral port of its own): an answer to one of its
	// legacy unicast queries (RFC 6762 §6.7).
	legacy bool
}

// multicast reports whether the datagram was sent to a group. When the
// destination is unknown it counts as multicast: the strict checks for
// unicast queries (§5.5) then do not drop it.
func (in inbound) multicast() bool { return !in.dst.IsValid() || in.dst.IsMulticast() }

// packetConn is the network seam: the real sockets (mdnsConn) or a
// channel-backed fake in tests.
type packetConn interface {
	// Read blocks for the next datagram; after Close it returns an error.
	Read() (inbound, error)
	// WriteMulticast sends b to the mDNS group of each family the
	// interface ifIndex has.
	WriteMulticast(b []byte, ifIndex int) error
	// WriteTo sends b by unicast to dst from port 5353. A valid src is the
	// source address to use (the address a unicast query was sent to);
	// ifIndex > 0 pins the outgoing interface.
	WriteTo(b []byte, dst netip.AddrPort, ifIndex int, src netip.Addr) error
	// WriteLegacy sends b, a legacy unicast query, to the mDNS group of
	// each family the interface ifIndex has, from the browser's own
	// ephemeral port: responders answer it by unicast to that port, which
	// no other process holds (RFC 6762 §6.7).
	WriteLegacy(b []byte, ifIndex int) error
	Close() error
}

// listenFunc opens a packetConn on the interfaces. querier asks for the
// browser's extra per-interface sockets (see connConfig.Querier).
type listenFunc func(ifaces []netutil.Iface, querier bool) (packetConn, error)

// connConfig configures openConn.
type connConfig struct {
	ifaces []netutil.Iface
	// port is the UDP port; 0 means Port. Tests never change it: the
	// namespace lab gives every host its own port space.
	port uint16
	// querier adds, per interface and family, a socket bound to the
	// interface's own address and the mDNS port, and sends multicast from
	// it. Linux hands a unicast datagram for a port several sockets share
	// to the one with the most specific bound address, so the unicast
	// answers to our QU queries reach the browser and not the wildcard
	// socket of avahi-daemon or a responder on the same host. But when
	// several browsers share the host, each binds that same address and
	// port, and the kernel hands each answer to only one of them; so
	// querier also adds, per family, a socket on an ephemeral port
	// (legacy) from which the browser sends its first queries again as
	// legacy unicast queries (RFC 6762 §6.7), answered by unicast to
	// that port, which only this process holds.
	querier bool
	log     *slog.Logger
}

// mdnsConn is the production packetConn: a wildcard socket per family on
// port 5353 shared with other mDNS stacks (SO_REUSEADDR and SO_REUSEPORT,
// like net.ListenMulticastUDP, which avahi-daemon tolerates), joined to
// the groups on every interface, TTL / hop limit 255, multicast loopback
// on (other stacks on this host must see us), and control messages for
// the arrival interface, destination and TTL.
type mdnsConn struct {
	cfg    connConfig
	shared []*sock          // wildcard sockets, one per family
	own    map[ownKey]*sock // querier sockets by interface and family
	legacy []*sock          // querier: ephemeral-port sockets, one per family
	queue  chan inbound

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	dropped   atomic.Uint64
}

type ownKey struct {
	ifIndex int
	v4      bool
}

// sock is one UDP socket with its family-specific operations.
type sock struct {
	pc     net.PacketConn
	v4     bool
	legacy bool // the browser's ephemeral-port socket (openLegacy)
	p4     *ipv4.PacketConn
	p6     *ipv6.PacketConn
	// sendMu keeps the write deadline and outgoing multicast interface
	// paired with the write they were set for.
	sendMu sync.Mutex
}

var _ packetConn = (*mdnsConn)(nil)

// openConn opens the sockets. A family no interface has an address of is
// skipped; a failed join is logged and skipped; it fails only when no
// family could be opened and joined.
func openConn(cfg connConfig) (*mdnsConn, error) {
	if len(cfg.ifaces) == 0 {
		return nil, netutil.ErrNoInterfaces
	}
	if cfg.port == 0 {
		cfg.port = Port
	}
	c := &mdnsConn{cfg: cfg, own: make(map[ownKey]*sock), queue: make(chan inbound, connQueueLen), closing: make(chan struct{})}
	var errs []error
	for _, v4 := range []bool{true, false} {
		ifaces := familyIfaces(cfg.ifaces, v4)
		if len(ifaces) == 0 {
			continue
		}
		s, err := c.openShared(v4, ifaces)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.shared = append(c.shared, s)
		if !cfg.querier {
			continue
		}
		for _, ifi := range ifaces {
			o, err := c.openOwn(v4, ifi)
			if err != nil {
				// The shared socket still sends; unicast answers may then
				// reach another process sharing the port.
				cfg.log.Debug("mdns: no querier socket", "iface", ifi.Name, "err", err)
				continue
			}
			c.own[ownKey{ifi.Index, v4}] = o
		}
		l, err := c.openLegacy(v4)
		if err != nil {
			// The QU path still works; other browsers on this host may
			// then take the unicast answers to our first query.
			cfg.log.Debug("mdns: no legacy query socket", "err", err)
			continue
		}
		c.legacy = append(c.legacy, l)
	}
	if len(c.shared) == 0 {
		c.closeSockets()
		if len(errs) == 0 {
			return nil, netutil.ErrNoInterfaces
		}
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		cfg.log.Warn("mdns: address family unavailable", "err", err)
	}
	for _, s := range c.sockets() {
		c.wg.Add(1)
		go c.readLoop(s)
	}
	return c, nil
}

// familyIfaces returns the interfaces that carry mDNS over IPv4 (those
// with an IPv4 address) or IPv6 (an IPv6 address and the multicast flag:
// Linux routes ff00::/8 only there).
func familyIfaces(ifaces []netutil.Iface, v4 bool) []netutil.Iface {
	var out []netutil.Iface
	for _, i := range ifaces {
		if (v4 && i.HasIPv4()) || (!v4 && i.HasIPv6() && i.Flags&net.FlagMulticast != 0) {
			out = append(out, i)
		}
	}
	return out
}

func (c *mdnsConn) sockets() []*sock {
	out := slices.Clone(c.shared)
	for _, s := range c.own {
		out = append(out, s)
	}
	return append(out, c.legacy...)
}

func listen(network, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: reuseControl}
	return lc.ListenPacket(context.Background(), network, addr)
}

func (c *mdnsConn) openShared(v4 bool, ifaces []netutil.Iface) (*sock, error) {
	network, addr := "udp6", net.JoinHostPort("::", strconv.Itoa(int(c.cfg.port)))
	if v4 {
		network, addr = "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(int(c.cfg.port)))
	}
	pc, err := listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mdns: listen %s %s: %w", network, addr, err)
	}
	s := newSock(pc, v4)
	if err := s.setup(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("mdns: %s socket options: %w", network, err)
	}
	joined := 0
	for _, i := range ifaces {
		if err := s.join(i.Net()); err != nil {
			c.cfg.log.Warn("mdns: join group failed", "iface", i.Name, "network", network, "err", err)
			continue
		}
		joined++
	}
	if joined == 0 {
		pc.Close()
		return nil, fmt.Errorf("mdns: join %s: %w", network, netutil.ErrNoInterfaces)
	}
	return s, nil
}

// openOwn opens a querier socket bound to the interface's first address
// of the family (IPv6: link-local first, zoned by index, since the net
// package's name-to-index cache may belong to another namespace).
func (c *mdnsConn) openOwn(v4 bool, ifi netutil.Iface) (*sock, error) {
	var a netip.Addr
	if v4 {
		a = ifi.IPv4()[0]
	} else {
		v6 := ifi.IPv6()
		a = v6[0]
		for _, x := range v6 {
			if x.IsLinkLocalUnicast() {
				a = x.WithZone(strconv.Itoa(ifi.Index))
				break
			}
		}
	}
	network := "udp6"
	if v4 {
		network = "udp4"
	}
	addr := netip.AddrPortFrom(a, c.cfg.port).String()
	pc, err := listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mdns: listen %s %s: %w", network, addr, err)
	}
	s := newSock(pc, v4)
	if err := s.setup(); err == nil {
		err = s.setIface(ifi.Net())
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("mdns: %s socket options: %w", network, err)
	}
	return s, nil
}

// openLegacy opens the socket legacy queries go out from: the wildcard
// address and an ephemeral port, without SO_REUSEADDR or SO_REUSEPORT,
// so that the port and the unicast answers to it are this process's
// alone. It joins no group; multicast loopback stays on, so that a
// responder on this host hears the queries too.
func (c *mdnsConn) openLegacy(v4 bool) (*sock, error) {
	network, addr := "udp6", "[::]:0"
	if v4 {
		network, addr = "udp4", "0.0.0.0:0"
	}
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mdns: listen %s %s: %w", network, addr, err)
	}
	s := newSock(pc, v4)
	s.legacy = true
	if err := s.setup(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("mdns: %s socket options: %w", network, err)
	}
	return s, nil
}

func newSock(pc net.PacketConn, v4 bool) *sock {
	s := &sock{pc: pc, v4: v4}
	if v4 {
		s.p4 = ipv4.NewPacketConn(pc)
	} else {
		s.p6 = ipv6.NewPacketConn(pc)
	}
	return s
}

func (s *sock) setup() error {
	if s.v4 {
		return errors.Join(
			s.p4.SetMulticastTTL(mdnsTTL),
			s.p4.SetTTL(mdnsTTL),
			s.p4.SetMulticastLoopback(true),
			s.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
		)
	}
	return errors.Join(
		s.p6.SetMulticastHopLimit(mdnsTTL),
		s.p6.SetHopLimit(mdnsTTL),
		s.p6.SetMulticastLoopback(true),
		s.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
	)
}

func (s *sock) join(ifi *net.Interface) error {
	if s.v4 {
		return s.p4.JoinGroup(ifi, &net.UDPAddr{IP: group4.AsSlice()})
	}
	return s.p6.JoinGroup(ifi, &net.UDPAddr{IP: group6.AsSlice()})
}

func (s *sock) setIface(ifi *net.Interface) error {
	if s.v4 {
		return s.p4.SetMulticastInterface(ifi)
	}
	return s.p6.SetMulticastInterface(ifi)
}

func (s *sock) write(b []byte, dst netip.AddrPort, ifi *net.Interface, src netip.Addr) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.pc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	ua := net.UDPAddrFromAddrPort(dst)
	var err error
	if s.v4 {
		var cm *ipv4.ControlMessage
		if ifi != nil || src.IsValid() {
			cm = &ipv4.ControlMessage{}
			if ifi != nil {
				cm.IfIndex = ifi.Index
				if dst.Addr().IsMulticast() {
					if err := s.p4.SetMulticastInterface(ifi); err != nil {
						return err
					}
				}
			}
			if src.IsValid() {
				cm.Src = src.AsSlice()
			}
		}
		_, err = s.p4.WriteTo(b, cm, ua)
	} else {
		var cm *ipv6.ControlMessage
		if ifi != nil || src.IsValid() {
			cm = &ipv6.ControlMessage{}
			if ifi != nil {
				cm.IfIndex = ifi.Index
				if dst.Addr().IsMulticast() {
					if err := s.p6.SetMulticastInterface(ifi); err != nil {
						return err
					}
				}
			}
			if src.IsValid() {
				cm.Src = src.WithZone("").AsSlice()
			}
		}
		_, err = s.p6.WriteTo(b, cm, ua)
	}
	return err
}

func (s *sock) read(b []byte) (n int, src net.Addr, dst netip.Addr, ifIndex, ttl int, err error) {
	if s.v4 {
		var cm *ipv4.ControlMessage
		n, cm, src, err = s.p4.ReadFrom(b)
		if cm != nil {
			ifIndex, ttl = cm.IfIndex, cm.TTL
			dst, _ = netip.AddrFromSlice(cm.Dst)
		}
	} else {
		var cm *ipv6.ControlMessage
		n, cm, src, err = s.p6.ReadFrom(b)
		if cm != nil {
			ifIndex, ttl = cm.IfIndex, cm.HopLimit
			dst, _ = netip.AddrFromSlice(cm.Dst)
		}
	}
	return n, src, dst.Unmap(), ifIndex, ttl, err
}

func (c *mdnsConn) iface(index int) (netutil.Iface, bool) {
	i := slices.IndexFunc(c.cfg.ifaces, func(i netutil.Iface) bool { return i.Index == index })
	if i < 0 {
		return netutil.Iface{}, false
	}
	return c.cfg.ifaces[i], true
}

// Read returns the next received datagram.
func (c *mdnsConn) Read() (inbound, error) {
	select {
	case <-c.closing:
		return inbound{}, net.ErrClosed
	default:
	}
	select {
	case p := <-c.queue:
		return p, nil
	case <-c.closing:
		return inbound{}, net.ErrClosed
	}
}

// WriteMulticast sends b to the group of each family on interface
// ifIndex, from the querier socket when there is one. It succeeds when
// one family did.
func (c *mdnsConn) WriteMulticast(b []byte, ifIndex int) error {
	ifi, ok := c.iface(ifIndex)
	if !ok {
		return fmt.Errorf("mdns: no interface %d", ifIndex)
	}
	var errs []error
	sent := 0
	for _, s := range c.shared {
		if (s.v4 && !ifi.HasIPv4()) || (!s.v4 && (!ifi.HasIPv6() || ifi.Flags&net.FlagMulticast == 0)) {
			continue
		}
		g := group6
		if s.v4 {
			g = group4
		}
		from := s
		if o := c.own[ownKey{ifIndex, s.v4}]; o != nil {
			from = o
		}
		if err := from.write(b, netip.AddrPortFrom(g, c.cfg.port), ifi.Net(), netip.Addr{}); err != nil {
			errs = append(errs, fmt.Errorf("%v on %s: %w", g, ifi.Name, err))
			continue
		}
		sent++
	}
	if sent == 0 {
		if len(errs) == 0 {
			return fmt.Errorf("mdns: no family for interface %s", ifi.Name)
		}
		return errors.Join(errs...)
	}
	return nil
}

// WriteLegacy sends b to the group of each family on interface ifIndex
// from the legacy socket of that family. It succeeds when one family did.
func (c *mdnsConn) WriteLegacy(b []byte, ifIndex int) error {
	ifi, ok := c.iface(ifIndex)
	if !ok {
		return fmt.Errorf("mdns: no interface %d", ifIndex)
	}
	var errs []error
	sent := 0
	for _, s := range c.legacy {
		if (s.v4 && !ifi.HasIPv4()) || (!s.v4 && (!ifi.HasIPv6() || ifi.Flags&net.FlagMulticast == 0)) {
			continue
		}
		g := group6
		if s.v4 {
			g = group4
		}
		if err := s.write(b, netip.AddrPortFrom(g, c.cfg.port), ifi.Net(), netip.Addr{}); err != nil {
			errs = append(errs, fmt.Errorf("%v on %s: %w", g, ifi.Name, err))
			continue
		}
		sent++
	}
	if sent == 0 {
		if len(errs) == 0 {
			return fmt.Errorf("mdns: no legacy socket for interface %s", ifi.Name)
		}
		return errors.Join(errs...)
	}
	return nil
}

// WriteTo sends b by unicast to dst.
func (c *mdnsConn) WriteTo(b []byte, dst netip.AddrPort, ifIndex int, src netip.Addr) error {
	a := dst.Addr().Unmap()
	var ifi *net.Interface
	if i, ok := c.iface(ifIndex); ok {
		ifi = i.Net()
	}
	if a.Zone() != "" {
		// Zones name our interfaces (see fixZone); the net package's
		// name lookup may be of another namespace, so pass the index.
		for _, i := range c.cfg.ifaces {
			if i.Name == a.Zone() {
				a = a.WithZone(strconv.Itoa(i.Index))
			}
		}
	}
	dst = netip.AddrPortFrom(a, dst.Port())
	v4 := a.Is4()
	s := c.own[ownKey{ifIndex, v4}]
	if s == nil || src.IsValid() {
		s = nil
		for _, x := range c.shared {
			if x.v4 == v4 {
				s = x
			}
		}
	}
	if s == nil {
		return fmt.Errorf("%w: %v", netutil.ErrNoFamily, dst)
	}
	return s.write(b, dst, ifi, src)
}

// Close closes the sockets and waits for the readers.
func (c *mdnsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		err = c.closeSockets()
		c.wg.Wait()
	})
	return err
}

func (c *mdnsConn) closeSockets() error {
	var errs []error
	for _, s := range c.sockets() {
		errs = append(errs, s.pc.Close())
	}
	return errors.Join(errs...)
}

// readLoop moves datagrams from one socket into the bounded queue; when
// the owner is behind they are dropped and counted, never blocking.
// Errors other than Close are retried with a backoff from 5 ms to 1 s.
func (c *mdnsConn) readLoop(s *sock) {
	defer c.wg.Done()
	buf := make([]byte, maxRecv)
	backoff := time.Duration(0)
	for {
		n, src, dst, ifIndex, ttl, err := s.read(buf)
		if err != nil {
			select {
			case <-c.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			c.cfg.log.Warn("mdns: read failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-c.closing:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		in := inbound{data: slices.Clone(buf[:n]), src: c.fixZone(ua.AddrPort(), ifIndex), dst: dst, ifIndex: ifIndex, ttl: ttl, legacy: s.legacy}
		select {
		case c.queue <- in:
		default:
			if d := c.dropped.Add(1); d&(d-1) == 0 {
				c.cfg.log.Warn("mdns: receive queue full, packet dropped", "dropped", d)
			}
		}
	}
}

// fixZone unmaps IPv4 and zones an IPv6 link-local source with the name
// of the interface it arrived on (from our own list, not the net
// package's process-wide cache, which may be another namespace's).
func (c *mdnsConn) fixZone(ap netip.AddrPort, ifIndex int) netip.AddrPort {
	a := ap.Addr().Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() && ifIndex > 0 {
		zone := strconv.Itoa(ifIndex)
		if i, ok := c.iface(ifIndex); ok {
			zone = i.Name
		}
		a = a.WithZone(zone)
	} else if !a.IsLinkLocalUnicast() {
		a = a.WithZone("")
	}
	return netip.AddrPortFrom(a, ap.Port())
}
