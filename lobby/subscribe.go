package lobby

import (
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// Live filtered subscriptions. A connection subscribes to a game ("" for
// every game) and a filter; the coordinator answers with a snapshot
// (lobby_added for each lobby that matches now), then pushes lobby_added,
// lobby_updated and lobby_removed as lobbies start to match, change while
// matching, and stop matching. A subscriber hears of the lobbies it asked
// for and of nothing else: subscriptions are indexed by game, and a change
// is matched against the subscriptions of its own game only. Whether a
// lobby matched before a change is its previous state matched against the
// filter again, so the table holds one state per lobby, not one set of
// lobbies per subscriber: its memory grows with subscriptions plus
// lobbies, never with their product.
//
// Output is bounded per connection. While a link takes what it is sent,
// events go out at once. Once its socket is full, they wait: merged per
// lobby (an add and an update are one add; an add then a removal nothing),
// encoded only when sent, with the lobby's state as it is then, and
// retried every subFlushInterval. When the changes waiting come to more
// than ServerConfig.SubscriptionPending bytes, the connection's
// subscriptions end with an unsubscribed push (reason slow_consumer); a
// client may subscribe again and gets a fresh snapshot. A snapshot's own
// events are not counted: like a list reply, it is bounded by the lobbies
// there are, and a reader that keeps up must always be able to receive it.

// subFlushInterval is how often output held back for backed-up links is
// retried (a timer runs only while some is held back).
const subFlushInterval = 5 * time.Millisecond

// pendingOverhead is what a waiting event is counted as, beyond its lobby
// id (and the state block a removal keeps): the entry and its index.
const pendingOverhead = 64

// subTable holds every subscription of a coordinator. It is owned by the
// state goroutine; its methods are nil-safe until the first subscribe.
type subTable struct {
	last    map[string]Info                       // every public lobby's state as last published
	byGame  map[string]map[*subscription]struct{} // "" holds the all-games subscriptions
	conns   map[*session]*subConn
	backlog map[*subConn]struct{} // connections with output waiting
	timer   *time.Timer           // retries the backlog; armed while it is not empty
	armed   bool
	frames  []cachedFrame // per change: each (kind, sub id) frame encoded once
}

type cachedFrame struct {
	kind  NoticeKind
	sub   int
	frame []byte
}

// subConn is one connection's subscriptions and its waiting output.
type subConn struct {
	sess  *session
	subs  map[int]*subscription
	next  int // the last subscription id handed out (ids are never reused on a connection)
	pend  []pendingEvent
	head  int // pend[head:] waits
	at    map[pendKey]int
	bytes int
}

type subscription struct {
	conn   *subConn
	id     int
	game   string
	filter Filter
}

type pendKey struct {
	sub   int
	lobby string
}

// pendingEvent is an event held back; kind "" when merged away.
type pendingEvent struct {
	key     pendKey
	kind    NoticeKind
	gone    []byte // lobby_removed: the lobby's state block then (it may be gone)
	counted bool   // counts against SubscriptionPending (not a snapshot's)
}

// newSubTable starts the table with the lobbies as they are now.
func newSubTable(r *Registry) *subTable {
	t := &subTable{last: make(map[string]Info), byGame: make(map[string]map[*subscription]struct{}),
		conns: make(map[*session]*subConn), backlog: make(map[*subConn]struct{})}
	for _, in := range r.List("") {
		t.last[in.ID] = in
	}
	return t
}

// subscription handles subscribe and unsubscribe for a member's link.
func (s *Server) subscription(sess *session, req *request) {
	if s.subs == nil {
		s.subs = newSubTable(s.reg)
	}
	var err error
	if req.Op == OpUnsubscribe {
		if err = s.subs.unsubscribe(sess, req.Sub); err == nil {
			sess.conn.Send(encodeOK(req.ID))
			return
		}
	} else if err = s.subscribe(sess, req); err == nil {
		return
	}
	sess.conn.Send(encodeError(req.ID, asError(err)))
}

func (s *Server) subscribe(sess *session, req *request) error {
	game := req.Game
	if game != "" {
		g, err := NormalizeGame(game)
		if err != nil {
			return err
		}
		game = g
	}
	f := req.Filter.filter()
	if err := f.Validate(); err != nil {
		return err
	}
	t := s.subs
	c := t.conns[sess]
	if c == nil {
		c = &subConn{sess: sess, subs: make(map[int]*subscription), at: make(map[pendKey]int)}
		t.conns[sess] = c
	}
	if len(c.subs) >= s.cfg.MaxSubscriptions {
		return errorf(CodeTooManySubscriptions, "%d subscriptions already; the limit is %d", len(c.subs), s.cfg.MaxSubscriptions)
	}
	c.next++
	sub := &subscription{conn: c, id: c.next, game: game, filter: f}
	c.subs[sub.id] = sub
	set := t.byGame[game]
	if set == nil {
		set = make(map[*subscription]struct{})
		t.byGame[game] = set
	}
	set[sub] = struct{}{}
	snapshot := s.reg.ListMatching(game, f)
	var r struct {
		okReply
		matchReply
	}
	r.ID, r.OK, r.Sub = replyID(req.ID), true, sub.id
	sess.conn.Send(marshal(r))
	for _, in := range snapshot {
		t.frames = t.frames[:0]
		t.emitSnapshot(s, sub, EventLobbyAdded, in.ID, marshal(stateOf(in)))
	}
	t.frames = t.frames[:0]
	t.emitSnapshot(s, sub, EventSynced, "", []byte(`{}`))
	s.log.Debug("subscribed", "member", sess.id, "sub", sub.id, "game", game, "snapshot", len(snapshot))
	return nil
}

func (t *subTable) unsubscribe(sess *session, id int) error {
	c := t.conns[sess]
	var sub *subscription
	if c != nil {
		sub = c.subs[id]
	}
	if sub == nil {
		return errorf(CodeUnknownSubscription, "no subscription %d on this connection", id)
	}
	t.remove(sub)
	for i := c.head; i < len(c.pend); i++ {
		if e := &c.pend[i]; e.key.sub == id && e.kind != "" {
			c.cancel(i)
		}
	}
	return nil
}

// remove takes sub out of the index.
func (t *subTable) remove(sub *subscription) {
	delete(sub.conn.subs, sub.id)
	if set := t.byGame[sub.game]; set != nil {
		delete(set, sub)
		if len(set) == 0 {
			delete(t.byGame, sub.game)
		}
	}
}

// dropSession forgets a closed link's subscriptions.
func (t *subTable) dropSession(sess *session) {
	if t == nil {
		return
	}
	c := t.conns[sess]
	if c == nil {
		return
	}
	for _, sub := range c.subs {
		t.remove(sub)
	}
	delete(t.conns, sess)
	delete(t.backlog, c)
}

// publish tells the subscriptions of each changed lobby's game what the
// change means for them.
func (t *subTable) publish(s *Server, changes []Info) {
	if t == nil {
		return
	}
	for _, in := range changes {
		prev, had := t.last[in.ID]
		if in.State == StateClosed || in.Private {
			delete(t.last, in.ID)
		} else {
			t.last[in.ID] = in
		}
		if len(t.conns) > 0 {
			t.publish1(s, prev, had, in)
		}
	}
}

// publish1 tells what one change means: with prev (when had) the lobby's
// state before it, in the state after.
func (t *subTable) publish1(s *Server, prev Info, had bool, in Info) {
	mine, all := t.byGame[in.Game], t.byGame[""]
	if len(mine) == 0 && len(all) == 0 {
		return
	}
	cand := in.Candidate()
	gone := in.State == StateClosed || in.Private
	var prevCand Candidate
	if had {
		prevCand = prev.Candidate()
	}
	var state []byte
	t.frames = t.frames[:0]
	for _, set := range [2]map[*subscription]struct{}{mine, all} {
		for sub := range set {
			was := had && sub.filter.Match(prevCand) == Matches
			now := !gone && sub.filter.Match(cand) == Matches
			var kind NoticeKind
			switch {
			case now && !was:
				kind = EventLobbyAdded
			case now:
				kind = NoticeUpdated
			case was:
				kind = EventLobbyRemoved
			default:
				continue
			}
			if state == nil {
				state = marshal(stateOf(in))
			}
			t.emit(s, sub, kind, in.ID, state)
		}
	}
}

// emit sends an event of sub about a lobby, whose state block is state, at
// once when its link takes it, else holds it back.
func (t *subTable) emit(s *Server, sub *subscription, kind NoticeKind, lobby string, state []byte) {
	t.emitAs(s, sub, kind, lobby, state, true)
}

// emitSnapshot is emit for the events of a snapshot, which do not count
// against the connection's bound.
func (t *subTable) emitSnapshot(s *Server, sub *subscription, kind NoticeKind, lobby string, state []byte) {
	t.emitAs(s, sub, kind, lobby, state, false)
}

func (t *subTable) emitAs(s *Server, sub *subscription, kind NoticeKind, lobby string, state []byte, counted bool) {
	c := sub.conn
	if c.head == len(c.pend) && c.sess.conn.Queued() == 0 {
		c.sess.conn.Send(t.frame(kind, sub.id, state))
		return
	}
	var gone []byte
	if kind == EventLobbyRemoved {
		gone = state
	}
	if !c.hold(pendKey{sub: sub.id, lobby: lobby}, kind, gone, counted) {
		t.overflow(s, c)
		return
	}
	t.backlog[c] = struct{}{}
	t.arm(s)
}

// frame is the event encoded, once per change for every subscriber whose
// subscription has the same id.
func (t *subTable) frame(kind NoticeKind, sub int, state []byte) []byte {
	for _, f := range t.frames {
		if f.kind == kind && f.sub == sub {
			return f.frame
		}
	}
	b := appendSubEvent(make([]byte, 0, len(state)+48), kind, sub, state)
	t.frames = append(t.frames, cachedFrame{kind: kind, sub: sub, frame: b})
	return b
}

// hold queues an event behind the waiting ones, merged with one already
// waiting for the same lobby; false when the connection is over its bound.
func (c *subConn) hold(key pendKey, kind NoticeKind, gone []byte, counted bool) bool {
	if i, ok := c.at[key]; ok {
		e := &c.pend[i]
		switch {
		case e.kind == EventLobbyAdded && kind == EventLobbyRemoved:
			c.cancel(i) // never seen, never to be seen
			return true
		case e.kind == EventLobbyAdded:
			return true // still an add, of the state at sending time
		case e.kind == EventLobbyRemoved && kind == EventLobbyAdded:
			kind = NoticeUpdated // it had been seen: it comes back changed
		}
		if e.counted {
			c.bytes += len(gone) - len(e.gone)
		}
		e.kind, e.gone = kind, gone
		return c.bytes <= c.sess.srv.cfg.SubscriptionPending
	}
	c.at[key] = len(c.pend)
	c.pend = append(c.pend, pendingEvent{key: key, kind: kind, gone: gone, counted: counted})
	if counted {
		c.bytes += pendingOverhead + len(key.lobby) + len(gone)
	}
	return c.bytes <= c.sess.srv.cfg.SubscriptionPending
}

// cancel drops waiting event i.
func (c *subConn) cancel(i int) {
	e := &c.pend[i]
	if e.counted {
		c.bytes -= pendingOverhead + len(e.key.lobby) + len(e.gone)
	}
	delete(c.at, e.key)
	e.kind, e.gone, e.counted = "", nil, false
}

// arm schedules a retry of the backlog.
func (t *subTable) arm(s *Server) {
	if t.armed {
		return
	}
	t.armed = true
	if t.timer == nil {
		t.timer = time.AfterFunc(subFlushInterval, func() { s.submit(op{kind: opSubFlush}) })
	} else {
		t.timer.Reset(subFlushInterval)
	}
}

// flush sends what waits on every link that takes it again.
func (t *subTable) flush(s *Server) {
	if t == nil {
		return
	}
	t.armed = false
	for c := range t.backlog {
		if c.drain(s) {
			delete(t.backlog, c)
		}
	}
	if len(t.backlog) > 0 {
		t.arm(s)
	}
}

// drain sends waiting events while the link takes them; true when none is
// left.
func (c *subConn) drain(s *Server) bool {
	for c.head < len(c.pend) {
		if c.sess.conn.Queued() > 0 {
			c.compact()
			return false
		}
		e := c.pend[c.head]
		if e.kind != "" {
			c.cancel(c.head)
			state := e.gone
			if e.kind == EventSynced {
				state = []byte(`{}`)
			} else if state == nil {
				l := s.reg.Get(e.key.lobby)
				if l == nil {
					c.head++
					continue // cannot happen: its closing turned the event into a removal
				}
				state = marshal(stateOf(l.Info()))
			}
			c.sess.conn.Send(new(subTable).frame(e.kind, e.key.sub, state))
		}
		c.head++
	}
	c.pend, c.head, c.bytes = c.pend[:0], 0, 0
	clear(c.at)
	return true
}

// compact drops the events already sent from the front of the queue once
// they are most of it.
func (c *subConn) compact() {
	if c.head < 256 || 2*c.head < len(c.pend) {
		return
	}
	n := copy(c.pend, c.pend[c.head:])
	clear(c.pend[n:])
	c.pend, c.head = c.pend[:n], 0
	for i, e := range c.pend {
		if e.kind != "" {
			c.at[e.key] = i
		}
	}
}

// overflow ends the subscriptions of a connection whose waiting output
// passed its bound, and tells it.
func (t *subTable) overflow(s *Server, c *subConn) {
	for id, sub := range c.subs {
		t.remove(sub)
		b := appendSubEvent(nil, EventUnsubscribed, id, []byte(`{"reason":"`+string(ReasonSlowConsumer)+`"}`))
		c.sess.conn.Send(b)
	}
	c.pend, c.head, c.bytes = nil, 0, 0
	clear(c.at)
	delete(t.backlog, c)
	s.log.Warn("subscriber too slow; its subscriptions end", "member", c.sess.id,
		"pending_limit", s.cfg.SubscriptionPending, "reason", tcpconn.ReasonSlowConsumer.String())
}

// stop stops the retry timer at shutdown.
func (t *subTable) stop() {
	if t != nil && t.timer != nil {
		t.timer.Stop()
	}
}
