package lobby

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestMetricsSnapshotAndActivity drives a coordinator through creates,
// joins, quick-joins, a leave, a refused request and heartbeats, and checks
// that the counters, the snapshot and the activity hook all saw them.
func TestMetricsSnapshotAndActivity(t *testing.T) {
	srv, err := NewServer(ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, MaxLobbiesPerMember: 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acts []Activity
	srv.OnActivity(func(a Activity) {
		mu.Lock()
		acts = append(acts, a)
		mu.Unlock()
	})
	ts := startServerWith(t, srv)
	ctx := context.Background()
	v0 := srv.Version()

	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "one", Capacity: 3, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, ts.addr, "a")
	if _, err := a.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	b := dial(t, ts.addr, "b")
	if _, err := b.QuickJoin(ctx, "demo", JoinOptions{Port: 3}); err != nil {
		t.Fatal(err)
	}
	// A second lobby for owner breaks MaxLobbiesPerMember.
	if _, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "two", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err == nil {
		t.Fatal("second lobby allowed")
	}
	if err := a.Leave(ctx, j.Lobby.ID); err != nil {
		t.Fatal(err)
	}

	var m Metrics
	testutil.WaitFor(t, 10*time.Second, "heartbeat round trips measured", func() bool {
		m = srv.Metrics()
		return m.RTT.Count >= 3
	})
	if m.Creates != 1 || m.Joins != 1 || m.QuickJoins != 1 || m.Accepted != 3 {
		t.Errorf("creates %d joins %d quick-joins %d accepted %d", m.Creates, m.Joins, m.QuickJoins, m.Accepted)
	}
	if m.Left[ReasonLeft] != 1 || m.Refused[LimitLobbiesPerMember.String()] != 1 {
		t.Errorf("left %v refused %v", m.Left, m.Refused)
	}
	// owner heard a's and b's joins, a heard b's, owner and b heard a leave.
	if m.NoticesSent != 5 {
		t.Errorf("notices sent %d, want 5", m.NoticesSent)
	}
	var inBuckets uint64
	for _, n := range m.RTT.Counts {
		inBuckets += n
	}
	if inBuckets != m.RTT.Count || m.RTT.Sum <= 0 || m.RTT.Sum > time.Duration(m.RTT.Count)*10*time.Second {
		t.Errorf("rtt histogram %+v", m.RTT)
	}
	if srv.Version() == v0 {
		t.Error("version did not move")
	}

	snap, err := srv.Snapshot(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Connections != 3 || snap.Members != 3 || snap.ByState[StateOpen] != 1 || len(snap.Lobbies) != 1 || snap.More != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	lv := snap.Lobbies[0]
	if len(lv.Members) != 2 || lv.Members[0].Name != "owner" || lv.Members[1].Name != "b" || lv.Members[0].Remote != "127.0.0.1" {
		t.Fatalf("lobby view %+v", lv)
	}
	testutil.WaitFor(t, 10*time.Second, "members' RTT in the snapshot", func() bool {
		snap, err = srv.Snapshot(ctx, 10)
		return err == nil && snap.Lobbies[0].Members[0].RTT > 0 && snap.Lobbies[0].Members[1].RTT > 0
	})
	if counts, _ := srv.Snapshot(ctx, 0); len(counts.Lobbies) != 0 || counts.More != 1 || counts.ByState[StateOpen] != 1 {
		t.Fatalf("counts-only snapshot %+v", counts)
	}

	mu.Lock()
	var kinds []string
	for _, a := range acts {
		kinds = append(kinds, string(a.Kind)+":"+a.Member.Name)
	}
	mu.Unlock()
	want := "created:owner member_joined:a member_joined:b member_left:a"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("activity %q, want %q", got, want)
	}
}

// TestMetricsCountRefusedConnectionsAndRate: the per-address limit and the
// request rate are counted by name.
func TestMetricsCountRefusedConnectionsAndRate(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, MaxConnsPerIP: 1, RequestRate: 1, RequestBurst: 1})
	r := dialRaw(t, ts.addr)
	r.hello("p")
	r2 := dialRaw(t, ts.addr)
	r2.expectError(CodeTooManyConnections, nil)
	r.sendLine(`{"op":"list","id":1}`)
	r.sendLine(`{"op":"list","id":2}`)
	testutil.WaitFor(t, 10*time.Second, "refusals counted", func() bool {
		m := ts.Metrics()
		return m.Refused["max_conns_per_ip"] == 1 && m.Refused["request_rate"] >= 1
	})
}
