package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

type loadGen struct {
	cfg     LoadConfig
	addr    string
	coord   *coordinator
	dialers []net.Dialer
	nextSrc atomic.Uint32

	stopping  atomic.Bool  // drops no longer count: the run is ending
	phase     atomic.Int32 // 0 connect and hold, 1 quick-joins
	connected atomic.Int64

	mu      sync.Mutex
	conns   []net.Conn
	closed  bool
	dropped map[string]int // member id -> phase it was first seen dropped

	dropNotices atomic.Int64
	lostLinks   atomic.Int64
	unexpected  atomic.Int64
	pings       atomic.Int64 // answered by the members' serve goroutines

	wg sync.WaitGroup // member goroutines
}

func (g *loadGen) logf(format string, args ...any) {
	if g.cfg.Progress != nil {
		fmt.Fprintf(g.cfg.Progress, "bench load: "+format+"\n", args...)
	}
}

// sleep waits d, failing early if ctx ends or the coordinator exits.
func (g *loadGen) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.coord.exited:
		return g.coord.exitError()
	}
}

// track registers a connection for closing at the end; after closeConns it
// closes c at once and reports false.
func (g *loadGen) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		c.Close()
		return false
	}
	g.conns = append(g.conns, c)
	return true
}

// closeConns ends the run for every connection: from now on nothing counts
// as a drop.
func (g *loadGen) closeConns() {
	g.stopping.Store(true)
	g.mu.Lock()
	conns := g.conns
	g.conns, g.closed = nil, true
	g.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// finish stops the coordinator (SIGTERM, then SIGKILL after 5 s), closes
// every connection and waits for every goroutine. It returns how long the
// coordinator took to exit.
func (g *loadGen) finish() time.Duration {
	g.stopping.Store(true)
	start := time.Now()
	g.coord.stop(5 * time.Second)
	took := time.Since(start)
	g.closeConns()
	g.wg.Wait()
	return took
}

func (g *loadGen) noteDrop(memberID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.dropped[memberID]; !ok {
		g.dropped[memberID] = int(g.phase.Load())
	}
}

// dropCounts returns how many distinct members were dropped during the
// connect and hold phases and during the quick-join phase.
func (g *loadGen) dropCounts() (hold, qj int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, phase := range g.dropped {
		if phase == 0 {
			hold++
		} else {
			qj++
		}
	}
	return hold, qj
}

// dial opens a member connection from the next source address.
func (g *loadGen) dial(ctx context.Context) (*lineConn, error) {
	d := &g.dialers[int(g.nextSrc.Add(1))%len(g.dialers)]
	c, err := d.DialContext(ctx, "tcp", g.addr)
	if err != nil {
		return nil, err
	}
	if !g.track(c) {
		return nil, errors.New("bench: run is ending")
	}
	return &lineConn{c: c, br: bufio.NewReaderSize(c, 1024)}, nil
}

// connect runs setup(ctx, i) for i in 0..n-1, DialConcurrency at a time,
// and stops at the first error (which names what as "what i"), when ctx
// ends or when the server exits.
func (g *loadGen) connect(ctx context.Context, n int, what string, setup func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel() })
	}
	go func() {
		select {
		case <-g.coord.exited:
			fail(g.coord.exitError())
			g.closeConns()
		case <-ctx.Done():
		}
	}()
	for range min(g.cfg.DialConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := setup(ctx, i); err != nil {
					fail(fmt.Errorf("%s %d: %w", what, i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

const setupTimeout = 15 * time.Second

// setupLobby sets up lobby i: its owner creates it, then the joiners join
// it by id, each with hello pipelined in front of its request.
func (g *loadGen) setupLobby(ctx context.Context, i int) error {
	owner, err := g.dial(ctx)
	if err != nil {
		return fmt.Errorf("owner: dial: %w", err)
	}
	create := fmt.Sprintf(`{"op":"create","id":2,"game":"load","name":"load %d","capacity":%d,"port":%d}`,
		i, g.cfg.PerLobby, 7000+i%1000)
	lobbyID, err := g.setupMember(owner, fmt.Sprintf("o%d", i), create)
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	for j := 1; j < g.cfg.PerLobby; j++ {
		m, err := g.dial(ctx)
		if err != nil {
			return fmt.Errorf("joiner %d: dial: %w", j, err)
		}
		join := fmt.Sprintf(`{"op":"join","id":2,"lobby":%q,"port":%d}`, lobbyID, 7000+i%1000)
		if _, err := g.setupMember(m, fmt.Sprintf("j%d.%d", i, j), join); err != nil {
			return fmt.Errorf("joiner %d: %w", j, err)
		}
	}
	return nil
}

// setupMember sends hello (id 1) and req (id 2) in one write, reads both
// replies and then serves the member's heartbeats in its own goroutine. It
// returns the lobby id of req's reply.
func (g *loadGen) setupMember(m *lineConn, player, req string) (string, error) {
	m.c.SetReadDeadline(time.Now().Add(setupTimeout))
	hello := `{"op":"hello","id":1,"v":1,"player":"` + player + `","client":"lanlobby-bench"}` + "\n"
	if _, err := io.WriteString(m.c, hello+req+"\n"); err != nil {
		return "", err
	}
	line, err := g.await(m, 1)
	if err != nil {
		return "", fmt.Errorf("hello: %w", err)
	}
	m.id = stringField(line, `"you":{"id":"`)
	line, err = g.await(m, 2)
	if err != nil {
		return "", err
	}
	lobbyID := stringField(line, `"lobby":"`)
	if lobbyID == "" {
		return "", fmt.Errorf("no lobby id in %.200s", line)
	}
	m.c.SetReadDeadline(time.Time{})
	g.connected.Add(1)
	g.wg.Add(1)
	go g.serve(m)
	return lobbyID, nil
}

// await reads until the reply to request id, answering pings and noting
// notices meanwhile. The reply is valid until the next read.
func (g *loadGen) await(m *lineConn, id int64) ([]byte, error) {
	for {
		line, err := m.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			continue
		}
		if ok, err := m.answerPing(line); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		if got, ok := replyID(line); ok {
			if got != id {
				continue
			}
			if !replyOK(line) {
				return nil, replyError(line)
			}
			return line, nil
		}
		g.onPush(line)
	}
}

// serve answers the member's pings until its connection ends; an end
// before the run stops is a false drop of this member.
func (g *loadGen) serve(m *lineConn) {
	defer g.wg.Done()
	for {
		line, err := m.readLine()
		if err == nil && len(line) > 0 {
			var ok bool
			if ok, err = m.answerPing(line); ok {
				g.pings.Add(1)
			} else {
				g.onPush(line)
			}
		}
		if err != nil {
			if !g.stopping.Load() {
				g.lostLinks.Add(1)
				g.noteDrop(m.id)
			}
			return
		}
	}
}

var (
	memberLeftPrefix = []byte(`{"event":"member_left"`)
	closedPrefix     = []byte(`{"event":"closed"`)
	reasonLeft       = []byte(`"reason":"left"`)
)

// onPush looks at a notice: a member_left for any reason but left is a
// false drop, a closed notice is unexpected. Others (member_joined,
// owner_changed, replies to nobody) are ignored without decoding.
func (g *loadGen) onPush(line []byte) {
	switch {
	case bytes.HasPrefix(line, memberLeftPrefix):
		if bytes.Contains(line, reasonLeft) || g.stopping.Load() {
			return
		}
		var n struct {
			Member struct {
				ID string `json:"id"`
			} `json:"member"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(line, &n) == nil && n.Reason == "left" {
			return
		}
		g.dropNotices.Add(1)
		g.noteDrop(n.Member.ID)
	case bytes.HasPrefix(line, closedPrefix):
		if !g.stopping.Load() {
			g.unexpected.Add(1)
		}
	}
}
