// Package beacon advertises lobbies on a LAN with UDP multicast and finds
// them: an Advertiser announces lobbies periodically, on every change and
// in answer to queries; a Browser sends a query when it starts (so every
// host answers within milliseconds instead of one beacon period) and
// turns what it hears into Added / Updated / Removed events.
//
// The wire format is in PROTOCOL.md ("LAN beacon"); Encode, Decode and Pack are pure.
// With an optional LAN key (NewKey, AdvertiserConfig.Key, BrowserConfig.Key)
// every packet is signed and packets not signed with the key are ignored
// (PROTOCOL.md, "Signed beacons"): authenticity, not confidentiality.
// Browsers of other kinds (mDNS) plug in beside the beacon through Source,
// and Merge combines them by lobby id.
package beacon

import (
	"fmt"

	"github.com/lanlobby/lanlobby/rules"
)

// The wire format carries each string with a 1-byte length and the
// capacity in one byte, and a signed packet must hold a lobby with every
// field at its limit; these fail to compile if a limit of package rules
// outgrows them.
const (
	_ = uint8(MaxIDLen)
	_ = uint8(MaxGameLen)
	_ = uint8(MaxNameLen)
	_ = uint8(MaxCapacity)
	_ = uint(MaxPacketSize - headerLen - (1 + 3 + MaxIDLen + MaxGameLen + MaxNameLen + 5) - SignedOverhead)
)

// Wire constants and limits. They are part of the protocol: changing one
// changes what other versions accept.
const (
	// Magic starts every packet, so foreign traffic on the port is told
	// apart from a damaged beacon.
	Magic = "LLOB"
	// Version is the protocol version written and accepted.
	Version = 1
	// DefaultPort is the UDP port of the beacon groups.
	DefaultPort = 7601
	// DefaultGroupIPv4 is in the IPv4 Local Scope 239.255.0.0/16
	// (RFC 2365): administratively scoped, never routed off-site.
	DefaultGroupIPv4 = "239.255.76.1"
	// DefaultGroupIPv6 is link-local scope (ffx2::/16); the T flag is set
	// (ff12, RFC 4291) because the group is not IANA-assigned.
	DefaultGroupIPv6 = "ff12::7601"

	// MaxPacketSize bounds every packet, sent or accepted: it fits the
	// IPv6 minimum MTU (1280) minus IPv6 and UDP headers with room to
	// spare, so nothing is ever fragmented.
	MaxPacketSize = 1200
	// MaxLobbiesPerPacket bounds the lobby records in one packet.
	MaxLobbiesPerPacket = 32
	// MaxIDLen, MaxGameLen and MaxNameLen bound the strings, in bytes,
	// and MinCapacity and MaxCapacity a lobby's capacity: the limits of
	// package rules, which the coordinator holds lobbies to as well.
	MaxIDLen    = rules.MaxIDLen
	MaxGameLen  = rules.MaxGameLen
	MaxNameLen  = rules.MaxLobbyNameLen
	MinCapacity = rules.MinCapacity
	MaxCapacity = rules.MaxCapacity

	headerLen = 14
	// minLobbyRecord is the smallest lobby record: length byte, 1-byte
	// id, 1-byte game, 1-byte name, players, capacity, state, port.
	minLobbyRecord = 1 + 2 + 2 + 2 + 3 + 2
	// minCoordRecord: length byte, 1-byte id, empty name, port.
	minCoordRecord = 1 + 2 + 1 + 2
)

// Kind is the packet type.
type Kind uint8

// Packet kinds.
const (
	// KindAnnounce carries 1..MaxLobbiesPerPacket lobbies, alive for TTL.
	KindAnnounce Kind = 1
	// KindGoodbye carries lobbies that are gone; receivers drop them at once.
	KindGoodbye Kind = 2
	// KindQuery asks every advertiser to answer at once, optionally for
	// one game only.
	KindQuery Kind = 3
	// KindCoordinator announces a coordinator daemon that hosts can hand
	// their lobbies to; TTL 0 withdraws it.
	KindCoordinator Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindAnnounce:
		return "announce"
	case KindGoodbye:
		return "goodbye"
	case KindQuery:
		return "query"
	case KindCoordinator:
		return "coordinator"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags are per-packet bits. Bits other than FlagReply and FlagMore are
// reserved: senders set them to 0, receivers ignore them (Decode keeps
// them).
type Flags uint8

const (
	// FlagReply marks a packet sent by unicast in answer to a query; the
	// browser uses it to measure the round-trip time to the host.
	FlagReply Flags = 1 << 0
	// FlagMore marks the last packet of an answer that was cut to its
	// bound (see MaxAnswerPackets): more lobbies of the asked game follow
	// the last id of the packet, and the querier may ask for them with a
	// follow-up query (Packet.After) sent to the answer's source.
	FlagMore Flags = 1 << 1
)

// State is a lobby's state.
type State uint8

// Lobby states.
const (
	StateOpen    State = 1 // accepting players
	StateFull    State = 2 // players == capacity, or locked by the owner
	StateStarted State = 3 // game running
	StateClosed  State = 4 // about to go away
)

func (s State) String() string {
	switch s {
	case StateOpen:
		return "open"
	case StateFull:
		return "full"
	case StateStarted:
		return "started"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Lobby is one lobby as carried on the wire. The host address is not in
// it: a receiver takes it from the packet's source address.
type Lobby struct {
	// ID identifies the lobby across hosts, interfaces and sources:
	// 1..MaxIDLen bytes of printable ASCII without space
	// (rules.ValidateLobbyID).
	ID string
	// Game is the game id: 1..MaxGameLen bytes of a-z, 0-9, '-', '_', '.'
	// (rules.ValidateGame).
	Game string
	// Name is shown to players: 1..MaxNameLen bytes of text, not blank
	// (rules.ValidateLobbyName).
	Name string
	// Players present, 0..Capacity.
	Players int
	// Capacity is MinCapacity..MaxCapacity.
	Capacity int
	// State of the lobby.
	State State
	// Port is the coordinator's TCP port on the sender, 1..65535.
	Port uint16
	// Attrs are the game version, creation time and filterable metadata,
	// carried in the record's extension area (attrs.go).
	Attrs
}

// Coordinator is a coordinator daemon's announcement.
type Coordinator struct {
	// ID identifies the daemon (same rules as Lobby.ID), so its IPv4
	// and IPv6 announcements merge into one entry.
	ID string
	// Name is a label for humans, 0..MaxNameLen bytes of text
	// (rules.ValidateCoordinatorName).
	Name string
	// Port is the daemon's TCP port, 1..65535.
	Port uint16
}

// Packet is a decoded beacon packet.
type Packet struct {
	Kind  Kind
	Flags Flags
	// Seq is the sender's packet counter (random start, +1 per send); a
	// receiver drops duplicates and reordered older packets with it.
	Seq uint32
	// TTLSeconds is how long receivers keep the lobbies without another
	// packet: > 0 in an announce, 0 in a goodbye and a query; in a
	// coordinator packet 0 withdraws the coordinator.
	TTLSeconds uint16
	// Lobbies: 1..MaxLobbiesPerPacket for announce and goodbye, else nil.
	Lobbies []Lobby
	// Game is the query's game filter ("" = all games); "" in other kinds.
	Game string
	// After, in a query only, asks for the lobbies whose id sorts after
	// it (byte order): a follow-up for the rest of an answer cut with
	// FlagMore. "" asks from the start. It travels in a packet-tail TLV
	// (PROTOCOL.md, "Answers"), so older advertisers ignore it and answer
	// from the start.
	After string
	// Coordinator is set in coordinator packets only.
	Coordinator *Coordinator
}
