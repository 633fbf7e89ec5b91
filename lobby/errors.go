package lobby

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code carried in error replies
// (PROTOCOL.md lists them). Clients branch on codes, never on messages.
type Code string

// Error codes. Their string values are part of the wire protocol.
const (
	CodeBadRequest         Code = "bad_request"          // malformed JSON or missing/ill-typed fields
	CodeInvalidUTF8        Code = "invalid_utf8"         // the frame is not valid UTF-8
	CodeLineTooLong        Code = "line_too_long"        // frame over the maximum length; the link is closed
	CodeUnknownOp          Code = "unknown_op"           // the op is not one this server knows
	CodeUnsupportedVersion Code = "unsupported_version"  // no common protocol version; the link is closed
	CodeHelloRequired      Code = "hello_required"       // a request came before hello
	CodeAlreadyHello       Code = "already_hello"        // hello sent twice
	CodeInvalidName        Code = "invalid_name"         // lobby or player name empty, too long or not text (package rules)
	CodeInvalidGame        Code = "invalid_game"         // game id not of the allowed form
	CodeInvalidCapacity    Code = "invalid_capacity"     // capacity outside MinCapacity..MaxCapacity
	CodeInvalidAddress     Code = "invalid_address"      // port or game address unusable
	CodeInvalidMeta        Code = "invalid_meta"         // metadata over the limits
	CodeUnknownLobby       Code = "unknown_lobby"        // no lobby with that id
	CodeUnknownMember      Code = "unknown_member"       // no such member in that lobby
	CodeLobbyFull          Code = "lobby_full"           // the lobby has no free slot
	CodeLobbyStarted       Code = "lobby_started"        // the lobby has started and takes no one new
	CodeNoOpenLobby        Code = "no_open_lobby"        // quick-join found no open lobby for the game
	CodeAlreadyMember      Code = "already_member"       // joining a lobby twice
	CodeNotMember          Code = "not_member"           // acting on a lobby one is not in
	CodeNotOwner           Code = "not_owner"            // an owner-only action by someone else
	CodeTooManyLobbies     Code = "too_many_lobbies"     // the connection is in too many lobbies
	CodeShuttingDown       Code = "shutting_down"        // the coordinator is stopping
	CodeTooManyConnections Code = "too_many_connections" // a connection limit is reached; the connection is closed
	CodeRateLimited        Code = "rate_limited"         // over the per-connection request rate; not carried out
	CodeResumeFailed       Code = "resume_failed"        // no such member waiting, wrong token, or grace over: hello afresh
	CodeBadCredential      Code = "bad_credential"       // restore of a seat or of ownership without its valid credential
	CodeBadPassword        Code = "bad_password"         // a private lobby's password is wrong or missing
	CodeInvalidPassword    Code = "invalid_password"     // a password over the limits
	CodeNameTaken          Code = "name_taken"           // the registry holds that name for someone else
	CodeAddrTaken          Code = "addr_taken"           // the registry holds that address under another name
	CodeUnknownName        Code = "unknown_name"         // no such name in the registry
	CodeTooManyNames       Code = "too_many_names"       // the registry, or this client's share of it, is full
	CodeInternal           Code = "internal"             // a bug on the coordinator's side

	CodeInvalidVersion       Code = "invalid_version"        // a game version not of the allowed form
	CodeInvalidPlayerKey     Code = "invalid_player_key"     // hello's player key not of the allowed form
	CodeInvalidFilter        Code = "invalid_filter"         // a filter over the limits, or seats outside 1..8
	CodeFilterMismatch       Code = "filter_mismatch"        // join with a filter the lobby does not pass (it changed since it was seen)
	CodeBanned               Code = "banned"                 // the lobby's owner banned this player (by its player key)
	CodeUnknownReservation   Code = "unknown_reservation"    // a reservation token the lobby does not hold (expired, claimed, or wrong)
	CodeTooManySubscriptions Code = "too_many_subscriptions" // the connection has its maximum of subscriptions
	CodeUnknownSubscription  Code = "unknown_subscription"   // unsubscribe of a subscription the connection does not have
)

// Error is an error reply from the coordinator, or a validation failure of
// the lobby model. errors.Is matches any *Error with the same Code, so
// callers can write errors.Is(err, lobby.ErrLobbyFull).
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code. (target is
// what the caller handed errors.Is, never a wrapped error, so it is
// asserted, not unwrapped with errors.As.)
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// asError turns err into what an error reply carries: the *Error it is or
// wraps, else an internal error with its text.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errorf(CodeInternal, "%v", err)
}

// Sentinels for errors.Is. Only the code is compared.
var (
	ErrUnknownLobby       = &Error{Code: CodeUnknownLobby}
	ErrUnknownMember      = &Error{Code: CodeUnknownMember}
	ErrLobbyFull          = &Error{Code: CodeLobbyFull}
	ErrLobbyStarted       = &Error{Code: CodeLobbyStarted}
	ErrNoOpenLobby        = &Error{Code: CodeNoOpenLobby}
	ErrAlreadyMember      = &Error{Code: CodeAlreadyMember}
	ErrNotMember          = &Error{Code: CodeNotMember}
	ErrNotOwner           = &Error{Code: CodeNotOwner}
	ErrInvalidName        = &Error{Code: CodeInvalidName}
	ErrInvalidGame        = &Error{Code: CodeInvalidGame}
	ErrInvalidCapacity    = &Error{Code: CodeInvalidCapacity}
	ErrInvalidAddress     = &Error{Code: CodeInvalidAddress}
	ErrInvalidMeta        = &Error{Code: CodeInvalidMeta}
	ErrTooManyLobbies     = &Error{Code: CodeTooManyLobbies}
	ErrUnsupportedVersion = &Error{Code: CodeUnsupportedVersion}
	ErrBadRequest         = &Error{Code: CodeBadRequest}
	ErrResumeFailed       = &Error{Code: CodeResumeFailed}
	ErrBadCredential      = &Error{Code: CodeBadCredential}
	ErrBadPassword        = &Error{Code: CodeBadPassword}
	ErrInvalidFilter      = &Error{Code: CodeInvalidFilter}
	ErrFilterMismatch     = &Error{Code: CodeFilterMismatch}
	ErrBanned             = &Error{Code: CodeBanned}
	ErrUnknownReservation = &Error{Code: CodeUnknownReservation}
)
