package mdns

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/lanlobby/lanlobby/netutil"
)

// The mDNS groups and port (RFC 6762 §3).
const (
	Port = 5353
	// connQueueLen bounds received packets waiting for the owner's loop.
	connQueueLen = 256
	// maxRecv is the read buffer: RFC 6762 §17 allows 9000-byte packets;
	// anything longer is cut and then fails to parse.
	maxRecv = 9000
	// mdnsTTL is the IP TTL / hop limit of everything we send (RFC 6762
	// §11), multicast and unicast.
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
	// SetIfaces changes the interfaces: groups are joined on new ones
	// and left on those gone, per-interface sockets follow.
	SetIfaces(ifaces []netutil.Iface) error
	Close() error
}

// listenFunc opens a packetConn on the interfaces (possibly none yet).
// querier asks for the browser's extra sockets (see connConfig.querier).
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

// mdnsConn is the production packetConn, on netutil's sockets: a wildcard
// socket per family on port 5353 shared with other mDNS stacks
// (SO_REUSEADDR and SO_REUSEPORT, like net.ListenMulticastUDP, which
// avahi-daemon tolerates), joined to the groups on every interface, TTL /
// hop limit 255, multicast loopback on (other stacks on this host must
// see us), with the arrival interface, destination and TTL of every
// datagram; for a browser also the querier and legacy sockets. One
// netutil.Receiver reads them all.
type mdnsConn struct {
	cfg    connConfig
	rx     *netutil.Receiver
	shared []*netutil.Socket // wildcard sockets, one per family
	legacy []*netutil.Socket // querier: ephemeral-port sockets, one per family

	ifacesMu sync.Mutex // guards ifaces, joined and own
	ifaces   []netutil.Iface
	joined   map[ownKey]netutil.Iface // shared sockets' memberships
	own      map[ownKey]*ownSock      // querier sockets by interface and family
}

type ownKey struct {
	ifIndex int
	v4      bool
}

// ownSock is a querier socket and the address it is bound to.
type ownSock struct {
	s    *netutil.Socket
	addr netip.Addr
}

var _ packetConn = (*mdnsConn)(nil)

// openConn opens the sockets and joins the groups on cfg.ifaces. A family
// that cannot be opened (IPv6 disabled in the kernel) is skipped while
// the other works; port 5353 held by another program without sharing
// fails at once, with an error wrapping EADDRINUSE that names the port.
func openConn(cfg connConfig) (*mdnsConn, error) {
	if cfg.port == 0 {
		cfg.port = Port
	}
	c := &mdnsConn{
		cfg:    cfg,
		rx:     netutil.NewReceiver(netutil.ReceiverConfig{QueueLen: connQueueLen, MaxDatagram: maxRecv, Logger: cfg.log}),
		joined: make(map[ownKey]netutil.Iface),
		own:    make(map[ownKey]*ownSock),
	}
	var errs []error
	for _, network := range []string{"udp4", "udp6"} {
		s, err := netutil.ListenUDP(c.socketConfig(network, netip.AddrPortFrom(netip.Addr{}, cfg.port), true))
		if errors.Is(err, syscall.EADDRINUSE) {
			c.rx.Close()
			return nil, fmt.Errorf("mdns: %w", err)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.shared = append(c.shared, s)
		c.rx.Add(s)
		if !cfg.querier {
			continue
		}
		// An ephemeral port without SO_REUSEADDR or SO_REUSEPORT: the
		// port and the unicast answers to it are this process's alone. It
		// joins no group; multicast loopback stays on, so that a responder
		// on this host hears the queries too.
		l, err := netutil.ListenUDP(c.socketConfig(network, netip.AddrPort{}, false))
		if err != nil {
			// The QU path still works; other browsers on this host may
			// then take the unicast answers to our first query.
			cfg.log.Debug("mdns: no legacy query socket", "err", err)
			continue
		}
		c.legacy = append(c.legacy, l)
		c.rx.Add(l)
	}
	if len(c.shared) == 0 {
		c.rx.Close()
		return nil, fmt.Errorf("mdns: %w", errors.Join(errs...))
	}
	for _, err := range errs {
		cfg.log.Warn("mdns: address family unavailable", "err", err)
	}
	c.SetIfaces(cfg.ifaces)
	return c, nil
}

func (c *mdnsConn) socketConfig(network string, addr netip.AddrPort, shared bool) netutil.SocketConfig {
	return netutil.SocketConfig{
		Network: network, Addr: addr, Shared: shared,
		MulticastTTL: mdnsTTL, UnicastTTL: mdnsTTL,
	}
}

// SetIfaces joins the groups on new interfaces and leaves them on those
// gone; a querier's per-interface sockets are opened, moved to a new
// address or closed to match. It returns the joins that failed (logged
// too). On Linux, call it on a thread of the sockets' network namespace:
// it may open sockets.
func (c *mdnsConn) SetIfaces(ifaces []netutil.Iface) error {
	ifaces = slices.Clone(ifaces)
	c.rx.SetIfaces(ifaces)
	c.ifacesMu.Lock()
	defer c.ifacesMu.Unlock()
	c.ifaces = ifaces
	want := map[ownKey]netutil.Iface{}
	for _, i := range ifaces {
		for _, v4 := range []bool{true, false} {
			if i.CarriesMulticast(v4) {
				want[ownKey{i.Index, v4}] = i
			}
		}
	}
	var errs []error
	for _, s := range c.shared {
		g := groupOf(s.IPv4())
		for k, old := range c.joined {
			if _, ok := want[k]; !ok && k.v4 == s.IPv4() {
				// Fails when the interface is gone: nothing to leave.
				s.LeaveGroup(old, g)
				delete(c.joined, k)
			}
		}
		for k, i := range want {
			if k.v4 != s.IPv4() {
				continue
			}
			// Joined again where it was: joining twice is no error, and
			// a join that failed before may work now.
			if err := s.JoinGroup(i, g); err != nil {
				c.cfg.log.Warn("mdns: join group failed", "iface", i.Name, "group", g, "err", err)
				errs = append(errs, fmt.Errorf("join %v on %s: %w", g, i.Name, err))
				continue
			}
			c.joined[k] = i
		}
	}
	if c.cfg.querier {
		c.syncOwnLocked(want)
	}
	return errors.Join(errs...)
}

// syncOwnLocked keeps one querier socket per interface and family, bound
// to the interface's first address of the family (IPv6: link-local
// first, zoned by index, since the net package's name-to-index cache may
// belong to another namespace).
func (c *mdnsConn) syncOwnLocked(want map[ownKey]netutil.Iface) {
	for k, o := range c.own {
		i, ok := want[k]
		if ok && ownAddr(i, k.v4) == o.addr {
			continue
		}
		c.rx.Remove(o.s)
		delete(c.own, k)
	}
	for k, i := range want {
		if c.own[k] != nil || !slices.ContainsFunc(c.shared, func(s *netutil.Socket) bool { return s.IPv4() == k.v4 }) {
			continue
		}
		a := ownAddr(i, k.v4)
		network := "udp6"
		if k.v4 {
			network = "udp4"
		}
		s, err := netutil.ListenUDP(c.socketConfig(network, netip.AddrPortFrom(a, c.cfg.port), true))
		if err == nil {
			if err = s.SetMulticastIface(i); err != nil {
				s.Close()
			}
		}
		if err != nil {
			// The shared socket still sends; unicast answers may then
			// reach another process sharing the port.
			c.cfg.log.Debug("mdns: no querier socket", "iface", i.Name, "err", err)
			continue
		}
		c.own[k] = &ownSock{s: s, addr: a}
		c.rx.Add(s)
	}
}

// ownAddr is the address a querier socket binds on interface i.
func ownAddr(i netutil.Iface, v4 bool) netip.Addr {
	if v4 {
		return i.IPv4()[0]
	}
	v6 := i.IPv6()
	for _, x := range v6 {
		if x.IsLinkLocalUnicast() {
			return x.WithZone(strconv.Itoa(i.Index))
		}
	}
	return v6[0]
}

func groupOf(v4 bool) netip.Addr {
	if v4 {
		return group4
	}
	return group6
}

func (c *mdnsConn) iface(index int) (netutil.Iface, bool) {
	c.ifacesMu.Lock()
	defer c.ifacesMu.Unlock()
	i := slices.IndexFunc(c.ifaces, func(i netutil.Iface) bool { return i.Index == index })
	if i < 0 {
		return netutil.Iface{}, false
	}
	return c.ifaces[i], true
}

// Read returns the next received datagram.
func (c *mdnsConn) Read() (inbound, error) {
	p, err := c.rx.Read()
	if err != nil {
		return inbound{}, err
	}
	return inbound{
		data: p.Data, src: p.Src, dst: p.Dst, ifIndex: p.IfIndex, ttl: p.TTL,
		legacy: slices.Contains(c.legacy, p.Socket),
	}, nil
}

// WriteMulticast sends b to the group of each family on interface
// ifIndex, from the querier socket when there is one. It succeeds when
// one family did.
func (c *mdnsConn) WriteMulticast(b []byte, ifIndex int) error {
	return c.writeGroups(b, ifIndex, c.shared, true)
}

// WriteLegacy sends b to the group of each family on interface ifIndex
// from the legacy socket of that family. It succeeds when one family did.
func (c *mdnsConn) WriteLegacy(b []byte, ifIndex int) error {
	return c.writeGroups(b, ifIndex, c.legacy, false)
}

func (c *mdnsConn) writeGroups(b []byte, ifIndex int, socks []*netutil.Socket, preferOwn bool) error {
	ifi, ok := c.iface(ifIndex)
	if !ok {
		return fmt.Errorf("mdns: no interface %d", ifIndex)
	}
	var errs []error
	sent := 0
	for _, s := range socks {
		if !ifi.CarriesMulticast(s.IPv4()) {
			continue
		}
		from := s
		if preferOwn {
			c.ifacesMu.Lock()
			if o := c.own[ownKey{ifIndex, s.IPv4()}]; o != nil {
				from = o.s
			}
			c.ifacesMu.Unlock()
		}
		g := groupOf(s.IPv4())
		if err := from.WriteTo(b, netip.AddrPortFrom(g, c.cfg.port), ifi, netip.Addr{}); err != nil {
			errs = append(errs, fmt.Errorf("%v on %s: %w", g, ifi.Name, err))
			continue
		}
		sent++
	}
	if sent == 0 {
		if len(errs) == 0 {
			return fmt.Errorf("mdns: no socket for interface %s", ifi.Name)
		}
		return errors.Join(errs...)
	}
	return nil
}

// WriteTo sends b by unicast to dst.
func (c *mdnsConn) WriteTo(b []byte, dst netip.AddrPort, ifIndex int, src netip.Addr) error {
	ifi, _ := c.iface(ifIndex)
	c.ifacesMu.Lock()
	// Zones name our interfaces (see netutil.Receiver); the net package's
	// name lookup may be of another namespace, so pass the index.
	a := netutil.ZoneIndex(dst.Addr().Unmap(), c.ifaces)
	var s *netutil.Socket
	if o := c.own[ownKey{ifIndex, a.Is4()}]; o != nil && !src.IsValid() {
		s = o.s
	}
	c.ifacesMu.Unlock()
	if s == nil {
		for _, x := range c.shared {
			if x.IPv4() == a.Is4() {
				s = x
			}
		}
	}
	if s == nil {
		return fmt.Errorf("%w: %v", netutil.ErrNoFamily, dst)
	}
	return s.WriteTo(b, netip.AddrPortFrom(a, dst.Port()), ifi, src)
}

// Close closes the sockets and waits for the readers.
func (c *mdnsConn) Close() error { return c.rx.Close() }
