package tcpconn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestBudgetEvictsHeaviestHolder: readers hold parts of long frames; a
// newcomer needs room, and the one holding the most gives it back
// (evicted), not the older, lighter ones; among equals the oldest goes;
// the budget never goes over its limit.
func TestBudgetEvictsHeaviestHolder(t *testing.T) {
	b := NewBudget(7000)
	type reader struct {
		lr      *LineReader
		w       *io.PipeWriter
		evicted chan struct{}
		done    chan error
	}
	start := func() *reader {
		pr, pw := io.Pipe()
		r := &reader{lr: newLineReaderSize(pr, 10000, 16), w: pw, evicted: make(chan struct{}), done: make(chan error, 1)}
		r.lr.withBudget(b, func() {
			close(r.evicted)
			pw.CloseWithError(ErrLineBudget)
		})
		go func() {
			_, err := r.lr.ReadLine()
			r.lr.close()
			r.done <- err
		}()
		return r
	}
	var rs []*reader
	reserved := int64(0)
	for i, n := range []int{900, 3000, 900} { // 1 KB, 4 KB and 1 KB reserved
		r := start()
		r.w.Write([]byte(strings.Repeat("a", n)))
		rs = append(rs, r)
		reserved += int64(n)
		testutil.WaitFor(t, 5*time.Second, fmt.Sprint("reservation ", i), func() bool { return b.Used() >= reserved })
	}
	if used := b.Used(); used != 6144 {
		t.Fatalf("used %d, want 6144", used)
	}
	late := start()
	go late.w.Write([]byte(strings.Repeat("b", 900) + "\n"))
	select {
	case <-rs[1].evicted:
	case <-time.After(5 * time.Second):
		t.Fatal("the heaviest holder was not evicted")
	}
	if err := <-late.done; err != nil {
		t.Fatalf("the newcomer's frame: %v", err)
	}
	if err := <-rs[1].done; !errors.Is(err, ErrLineBudget) {
		t.Fatalf("evicted reader ended with %v", err)
	}
	for _, i := range []int{0, 2} {
		select {
		case <-rs[i].evicted:
			t.Fatalf("light holder %d evicted though the heavy one was enough", i)
		default:
		}
	}
	if b.Evicted() != 1 {
		t.Fatalf("evicted %d", b.Evicted())
	}
	for _, i := range []int{0, 2} {
		rs[i].w.Close()
		<-rs[i].done
	}
	if used := b.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved after every reader ended", used)
	}
}

// TestBudgetEvictsOldestAmongEquals: readers holding as much as each other;
// the one that has held its frame the longest gives it back.
func TestBudgetEvictsOldestAmongEquals(t *testing.T) {
	b := NewBudget(3500)
	start := func() (*LineReader, *io.PipeWriter, chan struct{}, chan error) {
		pr, pw := io.Pipe()
		lr := newLineReaderSize(pr, 10000, 16)
		evicted, done := make(chan struct{}), make(chan error, 1)
		lr.withBudget(b, func() { close(evicted); pw.CloseWithError(ErrLineBudget) })
		go func() {
			_, err := lr.ReadLine()
			lr.close()
			done <- err
		}()
		return lr, pw, evicted, done
	}
	var ws []*io.PipeWriter
	var evs []chan struct{}
	var dones []chan error
	for i := 0; i < 3; i++ {
		_, w, ev, done := start()
		w.Write([]byte(strings.Repeat("a", 900))) // 1 KB reserved each
		ws, evs, dones = append(ws, w), append(evs, ev), append(dones, done)
		testutil.WaitFor(t, 5*time.Second, "reservation", func() bool { return b.Used() >= int64(1024*(i+1)) })
	}
	_, w, _, done := start()
	go w.Write([]byte(strings.Repeat("b", 900) + "\n"))
	if err := <-done; err != nil {
		t.Fatalf("the newcomer's frame: %v", err)
	}
	select {
	case <-evs[0]:
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest holder was not evicted")
	}
	for _, i := range []int{1, 2} {
		select {
		case <-evs[i]:
			t.Fatalf("holder %d evicted before the oldest was enough", i)
		default:
		}
		ws[i].Close()
		<-dones[i]
	}
	<-dones[0]
	if used := b.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved", used)
	}
}

// TestBudgetReleasedAfterEachFrame: a link that sent a long frame holds no
// budget once it is read, and a frame larger than the whole budget fails
// alone.
func TestBudgetReleasedAfterEachFrame(t *testing.T) {
	b := NewBudget(4096)
	long := strings.Repeat("x", 3000)
	lr := newLineReaderSize(strings.NewReader(long+"\nshort\n"+strings.Repeat("y", 5000)+"\n"), 10000, 16)
	lr.withBudget(b, func() {})
	line, err := lr.ReadLine()
	if err != nil || string(line) != long {
		t.Fatalf("long frame: %v", err)
	}
	if b.Used() == 0 {
		t.Fatal("the long frame reserved nothing")
	}
	if line, err = lr.ReadLine(); err != nil || string(line) != "short" || b.Used() != 0 {
		t.Fatalf("short frame %q %v, %d bytes still reserved", line, err, b.Used())
	}
	if _, err = lr.ReadLine(); !errors.Is(err, ErrLineBudget) {
		t.Fatalf("frame over the whole budget: %v", err)
	}
	lr.close()
	if b.Used() != 0 {
		t.Fatalf("%d bytes reserved after close", b.Used())
	}
}

// TestLinkEvictedByBudget: over real sockets, links stalled inside a long
// frame are closed with protocol_error once a newer link needs the budget,
// and that newer link's frame is delivered.
func TestLinkEvictedByBudget(t *testing.T) {
	b := NewBudget(64 << 10)
	var stalled []*Conn
	for i := 0; i < 2; i++ {
		s, cl := tcpPair(t)
		c := New(s, Config{ReadBuffer: 1024, LineBudget: b})
		c.Start(&recorder{})
		stalled = append(stalled, c)
		cl.Write([]byte(strings.Repeat("s", 30<<10)))
		testutil.WaitFor(t, 5*time.Second, "stalled frame reserved", func() bool { return b.Used() >= int64((i+1)*28<<10) })
	}
	s, cl := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{ReadBuffer: 1024, LineBudget: b})
	c.Start(rec)
	go cl.Write([]byte(strings.Repeat("r", 20<<10) + "\n"))
	testutil.WaitFor(t, 5*time.Second, "the newer link's frame", func() bool { return len(rec.snapshot()) == 1 })
	waitDone(t, stalled[0])
	if stalled[0].Reason() != ReasonProtocolError {
		t.Fatalf("evicted link closed with %v", stalled[0].Reason())
	}
	if used := b.Used(); used > b.Limit() {
		t.Fatalf("budget used %d over its limit %d", used, b.Limit())
	}
	for _, x := range append(stalled[1:], c) {
		x.Close(ReasonClosed)
		waitDone(t, x)
	}
	if used := b.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved after every link closed", used)
	}
}

// TestSlowConsumerPendingBytes: a peer that reads nothing while large
// frames are sent is cut once the bytes waiting pass MaxPendingBytes, long
// before the frame count would; the backlog never exceeds the bound.
func TestSlowConsumerPendingBytes(t *testing.T) {
	s, _ := tcpPair(t)
	rec := &recorder{}
	const bound = 256 << 10
	c := New(s, Config{SendQueue: 100000, MaxPendingBytes: bound, WriteTimeout: time.Minute})
	c.Start(rec)
	frame := []byte(strings.Repeat("L", 60<<10))
	var err error
	sent := 0
	for ; sent < 10000 && err == nil; sent++ {
		err = c.Send(frame)
		if p := c.PendingBytes(); p > bound {
			t.Fatalf("%d bytes pending, bound %d", p, bound)
		}
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("after %d frames: %v", sent, err)
	}
	waitDone(t, c)
	if rec.reason != ReasonSlowConsumer {
		t.Fatalf("reason %v", rec.reason)
	}
	// The socket buffers take a few MB at most on loopback: far fewer
	// frames than the count-based queue would have allowed.
	if sent > 1000 {
		t.Fatalf("cut only after %d frames of 60 KiB", sent)
	}
}

// TestPendingBytesDrain: the byte count goes back to zero once a reader
// catches up.
func TestPendingBytesDrain(t *testing.T) {
	s, cl := tcpPair(t)
	c := New(s, Config{})
	c.Start(&recorder{})
	frame := []byte(strings.Repeat("d", 32<<10))
	for i := 0; i < 64; i++ {
		if err := c.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReaderSize(cl, 64<<10)
	for i := 0; i < 64; i++ {
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadSlice('\n'); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "pending bytes back to 0", func() bool { return c.PendingBytes() == 0 })
	c.Close(ReasonClosed)
	waitDone(t, c)
}
