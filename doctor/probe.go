package doctor

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/lanlobby/lanlobby/rules"
)

// Doctor probes (PROTOCOL.md, "Doctor probes") travel on the beacon's port
// and groups, so they take the path beacons take and meet the same
// firewalls, but start with their own magic: beacon receivers of every
// version ignore them as foreign traffic. Each probe says which other
// doctors its sender has heard, and how (multicast, unicast), so two
// doctors learn whether traffic goes both ways, and a third one's report
// reveals hosts that cannot hear each other at all (client isolation).
const (
	// ProbeMagic starts every probe.
	ProbeMagic = "LLDR"
	// ProbeVersion is the version written and accepted.
	ProbeVersion = 1
	// MaxProbeSize bounds a probe, as MaxPacketSize bounds a beacon.
	MaxProbeSize = 1200
	// MaxHeard bounds the heard records of one probe.
	MaxHeard = 32
	// MaxProbeName bounds the sender's host name, in bytes.
	MaxProbeName = 63

	probeHeader = 4 + 1 + 1 + 2 + 8 + 4 // magic, version, via, reserved, id, seq
)

// Via says how a probe was sent.
type Via uint8

// Ways a probe is sent.
const (
	ViaMulticast Via = 1
	ViaUnicast   Via = 2
)

// Heard flags: how a doctor heard another.
const (
	HeardMulticast uint8 = 1 << 0
	HeardUnicast   uint8 = 1 << 1
)

// ErrNotProbe is Decode's error for anything that is not a doctor probe
// of this version (beacons included).
var ErrNotProbe = errors.New("doctor: not a doctor probe")

// errBadProbe is Decode's error for a damaged probe.
var errBadProbe = errors.New("doctor: malformed probe")

// Probe is one doctor probe.
type Probe struct {
	Via  Via
	ID   uint64 // the sending doctor, random per run
	Seq  uint32
	Name string // the sender's host name, for people (may be empty)
	// Heard lists the doctors the sender heard, with the address and port
	// it heard each from.
	Heard []Heard
}

// Heard is one doctor a probe's sender has heard.
type Heard struct {
	ID   uint64
	How  uint8 // HeardMulticast | HeardUnicast
	Addr netip.AddrPort
}

// EncodeProbe returns the wire form of p; records past MaxHeard and a
// name past MaxProbeName bytes are cut.
func EncodeProbe(p Probe) []byte {
	b := make([]byte, 0, 256)
	b = append(b, ProbeMagic...)
	b = append(b, ProbeVersion, byte(p.Via), 0, 0)
	b = binary.BigEndian.AppendUint64(b, p.ID)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	name := rules.Truncate(p.Name, MaxProbeName)
	if rules.ValidateCoordinatorName(name) != nil {
		name = ""
	}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	heard := p.Heard[:min(len(p.Heard), MaxHeard)]
	b = append(b, byte(len(heard)))
	for _, h := range heard {
		b = binary.BigEndian.AppendUint64(b, h.ID)
		a := h.Addr.Addr().Unmap().WithZone("")
		b = append(b, h.How)
		if a.Is4() {
			b = append(b, 4)
			b = append(b, a.AsSlice()...)
		} else {
			b = append(b, 16)
			b = append(b, a.AsSlice()...)
		}
		b = binary.BigEndian.AppendUint16(b, h.Addr.Port())
	}
	return b
}

// DecodeProbe parses a probe. It never panics and rejects trailing bytes.
func DecodeProbe(b []byte) (Probe, error) {
	if len(b) < 4 || string(b[:4]) != ProbeMagic || len(b) < 5 || b[4] != ProbeVersion {
		return Probe{}, ErrNotProbe
	}
	if len(b) > MaxProbeSize || len(b) < probeHeader+2 {
		return Probe{}, errBadProbe
	}
	p := Probe{Via: Via(b[5]), ID: binary.BigEndian.Uint64(b[8:]), Seq: binary.BigEndian.Uint32(b[16:])}
	if p.Via != ViaMulticast && p.Via != ViaUnicast {
		return Probe{}, errBadProbe
	}
	rest := b[probeHeader:]
	n := int(rest[0])
	if n > MaxProbeName || len(rest) < 1+n+1 {
		return Probe{}, errBadProbe
	}
	// The name is printed on terminals: text only (package rules).
	if p.Name = string(rest[1 : 1+n]); rules.ValidateCoordinatorName(p.Name) != nil {
		return Probe{}, errBadProbe
	}
	rest = rest[1+n:]
	count := int(rest[0])
	rest = rest[1:]
	if count > MaxHeard {
		return Probe{}, errBadProbe
	}
	for range count {
		if len(rest) < 8+1+1 {
			return Probe{}, errBadProbe
		}
		h := Heard{ID: binary.BigEndian.Uint64(rest), How: rest[8]}
		alen := int(rest[9])
		rest = rest[10:]
		if (alen != 4 && alen != 16) || len(rest) < alen+2 {
			return Probe{}, errBadProbe
		}
		a, _ := netip.AddrFromSlice(rest[:alen])
		h.Addr = netip.AddrPortFrom(a, binary.BigEndian.Uint16(rest[alen:]))
		rest = rest[alen+2:]
		p.Heard = append(p.Heard, h)
	}
	if len(rest) != 0 {
		return Probe{}, errBadProbe
	}
	return p, nil
}
