package clients

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestLabSDKHostMode: a C# game and a Python game on lab host h1 each host
// a lobby with no set-up: no daemon on the LAN, so the SDK starts the real
// lanlobby binary shipped beside the game (`coordinator --host-mode`) as a
// child. The Go CLI on h2 lists the lobby by beacon and mDNS and joins it.
// Then the game is killed with SIGKILL: the child must exit (its parent
// died), and the lobby's goodbye must reach h2, whose CLI member sees the
// lobby close.
func TestLabSDKHostMode(t *testing.T) {
	exe := buildCSharp(t)
	py := need(t, "python3", "python3")
	src, _ := filepath.Abs("python/src")
	agent, _ := filepath.Abs("python/tests/lab_agent.py")
	games := map[string]func(dir string) []string{
		// The binary beside the game: SdkTests.exe's directory (the C# SDK
		// looks in the game's base directory) ...
		"csharp": func(dir string) []string {
			copyFile(t, exe, filepath.Join(dir, "SdkTests.exe"), 0o644)
			return []string{"mono", filepath.Join(dir, "SdkTests.exe"), "lab-host"}
		},
		// ... and the main script's directory (the Python SDK's).
		"python": func(dir string) []string {
			copyFile(t, agent, filepath.Join(dir, "game.py"), 0o644)
			return []string{"PYTHONPATH=" + src, py, filepath.Join(dir, "game.py"), "host"}
		},
	}
	for _, lang := range []string{"csharp", "python"} {
		t.Run(lang, func(t *testing.T) {
			lab := netlab.New(t, netlab.Options{Hosts: 2})
			h1, h2 := lab.Hosts[0], lab.Hosts[1]
			beacons := listenBeacons(t, h2)

			dir := t.TempDir()
			copyFile(t, binPath, filepath.Join(dir, "lanlobby"), 0o755)
			game := "host-" + lang
			// No $LANLOBBY_BIN: the SDK must find the binary beside the game.
			argv := append([]string{"-u", "LANLOBBY_BIN", "LANLOBBY_INTERFACE=" + labIface}, games[lang](dir)...)
			g := h1.Start(t, "/usr/bin/env", append(argv, game, "Zoë's "+lang+" game", "7001")...)
			hosted := waitJSON(t, g, 30*time.Second, "hosted", nil)
			lobbyID, _ := hosted["lobby"].(string)
			childPid := int(hosted["child_pid"].(float64))
			_, portStr, _ := strings.Cut(hosted["coordinator"].(string), ":")
			port, _ := strconv.Atoi(portStr)
			if lobbyID == "" || childPid <= 0 || port <= 0 || !strings.HasSuffix(hosted["listen"].(string), ":"+portStr) {
				t.Fatalf("%s game: %v (want a lobby at a coordinator child)", lang, hosted)
			}
			if !alive(childPid) {
				t.Fatalf("coordinator child %d is not running", childPid)
			}
			coordAddr := fmt.Sprintf("%s:%d", h1.IPv4, port)

			// The Go CLI on h2 finds it (beacon and mDNS) ...
			ls := h2.Start(t, binPath, "list", "--game", game, "--json", "--interface", labIface, "--timeout", "5s", "--first-answer-wait", "3s")
			if code, err := ls.Wait(20 * time.Second); code != 0 || err != nil {
				t.Fatalf("lanlobby list: exit %d %v\n%s", code, err, strings.Join(ls.Lines(), "\n"))
			}
			listed := false
			for _, line := range ls.Lines() {
				var m map[string]any
				listed = listed || json.Unmarshal([]byte(line), &m) == nil && m["id"] == lobbyID && m["addr"] == coordAddr &&
					m["players"] == float64(1) && m["name"] == "Zoë's "+lang+" game"
			}
			if !listed {
				t.Fatalf("lanlobby list on h2 did not show lobby %s at %s:\n%s", lobbyID, coordAddr, strings.Join(ls.Lines(), "\n"))
			}
			// ... and joins it.
			join := h2.Start(t, binPath, "join", "--game", game, "--port", "7002", "--player", "cli", "--json", "--interface", labIface,
				"--first-answer-wait", "3s")
			j := waitJSON(t, join, 20*time.Second, "joined", nil)
			var peers []string
			for _, p := range j["peers"].([]any) {
				peers = append(peers, p.(map[string]any)["addr"].(string))
			}
			if j["lobby"] != lobbyID || j["coordinator"] != coordAddr || !slices.Equal(peers, []string{h1.IPv4.String() + ":7001"}) ||
				j["you"].(map[string]any)["addr"] != h2.IPv4.String()+":7002" {
				t.Fatalf("lanlobby join on h2: %v (want lobby %s at %s, the game at %s:7001)", j, lobbyID, coordAddr, h1.IPv4)
			}
			waitJSON(t, g, 10*time.Second, "member_joined", func(m map[string]any) bool { return m["member"] == h2.IPv4.String()+":7002" })
			if n := beacons.coordinators(h1.IPv4.String()); n != 0 {
				t.Errorf("host mode announced itself as a coordinator daemon (%d packets)", n)
			}

			// kill -9 of the game alone (not its process group): no clean-up
			// code of the game runs.
			killed := time.Now()
			if err := g.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, "the coordinator child to exit after its game was killed", func() bool { return !alive(childPid) })
			testutil.WaitFor(t, 10*time.Second, "the lobby's goodbye on h2", func() bool { return beacons.goodbye(lobbyID) })
			waitJSON(t, join, 10*time.Second, "closed", func(m map[string]any) bool { return m["lobby"] == lobbyID })
			if code, err := join.Wait(10 * time.Second); code != 0 || err != nil {
				t.Errorf("lanlobby join after the lobby closed: exit %d %v", code, err)
			}
			t.Logf("%s game killed: child gone, goodbye on h2 and the CLI member out in %v", lang, time.Since(killed).Round(time.Millisecond))
		})
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// alive: the process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// beaconLog records the beacon packets a lab host hears on the default
// IPv4 group and port.
type beaconLog struct {
	done chan struct{}

	mu       sync.Mutex
	goodbyes map[string]bool
	coords   map[string]int // coordinator packets by source address
}

func (b *beaconLog) goodbye(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.goodbyes[id]
}

func (b *beaconLog) coordinators(src string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.coords[src]
}

// listenBeacons joins the IPv4 beacon group on h's LAN interface until the
// test ends.
func listenBeacons(t *testing.T, h *netlab.Host) *beaconLog {
	t.Helper()
	var conn *net.UDPConn
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(labIface)
		if err != nil {
			return err
		}
		conn, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(beacon.DefaultGroupIPv4), Port: beacon.DefaultPort})
		return err
	}); err != nil {
		t.Fatalf("listening to beacons on %s: %v", h.Name, err)
	}
	b := &beaconLog{done: make(chan struct{}), goodbyes: map[string]bool{}, coords: map[string]int{}}
	go func() {
		defer close(b.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p, derr := beacon.Decode(buf[:n])
			if err != nil || derr != nil {
				continue
			}
			b.mu.Lock()
			switch p.Kind {
			case beacon.KindGoodbye:
				for _, lb := range p.Lobbies {
					b.goodbyes[lb.ID] = true
				}
			case beacon.KindCoordinator:
				b.coords[from.IP.String()]++
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-b.done
	})
	return b
}
