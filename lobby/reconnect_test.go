package lobby

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// blipProxy forwards TCP between clients and a coordinator and can black-
// hole the connections it carries, as a Wi-Fi blip does: the sockets stay
// open, the bytes vanish.
type blipProxy struct {
	ln      net.Listener
	target  string
	blocked atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, target string) *blipProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blipProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{c, s}, {s, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					buf := make([]byte, 32*1024)
					for {
						n, err := pair[0].Read(buf)
						if err != nil {
							pair[1].Close()
							return
						}
						if !p.blocked.Load() {
							pair[1].Write(buf[:n])
						}
					}
				}()
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *blipProxy) addr() string { return p.ln.Addr().String() }

// silence black-holes every connection, old and new, until heal.
func (p *blipProxy) silence() { p.blocked.Store(true) }

func (p *blipProxy) heal() { p.blocked.Store(false) }

func (p *blipProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestClientResumesAfterBlip: a client whose link goes silent reconnects by
// itself, resumes its seat and gets what it missed; the others see it away
// and back, never a leave or a join.
func TestClientResumesAfterBlip(t *testing.T) {
	t.Parallel()
	// The grace is long enough for a resume attempt swallowed by the blip
	// to run into the hello deadline (2 s) and be retried after the heal.
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: 10 * time.Second})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	proxy := startProxy(t, ts.addr)
	wifi := dial(t, proxy.addr(), "headset")
	id := wifi.ID()
	if _, err := wifi.Join(ctx, j.Lobby.ID, JoinOptions{Port: 7}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)

	proxy.silence()
	expectEvent(t, owner, NoticeMemberAway, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonTimeout })
	if err := owner.SetMeta(ctx, j.Lobby.ID, map[string]string{"map": "dunes"}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeUpdated, nil)
	proxy.heal()

	expectEvent(t, wifi, EventResumed, func(e Event) bool { return e.Lobby.ID == j.Lobby.ID })
	expectEvent(t, wifi, NoticeUpdated, func(e Event) bool { return e.Lobby.Meta["map"] == "dunes" })
	expectEvent(t, owner, NoticeMemberBack, func(e Event) bool { return e.Member.ID == id })
	if wifi.ID() != id || wifi.Err() != nil {
		t.Fatalf("after resume: id %s (was %s), err %v", wifi.ID(), id, wifi.Err())
	}
	// The resumed client works as before.
	if err := wifi.Leave(ctx, j.Lobby.ID); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonLeft })
}

// TestCoordinatorRestartRestoresLobbies: 20 members in 5 lobbies; the
// coordinator dies without a word and a new one starts at the same
// address; every client restores its lobby under the same ids, owners
// first, and sees one coordinator_restarted event, no leaves, no joins.
func TestCoordinatorRestartRestoresLobbies(t *testing.T) {
	t.Parallel()
	// Both instances share the secret, as a daemon restarted with its
	// state directory does.
	cfg := ServerConfig{ResumeGrace: 3 * time.Second, Secret: NewSecret()}
	// A keeps its lobbies when it stops: its links just vanish and nobody
	// is told anything, as when a coordinator process is killed.
	cfgA := cfg
	cfgA.KeepLobbiesOnShutdown = true
	srvA, err := NewServer(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	doneA := make(chan error, 1)
	go func() { doneA <- srvA.Serve(context.Background(), ln) }()

	ctx := context.Background()
	type lobbyWant struct {
		id      string
		owner   string
		members []string
	}
	var lobbies []lobbyWant
	var clients []*Client
	for i := 0; i < 5; i++ {
		owner := dial(t, addr, fmt.Sprint("owner", i))
		j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: fmt.Sprint("L", i), Capacity: 4, JoinOptions: JoinOptions{Port: 1000 + i}})
		if err != nil {
			t.Fatal(err)
		}
		lw := lobbyWant{id: j.Lobby.ID, owner: owner.ID(), members: []string{owner.ID()}}
		clients = append(clients, owner)
		for k := 0; k < 3; k++ {
			m := dial(t, addr, fmt.Sprintf("m%d-%d", i, k))
			if _, err := m.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2000 + 10*i + k}); err != nil {
				t.Fatal(err)
			}
			lw.members = append(lw.members, m.ID())
			clients = append(clients, m)
		}
		lobbies = append(lobbies, lw)
	}
	// Drain the join notices: an owner hears 3 joins, its k-th member 2-k.
	for i, c := range clients {
		for n := 3 - i%4; n > 0; n-- {
			expectEvent(t, c, NoticeMemberJoined, nil)
		}
	}
	srvA.Close()
	<-doneA

	// B keeps its lobbies too, so that the test can read them once B has
	// stopped (see lobbiesAfterServe).
	srvB, err := NewServer(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	var lnB net.Listener
	testutil.WaitFor(t, 5*time.Second, "the address to be free again", func() bool {
		lnB, err = net.Listen("tcp", addr)
		return err == nil
	})
	ctxB, cancelB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- srvB.Serve(ctxB, lnB) }()
	stopB := sync.OnceFunc(func() { cancelB(); <-doneB })
	t.Cleanup(stopB)

	for _, c := range clients {
		ev := nextEvent(t, c, 10*time.Second)
		if ev.Kind != EventCoordinatorRestarted {
			t.Fatalf("%s: first event after the restart is %+v", c.cfg.Player, ev)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "every lobby back with 4 members", func() bool {
		ls, err := clients[0].List(ctx, "demo")
		if err != nil || len(ls) != 5 {
			return false
		}
		for _, l := range ls {
			if l.Players != 4 {
				return false
			}
		}
		return true
	})
	// Nobody saw a leave or a join: the next event anyone gets is a marker.
	for _, c := range clients {
		select {
		case ev := <-c.Events():
			if ev.Kind == NoticeMemberLeft || ev.Kind == NoticeMemberJoined {
				t.Fatalf("%s got %s after the restart", c.cfg.Player, ev.Kind)
			}
		default:
		}
		if err := c.Err(); err != nil {
			t.Fatalf("%s: %v", c.cfg.Player, err)
		}
	}
	stopB()
	reg := lobbiesAfterServe(srvB)
	for _, lw := range lobbies {
		l := reg.Get(lw.id)
		if l == nil {
			t.Fatalf("lobby %s not on the new coordinator", lw.id)
		}
		if l.Owner != lw.owner {
			t.Fatalf("lobby %s: owner %s, want %s", lw.id, l.Owner, lw.owner)
		}
		got := map[string]bool{}
		for _, m := range l.Members {
			got[m.ID] = true
		}
		for _, want := range lw.members {
			if !got[want] {
				t.Fatalf("lobby %s lost member %s: %+v", lw.id, want, l.Members)
			}
		}
	}
}

// lobbiesAfterServe hands a test the registry of a server whose Serve has
// returned: its state goroutine has exited, so nothing else touches it.
// (With KeepLobbiesOnShutdown it still holds every lobby.)
func lobbiesAfterServe(s *Server) *Registry {
	select {
	case <-s.loopDone:
	default:
		panic("lobbiesAfterServe: the server is still serving")
	}
	return s.reg
}

// freezer stands in for kill -STOP of a client process: while frozen, its
// connections neither read nor write and it dials nothing; the client's
// own timers still run, as a stopped process's clock does.
type freezer struct {
	mu   sync.Mutex // guards thaw
	thaw chan struct{}
}

func newFreezer() *freezer { return &freezer{} }

func (f *freezer) freeze() {
	f.mu.Lock()
	f.thaw = make(chan struct{})
	f.mu.Unlock()
}

func (f *freezer) unfreeze() {
	f.mu.Lock()
	if f.thaw != nil {
		close(f.thaw)
		f.thaw = nil
	}
	f.mu.Unlock()
}

// wait blocks while frozen, or until done closes.
func (f *freezer) wait(done <-chan struct{}) bool {
	f.mu.Lock()
	ch := f.thaw
	f.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}

func (f *freezer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if !f.wait(ctx.Done()) {
		return nil, ctx.Err()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &frozenConn{Conn: nc, f: f, closed: make(chan struct{})}, nil
}

type frozenConn struct {
	net.Conn
	f      *freezer
	closed chan struct{}
	once   sync.Once
}

func (c *frozenConn) Read(p []byte) (int, error) {
	if !c.f.wait(c.closed) {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p)
}

func (c *frozenConn) Write(p []byte) (int, error) {
	if !c.f.wait(c.closed) {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *frozenConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestPastGraceIsNewMember (RELIABILITY.md, resume): a member frozen (as
// by kill -STOP) past its resume grace is reported gone; when it thaws,
// its client finds the same coordinator instance, takes its seat again as
// a new member, and says so (EventRejoined, not coordinator_restarted);
// the owner gets member_joined, so nobody keeps a ghost or misses a peer.
func TestPastGraceIsNewMember(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: 2 * testMisses, ResumeGrace: 500 * time.Millisecond})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFreezer()
	sleeper, err := Dial(ctx, ts.addr, ClientConfig{Player: "sleeper", Dial: f.dial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.unfreeze(); sleeper.Close() })
	id := sleeper.ID()
	if _, err := sleeper.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	sleeper.mu.Lock()
	instance := sleeper.instance
	sleeper.mu.Unlock()
	if instance != ts.Instance() || instance == "" {
		t.Fatalf("client saw instance %q, the coordinator is %q", instance, ts.Instance())
	}

	f.freeze()
	expectEvent(t, owner, NoticeMemberAway, func(e Event) bool { return e.Member.ID == id })
	// Timeout when the coordinator noticed the silence first; disconnected
	// when the frozen client's own idle timer closed the link first (on a
	// busy machine): either way the grace passed.
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool {
		return e.Member.ID == id && (e.Reason == ReasonTimeout || e.Reason == ReasonDisconnected)
	})
	if ps := owner.Peers(j.Lobby.ID); len(ps) != 0 {
		t.Fatalf("owner's peers after the grace: %v", ps)
	}
	f.unfreeze()

	ev := expectEvent(t, sleeper, EventRejoined, func(e Event) bool { return e.Lobby.ID == j.Lobby.ID })
	if len(ev.Peers) != 1 || ev.Peers[0].ID != owner.ID() {
		t.Fatalf("rejoined with peers %v", ev.Peers)
	}
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Member.ID == id })
	if ps := owner.Peers(j.Lobby.ID); len(ps) != 1 || ps[0].ID != id {
		t.Fatalf("owner's peers after the rejoin: %v", ps)
	}
	if sleeper.ID() != id || sleeper.Err() != nil {
		t.Fatalf("sleeper is %s (was %s), err %v", sleeper.ID(), id, sleeper.Err())
	}
	// It acts as a member again.
	if err := sleeper.Leave(ctx, j.Lobby.ID); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == id && e.Reason == ReasonLeft })
}
