package mdns

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// mDNS uses the top bit of the class: in a question it asks for a unicast
// response (QU, RFC 6762 §5.4), in a record it is the cache-flush bit of
// a unique record (RFC 6762 §10.2).
const (
	classMask  = 0x7fff
	topBit     = 0x8000
	classIN    = dns.ClassINET
	classFlush = dns.ClassINET | topBit
)

// rrClass is the class of rr without the cache-flush bit.
func rrClass(rr dns.RR) uint16 { return rr.Header().Class & classMask }

// cacheFlush reports whether rr carries the cache-flush bit.
func cacheFlush(rr dns.RR) bool { return rr.Header().Class&topBit != 0 }

// recordKey identifies a record by name, type, class and rdata, which is
// what "the same record" means in known-answer suppression (RFC 6762
// §7.1), duplicate answer suppression (§7.4), conflicts (§9) and the
// cache. Names, also inside PTR and SRV rdata, are compared canonically.
type recordKey string

// keyOf returns rr's key; TTL and the cache-flush bit are not part of it.
func keyOf(rr dns.RR) recordKey {
	h := rr.Header()
	var b []byte
	b = append(b, canonName(h.Name)...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, h.Rrtype)
	b = binary.BigEndian.AppendUint16(b, h.Class&classMask)
	switch r := rr.(type) {
	case *dns.PTR:
		b = append(b, canonName(r.Ptr)...)
	case *dns.SRV:
		b = binary.BigEndian.AppendUint16(b, r.Priority)
		b = binary.BigEndian.AppendUint16(b, r.Weight)
		b = binary.BigEndian.AppendUint16(b, r.Port)
		b = append(b, canonName(r.Target)...)
	default:
		b = append(b, rdata(rr)...)
	}
	return recordKey(b)
}

// nameTypeKey identifies an RRset: canonical name and type.
type nameTypeKey struct {
	name  string
	rtype uint16
}

func ntKey(rr dns.RR) nameTypeKey {
	return nameTypeKey{canonName(rr.Header().Name), rr.Header().Rrtype}
}

// rdata returns rr's rdata in uncompressed wire form, as RFC 6762 §8.2
// compares it; nil when rr cannot be packed.
func rdata(rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+64)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	_, nameEnd, err := dns.UnpackDomainName(buf, 0)
	if err != nil || nameEnd+10 > off {
		return nil
	}
	return buf[nameEnd+10 : off]
}

// compareRecords orders records as RFC 6762 §8.2 does for simultaneous
// probe tie-breaking: by class (without the cache-flush bit), then type,
// then raw uncompressed rdata bytes.
func compareRecords(a, b dns.RR) int {
	return cmp.Or(
		cmp.Compare(rrClass(a), rrClass(b)),
		cmp.Compare(a.Header().Rrtype, b.Header().Rrtype),
		bytes.Compare(rdata(a), rdata(b)),
	)
}

// tieBreak compares our probe's authority records for a name with a
// competing probe's (RFC 6762 §8.2): both sorted, compared pairwise; the
// first difference decides; a list that runs out first is the lesser.
// It returns > 0 when we win, < 0 when we lose and 0 when the records are
// identical (our own probe, looped back: not a conflict).
func tieBreak(ours, theirs []dns.RR) int {
	ours, theirs = slices.Clone(ours), slices.Clone(theirs)
	slices.SortFunc(ours, compareRecords)
	slices.SortFunc(theirs, compareRecords)
	for i := 0; i < len(ours) && i < len(theirs); i++ {
		if c := compareRecords(ours[i], theirs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ours), len(theirs))
}

func hdr(name string, rtype, class uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rtype, Class: class, Ttl: ttl}
}

func ptrRR(owner, target string, ttl uint32) *dns.PTR {
	return &dns.PTR{Hdr: hdr(owner, dns.TypePTR, classIN, ttl), Ptr: target}
}

func srvRR(instance, host string, port uint16, ttl uint32) *dns.SRV {
	return &dns.SRV{Hdr: hdr(instance, dns.TypeSRV, classFlush, ttl), Target: host, Port: port}
}

// txtRR builds a TXT record from raw strings. An empty TXT is one empty
// string (RFC 6763 §6.1).
func txtRR(instance string, txt []string, ttl uint32) *dns.TXT {
	esc := make([]string, 0, max(len(txt), 1))
	for _, s := range txt {
		esc = append(esc, escapeTXT(s))
	}
	if len(esc) == 0 {
		esc = append(esc, "")
	}
	return &dns.TXT{Hdr: hdr(instance, dns.TypeTXT, classFlush, ttl), Txt: esc}
}

// txtStrings returns a TXT record's raw strings.
func txtStrings(r *dns.TXT) []string {
	out := make([]string, 0, len(r.Txt))
	for _, s := range r.Txt {
		out = append(out, unescapeTXT(s))
	}
	return out
}

// addrRRs builds the A and AAAA records of host for addrs: only the
// addresses of the interface an answer goes out on, so a receiver never
// learns an address of another link.
func addrRRs(host string, addrs []netip.Addr, ttl uint32) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.Is4() {
			out = append(out, &dns.A{Hdr: hdr(host, dns.TypeA, classFlush, ttl), A: a.AsSlice()})
		} else {
			out = append(out, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA, classFlush, ttl), AAAA: a.AsSlice()})
		}
	}
	return out
}

// withTTL returns a copy of rr with the TTL set.
func withTTL(rr dns.RR, ttl uint32) dns.RR {
	c := dns.Copy(rr)
	c.Header().Ttl = ttl
	return c
}

// legacyCopy returns rr as sent to a legacy unicast querier (RFC 6762
// §6.7): TTL capped, no cache-flush bit.
func legacyCopy(rr dns.RR, maxTTL uint32) dns.RR {
	c := dns.Copy(rr)
	h := c.Header()
	h.Class &= classMask
	h.Ttl = min(h.Ttl, maxTTL)
	return c
}
