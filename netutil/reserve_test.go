package netutil

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestReservedPortRefusesUntilListen: a reserved port refuses connections
// at once (nothing waits in a backlog) until Listen, then accepts on IPv4
// loopback; Listen works once, and Close after it does nothing.
func TestReservedPortRefusesUntilListen(t *testing.T) {
	p, err := ReserveTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port()))
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("a reserved port accepted a connection before Listen")
	}
	ln, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().(*net.TCPAddr).Port; got != p.Port() {
		t.Fatalf("listening on port %d, reserved %d", got, p.Port())
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial after Listen: %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := p.Listen(); !errors.Is(err, ErrReservationUsed) {
		t.Fatalf("second Listen: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReservedPortClose: a port released before Listen cannot be listened
// on through the reservation.
func TestReservedPortClose(t *testing.T) {
	p, err := ReserveTCP()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Listen(); !errors.Is(err, ErrReservationUsed) {
		t.Fatalf("Listen after Close: %v", err)
	}
	p.Close()
}
