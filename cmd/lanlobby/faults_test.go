package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// soakDuration is how long TestLabLossAndDelaySoak holds a lossy, slow
// network: 60 s as the reliability claim says; LANLOBBY_SOAK shortens or
// lengthens it (e.g. LANLOBBY_SOAK=10m for a longer run).
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("LANLOBBY_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LANLOBBY_SOAK: %v", err)
		}
		return d
	}
	return 60 * time.Second
}

// labLobby starts a daemon on h1 with default heartbeat settings and a
// lobby with a member on each other host, all as real processes.
func labLobby(t *testing.T, lab *netlab.Lab) (members []*netlab.Process, id string) {
	t.Helper()
	h1 := lab.Hosts[0]
	daemon := labRun(t, h1, "coordinator", "--listen", ":7600", "--announce=false")
	waitJSON(t, daemon, 10*time.Second, "listening", nil)
	coord := h1.IPv4.String() + ":7600"
	owner := labRun(t, lab.Hosts[1], "host", "--coordinator", coord, "--game", "soak", "--name", "soak", "--players", "8", "--port", "7777", "--player", "h2")
	id = waitJSON(t, owner, 10*time.Second, "created", nil)["lobby"].(string)
	members = append(members, owner)
	for _, h := range lab.Hosts[2:] {
		p := labRun(t, h, "join", id, "--coordinator", coord, "--port", "7777", "--player", h.Name)
		waitJSON(t, p, 10*time.Second, "joined", nil)
		members = append(members, p)
	}
	// Everyone has heard of everyone who came after them.
	for i, p := range members {
		for range len(members) - 1 - i {
			waitJSON(t, p, 10*time.Second, "member_joined", nil)
		}
	}
	return members, id
}

// badEvents lists the membership-loss lines a member printed.
func badEvents(p *netlab.Process) []string {
	var bad []string
	for _, l := range p.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		switch m["event"] {
		case "member_left", "member_away", "error", "closed":
			bad = append(bad, l)
		}
	}
	return bad
}

// TestLabLossAndDelaySoak: 10% loss and 50 ms delay on every cable (so
// about 20% loss and 100 ms between any two hosts) for a minute, with the
// default heartbeat (1 s, 3 misses): nobody is dropped. The heartbeat
// counts any byte read, and TCP turns loss into delay.
func TestLabLossAndDelaySoak(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	members, _ := labLobby(t, lab)
	for _, h := range lab.Hosts {
		if err := h.Impair(netlab.Impairment{Loss: 0.10, Delay: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	hold := soakDuration(t)
	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) {
		for _, p := range members {
			if bad := badEvents(p); len(bad) > 0 {
				t.Fatalf("false drop after %v under loss: %s", hold-time.Until(deadline), strings.Join(bad, "\n"))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var dropped int64
	for _, h := range lab.Hosts {
		st, err := h.ImpairStats()
		if err != nil {
			t.Fatal(err)
		}
		dropped += st.Dropped
	}
	if dropped == 0 {
		t.Fatal("the impairment dropped nothing: the test proved nothing")
	}
	t.Logf("%v at 10%% loss + 50 ms per cable: %d frames dropped, 0 false drops", hold, dropped)
}

// TestLabLinkCutAndHeal: a member whose cable goes silent is reported away
// within heartbeat × (misses + 1); when the cable heals within the resume
// grace, its client reconnects by itself and keeps its seat.
func TestLabLinkCutAndHeal(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	members, _ := labLobby(t, lab)
	owner, victim, other := members[0], members[1], members[2]
	victimHost := lab.Hosts[2]
	cutAt := time.Now()
	if err := victimHost.SetLinkSilent(true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*netlab.Process{owner, other} {
		m := waitJSON(t, p, 10*time.Second, "member_away", nil)
		if m["reason"] != "timeout" {
			t.Fatalf("away: %v", m)
		}
	}
	away := time.Since(cutAt)
	t.Logf("silent cut: others told after %v (limit 1s × (3+1) = 4s)", away)
	if away > 4*time.Second+time.Second {
		t.Fatalf("cut noticed after %v", away)
	}
	if err := victimHost.SetLinkSilent(false); err != nil {
		t.Fatal(err)
	}
	healedAt := time.Now()
	waitJSON(t, victim, 15*time.Second, "resumed", nil)
	for _, p := range []*netlab.Process{owner, other} {
		waitJSON(t, p, 10*time.Second, "member_back", nil)
	}
	t.Logf("healed: client resumed %v after the heal", time.Since(healedAt))
	for _, p := range members {
		for _, l := range badEvents(p) {
			if !strings.Contains(l, "member_away") {
				t.Fatalf("%s", l)
			}
		}
	}
}
