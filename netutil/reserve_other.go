//go:build !linux

package netutil

import (
	"net"
	"strconv"
)

// portHold is the portable stand-in for a bound socket: the port is found
// by listening on it and closing at once, and listened on again when
// needed. Meanwhile a peer is refused, as on Linux; another program could
// take the port (then Listen fails, and a member looks for the lobby on
// the LAN instead).
type portHold struct{ port int }

func reserveTCP() (reservation, int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &portHold{port: port}, port, nil
}

func (p *portHold) listen() (net.Listener, error) {
	return net.Listen("tcp", ":"+strconv.Itoa(p.port))
}

func (p *portHold) close() error { return nil }
