// Package lobby holds lanlobby's lobby model and matchmaking, the
// coordinator server that owns that state and talks the wire protocol of
// PROTOCOL.md, and the Go client.
//
// Files, one job each:
//   - model.go, index.go, validate.go: the lobby model and matchmaking
//     (pure, no network); errors.go: the error codes of the protocol.
//   - wire.go: the wire messages and their encoders.
//   - config.go: the coordinator's ServerConfig and its defaults.
//   - server.go: NewServer, Serve and Close, the accept loop and the
//     connection limits; shed.go: making room at the connection cap;
//     session.go: one link's reader side; handle.go: the state goroutine
//     and the dispatch of requests; hello.go: hello and what resume and
//     restore share with it; presence.go: members away and back; resume.go
//     and restore.go: taking a seat back after a blip, and lobbies back after
//     a coordinator restart; credentials.go: the resume tokens and restore
//     credentials derived from the coordinator's secret, and failed checks
//     counted; holding.go: seats held for members restoring after a restart;
//     paging.go: list replies in pages; addr.go: game addresses as each
//     recipient must see them.
//   - A lobby outliving its coordinator: term.go, the model's terms and
//     standby addresses; takeoverwire.go, their wire fields; takeover.go,
//     the coordinator's standby, prove, adoption of a lobby from another
//     coordinator and Moved; failover.go, the client's side (what it does
//     when its coordinator is lost, MoveTo, coordinator_moved).
//   - observe.go: the read-only view for operators: Metrics (atomic
//     counters), Snapshot, Version, OnActivity (package coordhttp serves
//     them).
//   - client.go: the Client API; link.go: one connection of a client and
//     its calls; reconnect.go: resume and restore from the client's side;
//     events.go: the client's event queue.
//   - Matchmaking: filter.go, the one implementation of which lobbies a
//     filter admits and of the quick-join order, shared with the LAN view
//     of the root package; match.go, the registry's candidates; party.go,
//     seats reserved for a party or invited players; ban.go, bans by
//     player key (all pure). wirematch.go: their wire fields;
//     handlematch.go: reserve and the reservation timers; subscribe.go:
//     live filtered subscriptions, bounded per connection;
//     clientmatch.go and subclient.go: the client's side.
package lobby
