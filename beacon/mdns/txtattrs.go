package mdns

import (
	"strconv"
	"strings"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/rules"
)

// TXT keys of a lobby's attributes (beacon.Attrs): the same game version,
// creation time and filterable metadata the beacon carries in its
// record's extension area, so that a lobby heard over mDNS alone filters
// as it does over the beacon. Older browsers ignore them as unknown keys.
const (
	TXTGameVersion = "gv" // game version
	TXTCreated     = "ct" // creation time: milliseconds since 1970-01-01 UTC, decimal
	TXTMetaPrefix  = "m." // m.<key>=<value>: one filterable metadata pair
	TXTPartial     = "mp" // mp=1: the lobby has metadata the record does not carry
	TXTTerm        = "tm" // the lobby's term (beacon.Attrs.Term), decimal; absent for 0

	// maxAttrsTXTLen is the most the attributes add to a lobby's TXT
	// record (TestMaxAttrsTXT checks it).
	maxAttrsTXTLen = 1 + len(TXTGameVersion+"=") + rules.MaxVersionLen +
		1 + len(TXTCreated+"=") + 19 +
		rules.MaxLANMetaKeys*(1+len(TXTMetaPrefix+"=")) + rules.MaxLANMetaBytes +
		1 + len(TXTPartial+"=1") +
		1 + len(TXTTerm+"=") + 10
)

// A lobby's TXT record with every attribute and field at its limit,
// signed, fits MaxTXTLen (and stays under 400 bytes, which RFC 6763 §6.2
// says fits a 512-byte DNS message); each meta string fits its length
// byte.
const (
	_ = uint(400 - maxLobbyTXTLen - maxAttrsTXTLen - signedTXTOverhead)
	_ = uint8(len(TXTMetaPrefix+"=") + rules.MaxMetaKeyLen + rules.MaxLANMetaBytes)
)

// appendAttrsTXT appends the TXT strings of a's attributes.
func appendAttrsTXT(txt []string, a beacon.Attrs) []string {
	if a.Version != "" {
		txt = append(txt, TXTGameVersion+"="+a.Version)
	}
	if a.CreatedMS > 0 {
		txt = append(txt, TXTCreated+"="+strconv.FormatInt(a.CreatedMS, 10))
	}
	for k, v := range a.Meta.All() {
		txt = append(txt, TXTMetaPrefix+k+"="+v)
	}
	if a.Meta.Partial() {
		txt = append(txt, TXTPartial+"=1")
	}
	if a.Term != 0 {
		txt = append(txt, TXTTerm+"="+strconv.FormatUint(uint64(a.Term), 10))
	}
	return txt
}

// decodeAttrsTXT reads the attributes from TXT strings (raw). Like the
// beacon it is lenient: what breaks the rules is left out, and a metadata
// pair so lost makes the result Partial.
func decodeAttrsTXT(txt []string) beacon.Attrs {
	var a beacon.Attrs
	var pairs [][2]string
	partial, seenV, seenC, seenT := false, false, false, false
	for _, s := range txt {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = asciiLower(k)
		switch {
		case k == TXTGameVersion && !seenV:
			seenV = true
			if v != "" && rules.ValidateVersion(v) == nil {
				a.Version = v
			}
		case k == TXTCreated && !seenC:
			seenC = true
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && len(v) <= 19 {
				a.CreatedMS = n
			}
		case k == TXTPartial:
			partial = true
		case k == TXTTerm && !seenT:
			seenT = true
			if n, err := strconv.ParseUint(v, 10, 32); err == nil && len(v) <= 10 {
				a.Term = uint32(n)
			}
		case strings.HasPrefix(k, TXTMetaPrefix):
			if len(pairs) > rules.MaxFilterableKeys {
				partial = true
				continue
			}
			pairs = append(pairs, [2]string{k[len(TXTMetaPrefix):], v})
		}
	}
	a.Meta = beacon.DecodeMetaPairs(pairs, partial)
	return a
}
