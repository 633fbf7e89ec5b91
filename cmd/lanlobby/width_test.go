package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
)

func TestTextWidth(t *testing.T) {
	for s, want := range map[string]int{
		"abc": 3, "Zoë": 3, "Zoe\u0308": 3, "日本語": 6, "🎮": 2, "👍🏽": 2, "👩‍👩‍👧": 6,
		"ｆｕｌｌ": 8, "한국어": 6, "e\u0301": 1, "": 0,
	} {
		if got := textWidth(s); got != want {
			t.Errorf("textWidth(%q) = %d, want %d", s, got, want)
		}
	}
	for _, c := range []struct {
		s     string
		width int
		want  string
	}{
		{"abc", 5, "abc  "},
		{"abcdefgh", 5, "abcd…"},
		{"日本語のロビー", 7, "日本語…"},
		{"日本語のロビー", 8, "日本語… "},
		{"🎮🎮🎮", 4, "🎮… "},
	} {
		if got := cell(c.s, c.width); got != c.want || textWidth(got) != c.width {
			t.Errorf("cell(%q, %d) = %q (width %d), want %q", c.s, c.width, got, textWidth(got), c.want)
		}
	}
}

// TestTableAligns: with wide, combining and long names, every column of
// every row starts at the same terminal column; duplicate names (without
// case) are marked; no link-local zone is shown.
func TestTableAligns(t *testing.T) {
	ap := netip.MustParseAddrPort
	ls := []lanlobby.LobbyInfo{
		{ID: "aaaaaaaaaa", Name: "日本語のロビー", Game: "demo", Players: 1, Capacity: 4, State: beacon.StateOpen, Host: ap("198.18.0.1:7600")},
		{ID: "bbbbbbbbbb", Name: "🎮 Party 🎉", Game: "demo", Players: 2, Capacity: 4, State: beacon.StateOpen, Host: ap("198.18.0.2:7600")},
		{ID: "cccccccccc", Name: "a very long lobby name that does not fit", Game: "a-long-game-id", Players: 10, Capacity: 64, State: beacon.StateStarted, Host: ap("[fe80::1%lan0]:7600")},
		{ID: "dddddddddd", Name: "Same Name", Game: "demo", Players: 1, Capacity: 2, State: beacon.StateFull, Host: ap("198.18.0.4:7600")},
		{ID: "eeeeeeeeee", Name: "same name", Game: "demo", Players: 1, Capacity: 2, State: beacon.StateOpen, Host: ap("198.18.0.5:7600")},
	}
	out := table(ls, true)
	lines := strings.Split(out, "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[6], "join one by its ID") {
		t.Fatalf("table:\n%s", out)
	}
	// The column of "PLAYERS" and of the host, in terminal columns.
	colOf := func(line, field string) int { return textWidth(line[:strings.Index(line, field)]) }
	for i, l := range ls {
		row := lines[i+1]
		players := fmt.Sprintf("  %d/%d ", l.Players, l.Capacity)
		if got, want := colOf(row, players)+2, colOf(lines[0], "PLAYERS"); got != want {
			t.Errorf("row %d: players at column %d, header at %d:\n%s", i, got, want, out)
		}
		if got, want := colOf(row, hostString(l.Host)), colOf(lines[0], "HOST"); got != want {
			t.Errorf("row %d: host at column %d, header at %d:\n%s", i, got, want, out)
		}
	}
	if strings.Contains(out, "%") || !strings.Contains(out, "[fe80::1]:7600") {
		t.Errorf("zone shown or address lost:\n%s", out)
	}
	if !strings.Contains(lines[4], "*Same Name") || !strings.Contains(lines[5], "*same name") || strings.Contains(lines[1], "*") {
		t.Errorf("duplicates not marked:\n%s", out)
	}
}

func TestWording(t *testing.T) {
	if leftHow("left") != "left" || leftHow("timeout") != "dropped (timeout)" || leftHow("slow_consumer") != "dropped (slow consumer)" {
		t.Error(leftHow("left"), leftHow("timeout"), leftHow("slow_consumer"))
	}
	if plural(1, "lobby", "lobbies") != "1 lobby" || plural(2, "lobby", "lobbies") != "2 lobbies" || plural(0, "lobby", "lobbies") != "0 lobbies" {
		t.Error("plural")
	}
	if s := ownerText("you", "", nil); s != "* owner is now you" {
		t.Error(s)
	}
}
