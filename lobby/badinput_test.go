package lobby

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestBadInputGetsErrorCodes sends each kind of bad request over a real
// link and checks the error code and echoed id; after all of it the same
// link, and everyone else, are still served.
func TestBadInputGetsErrorCodes(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := context.Background()
	bystander := dial(t, ts.addr, "bystander")
	other := dial(t, ts.addr, "other")
	theirs, err := other.Create(ctx, CreateOptions{Game: "demo", Name: "theirs", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	otherLobby := theirs.Lobby.ID

	r := dialRaw(t, ts.addr)
	// Before hello.
	r.sendLine(`{"op":"list","id":1}`)
	r.expectError(CodeHelloRequired, 1)
	r.sendLine(`{"op":"hello","id":"h","v":1,"player":"bad\u0007bell"}`)
	r.expectError(CodeInvalidName, "h")
	r.hello("mallory")

	cases := []struct {
		name string
		line string
		code Code
		id   any
	}{
		{"malformed json", `{"op":"list","id":7`, CodeBadRequest, nil},
		{"not an object", `[1,2,3]`, CodeBadRequest, nil},
		{"wrong field type keeps id", `{"op":"create","id":8,"capacity":"four"}`, CodeBadRequest, 8},
		{"id of a bad type", `{"op":"list","id":{"x":1}}`, CodeBadRequest, nil},
		{"id too long", `{"op":"list","id":"` + strings.Repeat("i", MaxRequestIDLen+1) + `"}`, CodeBadRequest, nil},
		{"id of 64 bytes with escapes", `{"op":"leave","id":"` + strings.Repeat(`\u00e9`, MaxRequestIDLen/2) + `"}`, CodeBadRequest, strings.Repeat("é", MaxRequestIDLen/2)},
		{"id with an exponent", `{"op":"list","id":1e3}`, CodeBadRequest, nil},
		{"id with a fraction", `{"op":"list","id":1.5}`, CodeBadRequest, nil},
		{"negative id", `{"op":"list","id":-1}`, CodeBadRequest, nil},
		{"id over 2^53-1", `{"op":"list","id":9007199254740992}`, CodeBadRequest, nil},
		{"id over 2^64", `{"op":"list","id":12345678901234567890}`, CodeBadRequest, nil},
		{"leave without lobby", `{"op":"leave","id":11}`, CodeBadRequest, 11},
		{"kick without member", `{"op":"kick","id":12,"lobby":"x"}`, CodeBadRequest, 12},
		{"join without lobby", `{"op":"join","id":13,"port":1}`, CodeBadRequest, 13},
		{"missing op", `{"id":9}`, CodeBadRequest, 9},
		{"unknown op", `{"op":"teleport","id":10}`, CodeUnknownOp, 10},
		{"invalid utf-8 keeps id", "{\"op\":\"list\",\"id\":11,\"game\":\"\xff\xfe\"}", CodeInvalidUTF8, 11},
		{"second hello", `{"op":"hello","id":12,"v":1}`, CodeAlreadyHello, 12},
		{"lobby name too long", `{"op":"create","id":13,"game":"demo","name":"` + strings.Repeat("n", MaxLobbyNameLen+1) + `","capacity":2,"port":1}`, CodeInvalidName, 13},
		{"lobby name with control char", `{"op":"create","id":14,"game":"demo","name":"a\u0000b","capacity":2,"port":1}`, CodeInvalidName, 14},
		{"lobby name with newline escape", `{"op":"create","id":15,"game":"demo","name":"a\nb","capacity":2,"port":1}`, CodeInvalidName, 15},
		{"lobby name with bidi override", `{"op":"create","id":"rlo","game":"demo","name":"Alice\u202egame","capacity":2,"port":1}`, CodeInvalidName, "rlo"},
		{"bad game", `{"op":"create","id":16,"game":"no spaces","name":"x","capacity":2,"port":1}`, CodeInvalidGame, 16},
		{"capacity too small", `{"op":"create","id":17,"game":"demo","name":"x","capacity":1,"port":1}`, CodeInvalidCapacity, 17},
		{"capacity too large", `{"op":"create","id":18,"game":"demo","name":"x","capacity":65,"port":1}`, CodeInvalidCapacity, 18},
		{"no game address", `{"op":"create","id":19,"game":"demo","name":"x","capacity":2}`, CodeInvalidAddress, 19},
		{"bad game address", `{"op":"join","id":20,"lobby":"` + otherLobby + `","addr":"nowhere"}`, CodeInvalidAddress, 20},
		{"too much meta", `{"op":"create","id":21,"game":"demo","name":"x","capacity":2,"port":1,"meta":{"k":"` + strings.Repeat("v", MaxMetaValueLen+1) + `"}}`, CodeInvalidMeta, 21},
		{"unknown lobby", `{"op":"join","id":22,"lobby":"nosuchlobby","port":1}`, CodeUnknownLobby, 22},
		{"kick in someone else's lobby", `{"op":"kick","id":23,"lobby":"` + otherLobby + `","member":"` + other.ID() + `"}`, CodeNotOwner, 23},
		{"start someone else's lobby", `{"op":"start","id":24,"lobby":"` + otherLobby + `"}`, CodeNotOwner, 24},
		{"close someone else's lobby", `{"op":"close","id":25,"lobby":"` + otherLobby + `"}`, CodeNotOwner, 25},
		{"meta on someone else's lobby", `{"op":"set_meta","id":26,"lobby":"` + otherLobby + `","meta":{}}`, CodeNotOwner, 26},
		{"leave a lobby one is not in", `{"op":"leave","id":27,"lobby":"` + otherLobby + `"}`, CodeNotMember, 27},
		{"quick-join bad game", `{"op":"quick_join","id":28,"game":"","port":1}`, CodeInvalidGame, 28},
		{"quick-join no lobby", `{"op":"quick_join","id":29,"game":"nogame","port":1}`, CodeNoOpenLobby, 29},
	}
	for _, tc := range cases {
		r.sendLine(tc.line)
		func() {
			defer func() {
				if t.Failed() {
					t.Logf("case %q", tc.name)
				}
			}()
			r.expectError(tc.code, tc.id)
		}()
	}
	// Joining twice.
	r.send(map[string]any{"op": "join", "id": 30, "lobby": otherLobby, "port": 1})
	if m := r.recv(); m["ok"] != true {
		t.Fatalf("join: %v", m)
	}
	r.send(map[string]any{"op": "join", "id": 31, "lobby": otherLobby, "port": 1})
	r.expectError(CodeAlreadyMember, 31)
	// Unknown fields are ignored.
	r.sendLine(`{"op":"ping","id":32,"future_field":{"deep":[1,2]}}`)
	if m := r.recv(); m["ok"] != true || m["id"] != float64(32) {
		t.Fatalf("ping with unknown fields: %v", m)
	}
	// Everyone else is still served, and saw only the legitimate join.
	if _, err := bystander.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, other, NoticeMemberJoined, func(e Event) bool { return e.Member.Name == "mallory" })
	if l, err := bystander.List(ctx, "demo"); err != nil || len(l) != 1 || l[0].Players != 2 {
		t.Fatalf("list: %+v %v", l, err)
	}
}

func TestOversizedLineDisconnects(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxLineLength: 1024})
	bystander := dial(t, ts.addr, "bystander")
	r := dialRaw(t, ts.addr)
	r.hello("big")
	r.sendLine(`{"op":"list","id":1,"pad":"` + strings.Repeat("x", 2000) + `"}`)
	r.expectError(CodeLineTooLong, nil)
	r.expectClosed(5 * time.Second)
	if _, err := bystander.Ping(context.Background()); err != nil {
		t.Fatalf("bystander: %v", err)
	}
}

func TestUnsupportedVersionDisconnects(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	r := dialRaw(t, ts.addr)
	r.sendLine(`{"op":"hello","id":1,"v":0}`)
	r.expectError(CodeUnsupportedVersion, 1)
	r.expectClosed(5 * time.Second)
	// A newer client is answered with the version this server speaks.
	r2 := dialRaw(t, ts.addr)
	r2.sendLine(`{"op":"hello","id":1,"v":9,"player":"future"}`)
	if m := r2.recv(); m["ok"] != true || m["v"] != float64(ProtocolVersion) {
		t.Fatalf("hello from newer client: %v", m)
	}
}

// TestHelloDeadline: a request other than hello is refused and does not
// stop the hello deadline, which then ends the link with a parting error.
// The deadline is long enough that the request is read before it on a busy
// machine too: the coordinator closing a link with bytes unread resets it,
// and the parting error may then be lost.
func TestHelloDeadline(t *testing.T) {
	t.Parallel()
	const deadline = time.Second
	ts := startServer(t, ServerConfig{HelloTimeout: deadline, HeartbeatInterval: noHeartbeat})
	start := time.Now()
	r := dialRaw(t, ts.addr)
	r.sendLine(`{"op":"ping","id":1}`)
	r.expectError(CodeHelloRequired, 1)
	r.expectError(CodeHelloRequired, nil) // the deadline's parting message
	r.expectClosed(5 * time.Second)
	if d := time.Since(start); d < deadline {
		t.Fatalf("closed %v after connecting, before the %v deadline", d, deadline)
	}
	testutil.WaitFor(t, 5*time.Second, "connection count back to zero", func() bool { return ts.stats(t).Connections == 0 })
}

// TestPipelinedRequestsAfterHello: a client may send hello and its first
// request back to back without waiting.
func TestPipelinedRequestsAfterHello(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	r := dialRaw(t, ts.addr)
	r.sendLine(`{"op":"hello","id":1,"v":1,"player":"fast"}` + "\n" + `{"op":"create","id":2,"game":"demo","name":"quick","capacity":2,"port":7}` + "\n" + `{"op":"ping","id":3}`)
	got := map[float64]bool{}
	for i := 0; i < 3; i++ {
		m := r.recv()
		if m["ok"] != true {
			t.Fatalf("pipelined reply: %v", m)
		}
		got[m["id"].(float64)] = true
	}
	if len(got) != 3 {
		t.Fatalf("replies: %v", got)
	}
}
