package mdns

import (
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/netutil"
)

// Probing (RFC 6762 §8.1): before using a name, a responder asks the
// link three times, 250 ms apart, whether anyone owns it; the probes
// carry the records it intends to publish in the authority section, so
// two hosts probing at once can tell who goes first (§8.2). A response
// naming it means someone does: the name is changed ("Alice's game (2)")
// and probing starts over. After announcing, a conflicting response puts
// the name back into probing (§9).
//
// Probes are sent as QM questions, not QU as §8.1 suggests: a unicast
// defense to port 5353 reaches only one of the sockets sharing that port
// on our host (avahi-daemon's, say) and could be lost; a multicast
// defense reaches everyone, which the RFC allows.

// probeOwner is one name being probed and the authority records it
// claims on an interface.
type probeOwner struct {
	o    *owner
	name func() string
	auth func(ifi netutil.Iface) []dns.RR
}

// owners lists every name we own or probe: the host name first.
func (c *core) owners() []probeOwner {
	out := []probeOwner{{
		o:    &c.host,
		name: c.hostName,
		auth: func(ifi netutil.Iface) []dns.RR { return c.hostRecords(ifi, c.cfg.ttl) },
	}}
	for _, s := range c.svcs {
		if s.removed {
			continue
		}
		out = append(out, probeOwner{
			o:    &s.owner,
			name: func() string { return c.instanceFQDN(s) },
			auth: func(netutil.Iface) []dns.RR { return c.uniqueRecords(s, c.cfg.ttl) },
		})
	}
	return out
}

// probeDue sends the probes that are due, one packet per interface for
// all names, and ends probing for names whose last probe went unopposed.
func (c *core) probeDue(now time.Time) []outPacket {
	var due []probeOwner
	for _, p := range c.owners() {
		o := p.o
		if o.phase != phaseProbing || now.Before(o.next) {
			continue
		}
		if o.sent >= probeCount {
			o.phase = phaseProbed // unopposed for probeInterval after the last probe
			continue
		}
		o.sent++
		o.next = now.Add(probeInterval)
		due = append(due, p)
	}
	if len(due) == 0 {
		return nil
	}
	c.stats.Probes++
	var out []outPacket
	for _, ifi := range c.ifaces {
		m := new(dns.Msg)
		for _, p := range due {
			m.Question = append(m.Question, dns.Question{Name: p.name(), Qtype: dns.TypeANY, Qclass: classIN})
			m.Ns = append(m.Ns, p.auth(ifi)...)
		}
		out = append(out, c.pack(m, ifi.Index, netipZero, netipZeroAddr)...)
	}
	return out
}

// ownerOf finds the owner of name among ours.
func (c *core) ownerOf(name string) (probeOwner, bool) {
	key := canonName(name)
	for _, p := range c.owners() {
		if canonName(p.name()) == key {
			return p, true
		}
	}
	return probeOwner{}, false
}

// handleProbe looks at a query's authority section: someone probing a
// name we probe too is a simultaneous probe (§8.2); someone probing a
// name we own gets a defense at once, exempt from the rate limit.
func (c *core) handleProbe(now time.Time, m *dns.Msg, ifi netutil.Iface) []outPacket {
	theirs := map[string][]dns.RR{}
	for _, rr := range m.Ns {
		k := canonName(rr.Header().Name)
		theirs[k] = append(theirs[k], rr)
	}
	var defend []dns.RR
	for _, q := range m.Question {
		p, ok := c.ownerOf(q.Name)
		if !ok {
			continue
		}
		auth := theirs[canonName(q.Name)]
		if len(auth) == 0 {
			continue // an ordinary query
		}
		switch {
		case p.o.answering():
			if tieBreak(p.auth(ifi), auth) != 0 {
				defend = append(defend, p.auth(ifi)...)
			}
		case p.o.phase == phaseProbing:
			switch r := tieBreak(p.auth(ifi), auth); {
			case r < 0:
				// We lose: wait a second, then probe again; the winner
				// will be defending by then and we rename (§8.2).
				c.stats.TieBreaksLost++
				c.cfg.log.Debug("mdns: lost simultaneous probe tie-break", "name", p.name())
				p.o.startProbing(now.Add(probeDefer))
			case r > 0:
				c.cfg.log.Debug("mdns: won simultaneous probe tie-break", "name", p.name())
			}
		}
	}
	if len(defend) == 0 {
		return nil
	}
	c.stats.Defenses++
	return c.multicast(now, ifi, defend, nil)
}

// checkConflicts looks at a response for records that conflict with
// names we own or probe: same name, a type we publish there (any type
// while probing), different data. It renames probing names at once and
// puts announced names back into probing (§9).
func (c *core) checkConflicts(now time.Time, m *dns.Msg, ifi netutil.Iface) {
	hit := map[*owner]probeOwner{}
	for _, sec := range [][]dns.RR{m.Answer, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Ttl == 0 || rrClass(rr) != classIN {
				continue // a goodbye claims nothing
			}
			p, ok := c.ownerOf(rr.Header().Name)
			if !ok || p.o.phase == phaseIdle || p.o.phase == phaseProbed {
				continue
			}
			if _, done := hit[p.o]; done {
				continue
			}
			mine := p.auth(ifi)
			if p.o == &c.host {
				// Addresses of our other interfaces may loop back.
				mine = nil
				for _, i := range c.ifaces {
					mine = append(mine, c.hostRecords(i, c.cfg.ttl)...)
				}
			}
			if c.sentRecently(now, rr) {
				continue // our own packet looped back, maybe with an older TXT
			}
			if conflicts(rr, mine, p.o.phase == phaseProbing) {
				hit[p.o] = p
			}
		}
	}
	for _, p := range hit {
		c.stats.Conflicts++
		switch {
		case p.o.fallback:
			c.defend(now, ifi, p)
		case p.o.phase == phaseProbing || p.o.recentConflicts(now) >= FallbackAfter-1:
			c.rename(now, p)
		default:
			c.cfg.log.Info("mdns: name conflict after announcing, probing again", "name", p.name())
			p.o.conflicts = append(p.o.conflicts, now)
			p.o.startProbing(now.Add(c.cfg.jitter(probeInterval)))
		}
	}
}

// recentConflicts counts o's conflicts within conflictWindow of now.
func (o *owner) recentConflicts(now time.Time) int {
	n := 0
	for _, t := range o.conflicts {
		if now.Sub(t) < conflictWindow {
			n++
		}
	}
	return n
}

// defend answers a conflicting claim on a name we keep (a fallback name)
// by announcing our records of it again on ifi, at most once a second
// per record (§6.2): browsers that took the other host's records get
// ours back.
func (c *core) defend(now time.Time, ifi netutil.Iface, p probeOwner) {
	c.stats.Defenses++
	if !p.o.answering() {
		return // announced soon anyway
	}
	rrs := p.auth(ifi)
	keyed := make([]authRR, len(rrs))
	for i, rr := range rrs {
		keyed[i] = authRR{rr: rr, key: keyOf(rr)}
	}
	c.schedule(now, ifi.Index, keyed, false)
}

// conflicts reports whether rr, received from another host, contradicts
// our records mine of the same name: a record identical to one of ours is
// no conflict (our own packet, or a proxy repeating it); while probing any
// other record of the name is one, afterwards only one of a type we
// publish.
func conflicts(rr dns.RR, mine []dns.RR, probing bool) bool {
	k := keyOf(rr)
	sameType := false
	for _, o := range mine {
		if keyOf(o) == k {
			return false
		}
		if o.Header().Rrtype == rr.Header().Rrtype {
			sameType = true
		}
	}
	return probing || sameType
}

// rename gives an owner its next name and probes it, slowing down after
// many conflicts in a row (§8.1); after FallbackAfter conflicts in a row
// it takes its fallback name instead, announced at once.
func (c *core) rename(now time.Time, p probeOwner) {
	o := p.o
	old := p.name()
	recent := o.conflicts[:0]
	for _, t := range o.conflicts {
		if now.Sub(t) < conflictWindow {
			recent = append(recent, t)
		}
	}
	o.conflicts = append(recent, now)
	svc := c.serviceOf(o)
	if svc != nil && svc.announced && svc.retired == nil {
		// Goodbyes for what browsers know under the old name, sent
		// with the first announcement under the new one.
		for _, rr := range append(c.sharedRecords(svc, 0), c.uniqueRecords(svc, 0)...) {
			svc.retired = append(svc.retired, rr)
		}
	}
	o.n++
	switch {
	case len(o.conflicts) >= FallbackAfter && o == &c.host:
		o.label, o.fallback = randomHostLabel(), true
	case len(o.conflicts) >= FallbackAfter:
		o.label, o.fallback = fallbackName(o.base, svc.uid), true
	case o == &c.host:
		o.label = renamedHost(o.base, o.n)
	default:
		o.label = renamed(o.base, o.n)
	}
	if svc != nil && !o.fallback {
		c.uniqueLocally(svc)
	}
	c.stats.Renames++
	at := now.Add(c.cfg.jitter(probeInterval))
	if len(o.conflicts) > conflictBurst {
		at = now.Add(conflictSlowdown)
	}
	o.startProbing(at)
	if o.fallback {
		// Nobody else has a claim on it: announced at once.
		c.stats.Fallbacks++
		o.phase, o.sent = phaseProbed, 0
		c.cfg.log.Warn("mdns: name conflicts in a row (an attack?): a name of our own taken, kept and defended",
			"old", old, "new", p.name(), "conflicts", len(o.conflicts))
	}
	c.cfg.log.Info("mdns: name in use, renamed", "old", old, "new", p.name())
	if o == &c.host {
		// Services point at the host name: they announce again (with the
		// new SRV target) once it is ours.
		for _, s := range c.svcs {
			if !s.removed && s.owner.answering() {
				s.owner.phase, s.owner.sent = phaseProbed, 0
			}
		}
	}
}

// serviceOf returns the service whose owner is o; nil for the host.
func (c *core) serviceOf(o *owner) *service {
	for _, s := range c.svcs {
		if &s.owner == o {
			return s
		}
	}
	return nil
}

// ownEcho is how long a record we multicast counts as ours when it comes
// back: multicast loopback returns our packets, and a TXT record replaced
// since must not look like another host's.
const ownEcho = 5 * time.Second

// sentRecently reports whether we multicast rr (same record) within
// ownEcho on any interface.
func (c *core) sentRecently(now time.Time, rr dns.RR) bool {
	k := keyOf(rr)
	for _, last := range c.lastMcast {
		if t, ok := last[k]; ok && now.Sub(t) < ownEcho {
			return true
		}
	}
	return false
}
