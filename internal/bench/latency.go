// Package bench measures lanlobby's request latencies over loopback against
// a plain TCP echo measured in the same process and run, so figures can be
// compared across noisy machines as ratios.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// Op is one measured operation. Run returns the latency of the part being
// measured (set-up and clean-up around it are excluded).
type Op struct {
	Name string
	Run  func(ctx context.Context) (time.Duration, error)
	// Base names the op this one is compared with (empty: the TCP echo,
	// the first op).
	Base string
}

// Env is a coordinator, an echo server and the clients the ops use, all on
// loopback.
type Env struct {
	srv    *lobby.Server
	addr   string
	lobby  string
	owner  *lobby.Client
	joiner *lobby.Client

	echoLn   net.Listener
	echoConn net.Conn
	echoBR   *bufio.Reader
	echoMsg  []byte

	fan *fanout // the 64-member lobby and its floor

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewEnv starts everything. Close releases it.
func NewEnv(ctx context.Context) (*Env, error) { return newEnv(ctx, true) }

// newEnv is NewEnv, with the fan-outs' 126 connections or without them.
func newEnv(ctx context.Context, fanout bool) (*Env, error) {
	e := &Env{}
	srvCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	var err error
	// No request rate limit: the benchmark is one client making thousands of
	// requests a second, which is what the limit is there to stop.
	e.srv, err = lobby.NewServer(lobby.ServerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RequestRate: -1})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.addr = ln.Addr().String()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.srv.Serve(srvCtx, ln)
	}()
	if err := e.startEcho(); err != nil {
		e.Close()
		return nil, err
	}
	if e.owner, err = lobby.Dial(ctx, e.addr, lobby.ClientConfig{Player: "owner"}); err != nil {
		e.Close()
		return nil, err
	}
	e.wg.Add(1)
	go func() { // the owner reads its notices, as a real host does
		defer e.wg.Done()
		for range e.owner.Events() {
		}
	}()
	j, err := e.owner.Create(ctx, lobby.CreateOptions{Game: "bench", Name: "bench lobby", Capacity: lobby.MaxCapacity,
		JoinOptions: lobby.JoinOptions{Port: 7777}})
	if err != nil {
		e.Close()
		return nil, err
	}
	e.lobby = j.Lobby.ID
	if e.joiner, err = lobby.Dial(ctx, e.addr, lobby.ClientConfig{Player: "joiner"}); err != nil {
		e.Close()
		return nil, err
	}
	if fanout {
		if err := e.startFanout(ctx); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// startEcho runs a line echo server and connects to it. The message has the
// size of a join request, so the baseline moves the same bytes.
func (e *Env) startEcho() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.echoLn = ln
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				c.(*net.TCPConn).SetNoDelay(true)
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	e.echoConn, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	e.echoConn.(*net.TCPConn).SetNoDelay(true)
	e.echoBR = bufio.NewReader(e.echoConn)
	e.echoMsg = []byte(`{"op":"join","id":123,"lobby":"abcdefghij","port":7777}` + "\n")
	return nil
}

// Close stops the coordinator and the echo server and waits for them.
func (e *Env) Close() {
	for _, c := range []*lobby.Client{e.joiner, e.owner} {
		if c != nil {
			c.Close()
		}
	}
	if e.fan != nil {
		e.fan.close()
	}
	if e.echoConn != nil {
		e.echoConn.Close()
	}
	if e.echoLn != nil {
		e.echoLn.Close()
	}
	e.cancel()
	e.wg.Wait()
}

// Names of the ops whose figures bench table reports.
const (
	OpEcho        = "tcp echo (baseline)"
	OpDialEcho    = "tcp dial + echo"
	OpJoin        = "join, open link"
	OpQuickJoin   = "quick-join, open link"
	OpColdJoin    = "dial + hello + join"
	OpFloorFanout = "tcp fan-out to 63"
	OpFanout      = "member_joined to 63"
)

// Ops lists the measured operations; the first is the echo baseline, and
// the lobby fan-out is compared with the floor fan-out before it (both
// left out by an Env without them).
func (e *Env) Ops() []Op {
	ops := []Op{
		{OpEcho, e.echo, ""},
		{"ping, open link", e.ping, ""},
		{OpDialEcho, e.dialEcho, ""},
		{OpJoin, e.join, ""},
		{OpQuickJoin, e.quickJoin, ""},
		{OpColdJoin, e.coldJoin, ""},
		{"dial, then join", e.dialThenJoin, ""},
		{OpFloorFanout, e.floorFanout, ""},
		{OpFanout, e.joinFanout, OpFloorFanout},
	}
	if e.fan == nil {
		ops = ops[:len(ops)-2]
	}
	return ops
}

func (e *Env) echo(context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := e.echoConn.Write(e.echoMsg); err != nil {
		return 0, err
	}
	if _, err := e.echoBR.ReadSlice('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (e *Env) dialEcho(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c, err := net.Dial("tcp", e.echoLn.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Write(e.echoMsg); err != nil {
		return 0, err
	}
	buf := make([]byte, 256)
	n := 0
	for n < len(e.echoMsg) {
		k, err := c.Read(buf[n:])
		if err != nil {
			return 0, err
		}
		n += k
	}
	return time.Since(start), nil
}

func (e *Env) ping(ctx context.Context) (time.Duration, error) {
	return e.joiner.Ping(ctx)
}

func (e *Env) join(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := e.joiner.Join(ctx, e.lobby, lobby.JoinOptions{Port: 7778}); err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, e.joiner.Leave(ctx, e.lobby)
}

func (e *Env) quickJoin(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	j, err := e.joiner.QuickJoin(ctx, "bench", lobby.JoinOptions{Port: 7778})
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, e.joiner.Leave(ctx, j.Lobby.ID)
}

// coldJoin is a game's cold join: connect, hello and join, the hello and
// the join in one write (lobby.DialJoin, what the library does).
func (e *Env) coldJoin(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c, _, err := lobby.DialJoin(ctx, e.addr, lobby.ClientConfig{Player: "cold"}, e.lobby, lobby.JoinOptions{Port: 7779})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, c.Leave(ctx, e.lobby)
}

// dialThenJoin is the cold join in two round trips: Dial waits for the
// hello reply, then Join.
func (e *Env) dialThenJoin(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c, err := lobby.Dial(ctx, e.addr, lobby.ClientConfig{Player: "cold"})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Join(ctx, e.lobby, lobby.JoinOptions{Port: 7779}); err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, c.Leave(ctx, e.lobby)
}

// Result summarises one op's samples.
type Result struct {
	Name     string
	N        int
	P50, P99 time.Duration
	Base     string  // the op compared with
	Ratio    float64 // P50 / the base op's P50
	Ratio99  float64 // P99 / the base op's P99
	// After splits the samples by the op run just before (the previous
	// round's last op for a round's first), in the order of the ops: what
	// an op costs depends on the work its predecessor leaves behind (a
	// closed connection's teardown, notices still being read), and the
	// overall p50 is a mix of these (see FormatAfter).
	After []After
}

// After is an op's samples taken right after one other op.
type After struct {
	Op  string // the predecessor ("" for the very first sample)
	N   int
	P50 time.Duration
}

// Percentile returns the p-th percentile (0..100) of sorted samples, by the
// nearest-rank method.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Summarize sorts samples in place and returns p50 and p99.
func Summarize(samples []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(samples)
	return Percentile(samples, 50), Percentile(samples, 99)
}

// Config sets the size of a run.
type Config struct {
	Rounds int // samples per op (default 2000)
	Warmup int // unmeasured rounds first (default 200)
	// Rotate measures as the first version of this bench did: only its
	// four ops (echo, join, quick-join, dial + hello + join), in a fixed
	// cyclic order, each always right after the same one, instead of
	// every op in a new random order each round. Kept to compare with
	// figures measured that way: it biases every op by its predecessor's
	// trailing work (the echo always follows the cold join's close).
	Rotate bool
	// NoFanout leaves out the two fan-out ops (and the 63 connections
	// they hold).
	NoFanout bool
}

// Latency measures every op Rounds times, interleaved round by round so
// that machine noise falls on all of them alike, and reports each against
// the echo baseline.
func Latency(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 2000
	}
	if cfg.Warmup < 0 {
		cfg.Warmup = 0
	} else if cfg.Warmup == 0 {
		cfg.Warmup = 200
	}
	env, err := newEnv(ctx, !cfg.NoFanout)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	ops := env.Ops()
	if cfg.Rotate {
		ops = []Op{ops[0], ops[3], ops[4], ops[5]}
	}
	samples := make([][]time.Duration, len(ops))
	// Each round runs the ops in a new random order: an op leaves work
	// behind it (a closing connection, notices still being read) that
	// slows whatever comes next, and in a fixed or rotating order the same
	// op would always pay for the same predecessor.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	// after[i][p+1]: op i's samples taken right after op p (p = -1: none).
	after := make([][][]time.Duration, len(ops))
	for i := range after {
		after[i] = make([][]time.Duration, len(ops)+1)
	}
	prev := -1
	for round := 0; round < cfg.Warmup+cfg.Rounds; round++ {
		if cfg.Rotate {
			for k := range order {
				order[k] = (round + k) % len(ops)
			}
		} else {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		for _, i := range order {
			d, err := ops[i].Run(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ops[i].Name, err)
			}
			if round >= cfg.Warmup {
				samples[i] = append(samples[i], d)
				after[i][prev+1] = append(after[i][prev+1], d)
			}
			prev = i
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	results := make([]Result, len(ops))
	for i, op := range ops {
		p50, p99 := Summarize(samples[i])
		results[i] = Result{Name: op.Name, N: len(samples[i]), P50: p50, P99: p99}
		for p, v := range after[i] {
			if len(v) == 0 {
				continue
			}
			a := After{N: len(v)}
			if p > 0 {
				a.Op = ops[p-1].Name
			}
			a.P50, _ = Summarize(v)
			results[i].After = append(results[i].After, a)
		}
	}
	for i := range results {
		b := results[0]
		if j := slices.IndexFunc(results, func(r Result) bool { return r.Name == ops[i].Base }); j >= 0 {
			b = results[j]
		}
		if b.P50 <= 0 || b.P99 <= 0 {
			return results, fmt.Errorf("bench: baseline %s measured as zero", b.Name)
		}
		results[i].Base = b.Name
		results[i].Ratio = float64(results[i].P50) / float64(b.P50)
		results[i].Ratio99 = float64(results[i].P99) / float64(b.P99)
	}
	return results, nil
}

// Format renders results as a table: each op's ratios are to its base
// (the echo, unless named).
func Format(results []Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %7s %10s %10s %8s %8s  %s\n", "op", "n", "p50", "p99", "p50/base", "p99/base", "base")
	for _, r := range results {
		base := "echo"
		if r.Base != OpEcho {
			base = r.Base
		}
		fmt.Fprintf(&b, "%-24s %7d %10s %10s %8.2f %8.2f  %s\n", r.Name, r.N, r.P50.Round(100*time.Nanosecond), r.P99.Round(100*time.Nanosecond),
			r.Ratio, r.Ratio99, base)
	}
	return b.String()
}

// FormatAfter renders each op's p50 split by the op run just before it,
// with its ratio to the echo's p50 after the same op (the same trailing
// work): the overall ratios mix quiet predecessors (an open link's ops)
// with ones that leave a connection's teardown behind (the dials).
func FormatAfter(results []Result) string {
	echo := map[string]time.Duration{}
	if len(results) > 0 && results[0].Name == OpEcho {
		for _, a := range results[0].After {
			echo[a.Op] = a.P50
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-24s %7s %10s %8s\n", "op", "after", "n", "p50", "p50/echo")
	for _, r := range results {
		for _, a := range r.After {
			prev := a.Op
			if prev == "" {
				prev = "(none)"
			}
			ratio := "-"
			if e := echo[a.Op]; e > 0 {
				ratio = fmt.Sprintf("%.2f", float64(a.P50)/float64(e))
			}
			fmt.Fprintf(&b, "%-24s %-24s %7d %10s %8s\n", r.Name, prev, a.N, a.P50.Round(100*time.Nanosecond), ratio)
		}
	}
	return b.String()
}
