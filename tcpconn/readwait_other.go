//go:build !linux

package tcpconn

import "net"

// readWaiter stands for a waiter on a socket's readability; other systems
// keep each link's read buffer while it is idle.
type readWaiter struct{}

func newReadWaiter(net.Conn, *rawWriter) *readWaiter { return nil }

func (*readWaiter) wait() error { return nil }
