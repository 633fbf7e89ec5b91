package lobby

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// joinRaw makes a raw member that joins lobbyID and returns it with its id
// and resume token.
func joinRaw(t *testing.T, addr, lobbyID, player string) (*rawClient, string, string) {
	t.Helper()
	r := dialRaw(t, addr)
	id := r.hello(player)
	r.send(map[string]any{"op": "join", "id": 2, "lobby": lobbyID, "port": 5})
	m := r.recv()
	tok, _ := m["resume"].(string)
	if m["ok"] != true || len(tok) != 32 {
		t.Fatalf("join: %v", m)
	}
	return r, id, tok
}

// goSilent stops answering pings (the raw client reads nothing more).
func goSilent(r *rawClient) { r.pongs = false }

// TestResumeAfterBlipKeepsSeat: a member whose link went silent is reported
// away, keeps its seat, resumes on a new connection with its token, gets
// the notice it missed, and the others see it back: no leave, no join.
func TestResumeAfterBlipKeepsSeat(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: 10 * time.Second})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	r, id, token := joinRaw(t, ts.addr, j.Lobby.ID, "blippy")
	expectEvent(t, owner, NoticeMemberJoined, nil)
	goSilent(r)
	expectEvent(t, owner, NoticeMemberAway, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonTimeout })
	if st := ts.stats(t); st.Away != 1 || st.Members != 2 {
		t.Fatalf("stats while away: %+v", st)
	}
	// Something happens while it is away.
	if err := owner.SetMeta(ctx, j.Lobby.ID, map[string]string{"map": "dunes"}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeUpdated, nil)

	back := dialRaw(t, ts.addr)
	back.send(map[string]any{"op": "resume", "id": 1, "v": 1, "member": id, "token": token})
	m := back.recv()
	res, _ := m["resumed"].(map[string]any)
	if m["ok"] != true || m["you"].(map[string]any)["id"] != id || res == nil || res["missed"] != float64(1) {
		t.Fatalf("resume reply: %v", m)
	}
	if ls := res["lobbies"].([]any); len(ls) != 1 || ls[0].(map[string]any)["lobby"] != j.Lobby.ID {
		t.Fatalf("resumed lobbies: %v", res)
	}
	missed := back.recv()
	if missed["event"] != "lobby_updated" || missed["meta"].(map[string]any)["map"] != "dunes" {
		t.Fatalf("missed notice: %v", missed)
	}
	expectEvent(t, owner, NoticeMemberBack, func(e Event) bool { return e.Member.ID == id })
	// It acts as itself on the new link.
	back.send(map[string]any{"op": "leave", "id": 3, "lobby": j.Lobby.ID})
	if m := back.recv(); m["ok"] != true {
		t.Fatalf("leave after resume: %v", m)
	}
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonLeft })
}

// TestResumeBeforeTimeoutIsInvisible: a member that reconnects before the
// coordinator noticed the old link was dead takes its seat over; the others
// see nothing at all.
func TestResumeBeforeTimeoutIsInvisible(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	old, id, token := joinRaw(t, ts.addr, j.Lobby.ID, "roamer")
	expectEvent(t, owner, NoticeMemberJoined, nil)
	back := dialRaw(t, ts.addr)
	back.send(map[string]any{"op": "resume", "id": 1, "v": 1, "member": id, "token": token})
	if m := back.recv(); m["ok"] != true || m["resumed"].(map[string]any)["missed"] != float64(0) {
		t.Fatalf("resume: %v", m)
	}
	old.expectClosed(5 * time.Second)
	// A marker: the next thing the owner hears is this, not a leave/away.
	marker := dial(t, ts.addr, "marker")
	marker.Join(ctx, j.Lobby.ID, JoinOptions{Port: 3})
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Member.Name == "marker" })
	if st := ts.stats(t); st.Members != 3 || st.Away != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestResumeRejected(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: 100 * time.Millisecond})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	r, id, token := joinRaw(t, ts.addr, j.Lobby.ID, "p")
	expectEvent(t, owner, NoticeMemberJoined, nil)

	thief := dialRaw(t, ts.addr)
	thief.send(map[string]any{"op": "resume", "id": 1, "v": 1, "member": id, "token": fmt.Sprintf("%032x", 0)})
	thief.expectError(CodeResumeFailed, 1)
	thief.send(map[string]any{"op": "resume", "id": 2, "v": 1, "member": owner.ID(), "token": token})
	thief.expectError(CodeResumeFailed, 2)
	// The failed attempts did not disturb the member.
	r.send(map[string]any{"op": "ping", "id": 7})
	if m := r.recv(); m["ok"] != true {
		t.Fatalf("member disturbed: %v", m)
	}
	// Past the grace, the seat is gone and so is the identity.
	goSilent(r)
	expectEvent(t, owner, NoticeMemberAway, nil)
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonTimeout })
	late := dialRaw(t, ts.addr)
	late.send(map[string]any{"op": "resume", "id": 1, "v": 1, "member": id, "token": token})
	late.expectError(CodeResumeFailed, 1)
	// A hello afterwards works as usual.
	late.hello("fresh")
}

// TestHealthyCloseIsNotABlip: a member that closes its link while talking
// (a killed process, a clean exit) leaves at once, even with a grace.
func TestHealthyCloseIsNotABlip(t *testing.T) {
	// The member joins and closes well within one heartbeat interval, also
	// on a busy machine: it closes while talking.
	ts := startServer(t, ServerConfig{ResumeGrace: time.Minute, HeartbeatInterval: 5 * time.Second})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	r, id, _ := joinRaw(t, ts.addr, j.Lobby.ID, "quitter")
	expectEvent(t, owner, NoticeMemberJoined, nil)
	r.conn.Close()
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonDisconnected })
}
