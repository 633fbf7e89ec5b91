package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The subscription benchmark: one coordinator process, Lobbies lobbies
// whose owners change them at Rate changes a second in all, and
// Subscribers raw clients each subscribed with a filter of its own. The
// coordinator's CPU under the same churn is measured three ways in one
// run: with no subscriber connected at all (the baseline), with the
// subscribers connected and subscribed, and with them connected but
// unsubscribed (what the subscriptions alone cost). A probe subscriber
// measures how long a change takes to reach a subscriber, under the churn
// and one change at a time; a subscriber to another game counts what it
// hears about this one (it must hear nothing).

// SubscribeConfig sizes a subscription run. Zero fields take the defaults
// in brackets.
type SubscribeConfig struct {
	// Coordinator is the command that runs a coordinator (see
	// LoadConfig.Coordinator). Required.
	Coordinator     []string
	CoordinatorArgs []string
	Subscribers     int           // subscribers, each with its own filter [1000]
	Lobbies         int           // lobbies that churn [100]
	Rate            int           // lobby changes a second, in all [200]
	Phase           time.Duration // each measured phase [5s]
	Rounds          int           // measured phases of each kind [3]
	Probes          int           // one-at-a-time changes timed at the end [200]
	Progress        io.Writer
}

// SubscribeResult is what a subscription run measured.
type SubscribeResult struct {
	Subscribers, Lobbies, Rate, Rounds int
	PhaseSeconds                       float64
	// Coordinator CPU in % of one core, per phase: churn with no
	// subscriber connected (Base), with every subscriber subscribed (Sub),
	// and with them connected but unsubscribed (Idle).
	BaseCPU, SubCPU, IdleCPU []float64
	// Changes actually made per phase, in the same order.
	BaseChanges, SubChanges, IdleChanges []int
	// CPURatio is median(SubCPU) / median(BaseCPU), the figure asked for;
	// SubVsIdle is median(SubCPU) / median(IdleCPU).
	CPURatio, SubVsIdle float64
	// Events the subscribers received during the subscribed phases, and
	// per change made.
	Events          int64
	EventsPerChange float64
	// From a change sent by its owner to its arrival at a subscriber, on
	// loopback: under the churn (subscribed phases), and one change at a
	// time with every subscriber subscribed.
	ChurnP50, ChurnP99 time.Duration
	IdleP50, IdleP99   time.Duration
	// PingP50 and PingP99 are the baseline under the churn: the probe's
	// own ping round trips (answered by its link's reader, not the state
	// goroutine) in the same phases, so scheduling stalls of a busy
	// machine show in both.
	PingP50, PingP99 time.Duration
	// ReplyP50 and ReplyP99 are the baseline of the same run: from the
	// same one-at-a-time changes to the owner's reply, a round trip
	// through the coordinator's state goroutine.
	ReplyP50, ReplyP99 time.Duration
	// ForeignEvents counts the lobby events a subscriber to another game
	// received (its snapshot and sync excluded): 0 when subscriptions
	// keep to their game.
	ForeignEvents int64
}

func (c SubscribeConfig) withDefaults() (SubscribeConfig, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Subscribers, 1000)
	def(&c.Lobbies, 100)
	def(&c.Rate, 200)
	def(&c.Rounds, 3)
	def(&c.Probes, 200)
	if c.Phase == 0 {
		c.Phase = 5 * time.Second
	}
	switch {
	case len(c.Coordinator) == 0:
		return c, errors.New("bench: no coordinator command")
	case c.Subscribers < 1 || c.Lobbies < 1 || c.Rate < 1 || c.Rounds < 1 || c.Phase < 100*time.Millisecond:
		return c, errors.New("bench: subscribers, lobbies, rate and rounds must be >= 1, the phase >= 100ms")
	}
	return c, nil
}

// subGen is the generator: owners that churn, subscribers that read.
type subGen struct {
	cfg     SubscribeConfig
	coord   *coordinator
	dialers []net.Dialer
	next    atomic.Uint32

	mu     sync.Mutex // guards conns, closed, lat
	conns  []net.Conn
	closed bool
	lat    []time.Duration // probe samples of the current window
	record bool

	owners   []*lineConn
	lobbyIDs []string
	subs     []*lineConn
	events   atomic.Int64 // lobby events received by the subscribers
	foreign  atomic.Int64
	synced   atomic.Int64 // synced pushes received (subscribe completions)
	unsubbed atomic.Int64 // unsubscribe replies received
	probeCh  chan time.Duration
	replyCh  chan time.Time // the owners' set_meta replies, while probing
	pingsMu  sync.Mutex     // guards pingSent, pings
	pingSent map[int64]time.Time
	pings    []time.Duration
	wg       sync.WaitGroup
}

func (g *subGen) logf(format string, args ...any) {
	if g.cfg.Progress != nil {
		fmt.Fprintf(g.cfg.Progress, "bench subscribe: "+format+"\n", args...)
	}
}

func (g *subGen) dial(ctx context.Context) (*lineConn, error) {
	d := &g.dialers[int(g.next.Add(1))%len(g.dialers)]
	c, err := d.DialContext(ctx, "tcp", g.coord.addr)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		c.Close()
		return nil, errors.New("bench: run is ending")
	}
	g.conns = append(g.conns, c)
	return &lineConn{c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

// hello connects a raw client and completes hello, then sends req (with
// id 2) if any and returns its reply.
func (g *subGen) hello(ctx context.Context, player, req string) (*lineConn, []byte, error) {
	m, err := g.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	m.c.SetReadDeadline(time.Now().Add(setupTimeout))
	defer m.c.SetReadDeadline(time.Time{})
	msg := `{"op":"hello","id":1,"v":1,"player":"` + player + `","client":"lanlobby-bench"}` + "\n"
	if req != "" {
		msg += req + "\n"
	}
	if _, err := io.WriteString(m.c, msg); err != nil {
		return nil, nil, err
	}
	want := int64(1)
	if req != "" {
		want = 2
	}
	for {
		line, err := m.readLine()
		if err != nil {
			return nil, nil, err
		}
		if ok, err := m.answerPing(line); ok {
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		if id, ok := replyID(line); ok && id == want {
			if !replyOK(line) {
				return nil, nil, replyError(line)
			}
			return m, bytes.Clone(line), nil
		}
	}
}

var (
	subEventPrefix = []byte(`{"event":"lobby_`)
	syncedPrefix   = []byte(`{"event":"synced"`)
	tField         = []byte(`"t":"`)
)

// read serves a subscriber (or an owner) until its connection ends:
// pings answered, events counted, probe samples taken.
func (g *subGen) read(m *lineConn, probe, foreign bool) {
	defer g.wg.Done()
	for {
		line, err := m.readLine()
		if err != nil {
			return
		}
		if ok, _ := m.answerPing(line); ok {
			continue
		}
		switch {
		case bytes.HasPrefix(line, subEventPrefix):
			now := time.Now()
			if foreign {
				g.foreign.Add(1)
				continue
			}
			g.events.Add(1)
			if probe {
				if i := bytes.Index(line, tField); i >= 0 {
					rest := line[i+len(tField):]
					if j := bytes.IndexByte(rest, '"'); j > 0 {
						if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil && ns > 0 {
							g.sample(now.Sub(time.Unix(0, ns)))
						}
					}
				}
			}
		case bytes.HasPrefix(line, syncedPrefix):
			g.synced.Add(1)
		default:
			id, ok := replyID(line)
			switch {
			case ok && id == 3 && g.replyCh != nil:
				select {
				case g.replyCh <- time.Now():
				default:
				}
			case ok && id >= pingIDBase && probe:
				g.pingsMu.Lock()
				if at, ok := g.pingSent[id]; ok {
					g.pings = append(g.pings, time.Since(at))
					delete(g.pingSent, id)
				}
				g.pingsMu.Unlock()
			case ok && id >= 1000 && replyOK(line):
				g.unsubbed.Add(1)
			}
		}
	}
}

func (g *subGen) sample(d time.Duration) {
	g.mu.Lock()
	if g.record {
		g.lat = append(g.lat, d)
	}
	g.mu.Unlock()
	if g.probeCh != nil {
		select {
		case g.probeCh <- d:
		default:
		}
	}
}

// pingIDBase numbers the probe's pings.
const pingIDBase = 1 << 40

// pinger sends a ping on the probe's link every 10 ms until stop closes.
func (g *subGen) pinger(probe *lineConn, stop <-chan struct{}) {
	defer g.wg.Done()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for id := int64(pingIDBase); ; id++ {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		g.pingsMu.Lock()
		g.pingSent[id] = time.Now()
		g.pingsMu.Unlock()
		probe.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(probe.c, `{"op":"ping","id":%d}`+"\n", id); err != nil {
			return
		}
	}
}

// change sends a set_meta of lobby i: its map (moved every fourth change
// of a lobby, so that it leaves some filters and enters others) and t, the
// send time, which the probe reads back.
func (g *subGen) change(i, n int) error {
	o := g.owners[i]
	req := fmt.Sprintf(`{"op":"set_meta","id":3,"lobby":%q,"meta":{"map":"m%d","level":"%d","t":"%d"}}`+"\n",
		g.lobbyIDs[i], (i+n/4)%10, i%100, time.Now().UnixNano())
	o.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(o.c, req)
	return err
}

// churn changes lobbies round robin at cfg.Rate for d and returns how many
// changes it made.
func (g *subGen) churn(ctx context.Context, d time.Duration, round *int) (int, error) {
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	made := 0
	for time.Since(start) < d {
		select {
		case <-t.C:
		case <-ctx.Done():
			return made, ctx.Err()
		case <-g.coord.exited:
			return made, g.coord.exitError()
		}
		due := int(time.Since(start) * time.Duration(g.cfg.Rate) / time.Second)
		for ; made < due; made++ {
			i := (*round + made) % len(g.owners)
			if err := g.change(i, (*round+made)/len(g.owners)); err != nil {
				return made, err
			}
		}
	}
	*round += made
	return made, nil
}

// measure runs the churn for one phase and returns the coordinator's CPU
// in % of one core and the changes made.
func (g *subGen) measure(ctx context.Context, round *int) (float64, int, error) {
	pid := g.coord.pid()
	c0, err := procCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	made, err := g.churn(ctx, g.cfg.Phase, round)
	if err != nil {
		return 0, 0, err
	}
	c1, err := procCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	return 100 * float64(c1-c0) / float64(time.Since(t0)), made, nil
}

// subscribeAll subscribes every subscriber with its own filter and waits
// until every snapshot is in.
func (g *subGen) subscribeAll(ctx context.Context, id int) error {
	before := g.synced.Load()
	for j, m := range g.subs {
		lo := j % 50
		req := fmt.Sprintf(`{"op":"subscribe","id":%d,"game":"bench","filter":{"version":"1.4","meta":{"map":"m%d"},"ranges":[{"key":"level","min":%d,"max":%d}]}}`+"\n",
			id, j%10, lo, lo+50)
		m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(m.c, req); err != nil {
			return err
		}
	}
	return g.waitCount(ctx, &g.synced, before+int64(len(g.subs)), "snapshots")
}

// unsubscribeAll ends every subscriber's subscription sub.
func (g *subGen) unsubscribeAll(ctx context.Context, sub int) error {
	before := g.unsubbed.Load()
	for _, m := range g.subs {
		req := fmt.Sprintf(`{"op":"unsubscribe","id":%d,"sub":%d}`+"\n", 1000+sub, sub)
		m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(m.c, req); err != nil {
			return err
		}
	}
	return g.waitCount(ctx, &g.unsubbed, before+int64(len(g.subs)), "unsubscribes")
}

func (g *subGen) waitCount(ctx context.Context, n *atomic.Int64, want int64, what string) error {
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d %s after 30s", n.Load(), want, what)
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		case <-g.coord.exited:
			return g.coord.exitError()
		}
	}
	return nil
}

// Subscribe runs the subscription benchmark.
func Subscribe(ctx context.Context, cfg SubscribeConfig) (res *SubscribeResult, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return nil, errors.New("bench subscribe reads the coordinator's CPU time from /proc: Linux only")
	}
	need := cfg.Subscribers + cfg.Lobbies + 8
	if soft, hard, err := fdLimit(); err == nil && need+64 > soft {
		return nil, fmt.Errorf("bench: %d connections need more file descriptors than the limit %d (hard %d)", need, soft, hard)
	}
	g := &subGen{cfg: cfg}
	sources := (need + connsPerSource - 1) / connsPerSource
	for i := range sources {
		d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
		if sources > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
		}
		g.dialers = append(g.dialers, d)
	}
	g.coord, err = startCoordinator(LoadConfig{Coordinator: cfg.Coordinator, CoordinatorArgs: cfg.CoordinatorArgs,
		Heartbeat: time.Second, Misses: 3})
	if err != nil {
		return nil, err
	}
	defer func() {
		g.coord.stop(5 * time.Second)
		g.mu.Lock()
		g.closed = true
		for _, c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
		err = g.coord.explain(err)
	}()
	res = &SubscribeResult{Subscribers: cfg.Subscribers, Lobbies: cfg.Lobbies, Rate: cfg.Rate, Rounds: cfg.Rounds,
		PhaseSeconds: cfg.Phase.Seconds()}

	// The lobbies, each with its owner, which churns it.
	for i := range cfg.Lobbies {
		create := fmt.Sprintf(`{"op":"create","id":2,"game":"bench","name":"bench %d","capacity":8,"port":7000,"version":"1.4","meta":{"map":"m%d","level":"%d","t":"0"}}`,
			i, i%10, i%100)
		o, reply, err := g.hello(ctx, fmt.Sprint("o", i), create)
		if err != nil {
			return res, fmt.Errorf("owner %d: %w", i, err)
		}
		g.owners = append(g.owners, o)
		g.lobbyIDs = append(g.lobbyIDs, stringField(reply, `"lobby":"`))
		g.wg.Add(1)
		go g.read(o, false, false)
	}
	g.logf("%d lobbies created", cfg.Lobbies)
	round := 0

	// 1. The baseline: the churn with no subscriber connected.
	for r := range cfg.Rounds {
		cpu, made, err := g.measure(ctx, &round)
		if err != nil {
			return res, err
		}
		res.BaseCPU, res.BaseChanges = append(res.BaseCPU, cpu), append(res.BaseChanges, made)
		g.logf("baseline %d: coordinator %.1f%% of a core, %d changes", r+1, cpu, made)
	}

	// 2. The subscribers, a probe that sees every lobby, and a subscriber
	// to another game.
	for j := range cfg.Subscribers {
		m, _, err := g.hello(ctx, fmt.Sprint("s", j), "")
		if err != nil {
			return res, fmt.Errorf("subscriber %d: %w", j, err)
		}
		g.subs = append(g.subs, m)
		g.wg.Add(1)
		go g.read(m, false, false)
	}
	probe, _, err := g.hello(ctx, "probe", `{"op":"subscribe","id":2,"game":"bench"}`)
	if err != nil {
		return res, fmt.Errorf("probe: %w", err)
	}
	g.probeCh = make(chan time.Duration, 1)
	g.pingSent = make(map[int64]time.Time)
	g.wg.Add(1)
	go g.read(probe, true, false)
	other, _, err := g.hello(ctx, "other", `{"op":"subscribe","id":2,"game":"other"}`)
	if err != nil {
		return res, fmt.Errorf("foreign subscriber: %w", err)
	}
	g.wg.Add(1)
	go g.read(other, false, true)
	g.logf("%d subscribers connected", cfg.Subscribers)

	// 3. Subscribed and unsubscribed phases, alternating.
	var churnLat []time.Duration
	for r := range cfg.Rounds {
		if err := g.subscribeAll(ctx, 10+r); err != nil {
			return res, err
		}
		g.mu.Lock()
		g.lat, g.record = g.lat[:0], true
		g.mu.Unlock()
		ev0 := g.events.Load()
		stopPing := make(chan struct{})
		g.wg.Add(1)
		go g.pinger(probe, stopPing)
		cpu, made, err := g.measure(ctx, &round)
		close(stopPing)
		if err != nil {
			return res, err
		}
		g.mu.Lock()
		g.record = false
		churnLat = append(churnLat, g.lat...)
		g.mu.Unlock()
		res.Events += g.events.Load() - ev0
		res.SubCPU, res.SubChanges = append(res.SubCPU, cpu), append(res.SubChanges, made)
		g.logf("subscribed %d: coordinator %.1f%% of a core, %d changes, %d events", r+1, cpu, made, g.events.Load()-ev0)
		if err := g.unsubscribeAll(ctx, r+1); err != nil {
			return res, err
		}
		cpu, made, err = g.measure(ctx, &round)
		if err != nil {
			return res, err
		}
		res.IdleCPU, res.IdleChanges = append(res.IdleCPU, cpu), append(res.IdleChanges, made)
		g.logf("unsubscribed %d: coordinator %.1f%% of a core, %d changes", r+1, cpu, made)
	}
	// 4. One change at a time, every subscriber subscribed.
	if err := g.subscribeAll(ctx, 100); err != nil {
		return res, err
	}
	var idle, replies []time.Duration
	g.replyCh = make(chan time.Time, 1)
	g.sleepSettle(ctx)
	for n := range cfg.Probes {
		for len(g.probeCh) > 0 {
			<-g.probeCh
		}
		for len(g.replyCh) > 0 {
			<-g.replyCh
		}
		sent := time.Now()
		if err := g.change(n%len(g.owners), round); err != nil {
			return res, err
		}
		for got := 0; got < 2; got++ {
			select {
			case d := <-g.probeCh:
				idle = append(idle, d)
			case at := <-g.replyCh:
				replies = append(replies, at.Sub(sent))
			case <-time.After(5 * time.Second):
				return res, errors.New("bench: the probe missed a change")
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
	}
	slices.Sort(replies)
	res.ReplyP50, res.ReplyP99 = Percentile(replies, 50), Percentile(replies, 99)
	slices.Sort(churnLat)
	slices.Sort(idle)
	g.pingsMu.Lock()
	slices.Sort(g.pings)
	res.PingP50, res.PingP99 = Percentile(g.pings, 50), Percentile(g.pings, 99)
	g.pingsMu.Unlock()
	res.ChurnP50, res.ChurnP99 = Percentile(churnLat, 50), Percentile(churnLat, 99)
	res.IdleP50, res.IdleP99 = Percentile(idle, 50), Percentile(idle, 99)
	res.CPURatio = median(res.SubCPU) / median(res.BaseCPU)
	res.SubVsIdle = median(res.SubCPU) / median(res.IdleCPU)
	total := 0
	for _, n := range res.SubChanges {
		total += n
	}
	if total > 0 {
		res.EventsPerChange = float64(res.Events) / float64(total)
	}
	res.ForeignEvents = g.foreign.Load()
	return res, nil
}

// sleepSettle lets the subscriptions' snapshots drain before timing.
func (g *subGen) sleepSettle(ctx context.Context) {
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FormatSubscribe prints a subscription run for people.
func FormatSubscribe(r *SubscribeResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "subscriptions: %d subscribers with their own filters, %d lobbies churning at %d changes/s, %d x %.0fs phases\n",
		r.Subscribers, r.Lobbies, r.Rate, r.Rounds, r.PhaseSeconds)
	fmt.Fprintf(&b, "coordinator CPU (%% of one core): no subscribers %s; subscribed %s; connected, unsubscribed %s\n",
		fmtPcts(r.BaseCPU), fmtPcts(r.SubCPU), fmtPcts(r.IdleCPU))
	fmt.Fprintf(&b, "  ratio subscribed / no subscribers: %.2fx (medians); subscribed / unsubscribed: %.2fx\n", r.CPURatio, r.SubVsIdle)
	fmt.Fprintf(&b, "  %d events delivered in the subscribed phases, %.1f per change\n", r.Events, r.EventsPerChange)
	fmt.Fprintf(&b, "change -> subscriber on loopback: under churn p50 %v p99 %v; one at a time p50 %v p99 %v\n",
		r.ChurnP50.Round(time.Microsecond), r.ChurnP99.Round(time.Microsecond), r.IdleP50.Round(time.Microsecond), r.IdleP99.Round(time.Microsecond))
	fmt.Fprintf(&b, "  baselines: under the churn, the probe's ping round trip p50 %v p99 %v; one at a time, the owner's reply p50 %v p99 %v\n",
		r.PingP50.Round(time.Microsecond), r.PingP99.Round(time.Microsecond), r.ReplyP50.Round(time.Microsecond), r.ReplyP99.Round(time.Microsecond))
	fmt.Fprintf(&b, "subscriber to another game: %d events about this one\n", r.ForeignEvents)
	return b.String()
}

func fmtPcts(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, " ")
}
