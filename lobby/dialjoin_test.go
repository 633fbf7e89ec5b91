package lobby

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// firstChunkProxy forwards connections to a coordinator and keeps what the
// first read from each client returned.
type firstChunkProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	chunks [][]byte
	wg     sync.WaitGroup
}

func startFirstChunkProxy(t *testing.T, upstream string) *firstChunkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &firstChunkProxy{ln: ln}
	var conns []net.Conn
	var connsMu sync.Mutex
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, c, up)
			connsMu.Unlock()
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				defer up.Close()
				buf := make([]byte, 64<<10)
				n, err := c.Read(buf)
				p.mu.Lock()
				p.chunks = append(p.chunks, bytes.Clone(buf[:n]))
				p.mu.Unlock()
				if err != nil {
					return
				}
				if _, err := up.Write(buf[:n]); err != nil {
					return
				}
				io.Copy(up, c)
			}()
			go func() {
				defer p.wg.Done()
				defer c.Close()
				io.Copy(c, up)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		p.wg.Wait()
	})
	return p
}

// A cold join is one round trip after the TCP handshake: hello and join
// reach the coordinator in the client's first write, hello first, and the
// client comes back joined, with its peers, seated for notices.
func TestDialJoinSendsHelloAndJoinTogether(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	l := create(t, owner, CreateOptions{Game: "demo", Capacity: 4})
	proxy := startFirstChunkProxy(t, ts.addr)

	c, j, err := DialJoin(ctx, proxy.ln.Addr().String(), ClientConfig{Player: "cold"}, l.ID, JoinOptions{Port: 7000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if j.Lobby.ID != l.ID || j.Lobby.Players != 2 || len(j.Peers) != 1 || j.Peers[0].ID != l.Owner || j.You.ID != c.ID() || c.ID() == "" {
		t.Fatalf("joined %+v (client id %q)", j, c.ID())
	}
	if got := c.Lobbies(); len(got) != 1 || got[0] != l.ID {
		t.Fatalf("client's lobbies %v, want [%s]", got, l.ID)
	}
	proxy.mu.Lock()
	first := proxy.chunks[0]
	proxy.mu.Unlock()
	lines := bytes.Split(bytes.TrimSuffix(first, []byte("\n")), []byte("\n"))
	if len(lines) != 2 || !bytes.Contains(lines[0], []byte(`"op":"hello"`)) || !bytes.Contains(lines[1], []byte(`"op":"join"`)) {
		t.Fatalf("first write from the client: %q, want the hello line then the join line", first)
	}
	expectEvent(t, owner, NoticeMemberJoined, func(ev Event) bool { return ev.Member.ID == c.ID() })
	// The link works on as any other: a leave is told to the owner.
	if err := c.Leave(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberLeft, func(ev Event) bool { return ev.Member.ID == c.ID() && ev.Reason == ReasonLeft })
}

// A join that fails leaves the client connected, to join elsewhere.
func TestDialJoinRefusedKeepsTheClient(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	full := create(t, owner, CreateOptions{Game: "demo", Capacity: 2, Name: "full"})
	if _, err := dial(t, ts.addr, "second").Join(ctx, full.ID, JoinOptions{Port: 1}); err != nil {
		t.Fatal(err)
	}
	open := create(t, owner, CreateOptions{Game: "demo", Capacity: 4, Name: "open"})

	c, j, err := DialJoin(ctx, ts.addr, ClientConfig{Player: "late"}, full.ID, JoinOptions{Port: 1})
	if !errors.Is(err, ErrLobbyFull) || j != nil || c == nil {
		t.Fatalf("join of a full lobby: client %v, joined %+v, err %v; want the client and lobby_full", c, j, err)
	}
	defer c.Close()
	if j, err := c.QuickJoin(ctx, "demo", JoinOptions{Port: 1}); err != nil || j.Lobby.ID != open.ID {
		t.Fatalf("quick-join after the refused join: %+v %v", j, err)
	}
}

// DialQuickJoin and DialCreate take their seat in the same round trip;
// an unreachable coordinator gives no client.
func TestDialQuickJoinAndCreate(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	host, made, err := DialCreate(ctx, ts.addr, ClientConfig{Player: "host"}, CreateOptions{Game: "demo", Name: "made", Capacity: 3,
		JoinOptions: JoinOptions{Port: 7000}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if made.Lobby.Owner != host.ID() || made.Lobby.Players != 1 {
		t.Fatalf("created %+v", made)
	}
	player, j, err := DialQuickJoin(ctx, ts.addr, ClientConfig{Player: "player"}, "demo", JoinOptions{Port: 7001})
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	if j.Lobby.ID != made.Lobby.ID || len(j.Peers) != 1 || j.Peers[0].ID != host.ID() {
		t.Fatalf("quick-joined %+v", j)
	}
	expectEvent(t, host, NoticeMemberJoined, func(ev Event) bool { return ev.Member.ID == player.ID() })
	if got := player.Peers(made.Lobby.ID); len(got) != 1 || got[0].ID != host.ID() {
		t.Fatalf("player's peers %+v", got)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c, j, err := DialQuickJoin(ctx, gone, ClientConfig{}, "demo", JoinOptions{Port: 1}); c != nil || j != nil || err == nil {
		t.Fatalf("dial of a closed port: %v %v %v", c, j, err)
	}
}
