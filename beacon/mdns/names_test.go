package mdns

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// nameCases are instance labels that need escaping, and how miekg/dns
// presents them after unpacking.
var nameCases = []struct{ raw, escaped string }{
	{"plain", "plain"},
	{"Alice's game", `Alice\'s\ game`},
	{"Zoë's game", `Zo\195\171\'s\ game`},
	{"a.b", `a\.b`},
	{`back\slash`, `back\\slash`},
	{`q"uote (x);@y`, `q\"uote\ \(x\)\;\@y`},
	{"日本語", `\230\151\165\230\156\172\232\170\158`},
	{"tab\there", `tab\009here`},
}

func TestEscapeLabelMatchesMiekg(t *testing.T) {
	for _, c := range nameCases {
		if got := escapeLabel(c.raw); got != c.escaped {
			t.Errorf("escapeLabel(%q) = %q, want %q", c.raw, got, c.escaped)
		}
		// Pack our form, unpack it with miekg/dns: the same string and the
		// same raw label come back.
		name := instanceName(c.raw)
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeSRV)
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("%q: pack: %v", c.raw, err)
		}
		var back dns.Msg
		if err := back.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if back.Question[0].Name != name {
			t.Errorf("%q: round trip %q, want %q", c.raw, back.Question[0].Name, name)
		}
		if label, ok := parseInstance(back.Question[0].Name); !ok || label != c.raw {
			t.Errorf("parseInstance(%q) = %q, %v; want %q", back.Question[0].Name, label, ok, c.raw)
		}
		labels, ok := splitName(name)
		if !ok || len(labels) != 4 || labels[0] != c.raw {
			t.Errorf("splitName(%q) = %q, %v", name, labels, ok)
		}
	}
}

func TestCanonName(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"_LanLobby._TCP.local.", ServiceType, true},
		{`Alice\'s\ Game._lanlobby._tcp.local.`, `alice\'s\ game._lanlobby._tcp.local.`, true},
		{`Alice's Game._lanlobby._tcp.local.`, `alice\'s\ game._lanlobby._tcp.local.`, true}, // unescaped input
		{`Zo\195\171._lanlobby._tcp.local.`, "Zoë._lanlobby._tcp.local.", true},
		{`Zo\195\171._lanlobby._tcp.local.`, `ZO\195\139._lanlobby._tcp.local.`, false}, // ë vs Ë: not ASCII, not folded
		{`a\.b._lanlobby._tcp.local.`, "a.b._lanlobby._tcp.local.", false},              // one label vs two
		{`a\046b.local.`, `a\.b.local.`, true},
		{"x.local.", "y.local.", false},
		{`bad\`, `bad\`, true}, // unparsable names equal only themselves
		{`bad\`, `bad`, false},
	}
	for _, c := range cases {
		if got := sameName(c.a, c.b); got != c.same {
			t.Errorf("sameName(%q, %q) = %v, want %v (%q, %q)", c.a, c.b, got, c.same, canonName(c.a), canonName(c.b))
		}
	}
}

func TestSubtypeName(t *testing.T) {
	for _, g := range []string{"demo", "my.game", "a_b-c", "x"} {
		n := subtypeName(g)
		got, ok := parseSubtype(n)
		if !ok || got != g {
			t.Errorf("parseSubtype(%q) = %q, %v", n, got, ok)
		}
	}
	if subtypeName("my.game") != `_my\.game._sub._lanlobby._tcp.local.` {
		t.Errorf("subtype with a dot: %q", subtypeName("my.game"))
	}
	for _, n := range []string{ServiceType, "_demo._sub._other._tcp.local.", "demo._sub._lanlobby._tcp.local."} {
		if _, ok := parseSubtype(n); ok {
			t.Errorf("parseSubtype(%q) accepted", n)
		}
	}
	if _, ok := parseInstance("x._other._tcp.local."); ok {
		t.Error("instance of another type accepted")
	}
}

func TestRenamed(t *testing.T) {
	cases := []struct {
		base string
		n    int
		want string
	}{
		{"Alice's game", 1, "Alice's game"},
		{"Alice's game", 2, "Alice's game (2)"},
		{"Alice's game", 3, "Alice's game (3)"},
		{"Game (2)", 2, "Game (2) (2)"},
		{strings.Repeat("x", 63), 2, strings.Repeat("x", 59) + " (2)"},
		{strings.Repeat("é", 31) + "x", 12, strings.Repeat("é", 29) + " (12)"},  // cut on a rune boundary
		{strings.Repeat("x", 55) + "👩‍💻", 2, strings.Repeat("x", 55) + "👩 (2)"}, // no joiner left joining nothing
	}
	for _, c := range cases {
		got := renamed(c.base, c.n)
		if got != c.want {
			t.Errorf("renamed(%q, %d) = %q, want %q", c.base, c.n, got, c.want)
		}
		if len(got) > MaxLabelLen || ValidateInstance(got) != nil {
			t.Errorf("renamed(%q, %d) = %q: invalid", c.base, c.n, got)
		}
	}
	if got := renamedHost("lanlobby-ab12", 2); got != "lanlobby-ab12-2" {
		t.Errorf("renamedHost = %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []string{"Zoë's game", "a.b", `x\y`, strings.Repeat("a", 63), "日本語のロビー", "🎮 party", "👩‍💻 night"} {
		if err := ValidateInstance(s); err != nil {
			t.Errorf("ValidateInstance(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", strings.Repeat("a", 64), "bad\x00", "bell\a", "\xff", "rtl\u202e", "  ", "zero\u200bwidth", "Ali\u200dce", "line\u2028sep"} {
		if err := ValidateInstance(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateInstance(%q) = %v", s, err)
		}
	}
	for _, g := range []string{"demo", "a.b_c-d", "0ad"} {
		if err := ValidateGame(g); err != nil {
			t.Errorf("ValidateGame(%q): %v", g, err)
		}
	}
	for _, g := range []string{"", "Demo", "a b", strings.Repeat("a", 33), "é", "_lead", "-lead"} {
		if err := ValidateGame(g); !errors.Is(err, ErrInvalidGame) {
			t.Errorf("ValidateGame(%q) = %v", g, err)
		}
	}
}
