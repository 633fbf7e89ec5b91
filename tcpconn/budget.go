package tcpconn

import (
	"container/heap"
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
// When a link needs more than is left, the link holding the most gives it
// back (the one that has held it longest among equals): it is closed with
// ReasonProtocolError and ErrLineBudget, and so on until the newcomer
// fits. Exhausting the budget takes many large unfinished frames, so they
// go first; an honest peer's frame is small, and written in one go, held
// for microseconds (or, on a busy machine, for as long as its reader
// waits for the CPU: which is why the heaviest, not the oldest, pays). A
// link that alone would need more than the whole budget is closed itself.
// A limit <= 0 means no limit.
type Budget struct {
	limit int64

	mu      sync.Mutex // guards used, seq, holders and each holder's fields
	used    int64
	seq     uint64
	holders holdHeap // links holding bytes, heaviest first

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
	bytes   int64  // reserved now; guarded by b.mu
	since   uint64 // order of its first reservation, for ties
	pos     int    // index in b.holders, -1 when holding nothing
	evicted bool   // guarded by b.mu
	evict   func() // closes the link; called without b.mu held
}

// holdHeap is a container/heap of holders, the most bytes first, the
// oldest first among equals.
type holdHeap []*budgetHold

func (h holdHeap) Len() int { return len(h) }
func (h holdHeap) Less(i, j int) bool {
	if h[i].bytes != h[j].bytes {
		return h[i].bytes > h[j].bytes
	}
	return h[i].since < h[j].since
}
func (h holdHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *holdHeap) Push(x any) {
	hd := x.(*budgetHold)
	hd.pos = len(*h)
	*h = append(*h, hd)
}
func (h *holdHeap) Pop() any {
	old := *h
	hd := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	hd.pos = -1
	return hd
}

// reserve takes n more bytes for h's partial frame, evicting the heaviest
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
	if h.pos < 0 {
		// Out of the heap while choosing victims: it is never its own.
		b.seq++
		h.since = b.seq
	} else {
		b.dropLocked(h)
		b.used += h.bytes // dropLocked gave them back; h still holds them
	}
	for b.limit > 0 && b.used+n > b.limit && len(b.holders) > 0 {
		v := b.holders[0]
		b.dropLocked(v)
		v.bytes, v.evicted = 0, true
		victims = append(victims, v)
	}
	b.used += n
	h.bytes += n
	heap.Push(&b.holders, h)
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
	h.bytes = 0
	b.mu.Unlock()
}

// dropLocked takes h out of the heap and gives back its bytes (h.bytes is
// left for the caller to reset or keep).
func (b *Budget) dropLocked(h *budgetHold) {
	if h.pos >= 0 {
		heap.Remove(&b.holders, h.pos)
	}
	b.used -= h.bytes
}
