package lobby

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// churner quick-joins and leaves lobbies of game "demo" over and over on
// raw links until stop, redialling when its link drops (a restart).
func churner(t *testing.T, addr string, stop <-chan struct{}, tries, joins *atomic.Int64, wg *sync.WaitGroup) {
	defer wg.Done()
	for id := 0; ; id++ {
		select {
		case <-stop:
			return
		default:
		}
		nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		r := &rawClient{t: t, conn: nc, br: newBufReader(nc)}
		func() {
			defer nc.Close()
			r.sendQuiet(`{"op":"hello","id":1,"v":1,"player":"churn"}`)
			if m, err := r.tryRecv(5 * time.Second); err != nil || m["ok"] != true {
				return
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !r.sendQuiet(`{"op":"quick_join","id":2,"game":"demo","port":9}`) {
					return
				}
				tries.Add(1)
				m, err := r.tryRecv(5 * time.Second)
				if err != nil {
					return
				}
				if lobby, _ := m["lobby"].(string); m["ok"] == true {
					joins.Add(1)
					time.Sleep(5 * time.Millisecond) // pace the churn: it is load, not a timing assumption
					if !r.sendQuiet(fmt.Sprintf(`{"op":"leave","id":3,"lobby":%q}`, lobby)) {
						return
					}
					for {
						m, err := r.tryRecv(5 * time.Second)
						if err != nil {
							return
						}
						if m["id"] == float64(3) {
							break
						}
					}
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
}

// sendQuiet writes a line and reports whether it went out (a churner's
// link may drop at any time).
func (r *rawClient) sendQuiet(s string) bool {
	r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.conn.Write([]byte(s + "\n"))
	return err == nil
}

// TestRestartUnderChurnKeepsSeats (RELIABILITY.md, coordinator restart):
// 50 lobbies of 4 members (200) and 5 seats, while 30 players quick-join
// and leave without a pause; the coordinator is killed and started again
// with the same secret, 10 times (LANLOBBY_RESTART_RUNS). Every time, each
// of the 200 gets its seat back: the owner's restore holds its members'
// seats, so the churners only ever get the fifth.
func TestRestartUnderChurnKeepsSeats(t *testing.T) {
	// Not parallel: hundreds of clients on a race-built coordinator are load
	// enough for a two-core machine.
	runs := 10
	if s := os.Getenv("LANLOBBY_RESTART_RUNS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	const lobbies, size = 50, 4
	rs := startRestartable(t, ServerConfig{ResumeGrace: 10 * time.Second, RestoreWindow: 10 * time.Second, HeartbeatInterval: time.Hour})
	g := newGate()
	parties := makeParties(t, rs.addr, g.dial, lobbies, size, size+1)
	stop := make(chan struct{})
	var tries, joins atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go churner(t, rs.addr, stop, &tries, &joins, &wg)
	}
	stopChurn := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopChurn()
	var took []time.Duration
	for run := 0; run < runs; run++ {
		// Let 30 more quick-joins be tried. (Held seats of churners that
		// were seated at the previous crash and never restore stay held for
		// the window: after a few restarts in a row they may fill every
		// lobby, and tries then fail with no_open_lobby.)
		before := tries.Load()
		testutil.WaitFor(t, 10*time.Second, "churn", func() bool { return tries.Load() >= before+30 })
		start := time.Now()
		rs.restart()
		expectRestored(t, parties, time.Minute)
		took = append(took, time.Since(start))
		// Every one of the 200 is in its lobby.
		for _, p := range parties {
			peers := map[string]bool{}
			for _, m := range p.owner.Peers(p.id) {
				peers[m.ID] = true
			}
			for _, m := range p.members {
				if !peers[m.ID()] || !slicesContain(m.Lobbies(), p.id) {
					t.Fatalf("run %d: member %s of lobby %s lost its seat", run, m.ID(), p.id)
				}
			}
		}
	}
	stopChurn()
	rs.stop()
	reg := lobbiesAfterServe(rs.srv)
	lost := 0
	for _, p := range parties {
		l := reg.Get(p.id)
		if l == nil || l.Owner != p.owner.ID() {
			t.Fatalf("lobby %s gone or its owner changed: %+v", p.id, l)
		}
		for _, m := range p.members {
			if l.memberIndex(m.ID()) < 0 {
				lost++
			}
		}
	}
	t.Logf("%d runs with %d churn quick-joins (%d seated); seats lost: %d of %d; restarts took %v", runs, tries.Load(), joins.Load(), lost, lobbies*size, took)
	if lost != 0 {
		t.Fatalf("%d seats lost", lost)
	}
}

func slicesContain(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestHeldSeats: after a restart, the owner's restore holds the seats of
// the members it lists: they count as taken (a quick-join finds no room, a
// join finds the lobby full), a member that comes back from another
// address is announced with member_back and its new address, and a member
// not back when the window ends is reported gone (member_left, timeout).
func TestHeldSeats(t *testing.T) {
	t.Parallel()
	rs := startRestartable(t, ServerConfig{ResumeGrace: 10 * time.Second, RestoreWindow: 2 * time.Second, HeartbeatInterval: time.Hour})
	g := newGate()
	parties := makeParties(t, rs.addr, g.dial, 1, 3, 3)
	p := parties[0]
	back, never := p.members[0], p.members[1]
	ownerCreds, backCreds := p.owner.credsOf(p.id), back.credsOf(p.id)
	p.owner.mu.Lock()
	ownerToken := p.owner.token
	p.owner.mu.Unlock()
	back.mu.Lock()
	backToken := back.token
	back.mu.Unlock()
	g.shut()
	rs.restart()
	// The owner alone comes back first: it restores the lobby by hand,
	// listing both members, so that the test controls who is back when.
	r := dialRaw(t, rs.addr)
	r.send(map[string]any{"op": "restore", "id": 1, "v": 1, "player": "owner0", "member": p.owner.ID(), "token": ownerToken,
		"lobbies": []any{map[string]any{"lobby": p.id, "owner": true, "game": "demo", "name": "party 0", "capacity": 3, "port": 1000,
			"credential": ownerCreds.Credential, "owner_credential": ownerCreds.OwnerCredential,
			"members": []any{
				map[string]any{"id": p.owner.ID(), "name": "owner0", "addr": "127.0.0.1:1000"},
				map[string]any{"id": back.ID(), "name": "m0-1", "addr": "127.0.0.1:2001"},
				map[string]any{"id": never.ID(), "name": "m0-2", "addr": "127.0.0.1:2002"},
			}}}})
	m := r.recv()
	res := m["restored"].([]any)[0].(map[string]any)
	if res["error"] != nil || res["players"] != float64(3) || len(res["peers"].([]any)) != 2 {
		t.Fatalf("owner's restore: %v", res)
	}
	if st := rs.stats(); st.Held != 2 {
		t.Fatalf("held seats %d, want 2", st.Held)
	}
	x := dialRaw(t, rs.addr)
	x.hello("newcomer")
	x.send(map[string]any{"op": "quick_join", "id": 2, "game": "demo", "port": 5})
	x.expectError(CodeNoOpenLobby, 2)
	x.send(map[string]any{"op": "join", "id": 3, "lobby": p.id, "port": 5})
	x.expectError(CodeLobbyFull, 3)

	// One member comes back, from another game port.
	b := dialRaw(t, rs.addr)
	b.send(map[string]any{"op": "restore", "id": 1, "v": 1, "player": "m0-1", "member": back.ID(), "token": backToken,
		"lobbies": []any{map[string]any{"lobby": p.id, "addr": "127.0.0.1:3001", "credential": backCreds.Credential}}})
	if res := b.recv()["restored"].([]any)[0].(map[string]any); res["error"] != nil {
		t.Fatalf("member's restore: %v", res)
	}
	m = r.recv()
	if m["event"] != "member_back" || m["member"].(map[string]any)["addr"] != "127.0.0.1:3001" {
		t.Fatalf("owner heard %v, want member_back with the new address", m)
	}
	// The other never comes back: its seat is given up when the window
	// ends, and the two present are told.
	for _, c := range []*rawClient{r, b} {
		m := c.recv()
		if m["event"] != "member_left" || m["member"].(map[string]any)["id"] != never.ID() || m["reason"] != "timeout" || m["players"] != float64(2) {
			t.Fatalf("after the window: %v", m)
		}
	}
	if st := rs.stats(); st.Held != 0 {
		t.Fatalf("held seats %d after the window", st.Held)
	}
	x.send(map[string]any{"op": "join", "id": 4, "lobby": p.id, "port": 5})
	if m := x.recv(); m["ok"] != true {
		t.Fatalf("join after the window: %v", m)
	}
	g.release()
}
