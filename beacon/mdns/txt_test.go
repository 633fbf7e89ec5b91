package mdns

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/rules"
)

func TestTXTRoundTrip(t *testing.T) {
	l := beacon.Lobby{ID: "zoe1", Game: "demo", Name: "Zoë's game", Players: 3, Capacity: 8, State: beacon.StateStarted, Port: 7600}
	txt := EncodeTXT(l)
	want := []string{"v=1", "id=zoe1", "g=demo", "p=3", "c=8", "s=started", "n=Zoë's game"}
	if !slices.Equal(txt, want) {
		t.Fatalf("EncodeTXT = %q, want %q", txt, want)
	}
	size := 0
	for _, s := range txt {
		size += 1 + len(s)
	}
	if size >= 400 {
		t.Errorf("TXT is %d bytes", size)
	}
	got, err := DecodeTXT(txt, "Zoë's game (2)")
	if err != nil {
		t.Fatal(err)
	}
	got.Port = l.Port
	if got != l {
		t.Errorf("DecodeTXT = %+v, want %+v", got, l)
	}
}

func TestDecodeTXT(t *testing.T) {
	base := []string{"v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open"}
	with := func(extra ...string) []string { return append(slices.Clone(extra), base...) }
	cases := []struct {
		name  string
		txt   []string
		ok    bool
		name2 string // expected lobby name
	}{
		{"minimal, name from instance", base, true, "inst"},
		{"upper-case keys", []string{"V=1", "ID=a1", "G=demo", "P=1", "C=4", "S=OPEN"}, true, "inst"},
		{"first occurrence wins", with("id=first", "n=Named"), true, "Named"},
		{"unknown keys ignored", with("x=1", "flag"), true, "inst"},
		{"empty n", with("n="), true, "inst"},
		{"no version", base[1:], false, ""},
		{"version 2", with("v=2"), false, ""},
		{"no id", []string{"v=1", "g=demo", "p=1", "c=4", "s=open"}, false, ""},
		{"bad id", with("id=a b"), false, ""},
		{"players over capacity", with("p=5"), false, ""},
		{"capacity 1", with("c=1"), false, ""},
		{"bad number", with("p=x"), false, ""},
		{"long number", with("p=0001"), false, ""},
		{"bad state", with("s=gone"), false, ""},
		{"control char in name", with("n=a\x1bb"), false, ""},
		{"bidi override in name", with("n=Alice\u202egame"), false, ""},
		{"blank name", with("n=  "), false, ""},
		{"game typed by hand", with("g= Demo"), true, "inst"},
		{"game not an id", with("g=ゲーム"), false, ""},
		{"empty", nil, false, ""},
	}
	for _, c := range cases {
		l, err := DecodeTXT(c.txt, "inst")
		if c.ok != (err == nil) {
			t.Errorf("%s: err %v", c.name, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidTXT) {
			t.Errorf("%s: %v does not wrap ErrInvalidTXT", c.name, err)
		}
		if c.ok && l.Game != "demo" {
			t.Errorf("%s: game %q, want the normal form", c.name, l.Game)
		}
		if c.ok && l.Name != c.name2 {
			t.Errorf("%s: name %q, want %q", c.name, l.Name, c.name2)
		}
	}
}

func TestTXTEscapingMatchesMiekg(t *testing.T) {
	raw := []string{`plain`, `q"uote`, `back\slash`, "n=Zoë", "bin\x00\xff", ""}
	rr := txtRR(instanceName("x"), raw, 120)
	m := new(dns.Msg)
	m.Answer = []dns.RR{rr}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(b); err != nil {
		t.Fatal(err)
	}
	got := back.Answer[0].(*dns.TXT)
	if !slices.Equal(got.Txt, rr.Txt) {
		t.Errorf("escaped %q, miekg %q", rr.Txt, got.Txt)
	}
	if !slices.Equal(txtStrings(got), raw) {
		t.Errorf("raw %q, want %q", txtStrings(got), raw)
	}
	if keyOf(got) != keyOf(rr) {
		t.Error("key of received TXT differs from built one")
	}
}

func TestValidateTXT(t *testing.T) {
	long := string(make([]byte, 256))
	if validateTXT([]string{long}) == nil {
		t.Error("256-byte string accepted")
	}
	var many []string
	for range 6 {
		many = append(many, string(make([]byte, 250)))
	}
	if validateTXT(many) == nil {
		t.Error("1506-byte record accepted")
	}
	if err := validateTXT(EncodeTXT(zoeLobby())); err != nil {
		t.Error(err)
	}
}

// TestMaxLobbyTXT checks maxLobbyTXTLen, which the compile-time checks of
// txt.go rest on, against a lobby with every field at its rules limit.
func TestMaxLobbyTXT(t *testing.T) {
	l := beacon.Lobby{ID: strings.Repeat("i", rules.MaxIDLen), Game: strings.Repeat("g", rules.MaxGameLen),
		Name: strings.Repeat("n", rules.MaxLobbyNameLen), Players: rules.MaxCapacity - 1, Capacity: rules.MaxCapacity,
		State: beacon.StateStarted, Port: 1}
	if err := beacon.ValidateLobby(l); err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, s := range EncodeTXT(l) {
		size += 1 + len(s)
	}
	if size != maxLobbyTXTLen {
		t.Errorf("TXT of the largest lobby is %d bytes, maxLobbyTXTLen says %d", size, maxLobbyTXTLen)
	}
	if err := validateTXTRoom(EncodeTXT(l), signedTXTOverhead); err != nil {
		t.Error(err)
	}
}
