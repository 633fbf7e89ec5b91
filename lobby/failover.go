package lobby

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// The client's side of a lobby outliving its coordinator (takeover.go is
// the server's): when the link to a game's own coordinator drops, the
// client tells its game at once (coordinator_lost, with what it does next)
// and then
//   - the lobby's successor takes the lobby over: it starts a coordinator
//     of its own (ClientConfig.TakeOver) and adopts the lobby there with
//     its secret, its roster and the next term;
//   - the other members go to the successor's standby address, which every
//     state block carried (successor_addr), restoring their seats with
//     their seat credentials; they try the old coordinator too (their own
//     link may be what broke), and a beacon lookup of the lobby
//     (ClientConfig.Locate) when the successor cannot be reached;
// and a member told that its lobby moved (coordinator_moved) goes where it
// is told. While it reconnects the client reports progress once a second
// (reconnecting).

// What a client does after losing its coordinator (Event.Next of
// coordinator_lost).
const (
	// NextResuming: it reconnects to the same coordinator (resume, or
	// restore after a restart).
	NextResuming = "resuming"
	// NextFailingOver: it moves to the coordinator of the lobby's
	// successor, which takes the lobby over.
	NextFailingOver = "failing_over"
	// NextTakingOver: it is the lobby's successor: it runs a coordinator
	// for the lobby, and the others move to it.
	NextTakingOver = "taking_over"
	// NextMoving: it follows its lobby to another coordinator
	// (coordinator_moved).
	NextMoving = "moving"
	// NextGivingUp: it cannot get its lobbies back; EventError follows.
	NextGivingUp = "giving_up"
)

// Client events of a lost coordinator.
const (
	// EventCoordinatorLost: the link to the coordinator dropped; Next says
	// what the client does about it, Reason why the link dropped. Sent at
	// once, one per lobby (one without a lobby when the client is in
	// none).
	EventCoordinatorLost NoticeKind = "coordinator_lost"
	// EventReconnecting: still reconnecting, once a second: Attempt,
	// Elapsed, and the coordinator being tried (Addr).
	EventReconnecting NoticeKind = "reconnecting"
)

// Timings of a failover.
const (
	// failoverDial bounds a dial to a successor's or moved-to coordinator:
	// a LAN answers in a millisecond; one that does not serve refuses at
	// once.
	failoverDial = time.Second
	// probeDial bounds a dial to the coordinator that was lost: a process
	// that died refuses at once; a machine that vanished never answers.
	probeDial = 250 * time.Millisecond
	// probeSilentAfter: after a silent link, a member asks the old
	// coordinator only once the successor has had this long to take over
	// (members' heartbeats run up to one interval apart, so the successor
	// may notice the loss that much later): a dial to a vanished machine
	// costs probeDial every time.
	probeSilentAfter = 1500 * time.Millisecond
	// failoverBackoff and failoverMaxBackoff pace the attempts: the
	// successor needs a few milliseconds to start serving.
	failoverBackoff    = 20 * time.Millisecond
	failoverMaxBackoff = 250 * time.Millisecond
	// locateAfter is how long a member tries the successor's address and
	// the old coordinator before it also looks for the lobby on the LAN.
	locateAfter = time.Second
	// progressEvery spaces the reconnecting events.
	progressEvery = time.Second
)

// failover is the Client's state of takeover and moves, guarded by its mu.
type failover struct {
	takeover  bool   // the coordinator hands its lobbies to successors (hello reply)
	addr      string // the coordinator now, when it is not the one dialled first
	standby   int    // the port this client would serve its lobbies at (Standby)
	switching bool   // the link is being replaced on purpose: the old one's close is no loss
	progress  time.Time
}

// Takeover is what a successor's coordinator is started for
// (ClientConfig.TakeOver): the lobby as the successor knew it, the term it
// gets, and its owner, gone with the lost coordinator.
type Takeover struct {
	Lobby    Info
	Term     uint32
	Departed Member
	Reason   Reason
}

// route is one failover in progress: what it does and what it found.
type route struct {
	plan    string              // NextFailingOver, NextTakingOver or NextMoving
	why     tcpconn.CloseReason // why the link dropped
	moveTo  string              // NextMoving: where the lobby is now
	term    uint32              // NextMoving: its term there
	own     string              // NextTakingOver: the coordinator this client started
	probed  bool                // the lost coordinator was asked once
	located string              // a coordinator found on the LAN, proven
}

// currentAddr is the coordinator this client talks to now.
func (c *Client) currentAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.currentAddrLocked()
}

func (c *Client) currentAddrLocked() string {
	if c.fo.addr != "" {
		return c.fo.addr
	}
	return c.addr
}

// Addr is the address of the coordinator this client talks to now: the
// one it dialled, or the one it followed its lobby to.
func (c *Client) Addr() string { return c.currentAddr() }

// Takeover reports whether the coordinator hands its lobbies to their
// successors when it is lost (a game's own coordinator), so that a member
// should register a standby port.
func (c *Client) Takeover() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fo.takeover
}

// LobbyInfo is a lobby this client is in as it knows it now (from the
// replies and notices), and whether it is in it.
func (c *Client) LobbyInfo(lobbyID string) (Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.lobbies[lobbyID]; m != nil {
		return m.info, true
	}
	return Info{}, false
}

// LobbySecret is the secret of a lobby this client is in (from its join
// reply), nil when it is not in it: what checks a coordinator's proof
// that it holds the lobby (VerifyLobby).
func (c *Client) LobbySecret(lobbyID string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.lobbies[lobbyID]; m != nil {
		return decodeSecret(m.creds.LobbySecret)
	}
	return nil
}

// Standby tells the coordinator that this client would serve lobbyID on
// port of its host if it took the lobby over, and remembers it for the
// coordinators it moves to. Only a coordinator that hands its lobbies over
// takes it (Takeover); for another it does nothing.
func (c *Client) Standby(ctx context.Context, lobbyID string, port int) error {
	c.mu.Lock()
	c.fo.standby = port
	takeover := c.fo.takeover
	c.mu.Unlock()
	if !takeover {
		return nil
	}
	_, err := c.call(ctx, &request{Op: OpStandby, Lobby: lobbyID, Port: port})
	return err
}

// Prove asks the coordinator to prove it holds lobbyID's secret: it
// answers the lobby's term and Proof(secret, lobbyID, term, nonce).
func (c *Client) Prove(ctx context.Context, lobbyID, nonce string) (uint32, string, error) {
	req := &request{Op: OpProve, Lobby: lobbyID}
	req.Nonce = nonce
	in, err := c.call(ctx, req)
	if err != nil {
		return 0, "", err
	}
	return in.Term, in.Proof, nil
}

// ErrNoProof: a coordinator could not prove that it holds a lobby's
// secret; it is not to be trusted with the lobby.
var ErrNoProof = errors.New("lobby: the coordinator does not hold the lobby's secret")

// VerifyLobby checks that the coordinator holds lobbyID with its secret
// (secret, as LobbySecret gives it) and returns the lobby's term there.
func (c *Client) VerifyLobby(ctx context.Context, lobbyID string, secret []byte) (uint32, error) {
	nonce := NewNonce()
	term, proof, err := c.Prove(ctx, lobbyID, nonce)
	if err != nil {
		return 0, err
	}
	if !CheckProof(secret, lobbyID, term, nonce, proof) {
		return 0, ErrNoProof
	}
	return term, nil
}

// MoveTo moves every lobby this client is in, all of which it must own,
// to the coordinator at addr (a daemon found on the LAN): it adopts them
// there under the next term, with their secret and members, whose seats
// are held for them, and from then on talks to that coordinator. The old
// link stays open: the caller tells the old coordinator (Server.Moved),
// which sends the members there, and then closes it. The game gets one
// coordinator_moved event per lobby.
func (c *Client) MoveTo(ctx context.Context, addr string) error {
	ctx, cancel := withDefaultTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	c.mu.Lock()
	if c.err != nil {
		defer c.mu.Unlock()
		return c.err
	}
	if c.fo.switching || c.link == nil {
		c.mu.Unlock()
		return fmt.Errorf("lobby: the link to the coordinator is being replaced already")
	}
	adopt := map[string]*restoreLobby{}
	var moved []Info
	for id, m := range c.lobbies {
		if !m.owner {
			c.mu.Unlock()
			return fmt.Errorf("%w: lobby %s is not this client's to move", ErrNotOwner, id)
		}
		e := c.adoptEntryLocked(id, m, m.peers, nil)
		adopt[id] = &e
		info := m.info
		info.Term = e.Term
		moved = append(moved, info)
	}
	old := c.link
	c.fo.switching = true
	c.notReadyLocked()
	c.mu.Unlock()
	deadline, _ := ctx.Deadline()
	err := c.reattachAt(ctx, addr, deadline, failoverDial, restoreOpts{quiet: true, adopt: adopt, restoreOnly: true})
	if err != nil {
		c.mu.Lock()
		c.fo.switching = false
		select {
		case <-old.down:
			c.mu.Unlock()
			c.linkClosed(old, tcpconn.ReasonDisconnected) // lost meanwhile
		default:
			close(c.ready) // the old link serves on
			c.mu.Unlock()
		}
		return err
	}
	for _, info := range moved {
		c.events.push(Event{Kind: NoticeCoordinatorMoved, Lobby: info, Addr: addr})
	}
	c.restandby(ctx)
	return nil
}

// notReadyLocked makes calls wait for a link (they wait on c.ready),
// unless they do already.
func (c *Client) notReadyLocked() {
	select {
	case <-c.ready:
		c.ready = make(chan struct{})
	default:
	}
}

// planLocked decides what the client does about a lost link.
func (c *Client) planLocked() string {
	if !c.fo.takeover || len(c.lobbies) != 1 {
		// A daemon keeps its lobbies across restarts; a client in several
		// lobbies of a game's own coordinator cannot follow them to
		// several successors over one link.
		return NextResuming
	}
	for _, m := range c.lobbies {
		switch {
		case m.info.Successor == "":
			return NextResuming // alone: nobody to take over
		case m.info.Successor == c.you.ID && c.cfg.TakeOver != nil:
			return NextTakingOver
		}
	}
	return NextFailingOver
}

// tellLost pushes coordinator_lost for every lobby (one event without a
// lobby when the client is in none).
func (c *Client) tellLost(next string, why tcpconn.CloseReason) {
	c.mu.Lock()
	var evs []Event
	for _, m := range c.lobbies {
		evs = append(evs, Event{Kind: EventCoordinatorLost, Lobby: m.info, Next: next, Reason: memberReason(why)})
	}
	if len(evs) == 0 {
		evs = append(evs, Event{Kind: EventCoordinatorLost, Next: next, Reason: memberReason(why)})
	}
	c.mu.Unlock()
	for _, ev := range evs {
		c.events.push(ev)
	}
}

// progress pushes a reconnecting event, at most once per progressEvery.
func (c *Client) progress(attempt int, since time.Time, addr string) {
	now := time.Now()
	c.mu.Lock()
	if now.Sub(since) < progressEvery || now.Sub(c.fo.progress) < progressEvery {
		c.mu.Unlock()
		return
	}
	c.fo.progress = now
	var info Info
	for _, m := range c.lobbies {
		info = m.info
		break
	}
	c.mu.Unlock()
	c.events.push(Event{Kind: EventReconnecting, Lobby: info, Attempt: attempt, Elapsed: now.Sub(since), Addr: addr})
}

// reattached finishes a reconnection: subscriptions again, and the standby
// port on the new coordinator.
func (c *Client) reattached() {
	c.resubscribeAll() // the new link has no subscriptions
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	c.restandby(ctx)
}

// restandby registers the standby port again, on a coordinator that
// takes it.
func (c *Client) restandby(ctx context.Context) {
	c.mu.Lock()
	port, takeover := c.fo.standby, c.fo.takeover
	ids := make([]string, 0, len(c.lobbies))
	for id := range c.lobbies {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if port == 0 || !takeover {
		return
	}
	for _, id := range ids {
		if _, err := c.call(ctx, &request{Op: OpStandby, Lobby: id, Port: port}); err != nil {
			c.log.Info("standby not registered", "lobby", id, "err", err)
		}
	}
}

// failover gets the client's lobby back on another coordinator within
// budget (see the file comment), or gives up.
func (c *Client) failover(r *route, budget time.Duration) {
	start := time.Now()
	deadline := start.Add(budget)
	backoff := failoverBackoff
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-c.quit:
				return
			}
			backoff = min(2*backoff, failoverMaxBackoff)
		}
		select {
		case <-c.quit:
			return
		default:
		}
		c.progress(attempt, start, r.target(c))
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := c.failoverOnce(ctx, r, start, deadline)
		cancel()
		if err == nil {
			c.reattached()
			return
		}
		lastErr = err
		c.log.Debug("failover attempt failed", "attempt", attempt, "plan", r.plan, "err", err)
	}
	c.lose(fmt.Errorf("%w (gave up %s: %v)", ErrConnectionLost, r.plan, lastErr))
}

// target is the coordinator a route tries first, for progress events.
func (r *route) target(c *Client) string {
	switch {
	case r.own != "":
		return r.own
	case r.moveTo != "":
		return r.moveTo
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.lobbies {
		if m.info.SuccessorAddr != "" {
			return m.info.SuccessorAddr
		}
	}
	return c.currentAddrLocked()
}

// failoverOnce makes one attempt of route r.
func (c *Client) failoverOnce(ctx context.Context, r *route, start, deadline time.Time) error {
	lobbyID, info, secret := c.onlyLobby()
	if lobbyID == "" {
		return errors.New("lobby: no lobby to fail over")
	}
	quiet := restoreOpts{quiet: true, restoreOnly: true}
	if r.plan == NextTakingOver {
		if r.own == "" {
			if r.why != tcpconn.ReasonTimeout && !r.probed {
				// A reset link may be our own blip: ask the coordinator once.
				r.probed = true
				if err := c.reattachAt(ctx, c.currentAddr(), deadline, probeDial, restoreOpts{}); err == nil {
					return nil
				}
			}
			t := c.takeoverOf(r.why)
			addr, err := c.cfg.TakeOver(ctx, t)
			if err != nil {
				c.log.Warn("cannot take the lobby over; following the others", "lobby", lobbyID, "err", err)
				r.plan = NextFailingOver
				return err
			}
			r.own = addr
			c.log.Info("taking the lobby over", "lobby", lobbyID, "term", t.Term, "coordinator", addr)
		}
		c.mu.Lock()
		m := c.lobbies[lobbyID]
		if m == nil {
			c.mu.Unlock()
			return errors.New("lobby: left the lobby meanwhile")
		}
		e := c.adoptEntryLocked(lobbyID, m, m.peers, &departure{Member: c.ownerLocked(m), Reason: memberReason(r.why)})
		c.mu.Unlock()
		quiet.adopt = map[string]*restoreLobby{lobbyID: &e}
		return c.reattachAt(ctx, r.own, deadline, failoverDial, quiet)
	}
	var errs []error
	if r.moveTo != "" {
		err := c.reattachAt(ctx, r.moveTo, deadline, failoverDial, quiet)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if r.plan == NextFailingOver {
		if succ := info.SuccessorAddr; succ != "" {
			err := c.reattachAt(ctx, succ, deadline, failoverDial, quiet)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		// Our own link may be what broke, and the coordinator lives on.
		if r.why != tcpconn.ReasonTimeout || time.Since(start) >= probeSilentAfter {
			err := c.reattachAt(ctx, c.currentAddr(), deadline, probeDial, restoreOpts{})
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
	}
	if c.cfg.Locate != nil && time.Since(start) >= locateAfter && secret != nil {
		if r.located == "" {
			minTerm := info.Term + 1
			if r.plan == NextMoving {
				minTerm = r.term
			}
			addr, err := c.cfg.Locate(ctx, lobbyID, minTerm)
			if err == nil {
				err = c.proveAt(ctx, addr, lobbyID, secret, minTerm)
			}
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			r.located = addr
		}
		err := c.reattachAt(ctx, r.located, deadline, failoverDial, quiet)
		if err == nil {
			return nil
		}
		r.located = "" // look again next time
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// onlyLobby is the lobby a failover is about, with its info and secret.
func (c *Client) onlyLobby() (string, Info, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, m := range c.lobbies {
		return id, m.info, decodeSecret(m.creds.LobbySecret)
	}
	return "", Info{}, nil
}

// ownerLocked is the owner of m's lobby as this client knows it.
func (c *Client) ownerLocked(m *membership) Member {
	for _, p := range m.peers {
		if p.ID == m.info.Owner {
			return p
		}
	}
	return Member{ID: m.info.Owner}
}

// takeoverOf is what the successor's coordinator is started for.
func (c *Client) takeoverOf(why tcpconn.CloseReason) Takeover {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.lobbies {
		return Takeover{Lobby: m.info, Term: m.info.Term + 1, Departed: c.ownerLocked(m), Reason: memberReason(why)}
	}
	return Takeover{}
}

// restoreOpts says how a restore after a lost or moved link goes.
type restoreOpts struct {
	// quiet: no coordinator_restarted or rejoined events (the game was
	// told of the takeover or move otherwise), and lobbies not there yet
	// are retried as after a restart.
	quiet bool
	// restoreOnly: restore at once, without trying resume first (a
	// coordinator that never knew this client).
	restoreOnly bool
	// adopt replaces the entries of these lobbies: this client adopts
	// them on the coordinator.
	adopt map[string]*restoreLobby
}

// reattachAt makes one attempt to get the client's lobbies back on the
// coordinator at addr: dial (within dial), then resume or restore.
func (c *Client) reattachAt(ctx context.Context, addr string, deadline time.Time, dial time.Duration, o restoreOpts) error {
	dctx, cancel := context.WithTimeout(ctx, dial)
	l, err := c.dialLinkTo(dctx, addr)
	cancel()
	if err != nil {
		return err
	}
	if !o.restoreOnly {
		return c.resumeOn(ctx, l, deadline, o)
	}
	if err := c.restore(ctx, l, deadline, o); err != nil {
		return err
	}
	c.reregister(ctx)
	return nil
}

// proveAt checks that the coordinator at addr holds lobbyID with its
// secret, at a term of at least minTerm, on a connection of its own.
func (c *Client) proveAt(ctx context.Context, addr, lobbyID string, secret []byte, minTerm uint32) error {
	dctx, cancel := context.WithTimeout(ctx, failoverDial)
	l, err := c.dialLinkTo(dctx, addr)
	cancel()
	if err != nil {
		return err
	}
	defer l.conn.Close(tcpconn.ReasonClosed)
	if _, err := c.callOn(ctx, l, &request{Op: OpHello, V: ProtocolVersion, Client: ClientName}, nil); err != nil {
		return err
	}
	nonce := NewNonce()
	req := &request{Op: OpProve, Lobby: lobbyID}
	req.Nonce = nonce
	in, err := c.callOn(ctx, l, req, nil)
	if err != nil {
		return err
	}
	if in.Term < minTerm || !CheckProof(secret, lobbyID, in.Term, nonce, in.Proof) {
		return fmt.Errorf("%w (%s at %s, term %d)", ErrNoProof, lobbyID, addr, in.Term)
	}
	return nil
}

// restoreEntryLocked is what a restore asks for lobby id: the seat, and,
// for its owner, the lobby itself as it knows it.
func (c *Client) restoreEntryLocked(id string, m *membership) restoreLobby {
	e := restoreLobby{Lobby: id, Owner: m.owner, Game: m.info.Game, Name: m.info.Name, Capacity: m.info.Capacity,
		Meta: m.info.Meta, Started: m.info.State == StateStarted, Password: m.password, AutoStart: m.info.AutoStart,
		Version: m.info.Version, Filterable: m.info.Filterable, Credential: m.creds.Credential}
	e.Addr, e.Port = entryAddr(m.addr)
	if m.owner {
		e.OwnerCredential = m.creds.OwnerCredential
		e.Members = append([]Member{{ID: c.you.ID, Name: c.you.Name, Addr: m.addr}}, m.peers...)
		// A lobby adopted on a daemon that restarted needs its secret
		// back, and its term.
		e.LobbySecret, e.Term = m.creds.LobbySecret, m.info.Term
		if !m.info.Created.IsZero() {
			e.CreatedMS = m.info.Created.UnixMilli()
		}
	}
	return e
}

// adoptEntryLocked is the restore entry with which this client adopts
// lobby id on another coordinator, as its owner, under the next term,
// holding the seats of peers (but the departed one's).
func (c *Client) adoptEntryLocked(id string, m *membership, peers []Member, departed *departure) restoreLobby {
	e := c.restoreEntryLocked(id, m)
	e.Owner, e.Adopt, e.OwnerCredential = true, true, ""
	e.Term = m.info.Term + 1
	e.LobbySecret = m.creds.LobbySecret
	if !m.info.Created.IsZero() {
		e.CreatedMS = m.info.Created.UnixMilli()
	}
	e.Members = []Member{{ID: c.you.ID, Name: c.you.Name, Addr: m.addr}}
	for _, p := range peers {
		if departed == nil || p.ID != departed.Member.ID {
			e.Members = append(e.Members, p)
		}
	}
	e.Departed = departed
	return e
}

// entryAddr is how a restore gives our game address: as recorded, unless
// it is a loopback one (we ran on the old coordinator's machine), which
// means nothing to another coordinator: then its port, paired with the
// address the new coordinator sees us at.
func entryAddr(addr string) (string, int) {
	ap, err := netip.ParseAddrPort(addr)
	if err == nil && ap.Addr().IsLoopback() {
		return "", int(ap.Port())
	}
	return addr, 0
}

// isMovePush spots the pushes of takeover and moves.
func isMovePush(event string) bool {
	switch NoticeKind(event) {
	case NoticeTakenOver, NoticeCoordinatorMoved, noticeStandby:
		return true
	}
	return false
}

// movePush handles taken_over, coordinator_moved and standby on link l's
// reader.
func (c *Client) movePush(l *link, in *inbound) {
	kind, info := NoticeKind(in.Event), in.lobbyState.info()
	c.mu.Lock()
	m := c.lobbies[info.ID]
	if kind == NoticeTakenOver {
		// It follows the restore's reply on the new link, which may not
		// be installed yet: the restore keeps the reply's peers, the
		// same as these.
		ev := Event{Kind: kind, Lobby: info, Reason: in.Reason, Peers: slices.Clone(in.Peers)}
		if in.Member != nil {
			ev.Member = *in.Member
		}
		if m != nil {
			m.info, m.owner, m.peers = info, info.Owner == c.you.ID, slices.Clone(in.Peers)
		}
		c.mu.Unlock()
		c.events.push(ev)
		return
	}
	if m == nil || l != c.link {
		c.mu.Unlock()
		return // not ours, or from a link being replaced
	}
	switch kind {
	case noticeStandby:
		m.info = info
		c.mu.Unlock()
	case NoticeCoordinatorMoved:
		if c.err != nil || c.fo.switching || in.Addr == "" {
			c.mu.Unlock()
			return
		}
		c.fo.switching = true
		c.notReadyLocked()
		budget := c.grace + c.heartbeat*time.Duration(c.misses+1)
		c.wg.Add(1)
		c.mu.Unlock()
		c.events.push(Event{Kind: kind, Lobby: info, Addr: in.Addr})
		c.log.Info("lobby moved; following it", "lobby", info.ID, "to", in.Addr, "term", info.Term)
		go func() {
			defer c.wg.Done()
			c.failover(&route{plan: NextMoving, moveTo: in.Addr, term: info.Term}, budget)
			l.conn.Close(tcpconn.ReasonClosed) // the old coordinator's link, if it is still open
		}()
	default:
		c.mu.Unlock()
	}
}
