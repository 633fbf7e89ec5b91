package rules

import (
	"math"
	"strconv"
	"time"
)

// Limits of matchmaking: game versions, filters, the metadata the LAN
// carries, parties, bans and subscriptions. Like the lobby limits they are
// part of the protocols (PROTOCOL.md), and each is bounded in bytes as well
// as in entries, so that no request can make the coordinator hold or send
// more than a few kilobytes for it.
const (
	// MaxVersionLen bounds a game version ("1.4", "2.0.1-beta+7"). It is
	// carried by the beacon and in a TXT string, so it is short and ASCII.
	MaxVersionLen = 16

	// MaxPlayerKeyLen bounds the stable player key a client sends in
	// hello, by which bans and named party seats know a player again after
	// it reconnects. 64 bytes hold a UUID, 32 hex bytes or a base64 key.
	MaxPlayerKeyLen = 64

	// MaxFilterTerms bounds a filter's equality terms (metadata key =
	// value), MaxFilterRanges its numeric ranges, and MaxFilterBytes the
	// bytes of all its keys and values together: a filter is evaluated
	// for every lobby of a game on every change a subscription follows, so
	// it stays small.
	MaxFilterTerms  = 8
	MaxFilterRanges = 4
	MaxFilterBytes  = 512

	// MaxFilterableKeys bounds the metadata keys a host marks filterable:
	// the ones it wants advertised on the LAN, where the beacon and mDNS
	// carry at most MaxLANMetaKeys of them and MaxLANMetaBytes of keys
	// and values in all (the rest of the lobby's record leaves that much
	// room in a beacon record, whose length is one byte, with every other
	// field at its limit; see beacon's attrs.go). Keys beyond the room are
	// left out, in the order the host marked them, and the lobby is
	// flagged as carrying only part of its metadata.
	MaxFilterableKeys = 8
	MaxLANMetaKeys    = 4
	MaxLANMetaBytes   = 72

	// MaxPartySeats bounds the seats one join or quick-join takes at once:
	// the player's own and those it reserves for its party.
	MaxPartySeats = 8

	// DefaultReservationWindow is how long the seats reserved for a party
	// wait for its members to claim them before they are released.
	// MaxReservationWindow caps the window an owner may give the seats it
	// reserves for invited players.
	DefaultReservationWindow = 10 * time.Second
	MaxReservationWindow     = 10 * time.Minute

	// MaxBansPerLobby bounds a lobby's bans (at most MaxPlayerKeyLen bytes
	// each); past it the ban ending first makes room.
	MaxBansPerLobby = 64
	// MaxBanDuration caps a timed ban; a ban until the lobby closes has no
	// duration.
	MaxBanDuration = 24 * time.Hour

	// MaxSubscriptions bounds the live lobby subscriptions of one
	// connection.
	MaxSubscriptions = 8
)

// ValidateVersion checks a game version: "" (none) or 1..MaxVersionLen
// bytes of ASCII letters, digits and . _ + - ("1.4", "2.0.1-beta+7"). The
// error wraps ErrVersion.
func ValidateVersion(v string) error {
	if len(v) > MaxVersionLen {
		return errorf(ErrVersion, "game version is %d bytes, the limit is %d", len(v), MaxVersionLen)
	}
	for i := 0; i < len(v); i++ {
		if !versionByte(v[i]) {
			return errorf(ErrVersion, "game version %q: use letters, digits and . _ + -", v)
		}
	}
	return nil
}

func versionByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-'
}

// ValidatePlayerKey checks a player key: "" (none) or 1..MaxPlayerKeyLen
// bytes of printable ASCII without space, like a lobby id. The error wraps
// ErrPlayerKey and never quotes the key.
func ValidatePlayerKey(k string) error {
	if len(k) > MaxPlayerKeyLen {
		return errorf(ErrPlayerKey, "player key is %d bytes, the limit is %d", len(k), MaxPlayerKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return errorf(ErrPlayerKey, "player key holds byte %#x, not printable ASCII", k[i])
		}
	}
	return nil
}

// ValidateFilterableKey checks a metadata key a host marks filterable: it
// goes on the LAN as part of a TXT key, which DNS-SD compares without
// regard to case and which may not hold '=', so it has the form of a game
// id: 1..MaxMetaKeyLen bytes of a-z, 0-9, '-', '_', '.', starting with a
// letter or digit. The error wraps ErrMeta.
func ValidateFilterableKey(k string) error {
	if k == "" || len(k) > MaxMetaKeyLen {
		return errorf(ErrMeta, "filterable key is %d bytes, want 1..%d", len(k), MaxMetaKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return errorf(ErrMeta, "filterable key %q: use a-z, 0-9, '-', '_', '.' and start with a letter or digit", k)
		}
	}
	return nil
}

// ValidateFilterable checks the keys a host marks filterable: at most
// MaxFilterableKeys, each of the form ValidateFilterableKey accepts, none
// twice. The error wraps ErrMeta.
func ValidateFilterable(keys []string) error {
	if len(keys) > MaxFilterableKeys {
		return errorf(ErrMeta, "%d filterable keys, the limit is %d", len(keys), MaxFilterableKeys)
	}
	for i, k := range keys {
		if err := ValidateFilterableKey(k); err != nil {
			return err
		}
		for _, o := range keys[:i] {
			if o == k {
				return errorf(ErrMeta, "filterable key %q given twice", k)
			}
		}
	}
	return nil
}

// ValidateFilter checks the parts of a filter: its equality terms (meta),
// the keys of its numeric ranges and their bounds (min ≤ max, not NaN),
// and the free seats it asks for. Keys are metadata keys (text, 1..
// MaxMetaKeyLen bytes), values metadata values; MaxFilterTerms,
// MaxFilterRanges and MaxFilterBytes bound them. The error wraps
// ErrFilter.
func ValidateFilter(meta map[string]string, ranges []FilterRange, free int) error {
	if len(meta) > MaxFilterTerms {
		return errorf(ErrFilter, "%d filter terms, the limit is %d", len(meta), MaxFilterTerms)
	}
	if len(ranges) > MaxFilterRanges {
		return errorf(ErrFilter, "%d filter ranges, the limit is %d", len(ranges), MaxFilterRanges)
	}
	total := 0
	for k, v := range meta {
		if k == "" {
			return errorf(ErrFilter, "filter key is empty")
		}
		if err := checkText(ErrFilter, "filter key", k, MaxMetaKeyLen); err != nil {
			return err
		}
		if err := checkText(ErrFilter, "filter value of "+strconv.Quote(k), v, MaxMetaValueLen); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	for _, r := range ranges {
		if r.Key == "" {
			return errorf(ErrFilter, "range key is empty")
		}
		if err := checkText(ErrFilter, "range key", r.Key, MaxMetaKeyLen); err != nil {
			return err
		}
		if math.IsNaN(r.Min) || math.IsNaN(r.Max) || r.Min > r.Max {
			return errorf(ErrFilter, "range of %q: min %v above max %v", r.Key, r.Min, r.Max)
		}
		total += len(r.Key)
	}
	if total > MaxFilterBytes {
		return errorf(ErrFilter, "filter is %d bytes, the limit is %d", total, MaxFilterBytes)
	}
	if free < 0 || free > MaxCapacity {
		return errorf(ErrFilter, "free seats %d outside 0..%d", free, MaxCapacity)
	}
	return nil
}

// FilterRange is a numeric range on a metadata key, bounds included; an
// open end is -Inf or +Inf.
type FilterRange struct {
	Key      string
	Min, Max float64
}

// ValidateSeats checks the seats one join takes: 1..MaxPartySeats. The
// error wraps ErrFilter.
func ValidateSeats(n int) error {
	if n < 1 || n > MaxPartySeats {
		return errorf(ErrFilter, "seats %d outside 1..%d", n, MaxPartySeats)
	}
	return nil
}
