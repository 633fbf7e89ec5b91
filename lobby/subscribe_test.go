package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// nextChange returns the subscription's next change, or fails.
func nextChange(t *testing.T, s *Subscription) Change {
	t.Helper()
	select {
	case ch, ok := <-s.Changes():
		if !ok {
			t.Fatal("changes closed")
		}
		return ch
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return Change{}
}

func expectChange(t *testing.T, s *Subscription, kind NoticeKind, lobby string, check func(Info) bool) Info {
	t.Helper()
	ch := nextChange(t, s)
	if ch.Kind != kind || ch.Lobby.ID != lobby || check != nil && !check(ch.Lobby) {
		t.Fatalf("change %s %+v, want %s of %s", ch.Kind, ch.Lobby, kind, lobby)
	}
	return ch.Lobby
}

func create(t *testing.T, c *Client, o CreateOptions) Info {
	t.Helper()
	if o.Port == 0 {
		o.Port = 7777
	}
	if o.Name == "" {
		o.Name = "lobby"
	}
	if o.Capacity == 0 {
		o.Capacity = 4
	}
	j, err := c.Create(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return j.Lobby
}

// TestSubscribeSnapshotThenChanges: a subscriber gets the lobbies that
// match, then exactly the changes that concern its filter: added when one
// starts to match, updated while it does, removed when it stops or closes.
func TestSubscribeSnapshotThenChanges(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	host := dial(t, ts.addr, "host")
	dunes := create(t, host, CreateOptions{Game: "demo", Meta: map[string]string{"map": "dunes"}, Version: "1.4"})
	create(t, host, CreateOptions{Game: "demo", Meta: map[string]string{"map": "forest"}, Version: "1.4"})
	create(t, host, CreateOptions{Game: "other", Meta: map[string]string{"map": "dunes"}, Version: "1.4"})

	watcher := dial(t, ts.addr, "watcher")
	f := Filter{Version: "1.4", Meta: map[string]string{"map": "dunes"}}
	sub, err := watcher.Subscribe(ctx, "demo", f)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if ls := sub.Lobbies(); len(ls) != 1 || ls[0].ID != dunes.ID || ls[0].Version != "1.4" || ls[0].Created.IsZero() {
		t.Fatalf("snapshot %+v, want lobby %s", ls, dunes.ID)
	}
	expectChange(t, sub, EventLobbyAdded, dunes.ID, nil)

	// A second host's new lobby that matches is added; one that does not
	// is never heard of.
	host2 := dial(t, ts.addr, "host2")
	create(t, host2, CreateOptions{Game: "demo", Meta: map[string]string{"map": "forest"}, Version: "1.4"})
	other := create(t, host2, CreateOptions{Game: "demo", Meta: map[string]string{"map": "dunes"}, Version: "1.4"})
	expectChange(t, sub, EventLobbyAdded, other.ID, nil)

	p := dial(t, ts.addr, "p")
	if _, err := p.Join(ctx, dunes.ID, JoinOptions{Port: 1}); err != nil {
		t.Fatal(err)
	}
	expectChange(t, sub, NoticeUpdated, dunes.ID, func(in Info) bool { return in.Players == 2 })
	if err := host.SetMeta(ctx, dunes.ID, map[string]string{"map": "forest"}); err != nil {
		t.Fatal(err)
	}
	expectChange(t, sub, EventLobbyRemoved, dunes.ID, func(in Info) bool { return in.Meta["map"] == "forest" })
	if err := host.SetMeta(ctx, dunes.ID, map[string]string{"map": "dunes"}); err != nil {
		t.Fatal(err)
	}
	expectChange(t, sub, EventLobbyAdded, dunes.ID, nil)
	if err := host2.CloseLobby(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	expectChange(t, sub, EventLobbyRemoved, other.ID, func(in Info) bool { return in.State == StateClosed })
	if ls := sub.Lobbies(); len(ls) != 1 || ls[0].ID != dunes.ID || ls[0].Players != 2 {
		t.Fatalf("view %+v", ls)
	}
	// After Close nothing more comes, and the coordinator forgot it.
	sub.Close()
	for range sub.Changes() {
	}
	if err := host.SetMeta(ctx, dunes.ID, map[string]string{"map": "dunes", "x": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := watcher.SetMeta(ctx, "nope", nil); !errors.Is(err, ErrUnknownLobby) {
		t.Fatal(err) // a round trip: anything pushed before it has been read
	}
}

// TestSubscriberHearsNothingOfOtherGames: a subscriber to game A receives
// zero bytes about game B while B churns: every line it reads is its
// subscribe reply, a ping, or an event of game A.
func TestSubscriberHearsNothingOfOtherGames(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, MaxLobbiesPerMember: 64})
	ctx := context.Background()
	raw := dialRaw(t, ts.addr)
	raw.hello("watcher")
	raw.sendLine(`{"op":"subscribe","id":2,"game":"alpha"}`)

	// Game B churns: lobbies made, joined, left, changed, started, closed.
	owner := dial(t, ts.addr, "owner")
	players := []*Client{dial(t, ts.addr, "p1"), dial(t, ts.addr, "p2")}
	var bIDs []string
	for i := range 20 {
		l := create(t, owner, CreateOptions{Game: "beta", Meta: map[string]string{"round": fmt.Sprint(i)}})
		bIDs = append(bIDs, l.ID)
		for _, p := range players {
			if _, err := p.Join(ctx, l.ID, JoinOptions{Port: 2}); err != nil {
				t.Fatal(err)
			}
		}
		players[0].Leave(ctx, l.ID)
		owner.SetMeta(ctx, l.ID, map[string]string{"round": fmt.Sprint(i), "x": "y"})
		if i%2 == 0 {
			owner.Start(ctx, l.ID)
		}
		owner.CloseLobby(ctx, l.ID)
		players[1].Leave(ctx, l.ID)
	}
	// Then one change of game A, which the subscriber must get.
	marker := create(t, owner, CreateOptions{Game: "alpha", Name: "marker"})

	var foreign, total int
	for done := false; !done; {
		raw.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := raw.br.ReadString('\n')
		if err != nil {
			t.Fatalf("subscriber: %v (read %d bytes)", err, total)
		}
		total += len(line)
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad line %q", line)
		}
		switch {
		case m["event"] == "ping":
		case m["id"] == float64(2) && m["ok"] == true && m["sub"] == float64(1):
		case m["event"] == "synced":
		case m["event"] == "lobby_added" && m["game"] == "alpha":
			done = m["lobby"] == marker.ID
		default:
			foreign += len(line)
			t.Errorf("line not about game alpha: %s", line)
		}
		for _, id := range bIDs {
			if strings.Contains(line, id) {
				t.Errorf("line names game beta's lobby %s: %s", id, line)
			}
		}
	}
	if foreign != 0 {
		t.Fatalf("%d of %d bytes were about game beta", foreign, total)
	}
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, MaxSubscriptions: 2})
	raw := dialRaw(t, ts.addr)
	raw.sendLine(`{"op":"subscribe","id":1,"game":"demo"}`)
	raw.expectError(CodeHelloRequired, 1)
	raw.hello("x")
	raw.sendLine(`{"op":"subscribe","id":"a","game":"no such game!"}`)
	raw.expectError(CodeInvalidGame, "a")
	raw.sendLine(`{"op":"subscribe","id":3,"filter":{"ranges":[{"key":"x","min":5,"max":1}]}}`)
	raw.expectError(CodeInvalidFilter, 3)
	raw.sendLine(`{"op":"subscribe","id":4,"filter":{"version_rule":"semver"}}`)
	raw.expectError(CodeInvalidFilter, 4)
	for id := 5; id <= 6; id++ {
		raw.sendLine(fmt.Sprintf(`{"op":"subscribe","id":%d}`, id))
		if m := raw.recv(); m["ok"] != true || m["sub"] != float64(id-4) {
			t.Fatalf("subscribe: %v", m)
		}
		if m := raw.recv(); m["event"] != "synced" {
			t.Fatalf("want synced, got %v", m)
		}
	}
	raw.sendLine(`{"op":"subscribe","id":7}`)
	raw.expectError(CodeTooManySubscriptions, 7)
	raw.sendLine(`{"op":"unsubscribe","id":8,"sub":1}`)
	if m := raw.recv(); m["ok"] != true {
		t.Fatalf("unsubscribe: %v", m)
	}
	raw.sendLine(`{"op":"unsubscribe","id":9,"sub":1}`)
	raw.expectError(CodeUnknownSubscription, 9)
	raw.sendLine(`{"op":"subscribe","id":10}`)
	if m := raw.recv(); m["ok"] != true || m["sub"] != float64(3) {
		t.Fatalf("a freed slot: %v", m)
	}
}

// TestSlowSubscriberIsBounded: a subscriber that stops reading has its
// waiting output capped in bytes: its subscription ends (unsubscribed,
// slow_consumer), its link and membership stay, and it can subscribe
// again.
func TestSlowSubscriberIsBounded(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, SubscriptionPending: 4 << 10, SocketBuffer: 4 << 10,
		WriteTimeout: time.Minute, MaxLobbiesPerMember: 4000})
	raw := dialRaw(t, ts.addr)
	if tc, ok := raw.conn.(interface{ SetReadBuffer(int) error }); ok {
		tc.SetReadBuffer(4 << 10)
	}
	raw.hello("slow")
	raw.sendLine(`{"op":"subscribe","id":2,"game":"demo"}`)
	// The subscriber reads nothing while lobbies appear, each an event it
	// must be told; what its sockets cannot hold waits, up to 4 KiB.
	owner := dial(t, ts.addr, "owner")
	n := 0
	overflowed := func() bool { return ts.subsCount() == 0 }
	testutil.WaitFor(t, 60*time.Second, "the slow subscriber's subscription to end", func() bool {
		for range 50 {
			create(t, owner, CreateOptions{Game: "demo", Name: fmt.Sprint("l", n)})
			n++
		}
		return overflowed()
	})
	// Now it reads: the events that fitted, then the end of the
	// subscription; its link is fine.
	var added int
	for {
		m := raw.recv()
		if m["event"] == "unsubscribed" {
			if m["reason"] != "slow_consumer" || m["sub"] != float64(1) {
				t.Fatalf("unsubscribed: %v", m)
			}
			break
		}
		if m["event"] == "lobby_added" {
			added++
		}
	}
	if added == 0 || added >= n {
		t.Fatalf("%d of %d lobbies told before the subscription ended", added, n)
	}
	raw.sendLine(`{"op":"subscribe","id":3,"game":"demo"}`)
	if m := raw.recv(); m["ok"] != true {
		t.Fatalf("subscribe again: %v", m)
	}
	got := 0
	for m := raw.recv(); m["event"] != "synced"; m = raw.recv() {
		got++
	}
	if got != n {
		t.Fatalf("fresh snapshot of %d lobbies, want %d", got, n)
	}
}

// subsCount counts the coordinator's subscriptions, on its state
// goroutine.
func (ts *testServer) subsCount() int {
	n := 0
	ts.inLoop(func() {
		if s := ts.Server; s.subs != nil {
			for _, set := range s.subs.byGame {
				n += len(set)
			}
		}
	})
	return n
}
