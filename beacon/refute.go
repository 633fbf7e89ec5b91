package beacon

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// RefuteInterval is the least time between two refutations: announcements
// an Advertiser makes at once, of the lobbies another host made a false
// claim about (an announcement with other content, from another address,
// or a goodbye), the way memberlist refutes a false suspicion. A flood of
// forged claims costs at most one announcement of the claimed lobbies per
// interval.
const RefuteInterval = 100 * time.Millisecond

// refutations are the lobbies to announce again at once.
type refutations struct {
	ids  map[string]bool
	last time.Time // the last refutation
}

// holdsAny reports whether any of ls is one of our lobbies.
func (a *Advertiser) holdsAny(ls []Lobby) bool {
	a.lobbiesMu.Lock()
	defer a.lobbiesMu.Unlock()
	return slices.ContainsFunc(ls, func(l Lobby) bool { _, ok := a.lobbies[l.ID]; return ok })
}

// claim looks at an announcement or goodbye heard about lobbies we hold.
// Our own packets come back (multicast loopback): from one of our
// addresses, with a seq we used lately. Anything else that contradicts us
// (a goodbye, other content, another address), or that browsers would
// take over our next packets (a seq ahead of ours), is refuted: our seq
// jumps past the claim's and the lobbies are announced again at once
// (RefuteInterval apart at most). claim returns when that is due.
func (r *advRun) claim(c received) (due time.Duration, pending bool) {
	a := r.a
	p := &c.pkt
	ownAddr := r.ownAddr(c.src.Addr())
	order := seqOrder(p.Seq, r.seq)
	if ownAddr && order <= 0 && r.seq-p.Seq < staleWindow {
		return 0, false // ours
	}
	a.lobbiesMu.Lock()
	var hit []string
	for _, l := range p.Lobbies {
		cur, ok := a.lobbies[l.ID]
		if ok && !otherTerm(p.Kind, cur.Term, l.Term) && (p.Kind == KindGoodbye || cur != l || !ownAddr || order >= 0) {
			hit = append(hit, l.ID)
		}
	}
	a.lobbiesMu.Unlock()
	if len(hit) == 0 {
		return 0, false
	}
	if order >= 0 {
		r.seq = p.Seq // the next packet is past it
	}
	if n := a.stats.claims.Add(1); n&(n-1) == 0 {
		a.log.Warn("beacon: another host makes claims about our lobbies; announcing the truth",
			"src", c.src, "kind", p.Kind, "lobbies", hit, "count", n)
	}
	if r.refuted.ids == nil {
		r.refuted.ids = make(map[string]bool)
	}
	for _, id := range hit {
		r.refuted.ids[id] = true
	}
	return max(r.refuted.last.Add(RefuteInterval).Sub(a.cfg.now()), 0), true
}

// otherTerm reports whether a claim of kind about one of our lobbies, of
// term claimed where we hold term ours, belongs to another term of the
// lobby, which a refutation cannot correct and need not: browsers show the
// higher term whatever the seq. An announcement of a higher term is the
// lobby's coordinator after a takeover or a move (the coordinator holding
// the lower term hands its members over once it has checked the other's
// proof: the lobby is not the beacon's to defend); one of a lower term,
// or a goodbye of a lower term, is the stale coordinator's last words,
// which browsers ignore. A goodbye of a higher term is refuted: it would
// make browsers forget a lobby we still hold.
func otherTerm(kind Kind, ours, claimed uint32) bool {
	if kind == KindGoodbye {
		return claimed < ours
	}
	return claimed != ours
}

// refute announces the lobbies claimed falsely, when RefuteInterval has
// passed since the last refutation; otherwise it returns when.
func (r *advRun) refute() (due time.Duration, pending bool) {
	a := r.a
	if len(r.refuted.ids) == 0 {
		return 0, false
	}
	now := a.cfg.now()
	if d := r.refuted.last.Add(RefuteInterval).Sub(now); d > 0 {
		return d, true
	}
	a.lobbiesMu.Lock()
	var ls []Lobby
	for id := range r.refuted.ids {
		if l, ok := a.lobbies[id]; ok {
			ls = append(ls, l)
		}
	}
	a.lobbiesMu.Unlock()
	clear(r.refuted.ids)
	r.refuted.last = now
	if len(ls) == 0 {
		return 0, false // removed meanwhile: the goodbye went out
	}
	slices.SortFunc(ls, func(x, y Lobby) int { return strings.Compare(x.ID, y.ID) })
	a.stats.refutations.Add(1)
	r.multicast(&Packet{Kind: KindAnnounce, TTLSeconds: a.ttl, Lobbies: ls})
	return 0, false
}

// ownAddr reports whether a is an address of one of our interfaces.
func (r *advRun) ownAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, i := range r.ifaces {
		for _, p := range i.Prefixes {
			if p.Addr().WithZone("") == a {
				return true
			}
		}
	}
	return false
}
