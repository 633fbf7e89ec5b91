package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
}

// JoinOptions says where this player's game listens. Give Port (the
// coordinator pairs it with the address it sees this client at) or a full
// Addr ("ip:port").
type JoinOptions struct {
	Port int
	Addr string
}

// CreateOptions describes a lobby to create.
type CreateOptions struct {
	Game     string
	Name     string
	Capacity int
	Meta     map[string]string
	JoinOptions
}

// Client is a connection to a coordinator. All methods are safe for
// concurrent use. Heartbeats are answered automatically.
type Client struct {
	cfg  ClientConfig
	conn *tcpconn.Conn
	log  *slog.Logger

	you       Member
	heartbeat time.Duration
	misses    int
	server    string

	mu      sync.Mutex // guards pending, nextID, err
	pending map[uint64]chan *inbound
	nextID  uint64
	err     error

	lost   chan struct{} // closed when the link is gone (any reason)
	events *eventQueue
}

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
	ctx, cancel := withDefaultTimeout(ctx, cfg.Timeout)
	defer cancel()
	nc, err := cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lobby: dial coordinator %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		pending: make(map[uint64]chan *inbound),
		lost:    make(chan struct{}),
		events:  newEventQueue(cfg.EventBuffer, cfg.MaxPendingEvents),
	}
	// Until hello tells us the heartbeat, any silence longer than the call
	// timeout means the coordinator is not there.
	c.conn = tcpconn.New(nc, tcpconn.Config{IdleTimeout: cfg.Timeout})
	c.conn.Start(c)
	go c.events.run()

	in, err := c.call(ctx, &request{Op: OpHello, V: ProtocolVersion, Client: ClientName, Player: cfg.Player})
	if err != nil {
		c.Close()
		return nil, err
	}
	if in.V < MinProtocolVersion || in.V > ProtocolVersion || in.You == nil {
		c.Close()
		return nil, fmt.Errorf("lobby: coordinator answered hello with version %d, want %d..%d", in.V, MinProtocolVersion, ProtocolVersion)
	}
	c.you = *in.You
	c.server = in.Server
	c.heartbeat = time.Duration(in.HeartbeatMS) * time.Millisecond
	c.misses = in.Misses
	if c.heartbeat > 0 && c.misses > 0 {
		// The coordinator pings every heartbeat; hearing nothing for one
		// interval more than it tolerates from us means it is gone.
		c.conn.SetIdleTimeout(c.heartbeat*time.Duration(c.misses+1) + 250*time.Millisecond)
	}
	return c, nil
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ID is this client's member id on the coordinator.
func (c *Client) ID() string { return c.you.ID }

// Heartbeat reports the coordinator's ping interval and tolerated misses.
func (c *Client) Heartbeat() (time.Duration, int) { return c.heartbeat, c.misses }

// Events delivers notices for the lobbies this client is in. When the link
// is lost it delivers one Event of Kind EventError, then closes. It closes
// without that event after Close.
func (c *Client) Events() <-chan Event { return c.events.out }

// DroppedEvents counts events discarded because nobody read Events.
func (c *Client) DroppedEvents() int64 { return c.events.droppedCount() }

// Done is closed when the link to the coordinator is gone; Err says why.
func (c *Client) Done() <-chan struct{} { return c.lost }

// Err is nil while the link is up, then why it ended.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close leaves every lobby (the coordinator sees the link end and tells the
// others at once) and releases the client. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClientClosed
	}
	c.mu.Unlock()
	c.conn.Close(tcpconn.ReasonClosed)
	<-c.conn.Done()
	c.events.stop()
	return nil
}

// Create makes a lobby with this client as owner and first member.
func (c *Client) Create(ctx context.Context, o CreateOptions) (*Joined, error) {
	return c.join(ctx, &request{Op: OpCreate, Game: o.Game, Name: o.Name, Capacity: o.Capacity,
		Meta: o.Meta, Port: o.Port, Addr: o.Addr})
}

// Join enters the lobby with that id.
func (c *Client) Join(ctx context.Context, lobbyID string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, &request{Op: OpJoin, Lobby: lobbyID, Port: o.Port, Addr: o.Addr})
}

// QuickJoin enters the open lobby of game closest to starting.
func (c *Client) QuickJoin(ctx context.Context, game string, o JoinOptions) (*Joined, error) {
	return c.join(ctx, &request{Op: OpQuickJoin, Game: game, Port: o.Port, Addr: o.Addr})
}

func (c *Client) join(ctx context.Context, req *request) (*Joined, error) {
	in, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	j := &Joined{Lobby: in.lobbyState.info(), Peers: in.Peers}
	if in.You != nil {
		j.You = *in.You
	}
	return j, nil
}

// Leave leaves a lobby; the others get member_left with reason left.
func (c *Client) Leave(ctx context.Context, lobbyID string) error {
	_, err := c.call(ctx, &request{Op: OpLeave, Lobby: lobbyID})
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

// call sends one request and waits for its reply, the context, or the loss
// of the link, whichever comes first.
func (c *Client) call(ctx context.Context, req *request) (*inbound, error) {
	ctx, cancel := withDefaultTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ch := make(chan *inbound, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	req.ID = json.RawMessage(strconv.FormatUint(id, 10))
	if err := c.conn.SendNow(marshal(req)); err != nil {
		return nil, c.linkErr(err)
	}
	select {
	case in := <-ch:
		if in.Error != nil {
			return nil, in.Error
		}
		if !in.OK {
			return nil, errorf(CodeInternal, "reply to %s neither ok nor error", req.Op)
		}
		return in, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (%s)", ErrTimeout, req.Op)
		}
		return nil, ctx.Err()
	case <-c.lost:
		return nil, c.Err()
	}
}

func (c *Client) linkErr(fallback error) error {
	if err := c.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %v", ErrConnectionLost, fallback)
}

// HandleLine implements tcpconn.Handler: it answers pings, routes replies
// to their callers and queues notices.
func (c *Client) HandleLine(line []byte) error {
	if seq, ok := isPing(line); ok {
		c.conn.Send(encodePong(seq))
		return nil
	}
	in := new(inbound)
	if err := json.Unmarshal(line, in); err != nil {
		return fmt.Errorf("lobby: undecodable message from coordinator: %w", err)
	}
	switch {
	case in.Event == "ping":
		c.conn.Send(encodePong(in.Seq))
	case in.Event != "":
		ev := Event{Kind: NoticeKind(in.Event), Lobby: in.lobbyState.info(), Reason: in.Reason, Peers: in.Peers}
		if in.Member != nil {
			ev.Member = *in.Member
		}
		c.events.push(ev)
	default:
		id, err := strconv.ParseUint(string(in.ID), 10, 64)
		if err != nil {
			// A reply we cannot route (id null): the coordinator could
			// not parse something we sent. Log it; the call will time out.
			c.log.Warn("coordinator reply without usable id", "error", in.Error)
			return nil
		}
		c.mu.Lock()
		ch := c.pending[id]
		c.mu.Unlock()
		if ch != nil {
			ch <- in // buffered, one reply per id
		}
	}
	return nil
}

// HandleClose implements tcpconn.Handler.
func (c *Client) HandleClose(reason tcpconn.CloseReason, err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w (%s)", ErrConnectionLost, reason)
	}
	final := c.err
	c.mu.Unlock()
	close(c.lost)
	if !errors.Is(final, ErrClientClosed) {
		c.events.push(Event{Kind: EventError, Err: final})
	}
	c.events.finish()
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
