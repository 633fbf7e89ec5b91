package rules

// Limits of a lobby. They are part of the protocols (PROTOCOL.md): the
// coordinator refuses a request beyond them, and the beacon and mDNS
// refuse to send or accept a lobby beyond them. Lengths are in bytes of
// UTF-8, because that is what the wire formats bound.
const (
	// MinCapacity is the fewest players a lobby may need: a party of one
	// has nobody to find.
	MinCapacity = 2
	// MaxCapacity is the most players a lobby may need. It bounds the
	// coordinator's quick-join index (one bucket per free-slot count),
	// fits the beacon's 1-byte capacity field, and is above what a
	// peer-to-peer game on a LAN connects in a full mesh.
	MaxCapacity = 64

	// MaxLobbyNameLen is the longest lobby name. 63 is the DNS label limit
	// (RFC 1035 §2.3.4): the name is the mDNS service instance name as is
	// (RFC 6763 §4.1.1), so it must fit one label. The beacon carries it
	// in a 1-byte-length string.
	MaxLobbyNameLen = 63
	// MaxPlayerNameLen is the longest player name. Player names travel on
	// the coordinator link only, never on the beacon or mDNS.
	MaxPlayerNameLen = 64

	// MaxGameLen is the longest game id. The id becomes the DNS-SD subtype
	// label "_<game>" (RFC 6763 §7.1), which must stay within one 63-byte
	// label; 32 leaves room and keeps a lobby's beacon record and TXT
	// record small (a lobby with every field at its limit is 150 bytes on
	// the beacon, under 200 in TXT, as RFC 6763 §6.2 recommends).
	MaxGameLen = 32
	// MaxIDLen is the longest lobby id. The coordinator makes 10-character
	// ids; 32 leaves room for other publishers' ids (a UUID in hex is 32).
	MaxIDLen = 32

	// MaxMetaKeys, MaxMetaKeyLen, MaxMetaValueLen and MaxMetaBytes bound a
	// lobby's metadata, which every member receives with each join and
	// each change: MaxMetaBytes (keys and values together) keeps that push
	// at about a kilobyte however the keys are used. Metadata stays on the
	// coordinator link, but for the few keys a host marks filterable, which
	// the beacon and mDNS carry within MaxLANMetaKeys and MaxLANMetaBytes
	// (match.go).
	MaxMetaKeys     = 16
	MaxMetaKeyLen   = 32
	MaxMetaValueLen = 256
	MaxMetaBytes    = 1024

	// MaxPasswordLen bounds a private lobby's password, which is hashed at
	// once and never sent on; 64 bytes hold any passphrase a person types.
	MaxPasswordLen = 64
)

// ValidateCapacity checks that a lobby needs MinCapacity..MaxCapacity
// players. The error wraps ErrCapacity.
func ValidateCapacity(n int) error {
	if n < MinCapacity || n > MaxCapacity {
		return errorf(ErrCapacity, "capacity %d outside %d..%d", n, MinCapacity, MaxCapacity)
	}
	return nil
}
