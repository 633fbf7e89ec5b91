package tcpconn

import (
	"bufio"
	"fmt"
	"testing"
	"time"
)

// Frames sent to a corked link wait in its queue, in order, until Uncork
// writes them all; the frames of other senders meanwhile keep their place.
func TestCorkHoldsFramesUntilUncork(t *testing.T) {
	srv, cli := tcpPair(t)
	c := New(srv, Config{})
	c.Start(&recorder{})
	defer c.Close(ReasonClosed)
	c.Cork()
	c.Cork() // nested: only the last Uncork writes
	for i := range 5 {
		if err := c.Send([]byte(fmt.Sprintf("frame %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if q := c.Queued(); q != 5 {
		t.Fatalf("corked link has %d frames queued, want 5", q)
	}
	c.Uncork()
	if q := c.Queued(); q != 5 {
		t.Fatalf("after the inner Uncork %d frames queued, want 5", q)
	}
	c.Uncork()
	br := bufio.NewReader(cli)
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 5 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("frame %d\n", i); line != want {
			t.Fatalf("line %d: %q, want %q", i, line, want)
		}
	}
	if q, p := c.Queued(), c.PendingBytes(); q != 0 || p != 0 {
		t.Fatalf("after Uncork: %d frames, %d bytes still queued", q, p)
	}
	// Uncorked, Send writes at once again.
	if err := c.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "after\n" {
		t.Fatalf("after uncork: %q %v", line, err)
	}
}

// A link closed after a flush while corked still delivers what was queued.
func TestCloseAfterFlushWhileCorked(t *testing.T) {
	srv, cli := tcpPair(t)
	c := New(srv, Config{})
	rec := &recorder{}
	c.Start(rec)
	c.Cork()
	c.Send([]byte("last words"))
	c.CloseAfterFlush(ReasonProtocolError)
	c.Uncork()
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(cli)
	if line, err := br.ReadString('\n'); err != nil || line != "last words\n" {
		t.Fatalf("read %q %v, want the queued frame", line, err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("link not closed after its flush")
	}
	if c.Reason() != ReasonProtocolError {
		t.Fatalf("reason %v, want protocol_error", c.Reason())
	}
}

// The queue's bounds hold while corked: a sender that piles up frames on a
// corked link cuts it as a slow consumer.
func TestCorkKeepsTheQueueBound(t *testing.T) {
	srv, _ := tcpPair(t)
	c := New(srv, Config{SendQueue: 4})
	c.Start(&recorder{})
	defer c.Close(ReasonClosed)
	c.Cork()
	defer c.Uncork()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.Send([]byte("x"))
	}
	if err != ErrSlowConsumer {
		t.Fatalf("Send on an overfull corked link: %v, want ErrSlowConsumer", err)
	}
	if c.Reason() != ReasonSlowConsumer {
		t.Fatalf("reason %v, want slow_consumer", c.Reason())
	}
}
