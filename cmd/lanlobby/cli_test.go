package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lanlobby/lanlobby/lobby"
)

// binPath is the lanlobby binary built once for these tests: they run the
// real program as separate processes, as a user would.
var binPath string

func TestMain(m *testing.M) {
	// These tests run on the machine's own network namespace: nothing may
	// multicast on its real interfaces. Every child process inherits this
	// and keeps any LAN discovery on loopback; coordinators also run with
	// --announce=false. Multi-host LAN tests live in lab_test.go, inside
	// network namespaces.
	os.Setenv("LANLOBBY_INTERFACE", "lo")
	// The children are race-built: without this each would sleep a second
	// before it exits (the race runtime's default atexit_sleep_ms), which
	// adds up to minutes over the lab tests. A race is still reported on
	// the child's stderr and makes it exit with code 66.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	dir, err := os.MkdirTemp("", "lanlobby-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "lanlobby")
	// Coordinator daemons keep their secret in their default state
	// directory (under the configuration directory), here a temporary
	// one, not the user's; a restarted one finds it again.
	os.Unsetenv("LANLOBBY_STATE_DIR")
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	build := exec.Command("go", "build", "-race", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building lanlobby:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every goroutine a test started (process readers, lab helpers)
		// has ended.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running lanlobby process whose stdout lines are collected.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  int // lines consumed by next()
	done  chan struct{}
	err   error
	errb  bytes.Buffer
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(binPath, args...), done: make(chan struct{})}
	p.cmd.Stderr = &p.errb
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, strings.Join(p.snapshot(), "\n"), p.name, p.errb.String())
		}
	})
	return p
}

func (p *proc) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// next returns the next unconsumed JSON line that satisfies match, waiting
// up to timeout.
func (p *proc) next(timeout time.Duration, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for p.seen < len(p.lines) {
			line := p.lines[p.seen]
			p.seen++
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && match(m) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no matching line within %v", p.name, timeout)
		}
		select {
		case <-p.done:
			// Drain what is left, then give up.
			p.mu.Lock()
			left := p.seen < len(p.lines)
			p.mu.Unlock()
			if !left {
				p.t.Fatalf("%s exited (%v) before printing the expected line", p.name, p.err)
			}
		case <-time.After(time.Millisecond):
		}
	}
}

func event(name string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["event"] == name }
}

func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// startCoordinator runs `lanlobby coordinator` on a free loopback port.
func startCoordinator(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	c := start(t, "coordinator", append([]string{"coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json", "--http", ""}, args...)...)
	m := c.next(10*time.Second, event("listening"))
	return c, m["addr"].(string)
}

// TestHostJoinNoticesKillAndStop is the acceptance scenario: a
// coordinator, one host and three joins; every member sees the peers and
// the notices; kill -9 of a join is noticed at once, kill -STOP of one
// after the heartbeat limit, and Ctrl-C of the host leaves cleanly.
func TestHostJoinNoticesKillAndStop(t *testing.T) {
	const heartbeat, misses = 100 * time.Millisecond, 3
	const grace = 500 * time.Millisecond
	_, addr := startCoordinator(t, "--heartbeat", heartbeat.String(), "--misses", fmt.Sprint(misses), "--resume-grace", grace.String())

	host := start(t, "host", "host", "--coordinator", addr, "--game", "demo", "--name", "Alice's game",
		"--players", "4", "--port", "7777", "--player", "alice", "--json")
	created := host.next(10*time.Second, event("created"))
	lobbyID := created["lobby"].(string)
	if created["name"] != "Alice's game" || created["capacity"] != float64(4) {
		t.Fatalf("created: %v", created)
	}

	joins := make([]*proc, 3)
	for i := range joins {
		args := []string{"join", "--coordinator", addr, "--port", fmt.Sprint(8000 + i), "--player", fmt.Sprint("p", i), "--json"}
		if i == 0 {
			args = append(args, lobbyID) // by id
		} else {
			args = append(args, "--game", "demo") // quick-join
		}
		joins[i] = start(t, fmt.Sprint("join", i), args...)
		j := joins[i].next(10*time.Second, event("joined"))
		peers := j["peers"].([]any)
		if j["lobby"] != lobbyID || len(peers) != i+1 {
			t.Fatalf("join%d: %v", i, j)
		}
		if first := peers[0].(map[string]any); first["addr"] != "127.0.0.1:7777" || first["name"] != "alice" {
			t.Fatalf("join%d peers: %v", i, peers)
		}
		// Everyone already in hears of the newcomer.
		for _, p := range append([]*proc{host}, joins[:i]...) {
			m := p.next(5*time.Second, event("member_joined"))
			if m["member"].(map[string]any)["name"] != fmt.Sprint("p", i) {
				t.Fatalf("%s: %v", p.name, m)
			}
		}
	}

	// kill -9 of join0: the others print member_left (disconnected) at once.
	killedAt := time.Now()
	joins[0].cmd.Process.Kill()
	for _, p := range []*proc{host, joins[1], joins[2]} {
		m := p.next(5*time.Second, event("member_left"))
		if m["reason"] != "disconnected" || m["member"].(map[string]any)["name"] != "p0" {
			t.Fatalf("%s: %v", p.name, m)
		}
	}
	t.Logf("kill -9 noticed by all after %v", time.Since(killedAt))
	if d := time.Since(killedAt); d > 2*time.Second {
		t.Fatalf("kill -9 noticed after %v", d)
	}

	// kill -STOP of join1: its link is dropped as timeout within heartbeat ×
	// (misses+1): the others see it away at once, and gone (member_left,
	// timeout) when the resume grace passes.
	stoppedAt := time.Now()
	joins[1].cmd.Process.Signal(syscall.SIGSTOP)
	for _, p := range []*proc{host, joins[2]} {
		m := p.next(5*time.Second, event("member_away"))
		if m["reason"] != "timeout" || m["member"].(map[string]any)["name"] != "p1" {
			t.Fatalf("%s: %v", p.name, m)
		}
	}
	elapsed := time.Since(stoppedAt)
	t.Logf("kill -STOP: link dropped (member_away) after %v (limit %v)", elapsed, heartbeat*(misses+1))
	if elapsed > heartbeat*(misses+1)+time.Second {
		t.Fatalf("stopped member's link dropped after %v", elapsed)
	}
	for _, p := range []*proc{host, joins[2]} {
		m := p.next(5*time.Second, event("member_left"))
		if m["reason"] != "timeout" || m["member"].(map[string]any)["name"] != "p1" {
			t.Fatalf("%s: %v", p.name, m)
		}
	}
	t.Logf("kill -STOP: member_left after %v (grace %v)", time.Since(stoppedAt), grace)

	// SIGTERM of the host: it leaves cleanly (exit 0), join2 becomes owner.
	host.cmd.Process.Signal(syscall.SIGTERM)
	if code := host.wait(5 * time.Second); code != 0 {
		t.Fatalf("host exit code %d", code)
	}
	m := joins[2].next(5*time.Second, event("member_left"))
	if m["reason"] != "left" || m["member"].(map[string]any)["name"] != "alice" {
		t.Fatalf("join2: %v", m)
	}
	oc := joins[2].next(5*time.Second, event("owner_changed"))
	if oc["owner"] == "" || oc["owner"] != m["owner"] {
		t.Fatalf("owner_changed: %v", oc)
	}
}

func TestListShowsLobbies(t *testing.T) {
	_, addr := startCoordinator(t)
	host := start(t, "host", "host", "-c", addr, "--game", "demo", "--name", "Zoë's room", "--players", "3", "--port", "7777", "--json")
	host.next(10*time.Second, event("created"))
	start(t, "other", "host", "-c", addr, "--game", "other", "--name", "x", "--players", "2", "--port", "1", "--json").
		next(10*time.Second, event("created"))

	out, err := exec.Command(binPath, "list", "-c", addr, "--game", "demo", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("list --json: %q", out)
	}
	var l map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	if l["name"] != "Zoë's room" || l["game"] != "demo" || l["players"] != float64(1) || l["capacity"] != float64(3) || l["id"] == "" {
		t.Fatalf("list entry: %v", l)
	}
	text, err := exec.Command(binPath, "list", "-c", addr).Output()
	if err != nil || !strings.Contains(string(text), "Zoë's room") || !strings.Contains(string(text), "1/3") {
		t.Fatalf("list text: %q %v", text, err)
	}
}

// TestFailuresExitNonZero: unknown lobby, full lobby, unreachable
// coordinator and bad flags each exit non-zero with a clear message.
func TestFailuresExitNonZero(t *testing.T) {
	_, addr := startCoordinator(t)
	host := start(t, "host", "host", "-c", addr, "--game", "demo", "--name", "duo", "--players", "2", "--port", "1", "--json")
	lobbyID := host.next(10*time.Second, event("created"))["lobby"].(string)
	start(t, "filler", "join", lobbyID, "-c", addr, "--port", "2", "--json").next(10*time.Second, event("joined"))

	// A port nothing listens on, for the unreachable case.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown lobby", []string{"join", "nosuchlobby", "-c", addr, "--port", "3"}, exitFailure, "unknown_lobby"},
		{"full lobby", []string{"join", lobbyID, "-c", addr, "--port", "3"}, exitFailure, "lobby_full"},
		{"no open lobby", []string{"join", "--game", "nogame", "-c", addr, "--port", "3"}, exitFailure, "no_open_lobby"},
		{"unreachable", []string{"list", "-c", dead, "--timeout", "1s"}, exitFailure, "cannot reach coordinator"},
		{"missing port", []string{"join", "--game", "demo", "-c", addr}, exitUsage, "--port"},
		{"bad capacity", []string{"host", "-c", addr, "--game", "demo", "--name", "x", "--players", "99", "--port", "1"}, exitUsage, "--players must be 2..64"},
		{"bad flag", []string{"list", "--nope"}, exitUsage, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, tc.args...)
			cmd.Env = append(os.Environ(), "LANLOBBY_COORDINATOR=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				cmd.Process.Kill()
				t.Fatal("command hung")
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != tc.code {
				t.Fatalf("exit = %v, want code %d; stderr %q", err, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.msg) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tc.msg)
			}
		})
	}
}

// TestDaemonRestartUnder20Members: 20 members in 5 lobbies (one of them a
// real `lanlobby host` process) on a coordinator daemon that is killed with
// SIGKILL and started again on the same address: every client restores its
// lobby, owners first, under the same ids, and sees one
// coordinator_restarted event; nobody sees a leave or a join.
func TestDaemonRestartUnder20Members(t *testing.T) {
	d := startRestartableDaemon(t)
	addr, daemon := d.addr, d.daemon
	ctx := context.Background()
	host := start(t, "host", "host", "-c", addr, "--game", "demo", "--name", "cli lobby", "--players", "4", "--port", "7777", "--json")
	lobbyIDs := []string{host.next(10*time.Second, event("created"))["lobby"].(string)}
	var clients []*lobby.Client
	dialC := func(name string) *lobby.Client {
		c := d.client(name)
		clients = append(clients, c)
		return c
	}
	for i := 1; i < 5; i++ {
		o := dialC(fmt.Sprint("owner", i))
		j, err := o.Create(ctx, lobby.CreateOptions{Game: "demo", Name: fmt.Sprint("lobby ", i), Capacity: 4, JoinOptions: lobby.JoinOptions{Port: 1}})
		if err != nil {
			t.Fatal(err)
		}
		lobbyIDs = append(lobbyIDs, j.Lobby.ID)
	}
	for i, id := range lobbyIDs {
		for k := 0; k < 3; k++ {
			if _, err := dialC(fmt.Sprintf("m%d-%d", i, k)).Join(ctx, id, lobby.JoinOptions{Port: 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(clients)+1 != 20 {
		t.Fatalf("%d members", len(clients)+1)
	}
	// Let the join notices settle, then drain them.
	for range 3 {
		host.next(5*time.Second, event("member_joined"))
	}
	drain := func(c *lobby.Client) []lobby.Event {
		var evs []lobby.Event
		for {
			select {
			case ev := <-c.Events():
				evs = append(evs, ev)
			case <-time.After(50 * time.Millisecond):
				return evs
			}
		}
	}
	for _, c := range clients {
		drain(c)
	}

	daemon.cmd.Process.Kill()
	daemon.wait(5 * time.Second)
	d.restart()

	m := host.next(15*time.Second, event("coordinator_restarted"))
	if m["lobby"] != lobbyIDs[0] {
		t.Fatalf("host restored %v", m)
	}
	for _, c := range clients {
		var got []lobby.NoticeKind
		deadline := time.Now().Add(15 * time.Second)
		lost := false
		for len(got) == 0 && time.Now().Before(deadline) {
			for _, ev := range drain(c) {
				switch ev.Kind {
				case lobby.EventCoordinatorLost:
					lost = lost || ev.Next == lobby.NextResuming
				case lobby.EventReconnecting: // progress, once a second
				default:
					got = append(got, ev.Kind)
				}
			}
		}
		if !lost || len(got) != 1 || got[0] != lobby.EventCoordinatorRestarted {
			t.Fatalf("client %s saw %v after the restart (coordinator_lost, resuming: %v), want one coordinator_restarted", c.ID(), got, lost)
		}
	}
	waitForList := time.Now().Add(10 * time.Second)
	for {
		ls, err := clients[0].List(ctx, "demo")
		full := err == nil && len(ls) == 5
		for _, l := range ls {
			full = full && l.Players == 4
		}
		if full {
			break
		}
		if time.Now().After(waitForList) {
			t.Fatalf("lobbies after the restart: %+v %v", ls, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
