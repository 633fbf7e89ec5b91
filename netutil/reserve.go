package netutil

import (
	"errors"
	"net"
	"sync"
)

// ErrReservationUsed is returned by ReservedPort.Listen after the first
// call, and after Close.
var ErrReservationUsed = errors.New("netutil: reserved port already listened on or released")

// ReservedPort is a TCP port held for a listener that may be needed later:
// a lobby member that would take the lobby over (its successor) tells the
// coordinator in advance where it would serve, and must get that port when
// the time comes. Until Listen, the port is bound but does not listen, so
// a peer that dials it is refused at once (no connection waits in a
// backlog for a server that may never start).
type ReservedPort struct {
	port int
	mu   sync.Mutex // guards r
	r    reservation
}

// reservation is the platform's way of holding the port (reserve_*.go).
type reservation interface {
	listen() (net.Listener, error)
	close() error
}

// ReserveTCP holds a free TCP port on every address of this host (IPv4 and
// IPv6 where both work).
func ReserveTCP() (*ReservedPort, error) {
	r, port, err := reserveTCP()
	if err != nil {
		return nil, err
	}
	return &ReservedPort{port: port, r: r}, nil
}

// Port is the port held.
func (p *ReservedPort) Port() int { return p.port }

// Listen starts listening on the held port. It may be called once.
func (p *ReservedPort) Listen() (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.r == nil {
		return nil, ErrReservationUsed
	}
	r := p.r
	p.r = nil
	return r.listen()
}

// Close releases the port unless Listen took it; idempotent.
func (p *ReservedPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.r == nil {
		return nil
	}
	err := p.r.close()
	p.r = nil
	return err
}
