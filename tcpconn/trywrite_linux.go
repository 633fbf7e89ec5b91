package tcpconn

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter writes to a link's socket without blocking. It is used with
// the link's qmu held, so its fields are reused from write to write: a
// write allocates nothing (the function handed to RawConn.Write is made
// once, at New).
type rawWriter struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // w.write, as a func value made once
	bufs [][]byte              // the call's arguments and results
	pair [2][]byte             // tryWriteLine's chunks, without an allocation
	n    int
	err  error
}

// newRawWriter returns a writer on nc's socket, or nil when nc has none
// (then every frame goes through the writer goroutine).
func newRawWriter(nc net.Conn) *rawWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.write
	return w
}

// writevMax is how many chunks one tryWritev writes at most; callers loop.
const writevMax = 64

// tryWritev writes (the first writevMax of) bufs to the socket without
// blocking: one writev(2) on the non-blocking socket, or one write(2) for
// a single chunk. It returns how many bytes went out (0 when the socket is
// full) and an error only when the link failed. Without a socket it
// reports 0 bytes, so the caller falls back to the writer goroutine.
func tryWritev(w *rawWriter, bufs [][]byte) (int, error) {
	if w == nil {
		return 0, nil
	}
	w.bufs, w.n, w.err = bufs, 0, nil
	err := w.rc.Write(w.fn)
	w.bufs = nil
	if err != nil {
		return 0, err
	}
	return w.n, w.err
}

// tryWriteLine is tryWritev of one frame and, when nl is set, the newline
// after it; nl unset means the frame ends in its own newline (one chunk,
// one write(2)). Unlike a variadic call, it allocates nothing.
func tryWriteLine(w *rawWriter, frame []byte, nl bool) (int, error) {
	if w == nil {
		return 0, nil
	}
	w.pair[0] = frame
	bufs := w.pair[:1]
	if nl {
		w.pair[1] = newline
		bufs = w.pair[:2]
	}
	n, err := tryWritev(w, bufs)
	w.pair[0] = nil // the frame is not kept alive by the writer
	return n, err
}

// write is the RawConn.Write callback: one writev(2) (write(2) for one
// chunk), never a wait for writability.
func (w *rawWriter) write(fd uintptr) bool {
	var iov [writevMax]unix.Iovec
	k := 0
	for _, b := range w.bufs {
		if len(b) == 0 {
			continue
		}
		if k == len(iov) {
			break
		}
		iov[k].Base = &b[0]
		iov[k].SetLen(len(b))
		k++
	}
	if k == 0 {
		return true
	}
	for {
		var r uintptr
		var e syscall.Errno
		if k == 1 {
			r, _, e = unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len))
		} else {
			r, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		}
		switch e {
		case 0:
			w.n = int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			w.n = 0
		default:
			w.err = e
		}
		return true
	}
}
