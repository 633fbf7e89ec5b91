package beacon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
)

// Browser defaults and limits.
const (
	// DefaultMaxLobbies bounds the lobbies a Browser tracks; announcements
	// of more are dropped and counted.
	DefaultMaxLobbies = 4096
	// RecvQueueLen bounds decoded packets waiting for the browser loop;
	// more are dropped and counted.
	RecvQueueLen = 256
	// SourceName is LobbyInfo.Source for lobbies heard by a Browser.
	SourceName = "beacon"
	// heavyEvery is how often, at most, the sources to shed first are
	// worked out again (Browser.heavy).
	heavyEvery = 50 * time.Millisecond
	// maxFollowUps bounds the follow-up queries (for the rest of answers
	// cut with FlagMore) sent between two queries of our own.
	maxFollowUps = 256
)

// queryRepeats are the delays, after the first query, of the repeats that
// make up for a lost query or answer; the first answers arrive within
// milliseconds of the first query.
var queryRepeats = [...]time.Duration{250 * time.Millisecond, time.Second}

// BrowserConfig configures a Browser. NewBrowser copies it.
type BrowserConfig struct {
	// Net says where to listen; the zero value is the default.
	Net NetConfig
	// Game keeps only the lobbies of this game; "" keeps all. The query
	// carries it, so other games' hosts do not answer.
	Game string
	// MaxLobbies bounds the lobbies tracked; 0 means DefaultMaxLobbies.
	// MaxTableBytes bounds their memory (each lobby counted as 192 bytes
	// plus its id, game and name); 0 means DefaultMaxTableBytes. When
	// either is reached, a lobby heard from a source (an IPv4 address, an
	// IPv6 /64) holding less of the table than the heaviest source takes
	// the place of one of that source's; otherwise it is dropped and
	// counted.
	MaxLobbies    int
	MaxTableBytes int
	// Key, when set (NewKey), signs the queries and makes the Browser
	// ignore every packet not signed with the same key; the zero Key
	// signs nothing and accepts signed and unsigned packets alike.
	Key Key
	// ReplayWindow is how far a packet's signed timestamp may be from
	// this host's clock, either way; 0 means DefaultReplayWindow. Used
	// only with a Key; hosts' clocks must agree to within it.
	ReplayWindow time.Duration
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger

	// Test seams; nil means the real clock and network.
	now     func() time.Time
	ifaces  func() (netutil.IfaceStatus, error)
	changes <-chan struct{}
	listen  listenFunc
}

// DefaultBrowserConfig returns the defaults spelled out.
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{MaxLobbies: DefaultMaxLobbies, MaxTableBytes: DefaultMaxTableBytes, ReplayWindow: DefaultReplayWindow}
}

// BrowserStats are a Browser's counters.
type BrowserStats struct {
	Packets    uint64 // beacon packets decoded
	Malformed  uint64 // packets that failed to decode
	QueueDrops uint64 // packets dropped: receive queue full
	// Shed counts packets dropped because the receive queue was more than
	// an eighth full and their source held at least an even share of the
	// table (a flood's); the sockets' queues shed alike (from a quarter,
	// not counted here).
	Shed       uint64
	TableFull  uint64 // lobbies dropped: table full, their source the heaviest
	Evicted    uint64 // lobbies dropped for a lighter source's (table full)
	Stale      uint64 // packets older than what was already seen
	Coalesced  uint64 // events merged into a pending one (slow consumer)
	EventDrops uint64 // events dropped (should stay 0; see coalescer)
	Queries    uint64 // queries sent
	// With a Key, packets dropped because they are unsigned, signed with
	// another key (or altered), or signed outside ReplayWindow (replayed,
	// or the sender's clock is off). Packets counts them too.
	Unsigned, BadSignature, BadTimestamp uint64
}

type browserCounters struct {
	packets, malformed, queueDrops, shed, queries atomic.Uint64
}

// Browser finds lobbies: it listens to the beacon group, queries all hosts
// when it starts, and reports lobbies appearing, changing and disappearing
// (goodbye, or TTL expiry). Lobbies heard over several interfaces or both
// address families are one entry (one id, one lobby). Events are coalesced
// per lobby while the consumer is slow, so the receive loop never blocks.
type Browser struct {
	cfg    BrowserConfig
	log    *slog.Logger
	life   RunOnce
	events chan Event
	kick   chan struct{} // Query asks Run to query
	net    *netutil.Tracker

	tableMu sync.Mutex // guards table, queue and heavyAt (read by Lobbies, Stats)
	table   *table
	queue   *coalescer

	stats browserCounters
	sig   signing // Key, and counters of rejected packets
	// heavySet is the sources holding at least an even share of the
	// table, as of the last update: shed first when falling behind.
	heavySet atomic.Pointer[map[netip.Addr]bool]
	heavyAt  time.Time // when heavySet was taken; guarded by tableMu
}

var _ Source = (*Browser)(nil)

// NewBrowser validates cfg and returns an idle Browser.
func NewBrowser(cfg BrowserConfig) (*Browser, error) {
	var err error
	if cfg.Net, err = cfg.Net.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Game != "" {
		if err := validGame(cfg.Game); err != nil {
			return nil, fmt.Errorf("beacon: %w", err)
		}
	}
	if cfg.MaxLobbies < 0 || cfg.MaxTableBytes < 0 || cfg.ReplayWindow < 0 {
		return nil, errors.New("beacon: negative MaxLobbies, MaxTableBytes or ReplayWindow")
	}
	cfg.MaxLobbies = cmp.Or(cfg.MaxLobbies, DefaultMaxLobbies)
	cfg.MaxTableBytes = cmp.Or(cfg.MaxTableBytes, DefaultMaxTableBytes)
	cfg.ReplayWindow = cmp.Or(cfg.ReplayWindow, DefaultReplayWindow)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.now == nil {
		cfg.now = time.Now
	}
	t := newTable(cfg.Game, cfg.MaxLobbies, SourceName)
	t.maxBytes = cfg.MaxTableBytes
	if !cfg.Key.IsZero() {
		// A captured packet passes the signature check until its
		// timestamp is a window behind our clock, and it may have been
		// signed up to a window ahead of it.
		t.hold = 2 * cfg.ReplayWindow
	}
	b := &Browser{
		cfg:    cfg,
		log:    cfg.Logger,
		events: make(chan Event),
		kick:   make(chan struct{}, 1),
		net:    cfg.Net.tracker("beacon: browser", cfg.Logger, cfg.ifaces, cfg.changes),
		table:  t,
		// Twice the table: the consumer may still hold lobbies that left it.
		queue: newCoalescer(2*cfg.MaxLobbies + 64),
		sig:   signing{key: cfg.Key, window: cfg.ReplayWindow, now: cfg.now, log: cfg.Logger},
	}
	if b.cfg.listen == nil {
		// The sockets' queues shed a flood's packets first too, before
		// they cost a decode.
		b.cfg.listen = cfg.Net.listener(cfg.Logger, func(a netip.Addr) bool { return b.heavy(netip.AddrPortFrom(a, 0)) })
	}
	return b, nil
}

// Events returns the lobby events; it is closed when Run returns.
func (b *Browser) Events() <-chan Event { return b.events }

// Lobbies returns the lobbies visible now, sorted by id, with RTT.
func (b *Browser) Lobbies() []LobbyInfo {
	b.tableMu.Lock()
	defer b.tableMu.Unlock()
	return b.table.snapshot()
}

// Coordinators returns the coordinator daemons visible now, sorted by id.
func (b *Browser) Coordinators() []CoordinatorInfo {
	b.tableMu.Lock()
	defer b.tableMu.Unlock()
	return b.table.coordinators()
}

// Query sends another query at once (a CLI "refresh"); answers come as
// events. It does nothing before Run.
func (b *Browser) Query() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (b *Browser) Stats() BrowserStats {
	b.tableMu.Lock()
	defer b.tableMu.Unlock()
	return BrowserStats{
		Packets: b.stats.packets.Load(), Malformed: b.stats.malformed.Load(),
		QueueDrops: b.stats.queueDrops.Load(), Shed: b.stats.shed.Load(), Queries: b.stats.queries.Load(),
		TableFull: b.table.tableFull, Evicted: b.table.evicted, Stale: b.table.stale,
		Coalesced: b.queue.coalesced, EventDrops: b.queue.dropped,
		Unsigned: b.sig.unsigned.Load(), BadSignature: b.sig.badSignature.Load(),
		BadTimestamp: b.sig.badTimestamp.Load(),
	}
}

// Interfaces returns the interfaces Run listens on and what is missing;
// while none is usable (Waiting), Run waits for the network. The zero
// IfaceStatus before Run.
func (b *Browser) Interfaces() netutil.IfaceStatus { return b.net.Status() }

// Ready is closed once Run has opened its sockets; a Run that fails
// before never closes it. A caller that must know at once whether
// browsing works waits for Ready and Run's result together.
func (b *Browser) Ready() <-chan struct{} { return b.life.Ready() }

// Close stops Run and waits for it. It is idempotent.
func (b *Browser) Close() error {
	b.life.Close()
	return nil
}

// Run listens, queries, and emits events until ctx is cancelled or Close
// is called; then it closes Events and returns nil. It follows the
// network while it runs: on a new interface or address it queries at
// once (and repeats as at start). It fails only when the sockets cannot
// be had (a port held by another program: an error wrapping
// syscall.EADDRINUSE) or an interface named in Net.Interfaces does not
// exist; with no usable interface yet it runs and waits (Interfaces).
func (b *Browser) Run(ctx context.Context) error {
	ctx, finish, err := b.life.Start(ctx)
	if err != nil {
		return err
	}
	defer finish()
	defer close(b.events)
	st, err := b.net.Start()
	if err != nil {
		return err
	}
	defer b.net.Stop()
	// Announcements arrive on the shared group port; answers to our
	// queries on a querier port of our own, since unicast to the shared
	// port would reach only one of the processes sharing it.
	group, err := b.cfg.listen(true, st.Ifaces)
	if err != nil {
		return fmt.Errorf("beacon: browser: %w", err)
	}
	querier, err := b.cfg.listen(false, st.Ifaces)
	if err != nil {
		group.Close()
		return fmt.Errorf("beacon: browser: %w", err)
	}
	b.life.MarkReady()
	names := ifaceNames(st.Ifaces)
	rx := make(chan received, RecvQueueLen)
	var wg sync.WaitGroup
	defer func() {
		group.Close()
		querier.Close()
		wg.Wait()
	}()
	for _, c := range []packetConn{group, querier} {
		wg.Add(1)
		go b.readLoop(&wg, c, rx)
	}

	// Encoded (and signed, with a fresh timestamp) at every send.
	query := &Packet{Kind: KindQuery, Game: b.cfg.Game}
	if _, err := Encode(query); err != nil {
		return fmt.Errorf("beacon: browser: %w", err)
	}
	repeat := time.NewTimer(time.Hour)
	defer repeat.Stop()
	repeats := 0
	// followed holds the follow-ups sent since the last query, by the
	// lobby id they ask after.
	followed := make(map[string]bool)
	// queries sends the first query and schedules its repeats: at start
	// and when the network changed.
	queries := func() {
		b.sendQuery(querier, query, len(names) > 0)
		clear(followed)
		repeat.Reset(queryRepeats[0])
		repeats = 1
	}
	queries()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	b.resetExpiry(expiry)

	for {
		var out chan Event
		b.tableMu.Lock()
		next, ok := b.queue.peek()
		b.tableMu.Unlock()
		if ok {
			out = b.events
		}
		select {
		case <-ctx.Done():
			return nil
		case r := <-rx:
			b.apply(func(t *table, now time.Time) []Event {
				return t.observeSigned(now, &r.pkt, r.src, names[r.ifIndex], r.signed)
			})
			b.resetExpiry(expiry)
			if r.pkt.Kind == KindAnnounce && r.pkt.Flags&(FlagReply|FlagMore) == FlagReply|FlagMore {
				b.followUp(querier, r, followed)
			}
		case <-expiry.C:
			b.apply(func(t *table, now time.Time) []Event { return t.expire(now) })
			b.resetExpiry(expiry)
		case <-repeat.C:
			b.sendQuery(querier, query, len(names) > 0)
			clear(followed)
			if repeats < len(queryRepeats) {
				repeat.Reset(queryRepeats[repeats] - queryRepeats[repeats-1])
				repeats++
			}
		case <-b.kick:
			b.sendQuery(querier, query, len(names) > 0)
			clear(followed)
		case <-b.net.Changes():
			st, changes := b.net.Refresh()
			if len(changes) == 0 {
				continue
			}
			group.SetIfaces(st.Ifaces)
			querier.SetIfaces(st.Ifaces)
			names = ifaceNames(st.Ifaces)
			if slices.ContainsFunc(changes, func(c netutil.IfaceChange) bool { return !c.Removed() }) {
				queries()
			}
		case out <- next:
			b.tableMu.Lock()
			b.queue.pop()
			b.tableMu.Unlock()
		}
	}
}

func ifaceNames(ifaces []netutil.Iface) map[int]string {
	names := make(map[int]string, len(ifaces))
	for _, i := range ifaces {
		names[i.Index] = i.Name
	}
	return names
}

// apply runs one table update and queues its events.
func (b *Browser) apply(update func(*table, time.Time) []Event) {
	b.tableMu.Lock()
	defer b.tableMu.Unlock()
	full, evicted := b.table.tableFull, b.table.evicted
	for _, ev := range update(b.table, b.cfg.now()) {
		b.queue.push(ev)
	}
	if now := time.Now(); now.Sub(b.heavyAt) >= heavyEvery {
		b.heavyAt = now
		b.updateHeavyLocked()
	}
	// At the 1st, 2nd, 4th... of each (one update may count several): a
	// flood must not flood the log.
	if n := b.table.tableFull; bits.Len64(n) != bits.Len64(full) {
		b.log.Warn("beacon: browser table full, lobby dropped (its source holds the most)", "dropped", n)
	}
	if n := b.table.evicted; bits.Len64(n) != bits.Len64(evicted) {
		b.log.Warn("beacon: browser table full, a lobby of the heaviest source made room for another's", "evicted", n)
	}
}

func (b *Browser) resetExpiry(t *time.Timer) {
	b.tableMu.Lock()
	at, ok := b.table.next()
	b.tableMu.Unlock()
	d := time.Hour
	if ok {
		d = max(at.Sub(b.cfg.now()), 0)
	}
	t.Reset(d)
}

// sendQuery sends a query, when there is an interface to send it on
// (else it would only count failures while waiting for the network).
func (b *Browser) sendQuery(c packetConn, query *Packet, haveIfaces bool) {
	if !haveIfaces {
		return
	}
	pkt, err := b.sig.encodeQuery(query)
	if err != nil {
		b.log.Error("beacon: cannot encode query", "err", err) // a bug: the game is validated
		return
	}
	b.tableMu.Lock()
	b.table.queried(b.cfg.now())
	b.tableMu.Unlock()
	b.stats.queries.Add(1)
	if err := c.SendMulticast(pkt); err != nil {
		b.log.Warn("beacon: query failed", "err", err)
	}
}

// followUp asks the sender of r, an answer cut to its bound (FlagMore),
// for the lobbies after its last one, by unicast to the port it answered
// from. Each is asked once per query of ours (an answer over IPv4 and its
// twin over IPv6 end at the same id), at most maxFollowUps in all.
func (b *Browser) followUp(c packetConn, r received, sent map[string]bool) {
	var last string
	for _, l := range r.pkt.Lobbies {
		last = max(last, l.ID)
	}
	if sent[last] || len(sent) >= maxFollowUps {
		return // asked already, maybe over the other family
	}
	sent[last] = true
	pkt, err := b.sig.encodeQuery(&Packet{Kind: KindQuery, Game: b.cfg.Game, After: last})
	if err != nil {
		b.log.Error("beacon: cannot encode follow-up query", "err", err)
		return
	}
	b.stats.queries.Add(1)
	if err := c.SendTo(pkt, r.src); err != nil {
		b.log.Debug("beacon: follow-up query failed", "to", r.src, "err", err)
	}
}

// readLoop queues the packets for Run without ever blocking: when Run is
// behind, packets are dropped and counted.
func (b *Browser) readLoop(wg *sync.WaitGroup, c packetConn, rx chan<- received) {
	defer wg.Done()
	readPackets(c, &b.stats.malformed, b.log, func(raw []byte, tail int, r received) {
		if r.pkt.Kind == KindQuery {
			return
		}
		b.stats.packets.Add(1)
		var ok bool
		if r.signed, ok = b.sig.accept(raw, tail, r.src); !ok {
			return
		}
		if len(rx) > cap(rx)/8 && b.heavy(r.src) {
			// Falling behind: the sources holding the most of the table
			// (a flood) are shed first, so a host with a lobby or two
			// still gets through.
			if d := b.stats.shed.Add(1); d&(d-1) == 0 {
				b.log.Warn("beacon: browser falling behind, packets of the heaviest sources shed", "shed", d)
			}
			return
		}
		select {
		case rx <- r:
		default:
			if d := b.stats.queueDrops.Add(1); d&(d-1) == 0 {
				b.log.Warn("beacon: browser receive queue full, packet dropped", "dropped", d)
			}
		}
	})
}

// heavy reports whether src holds at least an even share of the table.
// Readers ask it for every packet while the loop is behind: it reads a
// snapshot (updateHeavy) and takes no lock the loop holds.
func (b *Browser) heavy(src netip.AddrPort) bool {
	m := b.heavySet.Load()
	return m != nil && (*m)[sourceKey(src.Addr())]
}

// updateHeavyLocked takes the snapshot of the sources holding at least an
// even share of the table; b.tableMu is held.
func (b *Browser) updateHeavyLocked() {
	t := b.table
	m := make(map[netip.Addr]bool)
	for k, s := range t.shares {
		if s.bytes*len(t.shares) >= t.bytes {
			m[k] = true
		}
	}
	b.heavySet.Store(&m)
}
