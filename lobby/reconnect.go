package lobby

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// linkClosed runs once per link, when it has closed.
func (c *Client) linkClosed(l *link, reason tcpconn.CloseReason) {
	c.mu.Lock()
	if l != c.link || c.err != nil || c.fo.switching {
		c.mu.Unlock()
		return
	}
	if l.replaced.Load() {
		c.mu.Unlock()
		c.lose(ErrReplaced)
		return
	}
	if c.grace <= 0 || c.token == "" || len(c.lobbies) == 0 && len(c.names) == 0 {
		c.mu.Unlock()
		c.tellLost(NextGivingUp, reason)
		c.lose(fmt.Errorf("%w (%s)", ErrConnectionLost, reason))
		return
	}
	plan := c.planLocked()
	c.notReadyLocked()
	budget := c.grace + c.heartbeat*time.Duration(c.misses+1)
	c.wg.Add(1)
	c.mu.Unlock()
	c.tellLost(plan, reason)
	c.log.Info("link to coordinator dropped", "reason", reason.String(), "next", plan, "budget", budget)
	go func() {
		defer c.wg.Done()
		if plan == NextResuming {
			c.reconnect(budget)
			return
		}
		c.failover(&route{plan: plan, why: reason}, budget)
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
		c.progress(attempt, deadline.Add(-budget), c.currentAddr())
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := c.reattach(ctx, deadline)
		cancel()
		if err == nil {
			c.reattached()
			return
		}
		lastErr = err
		c.log.Debug("reconnect attempt failed", "attempt", attempt, "err", err)
	}
	c.lose(fmt.Errorf("%w (gave up reconnecting: %v)", ErrConnectionLost, lastErr))
}

// lose ends the client for good when its link could be neither kept nor
// repaired: Err reports err (unless Close came first), Done closes, and
// the last event says why.
func (c *Client) lose(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	c.mu.Unlock()
	c.finish()
	c.events.push(Event{Kind: EventError, Err: err})
	c.events.finish()
	c.finishSubscriptions(false)
}

// reattach makes one attempt: dial, then resume or restore.
func (c *Client) reattach(ctx context.Context, deadline time.Time) error {
	return c.reattachAt(ctx, c.currentAddr(), deadline, min(c.cfg.Timeout, 2*time.Second), restoreOpts{})
}

// resumeOn resumes this client's member identity on link l, newly dialled
// to a coordinator, or restores its lobbies there when that coordinator
// does not know it (it restarted, or its grace passed).
func (c *Client) resumeOn(ctx context.Context, l *link, deadline time.Time, o restoreOpts) error {
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
		if err := c.restore(ctx, l, deadline, o); err != nil {
			return err
		}
		c.reregister(ctx)
		return nil
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
	c.fo.addr, c.fo.switching = l.addr, false
	close(c.ready)
	return nil
}

// restore re-creates (as owner) and re-joins (as member) every lobby on a
// coordinator that lost them, under the same member id, with the
// credentials it issued (credentials.go); an owner lists the members it
// knew, whose seats are held for them. Members whose owner has not
// restored the lobby yet retry until the deadline; lobbies that never come
// back are reported closed (ReasonCoordinatorLost). When the coordinator is
// the same instance as before (the link was down past its grace), the
// lobbies are taken back as a new member (EventRejoined) and nothing is
// retried: a lobby gone from a live coordinator does not come back.
func (c *Client) restore(ctx context.Context, l *link, deadline time.Time, o restoreOpts) error {
	c.mu.Lock()
	me, token, before := c.you, c.token, c.instance
	var owned, joined []restoreLobby
	addrs := map[string]string{} // our game address in each lobby, as recorded
	for id, m := range c.lobbies {
		addrs[id] = m.addr
		e := c.restoreEntryLocked(id, m)
		if a := o.adopt[id]; a != nil {
			e = *a
		}
		if e.Owner {
			owned = append(owned, e)
		} else {
			joined = append(joined, e)
		}
	}
	c.mu.Unlock()
	todo := append(owned, joined...) // owners first
	req := &request{Op: OpRestore, V: ProtocolVersion, Client: ClientName, Player: me.Name, Member: me.ID, Token: token, Restore: todo}
	req.Key = c.cfg.PlayerKey
	in, err := c.callOn(ctx, l, req, nil)
	if err != nil {
		l.conn.Close(tcpconn.ReasonClosed)
		return err
	}
	if err := c.install(l, in); err != nil {
		return err
	}
	restarted := in.Instance == "" || in.Instance != before || o.quiet
	kind := EventCoordinatorRestarted
	if !restarted {
		kind = EventRejoined
	}
	backoff := 25 * time.Millisecond
	for {
		var retry []restoreLobby
		for i, r := range in.Restored {
			if i >= len(todo) {
				break
			}
			switch {
			case r.Error == nil:
				info := r.lobbyState.info()
				c.remember(info, info.Owner == c.ID(), addrs[todo[i].Lobby], todo[i].Password, r.Peers, r.seatCredentials)
				if !o.quiet {
					c.events.push(Event{Kind: kind, Lobby: info, Peers: r.Peers})
				}
			case r.Error.Code == CodeUnknownLobby && restarted && time.Now().Before(deadline):
				retry = append(retry, todo[i]) // its owner is not back yet
			default:
				c.log.Info("lobby not restored", "lobby", todo[i].Lobby, "err", r.Error)
				c.lost1(todo[i], r.Error)
			}
		}
		if len(retry) == 0 {
			c.log.Info("lobbies back", "member", c.ID(), "coordinator_restarted", restarted)
			return nil
		}
		select {
		case <-time.After(backoff):
		case <-c.quit:
			return nil
		}
		backoff = min(2*backoff, 500*time.Millisecond)
		todo = retry
		in, err = c.call(ctx, &request{Op: OpRestore, V: ProtocolVersion, Restore: todo})
		if err != nil {
			for _, r := range todo {
				c.lost1(r, err)
			}
			return nil // the link itself is fine; what could not come back is reported
		}
	}
}

// lost1 reports a lobby that could not be restored, and why.
func (c *Client) lost1(r restoreLobby, why error) {
	c.forget(r.Lobby)
	c.events.push(Event{Kind: NoticeClosed, Lobby: Info{ID: r.Lobby, Game: r.Game, Name: r.Name, Capacity: r.Capacity, State: StateClosed},
		Reason: ReasonCoordinatorLost, Err: why})
}
