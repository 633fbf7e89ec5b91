package rules

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is what every string lanlobby shows to people may hold (lobby,
// player and coordinator names, metadata): valid UTF-8 in which
// FindForbidden finds nothing. Any script, accents, spaces, apostrophes,
// punctuation and emoji are text ("Alice's game", "Zoë", "日本語のロビー",
// "🎮 party", "👩‍💻 night"). What is not, and why:
//
//   - control characters (Unicode Cc: tab, newline, ESC, DEL, C1), and the
//     line and paragraph separators U+2028 and U+2029: they break or forge
//     a line when a list of lobbies is printed on a terminal or in a log,
//     and DNS-SD forbids controls in instance names (RFC 6763 §4.1.1);
//   - format characters (Unicode Cf): the bidi embeddings, overrides,
//     isolates and marks ("Alice\u202egame" is shown as "Aliceemag"), and
//     the invisible ones (zero-width space, word joiner, BOM, soft hyphen,
//     tag characters). They make a name read differently from its bytes,
//     or two different names look the same, which also defeats the mDNS
//     rename of a conflicting instance name ("Alice's game (2)").
//
// One exception keeps emoji and some scripts intact: the zero-width joiner
// (U+200D) and non-joiner (U+200C) are text where they change how the text
// looks rather than hide in it, as IDNA2008 allows them (RFC 5892
// Appendix A.1, A.2) and as emoji need them:
//
//   - either joiner right after a combining mark of a script other than
//     Latin's (Inherited, Common), such as a virama: "ශ්‍රී";
//   - the non-joiner between two letters of a cursive script (Arabic,
//     Syriac, N'Ko, Mandaic, Mongolian, Adlam), combining marks between
//     them allowed: the Persian "می‌خواهم";
//   - the joiner between two symbols (Unicode So), a variation selector
//     or skin-tone modifier after the first allowed: an emoji ZWJ sequence
//     such as "👩‍💻", "🏳️‍🌈" or "👨‍👩‍👧".
//
// Text is not normalised (NFC) and look-alike letters of other scripts are
// not refused: names are labels, never identities; lobby ids are.

// ValidateLobbyName checks a lobby name: 1..MaxLobbyNameLen bytes of text,
// not only white space. The error wraps ErrName.
func ValidateLobbyName(name string) error {
	if name == "" {
		return errorf(ErrName, "lobby name is empty")
	}
	if err := checkText(ErrName, "lobby name", name, MaxLobbyNameLen); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return errorf(ErrName, "lobby name %q is blank", name)
	}
	return nil
}

// ValidatePlayerName checks a player name: 0..MaxPlayerNameLen bytes of
// text ("" lets the coordinator show the member id). The error wraps
// ErrName.
func ValidatePlayerName(name string) error {
	return checkText(ErrName, "player name", name, MaxPlayerNameLen)
}

// ValidateCoordinatorName checks the name a coordinator daemon announces
// itself with on the beacon, shown beside its lobbies: 0..MaxLobbyNameLen
// bytes of text. The error wraps ErrName.
func ValidateCoordinatorName(name string) error {
	return checkText(ErrName, "coordinator name", name, MaxLobbyNameLen)
}

// checkText checks that s is at most maxLen bytes of text. what names s in
// the message; the value is quoted only once its length is known to be
// small, so an error reply never echoes a huge string.
func checkText(rule error, what, s string, maxLen int) error {
	if len(s) > maxLen {
		return errorf(rule, "%s is %d bytes, the limit is %d", what, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return errorf(rule, "%s is not valid UTF-8", what)
	}
	if i, r := FindForbidden(s); i >= 0 {
		name, why := describe(r)
		return errorf(rule, "%s %q holds %s at byte %d%s", what, s, name, i, why)
	}
	return nil
}

const (
	zwnj = '\u200c' // zero-width non-joiner
	zwj  = '\u200d' // zero-width joiner
)

// FindForbidden returns the byte offset and the rune of the first rune of
// s that text may not hold (see Text above), or -1 and 0 when there is
// none. A byte that is not UTF-8 is reported as utf8.RuneError.
func FindForbidden(s string) (int, rune) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i, r
		}
		if forbidden(r) && !((r == zwj || r == zwnj) && joins(s[:i], r, s[i+n:])) {
			return i, r
		}
		i += n
	}
	return -1, 0
}

func forbidden(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
}

// joins reports whether joiner j between before and after is in one of
// the contexts where it is text (see Text above).
func joins(before string, j rune, after string) bool {
	if p, ok := lastRune(before, nil); ok && unicode.In(p, unicode.Mn, unicode.Mc) && !unicode.In(p, unicode.Inherited, unicode.Common) {
		return true
	}
	if j == zwnj {
		p, okp := lastRune(before, isMark)
		n, okn := firstRune(after, isMark)
		return okp && okn && cursiveLetter(p) && cursiveLetter(n)
	}
	p, okp := lastRune(before, isEmojiModifier)
	n, okn := firstRune(after, nil)
	return okp && okn && unicode.Is(unicode.So, p) && unicode.Is(unicode.So, n)
}

var cursiveScripts = []*unicode.RangeTable{unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mandaic, unicode.Mongolian, unicode.Adlam}

func cursiveLetter(r rune) bool { return unicode.IsLetter(r) && unicode.In(r, cursiveScripts...) }

func isMark(r rune) bool { return unicode.Is(unicode.Mn, r) }

// isEmojiModifier: the emoji variation selector and the skin tones.
func isEmojiModifier(r rune) bool { return r == '\ufe0f' || '\U0001f3fb' <= r && r <= '\U0001f3ff' }

// lastRune returns the last rune of s that skip does not match.
func lastRune(s string, skip func(rune) bool) (rune, bool) {
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if skip == nil || !skip(r) {
			return r, true
		}
		s = s[:len(s)-n]
	}
	return 0, false
}

// firstRune returns the first rune of s that skip does not match.
func firstRune(s string, skip func(rune) bool) (rune, bool) {
	for _, r := range s {
		if skip == nil || !skip(r) {
			return r, true
		}
	}
	return 0, false
}

// describe names a forbidden rune for an error message and says, when it
// is not plain, why it is refused (", which ...").
func describe(r rune) (name, why string) {
	switch {
	case r == utf8.RuneError:
		return "a byte that is not UTF-8", ""
	case r == '\u2028':
		return "line separator U+2028", ""
	case r == '\u2029':
		return "paragraph separator U+2029", ""
	case unicode.IsControl(r):
		return fmt.Sprintf("control character %U", r), ""
	case r == '\u061c' || r == '\u200e' || r == '\u200f' || '\u202a' <= r && r <= '\u202e' || '\u2066' <= r && r <= '\u2069':
		return fmt.Sprintf("bidi control %U", r), ", which changes the order the text is shown in"
	case r == zwj || r == zwnj:
		return fmt.Sprintf("zero-width joiner %U", r), " outside an emoji sequence or a script that needs it"
	}
	return fmt.Sprintf("invisible format character %U", r), ""
}

// Truncate cuts s to at most maxLen bytes, dropping whole runes from the
// end until what is left is valid UTF-8 and, if s was text, still text (a
// cut must not leave a joiner that joins nothing). Text followed by a
// space and more text stays text: mdns uses it to make room for the " (2)"
// of a renamed instance.
func Truncate(s string, maxLen int) string {
	if len(s) <= maxLen {
		return s
	}
	wasText := utf8.ValidString(s) && noForbidden(s)
	t := s[:max(maxLen, 0)]
	for len(t) > 0 && !(utf8.ValidString(t) && (!wasText || noForbidden(t))) {
		_, n := utf8.DecodeLastRuneInString(t)
		t = t[:len(t)-n]
	}
	return t
}

func noForbidden(s string) bool { i, _ := FindForbidden(s); return i < 0 }
