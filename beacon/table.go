package beacon

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// staleWindow: a packet whose sequence number is up to this much behind
// the last one accepted for a lobby is a late duplicate or reordered and is
// ignored. Anything further behind is taken as a restarted sender (their
// counters start at random, so a restart lands inside the window with
// probability 2^-22).
const staleWindow = 1024

// Limits of a browser's table.
const (
	// MaxTTL caps the TTL a browser accepts from a packet: a host that
	// announces a longer one (a forger's 65,535 s, 18 h) is kept this long
	// without another packet. Advertisers announce at most this (theirs is
	// 6 s by default).
	MaxTTL = 60 * time.Second
	// DefaultMaxTableBytes bounds the memory of a browser's live lobbies,
	// counted as entryOverhead plus their strings: about what
	// DefaultMaxLobbies lobbies with long names take.
	DefaultMaxTableBytes = 1 << 20
	// entryOverhead is what a lobby costs in the table beyond its id,
	// game and name: the entry, its map slot, its share's index.
	entryOverhead = 192
)

// table is the browser's state: the lobbies and coordinators heard of,
// when each expires, and round-trip times. It is pure: every method takes
// the time, so expiry is tested without sleeping. Not safe for concurrent
// use.
type table struct {
	game       string // filter; "" = all
	maxLobbies int
	maxBytes   int    // live entries' cost (entryCost) at most
	source     string // LobbyInfo.Source
	// hold is the least time a lobby or coordinator that went away (by
	// goodbye, withdrawal or expiry) is remembered as a tombstone, so
	// that a replayed copy of its last packets cannot bring it back. It
	// is 2 × the replay window with signed beacons, 0 without them (a
	// goodbye tombstone lasts one TTL, an expired entry is forgotten).
	hold time.Duration

	lobbies map[string]*entry // live entries and tombstones
	live    int               // entries that are not tombstones
	bytes   int               // cost of the live entries
	// shares are the live entries by the source they are heard from
	// (sourceKey of their address): when the table is full, a lobby from
	// a source holding less than the heaviest one takes the place of one
	// of that source's, so a flood from a few addresses cannot keep a
	// real lobby out.
	shares map[netip.Addr]*share
	coords map[string]*coordEntry

	querySent time.Time // last query; zero before the first
	queryNo   uint64
	rtt       map[netip.Addr]rttSample

	tableFull uint64 // new lobbies dropped: full, and their source the heaviest
	evicted   uint64 // lobbies dropped to make room for a lighter source's
	stale     uint64 // packets older than what was accepted
}

// share is what one source holds in the table.
type share struct {
	bytes int
	ids   map[string]struct{}
}

// sourceKey is the source a lobby heard from a is charged to: the IPv4
// address, or the /64 prefix of an IPv6 one (a host can take any number
// of addresses there, link-local ones included).
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a
	}
	p, _ := a.Prefix(64)
	return p.Addr()
}

// entryCost is what a lobby costs in the table.
func entryCost(l *LobbyInfo) int { return entryOverhead + len(l.ID) + len(l.Game) + len(l.Name) }

// charge accounts e, a live entry, to its source, anew if that or its
// cost changed.
func (t *table) charge(id string, e *entry) {
	k, c := sourceKey(e.info.Host.Addr()), entryCost(&e.info)
	if e.charged && e.share == k && e.cost == c {
		return
	}
	t.uncharge(id, e)
	s := t.shares[k]
	if s == nil {
		s = &share{ids: make(map[string]struct{})}
		t.shares[k] = s
	}
	s.bytes += c
	s.ids[id] = struct{}{}
	t.bytes += c
	e.share, e.cost, e.charged = k, c, true
}

// uncharge takes e out of the accounts (it went away).
func (t *table) uncharge(id string, e *entry) {
	if !e.charged {
		return
	}
	if s := t.shares[e.share]; s != nil {
		s.bytes -= e.cost
		delete(s.ids, id)
		if len(s.ids) == 0 {
			delete(t.shares, e.share)
		}
	}
	t.bytes -= e.cost
	e.charged = false
}

// makeRoom makes room for a new lobby of cost heard from source key: while
// the table is full (in entries or bytes), a lobby of the heaviest source
// goes, as long as key would still hold less than it. It returns the
// Removed events, and false when there is no room.
func (t *table) makeRoom(key netip.Addr, cost int, evs []Event) ([]Event, bool) {
	for t.live >= t.maxLobbies || t.bytes+cost > t.maxBytes {
		var heavy netip.Addr
		hb := -1
		for k, s := range t.shares {
			if s.bytes > hb {
				heavy, hb = k, s.bytes
			}
		}
		mine := 0
		if s := t.shares[key]; s != nil {
			mine = s.bytes
		}
		if hb < 0 || heavy == key || mine+cost >= hb {
			t.tableFull++
			return evs, false
		}
		var victim string
		for id := range t.shares[heavy].ids {
			victim = id
			break
		}
		e := t.lobbies[victim]
		t.uncharge(victim, e)
		t.live--
		t.evicted++
		evs = append(evs, Event{Type: Removed, Lobby: t.view(e)})
		delete(t.lobbies, victim)
	}
	return evs, true
}

type entry struct {
	info     LobbyInfo
	seq      uint32
	ttl      time.Duration
	expires  time.Time
	hostSeen time.Time // last packet from info.Host's address
	hostSeq  uint32    // newest seq heard from info.Host's address
	// share and cost are what the entry is charged to, while charged
	// (live).
	share   netip.Addr
	cost    int
	charged bool
	// alt is another address the lobby was heard from with a seq newer
	// than hostSeq, altSeq the newest such seq and altN how many distinct
	// such seqs: two mean the current address missed two packets in a
	// row (the host's address changed, see moved).
	alt    netip.Addr
	altSeq uint32
	altN   int
	gone   bool // tombstone: removed by goodbye, kept until expires
	// signed is the signed timestamp of the last packet accepted, with a
	// LAN key (zero without).
	signed time.Time
}

// moved reports whether the lobby's host has moved to address a, of the
// same rank as the current one: a delivered two packets newer than any
// from the current address. A host announces every packet on each of its
// interfaces and families with one seq, so while the current address
// works it keeps up; when DHCP gives a new address, the next two packets
// (the advertiser repeats its announcement after a network change) move
// the lobby, instead of a TTL later. A worse address (IPv6 while IPv4 is
// lost) takes over only after a TTL: a lost IPv4 copy whose IPv6 twin
// came first must not make the lobby flap.
func (e *entry) moved(a netip.Addr, seq uint32) bool {
	if hostRank(a) != hostRank(e.info.Host.Addr()) || seqOrder(seq, e.hostSeq) <= 0 {
		return false
	}
	if a != e.alt {
		e.alt, e.altSeq, e.altN = a, seq, 1
		return false
	}
	if seq != e.altSeq {
		e.altSeq, e.altN = seq, e.altN+1
	}
	return e.altN >= 2
}

// setHost makes a the lobby's address, heard with seq at now.
func (e *entry) setHost(a netip.Addr, port uint16, iface string, seq uint32, now time.Time) {
	e.info.Host, e.info.Iface, e.hostSeen, e.hostSeq = netip.AddrPortFrom(a, port), iface, now, seq
	e.alt, e.altN = netip.Addr{}, 0
}

type coordEntry struct {
	info    CoordinatorInfo
	seq     uint32
	signed  time.Time // as entry.signed
	expires time.Time
	gone    bool // tombstone: withdrawn or expired, kept until expires (hold)
}

type rttSample struct {
	rtt     time.Duration
	queryNo uint64
}

// CoordinatorInfo is a coordinator daemon heard of on the LAN.
type CoordinatorInfo struct {
	ID   string
	Name string
	// Addr is the packet's source address and the announced TCP port.
	Addr  netip.AddrPort
	Iface string
	Seen  time.Time
}

// maxCoordinators bounds the coordinators a browser tracks.
const maxCoordinators = 64

func newTable(game string, maxLobbies int, source string) *table {
	return &table{
		game:       game,
		maxLobbies: maxLobbies,
		maxBytes:   DefaultMaxTableBytes,
		shares:     make(map[netip.Addr]*share),
		source:     source,
		lobbies:    make(map[string]*entry),
		coords:     make(map[string]*coordEntry),
		rtt:        make(map[netip.Addr]rttSample),
	}
}

// seqOrder compares a packet's sequence number with the last accepted one:
// -1 stale, 0 duplicate, +1 newer (see staleWindow).
func seqOrder(seq, last uint32) int {
	d := int32(seq - last)
	switch {
	case d == 0:
		return 0
	case d < 0 && d > -staleWindow:
		return -1
	}
	return 1
}

// signedOrder compares a packet's signed timestamp with the last one
// accepted, when both are known (a LAN key): -1 older (a replay), 0 the
// same (a copy, or the twin sent over the other family), +1 newer,
// whatever the seqs say (a restarted sender starts at a random seq). ok is
// false without timestamps: the seq decides.
func signedOrder(signed, last time.Time) (order int, ok bool) {
	if signed.IsZero() || last.IsZero() {
		return 0, false
	}
	return signed.Compare(last), true
}

// hostRank orders the addresses a lobby is heard from: lower is preferred.
func hostRank(a netip.Addr) int {
	switch {
	case a.Is4():
		return 0
	case !a.IsLinkLocalUnicast():
		return 1
	}
	return 2
}

// queried records that a query was sent at now; the first answer from each
// address afterwards gives its round-trip time.
func (t *table) queried(now time.Time) {
	t.querySent = now
	t.queryNo++
}

// observe applies one packet from src, received on iface, and returns the
// resulting events.
func (t *table) observe(now time.Time, p *Packet, src netip.AddrPort, iface string) []Event {
	return t.observeSigned(now, p, src, iface, time.Time{})
}

// observeSigned is observe for a packet signed (with a LAN key) at signed.
// A packet signed no later than the last one accepted for a lobby or a
// coordinator is a copy or a replay, whatever its seq: it neither brings
// the lobby back, nor changes it, nor extends its life. So replays of
// captured packets, which a host's seq may have left more than the stale
// window behind, cannot keep a lobby past one TTL after its host's last
// packet.
func (t *table) observeSigned(now time.Time, p *Packet, src netip.AddrPort, iface string, signed time.Time) []Event {
	if p.Flags&FlagReply != 0 {
		t.recordRTT(now, src.Addr())
	}
	var evs []Event
	switch p.Kind {
	case KindAnnounce:
		ttl := min(time.Duration(p.TTLSeconds)*time.Second, MaxTTL)
		for i := range p.Lobbies {
			evs = t.announce(now, p.Seq, signed, ttl, &p.Lobbies[i], src.Addr(), iface, evs)
		}
	case KindGoodbye:
		for i := range p.Lobbies {
			if ev, ok := t.goodbye(now, p.Seq, signed, &p.Lobbies[i]); ok {
				evs = append(evs, ev)
			}
		}
	case KindCoordinator:
		t.coordinator(now, p, signed, src.Addr(), iface)
	}
	return evs
}

func (t *table) recordRTT(now time.Time, a netip.Addr) {
	if t.querySent.IsZero() || t.rtt[a].queryNo == t.queryNo {
		return
	}
	if _, ok := t.rtt[a]; !ok && len(t.rtt) >= t.maxLobbies {
		return
	}
	t.rtt[a] = rttSample{rtt: now.Sub(t.querySent), queryNo: t.queryNo}
}

// announce applies one lobby of an announcement and appends the events to
// evs.
func (t *table) announce(now time.Time, seq uint32, signed time.Time, ttl time.Duration, l *Lobby, a netip.Addr, iface string, evs []Event) []Event {
	if t.game != "" && l.Game != t.game {
		return evs
	}
	e := t.lobbies[l.ID]
	fresh := e == nil || e.gone
	// Terms: a host still announcing a lobby another coordinator took
	// over (it has not heard yet) is ignored; the first packet of a higher
	// term moves the lobby to its sender at once, whatever its seq (the
	// sender counts its own).
	higher := e != nil && l.Term > e.info.Term
	if !fresh && l.Term < e.info.Term {
		t.stale++
		return evs
	}
	if e != nil && !higher {
		order := seqOrder(seq, e.seq)
		if o, ok := signedOrder(signed, e.signed); ok {
			order = o
		}
		switch order {
		case -1:
			t.stale++
			// Older content, but possibly a better address: a host's
			// answers over IPv4 and IPv6 are separate sends with their own
			// seq, and may arrive in either order.
			return t.betterAddress(now, l.ID, e, a, iface, evs)
		case 0:
			if e.gone {
				return evs // a late copy of what the goodbye ended
			}
			if t.hold > 0 {
				// With signed beacons a copy does not extend the lobby's
				// life, or a replayed copy of a crashed host's last packet
				// would keep it listed until the packet left the window.
				return t.betterAddress(now, l.ID, e, a, iface, evs)
			}
		}
	}
	if fresh {
		info := LobbyInfo{ID: l.ID, Game: l.Game, Name: l.Name}
		var ok bool
		if evs, ok = t.makeRoom(sourceKey(a), entryCost(&info), evs); !ok {
			return evs
		}
	}
	if e == nil {
		if len(t.lobbies) >= 2*t.maxLobbies {
			t.dropTombstone()
		}
		e = &entry{}
		t.lobbies[l.ID] = e
	}
	old := e.info
	switch {
	case fresh:
		t.live++
		*e = entry{}
		e.setHost(a, l.Port, iface, seq, now)
	case higher:
		e.setHost(a, l.Port, iface, seq, now)
	}
	e.seq, e.ttl, e.signed = seq, ttl, signed
	e.expires = now.Add(ttl)
	// Keep the preferred address; switch when a better one is heard, the
	// host moved to another (moved), or the current one has not been
	// heard for a TTL.
	switch cur := e.info.Host.Addr(); {
	case a == cur:
		e.hostSeen, e.alt, e.altN = now, netip.Addr{}, 0
		if seqOrder(seq, e.hostSeq) > 0 {
			e.hostSeq = seq
		}
	case hostRank(a) < hostRank(cur) || now.Sub(e.hostSeen) >= ttl || e.moved(a, seq):
		e.setHost(a, l.Port, iface, seq, now)
	}
	e.info = LobbyInfo{
		ID: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity, State: l.State,
		Host: netip.AddrPortFrom(e.info.Host.Addr(), l.Port), Iface: e.info.Iface,
		Seen: now, Source: t.source, Attrs: l.Attrs,
	}
	t.charge(l.ID, e)
	switch {
	case fresh:
		return append(evs, Event{Type: Added, Lobby: t.view(e)})
	case !old.sameContent(e.info):
		return append(evs, Event{Type: Updated, Lobby: t.view(e)})
	}
	return evs
}

// betterAddress switches a live entry to address a when it ranks better
// than the current one, without touching the (newer) content.
func (t *table) betterAddress(now time.Time, id string, e *entry, a netip.Addr, iface string, evs []Event) []Event {
	if e.gone || hostRank(a) >= hostRank(e.info.Host.Addr()) {
		return evs
	}
	e.setHost(a, e.info.Host.Port(), iface, e.seq, now)
	t.charge(id, e)
	return append(evs, Event{Type: Updated, Lobby: t.view(e)})
}

func (t *table) goodbye(now time.Time, seq uint32, signed time.Time, l *Lobby) (Event, bool) {
	id := l.ID
	e := t.lobbies[id]
	if e == nil || e.gone {
		return Event{}, false
	}
	order := seqOrder(seq, e.seq)
	if o, ok := signedOrder(signed, e.signed); ok {
		order = o
	}
	// The goodbye of a host that lost the lobby to a higher term does not
	// end it; one of a higher term than heard ends it whatever its seq.
	if l.Term < e.info.Term || l.Term == e.info.Term && order < 0 {
		t.stale++
		return Event{}, false
	}
	// The tombstone outlives late copies of earlier announcements (over
	// the other family or another interface) for one TTL, and replays
	// for hold.
	e.gone, e.seq, e.signed, e.expires = true, seq, signed, now.Add(max(e.ttl, t.hold))
	t.uncharge(id, e)
	t.live--
	return Event{Type: Removed, Lobby: t.view(e)}, true
}

// dropTombstone makes room when tombstones pile up: one goes (the one
// that expires first).
func (t *table) dropTombstone() {
	var victim string
	var at time.Time
	for id, e := range t.lobbies {
		if e.gone && (victim == "" || e.expires.Before(at)) {
			victim, at = id, e.expires
		}
	}
	if victim != "" {
		delete(t.lobbies, victim)
	}
}

func (t *table) coordinator(now time.Time, p *Packet, signed time.Time, a netip.Addr, iface string) {
	c := p.Coordinator
	e := t.coords[c.ID]
	order := 1
	if e != nil {
		order = seqOrder(p.Seq, e.seq)
		if o, ok := signedOrder(signed, e.signed); ok {
			order = o
		}
	}
	if e != nil && e.gone {
		switch order {
		case -1:
			t.stale++
			return
		case 0:
			return // a late copy of what ended it
		}
		delete(t.coords, c.ID) // back: start afresh
		e = nil
	}
	if e != nil && (order < 0 || t.hold > 0 && order == 0) {
		if order < 0 {
			t.stale++
		}
		// Older or a copy (which does not extend its life with signed
		// beacons, see announce), but maybe over a better address family
		// (see betterAddress).
		if p.TTLSeconds > 0 && hostRank(a) < hostRank(e.info.Addr.Addr()) {
			e.info.Addr, e.info.Iface = netip.AddrPortFrom(a, e.info.Addr.Port()), iface
		}
		return
	}
	if p.TTLSeconds == 0 {
		if e != nil && t.hold > 0 {
			e.gone, e.seq, e.signed, e.expires = true, p.Seq, signed, now.Add(t.hold)
			return
		}
		delete(t.coords, c.ID)
		return
	}
	if e == nil {
		if len(t.coords) >= maxCoordinators {
			for id, ce := range t.coords {
				if ce.gone {
					delete(t.coords, id) // make room: one tombstone goes
					break
				}
			}
		}
		if len(t.coords) >= maxCoordinators {
			t.tableFull++
			return
		}
		e = &coordEntry{info: CoordinatorInfo{Addr: netip.AddrPortFrom(a, c.Port), Iface: iface}}
		t.coords[c.ID] = e
	}
	if hostRank(a) <= hostRank(e.info.Addr.Addr()) || now.After(e.expires) {
		e.info.Addr, e.info.Iface = netip.AddrPortFrom(a, c.Port), iface
	}
	e.seq, e.signed = p.Seq, signed
	e.expires = now.Add(min(time.Duration(p.TTLSeconds)*time.Second, MaxTTL))
	e.info = CoordinatorInfo{ID: c.ID, Name: c.Name, Addr: netip.AddrPortFrom(e.info.Addr.Addr(), c.Port), Iface: e.info.Iface, Seen: now}
}

// expire removes what was not heard of for its TTL and returns the
// Removed events.
func (t *table) expire(now time.Time) []Event {
	var evs []Event
	for id, e := range t.lobbies {
		if now.Before(e.expires) {
			continue
		}
		if !e.gone {
			t.live--
			t.uncharge(id, e)
			evs = append(evs, Event{Type: Removed, Lobby: t.view(e)})
			if t.hold > 0 {
				e.gone, e.expires = true, now.Add(t.hold) // a tombstone against replays
				continue
			}
		}
		delete(t.lobbies, id)
	}
	for id, c := range t.coords {
		switch {
		case now.Before(c.expires):
		case c.gone || t.hold == 0:
			delete(t.coords, id)
		default:
			c.gone, c.expires = true, now.Add(t.hold)
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Lobby.ID, b.Lobby.ID) })
	return evs
}

// next returns when the next entry expires; ok is false when none will.
func (t *table) next() (at time.Time, ok bool) {
	for _, e := range t.lobbies {
		if !ok || e.expires.Before(at) {
			at, ok = e.expires, true
		}
	}
	for _, c := range t.coords {
		if !ok || c.expires.Before(at) {
			at, ok = c.expires, true
		}
	}
	return at, ok
}

// view is the entry as handed out, with the host's round-trip time.
func (t *table) view(e *entry) LobbyInfo {
	info := e.info
	info.RTT = t.rtt[info.Host.Addr()].rtt
	return info
}

// snapshot returns the live lobbies sorted by id.
func (t *table) snapshot() []LobbyInfo {
	out := make([]LobbyInfo, 0, t.live)
	for _, e := range t.lobbies {
		if !e.gone {
			out = append(out, t.view(e))
		}
	}
	slices.SortFunc(out, func(a, b LobbyInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// coordinators returns the live coordinators sorted by id.
func (t *table) coordinators() []CoordinatorInfo {
	out := make([]CoordinatorInfo, 0, len(t.coords))
	for _, c := range t.coords {
		if !c.gone {
			out = append(out, c.info)
		}
	}
	slices.SortFunc(out, func(a, b CoordinatorInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}
