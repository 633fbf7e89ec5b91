package lobby

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// DefaultTimeout bounds every client call whose context has no deadline,
// including Dial. Nothing in the client waits forever.
const DefaultTimeout = 5 * time.Second

// ClientName is what the Go client calls itself in hello.
const ClientName = "lanlobby-go/0.1"

// Client defaults.
const (
	// DefaultEventBuffer is the capacity of the Events channel. Events
	// beyond it wait in the client's queue (DefaultMaxPendingEvents), so
	// it only needs to cover a burst: each slot is an Event (some 400
	// bytes), allocated at Dial.
	DefaultEventBuffer = 8
	// DefaultMaxPendingEvents bounds events waiting for a reader of
	// Events; past it the oldest are dropped and counted (DroppedEvents), so
	// a caller that never reads events cannot stall replies or heartbeats.
	DefaultMaxPendingEvents = 4096
)

// Client errors.
var (
	// ErrTimeout: no reply within the call's deadline.
	ErrTimeout = errors.New("lobby: no reply from coordinator in time")
	// ErrConnectionLost: the link to the coordinator ended (it stopped,
	// crashed, dropped us, or went silent past the heartbeat limit).
	ErrConnectionLost = errors.New("lobby: connection to coordinator lost")
	// ErrClientClosed: the client was closed by its owner.
	ErrClientClosed = errors.New("lobby: client closed")
)

// ClientConfig tunes a Client. Zero fields take the documented defaults.
type ClientConfig struct {
	// Player is this player's display name (may be empty).
	Player string
	// Timeout bounds calls whose context has no deadline (default
	// DefaultTimeout).
	Timeout time.Duration
	// Dial opens the TCP connection (default: a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// EventBuffer is the Events channel capacity (default DefaultEventBuffer).
	EventBuffer int
	// MaxPendingEvents bounds undelivered events (default
	// DefaultMaxPendingEvents).
	MaxPendingEvents int
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
	// PlayerKey is this player's stable key, sent in hello ("" for none):
	// made once (NewPlayerKey) and kept by the game, it lets an owner's
	// ban and a party leader's named seats recognise the player when it
	// comes back. A courtesy on a LAN, not authentication: see
	// PROTOCOL.md.
	PlayerKey string
	// TakeOver, when set, lets this client take over a lobby whose
	// coordinator is lost while the client is the lobby's successor (on a
	// coordinator that hands its lobbies over: a game's own): it starts a
	// coordinator of the client's own and returns the address the client
	// reaches it at; the client then adopts the lobby there, and the other
	// members move to it. Package lanlobby sets it (Session). Nil: this
	// client never takes over; it follows the successor like the others.
	TakeOver func(ctx context.Context, t Takeover) (addr string, err error)
	// Locate, when set, finds the coordinator that holds a lobby at a term
	// of at least minTerm (lanlobby: a look at the LAN beacon), for when
	// the successor's address is unknown or unreachable. What it finds is
	// trusted only after it proves it holds the lobby's secret (prove).
	Locate func(ctx context.Context, lobbyID string, minTerm uint32) (addr string, err error)
}

// EventError is the Kind of the last event a client delivers when its link
// is lost; Event.Err says why. The Events channel closes right after it.
const EventError NoticeKind = "error"

// Event is a notice from the coordinator about one lobby the client is in.
type Event struct {
	Kind   NoticeKind
	Lobby  Info     // the lobby's state after the change
	Member Member   // member_joined, member_left
	Reason Reason   // member_left, closed
	Peers  []Member // started: every member
	// Err says why: for EventError, why the link was lost; for
	// EventNameLost, why the name could not be kept; for a closed event
	// with ReasonCoordinatorLost, why the lobby could not be restored (the
	// coordinator's error, such as bad_credential).
	Err  error
	Name string // EventNameLost: the registry name
	// Banned: a member_left of a kick that banned the member.
	Banned bool
	// Reservation and Released: reservation_expired, the reservation's
	// id and how many of its seats were released unclaimed.
	Reservation string
	Released    int
	// Next: coordinator_lost: what the client does now (NextResuming,
	// NextFailingOver, NextTakingOver, NextGivingUp).
	Next string
	// Addr: coordinator_moved, the coordinator the lobby lives on now;
	// reconnecting, the coordinator being tried.
	Addr string
	// Attempt and Elapsed: reconnecting, the attempts made and the time
	// since the link was lost.
	Attempt int
	Elapsed time.Duration
}

// Joined is the answer to Create, Join and QuickJoin: everything needed to
// connect to the other players, in one round trip.
type Joined struct {
	Lobby Info
	You   Member   // this member as the coordinator recorded it (id, name, game address)
	Peers []Member // the other members in join order
	// Invite is the invite code of a private lobby created without a
	// password: hand it to the players with the lobby id.
	Invite string
	// Reservation holds the seats reserved for this player's party (a
	// join with Seats > 1; nil otherwise): hand its Token to the party,
	// whose members join the lobby with it (JoinOptions.Reservation).
	Reservation *Reservation
}

// JoinOptions says where this player's game listens. Give Port (the
// coordinator pairs it with the address it sees this client at) or a full
// Addr ("ip:port").
type JoinOptions struct {
	Port int
	Addr string
	// Password joins a private lobby (its password or invite code).
	Password string
	// Filter is what the lobby must pass: QuickJoin picks among the
	// lobbies that do; Join of one that does not (any more) fails with
	// ErrFilterMismatch.
	Filter Filter
	// Seats is how many seats to take (0 or 1: this player's): Seats-1
	// more are reserved in the same lobby for this player's party, all at
	// once or not at all (Joined.Reservation).
	Seats int
	// Party names the party's members by player key: the reserved seats
	// are held for them and they claim them by joining the lobby. Seats
	// not named are claimed with the reservation's token.
	Party []string
	// Reservation claims a seat reserved for this player with the token
	// the party's leader (or the lobby's owner) handed out: it gets in
	// even when the lobby looks full.
	Reservation string
}

// CreateOptions describes a lobby to create.
type CreateOptions struct {
	Game     string
	Name     string
	Capacity int
	Meta     map[string]string
	// Version is the game version players' filters compare ("" for none).
	Version string
	// Filterable names the metadata keys to advertise on the LAN, so that
	// LAN filters see them (see rules.MaxFilterableKeys).
	Filterable []string
	// Private makes the lobby joinable only by id and password: with
	// JoinOptions.Password set, that password; without, the coordinator
	// makes an invite code (Joined.Invite). Private lobbies are not listed,
	// quick-joined or advertised.
	Private bool
	// AutoStart starts the lobby when its last seat is taken (every member
	// gets started); without it the owner starts it (Client.Start), full
	// or not.
	AutoStart bool
	JoinOptions
}

// Client is a connection to a coordinator. All methods are safe for
// concurrent use. Heartbeats are answered automatically. When the link
// drops while the client is in a lobby, the client reconnects by itself
// with backoff: it resumes its seats within the coordinator's grace
// period (EventResumed), or, when the coordinator restarted and lost its
// state, re-creates and re-joins its lobbies, owners first
// (EventCoordinatorRestarted). Calls made meanwhile wait for the new link
// (within their own deadline).
type Client struct {
	cfg  ClientConfig
	addr string
	log  *slog.Logger

	mu        sync.Mutex // guards the fields below
	link      *link      // the current link
	you       Member
	token     string
	heartbeat time.Duration
	misses    int
	grace     time.Duration
	server    string
	instance  string // the coordinator's instance identity, from the last hello, resume or restore
	pending   map[uint64]*pendingCall
	nextID    uint64
	err       error         // terminal: set once, by Close or a link loss that cannot be repaired
	ready     chan struct{} // closed while c.link is usable; a fresh one while reconnecting
	lobbies   map[string]*membership
	names     map[string]string // registry names this client holds → their addresses

	fo     failover      // takeover and moves (failover.go); guarded by mu
	subs   clientSubs    // live subscriptions (subclient.go)
	lost   chan struct{} // closed on a terminal error
	quit   chan struct{} // closed by Close
	events *eventQueue
	wg     sync.WaitGroup // the reconnect goroutine
	once   sync.Once
}

// membership is what the client must remember to get a lobby back after
// the coordinator lost it.
type membership struct {
	owner bool
	info  Info
	addr  string // our game address as the coordinator recorded it
	// password of a private lobby, to get back in after a restart.
	password string
	// peers are the other members as the coordinator last told.
	peers []Member
	// creds prove the seat (and the ownership) to a restarted coordinator.
	creds seatCredentials
}

// Client errors beyond the ones above.
var (
	// ErrLinkDown: the link dropped while a call was in flight; the call
	// may or may not have been carried out. The client is reconnecting.
	ErrLinkDown = errors.New("lobby: link to coordinator dropped during the call")
	// ErrReplaced: another connection resumed this client's member
	// identity (it had the resume token); this client stopped.
	ErrReplaced = errors.New("lobby: another connection took this member's seat over (resume)")
)

// Client events beyond the notices.
const (
	// EventResumed: the link dropped and was resumed; seats were kept and
	// the notices missed meanwhile follow. Lobby is one of the lobbies.
	EventResumed NoticeKind = "resumed"
	// EventCoordinatorRestarted: the coordinator lost its state (it
	// restarted: its instance identity changed) and the client restored
	// this lobby on it. One per lobby.
	EventCoordinatorRestarted NoticeKind = "coordinator_restarted"
	// EventRejoined: the link was down longer than the coordinator's
	// resume grace, so the seat was given up (the others were told
	// member_left); the same coordinator took the client back into this
	// lobby as a new member (the others were told member_joined). Lobby
	// and Peers are as they are now. One per lobby.
	EventRejoined NoticeKind = "rejoined"
)

// ReasonCoordinatorLost is the Reason of a closed event for a lobby the
// client could not restore after a coordinator restart (its owner did not
// come back in time).
const ReasonCoordinatorLost Reason = "coordinator_lost"

// Dial connects to a coordinator at addr ("host:port"; port 7600 when
// omitted) and completes hello. It honours ctx, and DefaultTimeout (or
// cfg.Timeout) when ctx has no deadline.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	c, _, err := dialFirst(ctx, addr, cfg, nil)
	return c, err
}

// DialJoin connects to a coordinator and joins the lobby with that id in
// one round trip after the TCP handshake: hello and join go out together,
// in one write (PROTOCOL.md, the fast path for SDKs), where Dial then
// Join take two. When the connection and hello succeed but the join does
// not (the lobby filled, started or closed, a wrong password...), it
// returns the client with the join's error: join elsewhere with it, or
// Close it. Otherwise the client is nil on error.
func DialJoin(ctx context.Context, addr string, cfg ClientConfig, lobbyID string, o JoinOptions) (*Client, *Joined, error) {
	return dialJoined(ctx, addr, cfg, o.withMatch(&request{Op: OpJoin, Lobby: lobbyID, Port: o.Port, Addr: o.Addr, Password: o.Password}))
}

// DialQuickJoin is DialJoin for a quick-join of game (see QuickJoin).
func DialQuickJoin(ctx context.Context, addr string, cfg ClientConfig, game string, o JoinOptions) (*Client, *Joined, error) {
	return dialJoined(ctx, addr, cfg, o.withMatch(&request{Op: OpQuickJoin, Game: game, Port: o.Port, Addr: o.Addr}))
}

// DialCreate is DialJoin for the creation of a lobby (see Create).
func DialCreate(ctx context.Context, addr string, cfg ClientConfig, o CreateOptions) (*Client, *Joined, error) {
	return dialJoined(ctx, addr, cfg, createRequest(o))
}

func dialJoined(ctx context.Context, addr string, cfg ClientConfig, req *request) (*Client, *Joined, error) {
	c, in, err := dialFirst(ctx, addr, cfg, req)
	if c == nil {
		return nil, nil, err
	}
	if err != nil {
		return c, nil, err
	}
	return c, joinedOf(in), nil
}

// dialFirst connects, says hello and, when first is set, sends first in the
// same write and waits for its reply too: then a client that is up (hello
// done) comes back with first's reply or error.
func dialFirst(ctx context.Context, addr string, cfg ClientConfig, first *request) (*Client, *inbound, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	if cfg.MaxPendingEvents <= 0 {
		cfg.MaxPendingEvents = DefaultMaxPendingEvents
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	if err := ValidatePlayerName(cfg.Player); err != nil {
		return nil, nil, err
	}
	if err := ValidatePlayerKey(cfg.PlayerKey); err != nil {
		return nil, nil, err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, strconv.Itoa(DefaultPort))
	}
	c := &Client{
		cfg:     cfg,
		addr:    addr,
		log:     cfg.Logger,
		pending: make(map[uint64]*pendingCall),
		lobbies: make(map[string]*membership),
		names:   make(map[string]string),
		ready:   make(chan struct{}),
		lost:    make(chan struct{}),
		quit:    make(chan struct{}),
		events:  newEventQueue(cfg.EventBuffer, cfg.MaxPendingEvents),
	}
	go c.events.run()
	ctx, cancel := withDefaultTimeout(ctx, cfg.Timeout)
	defer cancel()
	l, err := c.dialLink(ctx)
	if err != nil {
		c.events.stop()
		return nil, nil, err
	}
	c.link = l
	hello := &request{Op: OpHello, V: ProtocolVersion, Client: ClientName, Player: cfg.Player}
	hello.Key = cfg.PlayerKey
	// The hello reply is adopted on the reader, before it reads the reply
	// to first, whose handling needs the member id.
	var adoptErr error
	hc := c.register(l, hello, func(in *inbound) {
		if in.Error == nil && in.OK {
			adoptErr = c.adopt(l, in)
		}
	})
	defer c.unregister(hc)
	var fc *pendingCall
	frames := [][]byte{marshal(hello)}
	if first != nil {
		fc = c.register(l, first, c.onJoined(first))
		defer c.unregister(fc)
		frames = append(frames, marshal(first))
	}
	// One write: hello first, then the request (the coordinator carries
	// out a connection's requests in order).
	l.conn.Cork()
	for _, f := range frames {
		err = errors.Join(err, l.conn.Send(f))
	}
	l.conn.Uncork()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w (hello)", ErrLinkDown)
	}
	_, err = c.await(ctx, hc, OpHello)
	if err == nil {
		err = adoptErr
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	close(c.ready)
	if fc == nil {
		return c, nil, nil
	}
	in, err := c.await(ctx, fc, first.Op)
	return c, in, err
}

// ID is this client's member id on the coordinator.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.you.ID
}

// Heartbeat reports the coordinator's ping interval and tolerated misses.
func (c *Client) Heartbeat() (time.Duration, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heartbeat, c.misses
}

// Events delivers notices for the lobbies this client is in, and
// EventResumed / EventCoordinatorRestarted after a repaired link. When the
// link is lost for good it delivers one Event of Kind EventError, then
// closes. It closes without that event after Close.
func (c *Client) Events() <-chan Event { return c.events.out }

// DroppedEvents counts events discarded because nobody read Events.
func (c *Client) DroppedEvents() int64 { return c.events.droppedCount() }

// Done is closed when the client has lost the coordinator for good (or
// was closed); Err says why.
func (c *Client) Done() <-chan struct{} { return c.lost }

// Err is nil while the client works (also while it is reconnecting), then
// why it stopped.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close leaves every lobby (the coordinator sees the link end and tells the
// others at once) and releases the client. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = ErrClientClosed
		}
		l := c.link
		c.mu.Unlock()
		close(c.quit)
		if l != nil {
			l.conn.Close(tcpconn.ReasonClosed)
			<-l.conn.Done()
		}
		c.wg.Wait()
		c.finish()
		c.events.stop()
		c.finishSubscriptions(true)
	})
	return nil
}

// finish marks the client stopped (c.err set) and releases waiters.
func (c *Client) finish() {
	c.mu.Lock()
	select {
	case <-c.lost:
	default:
		close(c.lost)
	}
	c.mu.Unlock()
}

// Create makes a lobby with this client as owner and first member.
func (c *Client) Create(ctx context.Context, o CreateOptions) (*Joined, error) {
	return c.join(ctx, createRequest(o))
}

func createRequest(o CreateOptions) *request {
	req := &request{Op: OpCreate, Game: o.Game, Name: o.Name, Capacity: o.Capacity,
		Meta: o.Meta, Port: o.Port, Addr: o.Addr, Password: o.Password, Private: o.Private, AutoStart: o.AutoStart}
	req.Version, req.Filterable = o.Version, o.Filterable
	return req
}

// Join enters the lobby with that id.
func (c *Client) Join(ctx context.Context, lobbyID string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, o.withMatch(&request{Op: OpJoin, Lobby: lobbyID, Port: o.Port, Addr: o.Addr, Password: o.Password}))
}

// QuickJoin enters the open lobby of game closest to starting among those
// that pass o.Filter and have o.Seats seats free.
func (c *Client) QuickJoin(ctx context.Context, game string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, o.withMatch(&request{Op: OpQuickJoin, Game: game, Port: o.Port, Addr: o.Addr}))
}

func (c *Client) join(ctx context.Context, req *request) (*Joined, error) {
	in, err := c.callWith(ctx, req, c.onJoined(req))
	if err != nil {
		return nil, err
	}
	return joinedOf(in), nil
}

// onJoined is what the reader does with the reply to a create, join or
// quick-join before anything else: remember the lobby.
func (c *Client) onJoined(req *request) func(*inbound) {
	return func(in *inbound) {
		if in.OK && in.You != nil {
			password := req.Password
			if in.Invite != "" {
				password = in.Invite
			}
			c.remember(in.lobbyState.info(), req.Op == OpCreate, in.You.Addr, password, in.Peers, in.seatCredentials)
		}
	}
}

func joinedOf(in *inbound) *Joined {
	j := &Joined{Lobby: in.lobbyState.info(), Peers: in.Peers, Invite: in.Invite, Reservation: in.Reservation.reservation(time.Now())}
	if in.You != nil {
		j.You = *in.You
	}
	return j
}

func (c *Client) remember(info Info, owner bool, addr, password string, peers []Member, creds seatCredentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.lobbies[info.ID]; old != nil {
		if password == "" {
			password = old.password
		}
		if creds.Credential == "" {
			creds = old.creds
		}
	}
	c.lobbies[info.ID] = &membership{owner: owner || info.Owner == c.you.ID, info: info, addr: addr, password: password,
		peers: slices.Clone(peers), creds: creds}
}

// Peers returns the other members of a lobby the client is in, in join
// order, as the coordinator's replies and notices told (nil when the
// client is not in it). A game that does not follow Events reads the
// current peer list here.
func (c *Client) Peers(lobbyID string) []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.lobbies[lobbyID]; m != nil {
		return slices.Clone(m.peers)
	}
	return nil
}

func (c *Client) forget(lobbyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lobbies, lobbyID)
}

// Lobbies lists the ids of the lobbies the client is in.
func (c *Client) Lobbies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.lobbies))
	for id := range c.lobbies {
		ids = append(ids, id)
	}
	return ids
}

// Leave leaves a lobby; the others get member_left with reason left.
func (c *Client) Leave(ctx context.Context, lobbyID string) error {
	_, err := c.callWith(ctx, &request{Op: OpLeave, Lobby: lobbyID}, func(in *inbound) {
		if in.OK {
			c.forget(lobbyID)
		}
	})
	return err
}

// Kick removes a member from a lobby this client owns.
func (c *Client) Kick(ctx context.Context, lobbyID, memberID string) error {
	_, err := c.call(ctx, &request{Op: OpKick, Lobby: lobbyID, Member: memberID})
	return err
}

// Start marks a lobby this client owns as started.
func (c *Client) Start(ctx context.Context, lobbyID string) error {
	_, err := c.call(ctx, &request{Op: OpStart, Lobby: lobbyID})
	return err
}

// CloseLobby ends a lobby this client owns; every member gets closed.
func (c *Client) CloseLobby(ctx context.Context, lobbyID string) error {
	_, err := c.call(ctx, &request{Op: OpClose, Lobby: lobbyID})
	return err
}

// SetMeta replaces the metadata of a lobby this client owns.
func (c *Client) SetMeta(ctx context.Context, lobbyID string, meta map[string]string) error {
	_, err := c.call(ctx, &request{Op: OpSetMeta, Lobby: lobbyID, Meta: meta})
	return err
}

// MaxListed bounds how many lobbies List gathers: a coordinator could
// otherwise feed a client pages for ever.
const MaxListed = 200_000

// List returns the coordinator's lobbies of game ("" for all), oldest
// first. It asks page after page (each reply fits one line; see
// PROTOCOL.md, list) until the last, within one deadline for all.
func (c *Client) List(ctx context.Context, game string) ([]Info, error) {
	return c.ListFiltered(ctx, game, Filter{})
}

// Ping measures one request round trip to the coordinator.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.call(ctx, &request{Op: OpPing})
	return time.Since(start), err
}
