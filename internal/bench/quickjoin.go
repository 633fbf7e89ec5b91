package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// quickJoins creates the open lobbies, then lets every quick-join
// connection send quick_join requests, QJDepth in flight, each answered
// reply followed at once by the leave of the lobby it joined and the next
// quick_join, in one write. Connection k quick-joins game "qj-k", which
// holds QJLobbies/QJConns of the lobbies: one shared game would gather
// every joiner in the one lobby closest to starting and measure the
// fan-out of join notices among them rather than quick-join.
func (g *loadGen) quickJoins(ctx context.Context, res *LoadResult, owners int) error {
	cfg := g.cfg
	res.QJConns, res.QJDepth, res.QJLobbies = cfg.QJConns, cfg.QJDepth, cfg.QJLobbies
	// The owners: each creates up to 8 lobbies, then just answers pings
	// and reads its join and leave notices.
	errs := make(chan error, owners+cfg.QJConns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.DialConcurrency)
	for o := range owners {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- g.setupOwner(ctx, o)
		}()
	}
	wg.Wait()
	workers := make([]*qjWorker, cfg.QJConns)
	for k := range workers {
		w := &qjWorker{g: g, game: fmt.Sprintf("qj-%d", k), pending: map[int64]time.Time{}}
		workers[k] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.dialHello(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("quick-join set-up: %w", err)
		}
	}
	pid := g.coord.pid()
	cpu0, _ := procCPU(pid)
	self0, _ := procCPU(0)
	start := time.Now()
	deadline := start.Add(cfg.QJDuration)
	errs = make(chan error, cfg.QJConns)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.run(deadline)
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	for _, w := range workers {
		w.m.c.Close() // nobody answers its pings any more
	}
	cpu1, _ := procCPU(pid)
	self1, _ := procCPU(0)
	res.QJGeneratorCPUPct = cpuPct(self1-self0, wall)
	close(errs)
	var lat []time.Duration
	for _, w := range workers {
		res.QuickJoins += w.ok
		res.QJErrors += w.errors
		for code, n := range w.codes {
			if res.QJErrorCodes == nil {
				res.QJErrorCodes = map[string]int64{}
			}
			res.QJErrorCodes[code] += n
		}
		lat = append(lat, w.lat...)
	}
	for err := range errs {
		if err != nil {
			return fmt.Errorf("quick-join: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.QJSeconds = cfg.QJDuration.Seconds()
	res.QJPerSec = float64(res.QuickJoins) / cfg.QJDuration.Seconds()
	res.QJCPUPct = cpuPct(cpu1-cpu0, wall)
	p50, p99 := Summarize(lat)
	res.QJP50us = float64(p50) / float64(time.Microsecond)
	res.QJP99us = float64(p99) / float64(time.Microsecond)
	return nil
}

// setupOwner creates quick-join lobbies o*8 .. o*8+7 (those below
// QJLobbies) with one connection, and serves it.
func (g *loadGen) setupOwner(ctx context.Context, o int) error {
	m, err := g.dial(ctx)
	if err != nil {
		return err
	}
	m.c.SetReadDeadline(time.Now().Add(setupTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, `{"op":"hello","id":1,"v":1,"player":"qo%d"}`+"\n", o)
	n := 0
	for i := o * maxLobbiesPerConn; i < min((o+1)*maxLobbiesPerConn, g.cfg.QJLobbies); i++ {
		fmt.Fprintf(&b, `{"op":"create","id":%d,"game":"qj-%d","name":"qj %d","capacity":64,"port":7000}`+"\n",
			2+n, i%g.cfg.QJConns, i)
		n++
	}
	if _, err := io.WriteString(m.c, b.String()); err != nil {
		return err
	}
	line, err := g.await(m, 1)
	if err != nil {
		return err
	}
	m.id = stringField(line, `"you":{"id":"`)
	for id := range n {
		if _, err := g.await(m, int64(2+id)); err != nil {
			return fmt.Errorf("create: %w", err)
		}
	}
	m.c.SetReadDeadline(time.Time{})
	g.wg.Add(1)
	go g.serve(m)
	return nil
}

// qjWorker is one quick-join connection. Its requests have odd ids for
// quick_join and even ids for leave.
type qjWorker struct {
	g       *loadGen
	m       *lineConn
	game    string
	nextID  int64
	pending map[int64]time.Time // quick_join id -> sent at
	leaves  int                 // leave replies outstanding
	buf     []byte

	ok, errors int64
	codes      map[string]int64 // errors by op and code
	lat        []time.Duration
}

// noteError counts an error reply to op by its code.
func (w *qjWorker) noteError(op string, line []byte) {
	w.errors++
	code := stringField(line, `"code":"`)
	if code == "" {
		code = "no code"
	}
	if w.codes == nil {
		w.codes = map[string]int64{}
	}
	w.codes[op+": "+code]++
}

func (w *qjWorker) dialHello(ctx context.Context) error {
	m, err := w.g.dial(ctx)
	if err != nil {
		return err
	}
	w.m = m
	m.c.SetReadDeadline(time.Now().Add(setupTimeout))
	if _, err := io.WriteString(m.c, `{"op":"hello","id":0,"v":1,"player":"`+w.game+`"}`+"\n"); err != nil {
		return err
	}
	line, err := w.g.await(m, 0)
	if err != nil {
		return err
	}
	m.id = stringField(line, `"you":{"id":"`)
	w.nextID = 1
	return nil
}

func (w *qjWorker) appendQuickJoin(now time.Time) {
	w.buf = append(w.buf, `{"op":"quick_join","id":`...)
	w.buf = strconv.AppendInt(w.buf, w.nextID, 10)
	w.buf = append(w.buf, `,"game":"`...)
	w.buf = append(w.buf, w.game...)
	w.buf = append(w.buf, "\",\"port\":7000}\n"...)
	w.pending[w.nextID] = now
	w.nextID += 2
}

// run sends quick-joins until deadline, then lets the last replies and
// leaves come back. Only replies received before deadline are counted.
func (w *qjWorker) run(deadline time.Time) error {
	m := w.m
	m.c.SetReadDeadline(deadline.Add(setupTimeout))
	now := time.Now()
	w.buf = w.buf[:0]
	for range w.g.cfg.QJDepth {
		w.appendQuickJoin(now)
	}
	if _, err := m.c.Write(w.buf); err != nil {
		return err
	}
	for len(w.pending) > 0 || w.leaves > 0 {
		line, err := m.readLine()
		if err != nil {
			if w.g.stopping.Load() {
				return nil
			}
			return err
		}
		if len(line) == 0 {
			continue
		}
		if ok, err := m.answerPing(line); ok {
			if err != nil {
				return err
			}
			continue
		}
		id, isReply := replyID(line)
		if !isReply {
			w.g.onPush(line)
			continue
		}
		if id%2 == 0 {
			w.leaves--
			if !replyOK(line) {
				w.noteError("leave", line)
			}
			continue
		}
		sent, ok := w.pending[id]
		if !ok {
			continue
		}
		delete(w.pending, id)
		now := time.Now()
		live := now.Before(deadline)
		w.buf = w.buf[:0]
		if replyOK(line) {
			if live {
				w.ok++
				w.lat = append(w.lat, now.Sub(sent))
			}
			w.buf = append(w.buf, `{"op":"leave","id":`...)
			w.buf = strconv.AppendInt(w.buf, id+1, 10)
			w.buf = append(w.buf, `,"lobby":"`...)
			w.buf = append(w.buf, stringField(line, `"lobby":"`)...)
			w.buf = append(w.buf, "\"}\n"...)
			w.leaves++
		} else {
			w.noteError("quick_join", line)
		}
		if live {
			w.appendQuickJoin(now)
		}
		if len(w.buf) > 0 {
			if _, err := m.c.Write(w.buf); err != nil {
				return err
			}
		}
	}
	return nil
}
