package lobby

import (
	"context"
	"maps"
	"math/rand/v2"
	"sync"
	"time"
)

// Change is one change in a Subscription's view: a lobby began to match
// (EventLobbyAdded), changed while matching (NoticeUpdated), or no longer
// matches (EventLobbyRemoved, with its last state).
type Change struct {
	Kind  NoticeKind
	Lobby Info
}

// Subscription is a live, filtered view of a coordinator's lobbies: the
// coordinator pushes only the changes of the lobbies that match it. The
// client keeps it going by itself: after a link was resumed or restored,
// or when the coordinator ended it because the client read too slowly, it
// subscribes again and reports only what changed meanwhile. Its methods
// are safe for concurrent use.
type Subscription struct {
	c      *Client
	game   string
	filter Filter
	queue  *changeQueue

	mu     sync.Mutex // guards the fields below
	id     int        // the coordinator's id for it; 0 while not subscribed
	view   map[string]Info
	snap   map[string]Info // the snapshot being received, nil when synced
	synced chan struct{}   // closed when the snapshot of the current attempt is in
	ended  bool
	err    error
}

// clientSubs routes subscription events to their Subscription.
type clientSubs struct {
	mu   sync.Mutex // guards the maps
	byID map[int]*Subscription
	live map[*Subscription]struct{}
}

func (cs *clientSubs) route(id int, s *Subscription) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byID == nil {
		cs.byID = make(map[int]*Subscription)
	}
	cs.byID[id] = s
}

func (cs *clientSubs) unroute(id int) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.byID, id)
}

func (cs *clientSubs) get(id int) *Subscription {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byID[id]
}

func (cs *clientSubs) all() []*Subscription {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slicesOf(cs.live)
}

func slicesOf(m map[*Subscription]struct{}) []*Subscription {
	out := make([]*Subscription, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	return out
}

// Subscribe starts a live view of the lobbies of game ("" for every game)
// that pass f, and returns once the coordinator's snapshot is in:
// Lobbies lists them, and Changes delivers an Added for each, then the
// changes. Close it when done.
func (c *Client) Subscribe(ctx context.Context, game string, f Filter) (*Subscription, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &Subscription{c: c, game: game, filter: f, queue: newChangeQueue(), view: make(map[string]Info)}
	c.subs.mu.Lock()
	if c.subs.live == nil {
		c.subs.live = make(map[*Subscription]struct{})
	}
	c.subs.live[s] = struct{}{}
	c.subs.mu.Unlock()
	go s.queue.run()
	if err := s.subscribe(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// subscribe makes one attempt: the request, then the snapshot.
func (s *Subscription) subscribe(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, s.c.cfg.Timeout)
	defer cancel()
	synced := make(chan struct{})
	req := &request{Op: OpSubscribe, Game: s.game}
	req.Filter = filterWire(s.filter)
	_, err := s.c.callWith(ctx, req, func(in *inbound) {
		if !in.OK || in.Sub == 0 {
			return
		}
		// On the reader goroutine, before the snapshot is read.
		s.mu.Lock()
		old := s.id
		s.id, s.snap, s.synced = in.Sub, make(map[string]Info), synced
		s.mu.Unlock()
		if old != 0 {
			s.c.subs.unroute(old)
		}
		s.c.subs.route(in.Sub, s)
	})
	if err != nil {
		return err
	}
	select {
	case <-synced:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx, OpSubscribe)
	case <-s.c.lost:
		return s.c.Err()
	}
}

// subEvent runs on the reader goroutine for every subscription push.
func (c *Client) subEvent(in *inbound) {
	s := c.subs.get(in.Sub)
	if s == nil {
		return // ended, or replaced by a newer attempt
	}
	kind := NoticeKind(in.Event)
	if kind == EventUnsubscribed {
		c.subs.unroute(in.Sub)
		s.mu.Lock()
		if s.id == in.Sub {
			s.id, s.snap = 0, nil
		}
		ended := s.ended
		s.mu.Unlock()
		if !ended {
			c.log.Info("coordinator ended a subscription; subscribing again", "sub", in.Sub, "reason", in.Reason)
			c.resubscribe(s)
		}
		return
	}
	s.apply(in.Sub, kind, in.lobbyState.info())
}

// apply takes one event of attempt id into the view.
func (s *Subscription) apply(id int, kind NoticeKind, in Info) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != id || s.ended {
		return
	}
	if s.snap != nil {
		switch kind {
		case EventLobbyAdded, NoticeUpdated:
			s.snap[in.ID] = in
		case EventLobbyRemoved:
			delete(s.snap, in.ID)
		case EventSynced:
			s.syncLocked()
		}
		return
	}
	switch kind {
	case EventLobbyAdded, NoticeUpdated:
		if _, ok := s.view[in.ID]; !ok {
			kind = EventLobbyAdded
		}
		s.view[in.ID] = in
	case EventLobbyRemoved:
		if _, ok := s.view[in.ID]; !ok {
			return
		}
		delete(s.view, in.ID)
	default:
		return
	}
	s.queue.push(Change{Kind: kind, Lobby: in})
}

// syncLocked installs a complete snapshot, reporting how it differs from
// the view (everything is new the first time).
func (s *Subscription) syncLocked() {
	snap := s.snap
	s.snap = nil
	for id, in := range snap {
		if old, ok := s.view[id]; !ok {
			s.queue.push(Change{Kind: EventLobbyAdded, Lobby: in})
		} else if !sameInfo(old, in) {
			s.queue.push(Change{Kind: NoticeUpdated, Lobby: in})
		}
	}
	for id, old := range s.view {
		if _, ok := snap[id]; !ok {
			s.queue.push(Change{Kind: EventLobbyRemoved, Lobby: old})
		}
	}
	s.view = snap
	close(s.synced)
}

func sameInfo(a, b Info) bool {
	return a.ID == b.ID && a.Game == b.Game && a.Name == b.Name && a.Players == b.Players && a.Capacity == b.Capacity &&
		a.State == b.State && a.Owner == b.Owner && a.Successor == b.Successor && a.Private == b.Private &&
		a.Version == b.Version && a.Reserved == b.Reserved && a.Created.Equal(b.Created) &&
		maps.Equal(a.Meta, b.Meta) && slicesEqual(a.Filterable, b.Filterable)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// resubscribe subscribes s again in the background, with backoff, until
// it works, s ends or the client stops.
func (c *Client) resubscribe(s *Subscription) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		backoff := 50 * time.Millisecond
		for {
			s.mu.Lock()
			ended := s.ended
			s.mu.Unlock()
			if ended || c.Err() != nil {
				return
			}
			err := s.subscribe(context.Background())
			if err == nil {
				return
			}
			c.log.Debug("subscribing again failed", "err", err)
			select {
			case <-time.After(backoff + rand.N(backoff/2+1)):
			case <-c.quit:
				return
			case <-c.lost:
				return
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

// resubscribeAll subscribes every live subscription again on a new link.
func (c *Client) resubscribeAll() {
	for _, s := range c.subs.all() {
		s.mu.Lock()
		old := s.id
		s.id, s.snap = 0, nil
		s.mu.Unlock()
		if old != 0 {
			c.subs.unroute(old)
		}
		c.resubscribe(s)
	}
}

// finishSubscriptions ends every subscription when the client stops: their
// Changes close once read (abandon: once Close stops the client).
func (c *Client) finishSubscriptions(abandon bool) {
	for _, s := range c.subs.all() {
		s.end(c.Err(), abandon)
	}
}

// end stops s; its Changes closes once what is queued has been read (at
// once with abandon).
func (s *Subscription) end(err error, abandon bool) (wasID int, first bool) {
	s.mu.Lock()
	first = !s.ended
	if first {
		s.ended, s.err = true, err
	}
	wasID = s.id
	s.id, s.snap = 0, nil
	s.mu.Unlock()
	if wasID != 0 {
		s.c.subs.unroute(wasID)
	}
	if abandon {
		s.queue.stop()
	} else {
		s.queue.finish()
	}
	return wasID, first
}

// Changes delivers the view's changes: an Added for every lobby of the
// snapshot, then Added, Updated and Removed as lobbies start to match,
// change and stop matching. Changes to one lobby that were not read yet
// are merged, so a reader that falls behind loses only intermediate
// states. It closes when the subscription or the client ends.
func (s *Subscription) Changes() <-chan Change { return s.queue.out }

// Lobbies lists the lobbies that match now, as far as the client knows.
func (s *Subscription) Lobbies() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, 0, len(s.view))
	for _, in := range s.view {
		out = append(out, in)
	}
	return out
}

// Err is why the subscription ended: nil while it runs and after Close,
// else the client's error.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription (the coordinator is told) and closes
// Changes. It is idempotent.
func (s *Subscription) Close() error {
	id, first := s.end(nil, true)
	s.c.subs.mu.Lock()
	delete(s.c.subs.live, s)
	s.c.subs.mu.Unlock()
	if first && id != 0 && s.c.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		req := &request{Op: OpUnsubscribe}
		req.Sub = id
		s.c.call(ctx, req) // best effort: the link's end drops it too
	}
	return nil
}

// leaveTimeout bounds the unsubscribe a Close sends.
const leaveTimeout = 2 * time.Second

// changeQueue hands a Subscription's changes to its reader without ever
// blocking the link's reader: pending changes are merged per lobby, so it
// holds at most one per lobby the subscription has seen.
type changeQueue struct {
	out chan Change

	mu      sync.Mutex // guards the fields below
	order   []string
	pend    map[string]Change
	done    bool
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newChangeQueue() *changeQueue {
	return &changeQueue{out: make(chan Change), pend: make(map[string]Change), wake: make(chan struct{}, 1),
		quit: make(chan struct{}), stopped: make(chan struct{})}
}

// push merges ch into what waits for its lobby: an add stays an add, an
// add then a removal is nothing, a removal then an add is an update.
func (q *changeQueue) push(ch Change) {
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return
	}
	id := ch.Lobby.ID
	if old, ok := q.pend[id]; ok {
		switch {
		case old.Kind == EventLobbyAdded && ch.Kind == EventLobbyRemoved:
			delete(q.pend, id)
			q.mu.Unlock()
			return
		case old.Kind == EventLobbyAdded:
			ch.Kind = EventLobbyAdded
		case old.Kind == EventLobbyRemoved && ch.Kind == EventLobbyAdded:
			ch.Kind = NoticeUpdated
		}
	} else {
		q.order = append(q.order, id)
	}
	q.pend[id] = ch
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *changeQueue) finish() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *changeQueue) stop() {
	q.finish()
	q.once.Do(func() { close(q.quit) })
	<-q.stopped
}

func (q *changeQueue) run() {
	defer close(q.stopped)
	defer close(q.out)
	for {
		q.mu.Lock()
		var next Change
		have := false
		for len(q.order) > 0 && !have {
			id := q.order[0]
			q.order = q.order[1:]
			next, have = q.pend[id]
			delete(q.pend, id)
		}
		done := q.done
		q.mu.Unlock()
		if have {
			select {
			case q.out <- next:
			case <-q.quit:
				return
			}
			continue
		}
		if done {
			return
		}
		select {
		case <-q.wake:
		case <-q.quit:
			return
		}
	}
}
