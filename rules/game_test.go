package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestGame(t *testing.T) {
	for in, want := range map[string]string{
		"demo": "demo", " Demo.VR-2_x\t": "demo.vr-2_x", "0ad": "0ad", strings.Repeat("g", MaxGameLen): strings.Repeat("g", MaxGameLen),
		"\u212aart": "kart", // the Kelvin sign lowers to an ASCII k
		"":          "", "  ": "", "has space": "", "-lead": "", ".lead": "", "_lead": "", "ゲーム": "", "é": "", strings.Repeat("g", MaxGameLen+1): "",
	} {
		got, err := NormalizeGame(in)
		if got != want || (err == nil) != (want != "") || err != nil && !errors.Is(err, ErrGame) {
			t.Errorf("NormalizeGame(%q) = %q, %v; want %q", in, got, err, want)
		}
		if want != "" {
			if err := ValidateGame(want); err != nil {
				t.Errorf("ValidateGame(%q) of a normal id: %v", want, err)
			}
		}
	}
	for _, g := range []string{"Demo", " demo", "demo ", "a b"} {
		if err := ValidateGame(g); !errors.Is(err, ErrGame) {
			t.Errorf("ValidateGame(%q) = %v: accepts a form NormalizeGame would change", g, err)
		}
	}
}

func TestLobbyID(t *testing.T) {
	for id, ok := range map[string]bool{
		"k3m2x9aqpz": true, "bob1": true, "~!": true, strings.Repeat("i", MaxIDLen): true,
		"": false, "a b": false, "tab\t": false, "é": false, "\x7f": false, strings.Repeat("i", MaxIDLen+1): false,
	} {
		if err := ValidateLobbyID(id); (err == nil) != ok || err != nil && !errors.Is(err, ErrLobbyID) {
			t.Errorf("ValidateLobbyID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

func TestCapacity(t *testing.T) {
	for n, ok := range map[int]bool{MinCapacity: true, MaxCapacity: true, 4: true, 1: false, 0: false, -1: false, MaxCapacity + 1: false} {
		if err := ValidateCapacity(n); (err == nil) != ok || err != nil && !errors.Is(err, ErrCapacity) {
			t.Errorf("ValidateCapacity(%d) = %v, want ok %v", n, err, ok)
		}
	}
}

func TestMeta(t *testing.T) {
	big := map[string]string{}
	for i := range MaxMetaKeys {
		big[string(rune('a'+i))] = strings.Repeat("v", MaxMetaBytes/MaxMetaKeys-1)
	}
	tooMany := map[string]string{}
	for i := range MaxMetaKeys + 1 {
		tooMany[string(rune('a'+i))] = ""
	}
	tooBig := map[string]string{"z": strings.Repeat("v", MaxMetaValueLen)}
	for i := range 4 {
		tooBig[string(rune('a'+i))] = strings.Repeat("v", MaxMetaValueLen)
	}
	for i, c := range []struct {
		meta map[string]string
		ok   bool
	}{
		{nil, true}, {map[string]string{"map": "dunes", "mode": ""}, true}, {big, true},
		{map[string]string{"map": "Zoë's 🏜"}, true},
		{tooMany, false}, {tooBig, false},
		{map[string]string{"": "v"}, false},
		{map[string]string{strings.Repeat("k", MaxMetaKeyLen+1): "v"}, false},
		{map[string]string{"k": strings.Repeat("v", MaxMetaValueLen+1)}, false},
		{map[string]string{"k": "a\u202eb"}, false},
		{map[string]string{"k\n": "v"}, false},
		{map[string]string{"k": "\xff"}, false},
	} {
		if err := ValidateMeta(c.meta); (err == nil) != c.ok || err != nil && !errors.Is(err, ErrMeta) {
			t.Errorf("case %d: ValidateMeta = %v, want ok %v", i, err, c.ok)
		}
	}
}

func TestPassword(t *testing.T) {
	for p, ok := range map[string]bool{
		"": true, "hunter2": true, "pass word": true, "Zoë\u200d": true, strings.Repeat("p", MaxPasswordLen): true,
		strings.Repeat("p", MaxPasswordLen+1): false, "tab\t": false, "\u2028": false, "\xff": false,
	} {
		err := ValidatePassword(p)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrPassword) {
			t.Errorf("ValidatePassword(%q) = %v, want ok %v", p, err, ok)
		}
		if err != nil && p != "" && strings.Contains(err.Error(), p) {
			t.Errorf("ValidatePassword(%q) = %v: the message quotes the password", p, err)
		}
	}
}
