package beacon

import (
	"fmt"
	"net/netip"
	"time"
)

// EventType says what happened to a lobby.
type EventType uint8

// Event types. A consumer that applies them in order holds the current set
// of lobbies: Added for an id it does not hold, Updated and Removed for one
// it does.
const (
	Added EventType = iota + 1
	Updated
	Removed
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is a change to the set of visible lobbies. Removed carries the
// last known state.
type Event struct {
	Type  EventType
	Lobby LobbyInfo
}

// LobbyInfo is a lobby as a browser sees it. It is the common currency of
// every Source (beacon, later mDNS), merged by ID.
type LobbyInfo struct {
	ID       string
	Game     string
	Name     string
	Players  int
	Capacity int
	State    State
	// Host is the coordinator to connect to: the source address of the
	// packets (never an address the packet claims) and the announced TCP
	// port. Of the addresses a lobby is heard from, IPv4 is preferred,
	// then IPv6 global, then IPv6 link-local (with zone), because an IPv4
	// address works from any socket and a zoned one only on its link.
	// The copies of one packet over IPv4 and IPv6 race each other, so an
	// Added may carry the IPv6 address and an Updated move it to IPv4
	// microseconds later.
	Host netip.AddrPort
	// Iface names the local interface Host was heard on.
	Iface string
	// Seen is when the lobby was last heard of; Merge prefers the source
	// that heard of it most recently. Changes of Seen alone are not events.
	Seen time.Time
	// RTT is the time from this browser's last query to the first answer
	// from Host's address; 0 when unknown. Not an event by itself either.
	RTT time.Duration
	// Source names where the information came from ("beacon", "mdns").
	Source string
	// Attrs are the lobby's game version, creation time and filterable
	// metadata (zero from hosts that do not send them).
	Attrs
}

// sameLobby reports whether two views agree on the lobby itself: all
// fields but where and how it was heard (Host, Iface, Source, Seen, RTT).
func (l LobbyInfo) sameLobby(o LobbyInfo) bool {
	return l.ID == o.ID && l.Game == o.Game && l.Name == o.Name && l.Players == o.Players &&
		l.Capacity == o.Capacity && l.State == o.State && l.Attrs == o.Attrs
}

// sameContent reports whether a consumer would see a difference: all
// fields but Seen and RTT.
func (l LobbyInfo) sameContent(o LobbyInfo) bool {
	l.Seen, o.Seen, l.RTT, o.RTT = time.Time{}, time.Time{}, 0, 0
	return l == o
}

// Source is anything that produces lobby events: the beacon Browser, an
// mDNS browser, or a Merge of several. Events is closed when the source
// stops.
type Source interface {
	Events() <-chan Event
}
