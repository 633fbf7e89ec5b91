package lobby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestNamesTable: names and addresses are unique, a holder may move or
// renew its name, only the holder deregisters, per-owner and total bounds,
// UDP names expire unless renewed.
func TestNamesTable(t *testing.T) {
	now := time.Unix(1000, 0)
	n := newNames(3, time.Minute, func() time.Time { return now })
	a, b := nameOwner{member: "a"}, nameOwner{member: "b"}
	u := nameOwner{udp: netip.MustParseAddr("10.0.0.9")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	is := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%v, want %v", err, want)
		}
	}
	must(n.register(a, "hall", "room://10.0.0.1:7000"))
	is(n.register(b, "hall", "room://10.0.0.2:7000"), ErrNameTaken)
	is(n.register(b, "kitchen", "room://10.0.0.1:7000"), ErrAddrTaken)
	is(n.register(b, "kitchen", "ROOM://x:1"), ErrInvalidAddress)
	is(n.register(b, " kitchen", "room://10.0.0.2:7000"), ErrInvalidName)
	must(n.register(a, "hall", "room://10.0.0.3:7000")) // a move
	must(n.register(b, "kitchen", "room://10.0.0.1:7000"))
	if addr, err := n.lookup("hall"); err != nil || addr != "room://10.0.0.3:7000" {
		t.Fatalf("lookup hall: %q %v", addr, err)
	}
	is(n.deregister(b, "hall"), ErrNotOwner)
	must(n.register(u, "porch", "room://Porch.local:80"))
	is(n.register(u, "attic", "room://10.0.0.4:80"), ErrTooManyNames) // three names: the bound
	if addr, _ := n.lookup("porch"); addr != "room://porch.local:80" {
		t.Fatalf("address not canonical: %q", addr)
	}
	now = now.Add(59 * time.Second)
	must(n.register(u, "porch", "room://porch.local:80")) // renewed
	now = now.Add(59 * time.Second)
	if _, err := n.lookup("porch"); err != nil {
		t.Fatalf("renewed name expired: %v", err)
	}
	now = now.Add(2 * time.Second)
	is(func() error { _, err := n.lookup("porch"); return err }(), ErrUnknownName)
	n.dropOwner(a)
	is(func() error { _, err := n.lookup("hall"); return err }(), ErrUnknownName)
	if n.len() != 1 || n.bytes <= 0 {
		t.Fatalf("len %d bytes %d after drops", n.len(), n.bytes)
	}
	must(n.deregister(b, "kitchen"))
	if n.len() != 0 || n.bytes != 0 || len(n.byOwner) != 0 || len(n.byAddr) != 0 {
		t.Fatalf("not empty: %d names, %d bytes, %d owners", n.len(), n.bytes, len(n.byOwner))
	}
	many := newNames(DefaultMaxNames, time.Minute, time.Now)
	for i := range MaxNamesPerOwner {
		must(many.register(a, fmt.Sprint("room ", i), fmt.Sprintf("room://h:%d", i+1)))
	}
	is(many.register(a, "one more", "room://h:9999"), ErrTooManyNames)
}

// TestNamesOverTCP: register, lookup and deregister over the protocol; a
// member's names vanish when it leaves.
func TestNamesOverTCP(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	room, player := dial(t, ts.addr, "room"), dial(t, ts.addr, "player")
	if err := room.Register(ctx, "lobby-1", "room://10.0.0.5:7000"); err != nil {
		t.Fatal(err)
	}
	if err := player.Register(ctx, "lobby-1", "room://10.0.0.6:7000"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second registration of the name: %v", err)
	}
	if err := player.Register(ctx, "lobby-2", "room://10.0.0.5:7000"); !errors.Is(err, ErrAddrTaken) {
		t.Fatalf("second registration of the address: %v", err)
	}
	if addr, err := player.Lookup(ctx, "lobby-1"); err != nil || addr != "room://10.0.0.5:7000" {
		t.Fatalf("lookup: %q %v", addr, err)
	}
	if err := player.Deregister(ctx, "lobby-1"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("deregister by another: %v", err)
	}
	if _, err := player.Lookup(ctx, "nobody"); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("lookup of an unknown name: %v", err)
	}
	room.Close()
	testutil.WaitFor(t, 10*time.Second, "the room's name gone with it", func() bool {
		_, err := player.Lookup(ctx, "lobby-1")
		return errors.Is(err, ErrUnknownName)
	})
}

// TestNamesOverUDP: the text listener answers every request with one
// datagram, OK or NOTOK, bad input included, and UDP names expire unless
// renewed.
func TestNamesOverUDP(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, NameTTL: 500 * time.Millisecond})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- ts.ServeRegistryUDP(ctx, pc) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(req string) string {
		t.Helper()
		for try := 0; ; try++ { // loopback UDP does not lose, but a busy machine may drop a datagram
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			n, err := c.Read(buf)
			if err == nil {
				if n > MaxRegistryDatagram {
					t.Fatalf("reply of %d bytes", n)
				}
				return string(buf[:n])
			}
			if try == 3 {
				t.Fatalf("%q: no reply: %v", req, err)
			}
		}
	}
	for _, tc := range []struct{ req, want string }{
		{"REGISTER room://10.0.0.5:7000 Zoë's room", "OK"},
		{"LOOKUP Zoë's room", "OK room://10.0.0.5:7000"},
		{"REGISTER room://10.0.0.6:7000 Zoë's room", "OK"},
		{"lookup Zoë's room\r\n", "OK room://10.0.0.6:7000"},
		{"", "NOTOK empty request"},
		{"HELLO", "NOTOK unknown verb"},
		{"REGISTER room://10.0.0.7 x", "NOTOK invalid_address"},
		{"REGISTER http://10.0.0.7:1 x", "NOTOK invalid_address"},
		{"REGISTER room://10.0.0.7:1", "NOTOK usage"},
		{"REGISTER room://10.0.0.7:1 " + strings.Repeat("n", 5000), "NOTOK request over"},
		{"REGISTER room://10.0.0.7:1 \xff\xfe", "NOTOK request is not UTF-8"},
		{"LOOKUP nobody", "NOTOK unknown_name"},
		{"DEREGISTER nobody", "NOTOK unknown_name"},
	} {
		if got := ask(tc.req); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%.60q: %q, want %q...", tc.req, got, tc.want)
		}
	}
	// The TCP side sees UDP names, and a UDP name expires unless renewed.
	player := dial(t, ts.addr, "player")
	if addr, err := player.Lookup(context.Background(), "Zoë's room"); err != nil || addr != "room://10.0.0.6:7000" {
		t.Fatalf("TCP lookup of a UDP name: %q %v", addr, err)
	}
	testutil.WaitFor(t, 10*time.Second, "the UDP name expired", func() bool {
		return strings.HasPrefix(ask("LOOKUP Zoë's room"), "NOTOK unknown_name")
	})
	if got := ask("DEREGISTER Zoë's room"); !strings.HasPrefix(got, "NOTOK unknown_name") {
		t.Fatalf("deregister after expiry: %q", got)
	}
}

// TestNameSurvivesBlip: a member that holds only a name (no lobby) keeps
// it through a blip: its link goes silent, it resumes within the grace,
// and the name was there all along.
func TestNameSurvivesBlip(t *testing.T) {
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: time.Minute})
	r := dialRaw(t, ts.addr)
	r.sendLine(`{"op":"hello","id":1,"v":1,"player":"room"}`)
	hello := r.recv()
	you, _ := hello["you"].(map[string]any)
	id, token := you["id"], hello["resume"]
	r.sendLine(`{"op":"register","id":2,"name":"hall","addr":"room://10.0.0.5:7000"}`)
	if m := r.recv(); m["ok"] != true {
		t.Fatalf("register: %v", m)
	}
	// Silent (no pongs): the coordinator takes it for away, then it
	// resumes on a new connection.
	player := dial(t, ts.addr, "player")
	testutil.WaitFor(t, 20*time.Second, "the room away", func() bool { return ts.stats(t).Away == 1 })
	if addr, err := player.Lookup(context.Background(), "hall"); err != nil || addr != "room://10.0.0.5:7000" {
		t.Fatalf("lookup while away: %q %v", addr, err)
	}
	r2 := dialRaw(t, ts.addr)
	r2.sendLine(fmt.Sprintf(`{"op":"resume","id":1,"v":1,"member":%q,"token":%q}`, id, token))
	if m := r2.recv(); m["ok"] != true {
		t.Fatalf("resume: %v", m)
	}
	if addr, err := player.Lookup(context.Background(), "hall"); err != nil || addr != "room://10.0.0.5:7000" {
		t.Fatalf("lookup after the resume: %q %v", addr, err)
	}
}
