package mdns

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/rules"
)

func TestAttrsTXTRoundTrip(t *testing.T) {
	l := zoeLobby()
	l.Attrs = beacon.Attrs{Version: "1.4", CreatedMS: 1748779200000,
		Meta: beacon.LANMeta(map[string]string{"map": "dunes", "mode": "ctf", "motd": "hi"}, []string{"map", "mode"})}
	txt := EncodeTXT(l)
	if want := []string{"gv=1.4", "ct=1748779200000", "m.map=dunes", "m.mode=ctf", "mp=1"}; !slices.Equal(txt[7:], want) {
		t.Fatalf("attribute strings %q, want %q", txt[7:], want)
	}
	back, err := DecodeTXT(txt, l.Name)
	back.Port = l.Port
	if err != nil || back != l {
		t.Fatalf("round trip %+v, %v; want %+v", back, err, l)
	}
	// As the beacon: the same lobby encodes to equal attributes both ways.
	b, _ := beacon.Encode(&beacon.Packet{Kind: beacon.KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: []beacon.Lobby{l}})
	if p, err := beacon.Decode(b); err != nil || p.Lobbies[0].Attrs != back.Attrs {
		t.Fatalf("beacon attrs %+v, mDNS %+v (%v)", p.Lobbies[0].Attrs, back.Attrs, err)
	}
}

// TestAttrsTXTLenient: keys are read without case; what breaks the rules
// is left out, and lost metadata makes the lobby partial.
func TestAttrsTXTLenient(t *testing.T) {
	base := EncodeTXT(zoeLobby())
	for _, c := range []struct {
		extra   []string
		version string
		meta    string
		partial bool
	}{
		{[]string{"GV=2.0", "gv=3.0"}, "2.0", "", false},
		{[]string{"gv=2 0"}, "", "", false},
		{[]string{"M.Map=dunes"}, "", "map=dunes", false},
		{[]string{"m.Bad Key=x", "m.ok=1"}, "", "ok=1", true},
		{[]string{"m.a=1", "m.a=2"}, "", "a=1", true},
		{[]string{"m.a=\x1b[31m"}, "", "", true},
		{[]string{"ct=abc", "mp=1"}, "", "", true},
	} {
		l, err := DecodeTXT(append(slices.Clone(base), c.extra...), "x")
		if err != nil {
			t.Fatal(err)
		}
		if l.Version != c.version || l.Meta.String() != strings.TrimSpace(c.meta+map[bool]string{true: " …"}[c.partial]) || l.CreatedMS != 0 {
			t.Errorf("%q: version %q meta %q created %d", c.extra, l.Version, l.Meta, l.CreatedMS)
		}
	}
}

// TestMaxAttrsTXT checks maxAttrsTXTLen, which the compile-time check of
// txtattrs.go rests on, and that the largest lobby's signed record stays
// under 400 bytes.
func TestMaxAttrsTXT(t *testing.T) {
	meta := map[string]string{"more": "x"}
	var keys []string
	for i := range rules.MaxLANMetaKeys {
		k := strings.Repeat(string(rune('a'+i)), 2)
		keys = append(keys, k)
		meta[k] = strings.Repeat("v", rules.MaxLANMetaBytes/rules.MaxLANMetaKeys-2)
	}
	a := beacon.Attrs{Version: strings.Repeat("9", rules.MaxVersionLen), CreatedMS: 1<<63 - 1, Meta: beacon.LANMeta(meta, keys), Term: 1<<32 - 1}
	size := 0
	for _, s := range appendAttrsTXT(nil, a) {
		size += 1 + len(s)
	}
	if size != maxAttrsTXTLen {
		t.Errorf("attributes of the largest lobby are %d bytes, maxAttrsTXTLen says %d", size, maxAttrsTXTLen)
	}
	l := beacon.Lobby{ID: strings.Repeat("i", rules.MaxIDLen), Game: strings.Repeat("g", rules.MaxGameLen),
		Name: strings.Repeat("n", rules.MaxLobbyNameLen), Players: rules.MaxCapacity - 1, Capacity: rules.MaxCapacity,
		State: beacon.StateStarted, Port: 1, Attrs: a}
	k, err := beacon.NewKey("txt-attrs")
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1748779200000)
	txt := SignTXT(k, l.Name, l.Port, EncodeTXT(l), now)
	total := 0
	for _, s := range txt {
		total += 1 + len(s)
	}
	if total > 400 || validateTXT(txt) != nil {
		t.Errorf("signed TXT of the largest lobby: %d bytes (%v)", total, validateTXT(txt))
	}
	if err := VerifyTXT(k, l.Name, l.Port, txt, now, time.Second); err != nil {
		t.Errorf("signature does not cover the attributes as sent: %v", err)
	}
	txt[8] = "ct=1"
	if err := VerifyTXT(k, l.Name, l.Port, txt, now, time.Second); err == nil {
		t.Error("an altered attribute verifies")
	}
}
