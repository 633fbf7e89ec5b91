package lobby

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestCredentialDerivation: a seat credential checks with its lobby's
// secret only, for its member only; tokens, seat and owner credentials of
// the same ids all differ; another coordinator secret gives other ones.
func TestCredentialDerivation(t *testing.T) {
	a := credentials{key: bytes.Repeat([]byte{1}, 32)}
	b := credentials{key: bytes.Repeat([]byte{2}, 32)}
	ls := a.lobbySecret("lobby1")
	cred := a.seat("lobby1", "m1")
	if len(cred) != credentialLen || !CheckSeatCredential(ls, "m1", cred) {
		t.Fatalf("seat credential %q does not check with its lobby secret", cred)
	}
	for _, bad := range []struct {
		secret       []byte
		member, cred string
	}{
		{ls, "m2", cred},
		{a.lobbySecret("lobby2"), "m1", cred},
		{b.lobbySecret("lobby1"), "m1", cred},
		{ls, "m1", strings.ToUpper(cred)},
		{ls, "m1", cred[:31]},
		{ls, "m1", ""},
	} {
		if CheckSeatCredential(bad.secret, bad.member, bad.cred) {
			t.Fatalf("credential accepted for %+v", bad)
		}
	}
	seen := map[string]bool{}
	for _, v := range []string{a.token("m1"), a.token("m2"), a.seat("lobby1", "m1"), a.owner("lobby1", "m1"),
		a.owner("lobby2", "m1"), a.owner("lobby1", "m2"), b.token("m1"), b.seat("lobby1", "m1"), hex.EncodeToString(ls)[:32]} {
		if seen[v] {
			t.Fatalf("two derivations gave %s", v)
		}
		seen[v] = true
	}
	// The fields are separated: ("lobby1", "m1") and ("lobby", "1m1") differ.
	if a.owner("lobby1", "m1") == a.owner("lobby", "1m1") {
		t.Fatal("owner credential fields run together")
	}
}

// gate holds back a test's Go clients from reaching a coordinator while
// it is shut, as a restarted daemon's clients would be if an attacker got
// there first.
type gate struct {
	mu   sync.Mutex // guards open
	open chan struct{}
}

// newGate returns an open gate.
func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// shut makes dials wait until release.
func (g *gate) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// credsOf is what the client keeps to restore its seat in a lobby.
func (c *Client) credsOf(lobbyID string) seatCredentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.lobbies[lobbyID]; m != nil {
		return m.creds
	}
	return seatCredentials{}
}

// restartableServer serves at a fixed loopback address and can be killed
// (its links vanish, its lobbies are lost to clients) and started again
// with the same secret, as a daemon is with its state directory.
type restartableServer struct {
	t    *testing.T
	cfg  ServerConfig
	addr string
	srv  *Server
	stop func()
}

func startRestartable(t *testing.T, cfg ServerConfig) *restartableServer {
	t.Helper()
	cfg.KeepLobbiesOnShutdown = true
	if cfg.Secret == nil {
		cfg.Secret = NewSecret()
	}
	rs := &restartableServer{t: t, cfg: cfg}
	rs.start("127.0.0.1:0")
	t.Cleanup(func() { rs.stop() })
	return rs
}

func (rs *restartableServer) start(addr string) {
	t := rs.t
	t.Helper()
	srv, err := NewServer(rs.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	testutil.WaitFor(t, 5*time.Second, "the address to be free", func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	rs.addr, rs.srv = ln.Addr().String(), srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	rs.stop = sync.OnceFunc(func() { cancel(); <-done })
}

// kill stops the coordinator without a word to anyone and starts a new
// instance at the same address.
func (rs *restartableServer) restart() {
	rs.stop()
	rs.start(rs.addr)
}

func (rs *restartableServer) stats() Stats {
	rs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := rs.srv.Stats(ctx)
	if err != nil {
		rs.t.Fatal(err)
	}
	return st
}

// party is lobbies of one owner and its members, made by Go clients.
type party struct {
	id      string
	owner   *Client
	members []*Client
}

func makeParties(t *testing.T, addr string, dialer func(ctx context.Context, network, addr string) (net.Conn, error), n, size, capacity int) []party {
	t.Helper()
	ctx := context.Background()
	mk := func(name string) *Client {
		// A long call timeout: on a machine loaded many times over, a
		// restore may wait seconds for its answer, and a client that gave
		// up on it would start over against a coordinator that did it.
		c, err := Dial(ctx, addr, ClientConfig{Player: name, Dial: dialer, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	parties := make([]party, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range parties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parties[i]
			p.owner = mk(fmt.Sprint("owner", i))
			j, err := p.owner.Create(ctx, CreateOptions{Game: "demo", Name: fmt.Sprint("party ", i), Capacity: capacity,
				JoinOptions: JoinOptions{Port: 1000 + i}})
			if err != nil {
				errs <- err
				return
			}
			p.id = j.Lobby.ID
			for k := 1; k < size; k++ {
				m := mk(fmt.Sprintf("m%d-%d", i, k))
				if _, err := m.Join(ctx, p.id, JoinOptions{Port: 2000 + k}); err != nil {
					errs <- err
					return
				}
				p.members = append(p.members, m)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return parties
}

// expectRestored waits until every client of the parties has had its
// coordinator_restarted event for its lobby, skipping other events.
func expectRestored(t *testing.T, parties []party, timeout time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	n := 0
	for _, p := range parties {
		n += 1 + len(p.members)
	}
	errs := make(chan error, n) // one per client at most: nobody blocks
	for _, p := range parties {
		for _, c := range append([]*Client{p.owner}, p.members...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.After(timeout)
				for {
					select {
					case ev, ok := <-c.Events():
						if !ok {
							errs <- fmt.Errorf("%s: events closed (%v)", c.cfg.Player, c.Err())
							return
						}
						if ev.Kind == EventCoordinatorRestarted && ev.Lobby.ID == p.id {
							return
						}
						if ev.Kind == NoticeClosed {
							errs <- fmt.Errorf("%s: lobby %s lost (%s: %v)", c.cfg.Player, p.id, ev.Reason, ev.Err)
							return
						}
					case <-deadline:
						errs <- fmt.Errorf("%s: no coordinator_restarted within %v", c.cfg.Player, timeout)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestOutsiderCannotRestoreAfterRestart (RELIABILITY.md, hostile inputs):
// 50 lobbies of 4 (200 members) on a coordinator that is killed and
// started again with the same secret. An outsider who listed the lobbies
// before the crash gets to the new instance first and restores every
// lobby id as its owner (under the owner's member id, with a guessed
// token, with no credential and with forged ones), then, once the owners
// are back, tries every lobby as a member, before and after hello. It
// takes nothing: every lobby comes back with its own owner and its 4
// members, and every attempt is counted.
func TestOutsiderCannotRestoreAfterRestart(t *testing.T) {
	// Not parallel: hundreds of clients on a race-built coordinator are load
	// enough for a two-core machine.
	const lobbies, size = 50, 4
	rs := startRestartable(t, ServerConfig{ResumeGrace: 10 * time.Second, HeartbeatInterval: time.Hour})
	g := newGate()
	parties := makeParties(t, rs.addr, g.dial, lobbies, size, size+1)

	spy := dialRaw(t, rs.addr)
	spy.hello("spy")
	spy.send(map[string]any{"op": "list", "id": 2})
	listed := spy.recv()["lobbies"].([]any)
	if len(listed) != lobbies {
		t.Fatalf("the outsider listed %d lobbies", len(listed))
	}

	g.shut() // the clients wait while the outsider strikes
	rs.restart()
	hijack := func(r *rawClient, batch []any, owner bool, id int, extra map[string]any) []any {
		var entries []map[string]any
		for _, x := range batch {
			l := x.(map[string]any)
			e := map[string]any{"lobby": l["lobby"], "port": 9}
			if owner {
				e["owner"], e["game"], e["name"], e["capacity"] = true, l["game"], l["name"], l["capacity"]
				e["members"] = []map[string]any{{"id": l["owner"], "name": "x", "addr": "127.0.0.1:9"}}
			}
			for k, v := range extra {
				e[k] = v
			}
			entries = append(entries, e)
		}
		req := map[string]any{"op": "restore", "id": id, "lobbies": entries}
		for k, v := range extra {
			if k == "member" || k == "token" || k == "v" || k == "player" {
				req[k] = v
			}
		}
		r.send(req)
		m := r.recv()
		if m["ok"] != true {
			t.Fatalf("restore reply %v", m)
		}
		return m["restored"].([]any)
	}
	expectRefused := func(results []any, codes ...Code) {
		t.Helper()
		for _, x := range results {
			e, _ := x.(map[string]any)["error"].(map[string]any)
			if e == nil {
				t.Fatalf("the outsider restored %v", x)
			}
			ok := false
			for _, c := range codes {
				ok = ok || e["code"] == string(c)
			}
			if !ok {
				t.Fatalf("refused with %v, want one of %v", e, codes)
			}
		}
	}
	tokenGuesses := 0
	for i := 0; i < lobbies; i += 8 {
		batch := listed[i:min(i+8, lobbies)]
		first := batch[0].(map[string]any)
		r := dialRaw(t, rs.addr)
		forged := map[string]any{"v": 1, "player": "x", "member": first["owner"], "token": fmt.Sprintf("%032x", i)}
		if i%16 == 8 {
			forged["credential"], forged["owner_credential"] = fmt.Sprintf("%032x", i+1), fmt.Sprintf("%032x", i+2)
		}
		expectRefused(hijack(r, batch, true, 1, forged), CodeBadCredential)
		tokenGuesses++
	}
	if st := rs.stats(); st.Lobbies != 0 || st.CredentialFailures != lobbies || st.TokenFailures != int64(tokenGuesses) {
		t.Fatalf("after the owner claims: %d lobbies, %d credential and %d token failures; want 0, %d, %d",
			st.Lobbies, st.CredentialFailures, st.TokenFailures, lobbies, tokenGuesses)
	}

	g.release()
	expectRestored(t, parties, time.Minute)
	// Now the lobbies exist, each with a free seat: the outsider tries
	// them as a member, before hello (a restore) and after.
	intruder := dialRaw(t, rs.addr)
	intruder.hello("intruder")
	for i := 0; i < lobbies; i += 8 {
		batch := listed[i:min(i+8, lobbies)]
		expectRefused(hijack(intruder, batch, false, 10+i, map[string]any{"credential": fmt.Sprintf("%032x", 7)}), CodeBadCredential)
		expectRefused(hijack(dialRaw(t, rs.addr), batch, false, 1, map[string]any{"v": 1}), CodeBadCredential)
	}

	ls, err := parties[0].owner.List(context.Background(), "demo")
	if err != nil || len(ls) != lobbies {
		t.Fatalf("list after the restore: %d lobbies, %v", len(ls), err)
	}
	want := map[string]party{}
	for _, p := range parties {
		want[p.id] = p
	}
	taken := 0
	for _, l := range ls {
		p := want[l.ID]
		if l.Owner != p.owner.ID() || l.Players != size {
			taken++
			t.Errorf("lobby %s: owner %s with %d players, want %s with %d", l.ID, l.Owner, l.Players, p.owner.ID(), size)
		}
	}
	st := rs.stats()
	t.Logf("lobbies taken by the outsider: %d of %d; failed checks: %d credentials, %d tokens", taken, lobbies,
		st.CredentialFailures, st.TokenFailures)
	if st.CredentialFailures != 3*lobbies {
		t.Errorf("%d credential failures counted, want %d", st.CredentialFailures, 3*lobbies)
	}
}

// TestRestoreAfterHelloRefused: on a live coordinator, a client that said
// hello and then restores someone else's lobby (as a member or as its
// owner, without a credential or with a forged one) is refused, seated
// nowhere, and nobody is told anything; a real player then takes the free
// seat.
func TestRestoreAfterHelloRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 3, JoinOptions: JoinOptions{Port: 1}})
	if err != nil {
		t.Fatal(err)
	}
	member := dial(t, ts.addr, "member")
	if _, err := member.Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, owner, NoticeMemberJoined, nil)

	intruder := dialRaw(t, ts.addr)
	intruder.hello("intruder")
	for i, e := range []map[string]any{
		{"lobby": j.Lobby.ID, "port": 5},
		{"lobby": j.Lobby.ID, "port": 5, "credential": fmt.Sprintf("%032x", 1)},
		{"lobby": j.Lobby.ID, "port": 5, "owner": true, "game": "demo", "name": "x", "capacity": 3},
		// The member's own credential is bound to the member's id.
		{"lobby": j.Lobby.ID, "port": 5, "credential": member.credsOf(j.Lobby.ID).Credential},
	} {
		intruder.send(map[string]any{"op": "restore", "id": i + 1, "lobbies": []any{e}})
		m := intruder.recv()
		res := m["restored"].([]any)[0].(map[string]any)
		if e, _ := res["error"].(map[string]any); e == nil || e["code"] != string(CodeBadCredential) {
			t.Fatalf("restore %d after hello: %v", i, m)
		}
	}
	real := dial(t, ts.addr, "real")
	if _, err := real.Join(ctx, j.Lobby.ID, JoinOptions{Port: 3}); err != nil {
		t.Fatalf("a real player after the intrusion: %v", err)
	}
	// The next thing the owner hears is the real player, nothing about
	// the intruder.
	expectEvent(t, owner, NoticeMemberJoined, func(e Event) bool { return e.Member.ID == real.ID() })
	if ps := owner.Peers(j.Lobby.ID); len(ps) != 2 {
		t.Fatalf("owner's peers %v", ps)
	}
	if st := ts.stats(t); st.CredentialFailures != 4 {
		t.Fatalf("%d credential failures counted, want 4", st.CredentialFailures)
	}
}

// logCounter counts the records logged at warning level with a message.
type logCounter struct {
	mu   sync.Mutex
	n    map[string]int
	last map[string][]slog.Attr
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		h.n[r.Message]++
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
		h.last[r.Message] = attrs
	}
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func (h *logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// TestTokenGuessesCountedAndLogged: 2,000 resume attempts with wrong
// tokens for a live member (pipelined on a few links) are refused, counted
// one by one, and logged at most once a second, each line with how many
// were not logged since the last one; the member is not disturbed.
func TestTokenGuessesCountedAndLogged(t *testing.T) {
	t.Parallel()
	logs := &logCounter{n: map[string]int{}, last: map[string][]slog.Attr{}}
	// Failed resumes leave a link without identity: a long hello deadline
	// lets a busy machine get through all 100 of each link.
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, Logger: slog.New(logs), RequestRate: -1, HelloTimeout: time.Minute})
	ctx := context.Background()
	victim := dial(t, ts.addr, "victim")
	if _, err := victim.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err != nil {
		t.Fatal(err)
	}
	const links, per = 20, 100
	start := time.Now()
	var wg sync.WaitGroup
	for l := 0; l < links; l++ {
		r := dialRaw(t, ts.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for i := 0; i < per; i++ {
				fmt.Fprintf(&b, `{"op":"resume","id":%d,"v":1,"member":%q,"token":"%032x"}`+"\n", i, victim.ID(), l*per+i)
			}
			r.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			r.conn.Write([]byte(b.String()))
			for i := 0; i < per; i++ {
				m, err := r.tryRecv(10 * time.Second)
				if err != nil {
					t.Errorf("link %d reply %d: %v", l, i, err)
					return
				}
				if e, _ := m["error"].(map[string]any); e == nil || e["code"] != string(CodeResumeFailed) {
					t.Errorf("guess answered %v", m)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := ts.stats(t)
	if st.TokenFailures != links*per {
		t.Fatalf("%d token failures counted, want %d", st.TokenFailures, links*per)
	}
	lines := logs.count("failed credential check")
	maxLines := int(elapsed/guessLogEvery) + 2
	t.Logf("%d guesses in %v: %d log lines", links*per, elapsed, lines)
	if lines < 1 || lines > maxLines {
		t.Fatalf("%d log lines for %d guesses in %v, want 1..%d", lines, links*per, elapsed, maxLines)
	}
	if _, err := victim.Ping(ctx); err != nil || victim.Err() != nil {
		t.Fatalf("victim disturbed: %v %v", err, victim.Err())
	}
}
