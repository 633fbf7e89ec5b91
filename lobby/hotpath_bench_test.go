package lobby

import (
	"encoding/json"
	"net/netip"
	"testing"
	"unicode/utf8"
)

// The pieces of a join's critical path, each alone: what the coordinator's
// reader decodes, what the state goroutine encodes, and what the client's
// reader decodes. They show where the time of a join beyond the TCP round
// trip goes (BenchmarkRoundTrip measures the whole).

var benchJoinLine = []byte(`{"op":"join","id":17,"lobby":"k3m2x9aqpz","port":7777}`)

func BenchmarkDecodeJoinRequest(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !utf8.Valid(benchJoinLine) {
			b.Fatal("utf8")
		}
		req := new(request)
		if err := decodeRequest(benchJoinLine, req); err != nil {
			b.Fatal(err)
		}
		if !validID(req.ID) || missingField(req, benchJoinLine, true) != "" {
			b.Fatal("invalid")
		}
	}
}

func benchLobby(b *testing.B) (*Server, *Lobby, Member) {
	s, err := NewServer(ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	owner := Member{ID: "h7dwb2kq9m", Name: "Alice", Addr: "127.0.0.1:7777"}
	l, err := s.reg.Create(owner, CreateSpec{Game: "demo", Name: "Alice's game", Capacity: 8})
	if err != nil {
		b.Fatal(err)
	}
	you := Member{ID: "p4c8vtzn2a", Name: "Bob", Addr: "127.0.0.1:7778"}
	s.members[you.ID] = &member{id: you.ID, player: you.Name, token: s.creds.token(you.ID)}
	if _, _, err := s.reg.Join(you, l.ID); err != nil {
		b.Fatal(err)
	}
	return s, l, you
}

func BenchmarkEncodeJoinReply(b *testing.B) {
	s, l, you := benchLobby(b)
	local := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.encodeJoined(json.RawMessage("17"), l, you, local, "")
	}
}

func BenchmarkEncodeNotice(b *testing.B) {
	_, l, you := benchLobby(b)
	n := Notice{Kind: NoticeMemberJoined, Lobby: l.Info(), Member: you, Recipients: []string{l.Owner}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		encodeNotice(n)
	}
}

func BenchmarkClientEncodeJoin(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := (JoinOptions{Port: 7777}).withMatch(&request{Op: OpJoin, Lobby: "k3m2x9aqpz", Port: 7777})
		req.ID = json.RawMessage("17")
		marshal(req)
	}
}

func BenchmarkClientDecodeJoinReply(b *testing.B) {
	s, l, you := benchLobby(b)
	line := s.encodeJoined(json.RawMessage("17"), l, you, netip.MustParseAddr("127.0.0.1"), "")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in := new(inbound)
		if err := decodeInbound(line, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientDecodeNotice(b *testing.B) {
	_, l, you := benchLobby(b)
	line := encodeNotice(Notice{Kind: NoticeMemberJoined, Lobby: l.Info(), Member: you})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in := new(inbound)
		if err := decodeInbound(line, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegistryJoinLeave(b *testing.B) {
	s, l, _ := benchLobby(b)
	m := Member{ID: "zq2r8m4kxw", Name: "Carol", Addr: "127.0.0.1:7779"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := s.reg.JoinWith(m, l.ID, JoinSpec{}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.reg.Leave(m.ID, l.ID, ReasonLeft); err != nil {
			b.Fatal(err)
		}
		s.reg.TakeChanges()
	}
}

func TestPrintJoinReply(t *testing.T) {
	s, l, you := benchLobby(&testing.B{})
	t.Logf("%s", s.encodeJoined(json.RawMessage("17"), l, you, netip.MustParseAddr("127.0.0.1"), ""))
	t.Logf("%s", encodeNotice(Notice{Kind: NoticeMemberJoined, Lobby: l.Info(), Member: you}))
}
