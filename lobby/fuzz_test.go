package lobby

import (
	"encoding/json"
	"net/netip"
	"testing"
	"unicode/utf8"
)

// FuzzRequest feeds arbitrary frames through everything the coordinator
// does with a request before and inside the state goroutine: the fast
// paths, UTF-8 and JSON decoding, id checks, and every op against a small
// registry. Nothing may panic, and the registry must stay consistent.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		`{"op":"hello","id":1,"v":1,"player":"Zoë"}`,
		`{"op":"create","id":2,"game":"demo","name":"Alice's game","capacity":4,"port":7777,"meta":{"map":"dunes"}}`,
		`{"op":"create","id":2,"game":"demo","name":"p","capacity":2,"addr":"[::]:9","private":true}`,
		`{"op":"join","id":"x","lobby":"L1","addr":"198.18.0.1:7777","password":"pw"}`,
		`{"op":"quick_join","id":3,"game":"DEMO","port":1}`,
		`{"op":"leave","id":4,"lobby":"L1"}`,
		`{"op":"kick","id":5,"lobby":"L1","member":"m2"}`,
		`{"op":"start","id":6,"lobby":"L1"}`,
		`{"op":"close","id":7,"lobby":"L1"}`,
		`{"op":"set_meta","id":8,"lobby":"L1","meta":{"k":"v"}}`,
		`{"op":"list","id":9,"game":"demo"}`,
		`{"op":"resume","id":1,"v":1,"member":"m1","token":"00000000000000000000000000000000"}`,
		`{"op":"restore","id":1,"v":1,"member":"m1","lobbies":[{"lobby":"L1","owner":true,"game":"demo","name":"n","capacity":4,"port":1}]}`,
		`{"op":"pong","seq":18446744073709551615}`,
		`{"op":"ping","id":1e400}`,
		`{"op":"create","id":[1],"capacity":"four"}`,
		"{\"op\":\"list\",\"game\":\"\xff\"}",
		`[]`, `null`, `{`, ``, `{"op":"join","lobby":"` + "\u0000" + `"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		isPong(line)
		isPing(line)
		if !utf8.Valid(line) {
			return
		}
		salvageID(line)
		var req request
		if json.Unmarshal(line, &req) != nil {
			return
		}
		validID(req.ID)
		seen := netip.MustParseAddr("198.18.0.7")
		addr, err := GameAddr(seen, req.Port, req.Addr)
		if err != nil {
			addr = "198.18.0.7:1"
		}
		r := NewRegistry(RegistryConfig{NewID: counterIDs()})
		owner := Member{ID: "m1", Name: req.Player, Addr: addr}
		l, err := r.Create(owner, CreateSpec{Game: req.Game, Name: req.Name, Capacity: req.Capacity, Meta: req.Meta, Password: req.Password})
		if err != nil {
			l, _ = r.Create(owner, CreateSpec{Game: "demo", Name: "fallback", Capacity: 4})
		}
		other := Member{ID: "m2", Addr: addr}
		r.JoinWithPassword(other, l.ID, req.Password)
		r.QuickJoin(Member{ID: "m3", Addr: addr}, req.Game)
		r.Kick("m1", req.Lobby, req.Member)
		r.SetMeta("m1", req.Lobby, req.Meta)
		r.Start("m1", req.Lobby)
		r.Leave(req.Member, req.Lobby, ReasonLeft)
		for _, e := range req.Restore {
			r.Restore(Member{ID: "m4", Addr: addr}, e.Lobby, CreateSpec{Game: e.Game, Name: e.Name, Capacity: e.Capacity, Meta: e.Meta}, e.Started)
		}
		r.List(req.Game)
		r.RemoveMember("m1", ReasonDisconnected)
		for _, in := range r.List("") {
			if in.Players < 1 || in.Players > in.Capacity || in.Owner == "" {
				t.Fatalf("inconsistent lobby %+v", in)
			}
		}
		r.CloseAll(ReasonShutdown)
		if r.Len() != 0 || len(r.byMember) != 0 || len(r.games) != 0 {
			t.Fatalf("registry not empty after CloseAll: %d lobbies", r.Len())
		}
	})
}

// FuzzClientMessage feeds arbitrary frames to the Go client's decoding of
// coordinator messages: a hostile or broken coordinator must not crash it.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"event":"ping","seq":1}`,
		`{"event":"member_joined","lobby":"L1","players":2,"capacity":4,"member":{"id":"m2","name":"b","addr":"1.2.3.4:5"}}`,
		`{"event":"started","lobby":"L1","peers":[{"id":"m1"},{"id":"m2"}]}`,
		`{"id":1,"ok":true,"v":1,"you":{"id":"m1"},"heartbeat_ms":1000,"misses":3,"resume":"t","restored":[{"lobby":"L1","error":{"code":"unknown_lobby"}}]}`,
		`{"id":"x","ok":false,"error":null}`,
		`{"event":"","id":null}`, `{}`, `[]`, `{"event":"ping","seq":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := &Client{pending: map[uint64]*pendingCall{}, lobbies: map[string]*membership{"L1": {}},
			events: newEventQueue(1, 4)}
		in := new(inbound)
		if json.Unmarshal(line, in) != nil {
			return
		}
		if in.Event != "" && in.Event != "ping" {
			c.notice(in)
		}
		if in.Restored != nil || in.Resumed != nil {
			_ = in.lobbyState.info()
		}
	})
}
