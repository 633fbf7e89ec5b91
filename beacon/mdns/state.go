package mdns

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// Timing of probing and announcing (RFC 6762 §8). Fixed by the RFC, so
// not configurable, except through coreConfig in pure tests.
const (
	probeInterval = 250 * time.Millisecond
	probeCount    = 3
	// probeDefer is how long the loser of a simultaneous probe tie-break
	// waits before probing again (RFC 6762 §8.2).
	probeDefer = time.Second
	// announceInterval is the gap before the second announcement; later
	// gaps double (RFC 6762 §8.3).
	announceInterval = time.Second
	// FallbackAfter is how many conflicts in a row (within
	// conflictWindow) a name suffers before its owner gives up renaming
	// "(2)", "(3)"... and takes a name of its own: a service its name
	// with its lobby id, "Alice's game [k3x9f2]", our host name
	// "lanlobby-" and 16 random hex digits. Such a name is announced at
	// once, without probing, and kept: a conflict on it is answered by
	// announcing our records again (at most once a second per record),
	// never by yielding. A responder that claims every name we probe for
	// cannot keep a lobby off the LAN that way (RFC 6762 §9 lets a
	// conflicting host take a name; nothing else has a claim on one
	// derived from a unique id).
	FallbackAfter = 3
	// conflictBurst renames within conflictWindow slow probing to one
	// every conflictSlowdown (RFC 6762 §8.1).
	conflictBurst    = 15
	conflictWindow   = 10 * time.Second
	conflictSlowdown = 5 * time.Second
	// rateLimit is the least time between two multicasts of one record on
	// one interface (RFC 6762 §6.2); probe defense is exempt.
	rateLimit = time.Second
	// legacyTTL caps TTLs in answers to legacy unicast queries (§6.7).
	legacyTTL = 10
	// maxPending bounds delayed multicast answers per interface; a query
	// flood cannot grow it further.
	maxPending = 4096
)

// phase is where an owner of unique records (our host name, a service
// instance) is in its life (RFC 6762 §8).
type phase uint8

const (
	phaseIdle        phase = iota // registered before Run: nothing sent yet
	phaseProbing                  // probes going out
	phaseProbed                   // probing succeeded; a service waits for the host name
	phaseAnnouncing               // announcements going out; answers queries
	phaseEstablished              // answers queries
)

// owner is the probe and announcement state shared by the host name and
// each service.
type owner struct {
	phase     phase
	sent      int       // probes or announcements sent in this phase
	next      time.Time // next probe or announcement
	base      string    // the name asked for (raw label)
	n         int       // rename counter: the name is renamed(base, n)
	label     string    // current raw label
	conflicts []time.Time
	// fallback is set once the owner took its fallback name (see
	// FallbackAfter): kept, defended, never given up.
	fallback bool
}

func (o *owner) answering() bool { return o.phase == phaseAnnouncing || o.phase == phaseEstablished }

// startProbing restarts probing of the current name at "at".
func (o *owner) startProbing(at time.Time) {
	o.phase, o.sent, o.next = phaseProbing, 0, at
}

// service is the state of one registered service.
type service struct {
	reg   *Registration
	owner owner
	// uid is the service's unique id, for its fallback name: the lobby
	// id (SetLobby), else the TXT record's id, else random.
	uid string
	// retired are our records under a name given up after a conflict,
	// as they were last announced: they get goodbyes when the service is
	// announced under its new name, so browsers move from one to the
	// other at once.
	retired []dns.RR
	game    string
	port    uint16
	txt     []string
	// txtDue asks for the announcement of a changed TXT record;
	// txtRepeat, when set, is when it is repeated (RFC 6762 §8.4: at
	// least twice).
	txtDue    bool
	txtRepeat time.Time
	// announced becomes true with the first announcement; it tells
	// whether goodbyes are owed on removal.
	announced bool
	removed   bool

	// With a LAN key: when the TXT record was last signed (its t), and
	// the signed strings for the instance label signedLabel (a rename
	// signs the same content and time again).
	signedAt    time.Time
	signed      []string
	signedLabel string

	// txtGen counts the changes of the TXT strings published (a new TXT,
	// a new signature), so cache knows when its records are stale.
	txtGen uint64
	cache  recordCache
}

// coreConfig is the part of the configuration the pure core uses.
type coreConfig struct {
	ttl           uint32 // seconds, every record
	announceCount int
	// jitter returns a uniformly random duration in [0, d).
	jitter func(d time.Duration) time.Duration
	log    *slog.Logger
	// key, when set, signs every TXT record (SignTXT), again every
	// resign.
	key    beacon.Key
	resign time.Duration
	// unicast are the rates of the unicast answers' budget.
	unicast netutil.AnswerRates
}

// outPacket is a datagram the core wants sent.
type outPacket struct {
	data    []byte
	ifIndex int
	// dst is the unicast destination; invalid means multicast on ifIndex.
	dst netip.AddrPort
	// src is the unicast source address to use; invalid lets the kernel
	// choose.
	src netip.Addr
	// legacy sends a browser's legacy unicast query: to the group on
	// ifIndex, from its ephemeral-port socket (packetConn.WriteLegacy).
	legacy bool
}

// pendingAnswer is a delayed multicast answer (RFC 6762 §6).
type pendingAnswer struct {
	rr  dns.RR
	due time.Time
}

// core is the responder's protocol state machine. It does no I/O and
// reads no clock: every method takes the time and returns the datagrams
// to send, so probing, conflicts and answering are tested without
// sockets. Not safe for concurrent use (Responder guards it).
type core struct {
	cfg    coreConfig
	ifaces []netutil.Iface
	host   owner
	svcs   []*service // registration order

	running bool
	enum    authRR   // the service type enumeration record, once built
	authBuf []authRR // authoritativeRRs' slice, reused
	// budget bounds the unicast answers (QU and legacy) per source address
	// and per interface.
	budget *netutil.AnswerBudget
	// lastMcast[ifIndex][key] is when a record was last multicast there.
	lastMcast map[int]map[recordKey]time.Time
	pending   map[int]map[recordKey]*pendingAnswer
	// reannounce holds the interfaces that appeared or changed while
	// running, and where their announcements stand (see setIfaces).
	reannounce map[int]*reannouncement

	stats ResponderStats
}

// unicastRates fills the zero rates with the defaults.
func unicastRates(r netutil.AnswerRates) netutil.AnswerRates {
	r.PerSource = cmp.Or(r.PerSource, DefaultUnicastBytesPerSource)
	r.PerInterface = cmp.Or(r.PerInterface, DefaultUnicastBytesPerInterface)
	r.PacketsPerInterface = cmp.Or(r.PacketsPerInterface, DefaultUnicastPerInterface)
	return r
}

func newCore(cfg coreConfig, hostLabel string) *core {
	return &core{
		cfg:        cfg,
		budget:     netutil.NewAnswerBudget(unicastRates(cfg.unicast)),
		host:       owner{base: hostLabel, label: hostLabel, n: 1},
		lastMcast:  make(map[int]map[recordKey]time.Time),
		pending:    make(map[int]map[recordKey]*pendingAnswer),
		reannounce: make(map[int]*reannouncement),
	}
}

// start begins work on ifaces: probing the host name and every
// registered service, at once when there is an interface, else when one
// appears (setIfaces).
func (c *core) start(now time.Time, ifaces []netutil.Iface) []outPacket {
	c.running = true
	return c.setIfaces(now, ifaces)
}

// live reports whether the core works on the network: running, with an
// interface to work on. Without one nothing is probed, announced or
// answered, and nothing is scheduled.
func (c *core) live() bool { return c.running && len(c.ifaces) > 0 }

func (c *core) iface(index int) (netutil.Iface, bool) {
	i := slices.IndexFunc(c.ifaces, func(i netutil.Iface) bool { return i.Index == index })
	if i < 0 {
		return netutil.Iface{}, false
	}
	return c.ifaces[i], true
}

// hostName is our current host name, fully qualified.
func (c *core) hostName() string { return hostFQDN(c.host.label) }

// add registers s: it starts probing at once when running. Its name is
// first made unique among our own services.
func (c *core) add(now time.Time, s *service) {
	c.sign(now, s)
	s.owner.n = 1
	s.owner.label = s.owner.base
	c.uniqueLocally(s)
	c.svcs = append(c.svcs, s)
	if c.live() {
		s.owner.startProbing(now.Add(c.cfg.jitter(probeInterval)))
	}
}

// uniqueLocally renames s until no other service of ours has its name:
// a conflict with ourselves needs no probe to be seen.
func (c *core) uniqueLocally(s *service) {
	for c.localClash(s) {
		s.owner.n++
		s.owner.label = renamed(s.owner.base, s.owner.n)
	}
}

func (c *core) localClash(s *service) bool {
	key := canonName(instanceName(s.owner.label))
	for _, o := range c.svcs {
		if o != s && !o.removed && canonName(instanceName(o.owner.label)) == key {
			return true
		}
	}
	return false
}

// remove withdraws s: goodbyes go out at the next tick if it was
// announced.
func (c *core) remove(s *service) { s.removed = true }

// setTXT changes s's TXT record (signed at now, with a key). When s is
// answering, the new record is announced at the next tick and repeated a
// second later (RFC 6762 §8.4).
func (c *core) setTXT(now time.Time, s *service, txt []string) {
	s.txt = slices.Clone(txt)
	s.txtGen++
	c.sign(now, s)
	if s.owner.answering() {
		s.txtDue = true
	}
}

// sign signs s's TXT record again at now, with a key.
func (c *core) sign(now time.Time, s *service) {
	if c.cfg.key.IsZero() {
		return
	}
	s.signedAt, s.signed = now, nil
	s.txtGen++
}

// resignDue signs again the TXT records signed resign ago or longer, and
// has those of answering services announced: a TXT record's timestamp is
// never older than resign when it leaves (handle calls it too, so that
// answers after a pause of the process, a suspended laptop, are fresh).
func (c *core) resignDue(now time.Time) {
	if c.cfg.key.IsZero() {
		return
	}
	for _, s := range c.svcs {
		if s.removed || now.Sub(s.signedAt) < c.cfg.resign {
			continue
		}
		c.sign(now, s)
		c.stats.Resigns++
		if s.owner.answering() {
			s.txtDue = true
		}
	}
}

// txtStrings returns the TXT strings s publishes: signed with a key.
func (c *core) txtStrings(s *service) []string {
	if c.cfg.key.IsZero() {
		return s.txt
	}
	if s.signed == nil || s.signedLabel != s.owner.label {
		s.signed = SignTXT(c.cfg.key, s.owner.label, s.port, s.txt, s.signedAt)
		s.signedLabel = s.owner.label
	}
	return s.signed
}

// Records of our names. instanceFQDN and the record builders read the
// current names, so a rename changes every record built afterwards.

func (c *core) instanceFQDN(s *service) string { return instanceName(s.owner.label) }

func (c *core) srvRecord(s *service, ttl uint32) dns.RR {
	return srvRR(c.instanceFQDN(s), c.hostName(), s.port, ttl)
}

func (c *core) txtRecord(s *service, ttl uint32) dns.RR {
	return txtRR(c.instanceFQDN(s), c.txtStrings(s), ttl)
}

// uniqueRecords are a service's records that it alone may own: probed,
// and sent with the cache-flush bit.
func (c *core) uniqueRecords(s *service, ttl uint32) []dns.RR {
	return []dns.RR{c.srvRecord(s, ttl), c.txtRecord(s, ttl)}
}

// sharedRecords are the PTR records pointing at a service, which other
// hosts' records of the same name join (RFC 6762 §10.2: no cache-flush).
func (c *core) sharedRecords(s *service, ttl uint32) []dns.RR {
	inst := c.instanceFQDN(s)
	out := []dns.RR{ptrRR(ServiceType, inst, ttl)}
	if s.game != "" {
		out = append(out, ptrRR(subtypeName(s.game), inst, ttl))
	}
	return out
}

// enumRecord is the service type enumeration record (RFC 6763 §9).
func enumRecord(ttl uint32) dns.RR { return ptrRR(servicesEnum, ServiceType, ttl) }

// hostRecords are the A/AAAA records of our host name on one interface:
// only that interface's addresses.
func (c *core) hostRecords(ifi netutil.Iface, ttl uint32) []dns.RR {
	return addrRRs(c.hostName(), ifi.Addrs(), ttl)
}

// answeringServices are the services whose records may be given out.
func (c *core) answeringServices() []*service {
	var out []*service
	for _, s := range c.svcs {
		if !s.removed && s.owner.answering() {
			out = append(out, s)
		}
	}
	return out
}

// authoritative returns every record we answer with on ifi: the host's
// addresses (once the host name is ours), and each answering service's
// records, with the enumeration record while there is one.
func (c *core) authoritative(ifi netutil.Iface) []dns.RR { return rrsOf(c.authoritativeRRs(ifi)) }

// next returns when tick has work next; ok is false when nothing is
// scheduled.
func (c *core) next() (at time.Time, ok bool) {
	consider := func(t time.Time) {
		if !t.IsZero() && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	if !c.running {
		return at, false
	}
	if !c.live() {
		// Only forgetting removed services (goodbyeRemoved) is done
		// without an interface.
		if slices.ContainsFunc(c.svcs, func(s *service) bool { return s.removed }) {
			consider(time.Unix(0, 1))
		}
		return at, ok
	}
	for _, r := range c.reannounce {
		consider(r.next)
	}
	if c.host.phase == phaseProbing || c.host.phase == phaseAnnouncing {
		consider(c.host.next)
	}
	for _, s := range c.svcs {
		switch {
		case s.removed:
			consider(time.Unix(0, 1)) // goodbyes are due at once
		case s.owner.phase == phaseProbing || s.owner.phase == phaseAnnouncing:
			consider(s.owner.next)
		case s.owner.phase == phaseProbed && c.host.answering():
			consider(time.Unix(0, 1))
		}
		if !s.removed && s.txtDue {
			consider(time.Unix(0, 1))
		}
		if !s.removed && !s.txtRepeat.IsZero() {
			consider(s.txtRepeat)
		}
		if !s.removed && !c.cfg.key.IsZero() {
			consider(s.signedAt.Add(c.cfg.resign))
		}
	}
	for _, p := range c.pending {
		for _, a := range p {
			consider(a.due)
		}
	}
	return at, ok
}

// tick does what is due at now: probes, the end of probing,
// announcements, TXT repeats, goodbyes of removed services and delayed
// answers.
func (c *core) tick(now time.Time) []outPacket {
	if !c.running {
		return nil
	}
	if !c.live() {
		c.goodbyeRemoved(now) // nowhere to send them: only forgotten
		return nil
	}
	c.resignDue(now)
	var out []outPacket
	out = append(out, c.goodbyeRemoved(now)...)
	out = append(out, c.probeDue(now)...)
	out = append(out, c.announceDue(now)...)
	out = append(out, c.reannounceDue(now)...)
	out = append(out, c.announceTXT(now)...)
	out = append(out, c.flushPending(now)...)
	return out
}

// goodbyeRemoved sends goodbyes (TTL 0, RFC 6762 §10.1) for the removed
// services that were announced and forgets them.
func (c *core) goodbyeRemoved(now time.Time) []outPacket {
	var rrs []dns.RR
	keep := c.svcs[:0]
	for _, s := range c.svcs {
		if !s.removed {
			keep = append(keep, s)
			continue
		}
		if s.announced && s.owner.answering() {
			rrs = append(rrs, c.sharedRecords(s, 0)...)
			rrs = append(rrs, c.uniqueRecords(s, 0)...)
		}
		rrs = append(rrs, s.retired...)
	}
	clear(c.svcs[len(keep):])
	c.svcs = keep
	if len(rrs) == 0 || len(c.ifaces) == 0 {
		return nil
	}
	if len(c.answeringServices()) == 0 {
		rrs = append(rrs, enumRecord(0))
	}
	c.stats.Goodbyes++
	return c.announceRecords(now, rrs)
}

// goodbyeAll is sent when the responder stops: every announced record
// with TTL 0 on every interface.
func (c *core) goodbyeAll(now time.Time) []outPacket {
	if !c.running {
		return nil
	}
	var out []outPacket
	for _, ifi := range c.ifaces {
		var rrs []dns.RR
		for _, rr := range c.authoritative(ifi) {
			rrs = append(rrs, withTTL(rr, 0))
		}
		if len(rrs) > 0 {
			out = append(out, c.multicast(now, ifi, rrs, nil)...)
		}
	}
	if len(out) > 0 {
		c.stats.Goodbyes++
	}
	return out
}

// announceRecords multicasts rrs (plus nothing else) on every interface
// as an unsolicited response.
func (c *core) announceRecords(now time.Time, rrs []dns.RR) []outPacket {
	var out []outPacket
	for _, ifi := range c.ifaces {
		out = append(out, c.multicast(now, ifi, rrs, nil)...)
	}
	return out
}

// announceDue moves owners through announcing: a probed host name starts
// announcing its addresses; a probed service starts once the host name
// is ours; announcements repeat at 1 s, 2 s... until announceCount went
// out (RFC 6762 §8.3).
func (c *core) announceDue(now time.Time) []outPacket {
	var hostDue bool
	if c.host.phase == phaseProbed {
		c.host.phase, c.host.sent = phaseAnnouncing, 0
		hostDue = true
	} else if c.host.phase == phaseAnnouncing && !now.Before(c.host.next) {
		hostDue = true
	}
	if hostDue {
		c.host.sent++
		c.host.next = now.Add(announceInterval << (c.host.sent - 1))
		if c.host.sent >= c.cfg.announceCount {
			c.host.phase = phaseEstablished
		}
	}
	var due []*service
	for _, s := range c.svcs {
		if s.removed {
			continue
		}
		o := &s.owner
		switch {
		case o.phase == phaseProbed && c.host.answering():
			o.phase, o.sent = phaseAnnouncing, 0
		case o.phase == phaseAnnouncing && !now.Before(o.next):
		default:
			continue
		}
		o.sent++
		o.next = now.Add(announceInterval << (o.sent - 1))
		if o.sent >= c.cfg.announceCount {
			o.phase = phaseEstablished
		}
		due = append(due, s)
	}
	var retired []dns.RR
	for _, s := range due {
		retired = append(retired, s.retired...)
		s.retired = nil
	}
	if !hostDue && len(due) == 0 {
		return nil
	}
	var out []outPacket
	for _, ifi := range c.ifaces {
		var rrs []dns.RR
		if hostDue || len(due) > 0 {
			// The addresses go with every service announcement: a
			// browser needs them to use the SRV record.
			rrs = append(rrs, c.hostRecords(ifi, c.cfg.ttl)...)
		}
		// Goodbyes for names given up go first: a browser drops the old
		// instance and takes the new one from the same packet.
		rrs = append(rrs, retired...)
		for _, s := range due {
			rrs = append(rrs, c.sharedRecords(s, c.cfg.ttl)...)
			rrs = append(rrs, c.uniqueRecords(s, c.cfg.ttl)...)
		}
		if len(due) > 0 {
			rrs = append(rrs, enumRecord(c.cfg.ttl))
		}
		out = append(out, c.multicast(now, ifi, rrs, nil)...)
	}
	for _, s := range due {
		s.announced = true
		s.reg.markEstablishedLocked()
	}
	c.stats.Announcements++
	return out
}

// announceTXT announces changed TXT records: at once, and again a second
// later. A full announcement in between carries the TXT record anyway.
func (c *core) announceTXT(now time.Time) []outPacket {
	var rrs []dns.RR
	for _, s := range c.svcs {
		if s.removed || !s.owner.answering() {
			s.txtDue, s.txtRepeat = false, time.Time{}
			continue
		}
		switch {
		case s.txtDue:
			s.txtDue, s.txtRepeat = false, now.Add(announceInterval)
		case !s.txtRepeat.IsZero() && !now.Before(s.txtRepeat):
			s.txtRepeat = time.Time{}
		default:
			continue
		}
		rrs = append(rrs, c.txtRecord(s, c.cfg.ttl))
	}
	if len(rrs) == 0 {
		return nil
	}
	c.stats.Announcements++
	return c.announceRecords(now, rrs)
}
