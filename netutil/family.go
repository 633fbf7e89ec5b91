package netutil

import (
	"errors"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// familyOps hides the differences between x/net/ipv4 and x/net/ipv6.
type familyOps interface {
	// setup sets the multicast TTL (hop limit), the unicast one when
	// uttl > 0, and multicast loopback on (two processes on one host see
	// each other).
	setup(mttl, uttl int) error
	// enableControl asks for the arrival interface, destination and TTL
	// of every datagram.
	enableControl() error
	join(ifi *net.Interface, group net.Addr) error
	leave(ifi *net.Interface, group net.Addr) error
	setIface(ifi *net.Interface) error
	// writeTo sends b to dst without blocking (see Socket.WriteTo);
	// ifIndex > 0 pins the outgoing interface, a valid src the source
	// address.
	writeTo(b []byte, ifIndex int, src netip.Addr, dst net.Addr) (int, error)
	readFrom(b []byte) (int, PacketInfo, error)
}

type ops4 struct {
	p    *ipv4.PacketConn
	send sender
}

func newOps4(c net.PacketConn) ops4 { return ops4{ipv4.NewPacketConn(c), newSender(c, true)} }

func (o ops4) setup(mttl, uttl int) error {
	errs := []error{o.p.SetMulticastTTL(mttl), o.p.SetMulticastLoopback(true)}
	if uttl > 0 {
		errs = append(errs, o.p.SetTTL(uttl))
	}
	return errors.Join(errs...)
}

func (o ops4) enableControl() error {
	return o.p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
}

func (o ops4) join(ifi *net.Interface, g net.Addr) error  { return o.p.JoinGroup(ifi, g) }
func (o ops4) leave(ifi *net.Interface, g net.Addr) error { return o.p.LeaveGroup(ifi, g) }
func (o ops4) setIface(ifi *net.Interface) error          { return o.p.SetMulticastInterface(ifi) }

func (o ops4) writeTo(b []byte, ifIndex int, src netip.Addr, dst net.Addr) (int, error) {
	var cm *ipv4.ControlMessage
	if ifIndex > 0 || src.IsValid() {
		cm = &ipv4.ControlMessage{IfIndex: ifIndex}
		if src.IsValid() {
			cm.Src = src.AsSlice()
		}
	}
	if o.send.ok() {
		return len(b), o.send.sendmsg(b, cm.Marshal(), dst)
	}
	return o.send.blocking(func() (int, error) { return o.p.WriteTo(b, cm, dst) })
}

func (o ops4) readFrom(b []byte) (int, PacketInfo, error) {
	n, cm, src, err := o.p.ReadFrom(b)
	return n, info(src, cm != nil, func() (net.IP, int, int) { return cm.Dst, cm.IfIndex, cm.TTL }), err
}

type ops6 struct {
	p    *ipv6.PacketConn
	send sender
}

func newOps6(c net.PacketConn) ops6 { return ops6{ipv6.NewPacketConn(c), newSender(c, false)} }

func (o ops6) setup(mttl, uttl int) error {
	errs := []error{o.p.SetMulticastHopLimit(mttl), o.p.SetMulticastLoopback(true)}
	if uttl > 0 {
		errs = append(errs, o.p.SetHopLimit(uttl))
	}
	return errors.Join(errs...)
}

func (o ops6) enableControl() error {
	return o.p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
}

func (o ops6) join(ifi *net.Interface, g net.Addr) error  { return o.p.JoinGroup(ifi, g) }
func (o ops6) leave(ifi *net.Interface, g net.Addr) error { return o.p.LeaveGroup(ifi, g) }
func (o ops6) setIface(ifi *net.Interface) error          { return o.p.SetMulticastInterface(ifi) }

func (o ops6) writeTo(b []byte, ifIndex int, src netip.Addr, dst net.Addr) (int, error) {
	var cm *ipv6.ControlMessage
	if ifIndex > 0 || src.IsValid() {
		cm = &ipv6.ControlMessage{IfIndex: ifIndex}
		if src.IsValid() {
			cm.Src = src.AsSlice()
		}
	}
	if o.send.ok() {
		return len(b), o.send.sendmsg(b, cm.Marshal(), dst)
	}
	return o.send.blocking(func() (int, error) { return o.p.WriteTo(b, cm, dst) })
}

func (o ops6) readFrom(b []byte) (int, PacketInfo, error) {
	n, cm, src, err := o.p.ReadFrom(b)
	return n, info(src, cm != nil, func() (net.IP, int, int) { return cm.Dst, cm.IfIndex, cm.HopLimit }), err
}

// info builds a PacketInfo from a source address and, when hasCM, the
// control message's fields.
func info(src net.Addr, hasCM bool, cm func() (dst net.IP, ifIndex, ttl int)) PacketInfo {
	var p PacketInfo
	if ua, ok := src.(*net.UDPAddr); ok {
		p.Src = ua.AddrPort()
	}
	if hasCM {
		dst, idx, ttl := cm()
		p.Dst, _ = netip.AddrFromSlice(dst)
		p.IfIndex, p.TTL = idx, ttl
	}
	return p
}
