package lobby

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

// checkFastDecode decodes line with the fast path and, when it takes the
// message, with encoding/json too: both must accept it and agree on every
// field. It reports whether the fast path took it.
func checkFastDecode(t *testing.T, line []byte) (tookRequest, tookInbound bool) {
	t.Helper()
	var fastReq, slowReq request
	if decodeRequestFast(line, &fastReq) {
		tookRequest = true
		if err := json.Unmarshal(line, &slowReq); err != nil {
			t.Fatalf("fast request decode took %q, encoding/json refuses it: %v", line, err)
		}
		if !reflect.DeepEqual(fastReq, slowReq) {
			t.Fatalf("request %q:\n fast %#v\n json %#v", line, fastReq, slowReq)
		}
	}
	var fastIn, slowIn inbound
	if decodeInboundFast(line, &fastIn) {
		tookInbound = true
		if err := json.Unmarshal(line, &slowIn); err != nil {
			t.Fatalf("fast inbound decode took %q, encoding/json refuses it: %v", line, err)
		}
		if !reflect.DeepEqual(fastIn, slowIn) {
			t.Fatalf("inbound %q:\n fast %#v\n json %#v", line, fastIn, slowIn)
		}
	}
	return tookRequest, tookInbound
}

// Every message the coordinator sends and every request the client sends,
// with random content in every field, decodes the same by the fast path as
// by encoding/json; the fast path takes most of them.
func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	types := []any{&joinReply{}, &notice{}, &helloReply{}, &okReply{}, &errorReply{}, &request{}, &lobbyState{}}
	for _, proto := range types {
		typ := reflect.TypeOf(proto).Elem()
		taken := 0
		for i := 0; i < 3000; i++ {
			v := reflect.New(typ)
			str := randomWireString
			if i%2 == 0 {
				str = plainWireString
			}
			fillRandom(r, v.Elem(), 0, str)
			line, err := json.Marshal(v.Interface())
			if err != nil {
				continue
			}
			req, in := checkFastDecode(t, line)
			if typ.Name() == "request" && req || typ.Name() != "request" && in {
				taken++
			}
		}
		if taken < 50 {
			t.Errorf("%s: the fast path took only %d of 3000 messages", typ, taken)
		}
	}
}

// The messages of a join take the fast path (they are what it is for).
func TestFastDecodeTakesTheHotMessages(t *testing.T) {
	for _, line := range []string{
		`{"op":"join","id":17,"lobby":"k3m2x9aqpz","port":7777}`,
		`{"op":"quick_join","id":3,"game":"demo","port":1}`,
		`{"op":"hello","id":1,"v":1,"client":"lanlobby-go/0.1","player":"Zoë","key":"k"}`,
		`{"op":"pong","seq":18}`,
	} {
		if req, _ := checkFastDecode(t, []byte(line)); !req {
			t.Errorf("request %s not taken by the fast path", line)
		}
	}
	s, l, you := benchLobby(&testing.B{})
	for _, line := range [][]byte{
		s.encodeJoined(json.RawMessage("17"), l, you, netip.MustParseAddr("127.0.0.1"), ""),
		encodeNotice(Notice{Kind: NoticeMemberJoined, Lobby: l.Info(), Member: you}),
		encodeOK(json.RawMessage(`"x"`)),
		encodeError(json.RawMessage(`2`), errorf(CodeLobbyFull, "full")),
	} {
		if _, in := checkFastDecode(t, line); !in {
			t.Errorf("message %s not taken by the fast path", line)
		}
	}
}

// Odd but valid JSON: whatever the fast path takes, it decodes as
// encoding/json does; what it cannot be sure of it leaves.
func TestFastDecodeEdges(t *testing.T) {
	for _, line := range []string{
		` { "op" : "join" , "id" : 1 , "lobby" : "L" } `,
		`{"op":"join","op":"leave"}`,
		`{"op":"JOIN","OP":"join"}`,
		`{"Op":"join"}`,
		`{"op":"join","id":null,"lobby":null,"port":null,"private":null,"meta":null}`,
		`{"op":"x","id":"a\"b","meta":{"a":"1","a":"2","b":null}}`,
		`{"op":"x","id":-0}`, `{"op":"x","id":1.5}`, `{"op":"x","id":01}`, `{"op":"x","port":1e2}`,
		`{"op":"x","port":99999999999999999999}`, `{"op":"x","port":-7}`, `{"op":"pong","seq":-1}`,
		`{"op":"x","filterable":[],"party":["a",null]}`,
		`{"op":"x","name":"\u00e9"}`, "{\"op\":\"x\",\"name\":\"\xff\"}", "{\"op\":\"x\",\"name\":\"a\x01\"}",
		`{"op":"x"} {}`, `{"op":"x",}`, `{"op":"x"`, `null`, `[]`, `{}`, ``,
		`{"event":"member_joined","member":{"id":"a","name":"b","addr":"c","id":"d"},"peers":[null,{"id":"x"}]}`,
		`{"id":1,"ok":true,"you":null,"peers":[],"error":null,"reservation":{"id":"r","party":[]}}`,
		`{"id":1,"ok":false,"error":{"code":"lobby_full","message":"m","extra":1}}`,
		`{"event":"ping","seq":18446744073709551615}`, `{"id":true,"ok":"yes"}`,
		`{"id":[1],"ok":true}`, `{"id":{"a":1},"ok":true}`, `{"state":"open","reason":"left","sub":3,"banned":true}`,
	} {
		checkFastDecode(t, []byte(line))
	}
}

// FuzzWireDecode: on any input, whatever the fast decoders take they
// decode exactly as encoding/json does.
func FuzzWireDecode(f *testing.F) {
	for _, s := range []string{
		`{"op":"join","id":17,"lobby":"k3m2x9aqpz","port":7777}`,
		`{"op":"create","id":2,"game":"demo","name":"n","capacity":4,"meta":{"map":"dunes"},"filterable":["map"]}`,
		`{"id":17,"ok":true,"lobby":"L","game":"demo","name":"n","players":2,"capacity":8,"state":"open","owner":"a","successor":"b","created_ms":1796659020057,"you":{"id":"b","name":"Bob","addr":"127.0.0.1:7778"},"peers":[{"id":"a","name":"Alice","addr":"127.0.0.1:7777"}],"resume":"f6","credential":"6d","lobby_secret":"da"}`,
		`{"event":"member_left","lobby":"L","players":1,"member":{"id":"b"},"reason":"kicked","banned":true}`,
		`{"id":"x","ok":false,"error":{"code":"lobby_full","message":"full"}}`,
		`{"event":"ping","seq":1}`, `{"id":1,"ok":true,"reservation":{"id":"r","token":"t","seats":2,"party":["k"],"expires_in_ms":5}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkFastDecode(t, line)
	})
}
