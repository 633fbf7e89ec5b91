package beacon

import (
	"bytes"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

func TestLANMetaPicksWhatFits(t *testing.T) {
	meta := map[string]string{"map": "dunes", "mode": "ctf", "motd": "welcome", "Bad Key": "x",
		"region": "eu-west", "lang": "en", "long": strings.Repeat("v", rules.MaxLANMetaBytes)}
	m := LANMeta(meta, []string{"mode", "map", "Bad Key", "long", "absent", "region", "lang", "map"})
	var got []string
	for k, v := range m.All() {
		got = append(got, k+"="+v)
	}
	// In the host's order; an invalid key, a value past the room and the
	// fifth key are left out, so the lobby is flagged partial.
	if want := "mode=ctf map=dunes region=eu-west lang=en"; strings.Join(got, " ") != want || m.Len() != 4 || !m.Partial() {
		t.Fatalf("LANMeta = %q (%d, partial %v), want %q, partial", got, m.Len(), m.Partial(), want)
	}
	if v, ok := m.Get("region"); !ok || v != "eu-west" {
		t.Fatalf("Get(region) = %q %v", v, ok)
	}
	if _, ok := m.Get("motd"); ok {
		t.Fatal("a key that was not marked is carried")
	}
	// Everything carried: not partial.
	all := LANMeta(map[string]string{"map": "dunes"}, []string{"map"})
	if all.Partial() || !maps.Equal(all.Map(), map[string]string{"map": "dunes"}) {
		t.Fatalf("complete meta: %v partial %v", all.Map(), all.Partial())
	}
	if LANMeta(nil, []string{"map"}) != (Meta{}) {
		t.Fatal("no metadata is not the zero Meta")
	}
}

func TestAttrsRoundTrip(t *testing.T) {
	l := testLobby("k3m2x9aqpz")
	l.Attrs = Attrs{Version: "1.4.2", CreatedMS: 1748779200000,
		Meta: LANMeta(map[string]string{"map": "dunes", "mode": "ctf", "x": "y"}, []string{"map", "mode"})}
	b, err := Encode(&Packet{Kind: KindAnnounce, Seq: 7, TTLSeconds: 6, Lobbies: []Lobby{l}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(b)
	if err != nil || len(p.Lobbies) != 1 || p.Lobbies[0] != l {
		t.Fatalf("round trip: %+v, %v; want %+v", p.Lobbies, err, l)
	}
	// The entries as PROTOCOL.md shows them.
	tail := appendAttrs(nil, &l.Attrs)
	want := "01 08 00000197 2b5cee00" + "02 05 312e342e32" + "03 09 03 6d6170 64756e6573" + "03 08 04 6d6f6465 637466" + "04 00"
	if got := hex.EncodeToString(tail); got != strings.ReplaceAll(want, " ", "") {
		t.Fatalf("entries %s, want %s", got, want)
	}
	if attrsLen(&l.Attrs) != len(tail) {
		t.Fatalf("attrsLen %d, encoded %d", attrsLen(&l.Attrs), len(tail))
	}
}

// TestLargestRecordFits: a lobby with every field and attribute at its
// limit fits its 1-byte record length, and a signed packet.
func TestLargestRecordFits(t *testing.T) {
	meta := map[string]string{}
	var keys []string
	for i := range rules.MaxLANMetaKeys {
		k := strings.Repeat(string(rune('a'+i)), 2)
		keys = append(keys, k)
		meta[k] = strings.Repeat("v", rules.MaxLANMetaBytes/rules.MaxLANMetaKeys-2)
	}
	meta["more"] = "x"
	l := Lobby{ID: strings.Repeat("i", MaxIDLen), Game: strings.Repeat("g", MaxGameLen), Name: strings.Repeat("n", MaxNameLen),
		Players: 1, Capacity: MaxCapacity, State: StateOpen, Port: 7600,
		Attrs: Attrs{Version: strings.Repeat("9", rules.MaxVersionLen), CreatedMS: 1 << 62, Meta: LANMeta(meta, keys), Term: 1<<32 - 1}}
	if l.Meta.Len() != rules.MaxLANMetaKeys || !l.Meta.Partial() {
		t.Fatalf("meta %v", l.Meta)
	}
	if n := lobbyRecordLen(&l); n-1 > 255 || attrsLen(&l.Attrs) != maxAttrsLen {
		t.Fatalf("record %d bytes, attributes %d (max %d)", n, attrsLen(&l.Attrs), maxAttrsLen)
	}
	k, err := NewKey("attrs-test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(&Packet{Kind: KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: []Lobby{l}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1748779200000)
	signed, err := k.SignPacket(b, now)
	if err != nil || len(signed) > MaxPacketSize {
		t.Fatalf("signed: %d bytes, %v", len(signed), err)
	}
	p, err := k.VerifyPacket(signed, now, time.Second)
	if err != nil || p.Lobbies[0] != l {
		t.Fatalf("verified %+v, %v", p.Lobbies, err)
	}
}

// TestDecodeAttrsLenient: the record tail was skipped by version 1, so a
// broken one is not an error; what is lost makes the metadata partial,
// so that a filter does not take a missing key for an absent one.
func TestDecodeAttrsLenient(t *testing.T) {
	for _, c := range []struct {
		name    string
		tail    string
		version string
		keys    string
		partial bool
	}{
		{"empty", "", "", "", false},
		{"unknown type skipped", "7f 02 aabb 02 01 31", "1", "", false},
		{"truncated", "02 05 3132", "", "", false},
		{"out of order ends the reading", "02 01 31 01 08 0000000000000005 03 03 01 61 78", "1", "", false},
		{"second version ignored", "02 01 31 02 01 32", "1", "", false},
		{"bad version dropped", "02 03 312034", "", "", false},
		{"bad key", "03 04 02 4d41 78", "", "", true},
		{"key past value", "03 02 05 61", "", "", true},
		{"bad value", "03 04 01 61 0a62", "", "", true},
		{"duplicate key", "03 03 01 61 78 03 03 01 61 79", "", "a", true},
		{"created of 7 bytes", "01 07 00000000000001", "", "", false},
		{"flag", "04 00", "", "", true},
	} {
		tail, _ := hex.DecodeString(strings.ReplaceAll(c.tail, " ", ""))
		a := decodeAttrs(tail)
		var keys []string
		for k := range a.Meta.All() {
			keys = append(keys, k)
		}
		if a.Version != c.version || strings.Join(keys, ",") != c.keys || a.Meta.Partial() != c.partial || a.CreatedMS != 0 {
			t.Errorf("%s: %+v (keys %v)", c.name, a, keys)
		}
	}
	// Encode never sends what the rules refuse.
	l := testLobby("a")
	l.Version = "1 4"
	if _, err := Encode(&Packet{Kind: KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: []Lobby{l}}); err == nil {
		t.Fatal("a bad version was encoded")
	}
	l = testLobby("a")
	l.Meta = MetaOf(map[string]string{"Map": "x"})
	if err := ValidateLobby(l); err == nil {
		t.Fatal("a key not of the filterable form was accepted")
	}
}

// TestOldDecoderSkipsAttrs: a version 1 decoder reads a record with
// attributes as the record's length says, so the lobbies after it are
// intact (the length byte covers the entries).
func TestOldDecoderSkipsAttrs(t *testing.T) {
	a, b := testLobby("a"), testLobby("b")
	a.Attrs = Attrs{Version: "2.0", CreatedMS: 5, Meta: LANMeta(map[string]string{"map": "dunes"}, []string{"map"})}
	pkt, err := Encode(&Packet{Kind: KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: []Lobby{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	// The first record's length byte, then its fields, then the entries.
	rec := pkt[headerLen : headerLen+1+int(pkt[headerLen])]
	if !bytes.HasSuffix(rec, appendAttrs(nil, &a.Attrs)) {
		t.Fatal("attributes are not at the end of their record")
	}
	p, err := Decode(pkt)
	if err != nil || p.Lobbies[1] != b {
		t.Fatalf("second lobby %+v, %v", p.Lobbies, err)
	}
}
