package tcpconn

import (
	"sync"
	"sync/atomic"
	"time"
)

// heartbeatSlots is how many groups a Heartbeat spreads its links over:
// each tick serves one group, so pings go out evenly over the interval
// instead of in one burst.
const heartbeatSlots = 64

// Heartbeat pings and watches many links from one goroutine: a timing
// wheel of heartbeatSlots groups, one group served every
// interval/heartbeatSlots. Compared with a timer per link it saves a
// goroutine wake-up per ping and lets every link of a round share one ping
// frame, which matters to a coordinator holding thousands of links.
type Heartbeat struct {
	interval time.Duration
	idle     time.Duration
	ping     func(seq uint64) []byte

	mu    sync.Mutex // guards wheel, next and the links' places in the wheel
	wheel [][]*Conn
	next  int // slot the next new link goes to (round robin)

	// clock is monoNow when the latest slot was served: Send stamps a
	// link's writes with it, a load instead of a clock read.
	clock atomic.Int64

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// NewHeartbeat starts a heartbeat: every interval each link gets
// ping(seq) (with one seq per round), and a link that has read nothing for
// idle is closed with ReasonTimeout, within idle + interval. Close stops it.
func NewHeartbeat(interval, idle time.Duration, ping func(seq uint64) []byte) *Heartbeat {
	h := &Heartbeat{interval: interval, idle: idle, ping: ping, quit: make(chan struct{}), done: make(chan struct{})}
	// At most heartbeatSlots groups, and ticks of at least a millisecond, so
	// a full turn of the wheel is exactly one interval.
	slots := int(max(1, min(heartbeatSlots, interval/time.Millisecond)))
	h.wheel = make([][]*Conn, slots)
	h.clock.Store(monoNow())
	go h.run()
	return h
}

// Close stops the heartbeat and waits for its goroutine. Idempotent.
func (h *Heartbeat) Close() {
	h.once.Do(func() { close(h.quit) })
	<-h.done
}

// A link's place in the wheel: not yet added, in it, or out for good.
const (
	heartNone uint8 = iota
	heartIn
	heartOut
)

// add puts c in the next slot, unless it has already been removed (its
// reader can end before Start adds it).
func (h *Heartbeat) add(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.heartState != heartNone {
		return
	}
	c.heartState, c.heartSlot, c.heartIdx = heartIn, h.next, len(h.wheel[h.next])
	h.wheel[h.next] = append(h.wheel[h.next], c)
	h.next = (h.next + 1) % len(h.wheel)
}

// remove takes c out of the wheel for good, moving its slot's last link
// into its place.
func (h *Heartbeat) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.heartState == heartIn {
		s := h.wheel[c.heartSlot]
		last := s[len(s)-1]
		s[c.heartIdx], last.heartIdx = last, c.heartIdx
		s[len(s)-1] = nil
		h.wheel[c.heartSlot] = s[:len(s)-1]
	}
	c.heartState = heartOut
}

func (h *Heartbeat) run() {
	defer close(h.done)
	t := time.NewTicker(h.interval / time.Duration(len(h.wheel)))
	defer t.Stop()
	var (
		slot  int
		round uint64
		line  []byte
		due   []*Conn
	)
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
		}
		if slot == 0 {
			round++
			if h.ping != nil {
				// A new array each round: a link's queue may still hold
				// the last one. Its newline included, a ping is one write.
				line = append(h.ping(round), '\n')
			}
		}
		due = h.serveSlot(slot, round, line, due)
		slot = (slot + 1) % len(h.wheel)
	}
}

// serveSlot checks and pings the links of one slot: it drops a link
// silent for idle and pings the others with line (which ends in its
// newline; nil pings nobody), except links busy both ways: read within
// the last half interval and wrote within the last interval. Their
// traffic already shows that they are alive and tells their peer that we
// are. Skipping their ping keeps the drop bound, interval × (misses + 1),
// as long as idle is at least two intervals, and it keeps a peer's room
// to answer: a link that read within half an interval of this check gets
// the same number of pings before idle passes as one pinged now (a link
// that hears only pongs is never skipped, so a slow peer is not dropped
// sooner than it was).
// The clock is read once per slot. due is scratch space, returned for
// reuse.
func (h *Heartbeat) serveSlot(slot int, round uint64, line []byte, due []*Conn) []*Conn {
	now := monoNow()
	h.clock.Store(now)
	h.mu.Lock()
	due = append(due[:0], h.wheel[slot]...)
	h.mu.Unlock()
	idle, interval := int64(h.idle), int64(h.interval)
	skipBusy := h.idle >= 2*h.interval
	for _, c := range due {
		quiet := now - c.lastRead.Load()
		if idle > 0 && quiet >= idle {
			c.closeWith(ReasonTimeout, ErrTimeout)
			continue
		}
		if line == nil || skipBusy && quiet < interval/2 && now-c.wroteAt.Load() < interval {
			continue
		}
		c.notePing(round, now)
		c.send(line, false) //nolint:errcheck // a failing link closes itself
	}
	clear(due)
	return due
}
