package rules

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// names is the shared corpus of lobby names: true = the rules accept it.
// The agreement test of the layers (agree_test.go) uses it as seeds too.
var names = map[string]bool{
	"Alice's game":                      true,
	"Zoë's game":                        true,
	"日本語のロビー":                           true,
	"🎮 party":                           true,
	"  spaced  out  ":                   true,
	"a.b (2) @home; \"quoted\" \\ back": true,
	"👩‍💻 night":                         true, // ZWJ between two emoji
	"🏳️‍🌈 pride":                        true, // ... after a variation selector
	"👩🏿‍❤️‍💋‍👨🏻":                        true, // ... after skin tones
	"ශ්‍රී ලංකා":                        true, // ZWJ after a virama
	"می‌خواهم":                          true, // ZWNJ between Arabic-script letters
	"\u00a0x":                           true, // no-break space is a space
	strings.Repeat("a", 63):             true,
	strings.Repeat("a", 61) + "é":       true, // 63 bytes, 2-byte rune at the end
	strings.Repeat("a", 60) + "語":       true, // 63 bytes, 3-byte rune at the end
	"":                                  false,
	" ":                                 false,
	"   \u3000 ":                        false, // only spaces, one ideographic
	strings.Repeat("a", 64):             false,
	strings.Repeat("a", 62) + "é":       false, // 64 bytes
	strings.Repeat("a", 61) + "語":       false, // 64 bytes
	strings.Repeat("é", 32):             false, // 64 bytes
	"Alice\u202egame":                   false, // right-to-left override
	"\u2067rtl isolate":                 false,
	"lrm\u200e":                         false,
	"zero\u200bwidth":                   false,
	"Ali\u200dce":                       false, // ZWJ between Latin letters
	"\u200d🎮":                           false, // ZWJ with nothing before
	"🎮\u200d":                           false, // ... nothing after
	"🎮\u200d x":                         false, // ... not an emoji after
	"Ali\u200cce":                       false, // ZWNJ between Latin letters
	"e\u0301\u200dx":                    false, // ZWJ after a Latin accent
	"soft\u00adhyphen":                  false,
	"bom\ufeff":                         false,
	"tag\U000e0041":                     false,
	"line\u2028sep":                     false,
	"para\u2029sep":                     false,
	"tab\there":                         false,
	"new\nline":                         false,
	"nul\x00":                           false,
	"esc\x1b[31m":                       false,
	"del\x7f":                           false,
	"c1\u0085":                          false,
	"bad \xff utf8":                     false,
	"cut \xe6\x97":                      false,
}

func TestValidateLobbyName(t *testing.T) {
	for name, ok := range names {
		err := ValidateLobbyName(name)
		if (err == nil) != ok {
			t.Errorf("ValidateLobbyName(%q) = %v, want ok %v", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrName) {
			t.Errorf("ValidateLobbyName(%q) = %v, not ErrName", name, err)
		}
	}
}

// TestMessages checks that a refusal says what and where, and never
// carries the offending rune raw (the message may be printed).
func TestMessages(t *testing.T) {
	for name, want := range map[string]string{
		"":                      "lobby name is empty",
		" ":                     `lobby name " " is blank`,
		strings.Repeat("a", 64): "lobby name is 64 bytes, the limit is 63",
		"Alice\u202egame":       `lobby name "Alice\u202egame" holds bidi control U+202E at byte 5, which changes the order`,
		"zero\u200bwidth":       "invisible format character U+200B at byte 4",
		"Ali\u200dce":           "zero-width joiner U+200D at byte 3 outside an emoji sequence",
		"tab\there":             "control character U+0009",
		"line\u2028sep":         "line separator U+2028",
		"bad \xff utf8":         "not valid UTF-8",
	} {
		err := ValidateLobbyName(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateLobbyName(%q) = %v, want %q in it", name, err, want)
			continue
		}
		if i, _ := FindForbidden(err.Error()); i >= 0 {
			t.Errorf("message %q holds a forbidden rune", err)
		}
	}
}

func TestPlayerAndCoordinatorNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"": true, "Zoë": true, " ": true, "🎮": true, strings.Repeat("p", MaxPlayerNameLen): true,
		strings.Repeat("p", MaxPlayerNameLen+1): false, "tab\there": false, "\u2028": false, "Bob\u202e": false,
	} {
		if err := ValidatePlayerName(name); (err == nil) != ok || err != nil && !errors.Is(err, ErrName) {
			t.Errorf("ValidatePlayerName(%q) = %v, want ok %v", name, err, ok)
		}
	}
	for name, ok := range map[string]bool{"": true, "lan party server": true, strings.Repeat("c", 64): false, "x\u200by": false} {
		if err := ValidateCoordinatorName(name); (err == nil) != ok {
			t.Errorf("ValidateCoordinatorName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

func TestFindForbidden(t *testing.T) {
	for s, want := range map[string]int{"": -1, "ok": -1, "a\u202eb": 1, "ab\xff": 2, "é\x00": 2, "🎮\u200d🎮\u200dx": 11} {
		if got, _ := FindForbidden(s); got != want {
			t.Errorf("FindForbidden(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		s    string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},         // not inside a rune
		{"a👩‍💻", 8, "a👩"},      // not after a joiner that would join nothing
		{"a👩‍💻", 5, "a👩"},      // ZWJ cut in half
		{"مي\u200cخ", 6, "مي"}, // ZWNJ without its letter after it
		{"ශ්‍රී", 9, "ශ්‍"},    // a ZWJ after a virama stays
		{"x\xffy", 2, "x"},     // not text: only UTF-8 matters
		{"abc", 0, ""},
	}
	for _, c := range cases {
		got := Truncate(c.s, c.max)
		if got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.s, c.max, got, c.want)
		}
		if len(got) > c.max || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q: too long or not UTF-8", c.s, c.max, got)
		}
	}
	// Every cut of a valid name, with a suffix, is a valid name.
	for name, ok := range names {
		if !ok {
			continue
		}
		for n := 1; n <= len(name); n++ {
			cut := Truncate(name, n)
			if cut == "" {
				continue
			}
			if got := cut + " (2)"; ValidateLobbyName(got) != nil && len(got) <= MaxLobbyNameLen && strings.TrimSpace(cut) != "" {
				t.Errorf("Truncate(%q, %d) + suffix = %q: %v", name, n, got, ValidateLobbyName(got))
			}
		}
	}
}

func FuzzTruncate(f *testing.F) {
	for name := range names {
		f.Add(name, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 80
		got := Truncate(s, n)
		if len(got) > max(n, 0) || !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q: not UTF-8", s, n, got)
		}
		if i, _ := FindForbidden(s); i < 0 {
			if j, _ := FindForbidden(got + " (2)"); j >= 0 {
				t.Fatalf("Truncate(%q, %d) + suffix = %q: forbidden rune at %d", s, n, got+" (2)", j)
			}
		}
	})
}
