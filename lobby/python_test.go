package lobby

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestPythonClientFromProtocolDoc runs examples/python/lanlobby_client.py,
// a client written from PROTOCOL.md alone, against the coordinator: it must
// join, get its peers, keep its link alive by answering pings, and receive
// notices. (.ci/run installs python3.)
func TestPythonClientFromProtocolDoc(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for the cross-language test (apt-get install python3)")
	}
	script, _ := filepath.Abs("../examples/python/lanlobby_client.py")
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses})
	ctx := context.Background()
	owner := dial(t, ts.addr, "go-owner")
	l, err := owner.Create(ctx, CreateOptions{Game: "interop", Name: "Zoë's ☕ lobby", Capacity: 3, JoinOptions: JoinOptions{Port: 4000}})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(py, script, ts.addr, "interop", "5000", "Pÿthon")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("python client exited early")
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no output from python client")
		}
		return nil
	}
	joined := next()
	peers, _ := joined["peers"].([]any)
	if joined["event"] != "joined" || joined["lobby"] != l.Lobby.ID || len(peers) != 1 ||
		peers[0].(map[string]any)["addr"] != "127.0.0.1:4000" {
		t.Fatalf("python joined: %v", joined)
	}
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Member.Name == "Pÿthon" && e.Member.Addr == "127.0.0.1:5000" })
	// A silence limit's worth of heartbeat rounds later the python member
	// is still there, never even away: it answers pings. A member that did
	// not would have been dropped: its slot of the heartbeat wheel comes up
	// once between two pings of the witness, and misses + 2 visits after
	// its last word drop a silent member.
	awaitRounds(t, ts.addr, testMisses+3)
	if list, _ := owner.List(ctx, "interop"); len(list) != 1 || list[0].Players != 2 {
		t.Fatalf("python member dropped: %+v", list)
	}
	third := dial(t, ts.addr, "third")
	if _, err := third.Join(ctx, l.Lobby.ID, JoinOptions{Port: 6000}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Member.Name == "third" })
	got := next()
	member, _ := got["member"].(map[string]any)
	if got["event"] != "member_joined" || member["name"] != "third" || got["players"] != float64(3) {
		t.Fatalf("python notice: %v", got)
	}
}
