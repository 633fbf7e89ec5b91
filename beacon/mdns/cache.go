package mdns

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// refreshAt are the points of a record's TTL at which the browser asks
// for it again while it is still wanted (RFC 6762 §5.2), each with up to
// 2 % of the TTL of random delay.
var refreshAt = [...]int{80, 85, 90, 95}

// flushGrace is how long records of an RRset survive a cache-flush
// record that does not include them (RFC 6762 §10.2): records received
// within the last second are kept, older ones expire in a second.
const flushGrace = time.Second

// cacheEntry is one cached record.
type cacheEntry struct {
	rr       dns.RR // as received; the TTL is the original one
	key      recordKey
	nt       nameTypeKey
	ifIndex  int
	src      netip.AddrPort
	received time.Time
	// order counts the cache's adds: received orders records, order
	// those received at the same time.
	order   uint64
	expires time.Time
	// stage counts the refresh queries sent for this record; refresh is
	// when the next one is due (zero: none).
	stage   int
	refresh time.Time
	// legacy marks a record known only from an answer to a legacy
	// unicast query (addLegacy): its TTL is the capped one.
	legacy bool
	// seen is when this record was last received, also as a legacy copy
	// that did not replace it; sig is the verdict on its signature (TXT
	// records, with a LAN key).
	seen time.Time
	sig  sigVerdict
}

// sigVerdict is a TXT record's signature check: for the instance label
// and SRV port it was made with, as at the time at.
type sigVerdict struct {
	checked bool
	at      time.Time
	label   string
	port    uint16
	err     error
}

// remaining returns the TTL left at now, in whole seconds.
func (e *cacheEntry) remaining(now time.Time) uint32 {
	d := e.expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// cache is the browser's record cache (RFC 6762 §10). It is pure: every
// method takes the time, so expiry and refresh are tested with a fake
// clock. Not safe for concurrent use.
type cache struct {
	max     int
	jitter  func(time.Duration) time.Duration
	entries map[recordKey]*cacheEntry
	byNT    map[nameTypeKey]map[recordKey]*cacheEntry
	full    uint64 // records dropped: max entries held
	adds    uint64 // for cacheEntry.order
}

func newCache(max int, jitter func(time.Duration) time.Duration) *cache {
	return &cache{
		max:     max,
		jitter:  jitter,
		entries: make(map[recordKey]*cacheEntry),
		byNT:    make(map[nameTypeKey]map[recordKey]*cacheEntry),
	}
}

// add stores rr received at now on ifIndex from src and reports whether
// the cache's content changed (a new record, or one removed), not just a
// TTL refreshed.
//
//   - TTL 0 is a goodbye (§10.1): the record is removed at once rather
//     than after the RFC's one second, so a closed lobby leaves lists at
//     once, as it does with the beacon.
//   - The cache-flush bit (§10.2) replaces the rest of the RRset after a
//     second, records received within the last second excepted. Where
//     one record of a type counts (an instance's SRV and TXT), the
//     browser uses the newest that works (browseCore.bestTXT), so a TXT
//     change shows at once, and a conflicting record from another host
//     does not remove ours at once.
func (c *cache) add(now time.Time, rr dns.RR, ifIndex int, src netip.AddrPort) bool {
	k, nt := keyOf(rr), ntKey(rr)
	ttl := rr.Header().Ttl
	if ttl == 0 {
		if _, ok := c.entries[k]; ok {
			c.remove(k)
			return true
		}
		return false
	}
	changed := false
	if cacheFlush(rr) {
		for ok, e := range c.byNT[nt] {
			if ok == k {
				continue
			}
			if now.Sub(e.received) > flushGrace && e.expires.After(now.Add(flushGrace)) {
				e.expires = now.Add(flushGrace)
				e.refresh = time.Time{}
			}
		}
	}
	e, ok := c.entries[k]
	if !ok {
		if len(c.entries) >= c.max {
			c.full++
			return changed
		}
		e = &cacheEntry{key: k, nt: nt}
		c.entries[k] = e
		m := c.byNT[nt]
		if m == nil {
			m = make(map[recordKey]*cacheEntry)
			c.byNT[nt] = m
		}
		m[k] = e
		changed = true
	}
	c.adds++
	e.rr, e.ifIndex, e.src, e.received, e.legacy, e.seen, e.order = rr, ifIndex, src, now, false, now, c.adds
	e.expires = now.Add(time.Duration(ttl) * time.Second)
	e.stage = 0
	e.refresh = c.refreshTime(e)
	return changed
}

// addLegacy stores rr from an answer to one of our legacy unicast
// queries (RFC 6762 §6.7): its TTL was capped at 10 s by the responder
// and it has no cache-flush bit. It never shortens what the normal path
// cached: a live record already held from a multicast or QU answer is
// left as it is. A record known only this way is never offered as a
// known answer (knownAnswers), so the next QM query for it (the browse
// repeat a second later, the refresh queries from 80 % of its 10 s, a
// liveness check) is answered by multicast with the real TTL, which
// replaces it before it can expire while its responder is alive.
func (c *cache) addLegacy(now time.Time, rr dns.RR, ifIndex int, src netip.AddrPort) bool {
	if rr.Header().Ttl == 0 {
		return false // not an answer a responder gives; goodbyes come by multicast
	}
	k := keyOf(rr)
	if e, ok := c.entries[k]; ok && !e.legacy && e.expires.After(now) {
		e.seen = now
		return false
	}
	changed := c.add(now, rr, ifIndex, src)
	if e, ok := c.entries[k]; ok {
		e.legacy = true
	}
	return changed
}

// refreshTime is when the next refresh query for e is due, or zero.
func (c *cache) refreshTime(e *cacheEntry) time.Time {
	if e.stage >= len(refreshAt) {
		return time.Time{}
	}
	ttl := time.Duration(e.rr.Header().Ttl) * time.Second
	at := e.received.Add(ttl * time.Duration(refreshAt[e.stage]) / 100)
	return at.Add(c.jitter(ttl / 50))
}

func (c *cache) remove(k recordKey) {
	e, ok := c.entries[k]
	if !ok {
		return
	}
	delete(c.entries, k)
	if m := c.byNT[e.nt]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(c.byNT, e.nt)
		}
	}
}

// get returns the live records of a name and type.
func (c *cache) get(now time.Time, name string, rtype uint16) []*cacheEntry {
	var out []*cacheEntry
	for _, e := range c.byNT[nameTypeKey{canonName(name), rtype}] {
		if e.expires.After(now) {
			out = append(out, e)
		}
	}
	return out
}

// newest returns the most recently received live record of a name and
// type.
func (c *cache) newest(now time.Time, name string, rtype uint16) *cacheEntry {
	var best *cacheEntry
	for _, e := range c.get(now, name, rtype) {
		if best == nil || e.newer(best) {
			best = e
		}
	}
	return best
}

// newer reports whether e was received after o.
func (e *cacheEntry) newer(o *cacheEntry) bool {
	return e.received.After(o.received) || e.received.Equal(o.received) && e.order > o.order
}

// expire removes the records whose TTL ran out and returns them.
func (c *cache) expire(now time.Time) []*cacheEntry {
	var out []*cacheEntry
	for k, e := range c.entries {
		if !e.expires.After(now) {
			c.remove(k)
			out = append(out, e)
		}
	}
	return out
}

// refreshDue returns the records due for a refresh query at now and
// advances their schedules.
func (c *cache) refreshDue(now time.Time) []*cacheEntry {
	var out []*cacheEntry
	for _, e := range c.entries {
		if e.refresh.IsZero() || now.Before(e.refresh) {
			continue
		}
		e.stage++
		e.refresh = c.refreshTime(e)
		out = append(out, e)
	}
	return out
}

// next returns the earliest expiry or refresh.
func (c *cache) next() (at time.Time, ok bool) {
	for _, e := range c.entries {
		for _, t := range []time.Time{e.expires, e.refresh} {
			if !t.IsZero() && (!ok || t.Before(at)) {
				at, ok = t, true
			}
		}
	}
	return at, ok
}

// knownAnswers returns the live records answering q that have more than
// half their TTL left, with the TTL they have left, for a query's answer
// section (known-answer suppression, RFC 6762 §7.1); records known only
// from legacy answers are left out.
func (c *cache) knownAnswers(now time.Time, q dns.Question) []dns.RR {
	var out []dns.RR
	for _, e := range c.get(now, q.Name, q.Qtype) {
		if e.legacy {
			continue // see addLegacy
		}
		if rem := e.remaining(now); rem > e.rr.Header().Ttl/2 {
			rr := dns.Copy(e.rr)
			rr.Header().Ttl = rem
			rr.Header().Class &= classMask
			out = append(out, rr)
		}
	}
	return out
}

// dropName removes every record owned by name, and PTR records pointing
// at it: a lobby found dead by the liveness check is forgotten entirely.
func (c *cache) dropName(name string) {
	cn := canonName(name)
	for k, e := range c.entries {
		if e.nt.name == cn {
			c.remove(k)
		} else if p, ok := e.rr.(*dns.PTR); ok && canonName(p.Ptr) == cn {
			c.remove(k)
		}
	}
}

func (c *cache) len() int { return len(c.entries) }
