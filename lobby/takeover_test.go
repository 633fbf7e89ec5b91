package lobby

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"github.com/lanlobby/lanlobby/netutil"
)

// takeoverConfig is a game's own coordinator, as package lanlobby runs
// it: lobbies handed to their successors.
func takeoverConfig() ServerConfig {
	return ServerConfig{Takeover: true, HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses}
}

// crash stops a coordinator as a killed process would: its links drop and
// nobody is told anything.
func crash(t *testing.T, cfg ServerConfig) (*testServer, func()) {
	t.Helper()
	cfg.KeepLobbiesOnShutdown = true
	ts := startServer(t, cfg)
	return ts, func() { ts.Close() }
}

// successor is what package lanlobby gives a client: a port in reserve,
// and a coordinator started on it when the client takes a lobby over.
type successor struct {
	t    *testing.T
	port *netutil.ReservedPort
	mu   sync.Mutex
	ts   *testServer
}

func newSuccessor(t *testing.T) *successor {
	p, err := netutil.ReserveTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &successor{t: t, port: p}
}

func (s *successor) takeOver(ctx context.Context, tk Takeover) (string, error) {
	ln, err := s.port.Listen()
	if err != nil {
		return "", err
	}
	srv, err := NewServer(takeoverConfig())
	if err != nil {
		ln.Close()
		return "", err
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(context.Background(), ln) }()
	s.mu.Lock()
	s.ts = ts
	s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port.Port())), nil
}

// server is the coordinator the successor started (nil before).
func (s *successor) server() *testServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ts
}

// stop stops that coordinator; the test's clients must be closed first
// (a game's own coordinator ends its lobbies when it stops).
func (s *successor) stop() {
	if ts := s.server(); ts != nil {
		ts.Close()
		<-ts.done
	}
}

// waitKind waits for the next event of kind, skipping others, and
// returns it with the kinds skipped.
func waitKind(t *testing.T, c *Client, kind NoticeKind, timeout time.Duration) (Event, []NoticeKind) {
	t.Helper()
	var skipped []NoticeKind
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: events closed waiting for %s (skipped %v)", c.cfg.Player, kind, skipped)
			}
			if ev.Kind == kind {
				return ev, skipped
			}
			skipped = append(skipped, ev.Kind)
		case <-deadline:
			t.Fatalf("%s: no %s within %v (skipped %v)", c.cfg.Player, kind, timeout, skipped)
		}
	}
}

func ids(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

// TestStandbyNamesTheSuccessorsAddress: on a coordinator that hands its
// lobbies over, the hello says so, and the successor's standby address
// reaches every member: in the join replies after it, and in a standby
// push to those already in. A daemon refuses standby and says nothing.
func TestStandbyNamesTheSuccessorsAddress(t *testing.T) {
	t.Parallel()
	ts := startServer(t, takeoverConfig())
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	if !owner.Takeover() {
		t.Fatal("a takeover coordinator's hello does not say so")
	}
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	bob := dial(t, ts.addr, "bob")
	if _, err := bob.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	if err := bob.Standby(ctx, j.Lobby.ID, 4242); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the owner learns the successor's address", func() bool {
		in, _ := owner.LobbyInfo(j.Lobby.ID)
		return in.SuccessorAddr == "127.0.0.1:4242"
	})
	carol := dial(t, ts.addr, "carol")
	cj, err := carol.Join(ctx, j.Lobby.ID, JoinOptions{Port: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Lobby.SuccessorAddr != "127.0.0.1:4242" || cj.Lobby.Successor != bob.ID() {
		t.Fatalf("join reply: successor %s at %q", cj.Lobby.Successor, cj.Lobby.SuccessorAddr)
	}
	// Carol is not the successor: her standby tells nobody, and the
	// owner's next event is bob leaving, which makes carol successor
	// with her address.
	if err := carol.Standby(ctx, j.Lobby.ID, 4343); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	bob.Leave(ctx, j.Lobby.ID)
	ev := expectEvent(t, owner, NoticeMemberLeft, nil)
	if ev.Lobby.Successor != carol.ID() || ev.Lobby.SuccessorAddr != "127.0.0.1:4343" {
		t.Fatalf("after the successor left: successor %s at %q", ev.Lobby.Successor, ev.Lobby.SuccessorAddr)
	}

	daemon := startServer(t, ServerConfig{})
	r := dialRaw(t, daemon.addr)
	r.send(map[string]any{"op": "hello", "id": 1, "v": 1})
	if m := r.recv(); m["takeover"] != nil {
		t.Fatalf("a daemon's hello says takeover: %v", m)
	}
	r.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": "d", "capacity": 2, "port": 1})
	l := r.recv()["lobby"]
	r.send(map[string]any{"op": "standby", "id": 3, "lobby": l, "port": 9})
	r.expectError(CodeBadRequest, float64(3))
}

// TestSuccessorCanTakeOver: a member that registered no standby address
// (an SDK client) is not named successor while one that did is in the
// lobby, though it joined first: the others would wait for a takeover at an
// address nobody serves. The member that becomes successor by registering
// is told so (a standby push), and ownership follows the same rule.
func TestSuccessorCanTakeOver(t *testing.T) {
	t.Parallel()
	ts := startServer(t, takeoverConfig())
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	sdk := dial(t, ts.addr, "sdk") // joins first, never registers standby
	if _, err := sdk.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	gopher := dial(t, ts.addr, "gopher")
	gj, err := gopher.Join(ctx, j.Lobby.ID, JoinOptions{Port: 3})
	if err != nil {
		t.Fatal(err)
	}
	if gj.Lobby.Successor != sdk.ID() {
		t.Fatalf("before any standby: successor %s, want the longest present, %s", gj.Lobby.Successor, sdk.ID())
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)
	expectEvent(t, sdk, NoticeMemberJoined, nil)
	if err := gopher.Standby(ctx, j.Lobby.ID, 4242); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{owner, sdk, gopher} {
		testutil.WaitFor(t, 5*time.Second, c.cfg.Player+" learns the successor", func() bool {
			in, _ := c.LobbyInfo(j.Lobby.ID)
			return in.Successor == gopher.ID() && in.SuccessorAddr == "127.0.0.1:4242"
		})
	}
	owner.Leave(ctx, j.Lobby.ID)
	expectEvent(t, sdk, NoticeMemberLeft, nil)
	if ev := expectEvent(t, sdk, NoticeOwnerChanged, nil); ev.Lobby.Owner != gopher.ID() || ev.Lobby.Successor != sdk.ID() {
		t.Fatalf("owner_changed: owner %s, successor %s; want %s, %s", ev.Lobby.Owner, ev.Lobby.Successor, gopher.ID(), sdk.ID())
	}
}

// TestProve: a coordinator proves it holds a lobby's secret; the proof
// checks with the secret the members got, not with another, and binds the
// nonce and the term.
func TestProve(t *testing.T) {
	t.Parallel()
	ts := startServer(t, takeoverConfig())
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	secret := owner.LobbySecret(j.Lobby.ID)
	if term, err := owner.VerifyLobby(ctx, j.Lobby.ID, secret); err != nil || term != 0 {
		t.Fatalf("verify with the lobby's secret: term %d, %v", term, err)
	}
	other := make([]byte, len(secret))
	if _, err := owner.VerifyLobby(ctx, j.Lobby.ID, other); !errors.Is(err, ErrNoProof) {
		t.Fatalf("verify with another secret: %v", err)
	}
	nonce := NewNonce()
	term, proof, err := owner.Prove(ctx, j.Lobby.ID, nonce)
	if err != nil || !CheckProof(secret, j.Lobby.ID, term, nonce, proof) || CheckProof(secret, j.Lobby.ID, term+1, nonce, proof) ||
		CheckProof(secret, j.Lobby.ID, term, NewNonce(), proof) {
		t.Fatalf("proof %q for term %d: %v", proof, term, err)
	}
	if _, _, err := owner.Prove(ctx, j.Lobby.ID, "short"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a short nonce: %v", err)
	}
	if _, _, err := owner.Prove(ctx, "nosuchlobby", nonce); !errors.Is(err, ErrUnknownLobby) {
		t.Fatalf("an unknown lobby: %v", err)
	}
}

// TestTakeoverByTheSuccessor: the coordinator crashes with its host (the
// owner). Every member says so at once, with what it does next; the
// successor starts a coordinator of its own and adopts the lobby there
// under the next term; the other member moves there by itself; both are
// told of the takeover with the new peers, and keep their seats and ids.
func TestTakeoverByTheSuccessor(t *testing.T) {
	t.Parallel()
	ts, kill := crash(t, takeoverConfig())
	ctx := context.Background()
	host := dialRaw(t, ts.addr) // the owner, which dies with its coordinator
	hostID := host.hello("host")
	host.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": "survivor", "capacity": 4, "port": 1})
	lobbyID := host.recv()["lobby"].(string)

	suc := newSuccessor(t)
	bob, err := Dial(ctx, ts.addr, ClientConfig{Player: "bob", TakeOver: suc.takeOver})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Join(ctx, lobbyID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	if err := bob.Standby(ctx, lobbyID, suc.port.Port()); err != nil {
		t.Fatal(err)
	}
	carol := dial(t, ts.addr, "carol")
	cj, err := carol.Join(ctx, lobbyID, JoinOptions{Port: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Lobby.SuccessorAddr == "" {
		t.Fatal("carol does not know where the successor would serve")
	}
	defer suc.stop()
	defer carol.Close()

	kill()
	for _, c := range []*Client{bob, carol} {
		ev, skipped := waitKind(t, c, EventCoordinatorLost, 5*time.Second)
		want := map[bool]string{true: NextTakingOver, false: NextFailingOver}[c == bob]
		if ev.Next != want || ev.Lobby.ID != lobbyID || ev.Reason != ReasonDisconnected || slices.ContainsFunc(skipped, func(k NoticeKind) bool { return k != NoticeMemberJoined }) {
			t.Fatalf("%s: coordinator_lost %+v (skipped %v), want next %s", c.cfg.Player, ev, skipped, want)
		}
	}
	for _, c := range []*Client{bob, carol} {
		ev, _ := waitKind(t, c, NoticeTakenOver, 10*time.Second)
		other := map[bool]*Client{true: carol, false: bob}[c == bob]
		if ev.Lobby.ID != lobbyID || ev.Lobby.Owner != bob.ID() || ev.Lobby.Term != 1 || ev.Member.ID != hostID ||
			ev.Reason != ReasonDisconnected || !slices.Equal(ids(ev.Peers), []string{other.ID()}) {
			t.Fatalf("%s: taken_over %+v", c.cfg.Player, ev)
		}
		if got := ids(c.Peers(lobbyID)); !slices.Equal(got, []string{other.ID()}) {
			t.Fatalf("%s: peers %v", c.cfg.Player, got)
		}
	}
	// (The notice follows the restore's reply, which the reconnection
	// installs meanwhile.)
	testutil.WaitFor(t, 5*time.Second, "carol on the successor's coordinator", func() bool { return carol.Addr() == cj.Lobby.SuccessorAddr })
	if carol.Err() != nil || bob.Err() != nil {
		t.Fatalf("errors %v %v", carol.Err(), bob.Err())
	}
	// The new coordinator holds the lobby: owner bob, both seats, term 1;
	// and it works: carol leaves, bob is told.
	ls, err := carol.List(ctx, "demo")
	if err != nil || len(ls) != 1 || ls[0].Players != 2 || ls[0].Term != 1 || ls[0].Owner != bob.ID() {
		t.Fatalf("list on the successor's coordinator: %+v, %v", ls, err)
	}
	if m := suc.server().Metrics(); m.Adopted != 1 {
		t.Fatalf("adopted %d lobbies", m.Adopted)
	}
	if err := carol.Leave(ctx, lobbyID); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, bob, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == carol.ID() && e.Reason == ReasonLeft })
}

// TestTakeoverArrivalsBeforeAdoption: a member that reaches the
// successor's coordinator before the successor adopted the lobby is
// refused as a whole (unknown_lobby), without an identity, and gets its
// seat once the lobby is there; an outsider with the lobby's id but no
// credential gets nothing, before or after.
func TestTakeoverArrivalsBeforeAdoption(t *testing.T) {
	t.Parallel()
	home := startServer(t, takeoverConfig())
	ctx := context.Background()
	owner := dial(t, home.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	carol := dialRaw(t, home.addr)
	carolID := carol.hello("carol")
	carol.send(map[string]any{"op": "join", "id": 2, "lobby": j.Lobby.ID, "port": 3})
	cj := carol.recv()
	cred, secret := cj["credential"].(string), cj["lobby_secret"].(string)

	next := startServer(t, takeoverConfig()) // the successor's, still empty
	early := dialRaw(t, next.addr)
	restore := map[string]any{"op": "restore", "id": 1, "v": 1, "player": "carol", "member": carolID, "token": cj["resume"],
		"lobbies": []map[string]any{{"lobby": j.Lobby.ID, "port": 3, "credential": cred}}}
	early.send(restore)
	early.expectError(CodeUnknownLobby, float64(1))

	// The successor (here the owner, by hand) adopts the lobby.
	adopter := dialRaw(t, next.addr)
	adopter.send(map[string]any{"op": "restore", "id": 1, "v": 1, "player": "owner", "member": owner.ID(), "token": "x",
		"lobbies": []map[string]any{{"lobby": j.Lobby.ID, "owner": true, "adopt": true, "game": "demo", "name": "x", "capacity": 4, "port": 1,
			"credential": SeatCredential(mustHex(t, secret), owner.ID()), "lobby_secret": secret, "term": 1,
			"members": []map[string]any{{"id": owner.ID(), "name": "owner", "addr": "127.0.0.1:1"}, {"id": carolID, "name": "carol", "addr": "127.0.0.1:3"}}}}})
	if m := adopter.recv(); m["you"].(map[string]any)["id"] != owner.ID() || m["restored"].([]any)[0].(map[string]any)["term"] != float64(1) {
		t.Fatalf("adoption: %v", m)
	}
	outsider := dialRaw(t, next.addr)
	outsider.send(map[string]any{"op": "restore", "id": 1, "v": 1, "member": carolID, "token": "x",
		"lobbies": []map[string]any{{"lobby": j.Lobby.ID, "port": 9, "credential": SeatCredential(make([]byte, 32), carolID)}}})
	if m := outsider.recv(); m["you"].(map[string]any)["id"] == carolID || m["restored"].([]any)[0].(map[string]any)["error"] == nil {
		t.Fatalf("an outsider took a seat: %v", m)
	}
	early.send(restore)
	m := early.recv()
	res := m["restored"].([]any)[0].(map[string]any)
	if m["you"].(map[string]any)["id"] != carolID || res["error"] != nil || res["players"] != float64(2) {
		t.Fatalf("carol's restore after the adoption: %v", m)
	}
	if st := next.stats(t); st.Held != 0 || st.Lobbies != 1 {
		t.Fatalf("held %d seats in %d lobbies, want 0 in 1", st.Held, st.Lobbies)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMoveToAnotherCoordinator: the owner moves its lobby to another
// coordinator (a daemon that appeared), the old one tells the members
// (coordinator_moved), and they follow: each sees that one event and
// nothing else, keeps its seat and id, and the lobby's term goes up.
func TestMoveToAnotherCoordinator(t *testing.T) {
	t.Parallel()
	home := startServer(t, takeoverConfig())
	var mu sync.Mutex
	var changes []Info // the daemon's, as the LAN would hear of them
	daemon := startServer(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses,
		OnLobbyChange: func(in Info) { mu.Lock(); changes = append(changes, in); mu.Unlock() }})
	ctx := context.Background()
	owner := dial(t, home.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var members []*Client
	for _, name := range []string{"bob", "carol"} {
		c := dial(t, home.addr, name)
		if _, err := c.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
		expectEvent(t, owner, NoticeMemberJoined, nil)
	}
	expectEvent(t, members[0], NoticeMemberJoined, nil)
	if err := members[0].MoveTo(ctx, daemon.addr); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a member moved the lobby: %v", err)
	}
	if err := owner.MoveTo(ctx, daemon.addr); err != nil {
		t.Fatal(err)
	}
	if err := home.Moved(ctx, j.Lobby.ID, daemon.addr, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range append([]*Client{owner}, members...) {
		ev := nextEvent(t, c, 5*time.Second)
		if ev.Kind != NoticeCoordinatorMoved || ev.Addr != daemon.addr || ev.Lobby.Term != 1 {
			t.Fatalf("%s: %+v, want coordinator_moved to %s", c.cfg.Player, ev, daemon.addr)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "everyone on the daemon", func() bool {
		for _, c := range members {
			if c.Addr() != daemon.addr {
				return false
			}
		}
		st := daemon.stats(t)
		return owner.Addr() == daemon.addr && st.Members == 3 && st.Held == 0
	})
	ls, err := members[1].List(ctx, "demo")
	if err != nil || len(ls) != 1 || ls[0].ID != j.Lobby.ID || ls[0].Players != 3 || ls[0].Owner != owner.ID() || ls[0].Term != 1 {
		t.Fatalf("on the daemon: %+v, %v", ls, err)
	}
	if owner.Takeover() {
		t.Fatal("the daemon is taken for a takeover coordinator")
	}
	// The daemon never told the LAN of the lobby under the old term (the
	// old coordinator, still announcing it, would take that for a false
	// claim about its lobby).
	mu.Lock()
	for _, in := range changes {
		if in.Term != 1 {
			t.Errorf("the daemon announced %+v", in)
		}
	}
	mu.Unlock()
	// Nothing else was told: a leave is the next event.
	members[1].Leave(ctx, j.Lobby.ID)
	for _, c := range []*Client{owner, members[0]} {
		expectEvent(t, c, NoticeMemberLeft, func(e Event) bool { return e.Member.ID == members[1].ID() })
	}
	if st := home.stats(t); st.Lobbies != 0 {
		t.Fatalf("the old coordinator keeps %d lobbies", st.Lobbies)
	}
	// What an owner's watch compares terms heard on the LAN with.
	if term, held, err := daemon.Term(ctx, j.Lobby.ID); term != 1 || !held || err != nil {
		t.Fatalf("the daemon's term: %d %v %v", term, held, err)
	}
	if _, held, err := home.Term(ctx, j.Lobby.ID); held || err != nil {
		t.Fatalf("the old coordinator still holds the lobby: %v %v", held, err)
	}
}

// TestReconnectProgress: a client whose coordinator is gone says so at
// once (resuming: a daemon keeps its lobbies), then reports its progress
// about once a second, until it gives up.
func TestReconnectProgress(t *testing.T) {
	t.Parallel()
	ts, kill := crash(t, ServerConfig{HeartbeatInterval: testHeartbeat, HeartbeatMisses: testMisses, ResumeGrace: 3 * time.Second})
	ctx := context.Background()
	c := dial(t, ts.addr, "c")
	if _, err := c.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 4, JoinOptions: JoinOptions{Port: 1}}); err != nil {
		t.Fatal(err)
	}
	kill()
	lost, _ := waitKind(t, c, EventCoordinatorLost, 5*time.Second)
	if lost.Next != NextResuming {
		t.Fatalf("coordinator_lost %+v", lost)
	}
	at := time.Now()
	ev, _ := waitKind(t, c, EventReconnecting, 10*time.Second)
	if ev.Attempt < 1 || ev.Elapsed < progressEvery || ev.Addr != ts.addr {
		t.Fatalf("reconnecting %+v", ev)
	}
	t.Logf("first progress %v after coordinator_lost", time.Since(at))
	if ev, _ := waitKind(t, c, EventError, 20*time.Second); !errors.Is(ev.Err, ErrConnectionLost) {
		t.Fatalf("gave up with %v", ev.Err)
	}
}
