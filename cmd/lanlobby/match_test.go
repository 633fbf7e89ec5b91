package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestMatchmakingFlags: host with --meta and --game-version; list, watch
// and join keep to the lobbies that pass --filter and --game-version; a
// join for --seats 2 prints the reservation its friend claims with
// --reservation; watch on a coordinator follows its subscription.
func TestMatchmakingFlags(t *testing.T) {
	_, addr := startCoordinator(t)
	hostLobby := func(name string, args ...string) (*proc, string) {
		t.Helper()
		p := start(t, name, append([]string{"host", "--coordinator", addr, "--game", "demo", "--name", name,
			"--players", "4", "--port", "7777", "--json"}, args...)...)
		return p, p.next(10*time.Second, event("created"))["lobby"].(string)
	}
	_, dunes := hostLobby("dunes", "--meta", "map=dunes", "--meta", "level=12", "--game-version", "1.4")
	forestHost, forest := hostLobby("forest", "--meta", "map=forest", "--game-version", "1.4")
	hostLobby("old", "--meta", "map=dunes", "--game-version", "1.3")

	watch := start(t, "watch", "watch", "--coordinator", addr, "--game", "demo", "--filter", "map=forest", "--json")
	if m := watch.next(10*time.Second, event("added")); m["id"] != forest || m["version"] != "1.4" {
		t.Fatalf("watch: %v", m)
	}

	list := start(t, "list", "list", "--coordinator", addr, "--game", "demo", "--filter", "map=dunes",
		"--filter", "level>=10", "--game-version", "1.4", "--json")
	if m := list.next(10*time.Second, func(m map[string]any) bool { return m["id"] != nil }); m["id"] != dunes ||
		m["version"] != "1.4" || m["meta"].(map[string]any)["map"] != "dunes" {
		t.Fatalf("list: %v", m)
	}
	if code := list.wait(10 * time.Second); code != 0 {
		t.Fatalf("list exit %d", code)
	}
	if n := len(list.snapshot()); n != 1 {
		t.Fatalf("list printed %d lobbies, want 1", n)
	}

	lead := start(t, "lead", "join", "--coordinator", addr, "--game", "demo", "--filter", "map=dunes",
		"--game-version", "1.4", "--version-rule", "compatible", "--seats", "2", "--port", "8001", "--json")
	if m := lead.next(10*time.Second, event("joined")); m["lobby"] != dunes {
		t.Fatalf("lead joined %v, want %s", m, dunes)
	}
	res := lead.next(10*time.Second, event("reserved"))
	if res["lobby"] != dunes || res["seats"] != float64(1) || res["token"] == "" {
		t.Fatalf("reserved: %v", res)
	}
	friend := start(t, "friend", "join", "--coordinator", addr, dunes, "--reservation", res["token"].(string), "--port", "8002", "--json")
	if m := friend.next(10*time.Second, event("joined")); m["lobby"] != dunes || len(m["peers"].([]any)) != 2 {
		t.Fatalf("friend: %v", m)
	}

	forestHost.cmd.Process.Signal(syscall.SIGTERM)
	if m := watch.next(10*time.Second, event("removed")); m["id"] != forest {
		t.Fatalf("watch after the host left: %v", m)
	}
	for _, bad := range [][]string{{"--filter", "nokey"}, {"--filter", "level>=ten"}, {"--version-rule", "semver", "--game-version", "1"}} {
		p := start(t, fmt.Sprint("bad", bad), append([]string{"list", "--coordinator", addr}, bad...)...)
		if code := p.wait(10 * time.Second); code != exitUsage {
			t.Errorf("list %v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}
