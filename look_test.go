package lanlobby

import (
	"testing"
	"time"
)

func TestLookRule(t *testing.T) {
	cfg := DefaultConfig()
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	cases := []struct {
		name  string
		heard []float64 // answer times, ms after the query; negative: over IPv6
		want  float64   // deadline, ms after the query
	}{
		{"nobody answers: first-answer wait", nil, 150},
		{"fast LAN: settle after the last", []float64{0.6, 0.9, 1.2}, 11.2},
		{"slow first answer stretches the window", []float64{15}, 15 + 45},
		{"an answer after the window is too late", []float64{1, 15}, 11},
		{"IPv6 first waits for IPv4", []float64{-0.5}, 10.5},
		{"capped by max wait", []float64{140, 500}, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLook(cfg.withDefaults(), t0)
			for _, h := range tc.heard {
				v4 := h >= 0
				if !v4 {
					h = -h
				}
				l.heard(ms(h), v4, true)
			}
			if got := l.deadline(); !got.Equal(ms(tc.want)) {
				t.Fatalf("deadline %v after the query, want %vms", got.Sub(t0), tc.want)
			}
		})
	}
}

// TestLookEndsForGood: once over, later announcements (a host announcing
// every second) do not reopen the look.
func TestLookEndsForGood(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLook(DefaultConfig().withDefaults(), t0)
	l.heard(t0.Add(time.Millisecond), true, true)
	end := l.deadline()
	l.heard(t0.Add(2*time.Second), true, true)
	if got := l.deadline(); !got.Equal(end) {
		t.Fatalf("deadline moved from %v to %v", end.Sub(t0), got.Sub(t0))
	}
}

// TestSortLobbies: open lobbies in the quick-join order a coordinator
// uses (lobby.CompareCandidates: fewest free seats, the oldest, then by
// id; an unknown age last), then the rest by name.
func TestSortLobbies(t *testing.T) {
	old := func(l LobbyInfo, ms int64) LobbyInfo { l.CreatedMS = ms; return l }
	ls := []LobbyInfo{
		{ID: "started", Name: "a", Players: 1, Capacity: 4, State: 3},
		{ID: "three", Name: "z", Players: 1, Capacity: 4, State: 1},
		old(LobbyInfo{ID: "one-new", Name: "y", Players: 3, Capacity: 4, State: 1, RTT: time.Millisecond}, 2000),
		old(LobbyInfo{ID: "one-old", Name: "x", Players: 1, Capacity: 2, State: 1, RTT: 2 * time.Millisecond}, 1000),
		{ID: "one-unknown", Name: "w", Players: 1, Capacity: 2, State: 1},
		{ID: "full", Name: "b", Players: 4, Capacity: 4, State: 2},
	}
	sortLobbies(ls)
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
	}
	want := []string{"one-old", "one-new", "one-unknown", "three", "started", "full"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
