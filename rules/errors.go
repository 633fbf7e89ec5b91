package rules

import (
	"errors"
	"fmt"
)

// Which rule a value broke; every error of this package wraps exactly one
// of them. Layers branch on these to pick their own error: lobby maps
// ErrName to the wire code invalid_name, beacon wraps any of them in
// ErrInvalid, mdns maps ErrName to ErrInvalidName.
var (
	ErrName     = errors.New("invalid name")     // lobby, player or coordinator name
	ErrGame     = errors.New("invalid game id")  // game id
	ErrLobbyID  = errors.New("invalid lobby id") // lobby id
	ErrCapacity = errors.New("invalid capacity") // capacity
	ErrMeta     = errors.New("invalid metadata") // metadata
	ErrPassword = errors.New("invalid password") // private lobby's password
	ErrAddr     = errors.New("invalid address")  // a room address of the name registry
)

// Error is a broken rule. Its message is for people and stands alone (it
// does not repeat the rule's name), so a layer can pass it on as is, for
// example as the message of a coordinator error reply; Unwrap gives the
// rule, for errors.Is.
type Error struct {
	Rule    error  // one of the Err* sentinels
	Message string // what is wrong, quoting the value with %q
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the rule, so errors.Is(err, ErrName) works.
func (e *Error) Unwrap() error { return e.Rule }

func errorf(rule error, format string, args ...any) *Error {
	return &Error{Rule: rule, Message: fmt.Sprintf(format, args...)}
}
