package lobby

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the lobby model. They are part of the wire protocol
// (PROTOCOL.md): a request outside them gets an error reply.
const (
	MinCapacity = 2  // a lobby needs at least two players
	MaxCapacity = 64 // and at most this many
	// MaxLobbyNameLen is the longest lobby name in bytes of UTF-8; 63 is
	// the DNS label limit, so the name can be an mDNS instance name as is.
	MaxLobbyNameLen = 63
	// MaxPlayerNameLen is the longest player name in bytes of UTF-8.
	MaxPlayerNameLen = 64
	// MaxGameLen is the longest game id; it becomes an mDNS subtype label.
	MaxGameLen = 32
	// MaxMetaKeys, MaxMetaKeyLen, MaxMetaValueLen and MaxMetaBytes bound a
	// lobby's metadata, which every member receives with each join.
	MaxMetaKeys     = 16
	MaxMetaKeyLen   = 32
	MaxMetaValueLen = 256
	MaxMetaBytes    = 1024
	// MaxPasswordLen bounds a private lobby's password, in bytes.
	MaxPasswordLen = 64
)

// NormalizeGame lower-cases a game id and checks its form: 1 to MaxGameLen
// characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit.
// Game ids are matched exactly after normalisation.
func NormalizeGame(game string) (string, error) {
	g := strings.ToLower(strings.TrimSpace(game))
	if g == "" || len(g) > MaxGameLen {
		return "", errorf(CodeInvalidGame, "game id must be 1-%d characters", MaxGameLen)
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return "", errorf(CodeInvalidGame, "game id %q: use a-z, 0-9, '-', '_', '.' and start with a letter or digit", game)
		}
	}
	return g, nil
}

// ValidateLobbyName checks a lobby name: valid UTF-8, 1 to MaxLobbyNameLen
// bytes, no control characters, not blank. Spaces, apostrophes and any
// printable Unicode are fine ("Alice's game").
func ValidateLobbyName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errorf(CodeInvalidName, "lobby name is empty")
	}
	return validateText("lobby name", name, MaxLobbyNameLen)
}

// ValidatePlayerName checks a player name like a lobby name, but it may be
// empty and be up to MaxPlayerNameLen bytes.
func ValidatePlayerName(name string) error {
	return validateText("player name", name, MaxPlayerNameLen)
}

func validateText(what, s string, max int) error {
	if len(s) > max {
		return errorf(CodeInvalidName, "%s is %d bytes, the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidName, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return errorf(CodeInvalidName, "%s contains control character %U", what, r)
		}
	}
	return nil
}

// ValidateMeta checks lobby metadata against the Max* limits.
func ValidateMeta(meta map[string]string) error {
	if len(meta) > MaxMetaKeys {
		return errorf(CodeInvalidMeta, "%d metadata keys, the limit is %d", len(meta), MaxMetaKeys)
	}
	total := 0
	for k, v := range meta {
		if k == "" || len(k) > MaxMetaKeyLen {
			return errorf(CodeInvalidMeta, "metadata key %q must be 1-%d bytes", k, MaxMetaKeyLen)
		}
		if len(v) > MaxMetaValueLen {
			return errorf(CodeInvalidMeta, "metadata value for %q is %d bytes, the limit is %d", k, len(v), MaxMetaValueLen)
		}
		if err := validateText("metadata", k+v, MaxMetaKeyLen+MaxMetaValueLen); err != nil {
			return errorf(CodeInvalidMeta, "metadata %q: %s", k, err.(*Error).Message)
		}
		total += len(k) + len(v)
	}
	if total > MaxMetaBytes {
		return errorf(CodeInvalidMeta, "metadata is %d bytes, the limit is %d", total, MaxMetaBytes)
	}
	return nil
}

// ValidatePassword checks a private lobby's password: at most
// MaxPasswordLen bytes of text ("" means a public lobby).
func ValidatePassword(p string) error {
	if len(p) > MaxPasswordLen {
		return errorf(CodeInvalidPassword, "password is %d bytes, the limit is %d", len(p), MaxPasswordLen)
	}
	if err := validateText("password", p, MaxPasswordLen); err != nil {
		return errorf(CodeInvalidPassword, "%s", err.(*Error).Message)
	}
	return nil
}
