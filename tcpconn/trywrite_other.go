//go:build !linux

package tcpconn

import "net"

// rawWriter stands for a non-blocking writer; other systems write every
// frame through the writer goroutine (the portable path).
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter { return nil }

// writevMax bounds the chunks of one tryWritev.
const writevMax = 64

// tryWritev reports that nothing was written.
func tryWritev(*rawWriter, [][]byte) (int, error) { return 0, nil }

// tryWriteLine reports that nothing was written.
func tryWriteLine(*rawWriter, []byte, bool) (int, error) { return 0, nil }
