package beacon

import (
	"encoding/binary"
	"errors"
	"iter"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lanlobby/lanlobby/rules"
)

// A lobby's attributes travel in the lobby record's extension area, which
// version 1 decoders skip: type-length-value entries (type 1 byte, length
// 1 byte) filling the record's tail. A decoder skips types it does not
// know. PROTOCOL.md ("Lobby attributes") is the reference.
const (
	// AttrCreated: when the lobby was made, 8 bytes, milliseconds since
	// 1970-01-01 UTC: the quick-join order's tie break (the oldest first).
	AttrCreated = 1
	// AttrVersion: the game version, 1..rules.MaxVersionLen bytes.
	AttrVersion = 2
	// AttrMeta: one filterable metadata pair: a 1-byte key length, the
	// key, then the value up to the entry's end.
	AttrMeta = 3
	// AttrPartial: no value; the lobby has metadata this record does not
	// carry (not marked filterable, or beyond the room), so a filter on a
	// key it lacks cannot be decided from the LAN.
	AttrPartial = 4
	// AttrTerm: the lobby's term, 4 bytes: how often it changed
	// coordinator (a successor's takeover, a move to a daemon). When two
	// hosts announce the same lobby, the higher term is the lobby.
	AttrTerm = 5
)

// maxAttrsLen is the most the attributes add to a lobby record: every
// entry at its limit. With the other fields at theirs the record stays
// within its 1-byte length (the check below fails to compile otherwise).
const maxAttrsLen = (2 + 8) + (2 + rules.MaxVersionLen) + rules.MaxLANMetaKeys*(2+1) + rules.MaxLANMetaBytes + 2 + (2 + 4)

const _ = uint8(3 + MaxIDLen + MaxGameLen + MaxNameLen + 5 + maxAttrsLen)

// Attrs are what a lobby carries beyond version 1's fields: on the beacon
// in its record's extension area, in mDNS as extra TXT keys. The zero
// value is a lobby that carries none (an older host, or another
// publisher). Attrs is comparable, as Lobby and LobbyInfo are.
type Attrs struct {
	// Version is the game version ("" when none).
	Version string
	// CreatedMS is when the lobby was made, in milliseconds since
	// 1970-01-01 UTC (0 when unknown).
	CreatedMS int64
	// Meta is the lobby's filterable metadata, as much as the LAN carries.
	Meta Meta
	// Term counts the lobby's moves to another coordinator (0 for a lobby
	// still on the coordinator that made it): of two hosts announcing one
	// lobby, the one with the higher term holds it.
	Term uint32
}

// Meta is metadata as the LAN carries it: the pairs a host marked
// filterable, as many as fit (rules.MaxLANMetaKeys, rules.MaxLANMetaBytes),
// in the host's order, and whether the lobby has more (Partial). It is an
// immutable value and comparable.
type Meta struct {
	enc     string // pairs: uvarint key length, key, uvarint value length, value
	n       uint8  // pairs in enc (at most rules.MaxMetaKeys)
	partial bool
}

// LANMeta picks the metadata a host advertises on the LAN: the values of
// keys, in that order, that exist in meta and have the form of a
// filterable key (rules.ValidateFilterableKey), as long as they fit; the
// result is Partial when meta has anything it does not carry.
func LANMeta(meta map[string]string, keys []string) Meta {
	var m Meta
	size := 0
	for _, k := range keys {
		v, ok := meta[k]
		if !ok || int(m.n) == rules.MaxLANMetaKeys || size+len(k)+len(v) > rules.MaxLANMetaBytes ||
			rules.ValidateFilterableKey(k) != nil || m.has(k) {
			continue
		}
		m = m.with(k, v)
		size += len(k) + len(v)
	}
	m.partial = int(m.n) < len(meta)
	return m
}

// MetaOf carries all of meta (as a coordinator reports it), keys sorted.
func MetaOf(meta map[string]string) Meta {
	var m Meta
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		m = m.with(k, meta[k])
	}
	return m
}

func (m Meta) with(k, v string) Meta {
	b := []byte(m.enc)
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	return Meta{enc: string(b), n: m.n + 1, partial: m.partial}
}

func (m Meta) has(k string) bool {
	_, ok := m.Get(k)
	return ok
}

// Len is how many pairs m carries.
func (m Meta) Len() int { return int(m.n) }

// Partial reports whether the lobby has metadata m does not carry.
func (m Meta) Partial() bool { return m.partial }

// All yields the pairs in order.
func (m Meta) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := m.enc
		for len(s) > 0 {
			var k, v string
			k, s = cut(s)
			v, s = cut(s)
			if !yield(k, v) {
				return
			}
		}
	}
}

func cut(s string) (string, string) {
	n, w := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	return s[w : w+int(n)], s[w+int(n):]
}

// Get returns the value of key k.
func (m Meta) Get(k string) (string, bool) {
	for key, v := range m.All() {
		if key == k {
			return v, true
		}
	}
	return "", false
}

// Map returns the pairs as a new map (nil when there are none).
func (m Meta) Map() map[string]string {
	if m.n == 0 {
		return nil
	}
	out := make(map[string]string, int(m.n))
	for k, v := range m.All() {
		out[k] = v
	}
	return out
}

// String shows the pairs as k=v, space separated, with "…" when Partial.
func (m Meta) String() string {
	var b strings.Builder
	for k, v := range m.All() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + v)
	}
	if m.partial {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("…")
	}
	return b.String()
}

// validateAttrs holds attributes to what the LAN may carry: a version of
// the rules' form, and metadata within the LAN's limits.
func validateAttrs(a *Attrs) error {
	if err := rules.ValidateVersion(a.Version); err != nil {
		return err
	}
	if a.CreatedMS < 0 {
		return errors.New("negative creation time")
	}
	if int(a.Meta.n) > rules.MaxLANMetaKeys {
		return errors.New("too many metadata pairs for the LAN")
	}
	size := 0
	for k, v := range a.Meta.All() {
		if err := rules.ValidateFilterableKey(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return errors.New("metadata value is not UTF-8")
		}
		size += len(k) + len(v)
	}
	if size > rules.MaxLANMetaBytes {
		return errors.New("metadata over the LAN's room")
	}
	return nil
}

// attrsLen is the size of a's entries in a lobby record.
func attrsLen(a *Attrs) int {
	n := 0
	if a.CreatedMS != 0 {
		n += 2 + 8
	}
	if a.Version != "" {
		n += 2 + len(a.Version)
	}
	for k, v := range a.Meta.All() {
		n += 2 + 1 + len(k) + len(v)
	}
	if a.Meta.partial {
		n += 2
	}
	if a.Term != 0 {
		n += 2 + 4
	}
	return n
}

// appendAttrs appends a's entries to a lobby record.
func appendAttrs(dst []byte, a *Attrs) []byte {
	if a.CreatedMS != 0 {
		dst = append(dst, AttrCreated, 8)
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.CreatedMS))
	}
	if a.Version != "" {
		dst = append(dst, AttrVersion, byte(len(a.Version)))
		dst = append(dst, a.Version...)
	}
	for k, v := range a.Meta.All() {
		dst = append(dst, AttrMeta, byte(1+len(k)+len(v)), byte(len(k)))
		dst = append(dst, k...)
		dst = append(dst, v...)
	}
	if a.Meta.partial {
		dst = append(dst, AttrPartial, 0)
	}
	if a.Term != 0 {
		dst = append(dst, AttrTerm, 4)
		dst = binary.BigEndian.AppendUint32(dst, a.Term)
	}
	return dst
}

// decodeAttrs reads the entries of a lobby record's tail. It is lenient,
// as version 1 promised to skip the tail: an entry it cannot use is left
// out (a metadata pair so lost makes the result Partial, so a filter does
// not take its absence for a fact), unknown types are skipped, and a
// broken tail, or a known entry after one of a higher type (senders write
// them in type order), ends the reading. What it returns re-encodes to no
// more bytes than it read, in the same order.
func decodeAttrs(tail []byte) Attrs {
	var a Attrs
	size, last := 0, 0
	r := reader{b: tail}
	for len(r.b) > 0 {
		typ := r.u8()
		v := r.bytes(int(r.u8()))
		known := typ >= AttrCreated && typ <= AttrTerm
		if r.bad || known && int(typ) < last {
			break
		}
		if known {
			last = int(typ)
		}
		switch typ {
		case AttrCreated:
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > 0 && a.CreatedMS == 0 {
				a.CreatedMS = int64(binary.BigEndian.Uint64(v))
			}
		case AttrVersion:
			if ver := string(v); ver != "" && rules.ValidateVersion(ver) == nil && a.Version == "" {
				a.Version = ver
			}
		case AttrMeta:
			k, val, ok := metaEntry(v)
			if !ok || int(a.Meta.n) == rules.MaxLANMetaKeys || size+len(k)+len(val) > rules.MaxLANMetaBytes || a.Meta.has(k) {
				a.Meta.partial = true
				continue
			}
			a.Meta = a.Meta.with(k, val)
			size += len(k) + len(val)
		case AttrPartial:
			a.Meta.partial = true
		case AttrTerm:
			if len(v) == 4 && a.Term == 0 {
				a.Term = binary.BigEndian.Uint32(v)
			}
		}
	}
	return a
}

// metaEntry splits an AttrMeta value into a valid key and text value.
func metaEntry(v []byte) (string, string, bool) {
	if len(v) < 1 || int(v[0]) > len(v)-1 {
		return "", "", false
	}
	k, val := string(v[1:1+int(v[0])]), string(v[1+int(v[0]):])
	if rules.ValidateFilterableKey(k) != nil || rules.ValidateMeta(map[string]string{k: val}) != nil {
		return "", "", false
	}
	return k, val, true
}

// DecodeMetaPairs builds a Meta from pairs read elsewhere (mDNS TXT keys),
// under the same rules as the beacon's: pairs that break them are left
// out and make it Partial.
func DecodeMetaPairs(pairs [][2]string, partial bool) Meta {
	var m Meta
	size := 0
	for _, p := range pairs {
		k, v := p[0], p[1]
		if rules.ValidateFilterableKey(k) != nil || rules.ValidateMeta(map[string]string{k: v}) != nil ||
			int(m.n) == rules.MaxLANMetaKeys || size+len(k)+len(v) > rules.MaxLANMetaBytes || m.has(k) {
			partial = true
			continue
		}
		m = m.with(k, v)
		size += len(k) + len(v)
	}
	m.partial = partial
	return m
}
