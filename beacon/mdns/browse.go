package mdns

import (
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// Browsing timing.
const (
	// firstRepeat is the gap after the first browse query; later gaps
	// double up to maxQueryInterval (RFC 6762 §5.2).
	firstRepeat = time.Second
	// maxQueryInterval caps the browse query interval. The RFC's 60 min:
	// liveness checks and cache refreshes keep what is known fresh, and
	// new services announce themselves.
	maxQueryInterval = time.Hour
	// resolveTries bounds follow-up queries for a missing SRV, TXT or
	// address, resolveGap apart (then given up until something new
	// about the instance arrives).
	resolveTries = 3
	resolveGap   = time.Second
	// minCheckGap is the least time between two liveness queries for one
	// instance: the RFC's once-a-second answer rule makes quicker ones
	// pointless.
	minCheckGap = time.Second
	// legacyMemory is how long the ID of a legacy query is remembered, to
	// time the round trip to the answers that copy it.
	legacyMemory = 5 * time.Second
	// legacyUDPSize is the answer size our legacy queries offer in their
	// EDNS0 option (RFC 6762 §6.7 otherwise limits answers to 512 bytes).
	legacyUDPSize = maxMulticast
)

// instance is a service instance the browser heard of.
type instance struct {
	name  string // presentation form, as received
	label string // raw instance label
	// heard is when a record of the instance (PTR, SRV, TXT) last
	// arrived: the liveness clock.
	heard   time.Time
	ifIndex int            // interface it was last heard on
	src     netip.AddrPort // sender of its last SRV or TXT record

	nextCheck time.Time // next liveness query
	resolveAt time.Time // next follow-up query for missing records
	resolves  int

	shownID string // lobby id it currently shows; "" when none
}

// browseConfig is the part of the configuration the pure core uses.
type browseConfig struct {
	game       string // "" = all
	liveness   time.Duration
	expiry     time.Duration
	maxLobbies int
	jitter     func(time.Duration) time.Duration
	// key, when set, shows only lobbies whose TXT record is signed with
	// it, with a timestamp within window of its arrival.
	key    beacon.Key
	window time.Duration
	log    *slog.Logger // nil: no logs
}

// browseCore is the browser's protocol state: cache, instances, query
// schedule and the lobbies shown. It does no I/O and reads no clock, so
// it is tested and fuzzed without sockets. Not safe for concurrent use.
type browseCore struct {
	cfg    browseConfig
	ifaces []netutil.Iface
	names  []string // browse names: the service type, the subtype
	cache  *cache
	insts  map[string]*instance // by canonical instance name
	shown  map[string]beacon.LobbyInfo
	owner  map[string]*instance // lobby id -> instance showing it

	nextBrowse time.Time
	interval   time.Duration
	querySent  time.Time // when the last browse query went out
	queryNo    uint64    // browse queries sent: the round answers belong to
	quRound    uint64    // the last round that began with a QU query
	rtt        map[netip.Addr]rttSample

	// Legacy unicast queries (see browse): the next ID, and when the ones
	// still remembered went out.
	legacyID   uint16
	legacySent map[uint16]legacyQuery

	// sink receives the events (the Browser's coalescer).
	sink  func(beacon.Event)
	stats BrowserStats
}

type rttSample struct {
	rtt     time.Duration
	queryNo uint64
}

type legacyQuery struct {
	at      time.Time
	queryNo uint64
}

func newBrowseCore(cfg browseConfig) *browseCore {
	names := []string{ServiceType}
	if cfg.game != "" {
		names = []string{subtypeName(cfg.game), ServiceType}
	}
	return &browseCore{
		cfg:   cfg,
		names: names,
		cache: newCache(8*cfg.maxLobbies+64, cfg.jitter),
		insts: make(map[string]*instance),
		shown: make(map[string]beacon.LobbyInfo),
		owner: make(map[string]*instance),
		rtt:   make(map[netip.Addr]rttSample),

		legacyID:   uint16(mrand.Uint32()),
		legacySent: make(map[uint16]legacyQuery),
	}
}

func (b *browseCore) start(now time.Time, ifaces []netutil.Iface) []outPacket {
	b.ifaces = slices.Clone(ifaces)
	b.interval = firstRepeat
	b.nextBrowse = now.Add(firstRepeat)
	return b.browse(now, true, 0)
}

// setIfaces replaces the interfaces after a network change: an interface
// that appeared or changed (a new address, its link back) gets the first
// query, QU with its legacy copy, at once, and the repeats start over
// (RFC 6762 §8.3 asks responders to announce on such a change, but
// queries find those that do not). Lobbies heard over an interface that
// is gone leave by the liveness checks, as any silent lobby.
func (b *browseCore) setIfaces(now time.Time, ifaces []netutil.Iface, changes []netutil.IfaceChange) []outPacket {
	b.ifaces = slices.Clone(ifaces)
	var out []outPacket
	for _, ch := range changes {
		if !ch.Removed() {
			out = append(out, b.browse(now, true, ch.New.Index)...)
		}
	}
	if len(out) > 0 {
		b.interval = firstRepeat
		b.nextBrowse = now.Add(firstRepeat)
	}
	return out
}

func (b *browseCore) iface(index int) (netutil.Iface, bool) {
	i := slices.IndexFunc(b.ifaces, func(i netutil.Iface) bool { return i.Index == index })
	if i < 0 {
		return netutil.Iface{}, false
	}
	return b.ifaces[i], true
}

// browse sends the browse query on every interface: the first one (and
// one asked for by Query) with the QU bit, answered by unicast within a
// millisecond, and also as a legacy unicast query (see legacy); the
// repeats QM with the PTR records already known (RFC 6762 §5.2, §7.1).
// Only the first browse name is asked: the subtype when browsing one
// game. ifIndex > 0 asks on that interface only. Without an interface
// to ask on nothing is sent or counted.
func (b *browseCore) browse(now time.Time, qu bool, ifIndex int) []outPacket {
	if !slices.ContainsFunc(b.ifaces, func(i netutil.Iface) bool { return ifIndex == 0 || i.Index == ifIndex }) {
		return nil
	}
	q := dns.Question{Name: b.names[0], Qtype: dns.TypePTR, Qclass: classIN}
	if qu {
		q.Qclass |= topBit
	}
	b.querySent = now
	b.queryNo++
	b.stats.Queries++
	var known []dns.RR
	if qu {
		b.quRound = b.queryNo
	} else {
		known = b.cache.knownAnswers(now, dns.Question{Name: b.names[0], Qtype: dns.TypePTR, Qclass: classIN})
	}
	var out []outPacket
	for _, ifi := range b.ifaces {
		if ifIndex == 0 || ifi.Index == ifIndex {
			out = append(out, queryPackets(ifi.Index, []dns.Question{q}, known)...)
		}
	}
	if qu {
		out = append(out, b.legacy(now, ifIndex, []dns.Question{q})...)
	}
	return out
}

// legacy builds legacy unicast copies (RFC 6762 §6.7) of QU questions
// for one interface (0: every interface), sent to the group from the
// browser's own ephemeral port. The QU answers go to port 5353 of our
// address, which every browser on this host binds: the kernel hands each
// to one of them only. Responders answer a legacy query by unicast to its
// source port, which is ours alone, so every browser gets answers to its
// own first queries within a millisecond, whatever else shares port 5353.
// The copies carry the questions without the QU bit, a fresh ID (copied
// into the answers: it times the round trip), no known answers, and an
// EDNS0 option offering answers of legacyUDPSize bytes (ours honour it;
// others answer within 512 bytes, setting TC when more would not fit).
func (b *browseCore) legacy(now time.Time, ifIndex int, qs []dns.Question) []outPacket {
	plain := make([]dns.Question, len(qs))
	for i, q := range qs {
		q.Qclass &= classMask
		plain[i] = q
	}
	for id, s := range b.legacySent {
		if now.Sub(s.at) > legacyMemory {
			delete(b.legacySent, id)
		}
	}
	var out []outPacket
	for _, ifi := range b.ifaces {
		if ifIndex != 0 && ifi.Index != ifIndex {
			continue
		}
		for rest := plain; len(rest) > 0; {
			n := min(len(rest), 32)
			b.legacyID++
			if b.legacyID == 0 {
				b.legacyID++
			}
			m := new(dns.Msg)
			m.Id = b.legacyID
			m.Question = rest[:n]
			m.SetEdns0(legacyUDPSize, false)
			rest = rest[n:]
			data, err := m.Pack()
			if err != nil {
				continue
			}
			b.legacySent[m.Id] = legacyQuery{at: now, queryNo: b.queryNo}
			b.stats.LegacyQueries++
			out = append(out, outPacket{data: data, ifIndex: ifi.Index, legacy: true})
		}
	}
	return out
}

// queryPackets builds a query; known answers that do not fit are left
// out (responders then repeat them: more traffic, never a wrong result).
func queryPackets(ifIndex int, qs []dns.Question, known []dns.RR) []outPacket {
	m := new(dns.Msg)
	m.Compress = true
	m.Question = qs
	for _, rr := range known {
		m.Answer = append(m.Answer, rr)
		if m.Len() > maxMulticast {
			m.Answer = m.Answer[:len(m.Answer)-1]
			break
		}
	}
	for m.Len() > maxMulticast && len(m.Question) > 1 {
		m.Question = m.Question[:len(m.Question)-1]
	}
	data, err := m.Pack()
	if err != nil {
		return nil
	}
	return []outPacket{{data: data, ifIndex: ifIndex}}
}

// kick sends a QU browse query at once (Browser.Query).
func (b *browseCore) kick(now time.Time) []outPacket { return b.browse(now, true, 0) }

// handle processes one datagram. Queries (other browsers') are ignored;
// responses from port 5353 feed the cache. It never panics on any input.
func (b *browseCore) handle(now time.Time, in inbound) []outPacket {
	ifi, ok := b.iface(in.ifIndex)
	if !ok {
		if in.ifIndex != 0 || len(b.ifaces) != 1 {
			b.stats.Ignored++
			return nil
		}
		ifi = b.ifaces[0]
	}
	m := new(dns.Msg)
	if err := m.Unpack(in.data); err != nil {
		b.stats.Malformed++
		return nil
	}
	if !m.Response {
		return nil
	}
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess || in.src.Port() != Port ||
		(!in.multicast() && in.ttl != mdnsTTL && !ifi.OnLink(in.src.Addr())) {
		b.stats.Ignored++
		return nil
	}
	b.stats.Packets++
	keyed := !b.cfg.key.IsZero()
	var txts []dns.RR // TXT records of known instances in this packet
	add := b.cache.add
	switch {
	case in.legacy:
		// An answer to one of our legacy queries: TTLs capped at 10 s,
		// no cache-flush bits, the question echoed (ignored).
		b.stats.Legacy++
		add = b.cache.addLegacy
		if q, ok := b.legacySent[m.Id]; ok {
			b.recordRTT(now, in.src.Addr(), q.at, q.queryNo)
		}
	case !in.multicast():
		b.stats.Unicast++
		// On a host shared with other browsers this may answer another
		// one's QU query: only a QU round's answers are timed.
		if b.quRound == b.queryNo {
			b.recordRTT(now, in.src.Addr(), b.querySent, b.queryNo)
		}
	}
	dirty := map[string]*instance{}
	hosts := map[string]bool{}
	// PTR records first, then SRV and TXT, then addresses: each pass
	// needs what the one before learnt from the same packet (records come
	// in any order, answers and additional records alike).
	rrs := append(slices.Clone(m.Answer), m.Extra...)
	for _, rr := range rrs {
		r, ok := rr.(*dns.PTR)
		if !ok || rrClass(rr) != classIN || !b.browseName(r.Hdr.Name) {
			continue
		}
		inst := b.instanceFor(now, r.Ptr, r.Hdr.Ttl > 0)
		if inst == nil {
			continue
		}
		add(now, rr, ifi.Index, in.src)
		dirty[canonName(inst.name)] = inst
		if !keyed {
			b.heard(now, inst, r.Hdr.Ttl, ifi.Index, netip.AddrPort{})
		}
	}
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.SRV, *dns.TXT:
		default:
			continue
		}
		inst := b.insts[canonName(rr.Header().Name)]
		if inst == nil || rrClass(rr) != classIN {
			continue // not announced under a browse name (yet)
		}
		add(now, rr, ifi.Index, in.src)
		dirty[canonName(inst.name)] = inst
		if !keyed {
			b.heard(now, inst, rr.Header().Ttl, ifi.Index, in.src)
		} else if _, ok := rr.(*dns.TXT); ok && rr.Header().Ttl > 0 {
			txts = append(txts, rr)
		}
	}
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.A, *dns.AAAA:
		default:
			continue
		}
		name := canonName(rr.Header().Name)
		if rrClass(rr) != classIN || !b.isTarget(now, name) {
			continue
		}
		if add(now, rr, ifi.Index, in.src) {
			hosts[name] = true
		}
	}
	for h := range hosts {
		for k, inst := range b.insts {
			if b.pointsAt(now, inst, h) {
				dirty[k] = inst
			}
		}
	}
	// With a key, only a TXT record that verifies (its timestamp within
	// the window now) restarts an instance's liveness clock: unsigned
	// records, and signed ones replayed after the window, cannot keep a
	// lobby whose host is gone.
	for _, rr := range txts {
		inst := b.insts[canonName(rr.Header().Name)]
		e := b.cache.entries[keyOf(rr)]
		if inst == nil || e == nil {
			continue
		}
		srv := b.bestSRV(now, inst)
		if srv == nil {
			continue // checked once the SRV record comes (view)
		}
		if b.txtVerdict(e, inst.label, srv.rr.(*dns.SRV).Port) == nil {
			b.heard(now, inst, rr.Header().Ttl, ifi.Index, in.src)
		}
	}
	b.settle(now, dirty)
	return b.followUps(now)
}

// txtVerdict checks the signature of the TXT record e for the instance
// label and the SRV port, as at its last arrival, and remembers the
// verdict; a failure is counted, and logged (1st, 2nd, 4th... of each
// kind), once per arrival.
func (b *browseCore) txtVerdict(e *cacheEntry, label string, port uint16) error {
	if v := e.sig; v.checked && v.at.Equal(e.seen) && v.label == label && v.port == port {
		return v.err
	}
	err := VerifyTXT(b.cfg.key, label, port, txtStrings(e.rr.(*dns.TXT)), e.seen, b.cfg.window)
	e.sig = sigVerdict{checked: true, at: e.seen, label: label, port: port, err: err}
	if err == nil {
		return nil
	}
	var n *uint64
	msg := "mdns: lobby with a bad TXT signature ignored (another LAN key?)"
	switch {
	case errors.Is(err, ErrUnsigned):
		n, msg = &b.stats.Unsigned, "mdns: lobby with an unsigned TXT record ignored (publisher has no LAN key)"
	case errors.Is(err, ErrBadTimestamp):
		n, msg = &b.stats.BadTimestamp, "mdns: signed TXT record outside the replay window ignored (replayed, or clocks apart)"
	default:
		n = &b.stats.BadSignature
	}
	*n++
	if b.cfg.log != nil && *n&(*n-1) == 0 {
		b.cfg.log.Warn(msg, "instance", label, "from", e.src, "count", *n, "err", err)
	}
	return err
}

// browseName reports whether name is one of the names we browse.
func (b *browseCore) browseName(name string) bool {
	for _, n := range b.names {
		if sameName(n, name) {
			return true
		}
	}
	return false
}

// instanceFor returns the instance a PTR record points at, creating it
// when create is set and the bound allows.
func (b *browseCore) instanceFor(now time.Time, name string, create bool) *instance {
	label, ok := parseInstance(name)
	if !ok {
		return nil
	}
	k := canonName(name)
	if inst := b.insts[k]; inst != nil || !create {
		return inst
	}
	if len(b.insts) >= 2*b.cfg.maxLobbies {
		b.stats.TableFull++
		return nil
	}
	inst := &instance{name: name, label: label, heard: now, resolveAt: now}
	b.insts[k] = inst
	return inst
}

// heard notes a record of inst: the liveness clock restarts.
func (b *browseCore) heard(now time.Time, inst *instance, ttl uint32, ifIndex int, src netip.AddrPort) {
	if ttl == 0 {
		return
	}
	inst.heard = now
	inst.ifIndex = ifIndex
	if src.IsValid() {
		inst.src = src
	}
	inst.nextCheck = now.Add(b.cfg.liveness + b.cfg.jitter(b.cfg.liveness/8))
}

// isTarget reports whether name is the SRV target of an instance.
func (b *browseCore) isTarget(now time.Time, name string) bool {
	for _, inst := range b.insts {
		if b.pointsAt(now, inst, name) {
			return true
		}
	}
	return false
}

// recordRTT: the first unicast answer from an address to a query of
// round queryNo, sent at sent, gives its round-trip time.
func (b *browseCore) recordRTT(now time.Time, a netip.Addr, sent time.Time, queryNo uint64) {
	if sent.IsZero() {
		return
	}
	if s, ok := b.rtt[a]; ok && s.queryNo >= queryNo {
		return
	}
	if len(b.rtt) > 4*b.cfg.maxLobbies {
		clear(b.rtt)
	}
	b.rtt[a] = rttSample{rtt: now.Sub(sent), queryNo: queryNo}
}

// viewStatus tells what view found.
type viewStatus uint8

const (
	viewOK         viewStatus = iota
	viewInvalid               // something missing or invalid
	viewUnverified            // complete, but the TXT signature fails (with a key)
)

// view assembles the lobby an instance describes: a PTR under a browse
// name, SRV, TXT with our keys (DecodeTXT) and, with a key, a valid
// signature, and an address of the SRV target.
func (b *browseCore) view(now time.Time, inst *instance) (beacon.LobbyInfo, viewStatus) {
	if !b.hasPTR(now, inst) {
		return beacon.LobbyInfo{}, viewInvalid
	}
	srvE := b.bestSRV(now, inst)
	if srvE == nil {
		return beacon.LobbyInfo{}, viewInvalid
	}
	srv := srvE.rr.(*dns.SRV)
	l, st := b.bestTXT(now, inst, srv.Port)
	if st != viewOK {
		return beacon.LobbyInfo{}, st
	}
	l.Port = srv.Port
	if b.cfg.game != "" && l.Game != b.cfg.game {
		return beacon.LobbyInfo{}, viewInvalid
	}
	addr, ifIndex, _ := b.address(now, srv.Target, srvE.src.Addr())
	info := beacon.LobbyInfo{
		ID: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity, State: l.State,
		Host: netip.AddrPortFrom(addr, srv.Port), Seen: inst.heard, Source: SourceName, Attrs: l.Attrs,
	}
	if ifi, ok := b.iface(ifIndex); ok {
		info.Iface = ifi.Name
	}
	if s, ok := b.rtt[addr.WithZone("")]; ok {
		info.RTT = s.rtt
	} else if s, ok := b.rtt[addr]; ok {
		info.RTT = s.rtt
	} else if s, ok := b.rtt[inst.src.Addr()]; ok {
		info.RTT = s.rtt
	}
	return info, viewOK
}

// Several hosts may send records of one instance name: a host that
// renamed after a conflict leaves its records in caches for a second, and
// a hostile one may claim every name with records of its own. The SRV and
// TXT records that make the lobby are the newest that work: an SRV whose
// target has an address, a TXT that is a lobby (and, with a key, verifies)
// — so a conflicting claim without them does not hide a lobby whose own
// records are cached (its responder announces them again when it hears
// the claim).

// bestSRV returns the newest SRV record of inst whose target is valid
// and has an address, or nil.
func (b *browseCore) bestSRV(now time.Time, inst *instance) *cacheEntry {
	var best *cacheEntry
	for _, e := range b.cache.get(now, inst.name, dns.TypeSRV) {
		t := e.rr.(*dns.SRV).Target
		if (best == nil || e.newer(best)) && validTarget(t) {
			if _, _, ok := b.address(now, t, e.src.Addr()); ok {
				best = e
			}
		}
	}
	return best
}

// bestTXT returns the lobby of the newest TXT record of inst that makes a
// valid one (with a key, that verifies for the instance label and port),
// viewUnverified when only unverified ones do, or viewInvalid.
func (b *browseCore) bestTXT(now time.Time, inst *instance, port uint16) (beacon.Lobby, viewStatus) {
	txts := b.cache.get(now, inst.name, dns.TypeTXT)
	slices.SortFunc(txts, func(x, y *cacheEntry) int {
		if x.newer(y) {
			return -1
		}
		return 1
	})
	st := viewInvalid
	for _, e := range txts {
		l, err := DecodeTXT(txtStrings(e.rr.(*dns.TXT)), inst.label)
		if err != nil {
			continue
		}
		l.Port = port
		if beacon.ValidateLobby(l) != nil {
			continue
		}
		if !b.cfg.key.IsZero() && b.txtVerdict(e, inst.label, port) != nil {
			st = viewUnverified
			continue
		}
		return l, viewOK
	}
	return beacon.Lobby{}, st
}

// pointsAt reports whether an SRV record of inst has the target name.
func (b *browseCore) pointsAt(now time.Time, inst *instance, name string) bool {
	for _, e := range b.cache.get(now, inst.name, dns.TypeSRV) {
		if canonName(e.rr.(*dns.SRV).Target) == name {
			return true
		}
	}
	return false
}

func (b *browseCore) hasPTR(now time.Time, inst *instance) bool {
	cn := canonName(inst.name)
	for _, n := range b.names {
		for _, e := range b.cache.get(now, n, dns.TypePTR) {
			if canonName(e.rr.(*dns.PTR).Ptr) == cn {
				return true
			}
		}
	}
	return false
}

// address picks the host's address like the beacon does: IPv4, then
// IPv6 global, then link-local, preferring, within each, addresses inside
// a prefix of the interface the record came in on (a responder that
// publishes every interface's addresses everywhere must not send us to
// another subnet), then addresses sent by from, the sender of the SRV
// record (another host claiming the host name must not divert the lobby
// to its own address). A link-local address gets the interface as its
// zone.
func (b *browseCore) address(now time.Time, host string, from netip.Addr) (netip.Addr, int, bool) {
	var best netip.Addr
	bestRank, bestIf := 1<<30, 0
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		for _, e := range b.cache.get(now, host, t) {
			var a netip.Addr
			switch r := e.rr.(type) {
			case *dns.A:
				a, _ = netip.AddrFromSlice(r.A)
			case *dns.AAAA:
				a, _ = netip.AddrFromSlice(r.AAAA)
			}
			a = a.Unmap()
			if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
				continue
			}
			ifi, _ := b.iface(e.ifIndex)
			rank := 0
			switch {
			case a.Is4():
			case !a.IsLinkLocalUnicast():
				rank = 1
			default:
				rank = 2
				a = a.WithZone(ifi.Name)
			}
			if !ifi.OnLink(a) {
				rank += 3
			}
			rank *= 2
			if e.src.Addr().WithZone("") != from.WithZone("") {
				rank++
			}
			if rank < bestRank || (rank == bestRank && a.Less(best)) {
				best, bestRank, bestIf = a, rank, e.ifIndex
			}
		}
	}
	return best, bestIf, best.IsValid()
}

// settle recomputes the lobbies of the dirty instances and emits the
// differences. A lobby id is shown by one instance at a time: the first
// to claim it, unless another claims it with a higher term.
func (b *browseCore) settle(now time.Time, dirty map[string]*instance) {
	keys := make([]string, 0, len(dirty))
	for k := range dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		inst := dirty[k]
		info, st := b.view(now, inst)
		if st == viewUnverified && inst.shownID != "" {
			// Its newest TXT record fails the signature check: the
			// lobby stays as last verified, and leaves Expiry after the
			// last valid TXT record unless another comes.
			continue
		}
		ok := st == viewOK
		if ok {
			if o := b.owner[info.ID]; o != nil && o != inst {
				if info.Term > b.shown[info.ID].Term {
					// The lobby's coordinator changed (a takeover, a
					// move): the higher term shows it from now on.
					o.shownID = ""
				} else {
					ok = false // another instance shows this id
					b.stats.Duplicates++
				}
			}
		}
		if inst.shownID != "" && (!ok || info.ID != inst.shownID) {
			b.hide(inst)
		}
		if !ok {
			if inst.resolves < resolveTries && inst.resolveAt.IsZero() {
				inst.resolveAt = now
			}
			continue
		}
		inst.resolves, inst.resolveAt = 0, time.Time{}
		if len(b.shown) >= b.cfg.maxLobbies && inst.shownID == "" {
			b.stats.TableFull++
			continue
		}
		old, known := b.shown[info.ID]
		b.shown[info.ID], b.owner[info.ID], inst.shownID = info, inst, info.ID
		switch {
		case !known:
			b.emit(beacon.Event{Type: beacon.Added, Lobby: info})
		case !sameContent(old, info):
			b.emit(beacon.Event{Type: beacon.Updated, Lobby: info})
		}
	}
	for k, inst := range b.insts {
		if inst.shownID == "" && !b.hasPTR(now, inst) {
			delete(b.insts, k)
		}
	}
}

// hide removes the lobby inst shows.
func (b *browseCore) hide(inst *instance) {
	id := inst.shownID
	info := b.shown[id]
	delete(b.shown, id)
	delete(b.owner, id)
	inst.shownID = ""
	b.emit(beacon.Event{Type: beacon.Removed, Lobby: info})
}

// sameContent reports whether a consumer would see a difference: all
// fields but Seen and RTT (as beacon compares).
func sameContent(a, b beacon.LobbyInfo) bool {
	a.Seen, b.Seen, a.RTT, b.RTT = time.Time{}, time.Time{}, 0, 0
	return a == b
}

// emit passes an event to the sink.
func (b *browseCore) emit(ev beacon.Event) {
	if b.sink != nil {
		b.sink(ev)
	}
}

// next returns when tick has work next.
func (b *browseCore) next() (at time.Time, ok bool) {
	consider := func(t time.Time) {
		if !t.IsZero() && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	consider(b.nextBrowse)
	if t, has := b.cache.next(); has {
		consider(t)
	}
	for _, inst := range b.insts {
		consider(inst.resolveAt)
		if inst.shownID != "" {
			consider(inst.nextCheck)
			consider(inst.heard.Add(b.cfg.expiry))
		}
	}
	return at, ok
}

// tick does what is due: the repeated browse query, cache expiry and
// refresh queries, liveness checks and removals, follow-up queries.
func (b *browseCore) tick(now time.Time) []outPacket {
	var out []outPacket
	if !b.nextBrowse.IsZero() && !now.Before(b.nextBrowse) {
		out = append(out, b.browse(now, false, 0)...)
		b.interval = min(2*b.interval, maxQueryInterval)
		b.nextBrowse = now.Add(b.interval)
	}
	dirty := map[string]*instance{}
	for _, e := range b.cache.expire(now) {
		b.markDirty(now, e, dirty)
	}
	// Liveness (beyond TTLs): a lobby not heard of for expiry is gone,
	// whatever its records' TTLs say (its host died without goodbyes).
	for k, inst := range b.insts {
		if inst.shownID != "" && !now.Before(inst.heard.Add(b.cfg.expiry)) {
			b.stats.LivenessRemovals++
			b.hide(inst)
			b.cache.dropName(inst.name)
			delete(b.insts, k)
			delete(dirty, k)
		}
	}
	b.settle(now, dirty)
	questions := map[int][]dns.Question{}
	for _, e := range b.cache.refreshDue(now) {
		q := dns.Question{Name: e.rr.Header().Name, Qtype: e.rr.Header().Rrtype, Qclass: classIN}
		questions[e.ifIndex] = appendQuestion(questions[e.ifIndex], q)
	}
	for _, inst := range b.insts {
		if inst.shownID == "" || inst.nextCheck.IsZero() || now.Before(inst.nextCheck) {
			continue
		}
		// A QM question with no known answers: the responder must
		// answer, by multicast, so every browser on the link sees it
		// and can skip its own check (and so the answer reaches us even
		// when another process shares our port).
		inst.nextCheck = now.Add(max(b.cfg.liveness/2, minCheckGap))
		b.stats.LivenessChecks++
		for _, t := range []uint16{dns.TypeSRV, dns.TypeTXT} {
			questions[inst.ifIndex] = appendQuestion(questions[inst.ifIndex], dns.Question{Name: inst.name, Qtype: t, Qclass: classIN})
		}
	}
	for ifIndex, qs := range questions {
		out = append(out, b.send(ifIndex, qs)...)
	}
	return append(out, b.followUps(now)...)
}

func (b *browseCore) markDirty(now time.Time, e *cacheEntry, dirty map[string]*instance) {
	switch r := e.rr.(type) {
	case *dns.PTR:
		if inst := b.insts[canonName(r.Ptr)]; inst != nil {
			dirty[canonName(r.Ptr)] = inst
		}
	case *dns.SRV, *dns.TXT:
		if inst := b.insts[e.nt.name]; inst != nil {
			dirty[e.nt.name] = inst
		}
	case *dns.A, *dns.AAAA:
		for k, inst := range b.insts {
			if b.pointsAt(now, inst, e.nt.name) {
				dirty[k] = inst
			}
		}
	}
}

// send builds the queries on one interface (0: every interface).
func (b *browseCore) send(ifIndex int, qs []dns.Question) []outPacket {
	var out []outPacket
	for _, ifi := range b.ifaces {
		if ifIndex != 0 && ifi.Index != ifIndex {
			continue
		}
		for len(qs) > 0 {
			n := min(len(qs), 32)
			out = append(out, queryPackets(ifi.Index, qs[:n], nil)...)
			qs = qs[n:]
		}
	}
	return out
}

func appendQuestion(qs []dns.Question, q dns.Question) []dns.Question {
	for _, x := range qs {
		if x.Qtype == q.Qtype && sameName(x.Name, q.Name) {
			return qs
		}
	}
	return append(qs, q)
}

// followUps asks for what incomplete instances lack (SRV, TXT, the SRV
// target's addresses) with QU questions, and the same as legacy queries,
// up to resolveTries times.
func (b *browseCore) followUps(now time.Time) []outPacket {
	questions := map[int][]dns.Question{}
	for _, inst := range b.insts {
		if inst.shownID != "" || inst.resolveAt.IsZero() || now.Before(inst.resolveAt) {
			continue
		}
		if inst.resolves >= resolveTries {
			inst.resolveAt = time.Time{}
			continue
		}
		inst.resolves++
		inst.resolveAt = now.Add(resolveGap)
		var qs []dns.Question
		srv := b.cache.newest(now, inst.name, dns.TypeSRV)
		if srv == nil {
			qs = append(qs, dns.Question{Name: inst.name, Qtype: dns.TypeSRV, Qclass: classIN | topBit})
		}
		if b.cache.newest(now, inst.name, dns.TypeTXT) == nil {
			qs = append(qs, dns.Question{Name: inst.name, Qtype: dns.TypeTXT, Qclass: classIN | topBit})
		}
		if srv != nil {
			target := srv.rr.(*dns.SRV).Target
			if !validTarget(target) {
				inst.resolveAt = time.Time{} // nothing to ask for
				continue
			}
			if _, _, ok := b.address(now, target, netip.Addr{}); !ok {
				qs = append(qs,
					dns.Question{Name: target, Qtype: dns.TypeA, Qclass: classIN | topBit},
					dns.Question{Name: target, Qtype: dns.TypeAAAA, Qclass: classIN | topBit})
			}
		}
		if len(qs) == 0 {
			inst.resolveAt = time.Time{} // complete but not shown: invalid TXT, other game
			continue
		}
		b.stats.FollowUps++
		for _, q := range qs {
			questions[inst.ifIndex] = appendQuestion(questions[inst.ifIndex], q)
		}
	}
	var out []outPacket
	for ifIndex, qs := range questions {
		if len(qs) > 0 {
			out = append(out, b.send(ifIndex, qs)...)
			out = append(out, b.legacy(now, ifIndex, qs)...)
		}
	}
	return out
}

// snapshot returns the lobbies shown now, sorted by id.
func (b *browseCore) snapshot() []beacon.LobbyInfo {
	out := make([]beacon.LobbyInfo, 0, len(b.shown))
	for _, l := range b.shown {
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y beacon.LobbyInfo) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// validTarget reports whether an SRV target is a host name we can ask
// for: not the root ("no service", RFC 2782), not empty or unparsable.
func validTarget(name string) bool {
	labels, ok := splitName(name)
	return ok && len(labels) > 0
}
