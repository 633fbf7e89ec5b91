package rules

import (
	"errors"
	"strings"
)

// A game id names a game, so that players of one game find its lobbies
// only: 1..MaxGameLen characters of a-z, 0-9, '-', '_' and '.', starting
// with a letter or digit ("demo", "quake3", "beat-saber.vr"). Lower case
// only, because DNS compares names without regard to ASCII case: the
// subtype "_Demo" would find the lobbies of "demo" too. The same form is
// required on the coordinator, on the beacon and in mDNS, so that a game
// filter matches the same lobbies everywhere.

// NormalizeGame returns the game id a person or a program meant: game with
// white space trimmed and letters lowered ("Demo " gives "demo"), then
// checked by ValidateGame. Game ids are matched exactly after this. The
// error wraps ErrGame.
func NormalizeGame(game string) (string, error) {
	g := strings.ToLower(strings.TrimSpace(game))
	if err := ValidateGame(g); err != nil {
		var e *Error
		if g != game && len(game) <= MaxGameLen && errors.As(err, &e) {
			return "", errorf(ErrGame, "game id %q: %s", game, e.Message)
		}
		return "", err
	}
	return g, nil
}

// ValidateGame checks that g is a game id in its normal form (see above);
// a value received from elsewhere is checked with it, a value a person
// typed is passed through NormalizeGame first. The error wraps ErrGame.
func ValidateGame(g string) error {
	if g == "" || len(g) > MaxGameLen {
		return errorf(ErrGame, "game id is %d bytes, want 1..%d", len(g), MaxGameLen)
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return errorf(ErrGame, "game id %q: use a-z, 0-9, '-', '_', '.' and start with a letter or digit", g)
		}
	}
	return nil
}

// ValidateLobbyID checks a lobby id as the LAN carries it: 1..MaxIDLen
// bytes of printable ASCII without space (0x21..0x7e). Lobby ids are
// machine-made, and this keeps them safe to print, log, compare and pass
// on a command line, while letting other publishers (an avahi-publish
// script, another implementation) pick their own. The error wraps
// ErrLobbyID.
func ValidateLobbyID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return errorf(ErrLobbyID, "lobby id is %d bytes, want 1..%d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errorf(ErrLobbyID, "lobby id %q: byte %#x is not printable ASCII", id, id[i])
		}
	}
	return nil
}
