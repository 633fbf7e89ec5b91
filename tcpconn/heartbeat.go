package tcpconn

import (
	"sync"
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

	mu    sync.Mutex // guards wheel and next
	wheel []map[*Conn]struct{}
	next  int // slot the next new link goes to (round robin)

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
	h.wheel = make([]map[*Conn]struct{}, slots)
	for i := range h.wheel {
		h.wheel[i] = make(map[*Conn]struct{})
	}
	go h.run()
	return h
}

// Close stops the heartbeat and waits for its goroutine. Idempotent.
func (h *Heartbeat) Close() {
	h.once.Do(func() { close(h.quit) })
	<-h.done
}

func (h *Heartbeat) add(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.heartSlot = h.next
	h.wheel[h.next][c] = struct{}{}
	h.next = (h.next + 1) % len(h.wheel)
}

func (h *Heartbeat) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.wheel[c.heartSlot], c)
}

func (h *Heartbeat) run() {
	defer close(h.done)
	t := time.NewTicker(h.interval / time.Duration(len(h.wheel)))
	defer t.Stop()
	var (
		slot  int
		round uint64
		frame []byte
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
				frame = h.ping(round)
			}
		}
		due = h.serveSlot(slot, round, frame, due)
		slot = (slot + 1) % len(h.wheel)
	}
}

// serveSlot checks and pings the links of one slot; due is scratch space,
// returned for reuse.
func (h *Heartbeat) serveSlot(slot int, round uint64, frame []byte, due []*Conn) []*Conn {
	h.mu.Lock()
	due = due[:0]
	for c := range h.wheel[slot] {
		due = append(due, c)
	}
	h.mu.Unlock()
	for _, c := range due {
		if h.idle > 0 && c.SinceLastRead() >= h.idle {
			c.closeWith(ReasonTimeout, ErrTimeout)
			continue
		}
		if frame != nil {
			c.notePing(round)
			c.Send(frame) //nolint:errcheck // a failing link closes itself
		}
	}
	clear(due)
	return due
}
