package main

// Regression tests for the bugs found when the CLI was tried as a new user
// would (issue 8): each failed before the library rework.

import (
	"bufio"
	"bytes"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// runQuick runs lanlobby to completion within limit and returns its exit
// code, stdout and stderr.
func runQuick(t *testing.T, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("lanlobby %s hung past %v; stderr %q", strings.Join(args, " "), limit, errb.String())
	}
	return 0, "", ""
}

// TestDiscoveryFailureEndsAtOnce: list, join and host with an interface
// that does not exist end at once, exit 1 and name the cause; before, list
// and join hung forever and ignored Ctrl-C, and host printed "waiting for
// players".
func TestDiscoveryFailureEndsAtOnce(t *testing.T) {
	for _, args := range [][]string{
		{"list", "--interface", "nosuch0", "--timeout", "30s"},
		{"join", "--game", "demo", "--port", "1", "--interface", "nosuch0", "--timeout", "30s"},
		{"join", "somename", "--port", "1", "--interface", "nosuch0", "--timeout", "30s"},
		{"host", "--game", "demo", "--name", "x", "--players", "2", "--port", "1", "--interface", "nosuch0"},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, out, errs := runQuick(t, 10*time.Second, args...)
			if code != exitFailure || !strings.Contains(errs, "nosuch0") {
				t.Fatalf("exit %d, stderr %q, want %d naming nosuch0", code, errs, exitFailure)
			}
			if strings.Contains(out, "waiting for players") {
				t.Fatalf("stdout %q claims to wait for players", out)
			}
		})
	}
}

// TestListZeroDurations: --quiet 0 and --timeout 0 mean the defaults; they
// used to fail with "cannot browse the LAN: beacon: closed".
func TestListZeroDurations(t *testing.T) {
	code, out, errs := runQuick(t, 10*time.Second, "list", "--quiet", "0", "--timeout", "0")
	if code != 0 || !strings.Contains(out, "no lobbies found") || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestListEndsOnSIGTERM: a listing that waits (nobody answers, long
// waits asked for) ends at once on SIGTERM, with status 0.
func TestListEndsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(binPath, "list", "--first-answer-wait", "30s", "--timeout", "30s", "--json", "--log-level", "debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait until it is listening to the LAN (its debug log says so), so
	// the signal reaches the wait, not the start-up.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Second)
	for browsing := false; !browsing; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("list exited before browsing")
			}
			browsing = strings.Contains(l, "browsing the LAN")
		case <-timeout:
			t.Fatal("list never said it was browsing")
		}
	}
	go func() { // keep the pipe drained
		for range lines {
		}
	}()
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		t.Logf("list ended %v after SIGTERM", time.Since(sent))
	case <-time.After(10 * time.Second):
		t.Fatal("list ignored SIGTERM")
	}
}

// TestLabHostSaysAnnouncingFailed: with the beacon port held by another
// program, host says so at once and carries on with mDNS, where players
// find it; with an interface that cannot announce at all it exits 1.
func TestLabHostSaysAnnouncingFailed(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	var blocker net.PacketConn
	if err := h1.Do(func() (err error) { blocker, err = net.ListenPacket("udp", ":7601"); return err }); err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	host := labRun(t, h1, "host", "--game", "demo", "--name", "half", "--players", "2", "--port", "7777")
	w := waitJSON(t, host, 10*time.Second, "warning", nil)
	if !strings.Contains(w["warning"].(string), "address already in use") {
		t.Fatalf("warning %v does not name the cause", w)
	}
	waitJSON(t, host, 10*time.Second, "created", nil)
	// mDNS probes the name first (RFC 6762: about a second).
	deadline := time.Now().Add(10 * time.Second)
	for len(lanList(t, h2, "--no-beacon")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lobby never appeared over mDNS")
		}
	}
	joined := waitJSON(t, labRun(t, h2, "join", "half", "--port", "7778"), 10*time.Second, "joined", nil)
	if joined["name"] != "half" {
		t.Fatalf("joined %v", joined)
	}
}

// TestLabJoinFullByNameSaysFull: joining a full lobby by name on the LAN
// says lobby_full; it used to say unknown_lobby.
func TestLabJoinFullByNameSaysFull(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	waitJSON(t, labRun(t, h1, "host", "--game", "demo", "--name", "Duo", "--players", "2", "--port", "7777"), 10*time.Second, "created", nil)
	waitJSON(t, labRun(t, h2, "join", "Duo", "--port", "7778"), 10*time.Second, "joined", nil)
	p := labRun(t, h3, "join", "duo", "--port", "7779")
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != exitFailure || !strings.Contains(strings.Join(p.Lines(), "\n"), "lobby_full") {
		t.Fatalf("exit %d %v, output:\n%s", code, err, strings.Join(p.Lines(), "\n"))
	}
}

// TestLabNoNetworkInterface: on a host whose only interface is lo (its LAN
// link down), list and join end within their wait and say there is no
// usable network interface; host says so at once and announces the lobby
// when the link comes up.
func TestLabNoNetworkInterface(t *testing.T) {
	// The automatic interface choice, not the lo that TestMain pins for
	// loopback tests.
	t.Setenv("LANLOBBY_INTERFACE", "")
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	if err := h1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"join", "--game", "demo", "--port", "1"}} {
		p := h1.Start(t, binPath, append(args, "--json")...) // automatic interface choice
		code, err := p.Wait(10 * time.Second)
		out := strings.Join(p.Lines(), "\n")
		if err != nil || code != exitFailure || !strings.Contains(out, "no usable network interface") {
			t.Fatalf("%v: exit %d %v, output:\n%s", args, code, err, out)
		}
	}
	host := h1.Start(t, binPath, "host", "--game", "demo", "--name", "later", "--players", "2", "--port", "7777", "--json")
	w := waitJSON(t, host, 10*time.Second, "warning", nil)
	if !strings.Contains(w["warning"].(string), "no usable network interface") {
		t.Fatalf("warning %v", w)
	}
	waitJSON(t, host, 10*time.Second, "created", nil)
	if err := h1.SetLink(true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(lanList(t, h2)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lobby never appeared after the link came up")
		}
	}
}
