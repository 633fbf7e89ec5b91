package tcpconn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	cl.Close()
	waitDone(t, c) // within 5 s, where the idle timeout would take an hour
	if rec.reason != ReasonDisconnected {
		t.Fatalf("reason = %v", rec.reason)
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

// Heartbeat settings for tests: a second of silence drops a link, and a
// peer that answers may answer up to a second late (less one interval)
// before it counts as silent, which a loaded two-core machine honours.
const (
	testInterval = 50 * time.Millisecond
	testIdle     = time.Second
	testMisses   = int(testIdle / testInterval)
)

// TestHeartbeatDropsSilentPeer: a peer that falls silent is dropped with
// ReasonTimeout after IdleTimeout of silence and within misses + 1 ticks.
// Both bounds are what a busy scheduler cannot break: the drop comes no
// earlier than the configured silence, and the link sends at most
// misses + 1 pings after the last frame it read (timers run late, never
// early, so each tick is at least an interval after the one before).
func TestHeartbeatDropsSilentPeer(t *testing.T) {
	t.Parallel()
	s, cl := tcpPair(t)
	var pings, pingsAtLastWord atomic.Int64
	rec := &recorder{onLine: func(string) error {
		pingsAtLastWord.Store(pings.Load()) // after the link noted the read
		return nil
	}}
	c := New(s, Config{PingInterval: testInterval, IdleTimeout: testIdle,
		Ping: func(seq uint64) []byte {
			pings.Add(1)
			return []byte(fmt.Sprintf(`{"event":"ping","seq":%d}`, seq))
		}})
	c.Start(rec)
	// The peer reads (so pings flow) and says one thing, then nothing more.
	go func() {
		br := bufio.NewReader(cl)
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	lastWord := time.Now()
	fmt.Fprintf(cl, "last words\n")
	waitDone(t, c)
	elapsed := time.Since(lastWord)
	after := pings.Load() - pingsAtLastWord.Load()
	t.Logf("dropped %v after the last word, %d pings meanwhile (idle %v, interval %v)", elapsed, after, testIdle, testInterval)
	if rec.reason != ReasonTimeout {
		t.Fatalf("reason = %v", rec.reason)
	}
	if len(rec.snapshot()) != 1 {
		t.Fatalf("frames read: %q", rec.snapshot())
	}
	if elapsed < testIdle {
		t.Fatalf("dropped after %v, before %v of silence", elapsed, testIdle)
	}
	if after > int64(testMisses+1) {
		t.Fatalf("%d pings after the last word; within (misses+1) intervals allows %d", after, testMisses+1)
	}
}

// TestHeartbeatKeepsAnsweringPeer: a peer that answers every ping stays up
// past twice the silence limit, and its RTT is measured.
func TestHeartbeatKeepsAnsweringPeer(t *testing.T) {
	t.Parallel()
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
	c = New(s, Config{PingInterval: testInterval, IdleTimeout: testIdle,
		Ping: func(seq uint64) []byte { return []byte(fmt.Sprintf("ping %d", seq)) }})
	c.Start(rec)
	pings := 0
	br := bufio.NewReader(cl)
	// Ticks come at least an interval apart: 2 × misses pings span at least
	// twice the silence limit, on a busy machine longer.
	for pings < 2*testMisses {
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
	testutil.WaitFor(t, 5*time.Second, "rtt", func() bool { return c.RTT() > 0 })
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
	// The same limits for both; the write timeout is what a healthy reader
	// on a busy machine always stays within.
	cfg := Config{SendQueue: 16, WriteTimeout: time.Second}
	stuck := New(stuckSrv, cfg)
	ok := New(okSrv, cfg)
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
			testutil.WaitFor(t, 5*time.Second, "healthy queue drain", func() bool { return ok.Queued() < 8 })
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
// stay, a silent one is closed with ReasonTimeout after the idle limit and
// within misses + 1 rounds, pings of one round share a sequence number,
// and Close stops it.
func TestSharedHeartbeat(t *testing.T) {
	t.Parallel()
	var round atomic.Uint64 // the latest round the heartbeat began
	hb := NewHeartbeat(testInterval, testIdle, func(seq uint64) []byte {
		round.Store(seq)
		return []byte(fmt.Sprintf("ping %d", seq))
	})
	defer hb.Close()
	type link struct {
		c    *Conn
		peer net.Conn
		rec  *recorder
	}
	var links []link
	var lastWordRound atomic.Uint64 // the round when link 0 read its last frame
	for i := 0; i < 10; i++ {
		s, cl := tcpPair(t)
		var c *Conn
		rec := &recorder{}
		rec.onLine = func(l string) error {
			var seq uint64
			if _, err := fmt.Sscanf(l, "pong %d", &seq); err == nil {
				c.Pong(seq)
			}
			if i == 0 {
				lastWordRound.Store(round.Load())
			}
			return nil
		}
		c = New(s, Config{Heartbeat: hb})
		c.Start(rec)
		links = append(links, link{c, cl, rec})
	}
	// Links 1..9 answer every ping; link 0 says one thing and then nothing,
	// but keeps reading: it counts the pings of rounds after its last word.
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
	var seqs []uint64
	silentDone := make(chan struct{})
	go func() {
		defer close(silentDone)
		br := bufio.NewReader(links[0].peer)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			var seq uint64
			fmt.Sscanf(line, "ping %d", &seq)
			seqs = append(seqs, seq)
		}
	}()
	lastWord := time.Now()
	fmt.Fprintf(links[0].peer, "last words\n")
	waitDone(t, links[0].c)
	elapsed := time.Since(lastWord)
	<-silentDone
	later := 0 // pings of rounds that began after the last word was read
	for _, seq := range seqs {
		if seq > lastWordRound.Load() {
			later++
		}
	}
	t.Logf("silent link closed %v after its last word; %d pings of later rounds", elapsed, later)
	if links[0].rec.reason != ReasonTimeout || elapsed < testIdle || later > testMisses+1 {
		t.Fatalf("silent link: reason %v after %v (idle %v), %d pings of later rounds (at most %d)",
			links[0].rec.reason, elapsed, testIdle, later, testMisses+1)
	}
	// Several more rounds: the answering links must survive them.
	closedAt := round.Load()
	testutil.WaitFor(t, 10*time.Second, "three more rounds", func() bool { return round.Load() >= closedAt+3 })
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

// TestHeartbeatPingsQuietLinksOnly: a link that read within the last half
// interval and wrote within the last interval is not pinged (its traffic
// shows both ends alive); a link that only read, or only wrote, or read
// longer ago, is; and with an idle limit under two
// intervals (misses = 1) every link is pinged, or the drop bound would not
// hold. The slots are served by the test, not by the clock.
// (The write-only link's last read is set 1.5 intervals back: a new link
// counts its start as a read.)
func TestHeartbeatPingsQuietLinksOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		idle     time.Duration
		skipBusy bool
	}{{"idle 3 intervals", 3 * time.Hour, true}, {"idle 1.9 intervals", 114 * time.Minute, false}} {
		t.Run(tc.name, func(t *testing.T) {
			hb := NewHeartbeat(time.Hour, tc.idle, nil) // no tick comes: serveSlot below is the heartbeat
			defer hb.Close()
			type link struct {
				c    *Conn
				cl   net.Conn
				peer *bufio.Reader
				read chan struct{}
			}
			mk := func() link {
				s, cl := tcpPair(t)
				read := make(chan struct{}, 1)
				c := New(s, Config{Heartbeat: hb})
				c.Start(&recorder{onLine: func(string) error { read <- struct{}{}; return nil }})
				t.Cleanup(func() { c.Close(ReasonClosed); <-c.Done() })
				return link{c, cl, bufio.NewReader(cl), read}
			}
			busy, readOnly, wroteOnly := mk(), mk(), mk()
			// busy and readOnly hear from their peers; busy and wroteOnly send.
			for _, l := range []link{busy, readOnly} {
				l.cl.Write([]byte("hello\n"))
				<-l.read
			}
			for _, l := range []link{busy, wroteOnly} {
				l.c.Send([]byte("reply"))
				if line, _ := l.peer.ReadString('\n'); line != "reply\n" {
					t.Fatalf("peer read %q", line)
				}
			}
			wroteOnly.c.lastRead.Store(monoNow() - int64(90*time.Minute))
			// One that read, but over half an interval ago (the last pong
			// of a link that hears only pongs) and wrote since, is pinged.
			halfQuiet := mk()
			halfQuiet.cl.Write([]byte("pong\n"))
			<-halfQuiet.read
			halfQuiet.c.lastRead.Store(monoNow() - int64(40*time.Minute))
			halfQuiet.c.Send([]byte("notice"))
			if line, _ := halfQuiet.peer.ReadString('\n'); line != "notice\n" {
				t.Fatalf("peer read %q", line)
			}
			line := []byte("ping 1\n")
			var due []*Conn
			for slot := range hb.wheel {
				due = hb.serveSlot(slot, 1, line, due)
			}
			for name, l := range map[string]link{"busy": busy, "read only": readOnly, "wrote only": wroteOnly, "read half an interval ago": halfQuiet} {
				l.c.Send([]byte("marker"))
				first, err := l.peer.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				pinged := first == "ping 1\n"
				if want := name != "busy" || !tc.skipBusy; pinged != want {
					t.Errorf("%s link: first line %q, pinged %v, want %v", name, first, pinged, want)
				}
			}
		})
	}
}

// TestIdleReadBufferRelease: a link that gives its read buffer back while
// idle still reads every frame in order: frames pipelined in one write,
// a frame split over writes, one longer than the buffer (assembled under
// the line budget), and the end of the stream; and it parks without its
// buffer, which the next frame takes from the pool again.
func TestIdleReadBufferRelease(t *testing.T) {
	t.Parallel()
	s, cl := tcpPair(t)
	got := make(chan string, 16)
	rec := &recorder{onLine: func(l string) error { got <- l; return nil }}
	c := New(s, Config{ReadBuffer: 64, ReleaseIdleReadBuffer: true, LineBudget: NewBudget(1 << 20)})
	c.Start(rec)
	long := strings.Repeat("x", 1000)
	want := []string{"a", "b", "c", "split", long, "after"}
	next := func() string {
		select {
		case l := <-got:
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no frame")
			return ""
		}
	}
	expect := func(w string) {
		t.Helper()
		if l := next(); l != w {
			t.Fatalf("read %.40q, want %.40q", l, w)
		}
	}
	io.WriteString(cl, "a\nb\nc\n")
	expect(want[0])
	expect(want[1])
	expect(want[2])
	io.WriteString(cl, "spl")
	time.Sleep(time.Millisecond) // two segments, most likely; either way the frame must come whole
	io.WriteString(cl, "it\n")
	expect(want[3])
	for i := 0; i < len(long); i += 300 {
		io.WriteString(cl, long[i:min(i+300, len(long))])
	}
	io.WriteString(cl, "\nafter\n")
	expect(want[4])
	expect(want[5])
	cl.Close()
	waitDone(t, c)
	if rec.reason != ReasonDisconnected {
		t.Fatalf("reason %v", rec.reason)
	}
}

// TestSilenceCountsFromCreation: a new link's silence is counted from its
// creation, not from some older moment, so that a heartbeat that checks it
// before its reader has run does not drop it.
func TestSilenceCountsFromCreation(t *testing.T) {
	t.Parallel()
	s, _ := tcpPair(t)
	hb := NewHeartbeat(time.Hour, time.Hour, nil)
	defer hb.Close()
	before := monoNow()
	c := New(s, Config{Heartbeat: hb})
	if got := c.lastRead.Load(); got < before {
		t.Fatalf("a new link's last read is %v before its creation", time.Duration(before-got))
	}
	hb.add(c) // in the wheel, its reader not started: as Start can leave it
	for slot := range hb.wheel {
		hb.serveSlot(slot, 1, nil, nil)
	}
	if r := c.Reason(); r != ReasonNone {
		t.Fatalf("a link checked before its reader ran was closed: %v", r)
	}
	hb.remove(c)
	s.Close()
}
