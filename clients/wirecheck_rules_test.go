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

// TestWireFieldTable: the checker's table takes every request the SDKs send
// now (filters with ranges, party seats, bans, reservations, subscriptions,
// list paging, restore with credentials and the owner's roster) and finds
// what a client gets wrong inside them.
func TestWireFieldTable(t *testing.T) {
	check := func(line string) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var op string
		json.Unmarshal(m["op"], &op)
		fields, ok := opFields[op]
		if !ok {
			t.Fatalf("no op %q in the table", op)
		}
		delete(m, "op")
		delete(m, "id")
		return checkFields(op, m, fields)
	}
	good := []string{
		`{"op":"hello","id":1,"v":1,"player":"Zoë","client":"lanlobby-cs/0.1","key":"9f2c4e0b7a1d3e5f60718293a4b5c6d7"}`,
		`{"op":"create","id":2,"game":"demo","name":"n","capacity":4,"port":7001,"meta":{"map":"dunes"},"version":"1.4.2","filterable":["map","level"]}`,
		`{"op":"quick_join","id":3,"game":"demo","addr":"198.18.0.12:7002","seats":3,"party":["k1"],` +
			`"filter":{"version":"1.4","version_rule":"compatible","meta":{"map":"dunes"},"ranges":[{"key":"level","min":10},{"key":"ping","max":80.5}],"free":2}}`,
		`{"op":"join","id":4,"lobby":"k3m2x9aqpz","port":7003,"reservation":"4b1e","filter":{"version":"1.4"}}`,
		`{"op":"kick","id":5,"lobby":"k3m2x9aqpz","member":"p4c8vtzn2a","ban":true,"ban_ms":60000}`,
		`{"op":"reserve","id":6,"lobby":"k3m2x9aqpz","seats":2,"party":["k2"],"window_ms":300}`,
		`{"op":"list","id":7,"game":"demo","filter":{"free":1},"after":"4711","limit":2}`,
		`{"op":"subscribe","id":8,"game":"demo","filter":{"version":"1.4"}}`,
		`{"op":"unsubscribe","id":9,"sub":1}`,
		`{"op":"restore","id":10,"v":1,"client":"lanlobby-py/0.1","player":"Zoë","member":"h7dwb2kq9m","token":"9f2c","key":"k","lobbies":[` +
			`{"lobby":"k3m2x9aqpz","owner":true,"game":"demo","name":"n","capacity":4,"addr":"198.18.0.11:7777","meta":{"map":"dunes"},` +
			`"started":true,"auto_start":true,"version":"1.4","filterable":["map"],"credential":"5be0","owner_credential":"07c1",` +
			`"members":[{"id":"h7dwb2kq9m","name":"Zoë","addr":"198.18.0.11:7777"},{"id":"p4c8vtzn2a","name":"Bob","addr":"198.18.0.12:7777"}]},` +
			`{"lobby":"q8w7e6r5t4","addr":"198.18.0.11:7777","password":"pw","credential":"a41f"}]}`,
	}
	for _, line := range good {
		if v := check(line); len(v) > 0 {
			t.Errorf("%s:\n  %s", line, strings.Join(v, "\n  "))
		}
	}
	bad := map[string]string{
		`{"op":"quick_join","id":1,"game":"demo","port":1,"filter":{"version":"1.4","colour":"red"}}`:              `quick_join.filter has a field "colour"`,
		`{"op":"list","id":1,"filter":{"ranges":[{"key":"level","min":"10"}]}}`:                                    `list.filter.ranges[0].min: not of type num`,
		`{"op":"list","id":1,"filter":{"ranges":[{"min":1}]}}`:                                                     `list.filter.ranges[0] without key`,
		`{"op":"join","id":1,"lobby":"l","port":1,"party":[1]}`:                                                    `join.party: not of type strs`,
		`{"op":"subscribe","id":1,"filter":"version=1.4"}`:                                                         `subscribe.filter: not an object`,
		`{"op":"restore","id":1,"lobbies":[{"lobby":"l","credential":"c","creds":"x"}]}`:                           `restore.lobbies[0] has a field "creds"`,
		`{"op":"restore","id":1,"lobbies":[{"lobby":"l","members":[{"id":"m","name":"n","addr":"a","key":"k"}]}]}`: `restore.lobbies[0].members[0] has a field "key"`,
		`{"op":"restore","id":1,"lobbies":[{"owner":true}]}`:                                                       `restore.lobbies[0] without lobby`,
		`{"op":"create","id":1,"game":"g","name":"n","capacity":2,"port":1,"filterable":"map"}`:                    `create.filterable: not of type strs`,
		`{"op":"reserve","id":1,"lobby":"l"}`:                                                                      `reserve without seats`,
	}
	for line, want := range bad {
		v := check(line)
		if !strings.Contains(strings.Join(v, "\n"), want) {
			t.Errorf("%s: want a violation %q, got %q", line, want, v)
		}
	}
}
