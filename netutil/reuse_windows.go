package netutil

import "syscall"

// reuseControl sets SO_REUSEADDR, which on Windows is enough for several
// sockets to bind the group port and all receive multicast.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
