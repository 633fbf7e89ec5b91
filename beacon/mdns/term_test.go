package mdns

import (
	"slices"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
)

// TestTermTXT: a lobby's term travels as "tm", after the other attributes,
// and only when it is not 0; a term that is not a 32-bit decimal is left
// out.
func TestTermTXT(t *testing.T) {
	l := zoeLobby()
	l.Term = 3
	txt := EncodeTXT(l)
	if got := txt[len(txt)-1]; got != "tm=3" {
		t.Fatalf("last string %q, want tm=3", got)
	}
	back, err := DecodeTXT(txt, l.Name)
	if err != nil || back.Term != 3 {
		t.Fatalf("decoded term %d, %v", back.Term, err)
	}
	if slices.ContainsFunc(EncodeTXT(zoeLobby()), func(s string) bool { return s[:2] == "tm" }) {
		t.Fatal("term 0 carried")
	}
	for _, bad := range []string{"tm=-1", "tm=4294967296", "tm=x"} {
		if l, err := DecodeTXT(append(EncodeTXT(zoeLobby()), bad), "x"); err != nil || l.Term != 0 {
			t.Errorf("%s: term %d, %v", bad, l.Term, err)
		}
	}
}

// TestBrowseHigherTermTakesTheLobby: two instances announce the same
// lobby id (its old host and the successor that took it over, under a
// conflict-renamed instance name): the one with the higher term shows it,
// whichever came first, and the old one changes nothing.
func TestBrowseHigherTermTakesTheLobby(t *testing.T) {
	tb, _ := newTestBrowser(t, "")
	old := zoeLobby()
	_, _, _, annOld := responderFor(t, old)
	tb.feedAll(annOld)
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Type != beacon.Added || ev[0].Lobby.Host.Port() != 7600 {
		t.Fatalf("events %v", ev)
	}
	taken := zoeLobby()
	taken.Name, taken.Port, taken.Term = "Zoë's game (2)", 7700, 1
	_, _, _, annNew := responderFor(t, taken)
	tb.feedAll(annNew)
	ev := tb.takeEvents()
	if len(ev) != 1 || ev[0].Type != beacon.Updated || ev[0].Lobby.Host.Port() != 7700 || ev[0].Lobby.Term != 1 {
		t.Fatalf("events after the takeover %v", ev)
	}
	tb.clk.advance(time.Second)
	tb.feedAll(annOld) // the old host, still announcing
	if ev := tb.takeEvents(); len(ev) != 0 {
		t.Fatalf("the lower term changed the view: %v", ev)
	}
	if s := tb.b.snapshot(); len(s) != 1 || s[0].Term != 1 || s[0].Host.Port() != 7700 {
		t.Fatalf("snapshot %+v", s)
	}
}
