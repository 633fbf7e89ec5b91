package beacon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
)

// Advertiser defaults and limits.
const (
	// DefaultInterval is the mean time between periodic announcements.
	DefaultInterval = 1500 * time.Millisecond
	// MaxAdvertisedLobbies bounds the lobbies one Advertiser holds (a
	// coordinator daemon holds many).
	MaxAdvertisedLobbies = 1024
	// queryQueueLen bounds queries waiting for an answer, claimQueueLen
	// announcements about our lobbies waiting to be checked (at most
	// MaxPacketSize each); more are dropped.
	queryQueueLen = 256
	claimQueueLen = 32
	// changeRepeat is when the announcement made at once on a network
	// change (a new interface or address), or of a new lobby, is repeated:
	// a lost packet (a busy browser's full queue, Wi-Fi) does not cost a
	// new lobby a whole period. A browser switches
	// a lobby to another address of the same rank once two packets in a
	// row came from it (see table.announce), and one may be lost.
	changeRepeat = 300 * time.Millisecond
)

// Advertiser errors.
var (
	ErrUnknownLobby   = errors.New("beacon: unknown lobby")
	ErrTooManyLobbies = errors.New("beacon: too many lobbies")
)

// AdvertiserConfig configures an Advertiser. NewAdvertiser copies it.
type AdvertiserConfig struct {
	// Net says where to send; the zero value is the default.
	Net NetConfig
	// Interval is the mean time between periodic announcements; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Jitter spreads the periods uniformly over Interval ± Jitter so that
	// hosts do not announce in lockstep; 0 means Interval/3 (1-2 s with
	// the default interval), negative means none.
	Jitter time.Duration
	// TTL is how long receivers keep a lobby without hearing from it,
	// rounded up to whole seconds, at most MaxTTL (what browsers accept);
	// 0 means three of the longest periods, 3 × (Interval + Jitter), up to
	// MaxTTL: 6 s by default, so two lost announcements in a row do not
	// make a lobby flicker. Keep Interval + Jitter under MaxTTL/2.
	TTL time.Duration
	// AnswerBytesPerSource bounds the unicast answers one source address
	// gets, in IP bytes per second (bursts of two seconds' worth); 0
	// means DefaultAnswerBytesPerSource. Per address, not per port: a
	// forger picks ports at will.
	AnswerBytesPerSource int
	// AnswerBytesPerInterface and AnswersPerInterface bound the unicast
	// answers sent on one interface in all, in IP bytes and in datagrams
	// per second (bursts of two seconds' worth); 0 means
	// DefaultAnswerBytesPerInterface and DefaultAnswersPerInterface.
	// Queries past them are answered by multicast instead, at most once
	// per MulticastAnswerInterval (see PROTOCOL.md, "Answers").
	AnswerBytesPerInterface int
	AnswersPerInterface     int
	// Coordinator, when set, is announced beside the lobbies: a
	// coordinator daemon telling hosts where it listens. It is withdrawn
	// when the Advertiser stops.
	Coordinator *Coordinator
	// Key, when set (NewKey), signs every packet sent and makes the
	// Advertiser answer only queries signed with the same key; the zero
	// Key signs nothing and answers every query. Periodic announcements
	// stay readable by every host on the LAN: a key gives authenticity,
	// not confidentiality.
	Key Key
	// ReplayWindow is how far a query's signed timestamp may be from this
	// host's clock, either way, for it to be answered; 0 means
	// DefaultReplayWindow. Used only with a Key.
	ReplayWindow time.Duration
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger

	// Test seams; nil means the real clock and network.
	now     func() time.Time
	ifaces  func() (netutil.IfaceStatus, error)
	changes <-chan struct{}
	listen  listenFunc
}

// DefaultAdvertiserConfig returns the LAN defaults spelled out.
func DefaultAdvertiserConfig() AdvertiserConfig {
	return AdvertiserConfig{
		Interval:                DefaultInterval,
		Jitter:                  DefaultInterval / 3,
		TTL:                     6 * time.Second,
		AnswerBytesPerSource:    DefaultAnswerBytesPerSource,
		AnswerBytesPerInterface: DefaultAnswerBytesPerInterface,
		AnswersPerInterface:     DefaultAnswersPerInterface,
		ReplayWindow:            DefaultReplayWindow,
	}
}

// AdvertiserStats are an Advertiser's counters.
type AdvertiserStats struct {
	Sent       uint64 // packets sent (a multicast counts once)
	SendErrors uint64 // sends that failed on every interface
	// SendDrops counts answer datagrams dropped because the socket's send
	// buffer was full (sends never wait; SendErrors counts them too).
	SendDrops uint64
	Queries   uint64 // queries received
	Answers   uint64 // queries answered by unicast
	// Truncated counts unicast answers cut to their bound with more
	// lobbies left (FlagMore): the querier asks for them.
	Truncated uint64
	// RateLimited counts queries not answered by unicast because their
	// source address spent its budget (AnswerBytesPerSource).
	RateLimited uint64
	// OverBudget counts queries not answered by unicast because their
	// interface spent its budget (AnswerBytesPerInterface,
	// AnswersPerInterface); they are answered by multicast instead.
	OverBudget uint64
	// TooSmall counts queries too small to earn any lobby (an answer is
	// at most MaxAmplification times the query).
	TooSmall uint64
	// MulticastAnswers counts answers multicast for queries over budget.
	MulticastAnswers uint64
	// Refutations counts announcements made at once because another
	// host claimed something false about one of our lobbies (a forged
	// announcement or goodbye).
	Refutations uint64
	// Claims counts announcements and goodbyes about our lobbies made
	// by another host (or forged with our address) that were refuted.
	Claims     uint64
	OffLink    uint64 // queries not answered: source not on the link
	QueueDrops uint64 // queries dropped: answer queue full
	Malformed  uint64 // packets that failed to decode
	// With a Key, queries not answered because they are unsigned, signed
	// with another key (or altered), or signed outside ReplayWindow.
	Unsigned, BadSignature, BadTimestamp uint64
}

type advertiserCounters struct {
	sent, sendErrors, sendDrops, queries, answers, truncated, rateLimited, overBudget, tooSmall,
	multicastAnswers, refutations, claims, offLink, queueDrops, malformed atomic.Uint64
}

// Advertiser announces lobbies: at once when one is set or changed, then
// periodically; a goodbye at once when one is removed and for all when it
// stops; an immediate unicast answer to every query, bounded by the
// query's size and by budgets per source address and per interface (see
// answer.go); and an announcement at once when another host makes a
// false claim about one of its lobbies (refute.go). Its methods are safe
// for concurrent use.
type Advertiser struct {
	cfg  AdvertiserConfig
	log  *slog.Logger
	ttl  uint16 // seconds
	life RunOnce
	kick chan struct{} // wakes Run to send changes
	net  *netutil.Tracker

	lobbiesMu sync.Mutex // guards lobbies, sorted, dirty and gone
	lobbies   map[string]Lobby
	sorted    []Lobby         // lobbies by id, for answers; nil when stale
	dirty     map[string]bool // set or changed since last sent; true: new

	gone map[string]Lobby // removed, goodbye not sent yet

	stats advertiserCounters
	sig   signing // Key, and counters of rejected queries
	mcast multicastAnswers
}

// NewAdvertiser validates cfg and returns an idle Advertiser; lobbies may
// be set before Run.
func NewAdvertiser(cfg AdvertiserConfig) (*Advertiser, error) {
	var err error
	if cfg.Net, err = cfg.Net.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Interval < 0 || cfg.TTL < 0 || cfg.ReplayWindow < 0 || cfg.AnswerBytesPerSource < 0 ||
		cfg.AnswerBytesPerInterface < 0 || cfg.AnswersPerInterface < 0 {
		return nil, errors.New("beacon: negative Interval, TTL, ReplayWindow or answer budget")
	}
	cfg.ReplayWindow = cmp.Or(cfg.ReplayWindow, DefaultReplayWindow)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.AnswerBytesPerSource = cmp.Or(cfg.AnswerBytesPerSource, DefaultAnswerBytesPerSource)
	cfg.AnswerBytesPerInterface = cmp.Or(cfg.AnswerBytesPerInterface, DefaultAnswerBytesPerInterface)
	cfg.AnswersPerInterface = cmp.Or(cfg.AnswersPerInterface, DefaultAnswersPerInterface)
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = cfg.Interval / 3
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	case cfg.Jitter >= cfg.Interval:
		return nil, fmt.Errorf("beacon: Jitter %v not below Interval %v", cfg.Jitter, cfg.Interval)
	}
	if cfg.TTL == 0 {
		cfg.TTL = min(3*(cfg.Interval+cfg.Jitter), MaxTTL)
	}
	if cfg.TTL > MaxTTL {
		return nil, fmt.Errorf("beacon: TTL %v over MaxTTL (%v), which browsers cap it to", cfg.TTL, MaxTTL)
	}
	secs := (cfg.TTL + time.Second - 1) / time.Second
	if c := cfg.Coordinator; c != nil {
		if err := validate(&Packet{Kind: KindCoordinator, Coordinator: c}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		cc := *c
		cfg.Coordinator = &cc
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.listen == nil {
		cfg.listen = cfg.Net.listener(cfg.Logger, nil)
	}
	return &Advertiser{
		cfg:     cfg,
		log:     cfg.Logger,
		ttl:     uint16(secs),
		kick:    make(chan struct{}, 1),
		net:     cfg.Net.tracker("beacon: advertiser", cfg.Logger, cfg.ifaces, cfg.changes),
		lobbies: make(map[string]Lobby),
		dirty:   make(map[string]bool),
		gone:    make(map[string]Lobby),
		sig:     signing{key: cfg.Key, window: cfg.ReplayWindow, now: cfg.now, log: cfg.Logger},
		mcast:   multicastAnswers{kick: make(chan struct{}, 1)},
	}, nil
}

// TTL returns the TTL announced, in whole seconds.
func (a *Advertiser) TTL() time.Duration { return time.Duration(a.ttl) * time.Second }

// Set creates or updates a lobby; a change is announced at once (while
// running). Setting an unchanged lobby sends nothing.
func (a *Advertiser) Set(l Lobby) error {
	if err := ValidateLobby(l); err != nil {
		return err
	}
	if a.life.Stopped() {
		return ErrClosed
	}
	a.lobbiesMu.Lock()
	old, ok := a.lobbies[l.ID]
	switch {
	case ok && old == l:
		a.lobbiesMu.Unlock()
		return nil
	case !ok && len(a.lobbies) >= MaxAdvertisedLobbies:
		a.lobbiesMu.Unlock()
		return ErrTooManyLobbies
	}
	a.lobbies[l.ID] = l
	a.sorted = nil
	a.dirty[l.ID] = a.dirty[l.ID] || !ok
	delete(a.gone, l.ID)
	a.lobbiesMu.Unlock()
	a.wake()
	return nil
}

// Remove withdraws a lobby; a goodbye is sent at once (while running).
func (a *Advertiser) Remove(id string) error {
	if a.life.Stopped() {
		return ErrClosed
	}
	a.lobbiesMu.Lock()
	l, ok := a.lobbies[id]
	if ok {
		delete(a.lobbies, id)
		a.sorted = nil
		delete(a.dirty, id)
		a.gone[id] = l
	}
	a.lobbiesMu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownLobby, id)
	}
	a.wake()
	return nil
}

// Lobbies returns the lobbies held, sorted by id.
func (a *Advertiser) Lobbies() []Lobby {
	a.lobbiesMu.Lock()
	defer a.lobbiesMu.Unlock()
	return sortedLobbies(a.lobbies, "")
}

// Stats returns the counters.
func (a *Advertiser) Stats() AdvertiserStats {
	s := &a.stats
	return AdvertiserStats{
		Sent: s.sent.Load(), SendErrors: s.sendErrors.Load(), SendDrops: s.sendDrops.Load(), Queries: s.queries.Load(),
		Answers: s.answers.Load(), Truncated: s.truncated.Load(), RateLimited: s.rateLimited.Load(),
		OverBudget: s.overBudget.Load(), TooSmall: s.tooSmall.Load(), MulticastAnswers: s.multicastAnswers.Load(),
		Refutations: s.refutations.Load(), Claims: s.claims.Load(),
		OffLink: s.offLink.Load(), QueueDrops: s.queueDrops.Load(), Malformed: s.malformed.Load(),
		Unsigned: a.sig.unsigned.Load(), BadSignature: a.sig.badSignature.Load(),
		BadTimestamp: a.sig.badTimestamp.Load(),
	}
}

// Interfaces returns the interfaces Run announces on and what is missing;
// while none is usable (Waiting), Run waits for the network. The zero
// IfaceStatus before Run.
func (a *Advertiser) Interfaces() netutil.IfaceStatus { return a.net.Status() }

// Ready is closed once Run has opened its sockets; a Run that fails
// before never closes it. A caller that must know at once whether
// announcing works waits for Ready and Run's result together.
func (a *Advertiser) Ready() <-chan struct{} { return a.life.Ready() }

// Close stops Run (which sends goodbyes first) and waits for it. It is
// idempotent; afterwards Set, Remove and Run return ErrClosed.
func (a *Advertiser) Close() error {
	a.life.Close()
	return nil
}

func (a *Advertiser) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run opens the sockets on the configured interfaces and advertises until
// ctx is cancelled or Close is called, then sends goodbyes for every
// lobby, withdraws the coordinator and returns nil. It follows the
// network while it runs: on a new interface or address it announces at
// once (and again changeRepeat later). It fails only when the sockets
// cannot be had (a port held by another program: an error wrapping
// syscall.EADDRINUSE) or an interface named in Net.Interfaces does not
// exist; with no usable interface yet it runs and waits (Interfaces).
// Send failures are logged, counted and retried on the next period.
func (a *Advertiser) Run(ctx context.Context) error {
	ctx, finish, err := a.life.Start(ctx)
	if err != nil {
		return err
	}
	defer finish()
	st, err := a.net.Start()
	if err != nil {
		return err
	}
	defer a.net.Stop()
	conn, err := a.cfg.listen(true, st.Ifaces)
	if err != nil {
		return fmt.Errorf("beacon: advertiser: %w", err)
	}
	// Answers go out from a port of our own: a full send buffer of
	// answers queued for unresolvable destinations never holds up the
	// announcements, and follow-up queries (Packet.After) come back to
	// it by unicast, which on the shared group port could reach another
	// process.
	answers, err := a.cfg.listen(false, st.Ifaces)
	if err != nil {
		conn.Close()
		return fmt.Errorf("beacon: advertiser: %w", err)
	}
	a.life.MarkReady()
	queries := make(chan received, queryQueueLen)
	claims := make(chan received, claimQueueLen)
	var wg sync.WaitGroup
	for _, c := range []packetConn{conn, answers} {
		wg.Add(1)
		go a.readLoop(&wg, c, queries, claims)
	}
	defer func() {
		conn.Close()
		answers.Close()
		wg.Wait()
	}()

	r := &advRun{a: a, conn: conn, answers: answers, ifaces: st.Ifaces, seq: rand.Uint32(), limiter: netutil.NewAnswerBudget(netutil.AnswerRates{
		PerSource: float64(a.cfg.AnswerBytesPerSource), PerInterface: float64(a.cfg.AnswerBytesPerInterface),
		PacketsPerInterface: float64(a.cfg.AnswersPerInterface),
	})}
	r.send(true)
	clear(r.again) // what was set before Run: the periodic announcements follow
	timer := time.NewTimer(a.period())
	defer timer.Stop()
	repeat := time.NewTimer(time.Hour)
	repeat.Stop()
	defer repeat.Stop()
	again := time.NewTimer(time.Hour) // new lobbies announced again
	again.Stop()
	defer again.Stop()
	fallback := time.NewTimer(time.Hour)
	fallback.Stop()
	defer fallback.Stop()
	refute := time.NewTimer(time.Hour)
	refute.Stop()
	defer refute.Stop()
	for {
		select {
		case <-ctx.Done():
			r.farewell()
			return nil
		case <-timer.C:
			r.send(true)
			timer.Reset(a.period())
		case <-a.kick:
			if r.send(false) {
				again.Reset(changeRepeat)
			}
		case <-again.C:
			r.announceAgain()
		case q := <-queries:
			if d, ok := r.answer(q); ok {
				fallback.Reset(d)
			}
		case <-fallback.C:
			if d, ok := r.multicastAnswers(); ok {
				fallback.Reset(d)
			}
		case <-a.mcast.kick:
			if d, ok := r.multicastAnswers(); ok {
				fallback.Reset(d)
			}
		case c := <-claims:
			if d, ok := r.claim(c); ok {
				refute.Reset(d)
			}
		case <-refute.C:
			if d, ok := r.refute(); ok {
				refute.Reset(d)
			}
		case <-a.net.Changes():
			st, changes := a.net.Refresh()
			if len(changes) == 0 {
				continue
			}
			conn.SetIfaces(st.Ifaces)
			answers.SetIfaces(st.Ifaces)
			r.ifaces = st.Ifaces
			if slices.ContainsFunc(changes, func(c netutil.IfaceChange) bool { return !c.Removed() }) {
				r.send(true)
				repeat.Reset(changeRepeat)
			}
		case <-repeat.C:
			r.send(true)
		}
	}
}

// period draws the time to the next periodic announcement.
func (a *Advertiser) period() time.Duration {
	if j := a.cfg.Jitter; j > 0 {
		return a.cfg.Interval - j + rand.N(2*j+1)
	}
	return a.cfg.Interval
}

// readLoop queues for Run the queries, and the announcements and goodbyes
// about lobbies it holds (claims: ours coming back, or someone else's,
// see advRun.claim); it never blocks on a busy Run (what does not fit the
// queues is dropped).
func (a *Advertiser) readLoop(wg *sync.WaitGroup, conn packetConn, queries, claims chan<- received) {
	defer wg.Done()
	readPackets(conn, &a.stats.malformed, a.log, func(raw []byte, tail int, r received) {
		switch r.pkt.Kind {
		case KindAnnounce, KindGoodbye:
			if a.holdsAny(r.pkt.Lobbies) && a.sig.verifies(raw, tail) {
				select {
				case claims <- r:
				default:
					a.stats.queueDrops.Add(1)
				}
			}
			return
		case KindQuery:
		default:
			return
		}
		a.stats.queries.Add(1)
		if _, ok := a.sig.accept(raw, tail, r.src); !ok {
			return
		}
		if a.divert(r, len(queries), cap(queries)) {
			return
		}
		select {
		case queries <- r:
		default:
			a.stats.queueDrops.Add(1)
		}
	})
}

// advRun is the state of one Run, owned by its goroutine.
type advRun struct {
	a       *Advertiser
	conn    packetConn // the group port: announcements
	answers packetConn // a port of our own: unicast answers
	ifaces  []netutil.Iface
	seq     uint32
	limiter *netutil.AnswerBudget
	refuted refutations
	again   map[string]bool // new lobbies to announce again
}

// send multicasts pending goodbyes, then the changed lobbies, or with all
// every lobby and the coordinator. It reports whether new lobbies were
// among them (to be announced again, announceAgain).
func (r *advRun) send(all bool) (fresh bool) {
	a := r.a
	a.lobbiesMu.Lock()
	var changed []Lobby
	for id, isNew := range a.dirty {
		if isNew {
			if r.again == nil {
				r.again = make(map[string]bool)
			}
			r.again[id], fresh = true, true
		}
	}
	if all {
		changed = sortedLobbies(a.lobbies, "")
	} else {
		for id := range a.dirty {
			changed = append(changed, a.lobbies[id])
		}
		slices.SortFunc(changed, func(x, y Lobby) int { return cmp.Compare(x.ID, y.ID) })
	}
	gone := sortedLobbies(a.gone, "")
	clear(a.dirty)
	clear(a.gone)
	a.lobbiesMu.Unlock()

	r.multicast(&Packet{Kind: KindGoodbye, Lobbies: gone})
	r.multicast(&Packet{Kind: KindAnnounce, TTLSeconds: a.ttl, Lobbies: changed})
	if c := a.cfg.Coordinator; all && c != nil {
		r.multicast(&Packet{Kind: KindCoordinator, TTLSeconds: a.ttl, Coordinator: c})
	}
	return fresh
}

// announceAgain announces the new lobbies of the last changes again
// (those still held).
func (r *advRun) announceAgain() {
	a := r.a
	a.lobbiesMu.Lock()
	var ls []Lobby
	for id := range r.again {
		if l, ok := a.lobbies[id]; ok {
			ls = append(ls, l)
		}
	}
	a.lobbiesMu.Unlock()
	clear(r.again)
	slices.SortFunc(ls, func(x, y Lobby) int { return cmp.Compare(x.ID, y.ID) })
	r.multicast(&Packet{Kind: KindAnnounce, TTLSeconds: a.ttl, Lobbies: ls})
}

// farewell says goodbye for everything on the way out.
func (r *advRun) farewell() {
	a := r.a
	a.lobbiesMu.Lock()
	bye := append(sortedLobbies(a.lobbies, ""), sortedLobbies(a.gone, "")...)
	clear(a.gone)
	a.lobbiesMu.Unlock()
	r.multicast(&Packet{Kind: KindGoodbye, Lobbies: bye})
	if c := a.cfg.Coordinator; c != nil {
		r.multicast(&Packet{Kind: KindCoordinator, Coordinator: c})
	}
}

func (r *advRun) multicast(p *Packet) {
	if (p.Kind == KindAnnounce || p.Kind == KindGoodbye) && len(p.Lobbies) == 0 {
		return
	}
	if len(r.ifaces) == 0 {
		return // waiting for the network: nothing to send on, nothing to count
	}
	r.seq++
	p.Seq = r.seq
	pkts, err := r.a.sig.pack(p)
	if err != nil {
		r.a.log.Error("beacon: cannot encode", "kind", p.Kind, "err", err) // a bug: lobbies are validated
		return
	}
	for _, b := range pkts {
		r.count(r.conn.SendMulticast(b), p.Kind, netip.AddrPort{})
	}
}

func (r *advRun) count(err error, kind Kind, dst netip.AddrPort) {
	s := &r.a.stats
	if err == nil {
		s.sent.Add(1)
		return
	}
	// Log the 1st, 2nd, 4th, 8th... failure: a dead network must not
	// flood the log every period.
	if n := s.sendErrors.Add(1); n&(n-1) == 0 {
		r.a.log.Warn("beacon: send failed", "kind", kind, "dst", dst, "failures", n, "err", err)
	}
}

// onLink accepts queries only from neighbours on the interface they came
// in on (any of ours when the platform does not say), so a forged query
// from off the link cannot aim answers at a third party.
func (r *advRun) onLink(a netip.Addr, ifIndex int) bool {
	for _, i := range r.ifaces {
		if i.Index == ifIndex {
			return i.OnLink(a)
		}
	}
	return slices.ContainsFunc(r.ifaces, func(i netutil.Iface) bool { return i.OnLink(a) })
}

// sortedLobbies returns the lobbies of game ("" = all) sorted by id.
func sortedLobbies(m map[string]Lobby, game string) []Lobby {
	out := make([]Lobby, 0, len(m))
	for _, l := range m {
		if game == "" || l.Game == game {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(x, y Lobby) int { return cmp.Compare(x.ID, y.ID) })
	return out
}
