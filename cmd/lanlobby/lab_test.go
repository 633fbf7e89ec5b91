package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// The tests in this file run the real lanlobby binary on hosts in network
// namespaces the test builds (internal/netlab): LAN discovery multicasts only
// inside the lab. Every command gets --interface lan0 explicitly, which also
// overrides the LANLOBBY_INTERFACE=lo that TestMain sets for loopback tests.

const labIface = "lan0"

// labRun starts lanlobby on a lab host with the lab interface and JSON output.
func labRun(t *testing.T, h *netlab.Host, args ...string) *netlab.Process {
	t.Helper()
	return h.Start(t, binPath, append(args, "--interface", labIface, "--json")...)
}

// waitJSON waits for the next stdout line of p that is a JSON object with
// the given event (any event when "") and satisfies cond.
func waitJSON(t *testing.T, p *netlab.Process, timeout time.Duration, event string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var got map[string]any
	p.WaitForStdoutLine(t, timeout, func(line string) bool {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			return false
		}
		if event != "" && m["event"] != event {
			return false
		}
		if cond != nil && !cond(m) {
			return false
		}
		got = m
		return true
	})
	return got
}

// lanList runs a one-shot `lanlobby list` on h and returns its lobbies.
func lanList(t *testing.T, h *netlab.Host, args ...string) []map[string]any {
	t.Helper()
	p := labRun(t, h, append([]string{"list"}, args...)...)
	if code, err := p.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("list on %s: exit %d %v\n%s", h.Name, code, err, strings.Join(p.Lines(), "\n"))
	}
	var out []map[string]any
	for _, line := range p.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["id"] != nil {
			out = append(out, m)
		}
	}
	return out
}

func member(m map[string]any) map[string]any {
	mm, _ := m["member"].(map[string]any)
	return mm
}

func peerAddrs(m map[string]any) []string {
	var out []string
	ps, _ := m["peers"].([]any)
	for _, p := range ps {
		out = append(out, p.(map[string]any)["addr"].(string))
	}
	return out
}

// TestLabZeroConfig is the "done when": host on one lab host, list
// on another shows it, two more quick-join with no address typed and fill
// it; every member prints the others' reachable addresses and the notices.
func TestLabZeroConfig(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	h1, h2, h3, h4 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2], lab.Hosts[3]
	host := labRun(t, h1, "host", "--game", "demo", "--name", "Alice's game", "--players", "3", "--port", "7777", "--player", "alice")
	created := waitJSON(t, host, 10*time.Second, "created", nil)
	lobbyID := created["lobby"].(string)

	ls := lanList(t, h2)
	if len(ls) != 1 || ls[0]["id"] != lobbyID || ls[0]["name"] != "Alice's game" || ls[0]["players"] != float64(1) ||
		!strings.HasPrefix(ls[0]["addr"].(string), h1.IPv4.String()+":") {
		t.Fatalf("list on h2: %v", ls)
	}
	if rtt, _ := ls[0]["rtt_ms"].(float64); rtt <= 0 {
		t.Errorf("list gave no round-trip time: %v", ls[0])
	}
	aliceAddr := h1.IPv4.String() + ":7777"

	bob := labRun(t, h3, "join", "--game", "demo", "--port", "7777", "--player", "bob")
	j := waitJSON(t, bob, 10*time.Second, "joined", nil)
	if j["lobby"] != lobbyID || fmt.Sprint(peerAddrs(j)) != fmt.Sprint([]string{aliceAddr}) {
		t.Fatalf("bob joined: %v (want peer %s)", j, aliceAddr)
	}
	m := waitJSON(t, host, 5*time.Second, "member_joined", nil)
	if member(m)["addr"] != h3.IPv4.String()+":7777" || member(m)["name"] != "bob" {
		t.Fatalf("alice saw: %v", m)
	}

	carol := labRun(t, h4, "join", "--game", "demo", "--port", "7777", "--player", "carol")
	j = waitJSON(t, carol, 10*time.Second, "joined", nil)
	if j["lobby"] != lobbyID || fmt.Sprint(peerAddrs(j)) != fmt.Sprint([]string{aliceAddr, h3.IPv4.String() + ":7777"}) {
		t.Fatalf("carol joined: %v", j)
	}
	for _, p := range []*netlab.Process{host, bob} {
		m := waitJSON(t, p, 5*time.Second, "member_joined", func(m map[string]any) bool { return member(m)["name"] == "carol" })
		if member(m)["addr"] != h4.IPv4.String()+":7777" || m["players"] != float64(3) {
			t.Fatalf("carol's arrival: %v", m)
		}
	}
	// Full now: a fourth player finds no open lobby.
	dan := labRun(t, h2, "join", "--game", "demo", "--port", "7777")
	if code, _ := dan.Wait(10 * time.Second); code != exitFailure {
		t.Fatalf("join of a full LAN: exit %d\n%s", code, strings.Join(dan.Lines(), "\n"))
	}
	// And by name works too, from a host that is not yet in: a new lobby.
	host2 := labRun(t, h2, "host", "--game", "demo", "--name", "Zoë's ☕ room", "--players", "2", "--port", "9000")
	waitJSON(t, host2, 10*time.Second, "created", nil)
	byName := labRun(t, h3, "join", "Zoë's ☕ room", "--port", "9001")
	if j := waitJSON(t, byName, 10*time.Second, "joined", nil); j["name"] != "Zoë's ☕ room" {
		t.Fatalf("join by name: %v", j)
	}
}

// TestLabWatchSeesChangesKillAndGoodbye: a running watch sees a lobby
// appear, its player count change within milliseconds of a join, a clean
// stop remove it at once (goodbye), and kill -9 remove it within the
// beacon expiry.
func TestLabWatchSeesChangesKillAndGoodbye(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	watch := labRun(t, h2, "watch")
	// A long beacon interval, so only a goodbye can explain a quick removal.
	host := labRun(t, h1, "host", "--game", "demo", "--name", "calm", "--players", "4", "--port", "1", "--beacon-interval", "5s")
	id := waitJSON(t, host, 10*time.Second, "created", nil)["lobby"].(string)
	waitJSON(t, watch, 5*time.Second, "added", func(m map[string]any) bool { return m["id"] == id })

	join := labRun(t, h3, "join", id, "--port", "2")
	waitJSON(t, join, 10*time.Second, "joined", nil)
	joinedAt := time.Now()
	waitJSON(t, watch, 5*time.Second, "updated", func(m map[string]any) bool { return m["id"] == id && m["players"] == float64(2) })
	t.Logf("player count updated in watch %v after the join was printed", time.Since(joinedAt))

	stopAt := time.Now()
	host.Signal(syscall.SIGTERM)
	waitJSON(t, watch, 5*time.Second, "removed", func(m map[string]any) bool { return m["id"] == id })
	if d := time.Since(stopAt); d > 3*time.Second {
		t.Fatalf("clean stop removed after %v; a goodbye should be immediate (interval 5s)", d)
	} else {
		t.Logf("clean stop: removed from watch after %v", d)
	}

	// kill -9: no goodbye; the lobby expires after 3 silent periods.
	const interval = 200 * time.Millisecond
	doomed := labRun(t, h1, "host", "--game", "demo", "--name", "doomed", "--players", "2", "--port", "1", "--beacon-interval", interval.String())
	did := waitJSON(t, doomed, 10*time.Second, "created", nil)["lobby"].(string)
	waitJSON(t, watch, 5*time.Second, "added", func(m map[string]any) bool { return m["id"] == did })
	killAt := time.Now()
	doomed.Cmd.Process.Kill()
	waitJSON(t, watch, 10*time.Second, "removed", func(m map[string]any) bool { return m["id"] == did })
	d := time.Since(killAt)
	t.Logf("kill -9: removed from watch after %v", d)
	// TTL = 3 × (interval + jitter) rounded up to whole seconds = 1 s.
	if d > 3*time.Second {
		t.Fatalf("killed lobby lingered %v", d)
	}
}

// TestLabQuickJoinPicksClosestToFull: three visible lobbies; a quick-join
// lands in the one with the fewest free slots.
func TestLabQuickJoinPicksClosestToFull(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	ids := map[int]string{}
	for i, capacity := range []int{5, 3, 8} {
		p := labRun(t, lab.Hosts[i], "host", "--game", "race", "--name", fmt.Sprint("cap", capacity), "--players", fmt.Sprint(capacity), "--port", "1")
		ids[capacity] = waitJSON(t, p, 10*time.Second, "created", nil)["lobby"].(string)
	}
	// Another game's lobby, closer to full, must not attract the player.
	other := labRun(t, lab.Hosts[3], "host", "--game", "other", "--name", "x", "--players", "2", "--port", "1")
	waitJSON(t, other, 10*time.Second, "created", nil)
	p := labRun(t, lab.Hosts[3], "join", "--game", "race", "--port", "2")
	j := waitJSON(t, p, 10*time.Second, "joined", nil)
	if j["lobby"] != ids[3] {
		t.Fatalf("joined %v, want the capacity-3 lobby %s", j["lobby"], ids[3])
	}
	// Now that one has 1 free slot left; the next player goes there too.
	p2 := labRun(t, lab.Hosts[1], "join", "--game", "race", "--port", "3")
	if j := waitJSON(t, p2, 10*time.Second, "joined", nil); j["lobby"] != ids[3] {
		t.Fatalf("second joined %v, want %s", j["lobby"], ids[3])
	}
	// Full: the third goes to the capacity-5 lobby (4 free beats 7 free).
	p3 := labRun(t, lab.Hosts[0], "join", "--game", "race", "--port", "4")
	if j := waitJSON(t, p3, 10*time.Second, "joined", nil); j["lobby"] != ids[5] {
		t.Fatalf("third joined %v, want %s", j["lobby"], ids[5])
	}
}

// TestLabSubnets: the beacon stays inside its subnet; --coordinator crosses
// the router.
func TestLabSubnets(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2, Subnets: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	if h1.Subnet == h2.Subnet {
		t.Fatalf("hosts in one subnet: %d", h1.Subnet)
	}
	host := labRun(t, h1, "host", "--game", "demo", "--name", "far", "--players", "2", "--port", "7777")
	created := waitJSON(t, host, 10*time.Second, "created", nil)
	if ls := lanList(t, h2, "--quiet", "300ms"); len(ls) != 0 {
		t.Fatalf("beacon crossed the router: %v", ls)
	}
	coord := h1.IPv4.String() + created["coordinator"].(string) // ":PORT"
	p := labRun(t, h2, "join", created["lobby"].(string), "--coordinator", coord, "--port", "7777")
	j := waitJSON(t, p, 10*time.Second, "joined", nil)
	if fmt.Sprint(peerAddrs(j)) != fmt.Sprint([]string{h1.IPv4.String() + ":7777"}) {
		t.Fatalf("cross-subnet join: %v", j)
	}
	if ls := lanList(t, h2, "--coordinator", coord); len(ls) != 1 || ls[0]["players"] != float64(2) {
		t.Fatalf("list --coordinator across subnets: %v", ls)
	}
}

// TestLabDaemon: a coordinator daemon announces itself; a host on another
// machine hands its lobby to it, and players find the lobby at the daemon.
func TestLabDaemon(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	daemon := labRun(t, h1, "coordinator", "--listen", ":7600")
	waitJSON(t, daemon, 10*time.Second, "listening", nil)
	host := labRun(t, h2, "host", "--game", "demo", "--name", "on the daemon", "--players", "2", "--port", "7777", "--daemon-wait", "500ms")
	created := waitJSON(t, host, 10*time.Second, "created", nil)
	if created["coordinator"] != h1.IPv4.String()+":7600" {
		t.Fatalf("host did not use the daemon: %v", created)
	}
	ls := lanList(t, h3)
	if len(ls) != 1 || ls[0]["addr"] != h1.IPv4.String()+":7600" {
		t.Fatalf("list: %v", ls)
	}
	p := labRun(t, h3, "join", "--game", "demo", "--port", "7777")
	j := waitJSON(t, p, 10*time.Second, "joined", nil)
	if fmt.Sprint(peerAddrs(j)) != fmt.Sprint([]string{h2.IPv4.String() + ":7777"}) {
		t.Fatalf("join via daemon: %v", j)
	}
	waitJSON(t, host, 5*time.Second, "member_joined", nil)
}

// TestLabMDNSOnly: with the beacon switched off, lobbies are listed,
// joined and watched over mDNS/DNS-SD alone; when the host dies its
// successor's takeover shows in a running watch (same id, the new host's
// address), and when the last host dies without goodbyes the lobby
// leaves the watch within the beacon expiry even so; with mDNS switched
// off the beacon works alone.
func TestLabMDNSOnly(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	watch := labRun(t, h3, "watch", "--no-beacon")
	host := labRun(t, h1, "host", "--no-beacon", "--game", "demo", "--name", "Zoë's mDNS game", "--players", "3", "--port", "7777")
	id := waitJSON(t, host, 10*time.Second, "created", nil)["lobby"].(string)
	added := waitJSON(t, watch, 10*time.Second, "added", func(m map[string]any) bool { return m["id"] == id })
	if added["source"] != "mdns" || added["name"] != "Zoë's mDNS game" {
		t.Fatalf("watch --no-beacon: %v", added)
	}
	var ls []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(ls) == 0 && time.Now().Before(deadline) {
		ls = lanList(t, h2, "--no-beacon")
	}
	if len(ls) != 1 || ls[0]["id"] != id || ls[0]["source"] != "mdns" || !strings.HasPrefix(ls[0]["addr"].(string), h1.IPv4.String()+":") {
		t.Fatalf("list --no-beacon: %v", ls)
	}
	if only := lanList(t, h2, "--no-mdns"); len(only) != 0 {
		t.Fatalf("the host announced on the beacon despite --no-beacon: %v", only)
	}
	p := labRun(t, h2, "join", "--no-beacon", "--game", "demo", "--port", "7777")
	if j := waitJSON(t, p, 10*time.Second, "joined", nil); j["lobby"] != id {
		t.Fatalf("join --no-beacon: %v", j)
	}
	waitJSON(t, watch, 10*time.Second, "updated", func(m map[string]any) bool { return m["id"] == id && m["players"] == float64(2) })
	// The host dies: the player, its successor, takes the lobby over and
	// announces it from its own host, which the watch learns over mDNS
	// alone.
	killAt := time.Now()
	host.Cmd.Process.Kill()
	if ev := waitJSON(t, p, 10*time.Second, "taken_over", nil); ev["lobby"] != id || ev["players"] != float64(1) {
		t.Fatalf("the player on the host's death: %v", ev)
	}
	waitJSON(t, watch, 10*time.Second, "updated", func(m map[string]any) bool {
		return m["id"] == id && m["players"] == float64(1) && m["source"] == "mdns" && strings.HasPrefix(m["addr"].(string), h2.IPv4.String()+":")
	})
	t.Logf("mDNS only: host killed, the takeover seen in the watch after %v", time.Since(killAt))
	// The new host dies too, with nobody left to take over: the lobby
	// goes from the watch without goodbyes, by its liveness.
	killAt = time.Now()
	p.Cmd.Process.Kill()
	waitJSON(t, watch, 15*time.Second, "removed", func(m map[string]any) bool { return m["id"] == id })
	t.Logf("mDNS only: host killed without goodbyes, gone from watch after %v", time.Since(killAt))
	if d := time.Since(killAt); d > 9*time.Second {
		t.Fatalf("dead host lingered %v in an mDNS-only watch", d)
	}

	// And the beacon alone.
	host2 := labRun(t, h1, "host", "--no-mdns", "--game", "demo", "--name", "beacon only", "--players", "2", "--port", "1")
	id2 := waitJSON(t, host2, 10*time.Second, "created", nil)["lobby"].(string)
	if ls := lanList(t, h2, "--no-mdns"); len(ls) != 1 || ls[0]["id"] != id2 || ls[0]["source"] != "beacon" {
		t.Fatalf("list --no-mdns: %v", ls)
	}
}

// TestLabAvahiSeesHost: a plain `lanlobby host` shows up in avahi-browse
// on another host, resolved to the host's address with our TXT record.
func TestLabAvahiSeesHost(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	av := h2.StartAvahi(t)
	host := labRun(t, h1, "host", "--game", "demo", "--name", "Alice's game", "--players", "3", "--port", "7777")
	id := waitJSON(t, host, 10*time.Second, "created", nil)["lobby"].(string)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := av.Command(t.Context(), "avahi-browse", "-rtp", "_lanlobby._tcp").Output()
		for _, line := range strings.Split(string(out), "\n") {
			e, ok := netlab.ParseAvahiBrowse(line)
			if ok && e.Event == "=" && e.Name == "Alice's game" && e.Protocol == "IPv4" {
				if e.Addr != h1.IPv4 || !strings.Contains(strings.Join(e.TXT, " "), "id="+id) {
					t.Fatalf("avahi resolved %+v", e)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("avahi-browse never resolved the lobby:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLabLANKey: with --lan-key, a host's beacon and mDNS announcements are
// signed; a player with the same key lists the lobby over both protocols,
// one with another key sees nothing.
func TestLabLANKey(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	host := labRun(t, h1, "host", "--lan-key", "party at alice's", "--game", "demo", "--name", "signed", "--players", "2", "--port", "1")
	id := waitJSON(t, host, 10*time.Second, "created", nil)["lobby"].(string)
	for _, only := range []string{"--no-mdns", "--no-beacon"} {
		var ls []map[string]any
		deadline := time.Now().Add(10 * time.Second)
		for len(ls) == 0 && time.Now().Before(deadline) {
			ls = lanList(t, h2, only, "--lan-key", "party at alice's")
		}
		if len(ls) != 1 || ls[0]["id"] != id {
			t.Fatalf("list %s with the key: %v", only, ls)
		}
		if other := lanList(t, h2, only, "--lan-key", "someone else", "--quiet", "300ms"); len(other) != 0 {
			t.Fatalf("list %s with another key saw %v", only, other)
		}
	}
}
