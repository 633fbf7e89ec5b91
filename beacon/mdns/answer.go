package mdns

import (
	"cmp"
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
	// §5.5, §11: never a unicast answer to a source off the link, where
	// it would go through a router to a host that (its address forged)
	// never asked. A legacy query from there is dropped; QU questions are
	// answered by multicast, which stays on the link.
	onLink := ifi.OnLink(in.src.Addr())
	if legacy && !onLink {
		c.count(&c.stats.OffLink, "mdns: legacy query from off the link ignored (forged source?)", in.src)
		return nil
	}
	var out []outPacket
	if !legacy && len(m.Ns) > 0 {
		out = append(out, c.handleProbe(now, m, ifi)...)
	}
	known := map[recordKey]bool{}
	if !legacy {
		known = c.knownAnswers(m)
		c.suppressPending(ifi.Index, m.Answer)
	}
	auth := c.authoritativeRRs(ifi)
	if len(auth) == 0 || len(m.Question) == 0 {
		return out
	}
	probed := map[string]bool{} // names with authority records: probes, handled above
	for _, rr := range m.Ns {
		probed[canonName(rr.Header().Name)] = true
	}
	var uni, multi []authRR
	offLinkQU := false
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
		for _, a := range auth {
			if (q.Qtype != dns.TypeANY && q.Qtype != a.rr.Header().Rrtype) || a.name != qname {
				continue
			}
			if known[a.key] || seen[a.key] {
				continue
			}
			seen[a.key] = true
			if legacy || qu && onLink {
				uni = append(uni, a)
			} else {
				multi = append(multi, a)
			}
			if qu && !onLink && !offLinkQU {
				offLinkQU = true
				c.count(&c.stats.OffLink, "mdns: QU question from off the link answered by multicast (forged source?)", in.src)
			}
		}
	}
	if legacy {
		if len(uni) > 0 {
			if pkts := c.legacyAnswer(m, in, ifi, uni, auth); c.withinBudget(now, in, ifi, pkts) {
				c.stats.Unicast++
				out = append(out, pkts...)
			}
		}
		return out
	}
	if len(uni) > 0 {
		reply := &dns.Msg{}
		reply.Id = m.Id
		reply.Response, reply.Authoritative = true, true
		reply.Answer = rrsOf(uni)
		reply.Extra = rrsOf(additionals(uni, auth, known))
		if pkts := c.pack(reply, ifi.Index, in.src, netipZeroAddr); c.withinBudget(now, in, ifi, pkts) {
			c.stats.Unicast++
			out = append(out, pkts...)
		} else {
			multi = append(multi, uni...) // by multicast instead, rate-limited per record (§6.2)
		}
	}
	if len(multi) > 0 {
		c.schedule(now, ifi.Index, multi, m.Truncated)
	}
	return out
}

// withinBudget charges pkts, a unicast answer to in's source, to the
// unicast budget (per source address, per interface) and reports whether
// it fits; an answer that does not is counted and not sent.
func (c *core) withinBudget(now time.Time, in inbound, ifi netutil.Iface, pkts []outPacket) bool {
	overhead := 20 + 8
	if !in.src.Addr().Unmap().Is4() {
		overhead = 40 + 8
	}
	cost := 0
	for _, p := range pkts {
		cost += len(p.data) + overhead
	}
	bytes, packets, _ := c.budget.Allowance(now, in.src.Addr(), ifi.Index)
	if cost > bytes || len(pkts) > packets {
		c.count(&c.stats.OverBudget, "mdns: unicast answer over the budget (a query flood?); QU by multicast, legacy not answered", in.src)
		return false
	}
	c.budget.Spend(in.src.Addr(), ifi.Index, cost, len(pkts))
	return true
}

// count adds one to a counter of refused queries and logs the 1st, 2nd,
// 4th... time.
func (c *core) count(n *uint64, msg string, src netip.AddrPort) {
	*n++
	if *n&(*n-1) == 0 {
		c.cfg.log.Warn(msg, "src", src, "count", *n)
	}
}

// legacyAnswer builds the unicast reply to a legacy query (§6.7), one
// packet as avahi-daemon sends: the ID and questions copied, TTLs capped
// at legacyTTL, no cache-flush bits, within 512 bytes or the query's
// EDNS0 size (up to maxMulticast); answers that do not fit are cut and
// the TC bit set, additional records go in while they fit.
func (c *core) legacyAnswer(m *dns.Msg, in inbound, ifi netutil.Iface, answers, auth []authRR) []outPacket {
	reply := new(dns.Msg)
	reply.Id = m.Id
	reply.Response, reply.Authoritative = true, true
	reply.Compress = true
	reply.Question = make([]dns.Question, len(m.Question))
	for i, q := range m.Question {
		q.Qclass &= classMask
		reply.Question[i] = q
	}
	size := legacyMax
	if opt := m.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), legacyMax), maxMulticast)
	}
	// Copies are made of what can fit only: a daemon has thousands of
	// records, a legacy answer room for a few dozen.
	copies := func(as []authRR) []dns.RR {
		out := make([]dns.RR, 0, min(len(as), size/16))
		for _, a := range as[:min(len(as), size/16)] {
			out = append(out, legacyCopy(a.rr, legacyTTL))
		}
		return out
	}
	n := fill(reply, &reply.Answer, copies(answers), size)
	if n < len(answers) {
		reply.Truncated = true
		if n == 0 {
			reply.Answer = copies(answers[:1]) // one answer at least
			n = 1
		}
	}
	fill(reply, &reply.Extra, copies(additionals(answers[:n], auth, nil)), size)
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

// fill appends to *sec, a section of m, as many of rrs, in order, as keep
// m within limit bytes, and returns how many. Measuring a message
// compresses all of it, so it is not measured at every record: records
// go in on an estimate (the size measured last plus their uncompressed
// sizes scaled by the compression measured so far), and the message is
// measured when the estimate nears the limit, the last records taken
// back while it is over. A few measurements per message instead of one
// per record; the result never exceeds the limit.
func fill(m *dns.Msg, sec *[]dns.RR, rrs []dns.RR, limit int) int {
	measured := m.Len()
	if measured > limit {
		return 0
	}
	raw := measured // uncompressed size of what was measured, about
	n := 0
	for n < len(rrs) {
		// Add on the estimate up to the limit.
		added, k := 0, n
		for k < len(rrs) {
			l := dns.Len(rrs[k])
			if measured+(added+l)*measured/raw > limit {
				break
			}
			added += l
			k++
		}
		if k == n {
			k = n + 1 // one at a time near the limit: measured below
			added = dns.Len(rrs[n])
		}
		*sec = append(*sec, rrs[n:k]...)
		size := m.Len()
		for size > limit && k > n {
			k--
			*sec = (*sec)[:len(*sec)-1]
			size = m.Len()
		}
		if k == n {
			return n // the next one does not fit
		}
		for _, rr := range rrs[n:k] {
			raw += dns.Len(rr)
		}
		measured, n = size, k
	}
	return n
}

// additionals returns the records that make answers usable without
// another query (RFC 6763 §12, RFC 6762 §6.2): for a service PTR the SRV,
// TXT and addresses; for an SRV the addresses; for an address record the
// other family's. Records already answered or known are left out.
func additionals(answers, auth []authRR, known map[recordKey]bool) []authRR {
	in := make(map[recordKey]bool, 4*len(answers))
	want := make(map[string]bool, len(answers)) // instances whose SRV/TXT are wanted
	hosts := map[string]bool{}                  // host names whose addresses are wanted
	for _, a := range answers {
		in[a.key] = true
		switch a.rr.(type) {
		case *dns.PTR:
			if a.instance {
				want[a.target] = true
			}
		case *dns.SRV:
			hosts[a.target] = true
		case *dns.A, *dns.AAAA:
			hosts[a.name] = true
		}
	}
	var out []authRR
	add := func(a authRR) {
		if !in[a.key] && !known[a.key] {
			in[a.key] = true
			out = append(out, a)
		}
	}
	if len(want) > 0 {
		for _, a := range auth {
			if t := a.rr.Header().Rrtype; (t == dns.TypeSRV || t == dns.TypeTXT) && want[a.name] {
				add(a)
				if t == dns.TypeSRV {
					hosts[a.target] = true
				}
			}
		}
	}
	if len(hosts) > 0 {
		for _, a := range auth {
			if t := a.rr.Header().Rrtype; (t == dns.TypeA || t == dns.TypeAAAA) && hosts[a.name] {
				add(a)
			}
		}
	}
	return out
}

// schedule queues multicast answers on an interface (§6): unique records
// at once, shared ones after 20-120 ms (400-500 ms when more known
// answers are to come), none sooner than a second after the record was
// last multicast there (§6.2). A record already pending keeps the
// earlier time.
func (c *core) schedule(now time.Time, ifIndex int, rrs []authRR, moreKnown bool) {
	p := c.pending[ifIndex]
	if p == nil {
		p = map[recordKey]*pendingAnswer{}
		c.pending[ifIndex] = p
	}
	shared := now.Add(20*time.Millisecond + c.cfg.jitter(100*time.Millisecond))
	if moreKnown {
		shared = now.Add(400*time.Millisecond + c.cfg.jitter(100*time.Millisecond))
	}
	for _, a := range rrs {
		due := now
		if !cacheFlush(a.rr) || moreKnown {
			due = shared
		}
		k := a.key
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
		p[k] = &pendingAnswer{rr: a.rr, due: due}
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
		due := 0
		for _, a := range p {
			if !now.Before(a.due) {
				due++
			}
		}
		if due == 0 {
			continue
		}
		auth := c.authoritativeRRs(ifi)
		var answers []authRR
		for _, a := range auth {
			if pa, ok := p[a.key]; ok && !now.Before(pa.due) {
				answers = append(answers, a)
			}
		}
		for k, a := range p {
			if !now.Before(a.due) {
				delete(p, k) // sent, or no longer ours (removed, renamed)
			}
		}
		if len(answers) == 0 {
			continue
		}
		// By name, then type: packets are deterministic.
		slices.SortStableFunc(answers, func(a, b authRR) int {
			return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.rr.Header().Rrtype, b.rr.Header().Rrtype))
		})
		c.stats.Multicast++
		out = append(out, c.multicastRRs(now, ifi, answers, additionals(answers, auth, nil))...)
	}
	return out
}

// multicastRRs is multicast for records whose keys are known.
func (c *core) multicastRRs(now time.Time, ifi netutil.Iface, answers, extra []authRR) []outPacket {
	c.markMulticast(now, ifi.Index, answers)
	return c.send(ifi, rrsOf(answers), rrsOf(extra))
}

// multicast builds the unsolicited or multicast response carrying
// answers (and extras where they fit) on ifi, and records when each
// record went out for the rate limit. Goodbyes (TTL 0) also cancel
// pending answers for the records.
func (c *core) multicast(now time.Time, ifi netutil.Iface, answers, extra []dns.RR) []outPacket {
	keyed := make([]authRR, len(answers))
	for i, rr := range answers {
		keyed[i] = authRR{rr: rr, key: keyOf(rr)}
	}
	c.markMulticast(now, ifi.Index, keyed)
	return c.send(ifi, answers, extra)
}

// markMulticast records that answers go out on interface ifIndex at now
// (the once-a-second rule, §6.2, and our own packets coming back), and
// drops pending answers of them.
func (c *core) markMulticast(now time.Time, ifIndex int, answers []authRR) {
	last := c.lastMcast[ifIndex]
	if last == nil {
		last = map[recordKey]time.Time{}
		c.lastMcast[ifIndex] = last
	}
	if len(last) > 4*maxPending {
		for k, t := range last {
			if now.Sub(t) >= rateLimit {
				delete(last, k)
			}
		}
	}
	p := c.pending[ifIndex]
	for _, a := range answers {
		last[a.key] = now
		delete(p, a.key)
	}
}

// send builds the multicast response carrying answers and extra on ifi.
func (c *core) send(ifi netutil.Iface, answers, extra []dns.RR) []outPacket {
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
	// Measuring a message compresses all of it: a large one (a daemon's
	// answer) is split without measuring the whole first.
	size := 12
	for _, q := range m.Question {
		size += len(q.Name) + 6
	}
sizing:
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if size += dns.Len(rr); size > 4*maxMulticast {
				break sizing
			}
		}
	}
	var msgs []*dns.Msg
	if size <= maxMulticast || size <= 4*maxMulticast && m.Len() <= maxMulticast {
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
// to the last one while they fit (addresses first: every service's SRV
// needs them).
func split(m *dns.Msg) []*dns.Msg {
	var msgs []*dns.Msg
	var cur *dns.Msg
	fresh := func() {
		cur = new(dns.Msg)
		cur.MsgHdr = m.MsgHdr
		cur.Compress = true
		msgs = append(msgs, cur)
	}
	fresh()
	// Questions travel with the authority records of the same name, so a
	// probe's tie-break data stays with its question.
	ns := map[string][]dns.RR{}
	for _, rr := range m.Ns {
		k := canonName(rr.Header().Name)
		ns[k] = append(ns[k], rr)
	}
	for _, q := range m.Question {
		auth := ns[canonName(q.Name)]
		cur.Question = append(cur.Question, q)
		cur.Ns = append(cur.Ns, auth...)
		if cur.Len() > maxMulticast && len(cur.Question) > 1 {
			cur.Question = cur.Question[:len(cur.Question)-1]
			cur.Ns = cur.Ns[:len(cur.Ns)-len(auth)]
			fresh()
			cur.Question = []dns.Question{q}
			cur.Ns = auth
		}
	}
	if len(m.Question) == 0 {
		cur.Ns = m.Ns
	}
	for rest := m.Answer; len(rest) > 0; {
		n := fill(cur, &cur.Answer, rest, maxMulticast)
		if n == 0 && len(cur.Answer)+len(cur.Question) == 0 {
			n = 1 // larger than a message alone: sent as it is
			cur.Answer = append(cur.Answer, rest[0])
		}
		if rest = rest[n:]; len(rest) > 0 {
			fresh()
		}
	}
	var addrs, others []dns.RR
	for _, rr := range m.Extra {
		if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
			addrs = append(addrs, rr)
		} else {
			others = append(others, rr)
		}
	}
	if fill(cur, &cur.Extra, addrs, maxMulticast) == len(addrs) {
		fill(cur, &cur.Extra, others, maxMulticast)
	}
	return msgs
}
