package beacon

import (
	"fmt"
	"testing"
)

func ev(typ EventType, id string, players int) Event {
	return Event{Type: typ, Lobby: LobbyInfo{ID: id, Players: players}}
}

func drain(c *coalescer) []string {
	var out []string
	for {
		e, ok := c.peek()
		if !ok {
			return out
		}
		c.pop()
		out = append(out, fmt.Sprintf("%s %s %d", e.Type, e.Lobby.ID, e.Lobby.Players))
	}
}

func TestCoalescer(t *testing.T) {
	tests := []struct {
		name string
		in   []Event
		want string
	}{
		{"passthrough", []Event{ev(Added, "a", 1), ev(Added, "b", 1)}, "[added a 1 added b 1]"},
		{"added+updated", []Event{ev(Added, "a", 1), ev(Updated, "a", 2), ev(Updated, "a", 3)}, "[added a 3]"},
		{"added+removed", []Event{ev(Added, "a", 1), ev(Updated, "a", 2), ev(Removed, "a", 2)}, "[]"},
		{"updated+removed", []Event{ev(Updated, "a", 2), ev(Removed, "a", 2)}, "[removed a 2]"},
		{"removed+added", []Event{ev(Removed, "a", 1), ev(Added, "a", 5)}, "[updated a 5]"},
		{"removed+added+removed", []Event{ev(Removed, "a", 1), ev(Added, "a", 5), ev(Removed, "a", 5)}, "[removed a 5]"},
		{"order of first change", []Event{ev(Added, "a", 1), ev(Added, "b", 1), ev(Updated, "a", 2)}, "[added a 2 added b 1]"},
		{"cancelled then again", []Event{ev(Added, "a", 1), ev(Removed, "a", 1), ev(Added, "b", 1), ev(Added, "a", 2)}, "[added b 1 added a 2]"},
	}
	for _, tt := range tests {
		c := newCoalescer(100)
		for _, e := range tt.in {
			c.push(e)
		}
		if got := fmt.Sprint(drain(c)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestCoalescerBounded: with a stalled consumer, churn keeps the queue at
// one entry per lobby and the order slice compacted; beyond max ids new
// events are dropped and counted.
func TestCoalescerBounded(t *testing.T) {
	c := newCoalescer(10)
	for i := range 100000 {
		id := fmt.Sprint(i % 5000)
		c.push(ev(Added, id, 1))
		c.push(ev(Removed, id, 1))
	}
	if c.len() != 0 || len(c.order) > 2*c.len()+64 {
		t.Fatalf("pending %d, order %d", c.len(), len(c.order))
	}
	for i := range 20 {
		c.push(ev(Added, fmt.Sprint("x", i), 1))
	}
	if c.len() != 10 || c.dropped != 10 {
		t.Fatalf("pending %d, dropped %d", c.len(), c.dropped)
	}
	before := c.coalesced
	for i := range 1000 {
		c.push(ev(Updated, fmt.Sprint("x", i%10), i))
	}
	if c.coalesced-before != 1000 || len(drain(c)) != 10 {
		t.Fatalf("coalesced %d", c.coalesced)
	}
}
