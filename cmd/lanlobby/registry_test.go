package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestRegistryCommands: register holds a name until it ends; lookup finds
// it, over TCP and over the UDP text listener; a taken name and an unknown
// one fail with their codes; with no coordinator anywhere both give up
// within their timeout with a clear message.
func TestRegistryCommands(t *testing.T) {
	c := start(t, "coordinator", "coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json", "--registry-udp", "127.0.0.1:0")
	m := c.next(10*time.Second, event("listening"))
	addr, udp := m["addr"].(string), m["registry_udp"].(string)

	reg := start(t, "register", "register", "hall", "room://10.0.0.5:7000", "-c", addr, "--json")
	if got := reg.next(10*time.Second, event("registered")); got["name"] != "hall" {
		t.Fatalf("registered %v", got)
	}
	code, out, _ := runQuick(t, 10*time.Second, "lookup", "hall", "-c", addr)
	if code != 0 || strings.TrimSpace(out) != "room://10.0.0.5:7000" {
		t.Fatalf("lookup: exit %d, %q", code, out)
	}
	conn, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte("LOOKUP hall"))
	buf := make([]byte, 600)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "OK room://10.0.0.5:7000" {
		t.Fatalf("UDP lookup: %q %v", buf[:n], err)
	}
	if code, _, errs := runQuick(t, 10*time.Second, "register", "hall", "room://10.0.0.6:7000", "-c", addr); code != exitFailure || !strings.Contains(errs, "name_taken") {
		t.Fatalf("second register: exit %d, %q", code, errs)
	}
	reg.cmd.Process.Signal(syscall.SIGTERM)
	if code := reg.wait(10 * time.Second); code != 0 {
		t.Fatalf("register exit %d after SIGTERM", code)
	}
	testutil.WaitFor(t, 10*time.Second, "hall gone", func() bool {
		code, _, errs := runQuick(t, 10*time.Second, "lookup", "hall", "-c", addr)
		return code == exitFailure && strings.Contains(errs, "unknown_name")
	})
	// No coordinator given and none on the LAN (lo here).
	for _, args := range [][]string{{"lookup", "hall"}, {"register", "x", "room://10.0.0.7:1"}} {
		code, _, errs := runQuick(t, 10*time.Second, append(args, "--timeout", "2s")...)
		if code != exitFailure || !strings.Contains(errs, "no coordinator daemon found") {
			t.Fatalf("%v without a coordinator: exit %d, %q", args, code, errs)
		}
	}
}
