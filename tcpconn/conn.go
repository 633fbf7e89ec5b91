package tcpconn

import (
	"errors"
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
	nc    net.Conn
	cfg   Config
	start time.Time // base for the monotonic timestamps below

	closing chan struct{} // closed when the link starts closing
	done    chan struct{} // closed after HandleClose returned

	closeOnce sync.Once
	reason    atomic.Uint32
	closeErr  atomic.Pointer[error]
	flushQuit chan struct{} // closed by CloseAfterFlush: writer drains, then closes

	lastRead atomic.Int64 // nanoseconds since start of the last frame read
	idle     atomic.Int64 // IdleTimeout in nanoseconds; see SetIdleTimeout

	pingMu     sync.Mutex // guards the fields below and the timer
	pingSeq    uint64
	pingSentAt time.Duration
	timer      *time.Timer
	rtt        atomic.Int64 // nanoseconds; 0 until the first pong

	flushOnce sync.Once

	// The outbound queue is a slice that grows only as far as the backlog
	// does (an idle link holds almost nothing), drained by one writer
	// goroutine with a single writev per batch.
	qmu      sync.Mutex // guards queue and inFlight
	queue    [][]byte
	inFlight int           // frames taken by the writer, not yet written
	wake     chan struct{} // capacity 1: the queue went from empty to not

	// wmu serialises socket writes between the writer goroutine and
	// SendNow.
	wmu sync.Mutex
	iov net.Buffers // reused by the writer, under wmu
}

// newline is shared by every frame's iovec list.
var newline = []byte{'\n'}

// New wraps nc. Nothing runs until Start.
func New(nc net.Conn, cfg Config) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		nc:        nc,
		cfg:       cfg,
		start:     time.Now(),
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
		flushQuit: make(chan struct{}),
	}
	c.idle.Store(int64(cfg.IdleTimeout))
	return c
}

// Start launches the reader and writer goroutines and the heartbeat. h gets
// every frame and, once, the close.
func (c *Conn) Start(h Handler) {
	var writerDone = make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	go func() {
		c.readLoop(h)
		<-writerDone
		c.stopTimer()
		reason := CloseReason(c.reason.Load())
		var err error
		if p := c.closeErr.Load(); p != nil {
			err = *p
		}
		h.HandleClose(reason, err)
		close(c.done)
	}()
	if c.cfg.PingInterval > 0 || c.idle.Load() > 0 {
		// Jitter the first tick so links accepted together do not ping together.
		first := c.checkPeriod()
		first = first/2 + rand.N(first/2+1)
		c.pingMu.Lock()
		c.timer = time.AfterFunc(first, c.tick)
		c.pingMu.Unlock()
	}
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

// Send queues one frame (without its newline) for the writer. It never
// blocks: when SendQueue frames are already waiting the link is closed as a
// slow consumer and ErrSlowConsumer returned. The frame must not be
// modified afterwards; the same slice may be queued on many links.
func (c *Conn) Send(frame []byte) error {
	c.qmu.Lock()
	select {
	case <-c.closing:
		c.qmu.Unlock()
		return ErrClosed
	default:
	}
	if len(c.queue) >= c.cfg.SendQueue {
		c.qmu.Unlock()
		c.closeWith(ReasonSlowConsumer, ErrSlowConsumer)
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, frame)
	first := len(c.queue) == 1
	c.qmu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// SendNow writes frame from the caller's goroutine, saving the hand-off to
// the writer goroutine on latency-critical paths (a client's request). When
// frames are queued or being written it queues behind them instead, so
// order is kept. It may block up to the write timeout.
func (c *Conn) SendNow(frame []byte) error {
	c.wmu.Lock()
	c.qmu.Lock()
	busy := len(c.queue) > 0 || c.inFlight > 0
	c.qmu.Unlock()
	if busy {
		c.wmu.Unlock()
		return c.Send(frame)
	}
	defer c.wmu.Unlock()
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	if !c.writeLocked([][]byte{frame}) {
		return ErrClosed
	}
	return nil
}

// Queued reports how many frames wait for the writer.
func (c *Conn) Queued() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue) + c.inFlight
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
	c.flushOnce.Do(func() { close(c.flushQuit) })
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
	return time.Since(c.start) - time.Duration(c.lastRead.Load())
}

// Pong records the answer to ping seq. Answers to older pings are ignored
// for RTT (they still count as traffic for the heartbeat).
func (c *Conn) Pong(seq uint64) {
	now := time.Since(c.start)
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if seq == c.pingSeq && c.pingSentAt > 0 {
		c.rtt.Store(int64(now - c.pingSentAt))
	}
}

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
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
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
		c.pingSentAt = time.Since(c.start)
		ping = c.cfg.Ping(c.pingSeq)
	}
	c.timer.Reset(c.checkPeriod())
	c.pingMu.Unlock()
	if ping != nil {
		c.Send(ping) //nolint:errcheck // a full queue closes the link itself
	}
}

func (c *Conn) readLoop(h Handler) {
	lr := NewLineReader(c.nc, c.cfg.MaxLineLength)
	c.lastRead.Store(int64(time.Since(c.start)))
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
			case isTimeout(err):
				c.closeWith(ReasonTimeout, err)
			default:
				c.closeWith(ReasonDisconnected, err)
			}
			return
		}
		c.lastRead.Store(int64(time.Since(c.start)))
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

// writeLocked writes frames, each followed by a newline, in one writev
// bounded by the write timeout; false when the link failed (and is now
// closed).
func (c *Conn) writeLocked(frames [][]byte) bool {
	iov := c.iov[:0]
	for _, f := range frames {
		iov = append(iov, f, newline)
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	bufs := iov // WriteTo consumes its receiver
	_, err := bufs.WriteTo(c.nc)
	clear(iov) // drop references to the frames sent
	if cap(iov) > 256 {
		iov = nil // a burst's iovec list is not kept by an idle link
	}
	c.iov = iov[:0]
	if err != nil {
		if isTimeout(err) {
			c.closeWith(ReasonSlowConsumer, ErrSlowConsumer)
		} else {
			c.closeWith(ReasonDisconnected, err)
		}
		return false
	}
	return true
}

// drain writes everything queued; false when the link failed.
func (c *Conn) drain() bool {
	c.qmu.Lock()
	batch := c.queue
	c.queue = nil
	c.inFlight = len(batch)
	c.qmu.Unlock()
	if len(batch) == 0 {
		return true
	}
	c.wmu.Lock()
	ok := c.writeLocked(batch)
	c.wmu.Unlock()
	c.qmu.Lock()
	c.inFlight = 0
	c.qmu.Unlock()
	return ok
}

func (c *Conn) writeLoop() {
	for {
		select {
		case <-c.wake:
			if !c.drain() {
				return
			}
		case <-c.flushQuit:
			c.drain()
			c.closeWith(ReasonClosed, nil) // keeps the reason set by CloseAfterFlush
			return
		case <-c.closing:
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
