package beacon

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lanlobby/lanlobby/rules"
)

// Errors of Encode and Decode. Receivers count ErrMalformed (a bug or an
// attack) apart from ErrNotBeacon (other traffic on the port) and
// ErrVersion (a newer lanlobby).
var (
	ErrNotBeacon = errors.New("beacon: not a beacon packet")
	ErrVersion   = errors.New("beacon: unsupported version")
	ErrMalformed = errors.New("beacon: malformed packet")
	// ErrInvalid is returned by Encode and Pack for a packet that breaks
	// the rules Decode enforces; nothing invalid is ever sent.
	ErrInvalid = errors.New("beacon: invalid packet")
)

// Packet-tail TLV types of version 1 besides the signature's (sign.go).
const (
	// tlvAfter, in a query: a lobby id; answer only the lobbies after it.
	tlvAfter = 0x03
	// tlvPadding: any bytes, ignored. A querier pads its query because an
	// answer is at most MaxAmplification times the query's size.
	tlvPadding = 0x04
)

// Encode returns the wire form of p, or an error wrapping ErrInvalid.
func Encode(p *Packet) ([]byte, error) { return AppendEncode(make([]byte, 0, 256), p) }

// AppendEncode appends the wire form of p to dst. It lets a sender reuse
// one buffer.
func AppendEncode(dst []byte, p *Packet) ([]byte, error) {
	if err := validate(p); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	start := len(dst)
	count := len(p.Lobbies)
	if p.Kind == KindCoordinator {
		count = 1
	}
	dst = append(dst, Magic...)
	dst = append(dst, Version, byte(p.Kind), byte(p.Flags), byte(count))
	dst = binary.BigEndian.AppendUint32(dst, p.Seq)
	dst = binary.BigEndian.AppendUint16(dst, p.TTLSeconds)
	switch p.Kind {
	case KindAnnounce, KindGoodbye:
		for i := range p.Lobbies {
			dst = appendLobby(dst, &p.Lobbies[i])
		}
	case KindQuery:
		dst = appendStr(dst, p.Game)
		if p.After != "" {
			dst = append(dst, tlvAfter)
			dst = appendStr(dst, p.After)
		}
	case KindCoordinator:
		c := p.Coordinator
		dst = append(dst, byte(1+len(c.ID)+1+len(c.Name)+2))
		dst = appendStr(dst, c.ID)
		dst = appendStr(dst, c.Name)
		dst = binary.BigEndian.AppendUint16(dst, c.Port)
	}
	if n := len(dst) - start; n > MaxPacketSize {
		return dst[:start], fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, n, MaxPacketSize)
	}
	return dst, nil
}

// appendPadding appends padding TLVs filling n more bytes (nothing when
// n < 2; a 1-byte remainder is left unfilled).
func appendPadding(dst []byte, n int) []byte {
	for n >= 2 {
		l := min(n-2, 255)
		if r := n - 2 - l; r == 1 {
			l-- // leave room for a last TLV of at least 2 bytes
		}
		dst = append(dst, tlvPadding, byte(l))
		dst = append(dst, make([]byte, l)...)
		n -= 2 + l
	}
	return dst
}

// lobbyRecordLen is the encoded size of l including its length byte.
func lobbyRecordLen(l *Lobby) int {
	return 1 + 3 + len(l.ID) + len(l.Game) + len(l.Name) + 5 + attrsLen(&l.Attrs)
}

func appendLobby(dst []byte, l *Lobby) []byte {
	dst = append(dst, byte(lobbyRecordLen(l)-1))
	dst = appendStr(dst, l.ID)
	dst = appendStr(dst, l.Game)
	dst = appendStr(dst, l.Name)
	dst = append(dst, byte(l.Players), byte(l.Capacity), byte(l.State))
	dst = binary.BigEndian.AppendUint16(dst, l.Port)
	return appendAttrs(dst, &l.Attrs)
}

func appendStr(dst []byte, s string) []byte { return append(append(dst, byte(len(s))), s...) }

// Pack encodes p as one or more packets of at most MaxPacketSize bytes
// and MaxLobbiesPerPacket lobbies each, all with p's header: how a host
// with many lobbies announces them or answers a query in as few packets
// as fit. Kinds without lobbies give one packet.
func Pack(p *Packet) ([][]byte, error) { return pack(p, MaxPacketSize) }

// pack is Pack with packets of at most limit bytes: a signing sender
// leaves room for the signature (SignedOverhead).
func pack(p *Packet, limit int) ([][]byte, error) {
	if (p.Kind != KindAnnounce && p.Kind != KindGoodbye) || len(p.Lobbies) == 0 {
		b, err := Encode(p)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
	var out [][]byte
	rest := p.Lobbies
	for len(rest) > 0 {
		size, n := headerLen, 0
		for n < len(rest) && n < MaxLobbiesPerPacket && size+lobbyRecordLen(&rest[n]) <= limit {
			size += lobbyRecordLen(&rest[n])
			n++
		}
		q := *p
		q.Lobbies = rest[:max(n, 1)] // an oversized record fails in Encode
		b, err := Encode(&q)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		rest = rest[len(q.Lobbies):]
	}
	return out, nil
}

// Decode parses one packet. It never panics, allocates no more than the
// packet's length justifies, and accepts only what Encode could produce
// plus the extension space of PROTOCOL.md ("LAN beacon") (record tails, trailing TLVs).
func Decode(b []byte) (Packet, error) {
	p, _, err := decode(b)
	return p, err
}

// decode is Decode that also returns where the packet-tail TLVs start
// (len(b) when there are none), for signature checks.
func decode(b []byte) (Packet, int, error) {
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		return Packet{}, 0, ErrNotBeacon
	}
	if len(b) < headerLen {
		return Packet{}, 0, fmt.Errorf("%w: %d-byte header", ErrMalformed, len(b))
	}
	if b[4] != Version {
		return Packet{}, 0, fmt.Errorf("%w %d", ErrVersion, b[4])
	}
	if len(b) > MaxPacketSize {
		return Packet{}, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxPacketSize)
	}
	p := Packet{
		Kind:       Kind(b[5]),
		Flags:      Flags(b[6]),
		Seq:        binary.BigEndian.Uint32(b[8:]),
		TTLSeconds: binary.BigEndian.Uint16(b[12:]),
	}
	count := int(b[7])
	r := reader{b: b[headerLen:]}
	switch p.Kind {
	case KindAnnounce, KindGoodbye:
		if count < 1 || count > MaxLobbiesPerPacket || count*minLobbyRecord > len(r.b) {
			return Packet{}, 0, fmt.Errorf("%w: %d lobbies in %d bytes", ErrMalformed, count, len(r.b))
		}
		p.Lobbies = make([]Lobby, count)
		for i := range p.Lobbies {
			rec := reader{b: r.bytes(int(r.u8()))}
			l := &p.Lobbies[i]
			l.ID, l.Game, l.Name = rec.str(), rec.str(), rec.str()
			l.Players, l.Capacity, l.State = int(rec.u8()), int(rec.u8()), State(rec.u8())
			l.Port = rec.u16()
			if rec.bad {
				r.bad = true
			} else {
				l.Attrs = decodeAttrs(rec.b)
			}
		}
	case KindQuery:
		if count != 0 {
			return Packet{}, 0, fmt.Errorf("%w: query with %d records", ErrMalformed, count)
		}
		p.Game = r.str()
	case KindCoordinator:
		if count != 1 {
			return Packet{}, 0, fmt.Errorf("%w: coordinator with %d records", ErrMalformed, count)
		}
		rec := reader{b: r.bytes(int(r.u8()))}
		p.Coordinator = &Coordinator{ID: rec.str(), Name: rec.str(), Port: rec.u16()}
		if rec.bad {
			r.bad = true
		}
	default:
		return Packet{}, 0, fmt.Errorf("%w: unknown kind %d", ErrMalformed, p.Kind)
	}
	if r.bad {
		return Packet{}, 0, fmt.Errorf("%w: truncated %s", ErrMalformed, p.Kind)
	}
	// Extension area: TLVs (type, length, value) filling the rest exactly.
	// Decode skips them all but a query's After; the signature TLVs are
	// checked by Key.
	tail := len(b) - len(r.b)
	afters := 0
	for len(r.b) > 0 {
		typ := r.u8()
		v := r.bytes(int(r.u8()))
		if r.bad {
			return Packet{}, 0, fmt.Errorf("%w: broken extension area", ErrMalformed)
		}
		if typ == tlvAfter && p.Kind == KindQuery {
			if afters++; afters > 1 || len(v) == 0 {
				return Packet{}, 0, fmt.Errorf("%w: %d after TLVs, %d bytes", ErrMalformed, afters, len(v))
			}
			p.After = string(v)
		}
	}
	if err := validate(&p); err != nil {
		return Packet{}, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return p, tail, nil
}

// reader consumes a byte slice; reads past the end set bad and return
// zero values, so a parse runs to completion and is checked once.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.bytes(int(r.u8()))) }

// validate holds every rule of a version 1 packet, shared by Encode and
// Decode.
func validate(p *Packet) error {
	switch p.Kind {
	case KindAnnounce, KindGoodbye:
		if n := len(p.Lobbies); n < 1 || n > MaxLobbiesPerPacket {
			return fmt.Errorf("%s with %d lobbies", p.Kind, n)
		}
		if (p.Kind == KindAnnounce) != (p.TTLSeconds > 0) {
			return fmt.Errorf("%s with TTL %d", p.Kind, p.TTLSeconds)
		}
		if p.Game != "" || p.After != "" || p.Coordinator != nil {
			return fmt.Errorf("%s with query or coordinator fields", p.Kind)
		}
		for i := range p.Lobbies {
			if err := validateLobby(&p.Lobbies[i]); err != nil {
				return err
			}
		}
	case KindQuery:
		if p.TTLSeconds != 0 || p.Lobbies != nil || p.Coordinator != nil {
			return errors.New("query with TTL, lobbies or coordinator")
		}
		if p.Game != "" {
			if err := validGame(p.Game); err != nil {
				return err
			}
		}
		if p.After != "" {
			if err := rules.ValidateLobbyID(p.After); err != nil {
				return fmt.Errorf("query after: %w", err)
			}
		}
	case KindCoordinator:
		c := p.Coordinator
		if c == nil || p.Lobbies != nil || p.Game != "" || p.After != "" {
			return errors.New("coordinator packet without coordinator or with other fields")
		}
		if err := rules.ValidateLobbyID(c.ID); err != nil {
			return fmt.Errorf("coordinator: %w", err)
		}
		if err := rules.ValidateCoordinatorName(c.Name); err != nil {
			return err
		}
		if c.Port == 0 {
			return errors.New("coordinator port 0")
		}
	default:
		return fmt.Errorf("unknown kind %d", p.Kind)
	}
	return nil
}

// ValidateLobby reports whether l can be announced: Advertiser.Set calls
// it so a bad lobby is refused up front instead of failing every send.
// The error wraps ErrInvalid and, for a name, game id, lobby id or
// capacity, the sentinel of package rules that was broken.
func ValidateLobby(l Lobby) error {
	if err := validateLobby(&l); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// validateLobby holds a lobby to the rules the coordinator made it under
// (package rules): a lobby the coordinator accepts can be announced, and
// one it would refuse is neither sent nor accepted.
func validateLobby(l *Lobby) error {
	if err := rules.ValidateLobbyID(l.ID); err != nil {
		return err
	}
	if err := validGame(l.Game); err != nil {
		return err
	}
	if err := rules.ValidateLobbyName(l.Name); err != nil {
		return err
	}
	if err := rules.ValidateCapacity(l.Capacity); err != nil {
		return fmt.Errorf("lobby %q: %w", l.ID, err)
	}
	switch {
	case l.Players < 0 || l.Players > l.Capacity:
		return fmt.Errorf("lobby %q: %d players, capacity %d", l.ID, l.Players, l.Capacity)
	case l.State < StateOpen || l.State > StateClosed:
		return fmt.Errorf("lobby %q: unknown state %d", l.ID, l.State)
	case l.Port == 0:
		return fmt.Errorf("lobby %q: port 0", l.ID)
	}
	if err := validateAttrs(&l.Attrs); err != nil {
		return fmt.Errorf("lobby %q: %w", l.ID, err)
	}
	return nil
}

// validGame: a game id in normal form (rules.ValidateGame), in a lobby, a
// query's filter and a browser's filter alike, so that a filter matches
// the same lobbies here as on the coordinator and in mDNS.
func validGame(g string) error { return rules.ValidateGame(g) }
