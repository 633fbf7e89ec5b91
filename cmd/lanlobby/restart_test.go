package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// TestDaemonRestartOutsiderTakesNothing (RELIABILITY.md row 11): a daemon
// with default flags (its secret in the default state directory) holds 5
// lobbies of 4; an outsider lists them, the daemon is killed with SIGKILL
// and started again, and the outsider keeps trying to restore every lobby
// as its owner while the real clients come back. Every lobby comes back
// with its own owner and its 4 members; every attempt of the outsider is
// refused.
func TestDaemonRestartOutsiderTakesNothing(t *testing.T) {
	d := startRestartableDaemon(t)
	addr, daemon := d.addr, d.daemon
	ctx := context.Background()
	owners := map[string]string{} // lobby id -> owner id
	var clients []*lobby.Client
	dialC := func(name string) *lobby.Client {
		c := d.client(name)
		clients = append(clients, c)
		return c
	}
	for i := 0; i < 5; i++ {
		o := dialC(fmt.Sprint("owner", i))
		j, err := o.Create(ctx, lobby.CreateOptions{Game: "demo", Name: fmt.Sprint("lobby ", i), Capacity: 5, JoinOptions: lobby.JoinOptions{Port: 1}})
		if err != nil {
			t.Fatal(err)
		}
		owners[j.Lobby.ID] = o.ID()
		for k := 0; k < 3; k++ {
			if _, err := dialC(fmt.Sprintf("m%d-%d", i, k)).Join(ctx, j.Lobby.ID, lobby.JoinOptions{Port: 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	listed, err := clients[0].List(ctx, "demo")
	if err != nil || len(listed) != 5 {
		t.Fatalf("the outsider's list: %v %v", listed, err)
	}

	daemon.cmd.Process.Kill()
	daemon.wait(5 * time.Second)
	d.restart()

	attempts, refused := 0, 0
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range listed {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				continue
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			req, _ := json.Marshal(map[string]any{"op": "restore", "id": 1, "v": 1, "player": "x", "member": l.Owner,
				"token": fmt.Sprintf("%032x", attempts), "lobbies": []any{map[string]any{"lobby": l.ID, "owner": true,
					"game": l.Game, "name": l.Name, "capacity": l.Capacity, "port": 9}}})
			nc.Write(append(req, '\n'))
			br := bufio.NewReader(nc)
			var line []byte
			for err == nil && (len(line) == 0 || line[2] == 'e') { // skip pings ({"event":...)
				line, err = br.ReadBytes('\n')
			}
			nc.Close()
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				You      lobby.Member `json:"you"`
				Restored []struct {
					Error *lobby.Error `json:"error"`
				} `json:"restored"`
			}
			if err := json.Unmarshal(line, &m); err != nil || len(m.Restored) != 1 {
				t.Fatalf("restore reply %s", line)
			}
			attempts++
			if m.Restored[0].Error != nil && m.You.ID != l.Owner {
				refused++
			}
		}
	}
	waitForList := time.Now().Add(15 * time.Second)
	for {
		ls, err := clients[0].List(ctx, "demo")
		back := err == nil && len(ls) == 5
		for _, l := range ls {
			back = back && l.Players == 4 && l.Owner == owners[l.ID]
		}
		if back {
			break
		}
		if time.Now().After(waitForList) {
			t.Fatalf("lobbies after the restart: %+v %v", ls, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the outsider tried %d restores as owner: %d refused", attempts, refused)
	if refused != attempts || attempts == 0 {
		t.Fatalf("%d of %d restores by the outsider were not refused", attempts-refused, attempts)
	}
}

// restartableDaemon is a coordinator daemon process on a fixed loopback
// address (default flags but for the address, no announcing and a short
// heartbeat), which a test kills and starts again.
type restartableDaemon struct {
	t      *testing.T
	addr   string
	args   []string
	daemon *proc
}

func startRestartableDaemon(t *testing.T) *restartableDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &restartableDaemon{t: t, addr: ln.Addr().String()}
	ln.Close()
	d.args = []string{"coordinator", "--listen", d.addr, "--announce=false", "--json", "--heartbeat", "100ms", "--resume-grace", "5s"}
	d.daemon = start(t, "daemon", d.args...)
	d.daemon.next(10*time.Second, event("listening"))
	return d
}

// restart starts the daemon again (after the test killed it).
func (d *restartableDaemon) restart() {
	d.t.Helper()
	d.daemon = start(d.t, "daemon2", d.args...)
	d.daemon.next(10*time.Second, event("listening"))
}

// client dials the daemon with the Go client.
func (d *restartableDaemon) client(name string) *lobby.Client {
	d.t.Helper()
	c, err := lobby.Dial(context.Background(), d.addr, lobby.ClientConfig{Player: name})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}
