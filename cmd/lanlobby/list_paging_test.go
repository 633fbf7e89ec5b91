package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestListManyLobbies (RELIABILITY.md row 7): `lanlobby list -c` against a
// coordinator holding 5,000 lobbies with 1 KB of metadata each lists them
// all: the client reads the coordinator's pages, each one line under the
// 64 KiB limit.
func TestListManyLobbies(t *testing.T) {
	const n = 5000
	_, addr := startCoordinator(t, "--heartbeat", "1h", "--max-conns-per-ip", "-1", "--max-request-rate", "-1")
	meta := strings.Repeat("m", 246)
	for c := 0; c < n/8; c++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		var b strings.Builder
		b.WriteString(`{"op":"hello","id":0,"v":1,"player":"filler"}` + "\n")
		for k := 1; k <= 8; k++ {
			fmt.Fprintf(&b, `{"op":"create","id":%d,"game":"many","name":"lobby %d","capacity":4,"port":1,"meta":{"a":"%s","b":"%s","c":"%s","d":"%s"}}`+"\n",
				k, 8*c+k, meta, meta, meta, meta)
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := nc.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		for k := 0; k <= 8; k++ {
			line, err := br.ReadString('\n')
			if err != nil || !strings.Contains(line, `"ok":true`) {
				t.Fatalf("filler %d: %q %v", c, line, err)
			}
		}
		nc.SetDeadline(time.Time{})
	}
	began := time.Now()
	p := start(t, "list", "list", "-c", addr, "--game", "many", "--json", "--timeout", "20s")
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("list exited %d: %s", code, p.errb.String())
	}
	ids := map[string]bool{}
	for _, line := range p.snapshot() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if id, ok := m["id"].(string); ok {
				ids[id] = true
			} else if id, ok := m["lobby"].(string); ok {
				ids[id] = true
			}
		}
	}
	t.Logf("lanlobby list -c: %d lobbies in %v", len(ids), time.Since(began))
	if len(ids) != n {
		t.Fatalf("listed %d lobbies, want %d", len(ids), n)
	}
}
