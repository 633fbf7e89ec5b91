package beacon

import (
	"encoding/hex"
	"testing"
	"time"
)

// TestTermAttribute: a lobby's term travels in its record's extension (type
// 5, 4 bytes, after the others) and comes back; 0 adds nothing; a broken
// term entry is left out.
func TestTermAttribute(t *testing.T) {
	a := Attrs{CreatedMS: 1748779200000, Term: 7}
	tail := appendAttrs(nil, &a)
	if got, want := hex.EncodeToString(tail), "0108000001972b5cee00"+"050400000007"; got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
	if attrsLen(&a) != len(tail) {
		t.Fatalf("attrsLen %d, encoded %d", attrsLen(&a), len(tail))
	}
	if back := decodeAttrs(tail); back != a {
		t.Fatalf("decoded %+v, want %+v", back, a)
	}
	if n := len(appendAttrs(nil, &Attrs{CreatedMS: 1})); n != 10 {
		t.Fatalf("term 0 took room: %d bytes", n)
	}
	if back := decodeAttrs([]byte{AttrTerm, 3, 0, 0, 7}); back.Term != 0 {
		t.Fatalf("a 3-byte term was read: %+v", back)
	}
	l := testLobby("a")
	l.Term = 1<<32 - 1
	b, err := Encode(announce(1, l))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(b)
	if err != nil || p.Lobbies[0].Term != l.Term {
		t.Fatalf("round trip: %+v, %v", p.Lobbies, err)
	}
}

// TestTableTerms: when another host announces a lobby with a higher term
// (its successor took it over, or it moved to a daemon), the lobby moves to
// that host at once whatever its packets' seq; the old host's announcements
// and goodbye, of the lower term, change nothing.
func TestTableTerms(t *testing.T) {
	tb := newTable("", 10, SourceName)
	l := testLobby("a")
	check(t, tb.observe(t0, announce(1000, l), src4, "eth0"), "added a")
	taken := l
	taken.Term, taken.Players = 1, 2
	evs := tb.observe(t0.Add(time.Second), announce(5, taken), src4b, "eth0") // seq far behind: another sender
	check(t, evs, "updated a")
	if evs[0].Lobby.Host.Addr() != src4b.Addr() || evs[0].Lobby.Term != 1 || evs[0].Lobby.Players != 2 {
		t.Fatalf("after the takeover: %+v", evs[0].Lobby)
	}
	// The old host, cut off, announces on: ignored, however new its seq.
	check(t, tb.observe(t0.Add(2*time.Second), announce(1001, l), src4, "eth0"))
	// It learns it lost and says goodbye: ignored too.
	check(t, tb.observe(t0.Add(2*time.Second), goodbye(1002, l), src4, "eth0"))
	if s := tb.snapshot(); len(s) != 1 || s[0].Host.Addr() != src4b.Addr() || s[0].Term != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	// The new holder's own goodbye ends it.
	check(t, tb.observe(t0.Add(3*time.Second), goodbye(6, taken), src4b, "eth0"), "removed a")
	// A lower term is heard again once the lobby is gone.
	check(t, tb.observe(t0.Add(10*time.Second), announce(1003, l), src4, "eth0"), "added a")
}

// TestMergerPrefersHigherTerm: of two sources' views of one lobby, the one
// with the higher term is shown, however recent the other.
func TestMergerPrefersHigherTerm(t *testing.T) {
	m := newMerger()
	old := info("a", "mdns", 3, t0.Add(time.Second))
	newer := info("a", "beacon", 3, t0)
	newer.Term = 1
	mustApply(t, m, 0, Event{Type: Added, Lobby: old}, "added mdns")
	ev, ok := m.apply(1, Event{Type: Added, Lobby: newer})
	if !ok || ev.Lobby.Term != 1 {
		t.Fatalf("higher term not shown: %+v %v", ev, ok)
	}
	old.Seen = t0.Add(5 * time.Second) // the lower term heard again, later
	if ev, ok := m.apply(0, Event{Type: Updated, Lobby: old}); ok {
		t.Fatalf("lower term shown again: %+v", ev)
	}
	if s := m.snapshot(); len(s) != 1 || s[0].Term != 1 {
		t.Fatalf("snapshot %+v", s)
	}
}
