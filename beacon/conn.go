package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
)

// packetConn is the network seam: *netutil.MulticastConn in production, a
// channel-backed fake in tests.
type packetConn interface {
	// ReadFrom blocks for the next packet; after Close it returns an error.
	ReadFrom(b []byte) (n int, src netip.AddrPort, ifIndex int, err error)
	// SendMulticast sends to the group on every interface.
	SendMulticast(b []byte) error
	// SendTo sends by unicast, from the conn's own port.
	SendTo(b []byte, dst netip.AddrPort) error
	// SetIfaces changes the interfaces joined and sent on.
	SetIfaces(ifaces []netutil.Iface) error
	Close() error
}

var _ packetConn = (*netutil.MulticastConn)(nil)

// listenFunc opens a conn on the given interfaces (possibly none yet):
// with join a listener on the shared group port, without it a querier on
// a port of its own.
type listenFunc func(join bool, ifaces []netutil.Iface) (packetConn, error)

// NetConfig says where beacons travel. The zero value is the default:
// both families, default groups and port, automatic interface choice.
type NetConfig struct {
	// Port is the UDP port of the groups; 0 means DefaultPort.
	Port uint16
	// Group4 is the IPv4 group; the zero value means DefaultGroupIPv4.
	Group4 netip.Addr
	// Group6 is the IPv6 group; the zero value means DefaultGroupIPv6.
	Group6 netip.Addr
	// Network is "udp" or "" for both families, "udp4" or "udp6" for one.
	Network string
	// Interfaces chooses the interfaces (see netutil.IfaceOptions). They
	// are read when Run starts and followed while it runs: interfaces
	// and addresses that appear are used within about a second (at once
	// on Linux), those that go are left. An interface named here that does
	// not exist makes Run fail at once; one that is down or has no
	// address yet, or an automatic choice that finds nothing, is waited
	// for (see the components' Interfaces method).
	Interfaces netutil.IfaceOptions
}

// withDefaults validates n and fills in the defaults, on a copy.
func (n NetConfig) withDefaults() (NetConfig, error) {
	if n.Port == 0 {
		n.Port = DefaultPort
	}
	if !n.Group4.IsValid() {
		n.Group4 = netip.MustParseAddr(DefaultGroupIPv4)
	}
	if !n.Group6.IsValid() {
		n.Group6 = netip.MustParseAddr(DefaultGroupIPv6)
	}
	if !n.Group4.Is4() || !n.Group4.IsMulticast() {
		return n, fmt.Errorf("beacon: Group4 %v is not an IPv4 multicast group", n.Group4)
	}
	if !n.Group6.Is6() || n.Group6.Is4In6() || !n.Group6.IsMulticast() {
		return n, fmt.Errorf("beacon: Group6 %v is not an IPv6 multicast group", n.Group6)
	}
	switch n.Network {
	case "":
		n.Network = "udp"
	case "udp", "udp4", "udp6":
	default:
		return n, fmt.Errorf("beacon: Network %q: want udp, udp4 or udp6", n.Network)
	}
	return n, nil
}

// listener returns the production listenFunc; shed, when set, sheds the
// sources it reports true for while a receive queue is filling
// (netutil.ReceiverConfig.Shed).
func (n NetConfig) listener(log *slog.Logger, shed func(netip.Addr) bool) listenFunc {
	return func(join bool, ifaces []netutil.Iface) (packetConn, error) {
		cfg := netutil.MulticastConfig{Join: join, Ifaces: ifaces, Logger: log, QueueLen: RecvQueueLen, Shed: shed}
		if n.Network != "udp6" {
			cfg.Group4 = netip.AddrPortFrom(n.Group4, n.Port)
		}
		if n.Network != "udp4" {
			cfg.Group6 = netip.AddrPortFrom(n.Group6, n.Port)
		}
		return netutil.ListenMulticast(cfg)
	}
}

// tracker returns the interface tracker of a component: the production
// lookup and watcher, unless the test seams replace them.
func (n NetConfig) tracker(name string, log *slog.Logger, lookup func() (netutil.IfaceStatus, error), changes <-chan struct{}) *netutil.Tracker {
	return netutil.NewTracker(netutil.TrackerConfig{
		Options: n.Interfaces, Name: name, Logger: log, Lookup: lookup, Changes: changes,
	})
}

// received is one decoded packet with where it came from.
type received struct {
	pkt     Packet
	src     netip.AddrPort
	ifIndex int
	size    int       // the datagram's length (UDP payload)
	signed  time.Time // its signed timestamp, with a LAN key
}

// readPackets reads datagrams from c until it is closed, decodes them, and
// hands each well-formed packet, with its raw bytes and the offset of its
// extension tail (for signature checks), to handle, which must not block.
// Malformed datagrams are counted; foreign ones (no beacon magic, other
// versions) are ignored silently.
func readPackets(c packetConn, malformed *atomic.Uint64, log *slog.Logger, handle func(raw []byte, tail int, r received)) {
	buf := make([]byte, MaxPacketSize+1)
	for {
		n, src, ifIndex, err := c.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		p, tail, err := decode(buf[:n])
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				malformed.Add(1)
				log.Debug("beacon: malformed packet", "src", src, "err", err)
			}
			continue
		}
		handle(buf[:n], tail, received{pkt: p, src: src, ifIndex: ifIndex, size: n})
	}
}
