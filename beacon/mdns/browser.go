package mdns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// Browser defaults.
const (
	// SourceName is LobbyInfo.Source for lobbies found over mDNS.
	SourceName = "mdns"
	// DefaultLivenessInterval is how long a lobby may be silent before
	// the browser asks its responder whether it is still there.
	DefaultLivenessInterval = 2 * time.Second
	// DefaultExpiry is how long a lobby may be silent before it is
	// removed, whatever its records' TTLs: the beacon's expiry, so both
	// sources drop a dead host together.
	DefaultExpiry = 6 * time.Second
)

// BrowserConfig configures a Browser. NewBrowser copies it; the zero
// value is the default.
type BrowserConfig struct {
	// Interfaces chooses the interfaces to browse on (see
	// netutil.IfaceOptions); read when Run starts and followed while it
	// runs (see Browser.Run).
	Interfaces netutil.IfaceOptions
	// Game, when set, browses the game's subtype
	// (_<game>._sub._lanlobby._tcp) and keeps only lobbies whose TXT says
	// that game; "" browses every lobby.
	Game string
	// LivenessInterval is the silence after which a lobby is asked
	// whether it is alive (then every half interval, at least 1 s apart);
	// 0 means DefaultLivenessInterval.
	LivenessInterval time.Duration
	// Expiry is the silence after which a lobby is removed: a host that
	// died without goodbyes leaves the list this long after it was last
	// heard of, however long its records' TTLs. 0 means DefaultExpiry;
	// it must exceed LivenessInterval.
	Expiry time.Duration
	// MaxLobbies bounds the lobbies tracked; 0 means
	// beacon.DefaultMaxLobbies.
	MaxLobbies int
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// Key, when set (beacon.NewKey), shows only lobbies whose TXT record
	// is signed with it (see VerifyTXT); unsigned, wrongly signed and
	// stale ones are ignored and counted (BrowserStats). A lobby shown
	// whose newest TXT record fails the check stays as last verified and
	// leaves Expiry after the last valid one, unless another comes. The
	// zero Key shows signed and unsigned lobbies alike (t and h are
	// unknown keys to it).
	Key beacon.Key
	// ReplayWindow is how far a signed TXT record's timestamp may be from
	// our clock when it arrives, either way; 0 means
	// DefaultTXTReplayWindow. It must exceed the responders'
	// ResignInterval by the clock difference between hosts.
	ReplayWindow time.Duration

	// Test seams; nil means the real clock, network and randomness.
	now     func() time.Time
	ifaces  func() (netutil.IfaceStatus, error)
	changes <-chan struct{}
	listen  listenFunc
	jitter  func(time.Duration) time.Duration
}

// DefaultBrowserConfig returns the defaults spelled out.
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{
		LivenessInterval: DefaultLivenessInterval,
		Expiry:           DefaultExpiry,
		MaxLobbies:       beacon.DefaultMaxLobbies,
		ReplayWindow:     DefaultTXTReplayWindow,
	}
}

// BrowserStats are a Browser's counters.
type BrowserStats struct {
	Packets          uint64 // responses handled
	Malformed        uint64 // datagrams that did not parse
	Ignored          uint64 // responses dropped: bad opcode/rcode/port, off-link, foreign interface
	QueueDrops       uint64 // datagrams dropped: receive queue full
	Queries          uint64 // browse queries sent
	LegacyQueries    uint64 // legacy unicast copies of QU queries sent (from our own port)
	Unicast          uint64 // unicast responses to port 5353 handled (QU answers, ours or another browser's on this host)
	Legacy           uint64 // answers to our legacy unicast queries handled
	FollowUps        uint64 // queries for a missing SRV, TXT or address
	LivenessChecks   uint64 // liveness queries sent
	LivenessRemovals uint64 // lobbies removed as silent
	TableFull        uint64 // lobbies or instances dropped: MaxLobbies reached
	CacheFull        uint64 // records dropped: cache full
	Duplicates       uint64 // instances showing an id another instance shows
	Unsigned         uint64 // TXT records without a signature ignored (with a Key)
	BadSignature     uint64 // TXT records with a wrong signature ignored (with a Key)
	BadTimestamp     uint64 // signed TXT records outside the replay window ignored (with a Key)
	Coalesced        uint64 // events merged into a pending one (slow consumer)
	EventDrops       uint64 // events dropped (should stay 0)
}

// Browser finds lanlobby lobbies over mDNS / DNS-SD: it browses
// _lanlobby._tcp (or one game's subtype), resolves each instance (SRV,
// TXT, addresses), checks that silent lobbies are still alive, and
// reports lobbies appearing, changing (TXT: players, state) and
// disappearing as beacon events with Source "mdns". It implements
// beacon.Source, so beacon.NewMerge(beaconBrowser, mdnsBrowser) merges
// both by lobby id. Events are coalesced per lobby while the consumer is
// slow, so the receive loop never blocks.
type Browser struct {
	cfg    BrowserConfig
	log    *slog.Logger
	life   lifecycle
	events chan beacon.Event
	kick   chan struct{}
	net    *netutil.Tracker

	stateMu sync.Mutex // guards core and queue (read by Lobbies, Stats)
	core    *browseCore
	queue   *beacon.EventQueue

	queueDrops atomic.Uint64
}

var _ beacon.Source = (*Browser)(nil)

// NewBrowser validates cfg and returns an idle Browser.
func NewBrowser(cfg BrowserConfig) (*Browser, error) {
	if cfg.Game != "" {
		if err := ValidateGame(cfg.Game); err != nil {
			return nil, err
		}
	}
	cfg.LivenessInterval = cmp.Or(cfg.LivenessInterval, DefaultLivenessInterval)
	cfg.Expiry = cmp.Or(cfg.Expiry, DefaultExpiry)
	cfg.MaxLobbies = cmp.Or(cfg.MaxLobbies, beacon.DefaultMaxLobbies)
	cfg.ReplayWindow = cmp.Or(cfg.ReplayWindow, DefaultTXTReplayWindow)
	switch {
	case cfg.ReplayWindow < 0:
		return nil, errors.New("mdns: negative ReplayWindow")
	case cfg.LivenessInterval < 0 || cfg.Expiry <= cfg.LivenessInterval:
		return nil, fmt.Errorf("mdns: Expiry %v must exceed LivenessInterval %v", cfg.Expiry, cfg.LivenessInterval)
	case cfg.MaxLobbies < 0:
		return nil, errors.New("mdns: negative MaxLobbies")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.listen == nil {
		cfg.listen = listener(cfg.Logger)
	}
	if cfg.jitter == nil {
		cfg.jitter = randJitter
	}
	b := &Browser{
		cfg:    cfg,
		log:    cfg.Logger,
		events: make(chan beacon.Event),
		kick:   make(chan struct{}, 1),
		net:    tracker("mdns: browser", cfg.Interfaces, cfg.Logger, cfg.ifaces, cfg.changes),
		core: newBrowseCore(browseConfig{
			game: cfg.Game, liveness: cfg.LivenessInterval, expiry: cfg.Expiry,
			maxLobbies: cfg.MaxLobbies, jitter: cfg.jitter,
			key: cfg.Key, window: cfg.ReplayWindow, log: cfg.Logger,
		}),
		// Twice the table: the consumer may still hold lobbies that left it.
		queue: beacon.NewEventQueue(2*cfg.MaxLobbies + 64),
	}
	b.core.sink = b.queue.Push
	return b, nil
}

// Events returns the lobby events; it is closed when Run returns.
func (b *Browser) Events() <-chan beacon.Event { return b.events }

// Lobbies returns the lobbies visible now, sorted by id.
func (b *Browser) Lobbies() []beacon.LobbyInfo {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	return b.core.snapshot()
}

// Query sends another QU browse query at once, with its legacy unicast
// copy (a CLI "refresh"). It does nothing before Run.
func (b *Browser) Query() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (b *Browser) Stats() BrowserStats {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	s := b.core.stats
	s.QueueDrops = b.queueDrops.Load()
	s.CacheFull = b.core.cache.full
	s.Coalesced, s.EventDrops = b.queue.Coalesced(), b.queue.Dropped()
	return s
}

// Interfaces returns the interfaces Run browses on and what is missing;
// while none is usable (Waiting), Run waits for the network. The zero
// IfaceStatus before Run.
func (b *Browser) Interfaces() netutil.IfaceStatus { return b.net.Status() }

// Ready is closed once Run has opened its sockets; a Run that fails
// before never closes it. A caller that must know at once whether
// browsing works waits for Ready and Run's result together.
func (b *Browser) Ready() <-chan struct{} { return b.life.ready() }

// Close stops Run and waits for it. It is idempotent.
func (b *Browser) Close() error {
	b.life.close()
	return nil
}

// Run browses until ctx is cancelled or Close is called; then it closes
// Events and returns nil. It follows the network while it runs
// (netutil.Watcher): groups are joined on new interfaces and left on
// those gone, and an interface that appears or changes gets a QU browse
// query (and its legacy copy) at once, the repeats starting over. It
// fails only when the sockets cannot be had (port 5353 held by another
// program without sharing: an error wrapping syscall.EADDRINUSE) or an
// interface named in Interfaces does not exist; with no usable interface
// yet it runs and waits (see Interfaces).
func (b *Browser) Run(ctx context.Context) error {
	ctx, finish, err := b.life.start(ctx)
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
	conn, rx, stop, err := openAndRead(st.Ifaces, b.cfg.listen, true, &b.queueDrops, b.log)
	if err == nil {
		b.life.markReady()
	}
	if err != nil {
		return fmt.Errorf("mdns: browser: %w", err)
	}
	defer stop()

	b.stateMu.Lock()
	out := b.core.start(b.cfg.now(), st.Ifaces)
	b.stateMu.Unlock()
	sendAll(conn, out, b.log)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.stateMu.Lock()
		now := b.cfg.now()
		out := b.core.tick(now)
		at, ok := b.core.next()
		next, pending := b.queue.Peek()
		b.stateMu.Unlock()
		sendAll(conn, out, b.log)
		d := time.Hour
		if ok {
			d = max(at.Sub(now), 0)
		}
		timer.Reset(d)
		var events chan beacon.Event
		if pending {
			events = b.events
		}
		select {
		case <-ctx.Done():
			return nil
		case in := <-rx:
			b.stateMu.Lock()
			out := b.core.handle(b.cfg.now(), in)
			b.stateMu.Unlock()
			sendAll(conn, out, b.log)
		case <-b.kick:
			b.stateMu.Lock()
			out := b.core.kick(b.cfg.now())
			b.stateMu.Unlock()
			sendAll(conn, out, b.log)
		case <-b.net.Changes():
			st, changes := b.net.Refresh()
			if len(changes) == 0 {
				continue
			}
			conn.SetIfaces(st.Ifaces)
			b.stateMu.Lock()
			out := b.core.setIfaces(b.cfg.now(), st.Ifaces, changes)
			b.stateMu.Unlock()
			sendAll(conn, out, b.log)
		case <-timer.C:
		case events <- next:
			b.stateMu.Lock()
			b.queue.Pop()
			b.stateMu.Unlock()
		}
	}
}
