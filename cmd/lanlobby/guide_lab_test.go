package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// TestLabListDuplicateNamesAndAmbiguousJoin: two hosts name their lobbies
// alike (but for case). The LAN list shows an ID column, marks both names
// and shows each host by its IPv4 address (never a zoned link-local one);
// join by that name refuses and lists both ids; join by id works. Each
// host prints its game address as the others see it.
func TestLabListDuplicateNamesAndAmbiguousJoin(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	a := labRun(t, h1, "host", "--game", "demo", "--name", "Same Name", "--players", "3", "--port", "7777")
	ca := waitJSON(t, a, 10*time.Second, "created", nil)
	b := labRun(t, h2, "host", "--game", "demo", "--name", "same name", "--players", "3", "--port", "7777")
	cb := waitJSON(t, b, 10*time.Second, "created", nil)
	for _, c := range []struct {
		m map[string]any
		h *netlab.Host
	}{{ca, h1}, {cb, h2}} {
		if want := c.h.IPv4.String() + ":7777"; c.m["you_seen_as"] != want {
			t.Errorf("%s: you_seen_as %v, want %s", c.h.Name, c.m["you_seen_as"], want)
		}
	}
	idA, idB := ca["lobby"].(string), cb["lobby"].(string)

	ls := lanList(t, h3)
	if len(ls) != 2 {
		t.Fatalf("list: %v", ls)
	}
	for _, l := range ls {
		addr, _ := l["addr"].(string)
		if l["duplicate_name"] != true || strings.Contains(addr, "%") ||
			!(strings.HasPrefix(addr, h1.IPv4.String()+":") || strings.HasPrefix(addr, h2.IPv4.String()+":")) {
			t.Errorf("list entry %v", l)
		}
	}
	text := h3.Start(t, binPath, "list", "--interface", labIface)
	if code, err := text.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("list: %d %v", code, err)
	}
	out := strings.Join(text.Lines(), "\n")
	for _, want := range []string{"ID", "NAME", "HOST", idA, idB, "*Same Name", "*same name", "join one by its ID", h1.IPv4.String() + ":", h2.IPv4.String() + ":"} {
		if !strings.Contains(out, want) {
			t.Errorf("list text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "%") {
		t.Errorf("list shows a zone:\n%s", out)
	}

	j := labRun(t, h3, "join", "SAME NAME", "--port", "7777")
	if code, err := j.Wait(15 * time.Second); err != nil || code != exitFailure {
		t.Fatalf("ambiguous join: exit %d %v\n%s", code, err, strings.Join(j.Lines(), "\n"))
	}
	var e map[string]any
	for _, line := range j.Lines() {
		if json.Unmarshal([]byte(line), &e) == nil && e["event"] == "error" {
			break
		}
	}
	msg, _ := e["error"].(string)
	if !strings.Contains(msg, "2 lobbies are named") || !strings.Contains(msg, idA) || !strings.Contains(msg, idB) || !strings.Contains(e["hint"].(string), "by its id") {
		t.Fatalf("ambiguous join error: %v", e)
	}
	ok := labRun(t, h3, "join", idA, "--port", "7777")
	joined := waitJSON(t, ok, 10*time.Second, "joined", nil)
	if joined["lobby"] != idA || peerAddrs(joined)[0] != h1.IPv4.String()+":7777" {
		t.Fatalf("join by id: %v", joined)
	}
}
