package mdns

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
	"github.com/lanlobby/lanlobby/rules"
)

// Responder defaults and limits.
const (
	// DefaultTTL is the TTL of every record we publish. RFC 6762 §10
	// suggests 120 s for host records and 75 min for the rest; a lobby is
	// short-lived and a browser that does not check liveness (avahi)
	// drops a vanished host only when its PTR record expires, so every
	// record gets 120 s. Browsers refresh at 80 % of it: one query per
	// lobby every ~100 s.
	DefaultTTL = 120 * time.Second
	// DefaultAnnouncements is how many times a new service is announced:
	// at once, after 1 s and after 3 s (RFC 6762 §8.3 asks for at least
	// two, the gaps doubling).
	DefaultAnnouncements = 3
	// RecvQueueLen bounds received packets waiting for the responder
	// loop; more are dropped and counted.
	RecvQueueLen = 256
	// MaxServices bounds the services of one Responder.
	MaxServices = 1024
	// DefaultUnicastBytesPerSource, DefaultUnicastBytesPerInterface and
	// DefaultUnicastPerInterface are ResponderConfig's budget of unicast
	// answers (see there): a QU answer with every lobby of a daemon
	// holding 512 is about 21 KB.
	DefaultUnicastBytesPerSource    = 32 << 10
	DefaultUnicastBytesPerInterface = 64 << 10
	DefaultUnicastPerInterface      = 128
	// hostPrefix starts our default host names, so they never collide
	// with the machine's own name that avahi-daemon or mDNSResponder
	// publishes.
	hostPrefix = "lanlobby-"
)

// Responder errors.
var (
	// ErrTooMany is returned by Register when MaxServices are registered.
	ErrTooMany = errors.New("mdns: too many services")
	// ErrInvalidService wraps every reason Register refuses a Service.
	ErrInvalidService = errors.New("mdns: invalid service")
)

// ResponderConfig configures a Responder. NewResponder copies it; the
// zero value is the default.
type ResponderConfig struct {
	// Interfaces chooses the interfaces to answer on (see
	// netutil.IfaceOptions). They are read when Run starts and followed
	// while it runs (see Responder.Run). Every answer carries only the
	// addresses of the interface it goes out on.
	Interfaces netutil.IfaceOptions
	// HostName is the label of the host name the SRV records point at,
	// published as <HostName>.local with each interface's addresses: 1..63
	// letters, digits and '-', optionally followed by ".local". "" means
	// "lanlobby-" and 8 random hex digits. It is deliberately not the
	// machine's host name, which avahi-daemon or mDNSResponder already
	// publishes: two stacks answering for one name conflict. A name taken
	// on the LAN is renamed "<name>-2", "-3"... (see Responder.HostName).
	HostName string
	// TTL is the TTL of every record; 0 means DefaultTTL. Whole seconds,
	// at least 1 s.
	TTL time.Duration
	// Announcements is how often a new service is announced, at 1 s, 2 s,
	// 4 s... intervals; 0 means DefaultAnnouncements; at least 2.
	Announcements int
	// Logger receives warnings and name changes; nil means slog.Default().
	Logger *slog.Logger
	// Key, when set (beacon.NewKey), signs every TXT record: two keys,
	// t (when it signed) and h (a MAC over the instance name, the SRV
	// port and the other TXT strings), are added (see SignTXT), and
	// browsers with the same key ignore lobbies without a valid
	// signature. The zero Key publishes unsigned records, as before.
	Key beacon.Key
	// ResignInterval is how often, with a Key, each TXT record is signed
	// again (a TXT change, announced at once and a second later), so the
	// timestamp of every record handed out is at most this old; browsers'
	// ReplayWindow must exceed it by the clock difference between hosts.
	// 0 means DefaultResignInterval; at least 1 s.
	ResignInterval time.Duration
	// UnicastBytesPerSource bounds the unicast answers (to QU questions
	// and legacy queries) one source address gets, in IP bytes per second
	// (bursts of two seconds' worth); 0 means
	// DefaultUnicastBytesPerSource. UnicastBytesPerInterface and
	// UnicastPerInterface bound them per interface in all, in bytes and
	// datagrams per second; 0 means the defaults. A QU question past them
	// is answered by multicast (§6.2's once a second per record), a
	// legacy query not at all. Sources off the link never get a unicast
	// answer (RFC 6762 §5.5, §11).
	UnicastBytesPerSource    int
	UnicastBytesPerInterface int
	UnicastPerInterface      int

	// Test seams; nil means the real clock, network and randomness.
	now     func() time.Time
	ifaces  func() (netutil.IfaceStatus, error)
	changes <-chan struct{}
	listen  listenFunc
	jitter  func(time.Duration) time.Duration
}

// DefaultResponderConfig returns the defaults spelled out (HostName is
// still chosen at random by NewResponder).
func DefaultResponderConfig() ResponderConfig {
	return ResponderConfig{TTL: DefaultTTL, Announcements: DefaultAnnouncements, ResignInterval: DefaultResignInterval,
		UnicastBytesPerSource: DefaultUnicastBytesPerSource, UnicastBytesPerInterface: DefaultUnicastBytesPerInterface,
		UnicastPerInterface: DefaultUnicastPerInterface}
}

// ResponderStats are a Responder's counters.
type ResponderStats struct {
	Queries       uint64 // queries handled
	Malformed     uint64 // datagrams that did not parse
	Ignored       uint64 // messages dropped: bad opcode/rcode, off-link, foreign interface
	QueueDrops    uint64 // datagrams dropped: receive queue full
	Unicast       uint64 // unicast answers sent (QU and legacy queries)
	Multicast     uint64 // delayed multicast answers sent
	RateLimited   uint64 // answers held back by the once-a-second rule
	Probes        uint64 // probe rounds sent
	Announcements uint64 // announcement rounds sent
	Goodbyes      uint64 // goodbye rounds sent
	Defenses      uint64 // probes of our names answered
	Conflicts     uint64 // conflicting records seen
	Renames       uint64 // names changed after conflicts
	TieBreaksLost uint64 // simultaneous probes lost
	Resigns       uint64 // TXT records signed again because their time was up (with a key)
	Fallbacks     uint64 // names given up for a name of our own after FallbackAfter conflicts
	// OffLink counts queries asking for a unicast answer from a source
	// off the link: legacy ones dropped, QU questions answered by
	// multicast.
	OffLink uint64
	// OverBudget counts unicast answers over the budget (per source,
	// per interface): QU questions answered by multicast instead, legacy
	// queries not answered.
	OverBudget uint64
}

// Service is one DNS-SD service instance of type _lanlobby._tcp.
type Service struct {
	// Instance is the instance name: 1..63 bytes of UTF-8 without control
	// characters. Spaces, apostrophes, dots and any script are fine.
	Instance string
	// Game, when set, adds the subtype _<Game>._sub._lanlobby._tcp, so a
	// browser can ask for one game's lobbies (see ValidateGame).
	Game string
	// Port is the coordinator's TCP port, 1..65535.
	Port uint16
	// TXT holds the TXT strings ("key=value", raw bytes): each at most
	// 255 bytes, the record at most MaxTXTLen bytes (a lobby's, from
	// EncodeTXT, is under 200). With a Key, the responder publishes them
	// signed (SignTXT: t and h strings of TXT are replaced, 47 bytes more
	// at most).
	TXT []string
}

// txtRoom is what the responder adds to every TXT record: the signature,
// with a key.
func (r *Responder) txtRoom() int {
	if r.cfg.Key.IsZero() {
		return 0
	}
	return signedTXTOverhead
}

func (s Service) validate(txtRoom int) error {
	if err := ValidateInstance(s.Instance); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidService, err)
	}
	if s.Game != "" {
		if err := ValidateGame(s.Game); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidService, err)
		}
	}
	if s.Port == 0 {
		return fmt.Errorf("%w: port 0", ErrInvalidService)
	}
	if err := validateTXTRoom(s.TXT, txtRoom); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidService, err)
	}
	return nil
}

// Responder publishes lanlobby services with multicast DNS (RFC 6762)
// and DNS-SD (RFC 6763): it probes its names, renames on conflict,
// announces, answers queries per interface and says goodbye. It shares
// port 5353 with any other mDNS stack on the host.
type Responder struct {
	cfg  ResponderConfig
	log  *slog.Logger
	life lifecycle
	kick chan struct{} // wakes Run after an API call changed the state
	net  *netutil.Tracker

	stateMu sync.Mutex // guards core and lobbies
	core    *core
	lobbies map[string]*Registration // by lobby id (SetLobby)

	queueDrops atomic.Uint64
}

// NewResponder validates cfg and returns an idle Responder; services may
// be registered before Run.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	cfg.HostName = strings.TrimSuffix(strings.TrimSuffix(cfg.HostName, "."), ".local")
	if cfg.HostName == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("mdns: host name: %w", err)
		}
		cfg.HostName = hostPrefix + hex.EncodeToString(b[:])
	}
	if err := validHostLabel(cfg.HostName); err != nil {
		return nil, err
	}
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
	if cfg.TTL < time.Second || cfg.TTL > 24*time.Hour {
		return nil, fmt.Errorf("mdns: TTL %v not in 1s..24h", cfg.TTL)
	}
	cfg.Announcements = cmp.Or(cfg.Announcements, DefaultAnnouncements)
	if cfg.Announcements < 2 || cfg.Announcements > 8 {
		return nil, fmt.Errorf("mdns: Announcements %d not in 2..8", cfg.Announcements)
	}
	cfg.ResignInterval = cmp.Or(cfg.ResignInterval, DefaultResignInterval)
	if cfg.ResignInterval < time.Second {
		return nil, fmt.Errorf("mdns: ResignInterval %v under 1s", cfg.ResignInterval)
	}
	if cfg.UnicastBytesPerSource < 0 || cfg.UnicastBytesPerInterface < 0 || cfg.UnicastPerInterface < 0 {
		return nil, errors.New("mdns: negative unicast budget")
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
	core := newCore(coreConfig{
		ttl:           uint32(cfg.TTL / time.Second),
		announceCount: cfg.Announcements,
		jitter:        cfg.jitter,
		log:           cfg.Logger,
		key:           cfg.Key,
		resign:        cfg.ResignInterval,
		unicast: netutil.AnswerRates{PerSource: float64(cfg.UnicastBytesPerSource),
			PerInterface: float64(cfg.UnicastBytesPerInterface), PacketsPerInterface: float64(cfg.UnicastPerInterface)},
	}, cfg.HostName)
	return &Responder{
		cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), core: core, lobbies: make(map[string]*Registration),
		net: tracker("mdns: responder", cfg.Interfaces, cfg.Logger, cfg.ifaces, cfg.changes),
	}, nil
}

// randomHostLabel is a host name label of our own: "lanlobby-" and 8
// random hex digits by default, 16 as a fallback name (FallbackAfter).
func randomHostLabel() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hostPrefix + hex.EncodeToString(b[:])
}

// listener returns the production listenFunc.
func listener(log *slog.Logger) listenFunc {
	return func(ifaces []netutil.Iface, querier bool) (packetConn, error) {
		return openConn(connConfig{ifaces: ifaces, querier: querier, log: log})
	}
}

// tracker returns a component's interface tracker: the production lookup
// and watcher unless the test seams replace them.
func tracker(name string, opts netutil.IfaceOptions, log *slog.Logger, lookup func() (netutil.IfaceStatus, error), changes <-chan struct{}) *netutil.Tracker {
	return netutil.NewTracker(netutil.TrackerConfig{Options: opts, Name: name, Logger: log, Lookup: lookup, Changes: changes})
}

func randJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(mrand.Int64N(int64(d)))
}

// HostName returns the host name the services point at, fully qualified
// ("lanlobby-1a2b3c4d.local."), after any conflict renames.
func (r *Responder) HostName() string {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.core.hostName()
}

// Stats returns the counters.
func (r *Responder) Stats() ResponderStats {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	s := r.core.stats
	s.QueueDrops = r.queueDrops.Load()
	return s
}

func (r *Responder) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Register publishes s: it is probed (about 0.75 s), renamed if its name
// is taken ("Alice's game (2)"), then announced. It returns at once;
// Registration.Established tells when the service is visible. Services
// registered before Run wait for it.
func (r *Responder) Register(s Service) (*Registration, error) {
	if err := s.validate(r.txtRoom()); err != nil {
		return nil, err
	}
	if r.life.stopped() {
		return nil, ErrClosed
	}
	return r.register(s, "")
}

// register is Register with the service's unique id (SetLobby's lobby
// id; "" takes the TXT record's id, or a random one), which its fallback
// name carries (see FallbackAfter).
func (r *Responder) register(s Service, uid string) (*Registration, error) {
	if uid == "" {
		for _, kv := range s.TXT {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "id") && v != "" {
				uid = v
				break
			}
		}
	}
	if uid == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("mdns: service id: %w", err)
		}
		uid = hex.EncodeToString(b[:])
	}
	reg := &Registration{r: r, established: make(chan struct{})}
	r.stateMu.Lock()
	if len(r.core.svcs) >= MaxServices {
		r.stateMu.Unlock()
		return nil, ErrTooMany
	}
	reg.svc = &service{
		reg:   reg,
		owner: owner{base: s.Instance},
		uid:   rules.Truncate(uid, MaxLabelLen/2),
		game:  s.Game,
		port:  s.Port,
		txt:   slices.Clone(s.TXT),
	}
	r.core.add(r.cfg.now(), reg.svc)
	r.stateMu.Unlock()
	r.wake()
	return reg, nil
}

// SetLobby publishes lobby l or updates it, keyed by l.ID, the way
// beacon.Advertiser.Set does: the instance name is l.Name, the subtype
// l.Game (none when the game id is not a valid subtype), the port l.Port
// and the TXT record EncodeTXT(l). A change of players, capacity or state
// is a TXT change, announced at once; a change of name, game or port
// withdraws the old service and registers a new one.
func (r *Responder) SetLobby(l beacon.Lobby) (*Registration, error) {
	if err := beacon.ValidateLobby(l); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidService, err)
	}
	s := Service{Instance: l.Name, Game: l.Game, Port: l.Port, TXT: EncodeTXT(l)}
	if ValidateGame(s.Game) != nil {
		s.Game = ""
	}
	r.stateMu.Lock()
	reg := r.lobbies[l.ID]
	if reg != nil && reg.svc.removed {
		reg = nil // removed through the Registration: publish anew
	}
	r.stateMu.Unlock()
	if reg != nil {
		cur := reg.Service()
		if cur.Instance == s.Instance && cur.Game == s.Game && cur.Port == s.Port {
			if !slices.Equal(cur.TXT, s.TXT) {
				if err := reg.SetTXT(s.TXT); err != nil {
					return nil, err
				}
			}
			return reg, nil
		}
		if err := reg.Remove(); err != nil && !errors.Is(err, ErrClosed) {
			return nil, err
		}
	}
	if err := s.validate(r.txtRoom()); err != nil {
		return nil, err
	}
	if r.life.stopped() {
		return nil, ErrClosed
	}
	reg, err := r.register(s, l.ID)
	if err != nil {
		return nil, err
	}
	r.stateMu.Lock()
	r.lobbies[l.ID] = reg
	r.stateMu.Unlock()
	return reg, nil
}

// RemoveLobby withdraws the lobby published by SetLobby with this id
// (goodbyes at once); an unknown id is not an error.
func (r *Responder) RemoveLobby(id string) error {
	r.stateMu.Lock()
	reg := r.lobbies[id]
	delete(r.lobbies, id)
	r.stateMu.Unlock()
	if reg == nil {
		return nil
	}
	return reg.Remove()
}

// Lobby returns the registration of the lobby published with SetLobby.
func (r *Responder) Lobby(id string) (*Registration, bool) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	reg, ok := r.lobbies[id]
	return reg, ok
}

// Interfaces returns the interfaces Run answers on and what is missing;
// while none is usable (Waiting), Run waits for the network and nothing
// is probed or established. The zero IfaceStatus before Run.
func (r *Responder) Interfaces() netutil.IfaceStatus { return r.net.Status() }

// Ready is closed once Run has opened its sockets; a Run that fails
// before never closes it. A caller that must know at once whether
// answering works waits for Ready and Run's result together.
func (r *Responder) Ready() <-chan struct{} { return r.life.ready() }

// Close sends goodbyes for every published record, stops Run and waits
// for it. It is idempotent.
func (r *Responder) Close() error {
	r.life.close()
	return nil
}

// Run opens the sockets on the chosen interfaces, probes and announces
// the host name and the services, and answers queries until ctx is
// cancelled or Close is called; then it sends goodbyes and returns nil.
//
// It follows the network while it runs (netutil.Watcher: at once on
// Linux, within a second elsewhere): groups are joined on new interfaces
// and left on those gone; an interface that appears or changes gets the
// records announced on it at once (with goodbyes first for addresses
// that went away); and when the host had no usable interface and gets
// one, every name is probed again before it is announced (RFC 6762
// §8.3), as at start. It fails only when the sockets cannot be had
// (port 5353 held by another program without sharing: an error
// wrapping syscall.EADDRINUSE) or an interface named in Interfaces does
// not exist; with no usable interface yet it runs and waits (see
// Interfaces).
func (r *Responder) Run(ctx context.Context) error {
	ctx, finish, err := r.life.start(ctx)
	if err != nil {
		return err
	}
	defer finish()
	st, err := r.net.Start()
	if err != nil {
		return err
	}
	defer r.net.Stop()
	conn, rx, stop, err := openAndRead(st.Ifaces, r.cfg.listen, false, &r.queueDrops, r.log)
	if err != nil {
		return fmt.Errorf("mdns: responder: %w", err)
	}
	defer stop()
	r.life.markReady()

	r.stateMu.Lock()
	out := r.core.start(r.cfg.now(), st.Ifaces)
	r.stateMu.Unlock()
	r.send(conn, out)
	defer func() {
		r.stateMu.Lock()
		out := r.core.goodbyeAll(r.cfg.now())
		r.core.running = false
		r.stateMu.Unlock()
		r.send(conn, out)
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.stateMu.Lock()
		now := r.cfg.now()
		out := r.core.tick(now)
		at, ok := r.core.next()
		r.stateMu.Unlock()
		r.send(conn, out)
		d := time.Hour
		if ok {
			d = max(at.Sub(now), 0)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return nil
		case in := <-rx:
			r.stateMu.Lock()
			out := r.core.handle(r.cfg.now(), in)
			r.stateMu.Unlock()
			r.send(conn, out)
		case <-r.net.Changes():
			st, changes := r.net.Refresh()
			if len(changes) == 0 {
				continue
			}
			conn.SetIfaces(st.Ifaces)
			r.stateMu.Lock()
			out := r.core.setIfaces(r.cfg.now(), st.Ifaces)
			r.stateMu.Unlock()
			r.send(conn, out)
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// send writes the core's datagrams; failures are logged, never fatal (a
// link may be down for a moment).
func (r *Responder) send(conn packetConn, out []outPacket) {
	sendAll(conn, out, r.log)
}

func sendAll(conn packetConn, out []outPacket, log *slog.Logger) {
	for _, p := range out {
		var err error
		switch {
		case p.legacy:
			err = conn.WriteLegacy(p.data, p.ifIndex)
		case p.dst.IsValid():
			err = conn.WriteTo(p.data, p.dst, p.ifIndex, p.src)
		default:
			err = conn.WriteMulticast(p.data, p.ifIndex)
		}
		if err != nil {
			log.Debug("mdns: send failed", "dst", p.dst, "iface", p.ifIndex, "err", err)
		}
	}
}

// openAndRead opens the sockets on ifaces (a querier's sockets with
// querier) and starts the read loop feeding rx; stop closes them and
// waits for the loop. Responder and Browser start alike.
func openAndRead(ifaces []netutil.Iface, listen listenFunc, querier bool, drops *atomic.Uint64, log *slog.Logger) (conn packetConn, rx chan inbound, stop func(), err error) {
	if conn, err = listen(ifaces, querier); err != nil {
		return nil, nil, nil, err
	}
	rx = make(chan inbound, RecvQueueLen)
	var wg sync.WaitGroup
	wg.Add(1)
	go readLoop(&wg, conn, rx, drops, log)
	return conn, rx, func() { conn.Close(); wg.Wait() }, nil
}

// readLoop moves datagrams from conn into rx without ever blocking: when
// the owner's loop is behind, they are dropped and counted.
func readLoop(wg *sync.WaitGroup, conn packetConn, rx chan<- inbound, drops *atomic.Uint64, log *slog.Logger) {
	defer wg.Done()
	for {
		in, err := conn.Read()
		if err != nil {
			return // closed
		}
		select {
		case rx <- in:
		default:
			if d := drops.Add(1); d&(d-1) == 0 {
				log.Warn("mdns: receive queue full, packet dropped", "dropped", d)
			}
		}
	}
}

// Registration is a registered service. Its methods are safe for
// concurrent use.
type Registration struct {
	r           *Responder
	svc         *service // guarded by r.stateMu
	established chan struct{}
	estOnce     sync.Once
}

// markEstablishedLocked closes Established; r.stateMu is held.
func (g *Registration) markEstablishedLocked() { g.estOnce.Do(func() { close(g.established) }) }

// Name returns the current instance name: the one registered, or after
// a conflict "<name> (2)", "(3)"...
func (g *Registration) Name() string {
	g.r.stateMu.Lock()
	defer g.r.stateMu.Unlock()
	return g.svc.owner.label
}

// Service returns the service as registered, with the current TXT (the
// instance name as asked for: see Name for the one in use).
func (g *Registration) Service() Service {
	g.r.stateMu.Lock()
	defer g.r.stateMu.Unlock()
	s := g.svc
	return Service{Instance: s.owner.base, Game: s.game, Port: s.port, TXT: slices.Clone(s.txt)}
}

// Established is closed once probing succeeded and the first
// announcement went out: the service is visible on the LAN.
func (g *Registration) Established() <-chan struct{} { return g.established }

// SetTXT replaces the TXT record; an established service announces it at
// once (and again a second later). After Remove it returns ErrClosed.
func (g *Registration) SetTXT(txt []string) error {
	if err := validateTXTRoom(txt, g.r.txtRoom()); err != nil {
		return err
	}
	g.r.stateMu.Lock()
	if g.svc.removed {
		g.r.stateMu.Unlock()
		return ErrClosed
	}
	g.r.core.setTXT(g.r.cfg.now(), g.svc, txt)
	g.r.stateMu.Unlock()
	g.r.wake()
	return nil
}

// Remove withdraws the service: goodbyes (TTL 0) go out at once. It is
// idempotent.
func (g *Registration) Remove() error {
	g.r.stateMu.Lock()
	g.r.core.remove(g.svc)
	g.r.stateMu.Unlock()
	g.r.wake()
	return nil
}
