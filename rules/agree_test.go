package rules_test

// The layers agree: every lobby the coordinator's model accepts can be
// announced on the beacon and over mDNS and comes back the same, and
// whatever the rules refuse the coordinator refuses with the code its
// clients branch on, and the beacon and mDNS refuse too. This external
// test package may import all three layers; package rules itself imports
// none of them.

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/beacon/mdns"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/rules"
)

// agreeCases are lobby names with the coordinator's verdict written out
// by hand (not computed from the rules), and the seeds of FuzzLayersAgree.
var agreeCases = []struct {
	name string
	want lobby.Code // "" = accepted
}{
	{"Alice's game", ""},
	{"Zoë's game", ""},
	{"日本語のロビー", ""},
	{"🎮 party", ""},
	{"👩‍💻 dev night", ""},                                  // zero-width joiner inside an emoji sequence
	{"🏳️‍🌈 pride", ""},                                     // ... after a variation selector
	{"ශ්‍රී ලංකා", ""},                                     // ... after a virama
	{"می‌خواهم بازی", ""},                                  // zero-width non-joiner in Persian
	{"a.b (2) @home; \"q\" \\", ""},                        // DNS presentation-form specials, raw
	{strings.Repeat("é", 31) + "x", ""},                    // 63 bytes, 2-byte runes up to the limit
	{strings.Repeat("x", 60) + "語", ""},                    // 63 bytes, a 3-byte rune at the end
	{strings.Repeat("x", 59) + "🎮", ""},                    // 63 bytes, a 4-byte rune at the end
	{strings.Repeat("é", 32), lobby.CodeInvalidName},       // 64 bytes
	{strings.Repeat("x", 61) + "語", lobby.CodeInvalidName}, // 64 bytes, the limit inside a rune
	{strings.Repeat("x", 60) + "🎮", lobby.CodeInvalidName}, // 64 bytes
	{"Alice\u202egame", lobby.CodeInvalidName},             // right-to-left override
	{"\u2066isolate\u2069", lobby.CodeInvalidName},
	{"Ali\u200dce", lobby.CodeInvalidName}, // zero-width joiner joining Latin letters
	{"Ali\u200cce", lobby.CodeInvalidName},
	{"zero\u200bwidth", lobby.CodeInvalidName},
	{"\ufeffbom", lobby.CodeInvalidName},
	{"line\u2028sep", lobby.CodeInvalidName},
	{"para\u2029sep", lobby.CodeInvalidName},
	{"tab\there", lobby.CodeInvalidName},
	{"new\nline", lobby.CodeInvalidName},
	{"\x1b[31mred", lobby.CodeInvalidName},
	{"bad \xff utf8", lobby.CodeInvalidName},
	{"", lobby.CodeInvalidName},
	{"   ", lobby.CodeInvalidName}, // only spaces
	{"\u3000\u00a0", lobby.CodeInvalidName},
}

func TestLayersAgree(t *testing.T) {
	for _, c := range agreeCases {
		if got := checkLayers(t, c.name, "Demo", 4, ""); got != c.want {
			t.Errorf("name %q: coordinator says %q, want %q", c.name, got, c.want)
		}
	}
	for game, want := range map[string]lobby.Code{
		"demo": "", " Beat-Saber.VR ": "", strings.Repeat("g", rules.MaxGameLen): "",
		"": lobby.CodeInvalidGame, "ゲーム": lobby.CodeInvalidGame, "has space": lobby.CodeInvalidGame,
		"_lead": lobby.CodeInvalidGame, strings.Repeat("g", rules.MaxGameLen+1): lobby.CodeInvalidGame,
	} {
		if got := checkLayers(t, "Zoë's game", game, 4, ""); got != want {
			t.Errorf("game %q: coordinator says %q, want %q", game, got, want)
		}
	}
	for capacity, want := range map[int]lobby.Code{2: "", 64: "", 1: lobby.CodeInvalidCapacity, 65: lobby.CodeInvalidCapacity, -1: lobby.CodeInvalidCapacity} {
		if got := checkLayers(t, "Zoë's game", "demo", capacity, ""); got != want {
			t.Errorf("capacity %d: coordinator says %q, want %q", capacity, got, want)
		}
	}
	for id, want := range map[string]lobby.Code{"k3m2x9aqpz": "", strings.Repeat("a", rules.MaxIDLen): "", "a b": lobby.CodeBadRequest, strings.Repeat("a", rules.MaxIDLen+1): lobby.CodeBadRequest} {
		if got := checkLayers(t, "Zoë's game", "demo", 4, id); got != want {
			t.Errorf("restored id %q: coordinator says %q, want %q", id, got, want)
		}
	}
}

// FuzzLayersAgree is TestLayersAgree over arbitrary names, game ids,
// capacities and restored lobby ids.
func FuzzLayersAgree(f *testing.F) {
	for _, c := range agreeCases {
		f.Add(c.name, "demo", 4, "")
	}
	f.Add("x", " Demo ", 64, "k3m2x9aqpz")
	f.Add("x", "ゲーム", 1, "a b")
	f.Fuzz(func(t *testing.T, name, game string, capacity int, id string) {
		checkLayers(t, name, game, capacity, id)
	})
}

// key is a LAN key for the signed forms; deriving one is deliberately
// slow, so all cases share it.
var key = sync.OnceValue(func() beacon.Key {
	k, err := beacon.NewKey("agree-test")
	if err != nil {
		panic(err)
	}
	return k
})

// checkLayers creates a lobby from name, game and capacity on a registry
// (restored under id, unless id is ""), checks that the coordinator's
// verdict is the rules', that the beacon and mDNS reach the same verdict,
// and that an accepted lobby survives every form the LAN carries it in.
// It returns the coordinator's error code, "" when it accepted.
func checkLayers(t *testing.T, name, game string, capacity int, id string) lobby.Code {
	t.Helper()
	reg := lobby.NewRegistry(lobby.RegistryConfig{})
	owner := lobby.Member{ID: "owner1", Name: "Zoë", Addr: "198.18.0.11:7777"}
	spec := lobby.CreateSpec{Game: game, Name: name, Capacity: capacity}
	var l *lobby.Lobby
	var err error
	if id == "" {
		l, err = reg.Create(owner, spec)
	} else {
		l, err = reg.Restore(owner, id, spec, false)
	}

	// The coordinator's verdict is the rules', checked in its order.
	want, wantRule := lobby.Code(""), error(nil)
	normGame, gameErr := rules.NormalizeGame(game)
	switch {
	case id != "" && rules.ValidateLobbyID(id) != nil:
		want, wantRule = lobby.CodeBadRequest, rules.ErrLobbyID // Restore refuses what the LAN could not carry
	case gameErr != nil:
		want, wantRule = lobby.CodeInvalidGame, rules.ErrGame
	case rules.ValidateLobbyName(name) != nil:
		want, wantRule = lobby.CodeInvalidName, rules.ErrName
	case rules.ValidateCapacity(capacity) != nil:
		want, wantRule = lobby.CodeInvalidCapacity, rules.ErrCapacity
	}
	var got lobby.Code
	if err != nil {
		var le *lobby.Error
		if !errors.As(err, &le) || le.Message == "" {
			t.Fatalf("Create(%q, %q, %d): %v is not an *lobby.Error with a message", name, game, capacity, err)
		}
		got = le.Code
	}
	if id != "" && want != lobby.CodeBadRequest && got == lobby.CodeBadRequest {
		return got // restore takes only the coordinator's own id alphabet, a subset of the LAN's
	}
	if got != want {
		t.Fatalf("Create(%q, %q, %d, id %q) = %v, the rules say %q", name, game, capacity, id, err, want)
	}

	// The beacon and mDNS see the lobby as the coordinator would announce
	// it: the game id normalised when it can be.
	bl := beacon.Lobby{ID: cmp.Or(id, "k3m2x9aqpz"), Game: game, Name: name, Players: 1, Capacity: capacity, State: beacon.StateOpen, Port: 7600}
	if gameErr == nil {
		bl.Game = normGame
	}
	if l != nil {
		bl = lanlobby.BeaconLobby(l.Info(), 7600)
	}
	beaconErr := beacon.ValidateLobby(bl)
	instErr, subErr := mdns.ValidateInstance(bl.Name), mdns.ValidateGame(bl.Game)
	_, txtErr := mdns.DecodeTXT(mdns.EncodeTXT(bl), bl.Name)
	if (err == nil) != (beaconErr == nil) || (err == nil) != (instErr == nil && subErr == nil && txtErr == nil) {
		t.Fatalf("%+v: coordinator %v, beacon %v, mDNS instance %v, subtype %v, TXT %v", bl, err, beaconErr, instErr, subErr, txtErr)
	}
	if err != nil {
		if wantRule != nil && !errors.Is(beaconErr, wantRule) {
			t.Errorf("beacon refuses %+v with %v, not wrapping %v", bl, beaconErr, wantRule)
		}
		if !errors.Is(beaconErr, beacon.ErrInvalid) {
			t.Errorf("beacon refuses %+v with %v, not wrapping ErrInvalid", bl, beaconErr)
		}
		if wantRule == rules.ErrName && !errors.Is(instErr, mdns.ErrInvalidName) {
			t.Errorf("mDNS refuses instance %q with %v, not ErrInvalidName", bl.Name, instErr)
		}
		if wantRule == rules.ErrGame && !errors.Is(subErr, mdns.ErrInvalidGame) {
			t.Errorf("mDNS refuses game %q with %v, not ErrInvalidGame", bl.Game, subErr)
		}
		if !errors.Is(txtErr, mdns.ErrInvalidTXT) {
			t.Errorf("mDNS reads the TXT record of %+v with %v, not ErrInvalidTXT", bl, txtErr)
		}
		return got
	}
	carryBeacon(t, bl)
	carryMDNS(t, bl)
	return got
}

// carryBeacon: l encodes, alone and signed, within MaxPacketSize, and
// decodes to itself.
func carryBeacon(t *testing.T, l beacon.Lobby) {
	t.Helper()
	now := time.UnixMilli(1748779200000)
	pkt := &beacon.Packet{Kind: beacon.KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: []beacon.Lobby{l}}
	b, err := beacon.Encode(pkt)
	if err != nil {
		t.Fatalf("beacon cannot encode %+v: %v", l, err)
	}
	signed, err := key().SignPacket(slices.Clone(b), now)
	if err != nil {
		t.Fatalf("beacon cannot sign %+v: %v", l, err)
	}
	for _, dec := range []func() (beacon.Packet, error){
		func() (beacon.Packet, error) { return beacon.Decode(b) },
		func() (beacon.Packet, error) { return key().VerifyPacket(signed, now, time.Second) },
	} {
		back, err := dec()
		if err != nil || len(back.Lobbies) != 1 || back.Lobbies[0] != l {
			t.Fatalf("beacon round trip of %+v: %+v, %v", l, back.Lobbies, err)
		}
	}
	if goodbye, err := beacon.Encode(&beacon.Packet{Kind: beacon.KindGoodbye, Seq: 2, Lobbies: []beacon.Lobby{l}}); err != nil || len(goodbye) > beacon.MaxPacketSize {
		t.Fatalf("beacon goodbye of %+v: %d bytes, %v", l, len(goodbye), err)
	}
	if q, err := beacon.Encode(&beacon.Packet{Kind: beacon.KindQuery, Seq: 3, Game: l.Game}); err != nil {
		t.Fatalf("beacon query for game %q: %v", l.Game, err)
	} else if back, err := beacon.Decode(q); err != nil || back.Game != l.Game {
		t.Fatalf("beacon query round trip for %q: %q, %v", l.Game, back.Game, err)
	}
}

// carryMDNS: l's name is a valid instance name, also renamed after a
// conflict; its game a valid subtype; its TXT record, signed, fits and
// decodes to l.
func carryMDNS(t *testing.T, l beacon.Lobby) {
	t.Helper()
	if err := mdns.ValidateInstance(l.Name); err != nil {
		t.Fatalf("mDNS refuses instance %q: %v", l.Name, err)
	}
	if renamed := rules.Truncate(l.Name, mdns.MaxLabelLen-len(" (99)")) + " (99)"; mdns.ValidateInstance(renamed) != nil {
		t.Fatalf("mDNS refuses the renamed instance %q: %v", renamed, mdns.ValidateInstance(renamed))
	}
	if err := mdns.ValidateGame(l.Game); err != nil {
		t.Fatalf("mDNS refuses subtype %q: %v", l.Game, err)
	}
	now := time.UnixMilli(1748779200000)
	txt := mdns.SignTXT(key(), l.Name, l.Port, mdns.EncodeTXT(l), now)
	size := 0
	for _, s := range txt {
		if len(s) > 255 {
			t.Fatalf("TXT string %q of %+v is over 255 bytes", s, l)
		}
		size += 1 + len(s)
	}
	if size > mdns.MaxTXTLen {
		t.Fatalf("signed TXT of %+v is %d bytes, limit %d", l, size, mdns.MaxTXTLen)
	}
	if err := mdns.VerifyTXT(key(), l.Name, l.Port, txt, now, time.Second); err != nil {
		t.Fatalf("signed TXT of %+v does not verify: %v", l, err)
	}
	back, err := mdns.DecodeTXT(txt, l.Name+" (2)")
	back.Port = l.Port // from the SRV record
	if err != nil || back != l {
		t.Fatalf("TXT round trip of %+v: %+v, %v", l, back, err)
	}
}
