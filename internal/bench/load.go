package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// The load test: one coordinator, run as a separate process so that its CPU
// time and memory can be read from /proc, holds many members that answer
// every heartbeat, then serves a burst of quick-joins. Members are raw
// protocol clients, one goroutine and one small read buffer each, so the
// generator stays light next to the coordinator it measures. All traffic
// goes to loopback.

// Targets from the load issue, shown next to the figures.
const (
	TargetCPUPct       = 15.0      // coordinator CPU, % of one core, steady
	TargetRSSPerMember = 16 * 1024 // bytes of coordinator RSS per member
	TargetQJPerSec     = 20000.0   // successful quick-joins per second
)

// LoadConfig sizes a load run. Zero fields take the defaults in brackets.
type LoadConfig struct {
	// Coordinator is the command that runs a coordinator: a binary and its
	// leading arguments, such as {"/usr/bin/lanlobby", "coordinator"}. Load
	// appends --listen 127.0.0.1:0 --announce=false --json --heartbeat H
	// --misses M --log-level warn. Required.
	Coordinator []string
	// CoordinatorArgs are added after Load's own coordinator flags, so they
	// can override them (flag parsing keeps the last value).
	CoordinatorArgs []string
	// KeepRateLimit leaves the coordinator's per-connection request rate
	// limit in place. By default Load passes --max-request-rate -1 when the
	// coordinator has that flag: the limit (200 requests/s per connection)
	// guards against one abusive client and would otherwise cap the
	// quick-join phase at 100 quick_join + leave pairs per connection per
	// second, which measures the limit and not the coordinator.
	KeepRateLimit bool
	// Env is added to the coordinator's environment (GODEBUG=gctrace=1, ...).
	Env []string

	Members   int           // members held [10000]
	PerLobby  int           // members per lobby, one owner and the joiners; also the capacity [4]
	Hold      time.Duration // how long the members are held [60s]
	Heartbeat time.Duration // the coordinator's ping period [1s]
	Misses    int           // silent periods before a drop [3]
	Baseline  time.Duration // idle coordinator measured this long before connecting [1s]
	// DialConcurrency is how many lobbies are set up at once, one dial at a
	// time each, so the listener's accept queue is never flooded [200].
	DialConcurrency int
	// Sources is how many loopback source addresses (127.0.0.2, .3, ...)
	// the connections dial from. 0 picks one per 400 connections, which
	// keeps each address under the coordinator's per-address connection
	// cap (512 by default) and far from running out of ephemeral ports; a
	// run of at most 400 connections dials from 127.0.0.1 unbound.
	Sources int

	// QJDuration is the quick-join phase's length [5s]; negative skips it.
	QJDuration time.Duration
	QJConns    int // connections sending quick_join + leave [16]
	QJDepth    int // quick_joins in flight per connection, at most 8 [4]
	QJLobbies  int // open lobbies of capacity 64 created for the phase [1000]

	// Floor is the command that runs the floor server (see FloorServer), a
	// binary and its leading arguments such as {"/usr/bin/lanlobby",
	// "bench", "floor-server"}; Load appends --listen 127.0.0.1:0
	// --heartbeat H. The floor phase runs first, before the coordinator
	// starts: Members plain connections from the same source addresses,
	// answering the floor's pings, held for FloorHold. Empty skips it.
	Floor []string
	// FloorHold is how long the floor phase holds its connections [the
	// shorter of 20s and Hold]. CPU is reported as a rate, and the floor's
	// work repeats every heartbeat, so 20 periods give its mean well
	// within the run-to-run noise while keeping the phase short.
	FloorHold time.Duration

	// Progress, when set, gets one line per phase as the run goes.
	Progress io.Writer
}

func (c LoadConfig) withDefaults() (LoadConfig, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Members, 10000)
	def(&c.PerLobby, 4)
	def(&c.Misses, 3)
	def(&c.DialConcurrency, 200)
	def(&c.QJConns, 16)
	def(&c.QJDepth, 4)
	def(&c.QJLobbies, 1000)
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defD(&c.Hold, 60*time.Second)
	defD(&c.Heartbeat, time.Second)
	defD(&c.Baseline, time.Second)
	defD(&c.QJDuration, 5*time.Second)
	defD(&c.FloorHold, min(20*time.Second, c.Hold))
	switch {
	case len(c.Coordinator) == 0:
		return c, errors.New("bench: no coordinator command")
	case c.PerLobby < 2 || c.PerLobby > 64:
		return c, fmt.Errorf("bench: --per-lobby %d outside 2..64", c.PerLobby)
	case c.Members < c.PerLobby || c.Members%c.PerLobby != 0:
		return c, fmt.Errorf("bench: --members %d must be a positive multiple of --per-lobby %d", c.Members, c.PerLobby)
	case c.Hold < 0 || c.FloorHold < 0 || c.Heartbeat < time.Millisecond || c.Misses < 1 || c.Baseline < 0:
		return c, errors.New("bench: --hold and --floor-hold must be >= 0, --heartbeat >= 1ms, --misses >= 1")
	case c.DialConcurrency < 1 || c.Sources < 0:
		return c, errors.New("bench: dial concurrency must be >= 1 and sources 0..250")
	case c.QJConns < 1 || c.QJDepth < 1 || c.QJDepth > 8 || c.QJLobbies < c.QJConns:
		return c, errors.New("bench: --qj-conns >= 1, --qj-depth 1..8, and at least one quick-join lobby per connection")
	}
	return c, nil
}

// Load runs the load test: first the floor phase when cfg.Floor is set
// (see runFloor), then start the coordinator, measure it idle, connect
// the members, hold them, check the lobbies with list, run the quick-join
// phase with the members still connected (the coordinator keeps pinging
// them meanwhile, and a drop then counts in QJFalseDrops), then stop the
// coordinator and close everything. The floor server and the coordinator
// are killed on every return path, also when ctx ends.
func Load(ctx context.Context, cfg LoadConfig) (res *LoadResult, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return nil, errors.New("bench load reads the coordinator's CPU time and RSS from /proc: Linux only")
	}
	qjOwners := (cfg.QJLobbies + maxLobbiesPerConn - 1) / maxLobbiesPerConn
	need := cfg.Members + qjOwners + cfg.QJConns + 64
	if soft, hard, err := fdLimit(); err == nil && need > soft {
		return nil, fmt.Errorf("bench: %d members need about %d file descriptors here and in the coordinator, "+
			"but the open-files limit is %d (hard %d): lower --members or raise the hard limit (ulimit -Hn)", cfg.Members, need, soft, hard)
	}
	sources := cfg.Sources
	if sources == 0 {
		sources = (need + connsPerSource - 1) / connsPerSource
	}
	if sources > 250 {
		return nil, fmt.Errorf("bench: %d connections need %d source addresses; at most 250", need, sources)
	}

	var dialers []net.Dialer
	for i := range sources {
		d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
		if cfg.Sources > 0 || sources > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
		}
		dialers = append(dialers, d)
	}
	res = &LoadResult{Members: cfg.Members, Lobbies: cfg.Members / cfg.PerLobby, PerLobby: cfg.PerLobby,
		Heartbeat: cfg.Heartbeat.Seconds(), Misses: cfg.Misses, Sources: sources}

	// 0. The floor, alone on the machine before the coordinator starts.
	if len(cfg.Floor) > 0 {
		if res.Floor, err = runFloor(ctx, cfg, dialers); err != nil {
			return res, err
		}
	}

	g := &loadGen{cfg: cfg, dropped: map[string]int{}, dialers: dialers}
	coord, err := startCoordinator(cfg)
	if err != nil {
		return res, err
	}
	g.coord = coord
	// Whatever happens, the coordinator dies and every goroutine ends.
	stopOnCancel := context.AfterFunc(ctx, g.closeConns)
	defer func() {
		stopOnCancel()
		shutdown := g.finish()
		if res != nil {
			res.ShutdownSecond = shutdown.Seconds()
		}
	}()
	g.addr = coord.addr
	res.PID, res.CoordinatorArgs = coord.pid(), coord.args
	g.logf("coordinator pid %d listening on %s: %s", res.PID, g.addr, strings.Join(coord.args, " "))

	// 1. Baseline: the idle coordinator.
	cpu0, err := procCPU(coord.pid())
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := g.sleep(ctx, cfg.Baseline); err != nil {
		return res, err
	}
	cpu1, err := procCPU(coord.pid())
	if err != nil {
		return res, err
	}
	res.BaselineCPUPct = cpuPct(cpu1-cpu0, time.Since(t0))
	if res.BaselineRSS, _, err = procRSS(coord.pid()); err != nil {
		return res, err
	}
	g.logf("baseline: RSS %s, CPU %.1f%%", fmtBytes(res.BaselineRSS), res.BaselineCPUPct)

	// 2. Connect.
	g.logf("connecting %d members in %d lobbies (%d at a time, %d source address(es))", cfg.Members, res.Lobbies, cfg.DialConcurrency, sources)
	start := time.Now()
	if err := g.connect(ctx, res.Lobbies, "lobby", g.setupLobby); err != nil {
		return res, g.coord.explain(err)
	}
	connect := time.Since(start)
	res.Connected = int(g.connected.Load())
	res.ConnectSeconds = connect.Seconds()
	res.ConnectRate = float64(cfg.Members) / connect.Seconds()
	g.logf("connected %d members in %.2fs (%.0f members/s)", res.Connected, res.ConnectSeconds, res.ConnectRate)

	// 3. Hold.
	g.logf("holding for %v", cfg.Hold)
	if err := g.hold(ctx, res); err != nil {
		return res, err
	}
	g.logf("hold: coordinator CPU %.1f%% (max 1s %.0f%%), RSS %s (%s/member), false drops %d",
		res.CPUPct, res.CPUPctMax1s, fmtBytes(res.LoadedRSS), fmtBytes(int64(res.RSSPerMember)), res.FalseDrops)
	if f := res.Floor; f != nil {
		if f.CPUPct > 0 {
			res.CPUVsFloor = res.CPUPct / f.CPUPct
		}
		if f.RSSPerConn > 0 {
			res.RSSVsFloor = res.RSSPerMember / f.RSSPerConn
		}
		g.logf("vs floor: CPU %.1f%% vs %.1f%% (%.2f×), RSS/member %s vs %s (%.2f×)", res.CPUPct, f.CPUPct, res.CPUVsFloor,
			fmtBytes(int64(res.RSSPerMember)), fmtBytes(int64(f.RSSPerConn)), res.RSSVsFloor)
	}
	if err := g.checkList(ctx, res); err != nil {
		return res, g.coord.explain(err)
	}

	// 4. Quick-joins, with the members still connected.
	if cfg.QJDuration > 0 {
		g.phase.Store(1)
		g.logf("quick-join: %d connections, %d in flight each, %d lobbies, for %v", cfg.QJConns, cfg.QJDepth, cfg.QJLobbies, cfg.QJDuration)
		if err := g.quickJoins(ctx, res, qjOwners); err != nil {
			return res, g.coord.explain(err)
		}
		g.logf("quick-join: %.0f/s, p50 %.0fµs, p99 %.0fµs, %d errors", res.QJPerSec, res.QJP50us, res.QJP99us, res.QJErrors)
		res.RSSAfterQJ, _, _ = procRSS(coord.pid())
	}
	res.FalseDrops, res.QJFalseDrops = g.dropCounts()
	res.DropNotices = g.dropNotices.Load()
	res.LostLinks = g.lostLinks.Load()
	res.Unexpected = g.unexpected.Load()
	return res, nil
}

// runFloor is the floor phase: start the floor server, measure it idle,
// connect cfg.Members plain connections from the given source addresses
// (no hello, no lobbies: each just answers the floor's pings with pongs,
// in the same member goroutine the coordinator's members use), hold them
// for cfg.FloorHold measuring the floor as hold measures the coordinator,
// then stop the floor server and close the connections. The floor server
// is killed on every return path, also when ctx ends.
func runFloor(ctx context.Context, cfg LoadConfig, dialers []net.Dialer) (fr *FloorResult, err error) {
	args := append(append([]string(nil), cfg.Floor[1:]...), "--listen", "127.0.0.1:0", "--heartbeat", cfg.Heartbeat.String())
	srv, err := startServer("floor server", cfg.Floor[0], args, nil)
	if err != nil {
		return nil, err
	}
	g := &loadGen{cfg: cfg, dropped: map[string]int{}, dialers: dialers, coord: srv, addr: srv.addr}
	stopOnCancel := context.AfterFunc(ctx, g.closeConns)
	fr = &FloorResult{PID: srv.pid(), Args: args, Conns: cfg.Members}
	defer func() {
		stopOnCancel()
		fr.ShutdownSecond = g.finish().Seconds()
	}()
	g.logf("floor server pid %d listening on %s: %s", fr.PID, srv.addr, strings.Join(args, " "))

	cpu0, err := procCPU(fr.PID)
	if err != nil {
		return fr, err
	}
	t0 := time.Now()
	if err := g.sleep(ctx, cfg.Baseline); err != nil {
		return fr, err
	}
	cpu1, err := procCPU(fr.PID)
	if err != nil {
		return fr, err
	}
	fr.BaselineCPUPct = cpuPct(cpu1-cpu0, time.Since(t0))
	if fr.BaselineRSS, _, err = procRSS(fr.PID); err != nil {
		return fr, err
	}

	g.logf("floor: connecting %d connections", cfg.Members)
	start := time.Now()
	err = g.connect(ctx, cfg.Members, "floor connection", func(ctx context.Context, _ int) error {
		m, err := g.dial(ctx)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		g.connected.Add(1)
		g.wg.Add(1)
		go g.serve(m)
		return nil
	})
	if err != nil {
		return fr, srv.explain(err)
	}
	fr.ConnectSeconds = time.Since(start).Seconds()
	fr.Connected = int(g.connected.Load())

	g.logf("floor: holding for %v", cfg.FloorHold)
	s, err := g.measure(ctx, cfg.FloorHold)
	if err != nil {
		return fr, err
	}
	fr.HoldSeconds = s.wall.Seconds()
	fr.CPUPct, fr.CPUPctMax1s, fr.GeneratorCPUPct = s.cpuPct, s.max1s, s.genPct
	fr.LoadedRSS, fr.PeakRSS = s.rss, s.hwm
	fr.RSSPerConn = float64(fr.LoadedRSS-fr.BaselineRSS) / float64(cfg.Members)
	fr.PingsPerSec = s.pingsPerSec
	fr.LostLinks = g.lostLinks.Load()
	fr.Unexpected = g.unexpected.Load()
	g.logf("floor: CPU %.1f%% (max 1s %.0f%%), RSS %s (%s/conn), %.0f pings/s, lost links %d",
		fr.CPUPct, fr.CPUPctMax1s, fmtBytes(fr.LoadedRSS), fmtBytes(int64(fr.RSSPerConn)), fr.PingsPerSec, fr.LostLinks)
	return fr, nil
}

// connsPerSource is how many connections dial from one loopback address
// when LoadConfig.Sources is 0.
const connsPerSource = 400

// maxLobbiesPerConn is the coordinator's limit of lobbies per connection
// (PROTOCOL.md).
const maxLobbiesPerConn = 8
