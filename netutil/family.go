package netutil

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// family is one socket of a MulticastConn: IPv4 or IPv6.
type family struct {
	name   string // "udp4" or "udp6", for errors and logs
	conn   net.PacketConn
	ops    familyOps
	group  netip.AddrPort
	ifaces []Iface // interfaces with an address of this family

	// sendMu guards the socket's outgoing multicast interface and write
	// deadline, which are set before each write and must stay paired
	// with it.
	sendMu sync.Mutex
}

// familyOps hides the differences between x/net/ipv4 and x/net/ipv6.
type familyOps interface {
	setup() error // multicast TTL / hop limit 1, loopback on
	enableControl() error
	join(ifi *net.Interface, group net.Addr) error
	setIface(ifi *net.Interface) error
	// writeTo sends b to dst; ifIndex > 0 pins the outgoing interface.
	writeTo(b []byte, ifIndex int, dst net.Addr) (int, error)
	readFrom(b []byte) (n, ifIndex int, src net.Addr, err error)
}

type ops4 struct{ p *ipv4.PacketConn }

func newOps4(c net.PacketConn) ops4 { return ops4{ipv4.NewPacketConn(c)} }

func (o ops4) setup() error {
	if err := o.p.SetMulticastTTL(1); err != nil {
		return err
	}
	return o.p.SetMulticastLoopback(true)
}

func (o ops4) enableControl() error {
	return o.p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
}

func (o ops4) join(ifi *net.Interface, g net.Addr) error { return o.p.JoinGroup(ifi, g) }
func (o ops4) setIface(ifi *net.Interface) error         { return o.p.SetMulticastInterface(ifi) }

func (o ops4) writeTo(b []byte, ifIndex int, dst net.Addr) (int, error) {
	var cm *ipv4.ControlMessage
	if ifIndex > 0 {
		cm = &ipv4.ControlMessage{IfIndex: ifIndex}
	}
	return o.p.WriteTo(b, cm, dst)
}

func (o ops4) readFrom(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := o.p.ReadFrom(b)
	idx := 0
	if cm != nil {
		idx = cm.IfIndex
	}
	return n, idx, src, err
}

type ops6 struct{ p *ipv6.PacketConn }

func newOps6(c net.PacketConn) ops6 { return ops6{ipv6.NewPacketConn(c)} }

func (o ops6) setup() error {
	if err := o.p.SetMulticastHopLimit(1); err != nil {
		return err
	}
	return o.p.SetMulticastLoopback(true)
}

func (o ops6) enableControl() error {
	return o.p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
}

func (o ops6) join(ifi *net.Interface, g net.Addr) error { return o.p.JoinGroup(ifi, g) }
func (o ops6) setIface(ifi *net.Interface) error         { return o.p.SetMulticastInterface(ifi) }

func (o ops6) writeTo(b []byte, ifIndex int, dst net.Addr) (int, error) {
	var cm *ipv6.ControlMessage
	if ifIndex > 0 {
		cm = &ipv6.ControlMessage{IfIndex: ifIndex}
	}
	return o.p.WriteTo(b, cm, dst)
}

func (o ops6) readFrom(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := o.p.ReadFrom(b)
	idx := 0
	if cm != nil {
		idx = cm.IfIndex
	}
	return n, idx, src, err
}
