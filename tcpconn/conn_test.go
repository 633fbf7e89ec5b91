package tcpconn

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	reason CloseReason
	err    error
	onLine func(string) error
}

func (r *recorder) HandleLine(line []byte) error {
	r.mu.Lock()
	r.lines = append(r.lines, string(line))
	f := r.onLine
	r.mu.Unlock()
	if f != nil {
		return f(string(line))
	}
	return nil
}

func (r *recorder) HandleClose(reason CloseReason, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reason, r.err = reason, err
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func waitDone(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("link did not finish closing")
	}
}

func TestSendAndReceive(t *testing.T) {
	s, cl := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{})
	c.Start(rec)
	for i := 0; i < 100; i++ {
		if err := c.Send([]byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(cl)
	for i := 0; i < 100; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("{\"n\":%d}\n", i) {
			t.Fatalf("frame %d = %q, %v", i, line, err)
		}
	}
	fmt.Fprintf(cl, "one\n\ntwo\r\n")
	testutil.WaitFor(t, 2*time.Second, "two frames", func() bool { return len(rec.snapshot()) == 2 })
	if got := rec.snapshot(); got[0] != "one" || got[1] != "two" {
		t.Fatalf("got %q", got)
	}
	cl.Close()
	waitDone(t, c)
	if rec.reason != ReasonDisconnected {
		t.Fatalf("reason = %v, want disconnected", rec.reason)
	}
}

func TestEOFNoticedAtOnce(t *testing.T) {
	s, cl := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{PingInterval: time.Hour, IdleTimeout: time.Hour, Ping: func(uint64) []byte { return []byte("p") }})
	c.Start(rec)
	start := time.Now()
	cl.Close()
	waitDone(t, c)
	if rec.reason != ReasonDisconnected {
		t.Fatalf("reason = %v", rec.reason)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("EOF noticed after %v", d)
	}
}

func TestOversizedLineIsProtocolError(t *testing.T) {
	s, cl := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{MaxLineLength: 32})
	c.Start(rec)
	fmt.Fprintf(cl, "ok\n%s\nnever\n", strings.Repeat("a", 33))
	waitDone(t, c)
	if rec.reason != ReasonProtocolError {
		t.Fatalf("reason = %v", rec.reason)
	}
	if got := rec.snapshot(); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("frames = %q", got)
	}
}

func TestHandlerErrorClosesWithProtocolError(t *testing.T) {
	s, cl := tcpPair(t)
	rec := &recorder{onLine: func(l string) error {
		if l == "bad" {
			return fmt.Errorf("bad frame")
		}
		return nil
	}}
	c := New(s, Config{})
	c.Start(rec)
	fmt.Fprintf(cl, "good\nbad\n")
	waitDone(t, c)
	if rec.reason != ReasonProtocolError || rec.err == nil {
		t.Fatalf("reason = %v err = %v", rec.reason, rec.err)
	}
}

// TestHeartbeatDropsSilentPeer: a peer that never answers is dropped with
// ReasonTimeout within interval × (misses + 1).
func TestHeartbeatDropsSilentPeer(t *testing.T) {
	s, cl := tcpPair(t)
	const interval, misses = 20 * time.Millisecond, 3
	rec := &recorder{}
	c := New(s, Config{PingInterval: interval, IdleTimeout: misses * interval,
		Ping: func(seq uint64) []byte { return []byte(fmt.Sprintf(`{"event":"ping","seq":%d}`, seq)) }})
	start := time.Now()
	c.Start(rec)
	// The peer reads (so pings flow) but never answers.
	go func() {
		br := bufio.NewReader(cl)
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	waitDone(t, c)
	elapsed := time.Since(start)
	if rec.reason != ReasonTimeout {
		t.Fatalf("reason = %v", rec.reason)
	}
	if elapsed < misses*interval {
		t.Fatalf("dropped after %v, before %v of silence", elapsed, misses*interval)
	}
	// Generous bound for a loaded CI machine; the exact bound is (misses+1)×interval
	// plus scheduling delay.
	if elapsed > (misses+1)*interval+500*time.Millisecond {
		t.Fatalf("dropped after %v, want about %v", elapsed, (misses+1)*interval)
	}
}

// TestHeartbeatKeepsAnsweringPeer: a peer that answers every ping stays up
// well past the silence limit, and its RTT is measured.
func TestHeartbeatKeepsAnsweringPeer(t *testing.T) {
	s, cl := tcpPair(t)
	const interval = 10 * time.Millisecond
	var c *Conn
	rec := &recorder{}
	rec.onLine = func(l string) error {
		var seq uint64
		if _, err := fmt.Sscanf(l, "pong %d", &seq); err == nil {
			c.Pong(seq)
		}
		return nil
	}
	c = New(s, Config{PingInterval: interval, IdleTimeout: 3 * interval,
		Ping: func(seq uint64) []byte { return []byte(fmt.Sprintf("ping %d", seq)) }})
	c.Start(rec)
	pings := 0
	br := bufio.NewReader(cl)
	for pings < 15 { // 150 ms: five times the silence limit
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("link dropped after %d pings: %v (reason %v)", pings, err, c.Reason())
		}
		var seq uint64
		if _, err := fmt.Sscanf(line, "ping %d", &seq); err != nil {
			t.Fatalf("unexpected frame %q", line)
		}
		fmt.Fprintf(cl, "pong %d\n", seq)
		pings++
	}
	if c.Reason() != ReasonNone {
		t.Fatalf("closed: %v", c.Reason())
	}
	testutil.WaitFor(t, time.Second, "rtt", func() bool { return c.RTT() > 0 })
	c.Close(ReasonClosed)
	waitDone(t, c)
	if rec.reason != ReasonClosed {
		t.Fatalf("reason = %v", rec.reason)
	}
}

// TestSlowConsumerQueueFull: a peer that never reads is cut when the queue
// fills, and Send never blocks meanwhile.
func TestSlowConsumerQueueFull(t *testing.T) {
	s, _ := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{SendQueue: 8, WriteTimeout: 50 * time.Millisecond})
	c.Start(rec)
	frame := []byte(strings.Repeat("n", 4096))
	start := time.Now()
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = c.Send(frame)
	}
	if err == nil {
		t.Fatal("peer that never reads was never cut")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send blocked for %v", d)
	}
	waitDone(t, c)
	if rec.reason != ReasonSlowConsumer {
		t.Fatalf("reason = %v", rec.reason)
	}
}

// TestSlowConsumerDoesNotSlowOthers: one stuck peer and one healthy peer fed
// from the same sender loop; the healthy one gets every frame.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	stuckSrv, _ := tcpPair(t)
	okSrv, okCl := tcpPair(t)
	stuck := New(stuckSrv, Config{SendQueue: 16, WriteTimeout: 20 * time.Millisecond})
	ok := New(okSrv, Config{SendQueue: 16, WriteTimeout: 20 * time.Millisecond})
	stuck.Start(&recorder{})
	ok.Start(&recorder{})
	const n = 2000
	got := make(chan int, 1)
	go func() {
		br := bufio.NewReader(okCl)
		count := 0
		for count < n {
			if _, err := br.ReadString('\n'); err != nil {
				break
			}
			count++
		}
		got <- count
	}()
	frame := []byte(strings.Repeat("m", 2048))
	for i := 0; i < n; i++ {
		stuck.Send(frame)
		if err := ok.Send(frame); err != nil {
			// The healthy reader keeps up; give it a moment if the queue is full.
			t.Fatalf("healthy link cut at frame %d: %v", i, err)
		}
		if i%8 == 7 {
			testutil.WaitFor(t, 2*time.Second, "healthy queue drain", func() bool { return ok.Queued() < 8 })
		}
	}
	if c := <-got; c != n {
		t.Fatalf("healthy peer got %d of %d", c, n)
	}
	waitDone(t, stuck)
	if stuck.Reason() != ReasonSlowConsumer {
		t.Fatalf("stuck reason = %v", stuck.Reason())
	}
	ok.Close(ReasonClosed)
	waitDone(t, ok)
}

func TestCloseAfterFlushDeliversQueued(t *testing.T) {
	s, cl := tcpPair(t)
	rec := &recorder{}
	c := New(s, Config{})
	c.Start(rec)
	c.Send([]byte("last words"))
	c.CloseAfterFlush(ReasonProtocolError)
	br := bufio.NewReader(cl)
	line, err := br.ReadString('\n')
	if err != nil || line != "last words\n" {
		t.Fatalf("got %q %v", line, err)
	}
	waitDone(t, c)
	if rec.reason != ReasonProtocolError {
		t.Fatalf("reason = %v", rec.reason)
	}
	if err := c.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close = %v", err)
	}
}

func TestCloseReasonNames(t *testing.T) {
	want := map[CloseReason]string{ReasonTimeout: "timeout", ReasonDisconnected: "disconnected",
		ReasonSlowConsumer: "slow_consumer", ReasonProtocolError: "protocol_error", ReasonShutdown: "shutdown",
		ReasonClosed: "closed", CloseReason(200): "unknown"}
	for r, name := range want {
		if r.String() != name {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), name)
		}
	}
}

// TestSharedHeartbeat: one Heartbeat drives many links: answering links
// stay, a silent one is closed with ReasonTimeout within idle + interval,
// pings of one round share a sequence number, and Close stops it.
func TestSharedHeartbeat(t *testing.T) {
	const interval = 20 * time.Millisecond
	hb := NewHeartbeat(interval, 3*interval, func(seq uint64) []byte { return []byte(fmt.Sprintf("ping %d", seq)) })
	defer hb.Close()
	type link struct {
		c    *Conn
		peer net.Conn
		rec  *recorder
	}
	var links []link
	for i := 0; i < 10; i++ {
		s, cl := tcpPair(t)
		var c *Conn
		rec := &recorder{}
		rec.onLine = func(l string) error {
			var seq uint64
			if _, err := fmt.Sscanf(l, "pong %d", &seq); err == nil {
				c.Pong(seq)
			}
			return nil
		}
		c = New(s, Config{Heartbeat: hb})
		c.Start(rec)
		links = append(links, link{c, cl, rec})
	}
	// Links 1..9 answer every ping; link 0 never does.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, l := range links[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(l.peer)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				var seq uint64
				fmt.Sscanf(line, "ping %d", &seq)
				fmt.Fprintf(l.peer, "pong %d\n", seq)
			}
		}()
	}
	start := time.Now()
	waitDone(t, links[0].c)
	if d := time.Since(start); links[0].rec.reason != ReasonTimeout || d > 3*interval+interval+500*time.Millisecond {
		t.Fatalf("silent link: reason %v after %v", links[0].rec.reason, d)
	}
	time.Sleep(6 * interval) // several more rounds: the answering links must survive them
	for i, l := range links[1:] {
		if r := l.c.Reason(); r != ReasonNone {
			t.Fatalf("answering link %d closed: %v", i+1, r)
		}
		if l.c.RTT() <= 0 {
			t.Fatalf("answering link %d: no RTT", i+1)
		}
	}
	close(stop)
	for _, l := range links[1:] {
		l.c.Close(ReasonClosed)
		l.peer.Close()
		waitDone(t, l.c)
	}
	wg.Wait()
}
