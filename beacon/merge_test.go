package beacon

import (
	"net/netip"
	"testing"
	"time"
)

func info(id, source string, players int, seen time.Time) LobbyInfo {
	return LobbyInfo{ID: id, Game: "quake", Name: "n", Players: players, Capacity: 8, State: StateOpen,
		Host: netip.MustParseAddrPort("10.0.0.1:7600"), Seen: seen, Source: source}
}

func mustApply(t *testing.T, m *merger, src int, e Event, want string) {
	t.Helper()
	got, ok := m.apply(src, e)
	s := "none"
	if ok {
		s = got.Type.String() + " " + got.Lobby.Source
	}
	if s != want {
		t.Fatalf("apply(%d, %s %s) = %s, want %s", src, e.Type, e.Lobby.Source, s, want)
	}
}

// TestMerger: a lobby is present while any source has it; the most
// recently heard view is shown; Seen alone changes nothing, and neither
// does another source saying the same (no flipping between sources).
func TestMerger(t *testing.T) {
	const beacon, mdns = 0, 1
	m := newMerger()
	mustApply(t, m, beacon, Event{Added, info("a", "beacon", 1, t0)}, "added beacon")
	// mDNS reports the same, later: the beacon's view stays shown.
	mustApply(t, m, mdns, Event{Added, info("a", "mdns", 1, t0.Add(time.Second))}, "none")
	// A newer beacon view with other content wins.
	mustApply(t, m, beacon, Event{Updated, info("a", "beacon", 2, t0.Add(2*time.Second))}, "updated beacon")
	// An older mDNS update does not displace it.
	mustApply(t, m, mdns, Event{Updated, info("a", "mdns", 1, t0.Add(1500*time.Millisecond))}, "none")
	// Beacon drops it (expiry): mDNS still has it.
	mustApply(t, m, beacon, Event{Removed, info("a", "beacon", 2, t0.Add(2*time.Second))}, "updated mdns")
	mustApply(t, m, mdns, Event{Removed, info("a", "mdns", 1, t0)}, "removed mdns")
	mustApply(t, m, mdns, Event{Removed, info("a", "mdns", 1, t0)}, "none")
	// Equal Seen and content: the source shown first stays.
	mustApply(t, m, mdns, Event{Added, info("b", "mdns", 1, t0)}, "added mdns")
	mustApply(t, m, beacon, Event{Added, info("b", "beacon", 1, t0)}, "none")
	// A different view from the other source, heard later, is shown.
	mustApply(t, m, beacon, Event{Updated, info("b", "beacon", 3, t0.Add(time.Second))}, "updated beacon")
	// A source that stops takes its views along.
	mustApply(t, m, mdns, Event{Added, info("c", "mdns", 1, t0)}, "added mdns")
	evs := m.removeSource(mdns)
	if len(evs) != 1 || evs[0].Type != Removed || evs[0].Lobby.ID != "c" {
		t.Fatalf("removeSource: %+v", evs)
	}
	if s := m.snapshot(); len(s) != 1 || s[0].ID != "b" {
		t.Fatalf("snapshot %+v", s)
	}
}

// chanSource is a Source fed by the test.
type chanSource chan Event

func (c chanSource) Events() <-chan Event { return c }

func TestMergeRun(t *testing.T) {
	s1, s2 := make(chanSource), make(chanSource)
	m := NewMerge(s1, s2)
	start(t, m)
	s1 <- Event{Added, info("a", "beacon", 1, t0)}
	if e := nextEvent(t, m.Events()); e.Type != Added || e.Lobby.ID != "a" {
		t.Fatalf("got %+v", e)
	}
	s2 <- Event{Added, info("a", "mdns", 2, t0.Add(time.Second))}
	if e := nextEvent(t, m.Events()); e.Type != Updated || e.Lobby.Source != "mdns" || e.Lobby.Players != 2 {
		t.Fatalf("got %+v", e)
	}
	close(s2) // mDNS stops: its view goes, beacon's is shown
	if e := nextEvent(t, m.Events()); e.Type != Updated || e.Lobby.Source != "beacon" || e.Lobby.Players != 1 {
		t.Fatalf("got %+v", e)
	}
	if l := m.Lobbies(); len(l) != 1 {
		t.Fatalf("Lobbies %+v", l)
	}
	close(s1)
	if e := nextEvent(t, m.Events()); e.Type != Removed {
		t.Fatalf("got %+v", e)
	}
	// Every source closed: Run returns and closes Events.
	select {
	case _, ok := <-m.Events():
		if ok {
			t.Fatal("event after all sources closed")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Events not closed")
	}
}

// TestMergeSlowConsumer: sources are never blocked by a consumer that does
// not read; it then gets the latest state.
func TestMergeSlowConsumer(t *testing.T) {
	s := make(chanSource)
	m := NewMerge(s)
	start(t, m)
	for i := range 1000 {
		typ := Updated
		if i == 0 {
			typ = Added
		}
		select {
		case s <- Event{typ, info("a", "beacon", i%64, t0.Add(time.Duration(i)))}:
		case <-time.After(waitTimeout):
			t.Fatal("source blocked")
		}
	}
	// The first event may have been taken before the rest coalesced.
	var last Event
	for last.Lobby.Players != 999%64 {
		last = nextEvent(t, m.Events())
	}
}
