//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package netutil

import (
	"errors"
	"net"
	"os"
	"time"
)

// fallbackSendTimeout bounds one send where the platform offers no
// non-blocking send through the net package (Windows): a send that cannot
// go out within it is dropped, as a full buffer is elsewhere.
const fallbackSendTimeout = 20 * time.Millisecond

// sender sends through the net package with a short write deadline.
type sender struct{ pc net.PacketConn }

func newSender(c net.PacketConn, _ bool) sender { return sender{pc: c} }

func (s sender) ok() bool { return false }

func (s sender) sendmsg([]byte, []byte, net.Addr) error { return errors.ErrUnsupported }

// blocking runs write within fallbackSendTimeout; a timeout is a full
// buffer.
func (s sender) blocking(write func() (int, error)) (int, error) {
	if s.pc != nil {
		if err := s.pc.SetWriteDeadline(time.Now().Add(fallbackSendTimeout)); err != nil {
			return 0, err
		}
	}
	n, err := write()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errors.Join(ErrSendBufferFull, err)
	}
	return n, err
}
