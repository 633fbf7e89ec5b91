package lobby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

func TestCreateJoinQuickJoinPeers(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := context.Background()
	alice := dial(t, ts.addr, "Alice")
	bob := dial(t, ts.addr, "Bob")
	carol := dial(t, ts.addr, "Carol")

	created, err := alice.Create(ctx, CreateOptions{Game: "demo", Name: "Alice's game", Capacity: 3,
		Meta: map[string]string{"map": "dunes"}, JoinOptions: JoinOptions{Port: 7777}})
	if err != nil {
		t.Fatal(err)
	}
	l := created.Lobby
	if l.Players != 1 || l.Owner != alice.ID() || l.Name != "Alice's game" || len(created.Peers) != 0 ||
		created.You.Addr != "127.0.0.1:7777" || l.Meta["map"] != "dunes" || l.State != StateOpen {
		t.Fatalf("create reply: %+v", created)
	}

	joined, err := bob.Join(ctx, l.ID, JoinOptions{Addr: "198.18.0.9:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(joined.Peers) != 1 || joined.Peers[0].ID != alice.ID() || joined.Peers[0].Addr != "127.0.0.1:7777" ||
		joined.Peers[0].Name != "Alice" || joined.You.Addr != "198.18.0.9:9000" || joined.Lobby.Successor != bob.ID() {
		t.Fatalf("join reply: %+v", joined)
	}
	expectEvent(t, alice, NoticeMemberJoined, func(e Event) bool {
		return e.Member.ID == bob.ID() && e.Member.Addr == "198.18.0.9:9000" && e.Lobby.Players == 2 && e.Lobby.Successor == bob.ID()
	})

	quick, err := carol.QuickJoin(ctx, "demo", JoinOptions{Addr: "0.0.0.0:7001"})
	if err != nil {
		t.Fatal(err)
	}
	if quick.Lobby.ID != l.ID || quick.Lobby.State != StateFull || len(quick.Peers) != 2 ||
		quick.Peers[0].ID != alice.ID() || quick.Peers[1].ID != bob.ID() || quick.You.Addr != "127.0.0.1:7001" {
		t.Fatalf("quick-join reply: %+v", quick)
	}
	for _, c := range []*Client{alice, bob} {
		expectEvent(t, c, NoticeMemberJoined, func(e Event) bool { return e.Member.ID == carol.ID() && e.Lobby.State == StateFull })
	}
	list, err := carol.List(ctx, "demo")
	if err != nil || len(list) != 1 || list[0].Players != 3 || list[0].Capacity != 3 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := dial(t, ts.addr, "Dan").Join(ctx, l.ID, JoinOptions{Port: 1}); !errors.Is(err, ErrLobbyFull) {
		t.Fatalf("join full lobby: %v", err)
	}
}

func TestLeaveKickStartCloseAndOwnerMigration(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := context.Background()
	a, b, c, d := dial(t, ts.addr, "a"), dial(t, ts.addr, "b"), dial(t, ts.addr, "c"), dial(t, ts.addr, "d")
	j, err := a.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	id := j.Lobby.ID
	for _, cl := range []*Client{b, c, d} {
		if _, err := cl.Join(ctx, id, JoinOptions{Port: 2}); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(cl *Client, n int) {
		for i := 0; i < n; i++ {
			nextEvent(t, cl, 5*time.Second)
		}
	}
	drain(a, 3)
	drain(b, 2)
	drain(c, 1)

	// Only the owner kicks.
	if err := b.Kick(ctx, id, c.ID()); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("kick by member: %v", err)
	}
	if err := a.Kick(ctx, id, d.ID()); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{a, b, c, d} {
		expectEvent(t, cl, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == d.ID() && e.Reason == ReasonKicked })
	}
	// The owner leaves: b (longest present) becomes owner, c successor.
	if err := a.Leave(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{b, c} {
		expectEvent(t, cl, NoticeMemberLeft, func(e Event) bool {
			return e.Member.ID == a.ID() && e.Reason == ReasonLeft && e.Lobby.Owner == b.ID() && e.Lobby.Successor == c.ID()
		})
		expectEvent(t, cl, NoticeOwnerChanged, func(e Event) bool { return e.Lobby.Owner == b.ID() && e.Lobby.Successor == c.ID() })
	}
	if err := a.Leave(ctx, id); !errors.Is(err, ErrNotMember) {
		t.Fatalf("leave twice: %v", err)
	}
	if err := c.Start(ctx, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("start by member: %v", err)
	}
	if err := b.SetMeta(ctx, id, map[string]string{"mode": "ctf"}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{b, c} {
		expectEvent(t, cl, NoticeUpdated, func(e Event) bool { return e.Lobby.Meta["mode"] == "ctf" })
	}
	if err := b.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{b, c} {
		expectEvent(t, cl, NoticeStarted, func(e Event) bool { return len(e.Peers) == 2 && e.Lobby.State == StateStarted })
	}
	if _, err := a.Join(ctx, id, JoinOptions{Port: 1}); !errors.Is(err, ErrLobbyStarted) {
		t.Fatalf("join started: %v", err)
	}
	if err := c.CloseLobby(ctx, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("close by member: %v", err)
	}
	if err := b.CloseLobby(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{b, c} {
		expectEvent(t, cl, NoticeClosed, func(e Event) bool { return e.Reason == ReasonOwnerClosed && e.Lobby.State == StateClosed })
	}
	if st := ts.stats(t); st.Lobbies != 0 || st.Members != 4 {
		t.Fatalf("stats after close: %+v", st)
	}
}

// TestNoticesReachOnlyLobbyMembers: activity in one lobby never reaches the
// members of another, or members of no lobby. The coordinator handles ops
// in order, so a stray notice would arrive before the marker event.
func TestNoticesReachOnlyLobbyMembers(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := context.Background()
	a1, a2 := dial(t, ts.addr, "a1"), dial(t, ts.addr, "a2")
	b1, b2 := dial(t, ts.addr, "b1"), dial(t, ts.addr, "b2")
	idle := dial(t, ts.addr, "idle")
	la, _ := a1.Create(ctx, CreateOptions{Game: "demo", Name: "A", Capacity: 8, JoinOptions: JoinOptions{Port: 1}})
	lb, _ := b1.Create(ctx, CreateOptions{Game: "demo", Name: "B", Capacity: 8, JoinOptions: JoinOptions{Port: 1}})

	// Lots of activity in lobby A.
	if _, err := a2.Join(ctx, la.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		x := dial(t, ts.addr, fmt.Sprint("x", i))
		x.Join(ctx, la.Lobby.ID, JoinOptions{Port: 3})
		x.Leave(ctx, la.Lobby.ID)
	}
	a1.SetMeta(ctx, la.Lobby.ID, map[string]string{"k": "v"})
	// Marker in lobby B.
	if _, err := b2.Join(ctx, lb.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, b1, NoticeMemberJoined, func(e Event) bool { return e.Lobby.ID == lb.Lobby.ID && e.Member.ID == b2.ID() })
	// Lobby A's members saw exactly their own lobby's 1+10+1 notices.
	for i := 0; i < 12; i++ {
		if ev := nextEvent(t, a1, 5*time.Second); ev.Lobby.ID != la.Lobby.ID {
			t.Fatalf("a1 got foreign event %+v", ev)
		}
	}
	// The idle client and b2 got nothing before a final marker of their own.
	idleLobby, _ := idle.Create(ctx, CreateOptions{Game: "solo", Name: "I", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	dial(t, ts.addr, "marker").Join(ctx, idleLobby.Lobby.ID, JoinOptions{Port: 1})
	expectEvent(t, idle, NoticeMemberJoined, func(e Event) bool { return e.Lobby.ID == idleLobby.Lobby.ID })
	b1.SetMeta(ctx, lb.Lobby.ID, map[string]string{"m": "1"})
	expectEvent(t, b2, NoticeUpdated, func(e Event) bool { return e.Lobby.ID == lb.Lobby.ID })
}

// TestSilentMemberDroppedByHeartbeat: a member that stops answering pings
// loses its link once it has been silent for interval × misses, within
// misses + 1 heartbeat rounds: the others are told at once (member_away,
// reason timeout), and when it does not resume within the grace it is
// dropped (member_left, reason timeout). The bounds are checked in what
// cannot depend on the scheduler: the drop comes no earlier than the
// configured silence, and the coordinator pings the silent member at most
// misses + 1 times meanwhile (each ping is a heartbeat round).
func TestSilentMemberDroppedByHeartbeat(t *testing.T) {
	t.Parallel()
	const interval, misses = testHeartbeat, testMisses
	const grace = 200 * time.Millisecond
	ts := startServer(t, ServerConfig{HeartbeatInterval: interval, HeartbeatMisses: misses, ResumeGrace: grace})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	l, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})

	silent := dialRaw(t, ts.addr)
	silentID := silent.hello("silent")
	silent.send(map[string]any{"op": "join", "id": 2, "lobby": l.Lobby.ID, "port": 5})
	if m := silent.recv(); m["ok"] != true || m["resume"] == "" {
		t.Fatalf("join: %v", m)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	// Let it answer a few pings to show it is alive.
	for i := 0; i < 3; i++ {
		m, err := silent.tryRecv(5 * time.Second)
		if err != nil || m["event"] != "ping" {
			t.Fatalf("expected ping, got %v %v", m, err)
		}
		silent.sendLine(fmt.Sprintf(`{"op":"pong","seq":%v}`, m["seq"]))
	}
	// Its last word is a request; it then says nothing but keeps reading.
	// Every ping after the reply was sent after the coordinator read that
	// request, the last thing it heard from the member.
	silentSince := time.Now()
	silent.send(map[string]any{"op": "ping", "id": 9})
	replied, pings := false, 0
	for {
		m, err := silent.tryRecv(10 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("silent member still connected after %v", time.Since(silentSince))
			}
			break // closed by the coordinator
		}
		switch {
		case m["id"] == float64(9):
			replied = true
		case m["event"] == "ping" && replied:
			pings++
		}
	}
	elapsed := time.Since(silentSince)
	t.Logf("dropped %v after its last word, %d pings meanwhile (limit %v, %d misses)", elapsed, pings, interval*misses, misses)
	if !replied {
		t.Fatal("no reply to the member's last request")
	}
	if elapsed < interval*misses {
		t.Fatalf("link dropped after %v of silence; the limit is %v", elapsed, interval*misses)
	}
	if pings > misses+1 {
		t.Fatalf("silent member pinged %d times before the drop; want at most misses+1 = %d rounds", pings, misses+1)
	}
	ev := expectEvent(t, owner, NoticeMemberAway, func(e Event) bool { return e.Member.ID == silentID })
	if ev.Reason != ReasonTimeout {
		t.Fatalf("reason = %s", ev.Reason)
	}
	ev = expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == silentID })
	if ev.Reason != ReasonTimeout || time.Since(silentSince) < grace {
		t.Fatalf("left %v after silence with reason %s; grace is %v", time.Since(silentSince), ev.Reason, grace)
	}
	// The Go client answers pings by itself and is not dropped meanwhile.
	if owner.Err() != nil {
		t.Fatalf("owner dropped: %v", owner.Err())
	}
}

// TestAnsweringClientSurvivesManyIntervals: the Go client answers pings,
// so it stays past several silence limits (counted in heartbeat rounds).
func TestAnsweringClientSurvivesManyIntervals(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses})
	c := dial(t, ts.addr, "steady")
	// Two silence limits' worth of rounds, plus the first one's.
	awaitRounds(t, ts.addr, 2*(testMisses+1))
	if _, err := c.Ping(context.Background()); err != nil || c.Err() != nil {
		t.Fatalf("client dropped: %v (Err %v)", err, c.Err())
	}
	testutil.WaitFor(t, 5*time.Second, "the witness gone and the client still a member", func() bool {
		return ts.stats(t).Members == 1
	})
}

// TestKilledClientNoticedAtOnce: a client whose socket vanishes (reset, as
// when its process is killed) is dropped as disconnected without waiting
// for the heartbeat.
func TestKilledClientNoticedAtOnce(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	l, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	victim := dialRaw(t, ts.addr)
	victimID := victim.hello("victim")
	victim.send(map[string]any{"op": "join", "id": 2, "lobby": l.Lobby.ID, "port": 5})
	victim.recv()
	expectEvent(t, owner, NoticeMemberJoined, nil)
	victim.conn.(*net.TCPConn).SetLinger(0) // close with RST, like a killed process
	start := time.Now()
	victim.conn.Close()
	// Within expectEvent's 5 s, where the heartbeat would take an hour.
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == victimID && e.Reason == ReasonDisconnected })
	t.Logf("noticed after %v", time.Since(start))
}

// TestConcurrentQuickJoinNeverOverfills: 50 players race for 12 free slots
// in three lobbies; exactly 12 get in, nobody overfills a lobby, the rest
// get no_open_lobby.
func TestConcurrentQuickJoinNeverOverfills(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := context.Background()
	caps := []int{3, 5, 7} // 2 + 4 + 6 = 12 free
	for i, c := range caps {
		owner := dial(t, ts.addr, fmt.Sprint("owner", i))
		if _, err := owner.Create(ctx, CreateOptions{Game: "race", Name: fmt.Sprint("L", i), Capacity: c, JoinOptions: JoinOptions{Port: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	const players = 50
	clients := make([]*Client, players)
	for i := range clients {
		clients[i] = dial(t, ts.addr, fmt.Sprint("p", i))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      int
		noRoom  int
		other   []error
		perLoby = map[string]int{}
	)
	start := make(chan struct{})
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			j, err := c.QuickJoin(ctx, "race", JoinOptions{Port: 9})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
				perLoby[j.Lobby.ID]++
				if j.Lobby.Players > j.Lobby.Capacity {
					other = append(other, fmt.Errorf("overfilled: %+v", j.Lobby))
				}
			case errors.Is(err, ErrNoOpenLobby):
				noRoom++
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(other) > 0 || ok != 12 || noRoom != players-12 {
		t.Fatalf("ok=%d noRoom=%d other=%v", ok, noRoom, other)
	}
	list, err := clients[0].List(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.Players != l.Capacity || l.State != StateFull {
			t.Fatalf("lobby not exactly full: %+v", l)
		}
	}
}

// TestClientNeverHangsWhenCoordinatorStops: pending and new calls fail, and
// the events channel reports the loss and closes.
func TestClientNeverHangsWhenCoordinatorStops(t *testing.T) {
	srv, err := NewServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c := dial(t, ln.Addr().String(), "p")
	l, err := c.Create(context.Background(), CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	expectEvent(t, c, NoticeClosed, func(e Event) bool { return e.Lobby.ID == l.Lobby.ID && e.Reason == ReasonShutdown })
	ev := expectEvent(t, c, EventError, nil)
	if !errors.Is(ev.Err, ErrConnectionLost) {
		t.Fatalf("error event: %v", ev.Err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events channel not closed after the error event")
	}
	if _, err := c.List(context.Background(), ""); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("call after loss: %v", err)
	}
}

// TestClientNeverHangsOnSilentCoordinator: a coordinator that accepts and
// then says nothing (hung, or its host vanished) cannot hold a call past
// its timeout, and the client gives the link up after the idle limit.
func TestClientNeverHangsOnSilentCoordinator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		// Answer hello with a 20 ms heartbeat, then go silent (until the
		// client hangs up, or far longer than the test may take).
		buf := make([]byte, 4096)
		nc.Read(buf)
		fmt.Fprintf(nc, `{"id":1,"ok":true,"v":1,"server":"fake","you":{"id":"m1","name":"p"},"heartbeat_ms":20,"misses":2,"max_line":65536}`+"\n")
		nc.SetReadDeadline(time.Now().Add(time.Minute))
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	}()
	// The bounds below sit far below the client's own 20 s timeout, so they
	// tell the call's deadline and the heartbeat apart from it, and far
	// above what a busy scheduler adds to a 30 ms timer.
	const clientTimeout = 20 * time.Second
	c, err := Dial(context.Background(), ln.Addr().String(), ClientConfig{Player: "p", Timeout: clientTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.List(ctx, "")
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("call on silent coordinator: %v", err)
	}
	if d := time.Since(start); d > clientTimeout/4 {
		t.Fatalf("call took %v with a 30ms deadline", d)
	}
	// The heartbeat says the link is dead after 20 ms × (2 + 1) + 250 ms.
	select {
	case <-c.Done():
	case <-time.After(clientTimeout / 4):
		t.Fatal("client never gave up on a silent coordinator")
	}
	if !errors.Is(c.Err(), ErrConnectionLost) {
		t.Fatalf("Err = %v", c.Err())
	}
	c.Close()
	wg.Wait()
}

func TestDialUnreachableCoordinatorFails(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, ClientConfig{Timeout: time.Second}); err == nil {
		t.Fatal("dial to closed port succeeded")
	}
	if _, err := Dial(context.Background(), "127.0.0.1:1", ClientConfig{Player: "bad\x01name"}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad player name: %v", err)
	}
}

// TestSlowConsumerMemberIsDropped: a member that never reads is cut when its
// queue overflows; the others keep getting notices and are told why.
func TestSlowConsumerMemberIsDropped(t *testing.T) {
	// No heartbeat: the member that never reads never answers a ping either,
	// and must be cut for not reading, not dropped for silence first.
	ts := startServer(t, ServerConfig{SendQueue: 16, WriteTimeout: 100 * time.Millisecond, RequestRate: -1, HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	l, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 64, JoinOptions: JoinOptions{Port: 1}})
	stuck := dialRaw(t, ts.addr)
	stuckID := stuck.hello("stuck")
	stuck.send(map[string]any{"op": "join", "id": 2, "lobby": l.Lobby.ID, "port": 5})
	stuck.recv()
	expectEvent(t, owner, NoticeMemberJoined, nil)
	// Churn produces notices; stuck never reads them. Each notice carries
	// large metadata so the socket buffers fill quickly.
	big := map[string]string{}
	for i := 0; i < 4; i++ {
		big[fmt.Sprint("k", i)] = strings.Repeat("v", 250)
	}
	gotDrop := false
	for i := 0; i < 5000 && !gotDrop; i++ {
		if err := owner.SetMeta(ctx, l.Lobby.ID, big); err != nil {
			t.Fatal(err)
		}
		for drained := false; !drained; {
			select {
			case ev := <-owner.Events():
				if ev.Kind == NoticeMemberLeft && ev.Member.ID == stuckID {
					if ev.Reason != ReasonSlowConsumer {
						t.Fatalf("reason = %s", ev.Reason)
					}
					gotDrop = true
				}
			default:
				drained = true
			}
		}
	}
	if !gotDrop {
		t.Fatal("member that never reads was never dropped")
	}
	if _, err := owner.Ping(ctx); err != nil {
		t.Fatalf("owner affected: %v", err)
	}
}

func TestShutdownClosesLobbiesAndReturns(t *testing.T) {
	srv, _ := NewServer(ServerConfig{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	clients := make([]*Client, 5)
	for i := range clients {
		clients[i] = dial(t, ln.Addr().String(), fmt.Sprint("c", i))
		clients[i].Create(context.Background(), CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	}
	srv.Close()
	srv.Close() // idempotent
	select {
	case err := <-done:
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	for _, c := range clients {
		expectEvent(t, c, NoticeClosed, func(e Event) bool { return e.Reason == ReasonShutdown })
	}
	if _, err := srv.Stats(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("stats after close: %v", err)
	}
}

func TestGameAddr(t *testing.T) {
	seen4 := mustAddr("198.18.0.5")
	seen6 := mustAddr("2001:2::5")
	cases := []struct {
		seen       string
		port       int
		addr, want string
		code       Code
	}{
		{"198.18.0.5", 7777, "", "198.18.0.5:7777", ""},
		{"2001:2::5", 7777, "", "[2001:2::5]:7777", ""},
		{"198.18.0.5", 0, "198.18.1.1:9", "198.18.1.1:9", ""},
		{"198.18.0.5", 0, "0.0.0.0:9", "198.18.0.5:9", ""},
		{"2001:2::5", 0, "[::]:9", "[2001:2::5]:9", ""},
		{"198.18.0.5", 0, "[::ffff:198.18.1.1]:9", "198.18.1.1:9", ""},
		{"198.18.0.5", 0, "", "", CodeInvalidAddress},
		{"198.18.0.5", 70000, "", "", CodeInvalidAddress},
		{"198.18.0.5", 0, "host.example:9", "", CodeInvalidAddress},
		{"198.18.0.5", 0, "1.2.3.4:0", "", CodeInvalidAddress},
	}
	for _, tc := range cases {
		seen := seen4
		if strings.Contains(tc.seen, ":") {
			seen = seen6
		}
		got, err := GameAddr(seen, tc.port, tc.addr)
		if tc.code != "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("%+v: err = %v, want %s", tc, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q %v, want %q", tc, got, err, tc.want)
		}
	}
}

func TestStatsCountMembersAndLobbies(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat}) // a close is a departure
	a := dial(t, ts.addr, "a")
	dial(t, ts.addr, "b")
	a.Create(context.Background(), CreateOptions{Game: "g", Name: "n", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	st := ts.stats(t)
	if st.Members != 2 || st.Lobbies != 1 || st.Connections != 2 || st.Accepted != 2 {
		t.Fatalf("stats %+v", st)
	}
	a.Close()
	testutil.WaitFor(t, 5*time.Second, "a's lobby to close", func() bool { return ts.stats(t).Lobbies == 0 })
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLoopbackAs(t *testing.T) {
	cases := []struct{ addr, local, want string }{
		{"127.0.0.1:7777", "198.18.0.1", "198.18.0.1:7777"},
		{"[::1]:7777", "198.18.0.1", "198.18.0.1:7777"},
		{"127.0.0.1:7777", "2001:2::1", "[2001:2::1]:7777"},
		{"127.0.0.1:7777", "fe80::1%lan0", "[fe80::1]:7777"},
		{"127.0.0.1:7777", "127.0.0.1", "127.0.0.1:7777"}, // recipient on the same host
		{"198.18.0.9:7777", "198.18.0.1", "198.18.0.9:7777"},
		{"127.0.0.1:7777", "", "127.0.0.1:7777"},
	}
	for _, tc := range cases {
		var local netip.Addr
		if tc.local != "" {
			local = netip.MustParseAddr(tc.local)
		}
		if got := LoopbackAs(tc.addr, local); got != tc.want {
			t.Errorf("LoopbackAs(%s, %s) = %s, want %s", tc.addr, tc.local, got, tc.want)
		}
	}
	n := Notice{Member: Member{Addr: "127.0.0.1:1"}, Peers: []Member{{Addr: "127.0.0.1:2"}, {Addr: "198.18.0.5:3"}}}
	if !n.hasLoopbackAddr() {
		t.Fatal("hasLoopbackAddr")
	}
	r := n.loopbackAs(netip.MustParseAddr("198.18.0.1"))
	if r.Member.Addr != "198.18.0.1:1" || r.Peers[0].Addr != "198.18.0.1:2" || r.Peers[1].Addr != "198.18.0.5:3" || n.Peers[0].Addr != "127.0.0.1:2" {
		t.Fatalf("loopbackAs: %+v (original %+v)", r, n)
	}
}

func TestOnLobbyChangeFollowsLobbies(t *testing.T) {
	var mu sync.Mutex
	var seen []Info
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, OnLobbyChange: func(in Info) { // a close is a departure
		mu.Lock()
		seen = append(seen, in)
		mu.Unlock()
	}})
	ctx := context.Background()
	a, b := dial(t, ts.addr, "a"), dial(t, ts.addr, "b")
	j, _ := a.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	b.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2})
	b.Close() // disconnect: back to open
	a.Close() // empties and closes it
	testutil.WaitFor(t, 5*time.Second, "four changes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 4
	})
	mu.Lock()
	defer mu.Unlock()
	want := []State{StateOpen, StateFull, StateOpen, StateClosed}
	for i, in := range seen {
		if in.ID != j.Lobby.ID || in.State != want[i] {
			t.Fatalf("change %d: %+v", i, in)
		}
	}
}

// TestPrivateLobbies: a private lobby is joined by id and password only;
// it is not listed or quick-joined, and a wrong password is a clear error.
func TestPrivateLobbies(t *testing.T) {
	var mu sync.Mutex
	var changes []Info
	ts := startServer(t, ServerConfig{OnLobbyChange: func(in Info) { mu.Lock(); changes = append(changes, in); mu.Unlock() }})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "secret", Capacity: 4, JoinOptions: JoinOptions{Port: 1, Password: "hunter2"}})
	if err != nil || !j.Lobby.Private || j.Invite != "" {
		t.Fatalf("create: %+v %v", j, err)
	}
	inv, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "invite only", Capacity: 4, Private: true, JoinOptions: JoinOptions{Port: 1}})
	if err != nil || len(inv.Invite) != 10 {
		t.Fatalf("create with invite: %+v %v", inv, err)
	}
	p := dial(t, ts.addr, "p")
	if ls, _ := p.List(ctx, ""); len(ls) != 0 {
		t.Fatalf("private lobbies listed: %+v", ls)
	}
	if _, err := p.QuickJoin(ctx, "demo", JoinOptions{Port: 2}); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("quick-join found a private lobby: %v", err)
	}
	for _, pw := range []string{"", "hunter3", "hunter2 ", "HUNTER2"} {
		if _, err := p.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2, Password: pw}); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("password %q: %v", pw, err)
		}
	}
	if _, err := p.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2, Password: "hunter2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Join(ctx, inv.Lobby.ID, JoinOptions{Port: 2, Password: inv.Invite}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1, Password: strings.Repeat("p", MaxPasswordLen+1)}}); !errors.Is(err, &Error{Code: CodeInvalidPassword}) {
		t.Fatalf("long password: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range changes {
		if !c.Private {
			t.Fatalf("change of a private lobby not marked private: %+v", c)
		}
	}
}
