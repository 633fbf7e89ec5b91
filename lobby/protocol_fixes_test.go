package lobby

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestAutoStartWhenFull: a lobby created with auto_start starts when its
// last seat is taken, and everyone (the last joiner too) gets started
// with the final peers; without it a full lobby waits, and start works
// below capacity.
func TestAutoStartWhenFull(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner, a, b := dial(t, ts.addr, "owner"), dial(t, ts.addr, "a"), dial(t, ts.addr, "b")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "auto", Capacity: 3, AutoStart: true, JoinOptions: JoinOptions{Port: 1}})
	if err != nil || !j.Lobby.AutoStart {
		t.Fatalf("create: %+v %v", j, err)
	}
	if _, err := a.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	last, err := b.Join(ctx, j.Lobby.ID, JoinOptions{Port: 3})
	if err != nil || last.Lobby.State != StateStarted {
		t.Fatalf("last join: %+v %v", last, err)
	}
	for _, c := range []*Client{owner, a, b} {
		ev := nextEvent(t, c, 5*time.Second)
		if ev.Kind == NoticeMemberJoined {
			ev = nextEvent(t, c, 5*time.Second)
		}
		if ev.Kind != NoticeStarted || len(ev.Peers) != 3 {
			t.Fatalf("%s: %+v, want started with 3 peers", c.cfg.Player, ev)
		}
	}
	// Without auto_start: full is full, and the owner starts at will.
	j2, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "manual", Capacity: 2, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if full, err := a.Join(ctx, j2.Lobby.ID, JoinOptions{Port: 2}); err != nil || full.Lobby.State != StateFull {
		t.Fatalf("join to full: %+v %v", full, err)
	}
	j3, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "early", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(ctx, j3.Lobby.ID); err != nil {
		t.Fatalf("start below capacity: %v", err)
	}
}

// TestResumeElsewhereTellsTheOldLink: when another connection resumes a
// live member's identity, the old link is told why before it closes, and
// the Go client stops with ErrReplaced instead of fighting for the seat.
func TestResumeElsewhereTellsTheOldLink(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	c := dial(t, ts.addr, "victim")
	if _, err := c.Create(context.Background(), CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	id, token := c.you.ID, c.token
	c.mu.Unlock()
	r := dialRaw(t, ts.addr)
	r.sendLine(fmt.Sprintf(`{"op":"resume","id":1,"v":1,"member":%q,"token":%q}`, id, token))
	if m := r.recv(); m["ok"] != true {
		t.Fatalf("resume: %v", m)
	}
	ev := nextEvent(t, c, 5*time.Second)
	if ev.Kind != EventError || !errors.Is(ev.Err, ErrReplaced) {
		t.Fatalf("old client's event %+v, want an error wrapping ErrReplaced", ev)
	}
}
