package tcpconn

import (
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left zero.
const (
	// DefaultSendQueue is how many frames may wait for the writer before the
	// peer is cut as a slow consumer.
	DefaultSendQueue = 1024
	// DefaultMaxPendingBytes is how many bytes may wait for the writer
	// before the peer is cut as a slow consumer: a count of frames alone
	// lets a few large ones pile up megabytes.
	DefaultMaxPendingBytes = 1 << 20
	// DefaultWriteTimeout is how long one flush to the socket may block
	// before the peer is cut as a slow consumer.
	DefaultWriteTimeout = 2 * time.Second
	// DefaultHeartbeatInterval is the coordinator's ping period.
	DefaultHeartbeatInterval = time.Second
	// DefaultHeartbeatMisses is how many ping periods of silence drop a peer.
	DefaultHeartbeatMisses = 3
)

// CloseReason says why a link closed. Its String form is the wire name used
// in member_left notices (PROTOCOL.md).
type CloseReason uint8

// Close reasons. ReasonNone is the zero value and never reported.
const (
	ReasonNone          CloseReason = iota
	ReasonClosed                    // closed locally by Close
	ReasonDisconnected              // the peer closed or reset the connection
	ReasonTimeout                   // the peer was silent past the heartbeat limit
	ReasonSlowConsumer              // the peer did not read fast enough
	ReasonProtocolError             // the peer broke the framing or protocol
	ReasonShutdown                  // the local side is shutting down
)

var reasonNames = [...]string{
	ReasonNone:          "none",
	ReasonClosed:        "closed",
	ReasonDisconnected:  "disconnected",
	ReasonTimeout:       "timeout",
	ReasonSlowConsumer:  "slow_consumer",
	ReasonProtocolError: "protocol_error",
	ReasonShutdown:      "shutdown",
}

func (r CloseReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Errors reported by Send and as close causes.
var (
	ErrClosed       = errors.New("tcpconn: connection closed")
	ErrSlowConsumer = errors.New("tcpconn: peer is not reading (send queue full or write blocked)")
	ErrTimeout      = errors.New("tcpconn: peer silent past the heartbeat limit")
)

// Config tunes a link. Zero fields take the documented defaults.
type Config struct {
	// MaxLineLength is the largest inbound frame in bytes (default
	// DefaultMaxLineLength). A longer one closes the link with
	// ReasonProtocolError.
	MaxLineLength int
	// SendQueue is the outbound queue length in frames (default
	// DefaultSendQueue). Send on a full queue closes the link with
	// ReasonSlowConsumer instead of blocking the sender.
	SendQueue int
	// MaxPendingBytes bounds the outbound queue in bytes as well (default
	// DefaultMaxPendingBytes; it should exceed the largest frame sent). Send
	// past it closes the link with ReasonSlowConsumer.
	MaxPendingBytes int
	// LineBudget, when set, is shared by many links and bounds the memory
	// they spend together on inbound frames still being assembled (see
	// Budget).
	LineBudget *Budget
	// WriteTimeout bounds each flush to the socket (default
	// DefaultWriteTimeout); past it the link closes with ReasonSlowConsumer.
	WriteTimeout time.Duration
	// PingInterval is how often Ping frames are sent; zero sends none.
	PingInterval time.Duration
	// Ping builds the ping frame for a sequence number. Required when
	// PingInterval is set.
	Ping func(seq uint64) []byte
	// TooLongReply, when set, builds a last frame sent to a peer whose
	// frame exceeded MaxLineLength, before the link closes.
	TooLongReply func() []byte
	// Heartbeat, when set, drives the pings and silence checks of this link
	// together with many others from one goroutine (see Heartbeat); then
	// PingInterval, Ping and IdleTimeout are the Heartbeat's.
	Heartbeat *Heartbeat
	// ReadBuffer is the read buffer in bytes (default 4096); longer frames
	// are assembled in a buffer that grows as needed. A coordinator with
	// many mostly idle links uses a small one.
	ReadBuffer int
	// ReleaseIdleReadBuffer makes the link give its read buffer to a pool
	// shared by all links whenever it has read everything that arrived,
	// and take one back when more comes (on Linux; elsewhere it keeps
	// it). For a coordinator holding thousands of mostly idle links: the
	// buffers in use are those of the links reading at that moment.
	ReleaseIdleReadBuffer bool
	// IdleTimeout closes the link with ReasonTimeout when nothing at all was
	// read for this long; zero disables it. The check runs every
	// PingInterval, or every IdleTimeout/4 when no pings are sent, so a silent
	// peer is dropped within IdleTimeout plus one check period.
	IdleTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxLineLength <= 0 {
		c.MaxLineLength = DefaultMaxLineLength
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// Handler receives a link's inbound frames and its end.
type Handler interface {
	// HandleLine is called on the link's reader goroutine for each non-empty
	// frame, in order. line is valid only during the call. A non-nil error
	// closes the link with ReasonProtocolError.
	HandleLine(line []byte) error
	// HandleClose is called exactly once, after the link is closed and its
	// writer has stopped, with the first reason that closed it.
	HandleClose(reason CloseReason, err error)
}

// Conn is one framed, persistent link. Create it with New, wire up whatever
// needs the *Conn, then call Start. All methods are safe for concurrent use.
type Conn struct {
	nc  net.Conn
	cfg Config

	closing chan struct{} // closed when the link starts closing
	done    chan struct{} // closed after HandleClose returned

	closeOnce sync.Once
	reason    atomic.Uint32
	closeErr  atomic.Pointer[error]

	lastRead atomic.Int64 // monoNow of the last frame read
	// wroteAt is the Heartbeat's clock when Send last wrote to the link
	// (its own pings do not count): a link that both read and wrote
	// within the last interval needs no ping.
	wroteAt atomic.Int64
	idle    atomic.Int64 // IdleTimeout in nanoseconds; see SetIdleTimeout

	pingMu     sync.Mutex // guards the fields below and the timer
	pingSeq    uint64
	pingSentAt time.Duration
	timer      *time.Timer
	rtt        atomic.Int64 // nanoseconds; 0 until the first pong

	// Outbound: a frame is written at once, from the sender's goroutine,
	// when nothing is queued and the socket takes it without blocking (the
	// common case, with no goroutine hand-off at all). Otherwise it joins a
	// queue that a writer goroutine, started for the occasion, drains with
	// blocking writes under the write timeout, then exits. An idle link
	// holds no writer goroutine and almost no buffer.
	qmu        sync.Mutex // guards the fields below, and serialises writes
	queue      [][]byte   // chunks to write in order: frames and newlines
	pending    int        // bytes in queue and in the writer's batch
	writing    bool       // a writer goroutine owns the socket's writes
	flushClose bool       // CloseAfterFlush: close once the queue is drained
	corked     int        // Cork depth: frames wait in the queue until Uncork
	writers    sync.WaitGroup
	raw        *rawWriter // non-blocking writes to the socket; nil: none

	// The link's place in its Heartbeat's wheel; guarded by the
	// Heartbeat's mu.
	heartSlot, heartIdx int
	heartState          uint8 // heartNone, heartIn, heartOut
}

// epoch is the base of the links' monotonic timestamps (monoNow): one for
// all, so that the heartbeat reads the clock once per slot, not per link.
var epoch = time.Now()

// monoNow is the monotonic time in nanoseconds since epoch.
func monoNow() int64 { return int64(time.Since(epoch)) }

// newline is shared by every frame's iovec list.
var newline = []byte{'\n'}

// New wraps nc. Nothing runs until Start.
func New(nc net.Conn, cfg Config) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		nc:      nc,
		cfg:     cfg,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	c.idle.Store(int64(cfg.IdleTimeout))
	// Silence counts from the link's creation: a Heartbeat may check it
	// before its reader has started.
	c.lastRead.Store(monoNow())
	c.wroteAt.Store(math.MinInt64 / 2) // never
	c.raw = newRawWriter(nc)
	return c
}

// Start launches the reader goroutine and the heartbeat. h gets every frame
// and, once, the close.
func (c *Conn) Start(h Handler) {
	go func() {
		c.readLoop(h)
		// A sender that saw the link open may be starting a writer right
		// now; after this barrier none can, and Wait covers them all.
		c.qmu.Lock()
		c.qmu.Unlock()
		c.writers.Wait()
		c.stopTimer()
		reason := CloseReason(c.reason.Load())
		var err error
		if p := c.closeErr.Load(); p != nil {
			err = *p
		}
		h.HandleClose(reason, err)
		close(c.done)
	}()
	if c.cfg.Heartbeat != nil {
		c.cfg.Heartbeat.add(c)
		return
	}
	if c.cfg.PingInterval > 0 || c.idle.Load() > 0 {
		// Jitter the first tick so links accepted together do not ping together.
		first := c.checkPeriod()
		first = first/2 + rand.N(first/2+1)
		c.pingMu.Lock()
		c.timer = time.AfterFunc(first, c.tick)
		c.pingMu.Unlock()
	}
}

// nextCheck is when tick runs next: after a check period, or sooner when
// the idle timeout falls due before, so that a silent peer is dropped at
// the idle timeout rather than up to a period later (a client must learn
// within the protocol's bound that its coordinator is gone).
func (c *Conn) nextCheck() time.Duration {
	next := c.checkPeriod()
	if idle := time.Duration(c.idle.Load()); idle > 0 && c.cfg.PingInterval == 0 {
		if due := idle - c.SinceLastRead(); due < next {
			next = max(due, time.Millisecond)
		}
	}
	return next
}

func (c *Conn) checkPeriod() time.Duration {
	if c.cfg.PingInterval > 0 {
		return c.cfg.PingInterval
	}
	return max(time.Duration(c.idle.Load())/4, time.Millisecond)
}

// SetIdleTimeout changes the idle timeout of a started link, as a client
// does once the server's hello has told it the heartbeat period. It only
// takes effect on links started with a non-zero IdleTimeout or PingInterval.
func (c *Conn) SetIdleTimeout(d time.Duration) {
	c.idle.Store(int64(d))
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.timer != nil {
		c.timer.Reset(c.checkPeriod())
	}
}

// Send writes one frame (without its newline), at once when the socket
// takes it without blocking, else behind the frames already waiting. It
// never blocks: when SendQueue frames are already waiting the link is
// closed as a slow consumer and ErrSlowConsumer returned. The frame must
// not be modified afterwards; the same slice may be sent on many links.
func (c *Conn) Send(frame []byte) error {
	if h := c.cfg.Heartbeat; h != nil {
		c.wroteAt.Store(h.clock.Load())
	}
	return c.send(frame, true)
}

// send is Send; nl unset means that frame already ends in its newline
// (the heartbeat's ping, written with one write(2)).
func (c *Conn) send(line []byte, nl bool) error {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	frame := line
	if !nl {
		frame = line[:len(line)-1] // queued, the newline is a chunk of its own
	}
	if c.writing || len(c.queue) > 0 || c.corked > 0 {
		if len(c.queue) >= 2*c.cfg.SendQueue || c.pending+len(frame)+1 > c.cfg.MaxPendingBytes {
			c.closeWith(ReasonSlowConsumer, ErrSlowConsumer)
			return ErrSlowConsumer
		}
		c.queue = append(c.queue, frame, newline)
		c.pending += len(frame) + 1
		return nil
	}
	n, err := tryWriteLine(c.raw, line, nl)
	if err != nil {
		c.closeWith(ReasonDisconnected, err)
		return ErrClosed
	}
	if n == len(frame)+1 {
		return nil
	}
	// The socket is full: the rest waits for a writer goroutine.
	if n < len(frame) {
		c.queue = append(c.queue, frame[n:], newline)
	} else {
		c.queue = append(c.queue, newline)
	}
	c.pending = len(frame) + 1 - n
	c.writing = true
	c.writers.Add(1)
	go c.writeLoop()
	return nil
}

// SendNow is Send; it remains for callers that want to say the frame is
// latency-critical (Send already writes at once when it can).
func (c *Conn) SendNow(frame []byte) error { return c.Send(frame) }

// Cork makes Send hold frames in the queue, without writing, until the
// matching Uncork: a sender about to send several frames to this link (and
// others) has each link's share written with one system call instead of
// one per frame. The queue's limits still apply while corked.
func (c *Conn) Cork() {
	c.qmu.Lock()
	c.corked++
	c.qmu.Unlock()
}

// Uncork ends a Cork and writes what the queue holds, at once as far as
// the socket takes it without blocking; the rest goes to a writer
// goroutine as with Send.
func (c *Conn) Uncork() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.corked--; c.corked > 0 || c.writing || len(c.queue) == 0 {
		return
	}
	select {
	case <-c.closing:
		c.queue, c.pending = nil, 0
		return
	default:
	}
	c.flushLocked()
}

// flushLocked writes the queue as far as the socket takes it without
// blocking, then hands the rest to a writer goroutine. qmu is held and no
// writer runs.
func (c *Conn) flushLocked() {
	for len(c.queue) > 0 {
		bufs := c.queue[:min(len(c.queue), writevMax)]
		want := 0
		for _, b := range bufs {
			want += len(b)
		}
		n, err := tryWritev(c.raw, bufs)
		if err != nil {
			c.queue, c.pending = nil, 0
			c.closeWith(ReasonDisconnected, err)
			return
		}
		c.pending -= n
		c.queue = consumed(c.queue, n)
		if n < want {
			break // the socket is full
		}
	}
	if len(c.queue) == 0 {
		if cap(c.queue) > 2*writevMax {
			c.queue = nil // a burst's array is not kept
		}
		if c.flushClose {
			c.closeWith(ReasonClosed, nil) // keeps the reason set by CloseAfterFlush
		}
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.writeLoop()
}

// consumed drops the first n bytes from a queue of chunks (without
// touching the chunks, which may be shared), moving the rest to the front
// so that the queue's array is reused.
func consumed(queue [][]byte, n int) [][]byte {
	i := 0
	for i < len(queue) && n >= len(queue[i]) {
		n -= len(queue[i])
		i++
	}
	if i < len(queue) && n > 0 {
		queue[i] = queue[i][n:]
	}
	k := copy(queue, queue[i:])
	clear(queue[k:])
	return queue[:k]
}

// Queued reports how many frames wait for the writer.
func (c *Conn) Queued() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue) / 2
}

// PendingBytes reports how many bytes wait for the writer or are being
// written by it.
func (c *Conn) PendingBytes() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.pending
}

// Close closes the link at once, dropping queued frames. Only the first
// close's reason is kept. It does not wait; see Done.
func (c *Conn) Close(reason CloseReason) {
	c.closeWith(reason, nil)
}

// CloseAfterFlush closes the link once the frames already queued have been
// written (or the write deadline passed), with reason unless the link closes
// for another reason first. It is how a final error reply reaches a peer that
// is being disconnected.
func (c *Conn) CloseAfterFlush(reason CloseReason) {
	c.reason.CompareAndSwap(uint32(ReasonNone), uint32(reason))
	c.qmu.Lock()
	busy := c.writing || len(c.queue) > 0 && c.corked > 0 // Uncork or the writer closes it
	c.flushClose = true
	c.qmu.Unlock()
	if !busy {
		c.closeWith(ReasonClosed, nil) // keeps the reason set above
	}
}

// Done is closed once the link is fully closed and HandleClose has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Reason reports why the link closed, or ReasonNone while it is open.
func (c *Conn) Reason() CloseReason { return CloseReason(c.reason.Load()) }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is the local end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RTT is the round-trip time measured by the latest answered ping, or 0.
func (c *Conn) RTT() time.Duration { return time.Duration(c.rtt.Load()) }

// SinceLastRead is how long ago the last frame arrived.
func (c *Conn) SinceLastRead() time.Duration {
	return time.Duration(monoNow() - c.lastRead.Load())
}

// Pong records the answer to ping seq. Answers to older pings are ignored
// for RTT (they still count as traffic for the heartbeat). See PongRTT.
func (c *Conn) Pong(seq uint64) { c.PongRTT(seq) }

func (c *Conn) closeWith(reason CloseReason, err error) {
	c.closeOnce.Do(func() {
		c.reason.CompareAndSwap(uint32(ReasonNone), uint32(reason))
		if err != nil {
			c.closeErr.Store(&err)
		}
		close(c.closing)
		c.nc.Close()
	})
}

func (c *Conn) stopTimer() {
	if c.cfg.Heartbeat != nil {
		c.cfg.Heartbeat.remove(c)
		return
	}
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// notePing records that ping seq is going out at now (monoNow), for the
// RTT.
func (c *Conn) notePing(seq uint64, now int64) {
	c.pingMu.Lock()
	c.pingSeq, c.pingSentAt = seq, time.Duration(now)
	c.pingMu.Unlock()
}

// tick runs on the timer's goroutine: drop a silent peer, else ping it.
func (c *Conn) tick() {
	select {
	case <-c.closing:
		return
	default:
	}
	if idle := time.Duration(c.idle.Load()); idle > 0 && c.SinceLastRead() >= idle {
		c.closeWith(ReasonTimeout, ErrTimeout)
		return
	}
	c.pingMu.Lock()
	var ping []byte
	if c.cfg.PingInterval > 0 && c.cfg.Ping != nil {
		c.pingSeq++
		c.pingSentAt = time.Duration(monoNow())
		ping = c.cfg.Ping(c.pingSeq)
	}
	c.timer.Reset(c.nextCheck())
	c.pingMu.Unlock()
	if ping != nil {
		c.Send(ping) //nolint:errcheck // a full queue closes the link itself
	}
}

// readWaiter is the link's wait for readability when it gives its read
// buffer back while idle (Config.ReleaseIdleReadBuffer), or nil.
func (c *Conn) readWaiter() *readWaiter {
	if !c.cfg.ReleaseIdleReadBuffer {
		return nil
	}
	return newReadWaiter(c.nc, c.raw)
}

func (c *Conn) readLoop(h Handler) {
	var lr *LineReader
	if w := c.readWaiter(); w != nil {
		lr = newLineReaderNoBuffer(c.nc, c.cfg.MaxLineLength, c.cfg.ReadBuffer)
		lr.withIdleRelease(w.wait)
	} else {
		lr = newLineReaderSize(c.nc, c.cfg.MaxLineLength, c.cfg.ReadBuffer)
	}
	if c.cfg.LineBudget != nil {
		lr.withBudget(c.cfg.LineBudget, func() { c.closeWith(ReasonProtocolError, ErrLineBudget) })
	}
	defer lr.close()
	c.lastRead.Store(monoNow())
	for {
		line, err := lr.ReadLine()
		if err != nil {
			switch {
			case errors.Is(err, ErrLineTooLong):
				if c.cfg.TooLongReply != nil {
					c.closeErr.CompareAndSwap(nil, &err)
					c.Send(c.cfg.TooLongReply())
					c.CloseAfterFlush(ReasonProtocolError)
				} else {
					c.closeWith(ReasonProtocolError, err)
				}
			case errors.Is(err, ErrLineBudget):
				c.closeWith(ReasonProtocolError, err)
			case isTimeout(err):
				c.closeWith(ReasonTimeout, err)
			default:
				c.closeWith(ReasonDisconnected, err)
			}
			return
		}
		c.lastRead.Store(monoNow())
		if len(line) == 0 {
			continue // empty lines are allowed as keepalives
		}
		if err := h.HandleLine(line); err != nil {
			c.closeWith(ReasonProtocolError, err)
			return
		}
		select {
		case <-c.closing:
			return
		default:
		}
	}
}

// writeLoop drains the queue with blocking writes bounded by the write
// timeout, then exits; the next backlog starts a new one.
func (c *Conn) writeLoop() {
	defer c.writers.Done()
	var deadline time.Time
	written := 0 // bytes of the last batch, still counted in pending
	for {
		c.qmu.Lock()
		c.pending -= written
		written = 0
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.writing = false
			closeNow := c.flushClose
			c.qmu.Unlock()
			if closeNow {
				c.closeWith(ReasonClosed, nil) // keeps the reason set by CloseAfterFlush
			}
			return
		}
		c.qmu.Unlock()
		// Refresh the deadline only when less than half of it is left: a
		// deadline per write costs a timer update each time.
		if now := time.Now(); deadline.Sub(now) < c.cfg.WriteTimeout/2 {
			deadline = now.Add(c.cfg.WriteTimeout)
			c.nc.SetWriteDeadline(deadline)
		}
		for _, b := range batch {
			written += len(b)
		}
		bufs := net.Buffers(batch)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			if isTimeout(err) {
				c.closeWith(ReasonSlowConsumer, ErrSlowConsumer)
			} else {
				c.closeWith(ReasonDisconnected, err)
			}
			c.qmu.Lock()
			c.queue, c.writing, c.pending = nil, false, 0
			c.qmu.Unlock()
			return
		}
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
