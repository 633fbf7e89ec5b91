package lobby

import (
	"errors"

	"github.com/lanlobby/lanlobby/rules"
)

// Limits of the lobby model, defined in package rules so that the beacon
// and mDNS hold lobbies to the same ones (see there for why each value).
// They are part of the wire protocol (PROTOCOL.md): a request outside them
// gets an error reply.
const (
	MinCapacity      = rules.MinCapacity      // a lobby needs at least two players
	MaxCapacity      = rules.MaxCapacity      // and at most this many
	MaxLobbyNameLen  = rules.MaxLobbyNameLen  // bytes of UTF-8: one DNS label, the mDNS instance name
	MaxPlayerNameLen = rules.MaxPlayerNameLen // bytes of UTF-8
	MaxGameLen       = rules.MaxGameLen       // the game id becomes an mDNS subtype label
	MaxMetaKeys      = rules.MaxMetaKeys      // metadata, which every member receives with each join
	MaxMetaKeyLen    = rules.MaxMetaKeyLen
	MaxMetaValueLen  = rules.MaxMetaValueLen
	MaxMetaBytes     = rules.MaxMetaBytes
	MaxPasswordLen   = rules.MaxPasswordLen // a private lobby's password, in bytes
)

// NormalizeGame lower-cases a game id and checks its form: 1 to MaxGameLen
// characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit
// (rules.NormalizeGame). Game ids are matched exactly after normalisation.
// The error is an *Error with CodeInvalidGame.
func NormalizeGame(game string) (string, error) {
	g, err := rules.NormalizeGame(game)
	return g, fromRules(err)
}

// ValidateLobbyName checks a lobby name: 1 to MaxLobbyNameLen bytes of text
// (rules.ValidateLobbyName), not blank. Spaces, apostrophes, accents, any
// script and emoji are fine ("Alice's game"); control characters, bidi
// controls and invisible characters are not, because the beacon and mDNS
// could not announce the lobby. The error is an *Error with
// CodeInvalidName.
func ValidateLobbyName(name string) error { return fromRules(rules.ValidateLobbyName(name)) }

// ValidatePlayerName checks a player name like a lobby name, but it may be
// empty and be up to MaxPlayerNameLen bytes (rules.ValidatePlayerName).
func ValidatePlayerName(name string) error { return fromRules(rules.ValidatePlayerName(name)) }

// ValidateMeta checks lobby metadata against the Max* limits
// (rules.ValidateMeta); the error has CodeInvalidMeta.
func ValidateMeta(meta map[string]string) error { return fromRules(rules.ValidateMeta(meta)) }

// ValidatePassword checks a private lobby's password: at most
// MaxPasswordLen bytes of text ("" means a public lobby); the error has
// CodeInvalidPassword.
func ValidatePassword(p string) error { return fromRules(rules.ValidatePassword(p)) }

// ruleCodes maps each rule of package rules to the wire code its breach
// is reported with.
var ruleCodes = []struct {
	rule error
	code Code
}{
	{rules.ErrName, CodeInvalidName},
	{rules.ErrGame, CodeInvalidGame},
	{rules.ErrCapacity, CodeInvalidCapacity},
	{rules.ErrMeta, CodeInvalidMeta},
	{rules.ErrPassword, CodeInvalidPassword},
	{rules.ErrLobbyID, CodeBadRequest},
	{rules.ErrAddr, CodeInvalidAddress},
}

// fromRules turns an error of package rules into the *Error a client gets:
// the rule picks the code, the message is passed on. nil stays nil.
func fromRules(err error) error {
	if err == nil {
		return nil
	}
	for _, rc := range ruleCodes {
		if errors.Is(err, rc.rule) {
			return &Error{Code: rc.code, Message: err.Error()}
		}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
