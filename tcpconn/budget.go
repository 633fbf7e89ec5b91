package tcpconn

import (
	"container/list"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrLineBudget closes a link whose partial inbound frame had to give its
// memory back: the budget shared by every link was spent, and this link
// had been holding an unfinished frame the longest (or wanted more than
// the whole budget).
var ErrLineBudget = errors.New("tcpconn: memory budget for partial frames spent")

// Budget bounds the memory that many links together spend on inbound
// frames still being assembled: the bytes beyond each link's fixed read
// buffer. Without it, a peer that sends most of a maximum-length frame and
// then stops holds that much memory for as long as it keeps its link, and
// thousands of such peers hold gigabytes.
//
// When a link needs more than is left, the links that have been holding an
// unfinished frame the longest give theirs back: they are closed with
// ReasonProtocolError and ErrLineBudget. An honest peer writes a frame in
// one go and holds it for microseconds; a peer that stalls in the middle
// of one is the oldest holder. A link that alone would need more than the
// whole budget is closed itself. The zero of a limit means no limit.
type Budget struct {
	limit int64

	mu      sync.Mutex // guards used, holders and each holder's bytes
	used    int64
	holders list.List // *budgetHold, oldest reservation first

	evicted atomic.Int64
}

// NewBudget returns a budget of limit bytes (<= 0: unlimited, only counted).
func NewBudget(limit int64) *Budget {
	return &Budget{limit: limit}
}

// Used is how many bytes partial frames hold now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Limit is the budget in bytes (0: unlimited).
func (b *Budget) Limit() int64 { return max(b.limit, 0) }

// Evicted counts links closed to give their partial frame back.
func (b *Budget) Evicted() int64 { return b.evicted.Load() }

// budgetHold is one link's share of a Budget.
type budgetHold struct {
	b       *Budget
	bytes   int64         // reserved now; guarded by b.mu
	elem    *list.Element // in b.holders while bytes > 0
	evicted bool          // guarded by b.mu
	evict   func()        // closes the link; called without b.mu held
}

// reserve takes n more bytes for h's partial frame, evicting the oldest
// other holders when the budget is short. It fails when h was evicted, or
// when even the whole budget would not do.
func (h *budgetHold) reserve(n int64) error {
	b := h.b
	var victims []*budgetHold
	b.mu.Lock()
	if h.evicted {
		b.mu.Unlock()
		return ErrLineBudget
	}
	if b.limit > 0 && h.bytes+n > b.limit {
		b.mu.Unlock()
		return ErrLineBudget
	}
	for b.limit > 0 && b.used+n > b.limit {
		e := b.holders.Front()
		if e != nil && e.Value.(*budgetHold) == h {
			e = e.Next()
		}
		if e == nil {
			break // only h holds anything: it fits by the check above
		}
		v := e.Value.(*budgetHold)
		b.dropLocked(v)
		v.evicted = true
		victims = append(victims, v)
	}
	b.used += n
	h.bytes += n
	if h.elem == nil {
		h.elem = b.holders.PushBack(h)
	}
	b.mu.Unlock()
	for _, v := range victims {
		b.evicted.Add(1)
		v.evict()
	}
	return nil
}

// release gives back everything h holds.
func (h *budgetHold) release() {
	b := h.b
	b.mu.Lock()
	b.dropLocked(h)
	b.mu.Unlock()
}

func (b *Budget) dropLocked(h *budgetHold) {
	b.used -= h.bytes
	h.bytes = 0
	if h.elem != nil {
		b.holders.Remove(h.elem)
		h.elem = nil
	}
}
