package lobby

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Heartbeat settings for tests in which a silent member must be noticed:
// about a second of silence drops a link, and a member that answers may
// answer up to (testMisses-1) × testHeartbeat = 900 ms late before it is
// taken for silent, a delay a loaded two-core machine stays under. Shorter
// settings drop healthy Go clients when the scheduler is busy.
const (
	testHeartbeat = 100 * time.Millisecond
	testMisses    = 10
)

// noHeartbeat is a heartbeat interval longer than any test, for tests about
// something else: their raw clients answer pings only while they read, and
// a link that closes is then always a departure, never a blip (a blip is a
// close after a silence of one interval; see Server.suspend).
const noHeartbeat = time.Hour

// awaitRounds returns once the coordinator has run n more heartbeat rounds,
// as a witness sees them: a raw client that says hello and then counts and
// answers the pings it gets (one per round). It measures time in rounds,
// which is what the heartbeat's bounds are stated in, rather than trusting
// the wall clock of a busy machine.
func awaitRounds(t testing.TB, addr string, n int) {
	t.Helper()
	w := dialRaw(t, addr)
	w.hello("witness")
	for seen := 0; seen < n; {
		m, err := w.tryRecv(10 * time.Second)
		if err != nil {
			t.Fatalf("witness after %d of %d rounds: %v", seen, n, err)
		}
		if m["event"] == "ping" {
			w.sendLine(fmt.Sprintf(`{"op":"pong","seq":%v}`, m["seq"]))
			seen++
		}
	}
	w.conn.Close()
}

// testServer runs a coordinator on 127.0.0.1:0 for the duration of a test.
type testServer struct {
	*Server
	addr string
	done chan error
}

func startServer(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, srv)
}

// startServerWith serves srv on 127.0.0.1:0 for the duration of a test.
func startServerWith(t testing.TB, srv *Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, addr: ln.Addr().String(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts
}

func (ts *testServer) stats(t testing.TB) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := ts.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func dial(t testing.TB, addr, player string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, ClientConfig{Player: player})
	if err != nil {
		t.Fatalf("dial %s: %v", player, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextEvent returns the next event that is not filtered out, or fails.
// The reports of a lost link and of the reconnection's progress
// (coordinator_lost, reconnecting) are filtered out: tests of them read
// Events themselves.
func nextEvent(t testing.TB, c *Client, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: events channel closed", c.cfg.Player)
			}
			if ev.Kind == EventCoordinatorLost || ev.Kind == EventReconnecting {
				continue
			}
			return ev
		case <-deadline:
			t.Fatalf("%s: no event within %v", c.cfg.Player, timeout)
		}
	}
}

func expectEvent(t testing.TB, c *Client, kind NoticeKind, check func(Event) bool) Event {
	t.Helper()
	ev := nextEvent(t, c, 5*time.Second)
	if ev.Kind != kind || (check != nil && !check(ev)) {
		t.Fatalf("%s: got event %+v, want %s", c.cfg.Player, ev, kind)
	}
	return ev
}

// rawClient speaks the wire protocol by hand, for malformed input and for
// members that misbehave (stop answering pings, never read).
type rawClient struct {
	t     testing.TB
	conn  net.Conn
	br    *bufio.Reader
	pongs bool // answer pings while reading
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, conn: nc, br: bufio.NewReader(nc), pongs: true}
}

func (r *rawClient) sendLine(s string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(r.conn, "%s\n", s); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

func (r *rawClient) send(v map[string]any) {
	r.t.Helper()
	b, _ := json.Marshal(v)
	r.sendLine(string(b))
}

// recv returns the next message that is not a ping.
func (r *rawClient) recv() map[string]any {
	r.t.Helper()
	for {
		m, err := r.tryRecv(5 * time.Second)
		if err != nil {
			r.t.Fatalf("recv: %v", err)
		}
		if m["event"] == "ping" {
			if r.pongs {
				r.sendLine(fmt.Sprintf(`{"op":"pong","seq":%v}`, m["seq"]))
			}
			continue
		}
		return m
	}
}

func (r *rawClient) tryRecv(timeout time.Duration) (map[string]any, error) {
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := r.br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return nil, fmt.Errorf("bad json from server %q: %v", line, err)
	}
	return m, nil
}

func (r *rawClient) hello(player string) string {
	r.t.Helper()
	r.send(map[string]any{"op": "hello", "id": 1, "v": 1, "player": player})
	m := r.recv()
	if m["ok"] != true {
		r.t.Fatalf("hello: %v", m)
	}
	return m["you"].(map[string]any)["id"].(string)
}

// expectError reads the next reply and checks its error code and echoed id.
func (r *rawClient) expectError(code Code, id any) {
	r.t.Helper()
	m := r.recv()
	e, _ := m["error"].(map[string]any)
	if m["ok"] != false || e == nil || e["code"] != string(code) {
		r.t.Fatalf("want error %s, got %v", code, m)
	}
	if msg, _ := e["message"].(string); strings.TrimSpace(msg) == "" {
		r.t.Fatalf("error %s without a message: %v", code, m)
	}
	if fmt.Sprint(m["id"]) != fmt.Sprint(id) {
		r.t.Fatalf("error %s echoed id %v, want %v", code, m["id"], id)
	}
}

// expectClosed waits for the server to close the connection.
func (r *rawClient) expectClosed(timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := r.tryRecv(time.Until(deadline)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return
		}
	}
	r.t.Fatalf("connection still open after %v", timeout)
}

func newBufReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }
