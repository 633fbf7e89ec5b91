package netutil

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// MulticastConfig configures ListenMulticast. The caller's struct is
// copied, never modified.
type MulticastConfig struct {
	// Group4 is the IPv4 group and port. The zero value means no IPv4
	// socket.
	Group4 netip.AddrPort
	// Group6 is the IPv6 group and port; its scope should be link-local
	// (ffx2::/16). The zero value means no IPv6 socket.
	Group6 netip.AddrPort
	// Join makes a listener: the sockets bind the group port (shared with
	// other processes) and join the group on every interface. Without
	// Join the sockets bind an ephemeral port of their own: a querier that
	// sends to the group and gets unicast replies, which a shared port
	// would deliver to only one of the processes sharing it.
	Join bool
	// Ifaces are the interfaces to join and send on at first (see
	// Interfaces; SetIfaces changes them). IPv4 is used only on
	// interfaces with an IPv4 address, IPv6 only on those with an IPv6
	// address and the multicast flag (so not on Linux "lo"). It may be
	// empty: the sockets are open, and nothing is sent until interfaces
	// are set.
	Ifaces []Iface
	// QueueLen is the number of received packets buffered for ReadFrom;
	// 0 means DefaultQueueLen. When it (or DefaultQueueBytes) is full new
	// packets are dropped and counted (Dropped): a receive loop never
	// blocks.
	QueueLen int
	// Logger receives warnings (failed joins, dropped packets); nil means
	// slog.Default().
	Logger *slog.Logger
	// Shed is the receive queue's (see ReceiverConfig.Shed).
	Shed func(src netip.Addr) bool
}

// MulticastConn is a pair of UDP sockets (IPv4, IPv6; either may be
// absent) for one multicast group, with TTL / hop limit 1 so nothing
// leaves the link. Its interfaces may change while it is open
// (SetIfaces). It is safe for concurrent use.
type MulticastConn struct {
	cfg  MulticastConfig
	log  *slog.Logger
	fams []*family
	rx   *Receiver

	ifacesMu sync.Mutex // guards ifaces and every family's ifaces
	ifaces   []Iface
}

// family is one socket of a MulticastConn: IPv4 or IPv6.
type family struct {
	sock   *Socket
	group  netip.AddrPort
	ifaces []Iface // the conn's interfaces that carry this family
}

// ListenMulticast opens the sockets, sets multicast TTL / hop limit 1 and
// loopback on (two processes on one host see each other), and with
// cfg.Join joins the groups on cfg.Ifaces. A family whose socket cannot
// be opened (IPv6 disabled in the kernel, say) is skipped while the other
// one works, except that a group port held by another program always
// fails, with an error that names the port and wraps syscall.EADDRINUSE:
// never half a listener. A failed join is logged; the interface may
// become usable later (SetIfaces joins again).
func ListenMulticast(cfg MulticastConfig) (*MulticastConn, error) {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if g := cfg.Group4; g.IsValid() && (!g.Addr().Is4() || !g.Addr().IsMulticast()) {
		return nil, fmt.Errorf("netutil: Group4 %v is not an IPv4 multicast group", g.Addr())
	}
	if g := cfg.Group6; g.IsValid() && (!g.Addr().Is6() || g.Addr().Is4In6() || !g.Addr().IsMulticast()) {
		return nil, fmt.Errorf("netutil: Group6 %v is not an IPv6 multicast group", g.Addr())
	}
	ifaces := slices.Clone(cfg.Ifaces)
	cfg.Ifaces = nil
	c := &MulticastConn{
		cfg: cfg,
		log: cfg.Logger,
		rx:  NewReceiver(ReceiverConfig{QueueLen: cfg.QueueLen, Logger: cfg.Logger, Shed: cfg.Shed}),
	}
	var errs []error
	for _, g := range []netip.AddrPort{cfg.Group4, cfg.Group6} {
		if !g.IsValid() {
			continue
		}
		s, err := c.openFamily(g)
		if errors.Is(err, syscall.EADDRINUSE) {
			c.rx.Close()
			return nil, err
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.fams = append(c.fams, &family{sock: s, group: g})
		c.rx.Add(s)
	}
	if len(c.fams) == 0 {
		c.rx.Close()
		if len(errs) == 0 {
			return nil, errors.New("netutil: no group configured")
		}
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		c.log.Warn("netutil: address family unavailable", "err", err)
	}
	c.SetIfaces(ifaces)
	return c, nil
}

func (c *MulticastConn) openFamily(group netip.AddrPort) (*Socket, error) {
	network := "udp6"
	if group.Addr().Is4() {
		network = "udp4"
	}
	cfg := SocketConfig{Network: network}
	if c.cfg.Join {
		cfg.Shared = true
		cfg.Addr = netip.AddrPortFrom(netip.Addr{}, group.Port())
	}
	return ListenUDP(cfg)
}

// SetIfaces changes the interfaces: a listener joins the group on new
// ones and leaves it on those gone; sends go to the new set. It returns
// the joins that failed (logged too); the interfaces stay in use for
// sending.
func (c *MulticastConn) SetIfaces(ifaces []Iface) error {
	ifaces = slices.Clone(ifaces)
	c.rx.SetIfaces(ifaces)
	c.ifacesMu.Lock()
	defer c.ifacesMu.Unlock()
	var errs []error
	for _, f := range c.fams {
		v4 := f.group.Addr().Is4()
		var now []Iface
		for _, i := range ifaces {
			if i.CarriesMulticast(v4) {
				now = append(now, i)
			}
		}
		if c.cfg.Join {
			for _, old := range f.ifaces {
				if !slices.ContainsFunc(now, func(i Iface) bool { return i.Index == old.Index }) {
					if err := f.sock.LeaveGroup(old, f.group.Addr()); err != nil {
						c.log.Debug("netutil: leave group failed", "iface", old.Name, "group", f.group.Addr(), "err", err)
					}
				}
			}
			for _, i := range now {
				// Joined again also where it was: a join that failed
				// before (no address yet) may work now; joining twice
				// is not an error.
				if err := f.sock.JoinGroup(i, f.group.Addr()); err != nil {
					c.log.Warn("netutil: join group failed", "iface", i.Name, "group", f.group.Addr(), "err", err)
					errs = append(errs, fmt.Errorf("join %v on %s: %w", f.group.Addr(), i.Name, err))
				}
			}
		}
		f.ifaces = now
	}
	c.ifaces = ifaces
	return errors.Join(errs...)
}

// ReadFrom copies the next received packet into b and returns its length,
// its source address (IPv6 link-local with the receiving interface as
// zone) and the index of the interface it arrived on (0 when the platform
// cannot tell). A packet longer than b is truncated. After Close it
// returns net.ErrClosed.
func (c *MulticastConn) ReadFrom(b []byte) (n int, src netip.AddrPort, ifIndex int, err error) {
	p, err := c.rx.Read()
	if err != nil {
		return 0, netip.AddrPort{}, 0, err
	}
	return copy(b, p.Data), p.Src, p.IfIndex, nil
}

// SendMulticast sends b to the group on every interface of every family,
// one interface at a time, never waiting (see Socket.WriteTo). It succeeds when at least one send did; when
// every send failed it returns the per-interface causes joined, and
// ErrNoInterfaces when there was no interface to send on.
func (c *MulticastConn) SendMulticast(b []byte) error {
	c.ifacesMu.Lock()
	type dest struct {
		f *family
		i Iface
	}
	var dests []dest
	for _, f := range c.fams {
		for _, i := range f.ifaces {
			dests = append(dests, dest{f, i})
		}
	}
	c.ifacesMu.Unlock()
	var errs []error
	sent := 0
	for _, d := range dests {
		if err := d.f.sock.WriteTo(b, d.f.group, d.i, netip.Addr{}); err != nil {
			errs = append(errs, fmt.Errorf("%s on %s: %w", d.f.sock.Network(), d.i.Name, err))
			continue
		}
		sent++
	}
	if sent == 0 {
		if len(errs) == 0 {
			return ErrNoInterfaces
		}
		return errors.Join(errs...)
	}
	if len(errs) > 0 {
		c.log.Debug("netutil: multicast send failed on some interfaces", "err", errors.Join(errs...))
	}
	return nil
}

// SendTo sends b by unicast to dst (typically the source of a query) from
// the socket of dst's family, so the reply comes from the port the query
// was sent to. It never waits (see Socket.WriteTo). A link-local IPv6 dst needs its zone, as ReadFrom returns it.
func (c *MulticastConn) SendTo(b []byte, dst netip.AddrPort) error {
	a := dst.Addr().Unmap()
	c.ifacesMu.Lock()
	a = ZoneIndex(a, c.ifaces)
	c.ifacesMu.Unlock()
	i := slices.IndexFunc(c.fams, func(f *family) bool { return f.group.Addr().Is4() == a.Is4() })
	if i < 0 {
		return fmt.Errorf("%w: %v", ErrNoFamily, dst)
	}
	return c.fams[i].sock.WriteTo(b, netip.AddrPortFrom(a, dst.Port()), Iface{}, netip.Addr{})
}

// Ifaces returns the interfaces in use.
func (c *MulticastConn) Ifaces() []Iface {
	c.ifacesMu.Lock()
	defer c.ifacesMu.Unlock()
	return slices.Clone(c.ifaces)
}

// LocalAddrs returns the bound address of each socket.
func (c *MulticastConn) LocalAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, f := range c.fams {
		out = append(out, f.sock.LocalAddr())
	}
	return out
}

// Dropped returns how many received packets were dropped because
// ReadFrom did not keep up.
func (c *MulticastConn) Dropped() uint64 { return c.rx.Dropped() }

// Close closes the sockets, unblocks ReadFrom and waits for the internal
// readers to exit. It is idempotent.
func (c *MulticastConn) Close() error { return c.rx.Close() }
