// Package rules is the one place that says what a lanlobby lobby may hold:
// the limits (limits.go), what counts as text (text.go), and the forms of
// game ids and lobby ids (game.go), metadata and passwords (meta.go),
// and matchmaking: game versions, player keys, filters, parties, bans and
// subscriptions (match.go).
//
// The coordinator (package lobby), the UDP beacon (package beacon) and
// mDNS/DNS-SD (package beacon/mdns) all validate with these functions, so
// a lobby the coordinator accepts is one that both advertisers can carry,
// and a lobby heard on the LAN is held to the same rules it was made
// under. Each layer maps the errors returned here to its own (lobby's
// wire codes, beacon.ErrInvalid, mdns.ErrInvalidName): errors.Is(err,
// ErrName) and the other sentinels tell which rule was broken, and
// err.Error() is a message for people that names the offending value.
//
// The package sits at the bottom of the layering: it imports only the
// standard library and nothing of lanlobby's.
package rules
