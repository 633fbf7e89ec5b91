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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"coordinator", "--listen", addr, "--announce=false", "--json", "--heartbeat", "100ms", "--resume-grace", "5s"}
	daemon := start(t, "daemon", args...)
	daemon.next(10*time.Second, event("listening"))

	ctx := context.Background()
	owners := map[string]string{} // lobby id -> owner id
	var clients []*lobby.Client
	dialC := func(name string) *lobby.Client {
		c, err := lobby.Dial(ctx, addr, lobby.ClientConfig{Player: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
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
	restarted := start(t, "daemon2", args...)
	restarted.next(10*time.Second, event("listening"))

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
