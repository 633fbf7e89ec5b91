//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package netutil

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets several processes on one host bind the group port.
// SO_REUSEADDR is what multicast sharing needs on Linux; SO_REUSEPORT is
// what the BSDs and macOS need. On Linux a multicast datagram is copied to
// every socket bound to the port that joined the group, while a unicast
// datagram to the shared port reaches only one of them: unicast replies
// must therefore go to a socket with a port of its own.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
