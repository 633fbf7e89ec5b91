package lobby

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// kilobyteMeta is lobby metadata of about 1 KB, the most a lobby may have.
func kilobyteMeta(i int) map[string]string {
	m := map[string]string{}
	for k := 0; k < 4; k++ {
		m[fmt.Sprint("k", k)] = fmt.Sprintf("%03d-%s", i%1000, strings.Repeat("v", 246))
	}
	return m
}

// fillLobbies creates n lobbies with 1 KB of metadata each on a
// coordinator, 8 per raw connection (the limit per member), and keeps the
// connections (and so the lobbies) open for the test.
func fillLobbies(t testing.TB, addr string, n int) {
	t.Helper()
	conns := (n + 7) / 8
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			if tt, ok := t.(*testing.T); ok {
				tt.Cleanup(func() { nc.Close() })
			}
			var b strings.Builder
			b.WriteString(`{"op":"hello","id":0,"v":1,"player":"filler"}` + "\n")
			count := min(8, n-8*c)
			for i := 0; i < count; i++ {
				req, _ := json.Marshal(map[string]any{"op": "create", "id": i + 1, "game": "demo",
					"name": fmt.Sprintf("lobby %d", 8*c+i), "capacity": 8, "port": 1, "meta": kilobyteMeta(8*c + i)})
				b.Write(req)
				b.WriteByte('\n')
			}
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := nc.Write([]byte(b.String())); err != nil {
				errs <- err
				return
			}
			br := bufio.NewReader(nc)
			for i := 0; i <= count; i++ {
				line, err := br.ReadBytes('\n')
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(string(line), `"ok":true`) {
					errs <- fmt.Errorf("create: %s", line)
					return
				}
			}
			nc.SetDeadline(time.Time{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestListPages5000Lobbies (RELIABILITY.md, limits): with 5,000 lobbies
// of 1 KB metadata, a plain list (as older clients send) gets the first
// page and a cursor, every page is one line under the 64 KiB limit, the
// pages together hold every lobby once, oldest first, also while lobbies
// come and go between pages; the Go client's List returns all 5,000.
func TestListPages5000Lobbies(t *testing.T) {
	// Not parallel: hundreds of clients on a race-built coordinator are load
	// enough for a two-core machine.
	const n = 5000
	// A long hello deadline: 625 connections pipeline hello and 8 creates
	// at once, which a busy machine may take seconds to get through.
	ts := startServer(t, ServerConfig{HeartbeatInterval: noHeartbeat, RequestRate: -1, MaxConnsPerIP: -1, HelloTimeout: time.Minute})
	fillLobbies(t, ts.addr, n)

	r := dialRaw(t, ts.addr)
	r.br = bufio.NewReaderSize(r.conn, 1<<20)
	r.hello("lister")
	page := func(id int, after string) (lines int, ids []string, next string) {
		t.Helper()
		req := map[string]any{"op": "list", "id": id}
		if after != "" {
			req["after"] = after
		}
		r.send(req)
		r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.br.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		if len(line)-1 > tcpconn.DefaultMaxLineLength {
			t.Fatalf("page %d is a line of %d bytes", id, len(line)-1)
		}
		var m struct {
			OK      bool         `json:"ok"`
			Lobbies []lobbyState `json:"lobbies"`
			Next    string       `json:"next"`
		}
		if err := json.Unmarshal(line, &m); err != nil || !m.OK {
			t.Fatalf("page %d: %v %.200s", id, err, line)
		}
		for _, l := range m.Lobbies {
			ids = append(ids, l.Lobby)
		}
		return len(line), ids, m.Next
	}
	size, first, next := page(1, "")
	if next == "" || len(first) < 30 {
		t.Fatalf("plain list: %d lobbies in %d bytes, next %q; want a full first page and a cursor", len(first), size, next)
	}
	seen := map[string]bool{}
	all := append([]string(nil), first...)
	pages, biggest := 1, size
	// A lobby created and one closed while the pages are read: the new one
	// comes last, nothing is listed twice.
	late := dial(t, ts.addr, "late")
	for id := 2; next != ""; id++ {
		if id == 10 {
			if _, err := late.Create(context.Background(), CreateOptions{Game: "demo", Name: "late", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		size, ids, next = page(id, next)
		all = append(all, ids...)
		pages++
		biggest = max(biggest, size)
	}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("lobby %s listed twice", id)
		}
		seen[id] = true
	}
	t.Logf("%d lobbies in %d pages, the largest %d bytes", len(all), pages, biggest)
	if len(all) != n+1 {
		t.Fatalf("pages listed %d lobbies, want %d", len(all), n+1)
	}

	c := dial(t, ts.addr, "client")
	start := time.Now()
	ls, err := c.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Client.List: %d lobbies in %v", len(ls), time.Since(start))
	if len(ls) != n+1 || ls[len(ls)-1].Name != "late" {
		t.Fatalf("Client.List: %d lobbies, last %q", len(ls), ls[len(ls)-1].Name)
	}
	for i, l := range ls {
		if l.ID != all[i] {
			t.Fatalf("Client.List lobby %d is %s, the pages had %s", i, l.ID, all[i])
		}
		var k int
		if _, err := fmt.Sscanf(l.Name, "lobby %d", &k); err == nil && l.Meta["k3"] != kilobyteMeta(k)["k3"] {
			t.Fatalf("metadata of %q lost in the pages", l.Name)
		}
	}
	// A bad cursor is a bad request; a limit bounds a page.
	r.send(map[string]any{"op": "list", "id": 99, "after": "x"})
	r.expectError(CodeBadRequest, 99)
	r.send(map[string]any{"op": "list", "id": 100, "limit": 3, "game": "demo"})
	if m := r.recv(); len(m["lobbies"].([]any)) != 3 || m["next"] == nil {
		t.Fatalf("limit 3: %v", m["next"])
	}
}

// TestLobbyOrderCompacts: the creation-order index skips closed lobbies
// and sweeps them out, so it never outgrows the live lobbies by more than
// half.
func TestLobbyOrderCompacts(t *testing.T) {
	r := NewRegistry(RegistryConfig{MaxLobbiesPerMember: 1})
	var ids []string
	for i := 0; i < 1000; i++ {
		l, err := r.Create(Member{ID: fmt.Sprint("m", i), Addr: "127.0.0.1:1"}, CreateSpec{Game: "g", Name: "n", Capacity: 2})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	for i := 0; i < 1000; i += 2 {
		r.Leave(fmt.Sprint("m", i), ids[i], ReasonLeft)
	}
	if len(r.byAge.order) > 2*r.Len() {
		t.Fatalf("order holds %d for %d lobbies", len(r.byAge.order), r.Len())
	}
	var got []string
	r.ListAfter("", 0, func(l *Lobby) bool { got = append(got, l.ID); return true })
	if len(got) != 500 || got[0] != ids[1] || got[499] != ids[999] {
		t.Fatalf("listed %d, first %s last %s", len(got), got[0], got[len(got)-1])
	}
	var after []string
	r.ListAfter("g", r.Get(ids[501]).Seq(), func(l *Lobby) bool { after = append(after, l.ID); return len(after) < 2 })
	if len(after) != 2 || after[0] != ids[503] || after[1] != ids[505] {
		t.Fatalf("after %s: %v", ids[501], after)
	}
}
