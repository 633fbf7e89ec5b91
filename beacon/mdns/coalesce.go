package mdns

import "github.com/lanlobby/lanlobby/beacon"

// This is a copy of beacon's unexported coalescer (beacon exports no
// queue), for the events of this package's Browser.

// coalescer is the bounded queue between a receive loop and a slow
// consumer. Only the latest state of a lobby matters, so pending events are
// merged per lobby id instead of queued: Added then Updated is one Added,
// Updated then Removed is one Removed, Added then Removed is nothing. The
// queue therefore holds at most one event per id and the producer never
// blocks. Ids keep the position of their first pending change. Not safe
// for concurrent use.
type coalescer struct {
	max     int
	pending map[string]*pend
	order   []slot // arrival order; may hold slots no longer pending
	gen     uint64 // numbers slots

	coalesced uint64 // events merged into a pending one
	dropped   uint64 // events lost because max ids were pending
}

// slot is a place in the delivery order; it is stale when the id's
// pending entry is gone or belongs to a later slot.
type slot struct {
	id  string
	gen uint64
}

type pend struct {
	gen     uint64
	known   bool // the consumer holds the lobby (before the pending changes)
	present bool // the lobby exists after them
	info    beacon.LobbyInfo
}

func newCoalescer(max int) *coalescer {
	return &coalescer{max: max, pending: make(map[string]*pend)}
}

// push adds ev. The producer emits consistent sequences (Added only for an
// id the consumer does not hold), so the first pending event of an id
// tells whether the consumer holds it.
func (c *coalescer) push(ev beacon.Event) {
	id := ev.Lobby.ID
	p := c.pending[id]
	if p == nil {
		if len(c.pending) >= c.max {
			c.dropped++
			return
		}
		c.gen++
		p = &pend{gen: c.gen, known: ev.Type != beacon.Added}
		c.pending[id] = p
		c.order = append(c.order, slot{id, c.gen})
	} else {
		c.coalesced++
	}
	p.present = ev.Type != beacon.Removed
	p.info = ev.Lobby
	if !p.known && !p.present {
		delete(c.pending, id) // added and removed before the consumer looked
		c.compact()
	}
}

// peek returns the next event to deliver.
func (c *coalescer) peek() (beacon.Event, bool) {
	for len(c.order) > 0 {
		p := c.pending[c.order[0].id]
		if p == nil || p.gen != c.order[0].gen {
			c.order = c.order[1:]
			continue
		}
		typ := beacon.Updated
		switch {
		case !p.known:
			typ = beacon.Added
		case !p.present:
			typ = beacon.Removed
		}
		return beacon.Event{Type: typ, Lobby: p.info}, true
	}
	c.order = nil // let the backing array go
	return beacon.Event{}, false
}

// pop removes the event peek returned: it was delivered.
func (c *coalescer) pop() {
	if _, ok := c.peek(); ok {
		delete(c.pending, c.order[0].id)
		c.order = c.order[1:]
	}
}

// compact drops stale ids (of cancelled pairs) from order once they
// outnumber the pending ones, which churn with a stalled consumer causes.
func (c *coalescer) compact() {
	if len(c.order) <= 2*len(c.pending)+64 {
		return
	}
	live := make([]slot, 0, len(c.pending))
	for _, s := range c.order {
		if p := c.pending[s.id]; p != nil && p.gen == s.gen {
			live = append(live, s)
		}
	}
	c.order = live
}

func (c *coalescer) len() int { return len(c.pending) }
