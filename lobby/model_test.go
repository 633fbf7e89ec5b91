package lobby

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func counterIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("L%d", n) }
}

func newTestRegistry() *Registry {
	return NewRegistry(RegistryConfig{NewID: counterIDs()})
}

func mem(id string) Member { return Member{ID: id, Name: "n-" + id, Addr: "198.18.0.1:7777"} }

func mustCreate(t *testing.T, r *Registry, owner, game string, capacity int) *Lobby {
	t.Helper()
	l, err := r.Create(mem(owner), CreateSpec{Game: game, Name: "lobby of " + owner, Capacity: capacity})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return l
}

func mustJoin(t *testing.T, r *Registry, who, lobbyID string) []Notice {
	t.Helper()
	_, n, err := r.Join(mem(who), lobbyID)
	if err != nil {
		t.Fatalf("%s join %s: %v", who, lobbyID, err)
	}
	return n
}

func TestCreateValidation(t *testing.T) {
	r := newTestRegistry()
	cases := []struct {
		spec CreateSpec
		want error
	}{
		{CreateSpec{Game: "demo", Name: "Alice's game", Capacity: 2}, nil},
		{CreateSpec{Game: "Demo.VR-2_x", Name: "Ünïcode ✓", Capacity: 64}, nil},
		{CreateSpec{Game: "", Name: "x", Capacity: 4}, ErrInvalidGame},
		{CreateSpec{Game: "has space", Name: "x", Capacity: 4}, ErrInvalidGame},
		{CreateSpec{Game: "-lead", Name: "x", Capacity: 4}, ErrInvalidGame},
		{CreateSpec{Game: strings.Repeat("g", MaxGameLen+1), Name: "x", Capacity: 4}, ErrInvalidGame},
		{CreateSpec{Game: "demo", Name: "", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "   ", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: strings.Repeat("n", MaxLobbyNameLen+1), Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: strings.Repeat("é", 32), Capacity: 4}, ErrInvalidName}, // 64 bytes
		{CreateSpec{Game: "demo", Name: "bell\a", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "new\nline", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "bad \xff utf8", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "Alice\u202egame", Capacity: 4}, ErrInvalidName}, // the beacon and mDNS could not carry it
		{CreateSpec{Game: "demo", Name: "Ali\u200dce", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "soft\u00adhyphen", Capacity: 4}, ErrInvalidName},
		{CreateSpec{Game: "demo", Name: "Zoë's game", Capacity: 4}, nil},
		{CreateSpec{Game: "demo", Name: "日本語のロビー", Capacity: 4}, nil},
		{CreateSpec{Game: "demo", Name: "🎮 party", Capacity: 4}, nil},
		{CreateSpec{Game: "demo", Name: "👩‍💻 night", Capacity: 4}, nil},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 4, Meta: map[string]string{"map": "a\u202eb"}}, ErrInvalidMeta},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 1}, ErrInvalidCapacity},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 65}, ErrInvalidCapacity},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 4, Meta: map[string]string{"": "v"}}, ErrInvalidMeta},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 4, Meta: map[string]string{"k": strings.Repeat("v", MaxMetaValueLen+1)}}, ErrInvalidMeta},
		{CreateSpec{Game: "demo", Name: "x", Capacity: 4, Meta: map[string]string{"map": "forest", "mode": "ctf"}}, nil},
	}
	for i, tc := range cases {
		_, err := r.Create(mem(fmt.Sprintf("m%d", i)), tc.spec)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("case %d %+v: err = %v, want %v", i, tc.spec, err, tc.want)
		}
	}
	_, err := r.Create(mem("bidi"), CreateSpec{Game: "demo", Name: "Alice\u202egame", Capacity: 4})
	if e, ok := err.(*Error); !ok || e.Code != CodeInvalidName || !strings.Contains(e.Message, `"Alice\u202egame" holds bidi control U+202E`) {
		t.Errorf("bidi name: %#v, want invalid_name saying why", err)
	}
	if got := r.List("demo.vr-2_x"); len(got) != 1 || got[0].Game != "demo.vr-2_x" {
		t.Errorf("game id not normalised: %+v", got)
	}
}

func TestJoinLeaveAndStates(t *testing.T) {
	r := newTestRegistry()
	l := mustCreate(t, r, "a", "demo", 3)
	if l.State != StateOpen || l.Owner != "a" || l.Successor() != "" {
		t.Fatalf("new lobby: %+v", l.Info())
	}
	n := mustJoin(t, r, "b", l.ID)
	if len(n) != 1 || n[0].Kind != NoticeMemberJoined || n[0].Member.ID != "b" ||
		!slices.Equal(n[0].Recipients, []string{"a"}) || n[0].Lobby.Successor != "b" || n[0].Lobby.Owner != "a" {
		t.Fatalf("join notice: %+v", n)
	}
	mustJoin(t, r, "c", l.ID)
	if l.State != StateFull {
		t.Fatalf("state = %s, want full", l.State)
	}
	if _, _, err := r.Join(mem("d"), l.ID); !errors.Is(err, ErrLobbyFull) {
		t.Fatalf("join full: %v", err)
	}
	if _, _, err := r.Join(mem("b"), l.ID); !errors.Is(err, ErrAlreadyMember) {
		t.Fatalf("join twice: %v", err)
	}
	if _, _, err := r.Join(mem("d"), "nope"); !errors.Is(err, ErrUnknownLobby) {
		t.Fatalf("join unknown: %v", err)
	}
	n, err := r.Leave("c", l.ID, ReasonLeft)
	if err != nil || len(n) != 1 || n[0].Kind != NoticeMemberLeft || n[0].Reason != ReasonLeft ||
		!slices.Equal(n[0].Recipients, []string{"a", "b"}) || n[0].Lobby.State != StateOpen || n[0].Lobby.Players != 2 {
		t.Fatalf("leave: %+v %v", n, err)
	}
	if _, err := r.Leave("c", l.ID, ReasonLeft); !errors.Is(err, ErrNotMember) {
		t.Fatalf("leave twice: %v", err)
	}
	if got := r.LobbiesOf("c"); len(got) != 0 {
		t.Fatalf("c still linked to %v", got)
	}
}

func TestOwnerMigrationAndSuccessor(t *testing.T) {
	r := newTestRegistry()
	l := mustCreate(t, r, "a", "demo", 4)
	mustJoin(t, r, "b", l.ID)
	mustJoin(t, r, "c", l.ID)
	mustJoin(t, r, "d", l.ID)
	n, err := r.Leave("a", l.ID, ReasonTimeout)
	if err != nil || len(n) != 2 {
		t.Fatalf("owner leave: %+v %v", n, err)
	}
	if n[0].Kind != NoticeMemberLeft || n[0].Reason != ReasonTimeout || n[0].Lobby.Owner != "b" || n[0].Lobby.Successor != "c" {
		t.Fatalf("member_left: %+v", n[0])
	}
	if n[1].Kind != NoticeOwnerChanged || n[1].Lobby.Owner != "b" || n[1].Lobby.Successor != "c" ||
		!slices.Equal(n[1].Recipients, []string{"b", "c", "d"}) {
		t.Fatalf("owner_changed: %+v", n[1])
	}
	// A non-owner leaving does not change the owner.
	n, _ = r.Leave("c", l.ID, ReasonLeft)
	if len(n) != 1 || n[0].Lobby.Owner != "b" || n[0].Lobby.Successor != "d" {
		t.Fatalf("non-owner leave: %+v", n)
	}
	// The old owner rejoining is a normal member at the back.
	mustJoin(t, r, "a", l.ID)
	if l.Owner != "b" || l.Successor() != "d" || l.Members[2].ID != "a" {
		t.Fatalf("after rejoin: %+v", l.Members)
	}
}

func TestEmptyLobbyCloses(t *testing.T) {
	r := newTestRegistry()
	l := mustCreate(t, r, "a", "demo", 2)
	n, err := r.Leave("a", l.ID, ReasonDisconnected)
	if err != nil || len(n) != 0 {
		t.Fatalf("last leave: %+v %v", n, err)
	}
	if r.Get(l.ID) != nil || r.Len() != 0 || len(r.games) != 0 {
		t.Fatalf("empty lobby kept: %d lobbies, %d games", r.Len(), len(r.games))
	}
	if _, _, err := r.QuickJoin(mem("b"), "demo"); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("quick-join into closed lobby: %v", err)
	}
}

func TestKickStartClosePermissions(t *testing.T) {
	r := newTestRegistry()
	l := mustCreate(t, r, "a", "demo", 4)
	mustJoin(t, r, "b", l.ID)
	mustJoin(t, r, "c", l.ID)
	other := mustCreate(t, r, "x", "demo", 4)

	if _, err := r.Kick("b", l.ID, "c"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("kick by member: %v", err)
	}
	if _, err := r.Kick("x", l.ID, "c"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("kick by stranger: %v", err)
	}
	if _, err := r.Kick("a", l.ID, "x"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("kick non-member: %v", err)
	}
	if _, err := r.Kick("a", l.ID, "a"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("kick self: %v", err)
	}
	n, err := r.Kick("a", l.ID, "c")
	if err != nil || len(n) != 1 || n[0].Reason != ReasonKicked || !slices.Equal(n[0].Recipients, []string{"a", "b", "c"}) {
		t.Fatalf("kick: %+v %v", n, err)
	}
	if _, err := r.Start("b", l.ID); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("start by member: %v", err)
	}
	if _, err := r.CloseLobby("x", l.ID); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("close by stranger: %v", err)
	}
	if _, err := r.SetMeta("b", l.ID, map[string]string{"k": "v"}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("meta by member: %v", err)
	}
	n, err = r.SetMeta("a", l.ID, map[string]string{"map": "dunes"})
	if err != nil || n[0].Kind != NoticeUpdated || n[0].Lobby.Meta["map"] != "dunes" {
		t.Fatalf("set meta: %+v %v", n, err)
	}
	n, err = r.Start("a", l.ID)
	if err != nil || n[0].Kind != NoticeStarted || len(n[0].Peers) != 2 || l.State != StateStarted {
		t.Fatalf("start: %+v %v", n, err)
	}
	if _, err := r.Start("a", l.ID); !errors.Is(err, ErrLobbyStarted) {
		t.Fatalf("start twice: %v", err)
	}
	if _, _, err := r.Join(mem("d"), l.ID); !errors.Is(err, ErrLobbyStarted) {
		t.Fatalf("join started: %v", err)
	}
	// Started lobbies are out of matchmaking; the other open one is chosen.
	got, _, err := r.QuickJoin(mem("d"), "demo")
	if err != nil || got.ID != other.ID {
		t.Fatalf("quick-join skipped started lobby? got %v %v", got, err)
	}
	// A started lobby losing a member stays started.
	if n, _ := r.Leave("b", l.ID, ReasonLeft); n[0].Lobby.State != StateStarted {
		t.Fatalf("state after leave: %s", n[0].Lobby.State)
	}
	n, err = r.CloseLobby("a", l.ID)
	if err != nil || len(n) != 1 || n[0].Kind != NoticeClosed || n[0].Reason != ReasonOwnerClosed ||
		!slices.Equal(n[0].Recipients, []string{"a"}) || r.Get(l.ID) != nil {
		t.Fatalf("close: %+v %v", n, err)
	}
	if len(r.LobbiesOf("a")) != 0 {
		t.Fatal("owner still linked to closed lobby")
	}
}

func TestQuickJoinPicksClosestToFull(t *testing.T) {
	r := newTestRegistry()
	big := mustCreate(t, r, "o1", "demo", 8) // 7 free
	mid := mustCreate(t, r, "o2", "demo", 4) // 3 free
	mustJoin(t, r, "p1", mid.ID)             // 2 free
	tie := mustCreate(t, r, "o3", "demo", 3) // 2 free, newer than mid
	mustCreate(t, r, "o4", "other", 2)       // 1 free, other game
	full := mustCreate(t, r, "o5", "demo", 2)
	mustJoin(t, r, "p2", full.ID) // full: never chosen

	steps := []struct {
		who  string
		want string
	}{
		{"q1", mid.ID}, // 2 free, oldest of the tie -> now 1 free
		{"q2", mid.ID}, // 1 free -> full
		{"q3", tie.ID}, // 2 free -> 1 free
		{"q4", tie.ID}, // -> full
		{"q5", big.ID},
	}
	for _, s := range steps {
		l, n, err := r.QuickJoin(mem(s.who), "DEMO")
		if err != nil || l.ID != s.want {
			t.Fatalf("%s: got %v %v, want %s", s.who, l, err, s.want)
		}
		if n[0].Member.ID != s.who {
			t.Fatalf("%s: notice %+v", s.who, n)
		}
	}
	if _, _, err := r.QuickJoin(mem("z"), "nogame"); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("unknown game: %v", err)
	}
	if _, _, err := r.QuickJoin(mem("z"), "bad game"); !errors.Is(err, ErrInvalidGame) {
		t.Fatalf("bad game: %v", err)
	}
	// A leave reopens a full lobby and makes it the best choice again.
	r.Leave("q2", mid.ID, ReasonLeft)
	if l, _, _ := r.QuickJoin(mem("q6"), "demo"); l.ID != mid.ID {
		t.Fatalf("reopened lobby not chosen: %s", l.ID)
	}
}

func TestQuickJoinSkipsLobbiesAlreadyJoined(t *testing.T) {
	r := newTestRegistry()
	a := mustCreate(t, r, "o1", "demo", 3)
	b := mustCreate(t, r, "o2", "demo", 3)
	mustJoin(t, r, "p", a.ID)
	l, _, err := r.QuickJoin(mem("o1"), "demo")
	if err != nil || l.ID != b.ID {
		t.Fatalf("got %v %v, want %s", l, err, b.ID)
	}
	if _, _, err := r.QuickJoin(mem("o1"), "demo"); !errors.Is(err, ErrNoOpenLobby) {
		t.Fatalf("only own lobbies left: %v", err)
	}
}

func TestMaxLobbiesPerMember(t *testing.T) {
	r := NewRegistry(RegistryConfig{MaxLobbiesPerMember: 2, NewID: counterIDs()})
	mustCreate(t, r, "a", "demo", 2)
	l2 := mustCreate(t, r, "b", "demo", 3)
	mustJoin(t, r, "a", l2.ID)
	if _, err := r.Create(mem("a"), CreateSpec{Game: "demo", Name: "x", Capacity: 2}); !errors.Is(err, ErrTooManyLobbies) {
		t.Fatalf("create over limit: %v", err)
	}
	l3 := mustCreate(t, r, "c", "demo", 3)
	if _, _, err := r.Join(mem("a"), l3.ID); !errors.Is(err, ErrTooManyLobbies) {
		t.Fatalf("join over limit: %v", err)
	}
}

func TestRemoveMemberAndCloseAll(t *testing.T) {
	r := newTestRegistry()
	l1 := mustCreate(t, r, "a", "demo", 3)
	l2 := mustCreate(t, r, "b", "demo", 3)
	mustJoin(t, r, "a", l2.ID)
	mustJoin(t, r, "c", l1.ID)
	n := r.RemoveMember("a", ReasonDisconnected)
	// l1: a (owner) leaves -> member_left + owner_changed to c; l2: member_left to b.
	if len(n) != 3 {
		t.Fatalf("notices: %+v", n)
	}
	if len(r.LobbiesOf("a")) != 0 || l1.Owner != "c" {
		t.Fatalf("after remove: owner %s, links %v", l1.Owner, r.LobbiesOf("a"))
	}
	n = r.CloseAll(ReasonShutdown)
	if len(n) != 2 || r.Len() != 0 || len(r.byMember) != 0 || len(r.games) != 0 {
		t.Fatalf("close all: %d notices, %d lobbies, %d links", len(n), r.Len(), len(r.byMember))
	}
	for _, x := range n {
		if x.Kind != NoticeClosed || x.Reason != ReasonShutdown || x.Lobby.State != StateClosed {
			t.Fatalf("close notice: %+v", x)
		}
	}
}

func TestListOrderAndFilter(t *testing.T) {
	r := newTestRegistry()
	mustCreate(t, r, "a", "demo", 2)
	mustCreate(t, r, "b", "other", 2)
	mustCreate(t, r, "c", "demo", 2)
	all := r.List("")
	if len(all) != 3 || all[0].Owner != "a" || all[2].Owner != "c" {
		t.Fatalf("list all: %+v", all)
	}
	demo := r.List("demo")
	if len(demo) != 2 || demo[1].Owner != "c" {
		t.Fatalf("list demo: %+v", demo)
	}
}

func TestRandomIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := RandomID()
		if len(id) != 10 || seen[id] || strings.ContainsAny(id, "01lo") {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestValidatePlayerName(t *testing.T) {
	for name, ok := range map[string]bool{"": true, "Zoë": true, "tab\there": false, strings.Repeat("p", MaxPlayerNameLen+1): false, "\u2028": false, "Bob\u202e": false, "🎮 Zoë": true} {
		if err := ValidatePlayerName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestTakeChanges(t *testing.T) {
	r := NewRegistry(RegistryConfig{NewID: counterIDs(), TrackChanges: true})
	l := mustCreate(t, r, "a", "demo", 2)
	mustJoin(t, r, "b", l.ID)
	r.Leave("b", l.ID, ReasonLeft)
	r.Leave("a", l.ID, ReasonLeft) // empties and closes it
	got := r.TakeChanges()
	states := []State{}
	players := []int{}
	for _, in := range got {
		states = append(states, in.State)
		players = append(players, in.Players)
	}
	if !slices.Equal(states, []State{StateOpen, StateFull, StateOpen, StateClosed}) || !slices.Equal(players, []int{1, 2, 1, 0}) {
		t.Fatalf("changes: %+v", got)
	}
	if len(r.TakeChanges()) != 0 {
		t.Fatal("changes not forgotten")
	}
}
