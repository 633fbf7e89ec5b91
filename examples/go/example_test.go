package main

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// TestLabExample builds the example and runs it as two processes on two
// lab hosts: they find each other with the library and exchange a UDP
// hello at the game addresses the lobby handed out.
func TestLabExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	host := h1.Start(t, bin, "-port", "7777", "host")
	host.WaitForStdoutLine(t, 20*time.Second, netlab.Contains("hosting lobby"))
	join := h2.Start(t, bin, "-port", "7778", "join")
	join.WaitForStdoutLine(t, 20*time.Second, netlab.Contains(`got "hello back" from `+h1.IPv4.String()+":7777"))
	host.WaitForStdoutLine(t, 20*time.Second, netlab.Contains(`got "hello" from `+h2.IPv4.String()+":7778"))
	for _, p := range []*netlab.Process{host, join} {
		if code, err := p.Wait(20 * time.Second); err != nil || code != 0 {
			t.Fatalf("exit %d, %v", code, err)
		}
	}
}
