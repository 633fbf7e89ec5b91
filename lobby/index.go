package lobby

import "container/heap"

// gameIndex finds the quick-join target of one game in O(MaxCapacity · log n):
// open lobbies are kept in buckets by free slots, each bucket a min-heap by
// creation order, so the answer is the top of the first non-empty bucket.
type gameIndex struct {
	lobbies int                        // all lobbies of the game, indexed or not
	buckets [MaxCapacity + 1]lobbyHeap // index: free slots (1..MaxCapacity-1 used)
}

// update puts l in the bucket its state calls for, or takes it out of the
// index when it is not open.
func (g *gameIndex) update(l *Lobby) {
	want := 0
	if l.State == StateOpen && !l.private {
		want = l.Free()
	}
	if want == l.bucket {
		return
	}
	g.remove(l)
	if want > 0 {
		l.bucket = want
		heap.Push(&g.buckets[want], l)
	}
}

func (g *gameIndex) remove(l *Lobby) {
	if l.bucket == 0 {
		return
	}
	heap.Remove(&g.buckets[l.bucket], l.heapPos)
	l.bucket = 0
}

// best returns the first open lobby in the quick-join order
// (CompareCandidates) with at least minFree free seats among those ok
// accepts; nil when there is none.
func (g *gameIndex) best(minFree int, ok func(*Lobby) bool) *Lobby {
	for free := max(minFree, 1); free < len(g.buckets); free++ {
		h := g.buckets[free]
		if len(h) == 0 {
			continue
		}
		if ok(h[0]) {
			return h[0]
		}
		// Rare: the oldest is refused (the member is in it, it fails a
		// filter, a ban). Scan this bucket.
		var pick *Lobby
		for _, l := range h {
			if ok(l) && (pick == nil || compareLobbies(l, pick) < 0) {
				pick = l
			}
		}
		if pick != nil {
			return pick
		}
	}
	return nil
}

// lobbyHeap is a container/heap of lobbies of equal free seats in the
// quick-join order: by creation.
type lobbyHeap []*Lobby

func (h lobbyHeap) Len() int           { return len(h) }
func (h lobbyHeap) Less(i, j int) bool { return compareLobbies(h[i], h[j]) < 0 }
func (h lobbyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapPos = i
	h[j].heapPos = j
}
func (h *lobbyHeap) Push(x any) {
	l := x.(*Lobby)
	l.heapPos = len(*h)
	*h = append(*h, l)
}
func (h *lobbyHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}
