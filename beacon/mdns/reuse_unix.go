//go:build unix

package mdns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets this process share port 5353 with other mDNS stacks
// (avahi-daemon, mDNSResponder, other lanlobby processes): SO_REUSEADDR is
// what Linux needs for multicast sharing and what avahi-daemon itself
// sets; SO_REUSEPORT is what macOS and the BSDs need. Linux copies a
// multicast datagram to every socket that joined; a unicast datagram
// reaches only one socket (see connConfig.querier).
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
