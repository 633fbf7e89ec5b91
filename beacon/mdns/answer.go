package mdns

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/netutil"
)

// Sizes of the messages we send. maxMulticast keeps a multicast packet
// inside an Ethernet MTU with IPv6 and UDP headers (RFC 6762 §17 allows
// more, but fragments get lost); legacy unicast answers stay within 512
// bytes unless the query's EDNS0 option allows more (RFC 6762 §6.7).
const (
	maxMulticast = 1400
	legacyMax    = 512
)

var (
	netipZero     netip.AddrPort
	netipZeroAddr netip.Addr
)

// handle processes one received datagram and returns what to send. It
// never panics on any input (FuzzHandleMessage): a message that does not
// parse, has a non-zero opcode or rcode (RFC 6762 §18.3, §18.11), arrives
// on an interface we do not serve, or fails the source checks is
// dropped and counted.
func (c *core) handle(now time.Time, in inbound) []outPacket {
	if !c.live() {
		return nil
	}
	c.resignDue(now)
	ifi, ok := c.iface(in.ifIndex)
	if !ok {
		if in.ifIndex != 0 || len(c.ifaces) != 1 {
			c.stats.Ignored++
			return nil
		}
		ifi = c.ifaces[0] // the platform cannot tell; one interface is unambiguous
	}
	m := new(dns.Msg)
	if err := m.Unpack(in.data); err != nil {
		c.stats.Malformed++
		return nil
	}
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		c.stats.Ignored++
		return nil
	}
	if m.Response {
		// §6: responses from a port other than 5353 are not mDNS; §11:
		// a unicast response must come from the link.
		if in.src.Port() != Port || (!in.multicast() && in.ttl != mdnsTTL && !ifi.OnLink(in.src.Addr())) {
			c.stats.Ignored++
			return nil
		}
		c.handleResponse(now, m, ifi)
		return nil
	}
	// §5.5: a query sent to our unicast address from off the link is not
	// answered, so we cannot be used to reflect traffic elsewhere.
	if !in.multicast() && !ifi.OnLink(in.src.Addr()) {
		c.stats.Ignored++
		return nil
	}
	c.stats.Queries++
	return c.handleQuery(now, m, in, ifi)
}

// handleResponse checks a response for conflicts and suppresses our
// pending answers that it already gave (duplicate answer suppression,
// §7.4).
func (c *core) handleResponse(now time.Time, m *dns.Msg, ifi netutil.Iface) {
	c.checkConflicts(now, m, ifi)
	c.suppressPending(ifi.Index, m.Answer)
}

// suppressPending drops pending multicast answers on an interface that
// rrs already carry with at least half our TTL.
func (c *core) suppressPending(ifIndex int, rrs []dns.RR) {
	p := c.pending[ifIndex]
	if len(p) == 0 {
		return
	}
	for _, rr := range rrs {
		if rr.Header().Ttl >= c.cfg.ttl/2 {
			delete(p, keyOf(rr))
		}
	}
}

// knownAnswers returns the keys of the records a query lists as already
// known with at least half their TTL left; those are not sent (§7.1).
func (c *core) knownAnswers(m *dns.Msg) map[recordKey]bool {
	known := map[recordKey]bool{}
	for _, rr := range m.Answer {
		if rr.Header().Ttl >= c.cfg.ttl/2 {
			known[keyOf(rr)] = true
		}
	}
	return known
}

// handleQuery answers a query on ifi.
//
//   - Legacy unicast (source port not 5353, §6.7): answered at once by
//     unicast to the source, with the ID and questions copied, TTLs capped
//     at 10 s, no cache-flush bits.
//   - QU questions (§5.4): answered at once by unicast to the querier.
//   - QM questions: answered by multicast; unique records at once, shared
//     ones (PTR) after 20-120 ms (§6), 400-500 ms when the querier said
//     more known answers follow (TC, §7.2); a record multicast on the
//     interface less than a second ago waits for the second to pass
//     (§6.2).
//   - Known answers (§7.1) are left out, and pending answers they list are
//     dropped.
//   - A probe for a name we own is defended at once (§8.1); a probe for a
//     name we probe ourselves is tie-broken (§8.2).
func (c *core) handleQuery(now time.Time, m *dns.Msg, in inbound, ifi netutil.Iface) []outPacket {
	legacy := in.src.Port() != Port
	var out []outPacket
	if !legacy && len(m.Ns) > 0 {
		out = append(out, c.handleProbe(now, m, ifi)...)
	}
	known := map[recordKey]bool{}
	if !legacy {
		known = c.knownAnswers(m)
		c.suppressPending(ifi.Index, m.Answer)
	}
	auth := c.authoritative(ifi)
	if len(auth) == 0 || len(m.Question) == 0 {
		return out
	}
	probed := map[string]bool{} // names with authority records: probes, handled above
	for _, rr := range m.Ns {
		probed[canonName(rr.Header().Name)] = true
	}
	// Canonical names and keys of our records, computed once: a query
	// may carry hundreds of questions.
	authNames := make([]string, len(auth))
	authKeys := make([]recordKey, len(auth))
	for i, rr := range auth {
		authNames[i] = canonName(rr.Header().Name)
		authKeys[i] = keyOf(rr)
	}
	var uni, multi []dns.RR
	seen := map[recordKey]bool{}
	asked := map[dns.Question]bool{}
	for _, q := range m.Question {
		if asked[q] {
			continue
		}
		asked[q] = true
		qname := canonName(q.Name)
		if !legacy && probed[qname] {
			continue
		}
		qu := q.Qclass&topBit != 0
		qc := q.Qclass & classMask
		if qc != classIN && qc != dns.ClassANY {
			continue
		}
		for i, rr := range auth {
			if (q.Qtype != dns.TypeANY && q.Qtype != rr.Header().Rrtype) || authNames[i] != qname {
				continue
			}
			k := authKeys[i]
			if known[k] || seen[k] {
				continue
			}
			seen[k] = true
			if legacy || qu {
				uni = append(uni, rr)
			} else {
				multi = append(multi, rr)
			}
		}
	}
	if legacy {
		if len(uni) > 0 {
			c.stats.Unicast++
			out = append(out, c.legacyAnswer(m, in, ifi, uni, auth)...)
		}
		return out
	}
	if len(uni) > 0 {
		c.stats.Unicast++
		reply := &dns.Msg{}
		reply.Id = m.Id
		reply.Response, reply.Authoritative = true, true
		reply.Answer = uni
		reply.Extra = additionals(uni, auth, known)
		out = append(out, c.pack(reply, ifi.Index, in.src, netipZeroAddr)...)
	}
	if len(multi) > 0 {
		c.schedule(now, ifi.Index, multi, m.Truncated)
	}
	return out
}

// legacyAnswer builds the unicast reply to a legacy query (§6.7).
func (c *core) legacyAnswer(m *dns.Msg, in inbound, ifi netutil.Iface, answers, auth []dns.RR) []outPacket {
	reply := new(dns.Msg)
	reply.Id = m.Id
	reply.Response, reply.Authoritative = true, true
	reply.Question = make([]dns.Question, len(m.Question))
	for i, q := range m.Question {
		q.Qclass &= classMask
		reply.Question[i] = q
	}
	for _, rr := range answers {
		reply.Answer = append(reply.Answer, legacyCopy(rr, legacyTTL))
	}
	for _, rr := range additionals(answers, auth, nil) {
		reply.Extra = append(reply.Extra, legacyCopy(rr, legacyTTL))
	}
	size := legacyMax
	if opt := m.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), legacyMax), maxMulticast)
	}
	reply.Compress = true
	for reply.Len() > size && len(reply.Extra) > 0 {
		reply.Extra = reply.Extra[:len(reply.Extra)-1]
	}
	for reply.Len() > size && len(reply.Answer) > 1 {
		reply.Answer = reply.Answer[:len(reply.Answer)-1]
		reply.Truncated = true
	}
	b, err := reply.Pack()
	if err != nil {
		c.cfg.log.Warn("mdns: cannot pack legacy answer", "err", err)
		return nil
	}
	// Reply from the address the query was sent to, if it was unicast,
	// so a resolver that checks the source (dig) accepts it.
	src := netipZeroAddr
	if !in.multicast() {
		src = in.dst
	}
	return []outPacket{{data: b, ifIndex: ifi.Index, dst: in.src, src: src}}
}

// additionals returns the records that make answers usable without
// another query (RFC 6763 §12, RFC 6762 §6.2): for a service PTR the SRV,
// TXT and addresses; for an SRV the addresses; for an address record the
// other family's. Records already answered or known are left out.
func additionals(answers, auth []dns.RR, known map[recordKey]bool) []dns.RR {
	in := map[recordKey]bool{}
	for _, rr := range answers {
		in[keyOf(rr)] = true
	}
	var want []string // names whose SRV/TXT are wanted
	var hosts []string
	for _, rr := range answers {
		switch r := rr.(type) {
		case *dns.PTR:
			if _, ok := parseInstance(r.Ptr); ok {
				want = append(want, canonName(r.Ptr))
			}
		case *dns.SRV:
			hosts = append(hosts, canonName(r.Target))
		case *dns.A, *dns.AAAA:
			hosts = append(hosts, canonName(r.Header().Name))
		}
	}
	var out []dns.RR
	add := func(rr dns.RR) {
		k := keyOf(rr)
		if !in[k] && !known[k] {
			in[k] = true
			out = append(out, rr)
		}
	}
	for _, rr := range auth {
		t := rr.Header().Rrtype
		if (t == dns.TypeSRV || t == dns.TypeTXT) && contains(want, canonName(rr.Header().Name)) {
			add(rr)
			if srv, ok := rr.(*dns.SRV); ok {
				hosts = append(hosts, canonName(srv.Target))
			}
		}
	}
	for _, rr := range auth {
		t := rr.Header().Rrtype
		if (t == dns.TypeA || t == dns.TypeAAAA) && contains(hosts, canonName(rr.Header().Name)) {
			add(rr)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// schedule queues multicast answers on an interface (§6): unique records
// at once, shared ones after 20-120 ms (400-500 ms when more known
// answers are to come), none sooner than a second after the record was
// last multicast there (§6.2). A record already pending keeps the
// earlier time.
func (c *core) schedule(now time.Time, ifIndex int, rrs []dns.RR, moreKnown bool) {
	p := c.pending[ifIndex]
	if p == nil {
		p = map[recordKey]*pendingAnswer{}
		c.pending[ifIndex] = p
	}
	shared := now.Add(20*time.Millisecond + c.cfg.jitter(100*time.Millisecond))
	if moreKnown {
		shared = now.Add(400*time.Millisecond + c.cfg.jitter(100*time.Millisecond))
	}
	for _, rr := range rrs {
		due := now
		if !cacheFlush(rr) || moreKnown {
			due = shared
		}
		k := keyOf(rr)
		if last, ok := c.lastMcast[ifIndex][k]; ok && now.Sub(last) < rateLimit {
			due = maxTime(due, last.Add(rateLimit))
			c.stats.RateLimited++
		}
		if old, ok := p[k]; ok {
			if due.Before(old.due) {
				old.due = due
			}
			continue
		}
		if len(p) >= maxPending {
			c.stats.Ignored++
			continue
		}
		p[k] = &pendingAnswer{rr: rr, due: due}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// flushPending sends the pending answers that are due, per interface in
// as few packets as fit, with their additional records. Answers whose
// records are no longer ours (removed, renamed) are dropped.
func (c *core) flushPending(now time.Time) []outPacket {
	var out []outPacket
	for _, ifi := range c.ifaces {
		p := c.pending[ifi.Index]
		if len(p) == 0 {
			continue
		}
		auth := c.authoritative(ifi)
		current := map[recordKey]dns.RR{}
		for _, rr := range auth {
			current[keyOf(rr)] = rr
		}
		var due []dns.RR
		for k, a := range p {
			if now.Before(a.due) {
				continue
			}
			delete(p, k)
			if rr, ok := current[k]; ok {
				due = append(due, rr)
			}
		}
		if len(due) == 0 {
			continue
		}
		sortRecords(due)
		c.stats.Multicast++
		out = append(out, c.multicast(now, ifi, due, additionals(due, auth, nil))...)
	}
	return out
}

// multicast builds the unsolicited or multicast response carrying
// answers (and extras where they fit) on ifi, and records when each
// record went out for the rate limit. Goodbyes (TTL 0) also cancel
// pending answers for the records.
func (c *core) multicast(now time.Time, ifi netutil.Iface, answers, extra []dns.RR) []outPacket {
	last := c.lastMcast[ifi.Index]
	if last == nil {
		last = map[recordKey]time.Time{}
		c.lastMcast[ifi.Index] = last
	}
	if len(last) > 4*maxPending {
		for k, t := range last {
			if now.Sub(t) >= rateLimit {
				delete(last, k)
			}
		}
	}
	for _, rr := range answers {
		k := keyOf(rr)
		last[k] = now
		if p := c.pending[ifi.Index]; p != nil {
			delete(p, k)
		}
	}
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = answers
	m.Extra = extra
	return c.pack(m, ifi.Index, netipZero, netipZeroAddr)
}

// pack encodes m, split over several messages when it does not fit in
// maxMulticast bytes: answers (and authority records) are spread out,
// additional records are dropped where they do not fit. Probes with many
// questions are split the same way. dst and src as in outPacket.
func (c *core) pack(m *dns.Msg, ifIndex int, dst netip.AddrPort, src netip.Addr) []outPacket {
	m.Compress = true
	var msgs []*dns.Msg
	if m.Len() <= maxMulticast {
		msgs = []*dns.Msg{m}
	} else {
		msgs = split(m)
	}
	var out []outPacket
	for _, part := range msgs {
		b, err := part.Pack()
		if err != nil {
			c.cfg.log.Warn("mdns: cannot pack message", "err", err)
			continue
		}
		out = append(out, outPacket{data: b, ifIndex: ifIndex, dst: dst, src: src})
	}
	return out
}

// split spreads m's questions, answers and authority records over
// messages of at most maxMulticast bytes and adds the additional records
// to the last one while they fit.
func split(m *dns.Msg) []*dns.Msg {
	fresh := func() *dns.Msg {
		n := new(dns.Msg)
		n.MsgHdr = m.MsgHdr
		n.Compress = true
		return n
	}
	cur := fresh()
	msgs := []*dns.Msg{cur}
	// Questions travel with the authority records of the same name, so a
	// probe's tie-break data stays with its question.
	for _, q := range m.Question {
		var ns []dns.RR
		for _, rr := range m.Ns {
			if sameName(rr.Header().Name, q.Name) {
				ns = append(ns, rr)
			}
		}
		cur.Question = append(cur.Question, q)
		cur.Ns = append(cur.Ns, ns...)
		if cur.Len() > maxMulticast && len(cur.Question) > 1 {
			cur.Question = cur.Question[:len(cur.Question)-1]
			cur.Ns = cur.Ns[:len(cur.Ns)-len(ns)]
			cur = fresh()
			msgs = append(msgs, cur)
			cur.Question = []dns.Question{q}
			cur.Ns = ns
		}
	}
	if len(m.Question) == 0 {
		cur.Ns = m.Ns
	}
	for _, rr := range m.Answer {
		cur.Answer = append(cur.Answer, rr)
		if cur.Len() > maxMulticast && len(cur.Answer)+len(cur.Question) > 1 {
			cur.Answer = cur.Answer[:len(cur.Answer)-1]
			cur = fresh()
			msgs = append(msgs, cur)
			cur.Answer = []dns.RR{rr}
		}
	}
	for _, rr := range m.Extra {
		cur.Extra = append(cur.Extra, rr)
		if cur.Len() > maxMulticast {
			cur.Extra = cur.Extra[:len(cur.Extra)-1]
		}
	}
	return msgs
}

// sortRecords orders records for sending: by name, then type, so packets
// are deterministic.
func sortRecords(rrs []dns.RR) {
	slices.SortStableFunc(rrs, func(a, b dns.RR) int {
		if c := strings.Compare(canonName(a.Header().Name), canonName(b.Header().Name)); c != 0 {
			return c
		}
		return int(a.Header().Rrtype) - int(b.Header().Rrtype)
	})
}
