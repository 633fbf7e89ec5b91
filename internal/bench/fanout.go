package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// The fan-out figures: how long a member_joined notice takes to reach all
// 63 other members of a 64-member lobby, against the floor of the same
// fan-out, a line written by one Go goroutine to 63 plain TCP connections.
// Each of the 63 receivers is a raw connection with a reader goroutine of
// its own, as a game on the LAN has; a fan-out ends when the last of them
// has read its line.

// fanSize is how many members already sit in the fan-out lobby: the 64th
// seat is the joiner's.
const fanSize = lobby.MaxCapacity - 1

// fanCounter counts arrivals of one kind of line at the receivers and
// reports the moment the last expected one arrived.
type fanCounter struct {
	prefix []byte
	want   atomic.Int32
	n      atomic.Int32
	done   chan time.Time // the moment n reached want
}

func newFanCounter(prefix string) *fanCounter {
	return &fanCounter{prefix: []byte(prefix), done: make(chan time.Time, 1)}
}

// arm expects want more arrivals from now on.
func (f *fanCounter) arm(want int) {
	f.n.Store(0)
	f.want.Store(int32(want))
}

func (f *fanCounter) hit() {
	if n := f.n.Add(1); n == f.want.Load() {
		f.done <- time.Now()
	}
}

// wait returns the moment the last expected arrival came.
func (f *fanCounter) wait(ctx context.Context) (time.Time, error) {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case at := <-f.done:
		return at, nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-t.C:
		return time.Time{}, fmt.Errorf("bench: %d of %d receivers got %s within 10s", f.n.Load(), f.want.Load(), f.prefix)
	}
}

// fanout holds both fan-outs: the lobby of 63 members with its joiner,
// and the floor server with its 63 receivers and trigger connection.
type fanout struct {
	lobbyID string
	joiner  *lobby.Client
	joined  *fanCounter
	left    *fanCounter

	floorLn   net.Listener
	trigger   net.Conn
	triggerBR *bufio.Reader
	floorHits *fanCounter
	msg       []byte // the floor's line, the size of a member_joined notice

	conns []net.Conn
	wg    sync.WaitGroup
}

// startFanout sets up both fan-outs against the coordinator at addr.
func (e *Env) startFanout(ctx context.Context) error {
	f := &fanout{joined: newFanCounter(`{"event":"member_joined"`), left: newFanCounter(`{"event":"member_left"`),
		floorHits: newFanCounter(`{"event":"fan"`)}
	e.fan = f
	// The lobby: an owner creates it, 62 members join, each with hello
	// pipelined in front of its request.
	for i := 0; i < fanSize; i++ {
		req := `{"op":"join","id":2,"lobby":"` + f.lobbyID + `","port":7000}`
		if i == 0 {
			req = fmt.Sprintf(`{"op":"create","id":2,"game":"fanout","name":"fan-out","capacity":%d,"port":7000}`, lobby.MaxCapacity)
		}
		id, err := f.member(e.addr, fmt.Sprintf("fan%d", i), req)
		if err != nil {
			return fmt.Errorf("bench: fan-out member %d: %w", i, err)
		}
		if i == 0 {
			f.lobbyID = id
		}
	}
	var err error
	if f.joiner, err = lobby.Dial(ctx, e.addr, lobby.ClientConfig{Player: "fan joiner"}); err != nil {
		return err
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for range f.joiner.Events() {
		}
	}()
	return f.startFloor()
}

// member connects one lobby member, sends hello and req in one write,
// waits for both replies and leaves a reader goroutine counting notices.
// It returns the lobby id of req's reply.
func (f *fanout) member(addr, player, req string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	f.conns = append(f.conns, c)
	lc := &lineConn{c: c, br: bufio.NewReaderSize(c, 1024)}
	c.SetDeadline(time.Now().Add(setupTimeout))
	hello := `{"op":"hello","id":1,"v":1,"player":"` + player + `","client":"lanlobby-bench"}` + "\n"
	if _, err := io.WriteString(c, hello+req+"\n"); err != nil {
		return "", err
	}
	var lobbyID string
	for lobbyID == "" {
		line, err := lc.readLine()
		if err != nil {
			return "", err
		}
		if id, ok := replyID(line); ok && id == 2 {
			if !replyOK(line) {
				return "", replyError(line)
			}
			lobbyID = stringField(line, `"lobby":"`)
			if lobbyID == "" {
				return "", fmt.Errorf("no lobby id in %.200s", line)
			}
		}
	}
	c.SetDeadline(time.Time{})
	f.wg.Add(1)
	go f.read(lc, f.joined, f.left)
	return lobbyID, nil
}

// read counts the lines of the counters' kinds and answers pings until the
// connection ends.
func (f *fanout) read(lc *lineConn, counters ...*fanCounter) {
	defer f.wg.Done()
	for {
		line, err := lc.readLine()
		if err != nil {
			return
		}
		if ok, err := lc.answerPing(line); ok {
			if err != nil {
				return
			}
			continue
		}
		for _, k := range counters {
			if bytes.HasPrefix(line, k.prefix) {
				k.hit()
			}
		}
	}
}

// startFloor runs the floor fan-out: a server whose one goroutine writes
// every line read from the trigger connection to the 63 receivers, each
// with a plain Write.
func (f *fanout) startFloor() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.floorLn = ln
	accepted := make([]net.Conn, 0, fanSize+1)
	ready := make(chan error, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for len(accepted) < fanSize+1 {
			c, err := ln.Accept()
			if err != nil {
				ready <- err
				return
			}
			accepted = append(accepted, c)
		}
		ready <- nil
		// The first connection accepted is the trigger.
		br := bufio.NewReaderSize(accepted[0], 1024)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				break
			}
			for _, c := range accepted[1:] {
				if _, err := c.Write(line); err != nil {
					break
				}
			}
		}
		for _, c := range accepted {
			c.Close()
		}
	}()
	if f.trigger, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		return err
	}
	// Connect in order: the trigger must be the first one accepted.
	for i := 0; i < fanSize; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		f.conns = append(f.conns, c)
		f.wg.Add(1)
		go f.read(&lineConn{c: c, br: bufio.NewReaderSize(c, 1024)}, f.floorHits)
	}
	if err := <-ready; err != nil {
		return err
	}
	f.triggerBR = bufio.NewReader(f.trigger)
	f.msg = []byte(`{"event":"fan","lobby":{"id":"abcdefghij","game":"fanout","name":"fan-out","capacity":64,"players":64,"state":"full"},"member":{"id":"abcdefghijklmnop","name":"fan joiner","addr":"127.0.0.1:7000"}}` + "\n")
	return nil
}

// close ends both fan-outs and waits for their goroutines.
func (f *fanout) close() {
	if f.joiner != nil {
		f.joiner.Close()
	}
	if f.trigger != nil {
		f.trigger.Close()
	}
	if f.floorLn != nil {
		f.floorLn.Close()
	}
	for _, c := range f.conns {
		c.Close()
	}
	f.wg.Wait()
}

// joinFanout is the lobby fan-out: from the moment the joiner sends its
// join until the last of the 63 members has read member_joined. The leave
// after it, and its member_left notices, are waited for but not measured.
func (e *Env) joinFanout(ctx context.Context) (time.Duration, error) {
	f := e.fan
	f.joined.arm(fanSize)
	start := time.Now()
	if _, err := f.joiner.Join(ctx, f.lobbyID, lobby.JoinOptions{Port: 7001}); err != nil {
		return 0, err
	}
	at, err := f.joined.wait(ctx)
	if err != nil {
		return 0, err
	}
	f.left.arm(fanSize)
	if err := f.joiner.Leave(ctx, f.lobbyID); err != nil {
		return 0, err
	}
	if _, err := f.left.wait(ctx); err != nil {
		return 0, err
	}
	return at.Sub(start), nil
}

// floorFanout is the floor's fan-out: from the trigger's write until the
// last of the 63 receivers has read the line.
func (e *Env) floorFanout(ctx context.Context) (time.Duration, error) {
	f := e.fan
	f.floorHits.arm(fanSize)
	start := time.Now()
	if _, err := f.trigger.Write(f.msg); err != nil {
		return 0, err
	}
	at, err := f.floorHits.wait(ctx)
	if err != nil {
		return 0, err
	}
	if at.Before(start) {
		return 0, errors.New("bench: fan-out arrived before it was sent")
	}
	return at.Sub(start), nil
}
