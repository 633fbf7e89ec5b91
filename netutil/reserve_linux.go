package netutil

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// reserveBacklog is the listen backlog of a reserved port once it
// listens: a lobby's members arrive at once.
const reserveBacklog = 128

// boundSocket is a TCP socket bound to a port and not listening.
type boundSocket struct{ fd int }

// reserveTCP binds a dual-stack IPv6 socket to [::]:0 (an IPv4 one to
// 0.0.0.0:0 where IPv6 is off) without listening.
func reserveTCP() (reservation, int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	var sa unix.Sockaddr = &unix.SockaddrInet6{}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, 0, fmt.Errorf("netutil: reserve a TCP port: %w", err)
		}
		sa = &unix.SockaddrInet4{}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("netutil: reserve a TCP port: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("netutil: reserve a TCP port: %w", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("netutil: reserve a TCP port: %w", err)
	}
	port := 0
	switch a := got.(type) {
	case *unix.SockaddrInet6:
		port = a.Port
	case *unix.SockaddrInet4:
		port = a.Port
	}
	return &boundSocket{fd: fd}, port, nil
}

func (b *boundSocket) listen() (net.Listener, error) {
	if err := unix.Listen(b.fd, reserveBacklog); err != nil {
		unix.Close(b.fd)
		return nil, fmt.Errorf("netutil: listen on the reserved port: %w", err)
	}
	f := os.NewFile(uintptr(b.fd), "reserved-tcp")
	defer f.Close() // FileListener holds its own copy of the descriptor
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("netutil: listen on the reserved port: %w", err)
	}
	return ln, nil
}

func (b *boundSocket) close() error { return unix.Close(b.fd) }
