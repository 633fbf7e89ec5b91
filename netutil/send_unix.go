//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package netutil

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// sender sends datagrams on one socket without ever waiting: one sendmsg
// with MSG_DONTWAIT, whose EAGAIN (the socket's send buffer is full, for
// instance of datagrams queued in the kernel while it resolves the link
// address of a destination that never answers) drops the datagram. A
// loop that sends is never stalled by the network.
type sender struct {
	rc syscall.RawConn
	v4 bool
}

func newSender(c net.PacketConn, v4 bool) sender {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return sender{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return sender{}
	}
	return sender{rc: rc, v4: v4}
}

// ok reports whether sendmsg can be used (a real socket, not a test stub).
func (s sender) ok() bool { return s.rc != nil }

// sendmsg sends b with the control message oob (nil for none) to dst,
// once, without blocking. A full send buffer gives an error wrapping
// ErrSendBufferFull.
func (s sender) sendmsg(b, oob []byte, dst net.Addr) error {
	ua, ok := dst.(*net.UDPAddr)
	if !ok {
		return fmt.Errorf("netutil: destination %v is not UDP", dst)
	}
	var sa unix.Sockaddr
	if s.v4 {
		a := &unix.SockaddrInet4{Port: ua.Port}
		copy(a.Addr[:], ua.IP.To4())
		sa = a
	} else {
		a := &unix.SockaddrInet6{Port: ua.Port}
		copy(a.Addr[:], ua.IP.To16())
		if ua.Zone != "" {
			if n, err := strconv.Atoi(ua.Zone); err == nil {
				a.ZoneId = uint32(n)
			} else if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
				a.ZoneId = uint32(ifi.Index)
			}
		}
		sa = a
	}
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), b, oob, sa, unix.MSG_DONTWAIT)
		return true // never wait for the socket to become writable
	})
	if err == nil {
		err = serr
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) {
		return fmt.Errorf("%w: %w", ErrSendBufferFull, err)
	}
	return err
}

// blocking runs a send through the net package; unused where sendmsg
// works (a test stub socket).
func (s sender) blocking(write func() (int, error)) (int, error) { return write() }
