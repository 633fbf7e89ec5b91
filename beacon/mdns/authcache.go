package mdns

import (
	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/netutil"
)

// Answering compares every record we own with the questions, the known
// answers and the records already chosen, by canonical name and key.
// Building a daemon's records and those forms for every query cost 20-140
// ms of CPU over 512 lobbies (BenchmarkAnswer512); they are built once per
// service instead, when its name, TXT record or our host name changes.

// authRR is one of our records with the forms answering compares it by,
// computed once.
type authRR struct {
	rr   dns.RR
	name string    // canonName of the owner name
	key  recordKey // keyOf(rr)
	// target is the canonical name a PTR or SRV record points at;
	// instance says whether a PTR's target is a service instance.
	target   string
	instance bool
}

func newAuthRR(rr dns.RR) authRR {
	a := authRR{rr: rr, name: canonName(rr.Header().Name), key: keyOf(rr)}
	switch r := rr.(type) {
	case *dns.PTR:
		a.target = canonName(r.Ptr)
		_, a.instance = parseInstance(r.Ptr)
	case *dns.SRV:
		a.target = canonName(r.Target)
	}
	return a
}

// recordCache is a service's records (PTRs, SRV, TXT) as of the names,
// TXT version and TTL they were built for.
type recordCache struct {
	host, label string
	txtGen      uint64
	ttl         uint32
	rrs         []authRR
}

// serviceRRs returns s's shared and unique records, from its cache when
// nothing they depend on changed.
func (c *core) serviceRRs(s *service) []authRR {
	k := &s.cache
	if k.rrs != nil && k.host == c.host.label && k.label == s.owner.label && k.txtGen == s.txtGen && k.ttl == c.cfg.ttl {
		return k.rrs
	}
	rrs := append(c.sharedRecords(s, c.cfg.ttl), c.uniqueRecords(s, c.cfg.ttl)...)
	k.rrs = make([]authRR, len(rrs))
	for i, rr := range rrs {
		k.rrs[i] = newAuthRR(rr)
	}
	k.host, k.label, k.txtGen, k.ttl = c.host.label, s.owner.label, s.txtGen, c.cfg.ttl
	return k.rrs
}

// authoritativeRRs is authoritative with the compared forms: every record
// we answer with on ifi. The slice is the core's, reused: valid until the
// next call (its callers answer one query or flush once, and do not
// nest).
func (c *core) authoritativeRRs(ifi netutil.Iface) []authRR {
	if !c.host.answering() {
		return nil
	}
	out := c.authBuf[:0]
	defer func() { c.authBuf = out[:0] }()
	for _, rr := range c.hostRecords(ifi, c.cfg.ttl) {
		out = append(out, newAuthRR(rr))
	}
	svcs := c.answeringServices()
	for _, s := range svcs {
		out = append(out, c.serviceRRs(s)...)
	}
	if len(svcs) > 0 {
		if c.enum.rr == nil || c.enum.rr.Header().Ttl != c.cfg.ttl {
			c.enum = newAuthRR(enumRecord(c.cfg.ttl))
		}
		out = append(out, c.enum)
	}
	return out
}

// rrsOf returns the records of as.
func rrsOf(as []authRR) []dns.RR {
	out := make([]dns.RR, len(as))
	for i, a := range as {
		out[i] = a.rr
	}
	return out
}
