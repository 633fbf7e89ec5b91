package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
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
	// DefaultEventBuffer is the capacity of the Events channel.
	DefaultEventBuffer = 64
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
	Err    error    // EventError only
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
}

// JoinOptions says where this player's game listens. Give Port (the
// coordinator pairs it with the address it sees this client at) or a full
// Addr ("ip:port").
type JoinOptions struct {
	Port int
	Addr string
	// Password joins a private lobby (its password or invite code).
	Password string
}

// CreateOptions describes a lobby to create.
type CreateOptions struct {
	Game     string
	Name     string
	Capacity int
	Meta     map[string]string
	// Private makes the lobby joinable only by id and password: with
	// JoinOptions.Password set, that password; without, the coordinator
	// makes an invite code (Joined.Invite). Private lobbies are not listed,
	// quick-joined or advertised.
	Private bool
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
	pending   map[uint64]*pendingCall
	nextID    uint64
	err       error         // terminal: set once, by Close or a link loss that cannot be repaired
	ready     chan struct{} // closed while c.link is usable; a fresh one while reconnecting
	lobbies   map[string]*membership

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
}

type pendingCall struct {
	ch   chan *inbound
	link *link
	// onReply runs on the reader goroutine before later lines are read,
	// so state it sets is in place before the next notice is handled.
	onReply func(*inbound)
}

// link is one TCP connection of a Client.
type link struct {
	c    *Client
	conn *tcpconn.Conn
	down chan struct{} // closed when the connection has closed
}

func (l *link) HandleLine(line []byte) error { return l.c.handleLine(l, line) }

func (l *link) HandleClose(reason tcpconn.CloseReason, err error) {
	close(l.down)
	l.c.linkClosed(l, reason)
}

// Client errors beyond the ones above.
var (
	// ErrLinkDown: the link dropped while a call was in flight; the call
	// may or may not have been carried out. The client is reconnecting.
	ErrLinkDown = errors.New("lobby: link to coordinator dropped during the call")
)

// Client events beyond the notices.
const (
	// EventResumed: the link dropped and was resumed; seats were kept and
	// the notices missed meanwhile follow. Lobby is one of the lobbies.
	EventResumed NoticeKind = "resumed"
	// EventCoordinatorRestarted: the coordinator lost its state (it
	// restarted) and the client restored this lobby on it. One per lobby.
	EventCoordinatorRestarted NoticeKind = "coordinator_restarted"
)

// ReasonCoordinatorLost is the Reason of a closed event for a lobby the
// client could not restore after a coordinator restart (its owner did not
// come back in time).
const ReasonCoordinatorLost Reason = "coordinator_lost"

// Dial connects to a coordinator at addr ("host:port"; port 7600 when
// omitted) and completes hello. It honours ctx, and DefaultTimeout (or
// cfg.Timeout) when ctx has no deadline.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
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
		return nil, err
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
		return nil, err
	}
	c.link = l
	in, err := c.callOn(ctx, l, &request{Op: OpHello, V: ProtocolVersion, Client: ClientName, Player: cfg.Player}, nil)
	if err == nil {
		err = c.adopt(l, in)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	close(c.ready)
	return c, nil
}

// dialLink opens a TCP connection and starts its link.
func (c *Client) dialLink(ctx context.Context) (*link, error) {
	nc, err := c.cfg.Dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("lobby: dial coordinator %s: %w", c.addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	l := &link{c: c, down: make(chan struct{})}
	// Until hello tells us the heartbeat, any silence longer than the call
	// timeout means the coordinator is not there.
	l.conn = tcpconn.New(nc, tcpconn.Config{IdleTimeout: c.cfg.Timeout})
	l.conn.Start(l)
	return l, nil
}

// adopt takes the identity and heartbeat from a hello, resume or restore
// reply for link l.
func (c *Client) adopt(l *link, in *inbound) error {
	if in.V < MinProtocolVersion || in.V > ProtocolVersion || in.You == nil {
		return fmt.Errorf("lobby: coordinator answered with version %d, want %d..%d", in.V, MinProtocolVersion, ProtocolVersion)
	}
	c.mu.Lock()
	c.you, c.server, c.token = *in.You, in.Server, in.Resume
	c.heartbeat = time.Duration(in.HeartbeatMS) * time.Millisecond
	c.misses = in.Misses
	c.grace = time.Duration(in.GraceMS) * time.Millisecond
	hb, misses := c.heartbeat, c.misses
	c.mu.Unlock()
	if hb > 0 && misses > 0 {
		// The coordinator pings every heartbeat; hearing nothing for one
		// interval more than it tolerates from us means it is gone.
		l.conn.SetIdleTimeout(hb*time.Duration(misses+1) + 250*time.Millisecond)
	}
	return nil
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
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
	return c.join(ctx, &request{Op: OpCreate, Game: o.Game, Name: o.Name, Capacity: o.Capacity,
		Meta: o.Meta, Port: o.Port, Addr: o.Addr, Password: o.Password, Private: o.Private})
}

// Join enters the lobby with that id.
func (c *Client) Join(ctx context.Context, lobbyID string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, &request{Op: OpJoin, Lobby: lobbyID, Port: o.Port, Addr: o.Addr, Password: o.Password})
}

// QuickJoin enters the open lobby of game closest to starting.
func (c *Client) QuickJoin(ctx context.Context, game string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, &request{Op: OpQuickJoin, Game: game, Port: o.Port, Addr: o.Addr})
}

func (c *Client) join(ctx context.Context, req *request) (*Joined, error) {
	in, err := c.callWith(ctx, req, func(in *inbound) {
		if in.OK && in.You != nil {
			password := req.Password
			if in.Invite != "" {
				password = in.Invite
			}
			c.remember(in.lobbyState.info(), req.Op == OpCreate, in.You.Addr, password)
		}
	})
	if err != nil {
		return nil, err
	}
	j := &Joined{Lobby: in.lobbyState.info(), Peers: in.Peers, Invite: in.Invite}
	if in.You != nil {
		j.You = *in.You
	}
	return j, nil
}

func (c *Client) remember(info Info, owner bool, addr, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if password == "" {
		if old := c.lobbies[info.ID]; old != nil {
			password = old.password
		}
	}
	c.lobbies[info.ID] = &membership{owner: owner || info.Owner == c.you.ID, info: info, addr: addr, password: password}
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

// List returns the coordinator's lobbies of game ("" for all), oldest first.
func (c *Client) List(ctx context.Context, game string) ([]Info, error) {
	in, err := c.call(ctx, &request{Op: OpList, Game: game})
	if err != nil {
		return nil, err
	}
	out := make([]Info, len(in.Lobbies))
	for i, l := range in.Lobbies {
		out[i] = l.info()
	}
	return out, nil
}

// Ping measures one request round trip to the coordinator.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.call(ctx, &request{Op: OpPing})
	return time.Since(start), err
}

func (c *Client) call(ctx context.Context, req *request) (*inbound, error) {
	return c.callWith(ctx, req, nil)
}

// callWith waits for a usable link (the client may be reconnecting), then
// sends one request and waits for its reply, the context, or the loss of
// the link, whichever comes first. onReply runs on the reader goroutine.
func (c *Client) callWith(ctx context.Context, req *request, onReply func(*inbound)) (*inbound, error) {
	ctx, cancel := withDefaultTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.mu.Lock()
	ready, err := c.ready, c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, ctxErr(ctx, req.Op)
	case <-c.lost:
		return nil, c.Err()
	}
	c.mu.Lock()
	l := c.link
	c.mu.Unlock()
	return c.callOn(ctx, l, req, onReply)
}

func ctxErr(ctx context.Context, op string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%s)", ErrTimeout, op)
	}
	return ctx.Err()
}

// callOn sends req on link l and waits for the reply.
func (c *Client) callOn(ctx context.Context, l *link, req *request, onReply func(*inbound)) (*inbound, error) {
	pc := &pendingCall{ch: make(chan *inbound, 1), link: l, onReply: onReply}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = pc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	req.ID = json.RawMessage(strconv.FormatUint(id, 10))
	if err := l.conn.SendNow(marshal(req)); err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrLinkDown, req.Op)
	}
	select {
	case in := <-pc.ch:
		if in.Error != nil {
			return nil, in.Error
		}
		if !in.OK {
			return nil, errorf(CodeInternal, "reply to %s neither ok nor error", req.Op)
		}
		return in, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx, req.Op)
	case <-l.down:
		if err := c.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w (%s)", ErrLinkDown, req.Op)
	}
}

// handleLine runs on link l's reader: it answers pings, routes replies to
// their callers and turns notices into events.
func (c *Client) handleLine(l *link, line []byte) error {
	if seq, ok := isPing(line); ok {
		l.conn.Send(encodePong(seq))
		return nil
	}
	in := new(inbound)
	if err := json.Unmarshal(line, in); err != nil {
		return fmt.Errorf("lobby: undecodable message from coordinator: %w", err)
	}
	switch {
	case in.Event == "ping":
		l.conn.Send(encodePong(in.Seq))
	case in.Event != "":
		c.notice(in)
	default:
		id, err := strconv.ParseUint(string(in.ID), 10, 64)
		if err != nil {
			// A reply we cannot route (id null): the coordinator could
			// not parse something we sent. Log it; the call will time out.
			c.log.Warn("coordinator reply without usable id", "error", in.Error)
			return nil
		}
		c.mu.Lock()
		pc := c.pending[id]
		c.mu.Unlock()
		if pc != nil && pc.link == l {
			if pc.onReply != nil {
				pc.onReply(in)
			}
			pc.ch <- in // buffered, one reply per id
		}
	}
	return nil
}

// notice turns a push into an event and keeps the membership list current.
func (c *Client) notice(in *inbound) {
	ev := Event{Kind: NoticeKind(in.Event), Lobby: in.lobbyState.info(), Reason: in.Reason, Peers: in.Peers}
	if in.Member != nil {
		ev.Member = *in.Member
	}
	c.mu.Lock()
	me := c.you.ID
	if m := c.lobbies[ev.Lobby.ID]; m != nil {
		switch {
		case ev.Kind == NoticeClosed, ev.Kind == NoticeMemberLeft && ev.Member.ID == me:
			delete(c.lobbies, ev.Lobby.ID)
		default:
			m.info = ev.Lobby
			m.owner = ev.Lobby.Owner == me
		}
	}
	c.mu.Unlock()
	c.events.push(ev)
}

// linkClosed runs once per link, when it has closed.
func (c *Client) linkClosed(l *link, reason tcpconn.CloseReason) {
	c.mu.Lock()
	if l != c.link || c.err != nil {
		c.mu.Unlock()
		return
	}
	if c.grace <= 0 || c.token == "" || len(c.lobbies) == 0 {
		c.err = fmt.Errorf("%w (%s)", ErrConnectionLost, reason)
		err := c.err
		c.mu.Unlock()
		c.finish()
		c.events.push(Event{Kind: EventError, Err: err})
		c.events.finish()
		return
	}
	c.ready = make(chan struct{})
	budget := c.grace + c.heartbeat*time.Duration(c.misses+1)
	c.wg.Add(1)
	c.mu.Unlock()
	c.log.Info("link to coordinator dropped; reconnecting", "reason", reason.String(), "budget", budget)
	go func() {
		defer c.wg.Done()
		c.reconnect(budget)
	}()
}

// reconnect gets a new link within budget: resume if the coordinator still
// holds our seats, restore the lobbies if it restarted, else give up.
func (c *Client) reconnect(budget time.Duration) {
	deadline := time.Now().Add(budget)
	backoff := 20 * time.Millisecond
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff + rand.N(backoff/2+1)):
			case <-c.quit:
				return
			}
			backoff = min(2*backoff, time.Second)
		}
		select {
		case <-c.quit:
			return
		default:
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := c.reattach(ctx, deadline)
		cancel()
		if err == nil {
			return
		}
		lastErr = err
		c.log.Debug("reconnect attempt failed", "attempt", attempt, "err", err)
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w (gave up reconnecting: %v)", ErrConnectionLost, lastErr)
	}
	err := c.err
	c.mu.Unlock()
	c.finish()
	c.events.push(Event{Kind: EventError, Err: err})
	c.events.finish()
}

// reattach makes one attempt: dial, then resume or restore.
func (c *Client) reattach(ctx context.Context, deadline time.Time) error {
	dctx, cancel := context.WithTimeout(ctx, min(c.cfg.Timeout, 2*time.Second))
	l, err := c.dialLink(dctx)
	cancel()
	if err != nil {
		return err
	}
	c.mu.Lock()
	me, token := c.you, c.token
	c.mu.Unlock()
	var resumed []Event
	in, err := c.callOn(ctx, l, &request{Op: OpResume, V: ProtocolVersion, Member: me.ID, Token: token}, func(in *inbound) {
		if !in.OK || in.Resumed == nil {
			return
		}
		// Before the missed notices (which follow this reply) are read.
		for _, ls := range in.Resumed.Lobbies {
			resumed = append(resumed, Event{Kind: EventResumed, Lobby: ls.info()})
		}
		for _, ev := range resumed {
			c.events.push(ev)
		}
	})
	switch {
	case err == nil:
		if err := c.install(l, in); err != nil {
			return err
		}
		c.log.Info("resumed", "member", me.ID, "missed", in.Resumed.Missed)
		return nil
	case errors.Is(err, ErrResumeFailed):
		return c.restore(ctx, l, deadline)
	default:
		l.conn.Close(tcpconn.ReasonClosed)
		return err
	}
}

// install makes l the client's link after a successful resume or restore.
func (c *Client) install(l *link, in *inbound) error {
	if err := c.adopt(l, in); err != nil {
		l.conn.Close(tcpconn.ReasonClosed)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.quit:
		l.conn.Close(tcpconn.ReasonClosed)
		return ErrClientClosed
	default:
	}
	c.link = l
	close(c.ready)
	return nil
}

// restore re-creates (as owner) and re-joins (as member) every lobby on a
// coordinator that lost them, under the same member id. Members whose
// owner has not restored the lobby yet retry until the deadline; lobbies
// that never come back are reported closed (ReasonCoordinatorLost).
func (c *Client) restore(ctx context.Context, l *link, deadline time.Time) error {
	c.mu.Lock()
	me, token := c.you, c.token
	var owned, joined []restoreLobby
	for id, m := range c.lobbies {
		e := restoreLobby{Lobby: id, Owner: m.owner, Game: m.info.Game, Name: m.info.Name, Capacity: m.info.Capacity,
			Meta: m.info.Meta, Addr: m.addr, Started: m.info.State == StateStarted, Password: m.password}
		if m.owner {
			owned = append(owned, e)
		} else {
			joined = append(joined, e)
		}
	}
	c.mu.Unlock()
	todo := append(owned, joined...) // owners first
	req := &request{Op: OpRestore, V: ProtocolVersion, Client: ClientName, Player: me.Name, Member: me.ID, Token: token, Restore: todo}
	in, err := c.callOn(ctx, l, req, nil)
	if err != nil {
		l.conn.Close(tcpconn.ReasonClosed)
		return err
	}
	if err := c.install(l, in); err != nil {
		return err
	}
	backoff := 25 * time.Millisecond
	for {
		var retry []restoreLobby
		for i, r := range in.Restored {
			switch {
			case r.Error == nil:
				info := r.lobbyState.info()
				c.remember(info, info.Owner == c.ID(), todo[i].Addr, todo[i].Password)
				c.events.push(Event{Kind: EventCoordinatorRestarted, Lobby: info, Peers: r.Peers})
			case r.Error.Code == CodeUnknownLobby && time.Now().Before(deadline):
				retry = append(retry, todo[i]) // its owner is not back yet
			default:
				c.lost1(todo[i])
			}
		}
		if len(retry) == 0 {
			c.log.Info("restored lobbies on a restarted coordinator", "member", me.ID)
			return nil
		}
		select {
		case <-time.After(backoff):
		case <-c.quit:
			return nil
		}
		backoff = min(2*backoff, 500*time.Millisecond)
		todo = retry
		in, err = c.call(ctx, &request{Op: OpRestore, Restore: todo})
		if err != nil {
			for _, r := range todo {
				c.lost1(r)
			}
			return nil // the link itself is fine; what could not come back is reported
		}
	}
}

// lost1 reports a lobby that could not be restored.
func (c *Client) lost1(r restoreLobby) {
	c.forget(r.Lobby)
	c.events.push(Event{Kind: NoticeClosed, Lobby: Info{ID: r.Lobby, Game: r.Game, Name: r.Name, Capacity: r.Capacity, State: StateClosed},
		Reason: ReasonCoordinatorLost})
}

// eventQueue decouples the link's reader from whoever reads Events: pushes
// never block, and one goroutine (run) feeds the channel.
type eventQueue struct {
	out chan Event

	mu      sync.Mutex // guards the fields below
	queue   []Event
	max     int
	dropped int64
	done    bool          // no more pushes; close out once drained
	wake    chan struct{} // signals run
	quit    chan struct{} // closed by stop: give up delivering
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

func newEventQueue(buffer, max int) *eventQueue {
	return &eventQueue{out: make(chan Event, buffer), max: max, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), stopped: make(chan struct{})}
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return
	}
	if len(q.queue) >= q.max {
		q.queue = q.queue[1:]
		q.dropped++
	}
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// finish marks the end of pushes: run closes out after delivering the rest.
func (q *eventQueue) finish() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.signal()
}

// stop abandons undelivered events and waits for run to return.
func (q *eventQueue) stop() {
	q.finish()
	q.once.Do(func() { close(q.quit) })
	<-q.stopped
}

func (q *eventQueue) droppedCount() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

func (q *eventQueue) run() {
	defer close(q.stopped)
	defer close(q.out)
	for {
		q.mu.Lock()
		batch := q.queue
		q.queue = nil
		done := q.done
		q.mu.Unlock()
		for _, ev := range batch {
			select {
			case q.out <- ev:
			case <-q.quit:
				return
			}
		}
		if done && len(batch) == 0 {
			return
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-q.wake:
		case <-q.quit:
			return
		}
	}
}
