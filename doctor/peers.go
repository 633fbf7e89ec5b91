package doctor

import (
	"fmt"
	"net"

	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/lanlobby/lanlobby/netutil"
)

// Peer is another machine the doctor heard from: another doctor, or a
// lanlobby host (or coordinator daemon) answering beacon queries.
type Peer struct {
	Addr netip.Addr
	Name string // a doctor's host name
	Kind string // "doctor", "lanlobby host", "coordinator daemon"
	// In: we heard its multicast / its unicast. Out: it heard our
	// multicast / our unicast (a doctor reports it; a host answers a
	// query).
	InMulticast, InUnicast, OutMulticast, OutUnicast bool
	Lobbies                                          int // lobbies it announces

	id        uint64
	probeAddr netip.AddrPort // a doctor's probe socket
	// answerAddr is where a host's answers come from: its advertiser's
	// own port, where unicast queries reach it (the beacon port is
	// shared by every lanlobby socket on its machine, and a unicast
	// datagram to it reaches only one of them).
	answerAddr netip.AddrPort
	lobbies    map[string]bool
	self       bool // a lanlobby host on this machine
	keyed      bool // its beacons are signed and we lack its key
}

func (p Peer) label() string {
	if p.Name != "" {
		return fmt.Sprintf("%s %v (%s)", p.Kind, p.Addr, p.Name)
	}
	return fmt.Sprintf("%s %v", p.Kind, p.Addr)
}

// BothWays reports whether multicast and unicast went both ways.
func (p Peer) BothWays() bool {
	return p.InMulticast && p.InUnicast && p.OutMulticast && p.OutUnicast
}

// peerFinding says whether traffic goes both ways with one peer, and what
// a one-sided result means.
func peerFinding(p Peer) Finding {
	f := Finding{Check: "peer " + p.Addr.String(), Status: OK}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	ways := fmt.Sprintf("multicast in %s, out %s; unicast in %s, out %s",
		yes(p.InMulticast), yes(p.OutMulticast), yes(p.InUnicast), yes(p.OutUnicast))
	lobbies := ""
	if p.Lobbies > 0 {
		lobbies = fmt.Sprintf(", %d lobbies", p.Lobbies)
	}
	f.Detail = fmt.Sprintf("%s%s: %s", p.label(), lobbies, ways)
	mc := p.InMulticast && p.OutMulticast
	uc := p.InUnicast && p.OutUnicast
	if p.keyed && p.InMulticast && !p.OutMulticast && !p.OutUnicast {
		f.Status = Warn
		f.Detail += ": it signs with a LAN key we lack, so it ignores our queries (see lan key); its multicast reaches us"
		f.Fix = "use the same --lan-key as that host to test the way back"
		return f
	}
	switch {
	case mc && uc:
		f.Detail = fmt.Sprintf("%s%s: multicast and unicast go both ways", p.label(), lobbies)
	case !p.InMulticast && !p.OutMulticast && (p.InUnicast || p.OutUnicast):
		f.Status = Fail
		f.Detail += ": unicast gets through, multicast in neither direction (multicast-only loss)"
		f.Fix = "the network drops multicast: on the Wi-Fi access point or switch enable multicast / IGMP snooping with a querier, " +
			"leave guest or power-saving modes; or play through a coordinator daemon (--coordinator), which needs unicast only"
	case p.InMulticast && !p.OutMulticast:
		f.Status = Fail
		f.Detail += ": its multicast reaches us, ours does not reach it"
		f.Fix = fmt.Sprintf("on %v, a firewall may drop UDP %s inbound (Windows: a Public network profile); or the network passes multicast one way only", p.Addr, "7601")
	case p.OutMulticast && !p.InMulticast:
		f.Status = Fail
		f.Detail += ": our multicast reaches it, its multicast does not reach us"
		f.Fix = "a firewall here or on the way drops multicast to UDP 7601, or the other machine sends it on another interface"
	case p.Kind != "doctor" && p.InMulticast && !p.OutMulticast && !p.OutUnicast:
		f.Status = Warn
		f.Detail += ": it announces but answers none of our queries (another LAN key?)"
	}
	if f.Status == OK && mc && !uc {
		f.Status = Fail
		f.Detail += ": multicast works, unicast does not both ways"
		f.Fix = "a firewall drops unicast UDP between the two machines (answers to queries come by unicast from port 7601)"
	}
	return f
}

// findings turns what the live part saw into findings.
func (s *session) findings() []Finding {
	var out []Finding
	if s.conns[sockListen] != nil {
		out = append(out, s.loopbackFindings()...)
		out = append(out, s.groups...)
	}
	out = append(out, s.keyFindings()...)
	peers := s.peerList()
	for _, p := range peers {
		out = append(out, peerFinding(p))
	}
	// Doctors another doctor heard, and we did not: client isolation.
	var ids []uint64
	for id := range s.third {
		if s.doctors[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		tp := s.third[id]
		out = append(out, Finding{Check: "peer " + tp.addr.Addr().String(), Status: Fail,
			Detail: fmt.Sprintf("doctor %v is heard by %s but not by us, neither by multicast nor unicast%s: the network keeps the two machines apart",
				tp.addr.Addr(), tp.reporter, arpNote(tp.addr.Addr())),
			Fix: "Wi-Fi client isolation (AP isolation, a guest network) or switch port isolation: turn it off for the machines that play together, or put them on one network"})
	}
	for _, a := range s.opts.Peers {
		if !slices.ContainsFunc(peers, func(p Peer) bool { return p.Addr == a }) {
			out = append(out, Finding{Check: "peer " + a.String(), Status: Fail,
				Detail: fmt.Sprintf("no answer from %v by unicast or multicast%s", a, arpNote(a)),
				Fix:    "run lanlobby doctor on that machine at the same time; check that it is on this network, that client isolation is off and that its firewall accepts UDP 7601"})
		}
	}
	for _, h := range s.hosts {
		if h.self {
			out = append(out, Finding{Check: "local host", Status: OK,
				Detail: fmt.Sprintf("a lanlobby host on this machine announces %d lobbies", len(h.lobbies))})
			break
		}
	}
	if len(peers) == 0 && len(ids) == 0 {
		out = append(out, Finding{Check: "peers", Status: Warn,
			Detail: fmt.Sprintf("no other lanlobby machine heard in %v", s.opts.Duration),
			Fix:    "run `lanlobby doctor` on the other machine at the same time (or host a lobby there) to test the network between them"})
	}
	if len(s.sendErrs) > 0 {
		var errs []string
		for e, n := range s.sendErrs {
			errs = append(errs, fmt.Sprintf("%s (%d times)", e, n))
		}
		sort.Strings(errs)
		out = append(out, Finding{Check: "sending", Status: Warn, Detail: "some sends failed: " + strings.Join(errs, "; ")})
	}
	return out
}

// loopbackFindings: did our own multicast probe come back to the
// listener on each interface?
func (s *session) loopbackFindings() []Finding {
	var out []Finding
	for _, i := range s.ifaces {
		for _, v4 := range []bool{true, false} {
			if !i.CarriesMulticast(v4) {
				continue
			}
			fam := "IPv6"
			if v4 {
				fam = "IPv4"
			}
			f := Finding{Check: fmt.Sprintf("multicast loopback %s %s", i.Name, fam), Status: OK,
				Detail: fmt.Sprintf("our own %s probe sent on %s came back to a second socket on UDP %d", fam, i.Name, s.p.beacon)}
			if !s.selfHeard[selfKey{i.Index, v4}] {
				f.Status = Fail
				f.Detail = fmt.Sprintf("our own %s multicast on %s never came back to our listener on UDP %d: something on this machine drops it", fam, i.Name, s.p.beacon)
				f.Fix = fmt.Sprintf("look for a firewall rule dropping UDP %d (see the firewall finding), and check that %s carries multicast", s.p.beacon, i.Name)
			}
			out = append(out, f)
		}
	}
	return out
}

// groupFindings: is the beacon group joined on each interface, as the
// kernel sees it? Called while the listener holds the membership.
func groupFindings(ifaces []netutil.Iface, g4 netip.Addr) []Finding {
	groups, err := joinedGroups()
	if err != nil {
		return nil // not on this system: the loopback test covers it
	}
	var out []Finding
	for _, i := range ifaces {
		if !i.HasIPv4() || i.Flags&net.FlagLoopback != 0 {
			continue // lo carries multicast without joining (see netutil.Iface)
		}
		f := Finding{Check: "multicast group " + i.Name, Status: OK, Detail: fmt.Sprintf("%v joined on %s", g4, i.Name)}
		if !slices.Contains(groups[i.Name], g4) {
			f.Status = Fail
			f.Detail = fmt.Sprintf("%v is not joined on %s although we asked: the interface refuses multicast membership", g4, i.Name)
			f.Fix = fmt.Sprintf("ip link set dev %s multicast on", i.Name)
		}
		out = append(out, f)
	}
	return out
}

// keyFindings: LAN key mismatches.
func (s *session) keyFindings() []Finding {
	var out []Finding
	if !s.key.IsZero() {
		var srcs []netip.Addr
		for a := range s.sigFail {
			srcs = append(srcs, a)
		}
		slices.SortFunc(srcs, netip.Addr.Compare)
		for _, a := range srcs {
			var kinds []string
			for k, n := range s.sigFail[a] {
				kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
			}
			sort.Strings(kinds)
			out = append(out, Finding{Check: "lan key", Status: Fail,
				Detail: fmt.Sprintf("beacons from %v fail our LAN key check (%s): we ignore that host's lobbies", a, strings.Join(kinds, ", ")),
				Fix:    "give every machine the same --lan-key (or none), and keep their clocks within 30 s of each other"})
		}
		if len(srcs) == 0 {
			out = append(out, Finding{Check: "lan key", Status: OK, Detail: fmt.Sprintf("every beacon heard (%d) passed the LAN key check", s.verified)})
		}
		return out
	}
	var srcs []netip.Addr
	for a := range s.signed {
		if !s.own[a] {
			srcs = append(srcs, a)
		}
	}
	slices.SortFunc(srcs, netip.Addr.Compare)
	if len(srcs) > 0 {
		var names []string
		for _, a := range srcs {
			names = append(names, a.String())
		}
		return []Finding{{Check: "lan key", Status: Warn,
			Detail: fmt.Sprintf("%s sign their beacons with a LAN key and we have none: we see their lobbies, but they ignore our queries", strings.Join(names, ", ")),
			Fix:    "use the same --lan-key (or LANLOBBY_LAN_KEY) as the other machines"}}
	}
	return []Finding{{Check: "lan key", Status: OK, Detail: "no LAN key in use here, and no signed beacon heard"}}
}

// arpNote says whether the kernel could resolve a neighbour's link-layer
// address: if not, the machines do not reach each other at all.
func arpNote(a netip.Addr) string {
	if !a.Is4() {
		return ""
	}
	ns, err := readARP()
	if err != nil {
		return ""
	}
	for _, n := range ns {
		if n.Addr == a {
			if n.Complete {
				return fmt.Sprintf(" (it answers ARP on %s, so the link works: something filters the traffic)", n.Device)
			}
			return fmt.Sprintf(" (it does not even answer ARP on %s)", n.Device)
		}
	}
	return ""
}
