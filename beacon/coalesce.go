package beacon

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
	info    LobbyInfo
}

func newCoalescer(max int) *coalescer {
	return &coalescer{max: max, pending: make(map[string]*pend)}
}

// push adds ev. The producer emits consistent sequences (Added only for an
// id the consumer does not hold), so the first pending event of an id
// tells whether the consumer holds it.
func (c *coalescer) push(ev Event) {
	id := ev.Lobby.ID
	p := c.pending[id]
	if p == nil {
		if len(c.pending) >= c.max {
			c.dropped++
			return
		}
		c.gen++
		p = &pend{gen: c.gen, known: ev.Type != Added}
		c.pending[id] = p
		c.order = append(c.order, slot{id, c.gen})
	} else {
		c.coalesced++
	}
	p.present = ev.Type != Removed
	p.info = ev.Lobby
	if !p.known && !p.present {
		delete(c.pending, id) // added and removed before the consumer looked
		c.compact()
	}
}

// peek returns the next event to deliver.
func (c *coalescer) peek() (Event, bool) {
	for len(c.order) > 0 {
		p := c.pending[c.order[0].id]
		if p == nil || p.gen != c.order[0].gen {
			c.order = c.order[1:]
			continue
		}
		typ := Updated
		switch {
		case !p.known:
			typ = Added
		case !p.present:
			typ = Removed
		}
		return Event{Type: typ, Lobby: p.info}, true
	}
	c.order = nil // let the backing array go
	return Event{}, false
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

// EventQueue is the coalescing queue between a Source's receive loop and
// its consumer (see coalescer), exported so that other Sources (the mDNS
// browser) behave the same towards slow consumers. Not safe for
// concurrent use.
type EventQueue struct{ c *coalescer }

// NewEventQueue returns a queue holding at most max pending lobbies.
func NewEventQueue(max int) *EventQueue { return &EventQueue{newCoalescer(max)} }

// Push merges ev into the pending change of its lobby.
func (q *EventQueue) Push(ev Event) { q.c.push(ev) }

// Peek returns the next event to deliver, if any.
func (q *EventQueue) Peek() (Event, bool) { return q.c.peek() }

// Pop removes the event Peek returned.
func (q *EventQueue) Pop() { q.c.pop() }

// Len is how many lobbies have a pending change.
func (q *EventQueue) Len() int { return q.c.len() }

// Coalesced counts events merged into a pending one.
func (q *EventQueue) Coalesced() uint64 { return q.c.coalesced }

// Dropped counts events lost because the queue was full.
func (q *EventQueue) Dropped() uint64 { return q.c.dropped }
