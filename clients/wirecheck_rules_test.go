package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// TestWireProxyRules: the conformance run's checker finds each broken rule
// in a client that breaks it on purpose, and nothing in the Go client.
func TestWireProxyRules(t *testing.T) {
	sc := loadScript(t)
	coord := startLoopbackCoordinator(t, sc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bound := time.Duration(sc.HeartbeatMS*sc.Misses) * time.Millisecond
	p := newWireProxy(t, []net.Listener{ln}, func() (net.Conn, error) { return net.DialTimeout("tcp", coord, 2*time.Second) },
		bound, func(m string) string { return "member " + m })

	// The Go client, through the proxy for more than the bound: clean.
	c, err := lobby.Dial(context.Background(), ln.Addr().String(), lobby.ClientConfig{Player: "Zoë"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create(context.Background(), lobby.CreateOptions{Game: "demo", Name: "clean", Capacity: 2, JoinOptions: lobby.JoinOptions{Port: 7001}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), "hall", "room://10.0.0.5:7000"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(bound + 500*time.Millisecond)
	if v := p.check(); len(v) > 0 {
		t.Fatalf("the Go client broke rules:\n%s", strings.Join(v, "\n"))
	}

	// Raw clients breaking one rule after another.
	raw := func(lines ...string) net.Conn {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := conn.Write([]byte(strings.Join(lines, ""))); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	raw(`{"op":"list","id":1}` + "\n")                                            // hello.first; refused as hello_required
	raw("\xff\xfe\n", "hello\n", `{"op":"hello","id":1,"v":1}`).Close()           // framing.utf8, framing.json; a partial line at close
	raw(`{"op":"resume","id":1,"v":1,"member":"nobody","token":"forged"}` + "\n") // resume.token
	conn := raw(`{"op":"hello","id":1,"v":1,"player":"x","colour":"red"}`+"\n",   // op.fields (unknown field)
		`{"op":"ping","id":1.5}`+"\n",                                    // request.id
		`{"op":"ping","id":"`+strings.Repeat("x", 65)+`"}`+"\n",          // request.id (string too long)
		`{"op":"ping"}`+"\n",                                             // request.id (none)
		`{"op":"frobnicate","id":4}`+"\n",                                // request.op; refused as unknown_op
		`{"op":"pong","seq":999999,"id":5}`+"\n",                         // pong.no-id, pong.seq
		`{"op":"create","id":6,"game":"g","name":"n","capacity":4}`+"\n", // op.fields (no port or addr)
		`{"op":"leave","id":7,"lobby":7}`+"\n")                           // op.fields (type)
	// It answers every ping with the wrong seq: the coordinator keeps its
	// link (any line counts), and its pings go unanswered.
	go func() {
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			var m struct {
				Event string
				Seq   int
			}
			if json.Unmarshal(line, &m) == nil && m.Event == "ping" {
				if _, err := conn.Write([]byte(`{"op":"pong","seq":` + strconv.Itoa(m.Seq+1000) + "}\n")); err != nil {
					return
				}
			}
		}
	}()

	want := []string{"hello.first", "request.accepted", "framing.utf8", "framing.json", "framing.newline", "op.fields", "request.id",
		"request.op", "pong.no-id", "pong.seq", "resume.token", "heartbeat.pong"}
	var seen map[string]bool
	var missing []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen, missing = map[string]bool{}, nil
		for _, v := range p.check() {
			rule, _, _ := strings.Cut(strings.TrimPrefix(v, "rule "), " ")
			seen[rule] = true
		}
		for _, r := range want {
			if !seen[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules broken on purpose and not reported: %v\nreported:\n%s", missing, strings.Join(p.check(), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for r := range seen {
		got = append(got, r)
		if strings.HasPrefix(r, "server.") {
			t.Errorf("the coordinator broke rule %s", r)
		}
	}
	sort.Strings(got)
	t.Logf("rules found broken: %s", strings.Join(got, ", "))
	if t.Failed() {
		t.Log(strings.Join(p.check(), "\n"))
	}
}
