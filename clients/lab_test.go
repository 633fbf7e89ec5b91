package clients

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// labIface is every lab host's LAN interface; discovery is pinned to it.
const labIface = "lan0"

func waitJSON(t *testing.T, p *netlab.Process, timeout time.Duration, event string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var got map[string]any
	p.WaitForStdoutLine(t, timeout, func(line string) bool {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["event"] != event || (cond != nil && !cond(m)) {
			return false
		}
		got = m
		return true
	})
	return got
}

func keyFlag(key string) []string {
	if key == "" {
		return nil
	}
	return []string{"--lan-key", key}
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestLabSDKsQuickJoinByBeacon: the Go CLI hosts a lobby on lab host h1; the
// C# SDK on h2 and the Python SDK on h3 find it by beacon (nothing typed),
// quick-join it at h1's coordinator, get the peers' LAN addresses, and see
// each other join. With and without a LAN key (signed beacons).
func TestLabSDKsQuickJoinByBeacon(t *testing.T) {
	exe := buildCSharp(t)
	py := need(t, "python3", "python3")
	agent, _ := filepath.Abs("python/tests/lab_agent.py")
	for _, key := range []string{"", "lab passphrase"} {
		name := "unsigned"
		if key != "" {
			name = "lan-key"
		}
		t.Run(name, func(t *testing.T) {
			lab := netlab.New(t, netlab.Options{Hosts: 3})
			h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
			env := []string{"LANLOBBY_INTERFACE=" + labIface, "LANLOBBY_BIN=" + binPath}
			hostArgs := []string{"host", "--game", "demo", "--name", "Zoë's lab", "--players", "3", "--port", "7777",
				"--player", "alice", "--interface", labIface, "--no-mdns", "--json"}
			var keyArg []string
			if key != "" {
				hostArgs = append(hostArgs, "--lan-key", key)
				keyArg = []string{key}
			}
			host := h1.Start(t, binPath, hostArgs...)
			lobbyID, _ := waitJSON(t, host, 15*time.Second, "created", nil)["lobby"].(string)
			alice := h1.IPv4.String() + ":7777"

			cs := h2.Start(t, "/usr/bin/env", append(append(env, "mono", exe, "lab-quickjoin", "demo", "7777"), keyArg...)...)
			j := waitJSON(t, cs, 30*time.Second, "joined", nil)
			if j["lobby"] != lobbyID || !slices.Equal(strs(j["peers"]), []string{alice}) ||
				!strings.HasPrefix(j["coordinator"].(string), h1.IPv4.String()+":") || j["you"] != h2.IPv4.String()+":7777" {
				t.Fatalf("C# quick-join on h2: %v (want lobby %s, peer %s)", j, lobbyID, alice)
			}
			waitJSON(t, host, 10*time.Second, "member_joined", nil)

			// The Python SDK's smoke entry point lists it by beacon.
			src, _ := filepath.Abs("python/src")
			ls := h3.Start(t, "/usr/bin/env", append(append(env, "PYTHONPATH="+src, py, "-m", "lanlobby", "list", "--json"), keyFlag(key)...)...)
			if code, err := ls.Wait(20 * time.Second); code != 0 || err != nil {
				t.Fatalf("python -m lanlobby list: exit %d %v", code, err)
			}
			listed := false
			for _, line := range ls.Lines() {
				var m map[string]any
				listed = listed || json.Unmarshal([]byte(line), &m) == nil && m["id"] == lobbyID && m["name"] == "Zoë's lab" &&
					m["players"] == float64(2) && strings.HasPrefix(m["addr"].(string), h1.IPv4.String()+":")
			}
			if !listed {
				t.Fatalf("python -m lanlobby list on h3 did not show lobby %s:\n%s", lobbyID, strings.Join(ls.Lines(), "\n"))
			}

			pyAgent := h3.Start(t, "/usr/bin/env", append(append(env, py, agent, "quickjoin", "demo", "7777"), keyArg...)...)
			j = waitJSON(t, pyAgent, 30*time.Second, "joined", nil)
			if j["lobby"] != lobbyID || !slices.Equal(strs(j["peers"]), []string{alice, h2.IPv4.String() + ":7777"}) ||
				j["you"] != h3.IPv4.String()+":7777" {
				t.Fatalf("Python quick-join on h3: %v (want lobby %s, peers %s and h2)", j, lobbyID, alice)
			}
			// The C# member is told of the Python one, with its LAN address.
			waitJSON(t, cs, 10*time.Second, "member_joined", func(m map[string]any) bool {
				return m["member"] == h3.IPv4.String()+":7777" && m["players"] == float64(3)
			})
		})
	}
}
