package netutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// Send errors.
var (
	// ErrNoFamily is returned when there is no socket of the
	// destination's address family.
	ErrNoFamily = errors.New("netutil: no socket for this address family")
	// ErrSendBufferFull is returned (wrapped, with the system's error) for
	// a datagram dropped because the socket's send buffer was full: sends
	// never wait. The buffer fills when the link is congested or when the
	// kernel holds datagrams for destinations whose link address it is
	// still resolving (a forged source that no host holds).
	ErrSendBufferFull = errors.New("netutil: send buffer full, datagram dropped")
)

// SocketConfig configures ListenUDP. The zero value of each field but
// Network has a documented meaning.
type SocketConfig struct {
	// Network is "udp4" or "udp6". A "udp6" socket is IPv6 only.
	Network string
	// Addr is the local address and port to bind. An invalid address is
	// the wildcard; port 0 is an ephemeral port of the socket's own.
	Addr netip.AddrPort
	// Shared lets other sockets bind the same port (SO_REUSEADDR, and
	// SO_REUSEPORT where the platform needs it for multicast): multicast
	// listeners and mDNS stacks share their port. A port another program
	// holds without sharing still fails, with an error wrapping
	// syscall.EADDRINUSE.
	Shared bool
	// MulticastTTL is the IP TTL / hop limit of multicast sent; 0 means 1,
	// so nothing leaves the link. mDNS uses 255 (RFC 6762 §11).
	MulticastTTL int
	// UnicastTTL is the IP TTL / hop limit of unicast sent; 0 means the
	// system default. mDNS uses 255 (RFC 6762 §11).
	UnicastTTL int
}

// PacketInfo is what the kernel tells about a received datagram.
type PacketInfo struct {
	// Src is the sender, IPv4 unmapped. Readers of a Receiver get an IPv6
	// link-local Src zoned with the arrival interface's name.
	Src netip.AddrPort
	// Dst is the datagram's destination: a group for multicast, one of
	// our addresses for unicast; invalid when the platform cannot tell.
	Dst netip.Addr
	// IfIndex is the interface it arrived on; 0 when unknown.
	IfIndex int
	// TTL is the IP TTL / hop limit it arrived with; 0 when unknown.
	// RFC 6762 §11 checks it: 255 proves the sender is on the link.
	TTL int
}

// Multicast reports whether the datagram was sent to a group. An unknown
// destination counts as multicast, the lenient choice for checks that
// apply to unicast only.
func (p PacketInfo) Multicast() bool { return !p.Dst.IsValid() || p.Dst.IsMulticast() }

// Socket is one UDP socket of one address family with the multicast and
// per-packet options lanlobby needs: the outgoing interface and source
// address per send, group membership per interface, and the arrival
// interface, destination and TTL of every datagram received. Its methods
// are safe for concurrent use.
//
// Sockets belong to the network namespace of the thread that opened them
// (Linux); they keep working from any goroutine afterwards.
type Socket struct {
	network string
	v4      bool
	pc      net.PacketConn
	ops     familyOps
	// control is false where the platform has no per-packet control
	// messages (Windows): arrival interface, destination and TTL are
	// then unknown.
	control bool

	// sendMu keeps the outgoing multicast interface paired with the
	// write it was set for.
	sendMu sync.Mutex
}

// ListenUDP opens a socket. A port held by another program (bound
// without sharing) fails with an error that names the port and wraps
// syscall.EADDRINUSE.
func ListenUDP(cfg SocketConfig) (*Socket, error) {
	var v4 bool
	switch cfg.Network {
	case "udp4":
		v4 = true
	case "udp6":
	default:
		return nil, fmt.Errorf("netutil: network %q: want udp4 or udp6", cfg.Network)
	}
	a := cfg.Addr.Addr()
	switch {
	case !a.IsValid() && v4:
		a = netip.IPv4Unspecified()
	case !a.IsValid():
		a = netip.IPv6Unspecified()
	case a.Unmap().Is4() != v4:
		return nil, fmt.Errorf("netutil: address %v is not %s", a, cfg.Network)
	}
	if cfg.MulticastTTL == 0 {
		cfg.MulticastTTL = 1
	}
	if cfg.MulticastTTL < 0 || cfg.MulticastTTL > 255 || cfg.UnicastTTL < 0 || cfg.UnicastTTL > 255 {
		return nil, fmt.Errorf("netutil: TTL %d/%d not in 1..255", cfg.MulticastTTL, cfg.UnicastTTL)
	}
	laddr := netip.AddrPortFrom(a, cfg.Addr.Port()).String()
	lc := net.ListenConfig{}
	if cfg.Shared {
		lc.Control = reuseControl
	}
	pc, err := lc.ListenPacket(context.Background(), cfg.Network, laddr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("netutil: UDP port %d is held by another program (%s %s): %w", cfg.Addr.Port(), cfg.Network, laddr, err)
		}
		return nil, fmt.Errorf("netutil: listen %s %s: %w", cfg.Network, laddr, err)
	}
	s := &Socket{network: cfg.Network, v4: v4, pc: pc}
	if v4 {
		s.ops = newOps4(pc)
	} else {
		s.ops = newOps6(pc)
	}
	if err := s.ops.setup(cfg.MulticastTTL, cfg.UnicastTTL); err != nil {
		pc.Close()
		return nil, fmt.Errorf("netutil: %s socket options: %w", cfg.Network, err)
	}
	// Windows has no per-packet control messages: the arrival interface,
	// destination and TTL of received packets are then unknown.
	s.control = s.ops.enableControl() == nil
	return s, nil
}

// IPv4 reports whether this is an IPv4 socket.
func (s *Socket) IPv4() bool { return s.v4 }

// Network returns "udp4" or "udp6".
func (s *Socket) Network() string { return s.network }

// LocalAddr returns the bound address and port.
func (s *Socket) LocalAddr() netip.AddrPort {
	if ua, ok := s.pc.LocalAddr().(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	return netip.AddrPort{}
}

// JoinGroup joins group on interface ifi. Joining a group the socket
// already joined there is not an error.
func (s *Socket) JoinGroup(ifi Iface, group netip.Addr) error {
	err := s.ops.join(ifi.Net(), &net.UDPAddr{IP: group.AsSlice()})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil // already a member
	}
	return err
}

// LeaveGroup leaves group on interface ifi.
func (s *Socket) LeaveGroup(ifi Iface, group netip.Addr) error {
	return s.ops.leave(ifi.Net(), &net.UDPAddr{IP: group.AsSlice()})
}

// SetMulticastIface sets the interface multicast goes out on when a send
// does not name one.
func (s *Socket) SetMulticastIface(ifi Iface) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.ops.setIface(ifi.Net())
}

// WriteTo sends b to dst at once, never waiting: when the socket's send
// buffer is full the datagram is dropped and the error wraps
// ErrSendBufferFull (on platforms without a non-blocking send, Windows, a
// send that cannot go out within 20 ms is dropped alike). So a loop that
// answers never stalls, whatever the destinations do: the kernel queues
// datagrams for a neighbour it is still resolving, and a destination that
// never answers would otherwise hold the buffer, and a blocking sender,
// for seconds. ifi, when its Index is set, is the outgoing interface (also set as the multicast interface
// when dst is a group, the portable way); a valid src is the source
// address (the address a unicast query was sent to). A zoned IPv6 dst
// must carry the zone as an interface index (see Receiver, which zones
// by name, and ZoneIndex).
func (s *Socket) WriteTo(b []byte, dst netip.AddrPort, ifi Iface, src netip.Addr) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if ifi.Index > 0 && dst.Addr().IsMulticast() {
		if err := s.ops.setIface(ifi.Net()); err != nil {
			return err
		}
	}
	_, err := s.ops.writeTo(b, ifi.Index, src.WithZone(""), net.UDPAddrFromAddrPort(dst))
	return err
}

// ReadMsg blocks for the next datagram, copies it into b (truncated when
// longer) and returns its length and what the kernel says about it.
func (s *Socket) ReadMsg(b []byte) (int, PacketInfo, error) {
	n, info, err := s.ops.readFrom(b)
	if err != nil {
		return 0, PacketInfo{}, err
	}
	info.Src = netip.AddrPortFrom(info.Src.Addr().Unmap(), info.Src.Port())
	info.Dst = info.Dst.Unmap()
	return n, info, nil
}

// Close closes the socket and unblocks ReadMsg.
func (s *Socket) Close() error { return s.pc.Close() }
