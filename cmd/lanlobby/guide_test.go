package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// Tests of the CLI as a new user meets it (issue 12, "a CLI that
// guides"), on loopback.

// TestUsageProblemsAtOnce: everything wrong with a command line is
// reported at once, naming each flag, with exit 2 and before anything
// starts (so at once); with --json, as an error object on stdout.
func TestUsageProblemsAtOnce(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	code, out, errs := runQuick(t, 10*time.Second, "host")
	for _, want := range []string{"4 problems", "--game is required", "--name is required", "--players is required", "--port GAMEPORT (or --addr IP:PORT) is required", "hint: lanlobby host --help"} {
		if !strings.Contains(errs, want) {
			t.Errorf("host: stderr lacks %q:\n%s", want, errs)
		}
	}
	if code != exitUsage || out != "" {
		t.Errorf("host: exit %d, stdout %q", code, out)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"host", "--game", "demo", "--name", "x", "--players", "1", "--port", "7777"}, "--players must be 2..64, not 1"},
		{[]string{"host", "--game", "Bad Game!", "--name", "x", "--players", "2", "--port", "7777"}, "--game \"Bad Game!\""},
		{[]string{"host", "--game", "demo", "--name", "x", "--players", "2", "--port", "70000"}, "--port must be 1..65535, not 70000"},
		{[]string{"join", "--port", "1"}, "give a LOBBY-NAME-OR-ID, or --game"},
		{[]string{"join", "--game", "demo", "--addr", "nope"}, "--addr must be ip:port"},
		{[]string{"coordinator", "--heartbeat", "0s", "--misses", "0"}, "2 problems"},
		{[]string{"doctor", "--peer", "x"}, "--peer \"x\" is not an IP address"},
		{[]string{"nosuch"}, "unknown command nosuch"},
		{[]string{"list", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"completion", "tcsh"}, "bash, zsh or fish"},
	}
	for _, c := range cases {
		code, _, errs := runQuick(t, 10*time.Second, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, exitUsage, c.want)
		}
	}
	code, out, errs = runQuick(t, 10*time.Second, "host", "--json", "--players", "99")
	var e map[string]any
	if err := json.Unmarshal([]byte(out), &e); err != nil || code != exitUsage || errs != "" || e["event"] != "error" ||
		e["exit"] != float64(exitUsage) || !strings.Contains(e["error"].(string), "--players must be 2..64, not 99") {
		t.Fatalf("--json usage error: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestFailureHintsAndJSONErrors: an unreachable coordinator and a port in
// use exit 1 with a hint saying what to check (who holds the port); with
// --json the error is an object on stdout.
func TestFailureHintsAndJSONErrors(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := ln.Addr().String()
	defer ln.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	code, _, errs := runQuick(t, 10*time.Second, "list", "-c", deadAddr)
	if code != exitFailure || !strings.Contains(errs, "hint: is a coordinator running at "+deadAddr) {
		t.Errorf("unreachable: exit %d, stderr %q", code, errs)
	}
	code, out, errs := runQuick(t, 10*time.Second, "join", "x", "-c", deadAddr, "--port", "1", "--json")
	var e map[string]any
	if json.Unmarshal([]byte(out), &e) != nil || code != exitFailure || errs != "" || e["event"] != "error" ||
		!strings.Contains(e["hint"].(string), "firewall") || !strings.Contains(e["error"].(string), "cannot reach coordinator") {
		t.Errorf("unreachable --json: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = runQuick(t, 10*time.Second, "coordinator", "--listen", held, "--announce=false", "--http", "")
	want := fmt.Sprintf("(pid %d)", os.Getpid())
	if code != exitFailure || !strings.Contains(errs, "address already in use") || !strings.Contains(errs, "hint: TCP port") || !strings.Contains(errs, want) {
		t.Errorf("port in use: exit %d, stderr %q (want the holder %s)", code, errs, want)
	}
}

// TestVersionCompletionManExamples: lanlobby version; completion scripts
// for bash (syntax-checked by bash), zsh and fish; the words completion
// asks the binary for; the man page; examples in every command's help.
func TestVersionCompletionManExamples(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	code, out, _ := runQuick(t, 10*time.Second, "version")
	if code != 0 || !regexp.MustCompile(`^lanlobby \d+\.\d+\.\d+ \(coordinator protocol \d+, beacon \d+; go`).MatchString(out) {
		t.Errorf("version: %d %q", code, out)
	}
	_, out, _ = runQuick(t, 10*time.Second, "version", "--json")
	var v map[string]any
	if json.Unmarshal([]byte(out), &v) != nil || v["version"] != version {
		t.Errorf("version --json: %q", out)
	}
	_, bash, _ := runQuick(t, 10*time.Second, "completion", "bash")
	check := exec.Command("bash", "-n")
	check.Stdin = strings.NewReader(bash)
	if msg, err := check.CombinedOutput(); err != nil || !strings.Contains(bash, "complete -o bashdefault") {
		t.Errorf("bash completion: %v %s", err, msg)
	}
	_, zsh, _ := runQuick(t, 10*time.Second, "completion", "zsh")
	_, fish, _ := runQuick(t, 10*time.Second, "completion", "fish")
	if !strings.HasPrefix(zsh, "#compdef lanlobby") || !strings.Contains(fish, "complete -c lanlobby") || !strings.Contains(fish, "doctor") {
		t.Errorf("zsh %q\nfish %q", zsh, fish)
	}
	for _, sh := range []string{"zsh", "fish"} { // syntax-checked where the shell is installed
		if path, err := exec.LookPath(sh); err == nil {
			c := exec.Command(path, "-n")
			c.Stdin = strings.NewReader(map[string]string{"zsh": zsh, "fish": fish}[sh])
			if msg, err := c.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v %s", sh, err, msg)
			}
		}
	}
	_, words, _ := runQuick(t, 10*time.Second, "--generate-bash-completion")
	_, flags, _ := runQuick(t, 10*time.Second, "host", "--pl", "--generate-bash-completion")
	if !strings.Contains(words, "doctor\n") || !strings.Contains(words, "host\n") || !strings.Contains(flags, "--players") {
		t.Errorf("completion words %q, flags %q", words, flags)
	}
	_, man, _ := runQuick(t, 10*time.Second, "man")
	if !strings.Contains(man, ".TH lanlobby 1") || !strings.Contains(man, "doctor") || !strings.Contains(man, "Examples") {
		t.Errorf("man page: %.300q", man)
	}
	for _, cmd := range newApp(io.Discard, io.Discard).Commands {
		if cmd.Hidden || cmd.Name == "bench" {
			continue
		}
		_, help, _ := runQuick(t, 10*time.Second, cmd.Name, "--help")
		if !strings.Contains(help, "Examples:") || !strings.Contains(help, "lanlobby "+cmd.Name) {
			t.Errorf("%s --help has no examples:\n%s", cmd.Name, help)
		}
		for _, f := range cmd.Flags {
			if u, ok := f.(interface{ GetUsage() string }); ok && strings.Contains(u.GetUsage(), "(required") && !strings.Contains(help, "(required") {
				t.Errorf("%s --help does not mark required flags", cmd.Name)
			}
		}
	}
}

// TestDaemonActivityHTTPAndQuietLogs: the daemon prints the listening line
// with its status page, then lobbies created and members joining and
// leaving as JSON; its /metrics counts them; watch --members shows each
// member with RTT and state; logs stay off stdout and, by default, off
// stderr too (-v shows them).
func TestDaemonActivityHTTPAndQuietLogs(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	daemon := start(t, "daemon", "coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json", "--http", "127.0.0.1:0", "--heartbeat", "100ms", "--misses", "20")
	l := daemon.next(10*time.Second, event("listening"))
	addr, web := l["addr"].(string), l["http"].(string)
	if !strings.HasPrefix(web, "http://127.0.0.1:") {
		t.Fatalf("listening: %v", l)
	}
	host := start(t, "host", "host", "-c", addr, "--game", "demo", "--name", "Zoë's room", "--players", "3", "--port", "7777", "--player", "alice")
	testutil.WaitFor(t, 10*time.Second, "host's text output", func() bool { return len(host.snapshot()) >= 3 })
	created := daemon.next(10*time.Second, event("created"))
	lobbyID := created["lobby"].(string)
	if created["name"] != "Zoë's room" || created["member"].(map[string]any)["name"] != "alice" {
		t.Fatalf("created: %v", created)
	}
	bob := start(t, "bob", "join", lobbyID, "-c", addr, "--port", "7778", "--player", "bob", "--json")
	bob.next(10*time.Second, event("joined"))
	if j := daemon.next(10*time.Second, event("member_joined")); j["member"].(map[string]any)["name"] != "bob" || j["players"] != float64(2) {
		t.Fatalf("member_joined: %v", j)
	}

	watch := start(t, "watch", "watch", "--members", "--http", strings.TrimPrefix(web, "http://"), "--json")
	m := watch.next(10*time.Second, func(m map[string]any) bool {
		if m["event"] != "members" || m["id"] != lobbyID {
			return false
		}
		ms := m["members"].([]any)
		if len(ms) != 2 {
			return false
		}
		for _, x := range ms {
			if x.(map[string]any)["rtt_ms"].(float64) <= 0 {
				return false
			}
		}
		return true
	})
	if ms := m["members"].([]any); ms[1].(map[string]any)["state"] != "here" || ms[1].(map[string]any)["name"] != "bob" {
		t.Fatalf("members: %v", m)
	}

	bob.cmd.Process.Signal(syscall.SIGTERM)
	if code := bob.wait(10 * time.Second); code != 0 {
		t.Fatalf("bob exit %d", code)
	}
	if left := daemon.next(10*time.Second, event("member_left")); left["reason"] != "left" {
		t.Fatalf("member_left: %v", left)
	}
	// The host's text: "left", not "left: left"; no log lines on stdout.
	testutil.WaitFor(t, 10*time.Second, "the host's leave line", func() bool {
		return strings.Contains(strings.Join(host.snapshot(), "\n"), "bob ("+bob.lineField("joined", "you", "id")+") left (1/3 players)")
	})
	for _, line := range host.snapshot() {
		if strings.Contains(line, "left: left") || strings.Contains(line, "level=") {
			t.Errorf("host printed %q", line)
		}
	}

	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(web + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"lanlobby_joins_total 1", "lanlobby_lobbies_created_total 1", `lanlobby_members_left_total{reason="left"} 1`} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Stderr is read once the processes are gone (it is written meanwhile).
	daemon.cmd.Process.Signal(syscall.SIGTERM)
	if code := daemon.wait(10 * time.Second); code != 0 || daemon.errb.String() != "" {
		t.Errorf("daemon: exit %d, logged by default: %q", code, daemon.errb.String())
	}
	verbose := start(t, "verbose", "coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json", "--http", "", "-v")
	verbose.next(10*time.Second, event("listening"))
	verbose.cmd.Process.Signal(syscall.SIGTERM)
	verbose.wait(10 * time.Second)
	if s := verbose.errb.String(); !strings.Contains(s, `"level":"INFO"`) {
		t.Errorf("-v: no info log on stderr: %q", s)
	}
}

// lineField digs a string out of the first JSON line with that event.
func (p *proc) lineField(event string, path ...string) string {
	for _, line := range p.snapshot() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["event"] != event {
			continue
		}
		var cur any = m
		for _, k := range path {
			mm, _ := cur.(map[string]any)
			cur = mm[k]
		}
		s, _ := cur.(string)
		return s
	}
	return ""
}

// TestPrivateLobbyJoinCommand: a private lobby's host prints the command
// the others paste; pasted (with a game port), it joins.
func TestPrivateLobbyJoinCommand(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	_, addr := startCoordinator(t)
	host := start(t, "host", "host", "-c", addr, "--game", "demo", "--name", "secret", "--players", "2", "--port", "7777", "--private", "--json")
	created := host.next(10*time.Second, event("created"))
	cmd, _ := created["join_command"].(string)
	want := fmt.Sprintf("lanlobby join %s --coordinator %s --password %s --port GAMEPORT", created["lobby"], addr, created["invite"])
	if cmd != want {
		t.Fatalf("join command %q, want %q", cmd, want)
	}
	args := strings.Fields(strings.Replace(strings.TrimPrefix(cmd, "lanlobby "), "GAMEPORT", "7778", 1))
	j := start(t, "pasted", append(args, "--json")...)
	if m := j.next(10*time.Second, event("joined")); m["lobby"] != created["lobby"] {
		t.Fatalf("pasted join: %v", m)
	}
}

// openPTY returns a pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// runOnTerminal runs lanlobby with stdout and stderr on a terminal and
// returns everything it wrote there.
func runOnTerminal(t *testing.T, env []string, args ...string) string {
	t.Helper()
	m, s := openPTY(t)
	defer m.Close()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(m)
		for {
			b, err := r.ReadByte()
			if err != nil {
				return // EIO once the program is gone
			}
			out.WriteByte(b)
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("lanlobby hung on the terminal")
	}
	<-done
	return out.String()
}

// TestProgressOnTerminalOnly: a wait over a second shows a progress line
// on a terminal, and not with TERM=dumb, NO_COLOR or a pipe.
func TestProgressOnTerminalOnly(t *testing.T) {
	t.Parallel() // independent of the others: own lab, own ports
	// A coordinator that accepts and never answers: join waits --timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn // the accepting goroutine's until accepted closes
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	}()
	args := []string{"join", "x", "-c", ln.Addr().String(), "--port", "1", "--timeout", "2500ms"}
	out := runOnTerminal(t, []string{"TERM=xterm"}, args...)
	if !strings.Contains(out, "\r\x1b[K") || !strings.Contains(out, "joining (") || !strings.Contains(out, "no answer in time") {
		t.Errorf("no progress line on a terminal: %q", out)
	}
	for _, env := range [][]string{{"TERM=dumb"}, {"TERM=xterm", "NO_COLOR=1"}} {
		if out := runOnTerminal(t, env, args...); strings.Contains(out, "\x1b") || strings.Contains(out, "joining (") {
			t.Errorf("%v: fancy output %q", env, out)
		}
	}
	_, stdout, stderr := runQuick(t, 30*time.Second, args...)
	if strings.Contains(stdout+stderr, "\x1b") || strings.Contains(stdout+stderr, "\r") {
		t.Errorf("fancy output to a pipe: %q %q", stdout, stderr)
	}
}

// TestHostServesHTTPWhenAsked: host --http serves its own coordinator's
// status; without it, nothing listens.
func TestHostServesHTTPWhenAsked(t *testing.T) {
	t.Parallel()                                  // independent of the others: own lab, own ports
	port := fmt.Sprint(40000 + os.Getpid()%20000) // a beacon port of its own on lo
	host := start(t, "host", "host", "--game", "demo", "--name", "own", "--players", "2", "--port", "1", "--http", "127.0.0.1:0",
		"--daemon-wait", "0", "--no-mdns", "--beacon-port", port, "--json")
	h := host.next(10*time.Second, event("http"))
	created := host.next(10*time.Second, event("created"))
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + h["http"].(string) + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Lobbies []struct{ ID string } }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Lobbies) != 1 || v.Lobbies[0].ID != created["lobby"] {
		t.Fatalf("status: %+v %v", v, err)
	}
}
