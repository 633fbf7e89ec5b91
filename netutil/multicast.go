package netutil

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
)

// Defaults for MulticastConfig.
const (
	// DefaultWriteTimeout bounds one send on one interface. A UDP send
	// only blocks when the socket buffer is full; the deadline keeps a
	// wedged interface from stalling the others.
	DefaultWriteTimeout = 500 * time.Millisecond
	// DefaultQueueLen is how many received packets wait for ReadFrom
	// before new ones are dropped (and counted).
	DefaultQueueLen = 64
	// maxDatagram is the read buffer size: the largest UDP payload.
	maxDatagram = 65535
)

// ErrNoFamily is returned by SendTo when the conn has no socket of the
// destination's address family.
var ErrNoFamily = errors.New("netutil: no socket for this address family")

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
	// Ifaces are the interfaces to join and send on (see Interfaces). IPv4
	// is used only on interfaces with an IPv4 address, IPv6 only on those
	// with an IPv6 address and the multicast flag (so not on Linux "lo").
	// Required.
	Ifaces []Iface
	// WriteTimeout bounds each send on each interface; 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// QueueLen is the number of received packets buffered for ReadFrom;
	// 0 means DefaultQueueLen. When it is full new packets are dropped and
	// counted (Dropped): a receive loop never blocks.
	QueueLen int
	// Logger receives warnings (failed joins, dropped packets); nil means
	// slog.Default().
	Logger *slog.Logger
}

// MulticastConn is a pair of UDP sockets (IPv4, IPv6; either may be
// absent) for one multicast group. It is safe for concurrent use.
type MulticastConn struct {
	cfg   MulticastConfig
	log   *slog.Logger
	fams  []*family
	queue chan packet

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	dropped   atomic.Uint64
}

type packet struct {
	data    []byte
	src     netip.AddrPort
	ifIndex int
}

// ListenMulticast opens the sockets, sets multicast TTL / hop limit 1 and
// loopback on (two processes on one host see each other), and with
// cfg.Join joins the groups. A family is skipped when no interface has an
// address of it; an interface whose join fails is logged and skipped; it
// fails only when nothing usable is left.
func ListenMulticast(cfg MulticastConfig) (*MulticastConn, error) {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Ifaces = slices.Clone(cfg.Ifaces)
	if len(cfg.Ifaces) == 0 {
		return nil, ErrNoInterfaces
	}
	c := &MulticastConn{
		cfg:     cfg,
		log:     cfg.Logger,
		queue:   make(chan packet, cfg.QueueLen),
		closing: make(chan struct{}),
	}
	if g := cfg.Group4; g.IsValid() && (!g.Addr().Is4() || !g.Addr().IsMulticast()) {
		return nil, fmt.Errorf("netutil: Group4 %v is not an IPv4 multicast group", g.Addr())
	}
	if g := cfg.Group6; g.IsValid() && (!g.Addr().Is6() || g.Addr().Is4In6() || !g.Addr().IsMulticast()) {
		return nil, fmt.Errorf("netutil: Group6 %v is not an IPv6 multicast group", g.Addr())
	}
	// A family that cannot be opened (IPv6 disabled in the kernel, say) is
	// skipped as long as the other one works.
	var errs []error
	for _, g := range []netip.AddrPort{cfg.Group4, cfg.Group6} {
		if !g.IsValid() {
			continue
		}
		f, err := c.openFamily(g)
		switch {
		case err != nil:
			errs = append(errs, err)
		case f != nil:
			c.fams = append(c.fams, f)
		}
	}
	if len(c.fams) == 0 {
		if len(errs) == 0 {
			return nil, ErrNoInterfaces
		}
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		c.log.Warn("netutil: address family unavailable", "err", err)
	}
	for _, f := range c.fams {
		c.wg.Add(1)
		go c.readLoop(f)
	}
	return c, nil
}

func (c *MulticastConn) openFamily(group netip.AddrPort) (*family, error) {
	v4 := group.Addr().Is4()
	var ifaces []Iface
	for _, i := range c.cfg.Ifaces {
		// IPv6 multicast also needs the multicast flag: Linux installs the
		// ff00::/8 route only on such interfaces, so on "lo" sends fail
		// with ENETUNREACH. IPv4 multicast works over "lo" regardless.
		if (v4 && i.HasIPv4()) || (!v4 && i.HasIPv6() && i.Flags&net.FlagMulticast != 0) {
			ifaces = append(ifaces, i)
		}
	}
	if len(ifaces) == 0 {
		c.log.Debug("netutil: no interface for family, skipped", "group", group)
		return nil, nil
	}
	network, laddr := "udp6", "[::]:0"
	if v4 {
		network, laddr = "udp4", "0.0.0.0:0"
	}
	lc := net.ListenConfig{}
	if c.cfg.Join {
		lc.Control = reuseControl
		laddr = net.JoinHostPort(netip.IPv6Unspecified().String(), fmt.Sprint(group.Port()))
		if v4 {
			laddr = net.JoinHostPort(netip.IPv4Unspecified().String(), fmt.Sprint(group.Port()))
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("netutil: listen %s %s: %w", network, laddr, err)
	}
	f := &family{conn: pc, group: group, ifaces: ifaces, name: network}
	if v4 {
		f.ops = newOps4(pc)
	} else {
		f.ops = newOps6(pc)
	}
	if err := f.ops.setup(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("netutil: %s socket options: %w", network, err)
	}
	if err := f.ops.enableControl(); err != nil {
		// Windows has no per-packet control messages: the interface index
		// of received packets is then unknown (0).
		c.log.Debug("netutil: no control messages", "network", network, "err", err)
	}
	if c.cfg.Join {
		joined := 0
		ga := &net.UDPAddr{IP: group.Addr().AsSlice()}
		for _, i := range ifaces {
			if err := f.ops.join(i.Net(), ga); err != nil {
				c.log.Warn("netutil: join group failed", "iface", i.Name, "group", group.Addr(), "err", err)
				continue
			}
			joined++
		}
		if joined == 0 {
			pc.Close()
			return nil, fmt.Errorf("netutil: join %v: %w", group.Addr(), ErrNoInterfaces)
		}
	}
	return f, nil
}

// ReadFrom copies the next received packet into b and returns its length,
// its source address (IPv6 link-local with the receiving interface as
// zone) and the index of the interface it arrived on (0 when the platform
// cannot tell). A packet longer than b is truncated. After Close it
// returns net.ErrClosed.
func (c *MulticastConn) ReadFrom(b []byte) (n int, src netip.AddrPort, ifIndex int, err error) {
	select {
	case <-c.closing:
		return 0, netip.AddrPort{}, 0, net.ErrClosed
	default:
	}
	select {
	case p := <-c.queue:
		return copy(b, p.data), p.src, p.ifIndex, nil
	case <-c.closing:
		return 0, netip.AddrPort{}, 0, net.ErrClosed
	}
}

// SendMulticast sends b to the group on every interface of every family,
// one interface at a time. It succeeds when at least one send did; when
// every send failed it returns the per-interface causes joined.
func (c *MulticastConn) SendMulticast(b []byte) error {
	var errs []error
	sent := 0
	for _, f := range c.fams {
		for _, i := range f.ifaces {
			if err := c.sendOn(f, b, i); err != nil {
				errs = append(errs, fmt.Errorf("%s on %s: %w", f.name, i.Name, err))
				continue
			}
			sent++
		}
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

func (c *MulticastConn) sendOn(f *family, b []byte, i Iface) error {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	if err := f.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
		return err
	}
	// The interface is set both ways: the socket option is portable, the
	// per-packet index is exact on Linux. sendMu keeps them paired.
	if err := f.ops.setIface(i.Net()); err != nil {
		return err
	}
	_, err := f.ops.writeTo(b, i.Index, &net.UDPAddr{IP: f.group.Addr().AsSlice(), Port: int(f.group.Port())})
	return err
}

// SendTo sends b by unicast to dst (typically the source of a query) from
// the socket of dst's family, so the reply comes from the port the query
// was sent to. A link-local IPv6 dst needs its zone, as ReadFrom returns it.
func (c *MulticastConn) SendTo(b []byte, dst netip.AddrPort) error {
	dst = netip.AddrPortFrom(c.zoneIndex(dst.Addr().Unmap()), dst.Port())
	i := slices.IndexFunc(c.fams, func(f *family) bool { return f.group.Addr().Is4() == dst.Addr().Is4() })
	if i < 0 {
		return fmt.Errorf("%w: %v", ErrNoFamily, dst)
	}
	f := c.fams[i]
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	if err := f.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout)); err != nil {
		return err
	}
	_, err := f.ops.writeTo(b, 0, net.UDPAddrFromAddrPort(dst))
	return err
}

// Ifaces returns the interfaces in use.
func (c *MulticastConn) Ifaces() []Iface { return slices.Clone(c.cfg.Ifaces) }

// LocalAddrs returns the bound address of each socket.
func (c *MulticastConn) LocalAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, f := range c.fams {
		if ua, ok := f.conn.LocalAddr().(*net.UDPAddr); ok {
			out = append(out, ua.AddrPort())
		}
	}
	return out
}

// Dropped returns how many received packets were dropped because
// ReadFrom did not keep up.
func (c *MulticastConn) Dropped() uint64 { return c.dropped.Load() }

// Close closes the sockets, unblocks ReadFrom and waits for the internal
// readers to exit. It is idempotent.
func (c *MulticastConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.closeErr = c.closeSockets()
		c.wg.Wait()
	})
	return c.closeErr
}

func (c *MulticastConn) closeSockets() error {
	var errs []error
	for _, f := range c.fams {
		errs = append(errs, f.conn.Close())
	}
	return errors.Join(errs...)
}

// readLoop moves packets from one socket into the bounded queue. Read
// errors other than Close are retried with a backoff from 5 ms doubling to
// 1 s, so a broken socket cannot spin.
func (c *MulticastConn) readLoop(f *family) {
	defer c.wg.Done()
	buf := make([]byte, maxDatagram)
	backoff := time.Duration(0)
	for {
		n, ifIndex, src, err := f.ops.readFrom(buf)
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
			c.log.Warn("netutil: read failed", "network", f.name, "err", err, "retry_in", backoff)
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
		p := packet{data: slices.Clone(buf[:n]), src: c.fixZone(ua.AddrPort(), ifIndex), ifIndex: ifIndex}
		select {
		case c.queue <- p:
		default:
			if d := c.dropped.Add(1); d&(d-1) == 0 { // log the 1st, 2nd, 4th, 8th... drop
				c.log.Warn("netutil: receive queue full, packet dropped", "dropped", d)
			}
		}
	}
}

// fixZone unmaps IPv4 and gives an IPv6 link-local source the name of the
// interface it arrived on, taken from the control message and our own
// interface list. The zone the net package fills in comes from a
// process-wide index-to-name cache that is refreshed from whatever network
// namespace the reading thread is in, which is wrong for sockets opened in
// another namespace (a test lab).
func (c *MulticastConn) fixZone(ap netip.AddrPort, ifIndex int) netip.AddrPort {
	a := ap.Addr().Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() && ifIndex > 0 {
		zone := strconv.Itoa(ifIndex)
		for _, i := range c.cfg.Ifaces {
			if i.Index == ifIndex {
				zone = i.Name
			}
		}
		a = a.WithZone(zone)
	}
	return netip.AddrPortFrom(a, ap.Port())
}

// zoneIndex turns a zone naming one of our interfaces into its numeric
// index, which the net package uses as is (see fixZone for why names are
// not trusted).
func (c *MulticastConn) zoneIndex(a netip.Addr) netip.Addr {
	if z := a.Zone(); z != "" {
		for _, i := range c.cfg.Ifaces {
			if i.Name == z {
				return a.WithZone(strconv.Itoa(i.Index))
			}
		}
	}
	return a
}
