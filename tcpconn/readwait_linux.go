package tcpconn

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readWaiter waits until a socket has something to read (data, its end,
// an error) without reading it and without a buffer: an idle link parks
// here instead of in a Read that holds its read buffer.
type readWaiter struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // w.ready, made once
	calls int
	peek  [1]byte
}

// newReadWaiter returns a waiter on nc's socket (sharing raw's RawConn
// when there is one), or nil when nc has none.
func newReadWaiter(nc net.Conn, raw *rawWriter) *readWaiter {
	var rc syscall.RawConn
	if raw != nil {
		rc = raw.rc
	} else {
		sc, ok := nc.(syscall.Conn)
		if !ok {
			return nil
		}
		var err error
		if rc, err = sc.SyscallConn(); err != nil {
			return nil
		}
	}
	w := &readWaiter{rc: rc}
	w.fn = w.ready
	return w
}

// wait returns once the socket is readable, or the error that ends the
// wait (closed, deadline).
func (w *readWaiter) wait() error {
	w.calls = 0
	return w.rc.Read(w.fn)
}

// ready is the RawConn.Read callback. The first call peeks at one byte
// without waiting: nothing there (EAGAIN) makes the runtime wait for
// readability and call again, and that second call says ready without
// another system call. The peek before the wait is what makes the wait
// safe with edge-triggered polling: data that arrives after it wakes the
// wait. So an idle link costs the same two system calls per message as a
// blocking read (the peek stands in for the read that would find nothing).
func (w *readWaiter) ready(fd uintptr) bool {
	w.calls++
	if w.calls > 1 {
		return true
	}
	for {
		_, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&w.peek[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			return true // data, the end of the stream, or an error the read will report
		}
	}
}
