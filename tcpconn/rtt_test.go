package tcpconn

import (
	"net"
	"testing"
	"time"
)

// TestPongRTT: the answer to the ping sent is measured once; an answer to
// an older ping, a duplicate, or one before any ping is not.
func TestPongRTT(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := New(a, Config{})
	if _, ok := c.PongRTT(1); ok {
		t.Fatal("RTT measured before any ping")
	}
	c.notePing(7, monoNow())
	time.Sleep(2 * time.Millisecond) // a measurable round trip; not a timing assertion
	if _, ok := c.PongRTT(6); ok {
		t.Fatal("answer to an older ping measured")
	}
	d, ok := c.PongRTT(7)
	if !ok || d < 2*time.Millisecond || c.RTT() != d {
		t.Fatalf("rtt %v %v, RTT() %v", d, ok, c.RTT())
	}
	if _, ok := c.PongRTT(7); ok || c.RTT() != d {
		t.Fatal("a duplicate answer measured again")
	}
}
