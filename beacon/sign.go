package beacon

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Signed beacons (PROTOCOL.md, "Signed beacons"): with a LAN key, every
// packet ends with a timestamp TLV and a MAC TLV over all the bytes before
// the MAC. The MAC proves the packet came from a holder of the key; it
// hides nothing (lobby names stay readable by anyone on the LAN).
const (
	// MACSize is the length of every MAC made with a Key: HMAC-SHA256
	// truncated to 128 bits, as in RFC 4868 (IPsec). Forging one takes
	// 2^127 tries on average, each a packet sent on the LAN and rejected
	// there (without the key no try can be checked offline), while 16
	// bytes less leave more room in the packet and in an mDNS TXT string.
	MACSize = 16
	// SignedOverhead is what signing adds to a packet: the timestamp TLV
	// (2 + 8 bytes) and the MAC TLV (2 + MACSize bytes). Signing senders
	// pack lobbies into MaxPacketSize - SignedOverhead bytes.
	SignedOverhead = 2 + 8 + 2 + MACSize
	// DefaultReplayWindow is how far a signed packet's timestamp may be
	// from the receiver's clock, either way: room for clock differences
	// between hosts, and the time during which a captured packet can be
	// replayed to a host that has no newer state for its lobby.
	DefaultReplayWindow = 30 * time.Second

	// LabelBeacon is the label (see Key.Sign) of beacon packet MACs.
	// Other users of the LAN key (mDNS TXT records) use labels of their
	// own, so that a MAC made for one can never pass for the other.
	LabelBeacon = "lanlobby beacon v1"

	// Packet-tail TLV types of signed packets.
	tlvTimestamp = 0x01 // 8 bytes: the signer's wall clock, unix milliseconds
	tlvMAC       = 0x02 // MACSize bytes; the last TLV of the packet
	tsLen        = 8

	// kdfSalt and kdfIterations are the passphrase stretching: PBKDF2
	// with HMAC-SHA256, as OWASP recommends in 2023 (~0.1 s on a laptop,
	// once per process).
	kdfSalt       = "lanlobby LAN key v1"
	kdfIterations = 600_000
)

// Errors of signature checks (Key.VerifyPacket). Receivers with a key
// drop such packets and count each kind apart.
var (
	// ErrUnsigned: the packet carries no MAC TLV.
	ErrUnsigned = errors.New("beacon: unsigned packet")
	// ErrBadSignature: the MAC is wrong (another key, or a packet
	// changed on the way), truncated, not the last TLV, or the signed
	// bytes lack a well-formed timestamp.
	ErrBadSignature = errors.New("beacon: bad signature")
	// ErrBadTimestamp: the MAC is right but the timestamp is outside the
	// replay window: a replayed packet, or clocks too far apart.
	ErrBadTimestamp = errors.New("beacon: timestamp outside the replay window")
)

// Key is a LAN key: a secret shared by the hosts of a LAN, derived from a
// passphrase by NewKey. With a key, advertisers and browsers sign what
// they send and ignore what is not signed with the same key. The zero Key
// means no signing. A Key is immutable and safe to share between
// goroutines and components; it prints as "beacon.Key(set)" and never
// shows the secret.
type Key struct {
	master *[sha256.Size]byte // nil: no key
}

// NewKey derives a LAN key from a passphrase:
//
//	master = PBKDF2-HMAC-SHA256(passphrase, salt "lanlobby LAN key v1", 600000 iterations, 32 bytes)
//
// The stretching matters because every signed beacon is broadcast: anyone
// on the LAN can collect MACs and try passphrases offline, and each try
// then costs 600,000 HMACs instead of one. It takes about 0.1 s, so derive
// the key once per process and share it. An empty passphrase is an error.
func NewKey(passphrase string) (Key, error) { return newKey(passphrase, kdfIterations) }

// newKey is NewKey with a chosen iteration count: tests use a few.
func newKey(passphrase string, iterations int) (Key, error) {
	if passphrase == "" {
		return Key{}, errors.New("beacon: empty LAN key passphrase")
	}
	m, err := pbkdf2.Key(sha256.New, passphrase, []byte(kdfSalt), iterations, sha256.Size)
	if err != nil {
		return Key{}, fmt.Errorf("beacon: deriving the LAN key: %w", err)
	}
	var k [sha256.Size]byte
	copy(k[:], m)
	return Key{master: &k}, nil
}

// IsZero reports whether k is the zero Key (no signing).
func (k Key) IsZero() bool { return k.master == nil }

// String says whether a key is set, never the key.
func (k Key) String() string {
	if k.IsZero() {
		return "beacon.Key(none)"
	}
	return "beacon.Key(set)"
}

// GoString is String, so %#v does not print the secret either.
func (k Key) GoString() string { return k.String() }

// subkey derives the key of one label: HKDF-Expand (RFC 5869) of the
// master key with info = label and length 32, which is
// HMAC-SHA256(master, label || 0x01).
func (k Key) subkey(label string) []byte {
	m := hmac.New(sha256.New, k.master[:])
	m.Write([]byte(label))
	m.Write([]byte{1})
	return m.Sum(nil)
}

// Sign returns the MACSize-byte MAC of msg under label: HMAC-SHA256 keyed
// with the label's subkey, truncated. The label separates the uses of one
// LAN key (LabelBeacon for beacon packets; mDNS TXT records take their
// own), so a MAC is only ever valid for what it was made for. msg should
// include a timestamp that the verifier checks (InWindow): a MAC alone
// does not stop replays. Sign panics on the zero Key: check IsZero first.
func (k Key) Sign(label string, msg []byte) []byte {
	if k.IsZero() {
		panic("beacon: Sign with the zero Key")
	}
	m := hmac.New(sha256.New, k.subkey(label))
	m.Write(msg)
	return m.Sum(nil)[:MACSize:MACSize]
}

// Verify reports whether mac is Sign(label, msg), in constant time. A MAC
// of any other length, and every MAC under the zero Key, is rejected.
func (k Key) Verify(label string, msg, mac []byte) bool {
	if k.IsZero() || len(mac) != MACSize {
		return false
	}
	return hmac.Equal(k.Sign(label, msg), mac)
}

// InWindow reports whether a signed timestamp is acceptable at now: at
// most window away from it, either way (the edges are accepted). Every
// signed source checks timestamps with it, so they agree at the edges.
func InWindow(signed, now time.Time, window time.Duration) bool {
	d := now.Sub(signed) // saturates instead of overflowing
	return d >= -window && d <= window
}

// SignPacket appends the timestamp TLV (now, to the millisecond) and the
// MAC TLV to pkt, an encoded packet (Encode, Pack) without either, and
// returns the extended slice, as append does. It fails, wrapping
// ErrInvalid, when the result would exceed MaxPacketSize; with the zero
// Key it fails too.
func (k Key) SignPacket(pkt []byte, now time.Time) ([]byte, error) {
	if k.IsZero() {
		return pkt, errors.New("beacon: SignPacket with the zero Key")
	}
	if n := len(pkt) + SignedOverhead; n > MaxPacketSize {
		return pkt, fmt.Errorf("%w: %d bytes signed, limit %d", ErrInvalid, n, MaxPacketSize)
	}
	pkt = append(pkt, tlvTimestamp, tsLen)
	pkt = binary.BigEndian.AppendUint64(pkt, uint64(now.UnixMilli()))
	mac := k.Sign(LabelBeacon, pkt[:len(pkt):len(pkt)])
	pkt = append(pkt, tlvMAC, MACSize)
	return append(pkt, mac...), nil
}

// VerifyPacket decodes a signed packet and checks it: the MAC under k,
// then the timestamp against now ± window (InWindow). Decode's errors
// come back unchanged; a packet that decodes but fails a check gives
// ErrUnsigned, ErrBadSignature or ErrBadTimestamp (wrapped, with
// details). It never panics, whatever b holds. The zero Key verifies
// nothing: every packet fails with ErrBadSignature.
func (k Key) VerifyPacket(b []byte, now time.Time, window time.Duration) (Packet, error) {
	p, tail, err := decode(b)
	if err != nil {
		return Packet{}, err
	}
	if _, err := k.verifyTail(b, tail, now, window); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// verifyTail checks the signature of b, a packet that decoded with its
// TLVs starting at tail (so they fill b exactly), and returns the signed
// timestamp.
func (k Key) verifyTail(b []byte, tail int, now time.Time, window time.Duration) (time.Time, error) {
	var (
		macs, stamps int
		last         = -1 // offset of the last TLV
		stamp        []byte
	)
	for i := tail; i+2 <= len(b); i += 2 + int(b[i+1]) {
		last = i
		switch b[i] {
		case tlvMAC:
			macs++
		case tlvTimestamp:
			stamps++
			stamp = b[i+2 : min(i+2+int(b[i+1]), len(b))]
		}
	}
	switch {
	case macs == 0:
		return time.Time{}, ErrUnsigned
	case k.IsZero():
		return time.Time{}, fmt.Errorf("%w: no key to check it with", ErrBadSignature)
	case b[last] != tlvMAC || macs > 1:
		return time.Time{}, fmt.Errorf("%w: MAC not the only last TLV", ErrBadSignature)
	case !k.Verify(LabelBeacon, b[:last], b[last+2:]):
		return time.Time{}, fmt.Errorf("%w: %d-byte MAC does not match", ErrBadSignature, len(b)-last-2)
	case stamps != 1 || len(stamp) != tsLen:
		return time.Time{}, fmt.Errorf("%w: %d timestamps, %d bytes", ErrBadSignature, stamps, len(stamp))
	}
	signed := time.UnixMilli(int64(binary.BigEndian.Uint64(stamp)))
	if !InWindow(signed, now, window) {
		return time.Time{}, fmt.Errorf("%w: signed %v, %v from here (window ±%v)", ErrBadTimestamp,
			signed.UTC().Format(time.RFC3339Nano), now.Sub(signed).Round(time.Millisecond), window)
	}
	return signed, nil
}

// signing is a component's LAN key policy: it signs what the component
// sends and, on receipt, drops and counts what is not signed with its key.
// Without a key it passes everything through unchanged. Safe for
// concurrent use.
type signing struct {
	key    Key
	window time.Duration
	now    func() time.Time
	log    *slog.Logger

	unsigned, badSignature, badTimestamp atomic.Uint64
}

// pack is Pack, signed: lobbies are packed with room for the signature.
func (s *signing) pack(p *Packet) ([][]byte, error) {
	if s.key.IsZero() {
		return Pack(p)
	}
	pkts, err := pack(p, MaxPacketSize-SignedOverhead)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range pkts {
		if pkts[i], err = s.key.SignPacket(pkts[i], now); err != nil {
			return nil, err
		}
	}
	return pkts, nil
}

// encodeQuery is Encode for a query, padded (tlvPadding) so that with its
// signature it fills MaxPacketSize: an answer is at most MaxAmplification
// times the query, and a full one takes a full query.
func (s *signing) encodeQuery(p *Packet) ([]byte, error) {
	b, err := Encode(p)
	if err != nil {
		return nil, err
	}
	room := MaxPacketSize
	if !s.key.IsZero() {
		room -= SignedOverhead
	}
	b = appendPadding(b, room-len(b))
	if s.key.IsZero() {
		return b, nil
	}
	return s.key.SignPacket(b, s.now())
}

// encode is Encode, signed.
func (s *signing) encode(p *Packet) ([]byte, error) {
	b, err := Encode(p)
	if err != nil || s.key.IsZero() {
		return b, err
	}
	return s.key.SignPacket(b, s.now())
}

// verifies reports whether b passes the key's checks (always without a
// key), counting nothing: for packets the component only looks at.
func (s *signing) verifies(b []byte, tail int) bool {
	if s.key.IsZero() {
		return true
	}
	_, err := s.key.verifyTail(b, tail, s.now(), s.window)
	return err == nil
}

// accept reports whether b, decoded with its TLVs at tail, may be used:
// always without a key; with one, only when signed with it and within
// the window, and then it returns the signed timestamp too (zero without
// a key). Rejections are counted; the 1st, 2nd, 4th... of each kind is
// logged.
func (s *signing) accept(b []byte, tail int, src netip.AddrPort) (signed time.Time, ok bool) {
	if s.key.IsZero() {
		return time.Time{}, true
	}
	signed, err := s.key.verifyTail(b, tail, s.now(), s.window)
	switch {
	case err == nil:
		return signed, true
	case errors.Is(err, ErrUnsigned):
		if n := s.unsigned.Add(1); n&(n-1) == 0 {
			s.log.Info("beacon: unsigned packet ignored (sender has no LAN key)", "src", src, "count", n)
		}
	case errors.Is(err, ErrBadSignature):
		if n := s.badSignature.Add(1); n&(n-1) == 0 {
			s.log.Warn("beacon: packet with a bad signature ignored (another LAN key?)", "src", src, "count", n, "err", err)
		}
	default:
		if n := s.badTimestamp.Add(1); n&(n-1) == 0 {
			s.log.Warn("beacon: signed packet outside the replay window ignored (replayed, or clocks apart)",
				"src", src, "count", n, "err", err)
		}
	}
	return time.Time{}, false
}
