//go:build !linux

package tcpconn

import "net"

// tryWritev reports that nothing was written, so every frame goes through
// the writer goroutine (the portable path).
func tryWritev(net.Conn, ...[]byte) (int, error) { return 0, nil }
