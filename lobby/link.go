package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

type pendingCall struct {
	id   uint64
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
	// replaced is set when the coordinator says another connection took
	// our member identity over (resume): the client then stops rather
	// than fight it for the seat.
	replaced atomic.Bool
	addr     string // the coordinator dialled
}

func (l *link) HandleLine(line []byte) error { return l.c.handleLine(l, line) }

func (l *link) HandleClose(reason tcpconn.CloseReason, err error) {
	close(l.down)
	l.c.linkClosed(l, reason)
}

// dialLink opens a TCP connection to the coordinator and starts its link.
func (c *Client) dialLink(ctx context.Context) (*link, error) {
	return c.dialLinkTo(ctx, c.currentAddr())
}

// dialLinkTo opens a TCP connection to the coordinator at addr and starts
// its link.
func (c *Client) dialLinkTo(ctx context.Context, addr string) (*link, error) {
	nc, err := c.cfg.Dial(ctx, "tcp", addr) // set by dialFirst
	if err != nil {
		return nil, fmt.Errorf("lobby: dial coordinator %s: %w", addr, err)
	}
	// (Package net sets TCP_NODELAY on every TCP connection already.)
	l := &link{c: c, down: make(chan struct{}), addr: addr}
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
	if in.Instance != "" {
		c.instance = in.Instance
	}
	c.heartbeat = time.Duration(in.HeartbeatMS) * time.Millisecond
	c.misses = in.Misses
	c.grace = time.Duration(in.GraceMS) * time.Millisecond
	c.fo.takeover = in.Takeover
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
	pc := c.register(l, req, onReply)
	defer c.unregister(pc)
	if err := l.conn.SendNow(marshal(req)); err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrLinkDown, req.Op)
	}
	return c.await(ctx, pc, req.Op)
}

// register gives req an id and records it as a call in flight on link l.
func (c *Client) register(l *link, req *request, onReply func(*inbound)) *pendingCall {
	pc := &pendingCall{ch: make(chan *inbound, 1), link: l, onReply: onReply}
	c.mu.Lock()
	c.nextID++
	pc.id = c.nextID
	c.pending[pc.id] = pc
	c.mu.Unlock()
	req.ID = json.RawMessage(strconv.FormatUint(pc.id, 10))
	return pc
}

func (c *Client) unregister(pc *pendingCall) {
	c.mu.Lock()
	delete(c.pending, pc.id)
	c.mu.Unlock()
}

// await waits for the reply to call pc, the context, or the loss of the
// call's link.
func (c *Client) await(ctx context.Context, pc *pendingCall, op string) (*inbound, error) {
	select {
	case in := <-pc.ch:
		if in.Error != nil {
			return nil, in.Error
		}
		if !in.OK {
			return nil, errorf(CodeInternal, "reply to %s neither ok nor error", op)
		}
		return in, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx, op)
	case <-pc.link.down:
		if err := c.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w (%s)", ErrLinkDown, op)
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
	if err := decodeInbound(line, in); err != nil {
		return fmt.Errorf("lobby: undecodable message from coordinator: %w", err)
	}
	switch {
	case in.Event == "ping":
		l.conn.Send(encodePong(in.Seq))
	case in.Event == "replaced":
		l.replaced.Store(true)
	case in.Sub != 0 && in.Event != "":
		c.subEvent(in)
	case isMovePush(in.Event):
		c.movePush(l, in)
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

// nextPeers is the peer list after notice ev (me excluded).
func nextPeers(peers []Member, ev Event, me string) []Member {
	switch ev.Kind {
	case NoticeMemberJoined:
		if ev.Member.ID != me && !slices.ContainsFunc(peers, func(m Member) bool { return m.ID == ev.Member.ID }) {
			return append(peers, ev.Member)
		}
	case NoticeMemberLeft:
		return slices.DeleteFunc(peers, func(m Member) bool { return m.ID == ev.Member.ID })
	case NoticeStarted:
		return slices.DeleteFunc(slices.Clone(ev.Peers), func(m Member) bool { return m.ID == me })
	case NoticeMemberBack:
		// A member back after a restart may come from a new address.
		for i, m := range peers {
			if m.ID == ev.Member.ID && ev.Member.Addr != "" {
				peers[i] = ev.Member
			}
		}
	}
	return peers
}

// notice turns a push into an event and keeps the membership list current.
func (c *Client) notice(in *inbound) {
	ev := Event{Kind: NoticeKind(in.Event), Lobby: in.lobbyState.info(), Reason: in.Reason, Peers: in.Peers, Banned: in.Banned}
	if in.Reservation != nil {
		ev.Reservation, ev.Released = in.Reservation.ID, in.Reservation.Released
	}
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
			m.peers = nextPeers(m.peers, ev, me)
			if in.OwnerCredential != "" {
				m.creds.OwnerCredential = in.OwnerCredential // we own it now
			}
		}
	}
	c.mu.Unlock()
	c.events.push(ev)
}
