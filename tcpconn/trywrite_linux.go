package tcpconn

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tryWritev writes bufs to nc without blocking: one writev(2) on the
// non-blocking socket. It returns how many bytes went out (0 when the
// socket is full) and an error only when the link failed. Sockets it
// cannot reach raw (not a syscall.Conn) report 0 bytes, so the caller
// falls back to the writer goroutine.
func tryWritev(nc net.Conn, bufs ...[]byte) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if !errors.Is(werr, unix.EINTR) {
				return true // done either way: never wait for writability here
			}
		}
	})
	if err != nil {
		return 0, err
	}
	switch {
	case werr == nil:
		return n, nil
	case errors.Is(werr, unix.EAGAIN):
		return 0, nil
	default:
		return 0, werr
	}
}
