package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// LoadResult is what a load run measured. Sizes are bytes, CPU figures are
// percent of one core, durations seconds.
type LoadResult struct {
	Members   int     `json:"members"`
	Lobbies   int     `json:"lobbies"`
	PerLobby  int     `json:"per_lobby"`
	Heartbeat float64 `json:"heartbeat_s"`
	Misses    int     `json:"misses"`
	Sources   int     `json:"sources"`
	PID       int     `json:"coordinator_pid"`
	// CoordinatorArgs is the coordinator's command line after the binary.
	CoordinatorArgs []string `json:"coordinator_args"`

	BaselineRSS    int64   `json:"baseline_rss_bytes"`
	BaselineCPUPct float64 `json:"baseline_cpu_pct"`

	ConnectSeconds float64 `json:"connect_s"`
	ConnectRate    float64 `json:"connect_members_per_s"`
	Connected      int     `json:"connected"`

	HoldSeconds     float64 `json:"hold_s"`
	CPUPct          float64 `json:"cpu_pct"`        // coordinator, mean over the hold
	CPUPctMax1s     float64 `json:"cpu_pct_max_1s"` // busiest one-second sample
	GeneratorCPUPct float64 `json:"generator_cpu_pct"`
	LoadedRSS       int64   `json:"loaded_rss_bytes"` // at the end of the hold
	PeakRSS         int64   `json:"peak_rss_bytes"`   // VmHWM: high-water mark so far
	RSSPerMember    float64 `json:"rss_per_member_bytes"`
	FalseDrops      int     `json:"false_drops"` // distinct members dropped while all were alive
	DropNotices     int64   `json:"drop_notices"`
	LostLinks       int64   `json:"lost_links"`
	Unexpected      int64   `json:"unexpected"` // closed notices, stray error replies
	ListLobbies     int     `json:"list_lobbies"`
	ListFull        int     `json:"list_full"`
	ListMembers     int     `json:"list_members"`
	PingsPerSec     float64 `json:"pings_per_s"` // pings the members answered, per second of the hold

	// Floor is the floor phase (nil when skipped); the ratios divide the
	// coordinator's hold figures by the floor's (0 when the floor measured
	// no CPU time or memory).
	Floor      *FloorResult `json:"floor,omitempty"`
	CPUVsFloor float64      `json:"cpu_vs_floor,omitempty"`
	RSSVsFloor float64      `json:"rss_per_member_vs_floor,omitempty"`

	QJSeconds         float64 `json:"qj_s"`
	QJConns           int     `json:"qj_conns"`
	QJDepth           int     `json:"qj_depth"`
	QJLobbies         int     `json:"qj_lobbies"`
	QuickJoins        int64   `json:"quick_joins"`
	QJPerSec          float64 `json:"quick_joins_per_s"`
	QJP50us           float64 `json:"qj_p50_us"`
	QJP99us           float64 `json:"qj_p99_us"`
	QJErrors          int64   `json:"qj_errors"`
	QJCPUPct          float64 `json:"qj_cpu_pct"`
	QJGeneratorCPUPct float64 `json:"qj_generator_cpu_pct"`
	QJFalseDrops      int     `json:"qj_false_drops"`
	RSSAfterQJ        int64   `json:"rss_after_qj_bytes"`
	ShutdownSecond    float64 `json:"shutdown_s"`
}

// FloorResult is what the floor phase measured: the floor server holding
// as many plain connections as the coordinator holds members, one ping out
// and one pong in per connection and heartbeat. Its figures are taken as
// the coordinator's are.
type FloorResult struct {
	PID             int      `json:"pid"`
	Args            []string `json:"args"`
	Conns           int      `json:"conns"`
	Connected       int      `json:"connected"`
	BaselineRSS     int64    `json:"baseline_rss_bytes"`
	BaselineCPUPct  float64  `json:"baseline_cpu_pct"`
	ConnectSeconds  float64  `json:"connect_s"`
	HoldSeconds     float64  `json:"hold_s"`
	CPUPct          float64  `json:"cpu_pct"`
	CPUPctMax1s     float64  `json:"cpu_pct_max_1s"`
	GeneratorCPUPct float64  `json:"generator_cpu_pct"`
	LoadedRSS       int64    `json:"loaded_rss_bytes"`
	PeakRSS         int64    `json:"peak_rss_bytes"`
	RSSPerConn      float64  `json:"rss_per_conn_bytes"`
	PingsPerSec     float64  `json:"pings_per_s"`
	LostLinks       int64    `json:"lost_links"`
	Unexpected      int64    `json:"unexpected"`
	ShutdownSecond  float64  `json:"shutdown_s"`
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

// holdStats is what measure saw of the server process.
type holdStats struct {
	wall          time.Duration
	cpuPct, max1s float64 // the server's mean and busiest one-second sample
	genPct        float64 // this process
	rss, hwm      int64   // the server's, at the end
	pingsPerSec   float64 // pings the members answered
}

// measure keeps the connections up for d and measures the server process
// (g.coord) and this one meanwhile.
func (g *loadGen) measure(ctx context.Context, d time.Duration) (s holdStats, err error) {
	pid := g.coord.pid()
	cpu0, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	self0, _ := procCPU(0)
	pings0 := g.pings.Load()
	start := time.Now()
	last, lastT := cpu0, start
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
loop:
	for {
		select {
		case <-tick.C:
			now := time.Now()
			if c, err := procCPU(pid); err == nil {
				s.max1s = max(s.max1s, cpuPct(c-last, now.Sub(lastT)))
				last, lastT = c, now
			}
		case <-end.C:
			break loop
		case <-ctx.Done():
			return s, ctx.Err()
		case <-g.coord.exited:
			return s, g.coord.exitError()
		}
	}
	s.wall = time.Since(start)
	cpu1, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	self1, _ := procCPU(0)
	if s.wall > 0 {
		s.pingsPerSec = float64(g.pings.Load()-pings0) / s.wall.Seconds()
	}
	s.cpuPct = cpuPct(cpu1-cpu0, s.wall)
	s.genPct = cpuPct(self1-self0, s.wall)
	s.rss, s.hwm, err = procRSS(pid)
	return s, err
}

// hold keeps the members connected for cfg.Hold and measures the
// coordinator meanwhile.
func (g *loadGen) hold(ctx context.Context, res *LoadResult) error {
	s, err := g.measure(ctx, g.cfg.Hold)
	if err != nil {
		return err
	}
	res.HoldSeconds = s.wall.Seconds()
	res.CPUPct, res.CPUPctMax1s, res.GeneratorCPUPct = s.cpuPct, s.max1s, s.genPct
	res.LoadedRSS, res.PeakRSS = s.rss, s.hwm
	res.RSSPerMember = float64(res.LoadedRSS-res.BaselineRSS) / float64(g.cfg.Members)
	res.PingsPerSec = s.pingsPerSec
	res.FalseDrops, _ = g.dropCounts()
	return nil
}

// checkList asks the coordinator for the load lobbies from a fresh
// connection and counts the full ones.
func (g *loadGen) checkList(ctx context.Context, res *LoadResult) error {
	c, err := g.dial(ctx)
	if err != nil {
		return fmt.Errorf("list: dial: %w", err)
	}
	defer c.c.Close()
	c.c.SetReadDeadline(time.Now().Add(setupTimeout))
	req := `{"op":"hello","id":1,"v":1,"player":"checker"}` + "\n" + `{"op":"list","id":2,"game":"load"}` + "\n"
	if _, err := io.WriteString(c.c, req); err != nil {
		return err
	}
	if _, err := g.await(c, 1); err != nil {
		return fmt.Errorf("list: hello: %w", err)
	}
	line, err := g.await(c, 2)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var reply struct {
		Lobbies []struct {
			Players  int    `json:"players"`
			Capacity int    `json:"capacity"`
			State    string `json:"state"`
		} `json:"lobbies"`
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	res.ListLobbies = len(reply.Lobbies)
	for _, l := range reply.Lobbies {
		res.ListMembers += l.Players
		if l.Players == g.cfg.PerLobby && l.Capacity == g.cfg.PerLobby && l.State == "full" {
			res.ListFull++
		}
	}
	g.logf("list: %d lobbies, %d full, %d members", res.ListLobbies, res.ListFull, res.ListMembers)
	return nil
}

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
	lat        []time.Duration
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
				w.errors++
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
			w.errors++
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

// lineConn is a raw protocol connection with a small read buffer.
type lineConn struct {
	c    net.Conn
	br   *bufio.Reader
	id   string // member id from hello
	long []byte // assembles lines longer than br's buffer
	out  []byte // pong scratch
}

const maxReplyLine = 64 << 20

// readLine returns the next line without its newline, valid until the next
// call. Replies can be long (a list reply), pushes are not.
func (l *lineConn) readLine() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err == nil {
		return trimEOL(line), nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	l.long = append(l.long[:0], line...)
	for {
		line, err = l.br.ReadSlice('\n')
		l.long = append(l.long, line...)
		switch {
		case err == nil:
			return trimEOL(l.long), nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		case len(l.long) > maxReplyLine:
			return nil, errors.New("bench: line over 64 MiB")
		}
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

var pingPrefix = []byte(`{"event":"ping","seq":`)

// answerPing recognises the coordinator's ping by its prefix, as the Go
// client does, and echoes its seq in a pong without decoding anything.
func (l *lineConn) answerPing(line []byte) (bool, error) {
	if !bytes.HasPrefix(line, pingPrefix) || line[len(line)-1] != '}' {
		return false, nil
	}
	l.out = append(l.out[:0], `{"op":"pong","seq":`...)
	l.out = append(l.out, line[len(pingPrefix):len(line)-1]...)
	l.out = append(l.out, "}\n"...)
	_, err := l.c.Write(l.out)
	return true, err
}

var idPrefix = []byte(`{"id":`)

// replyID reads the integer id at the start of a reply ({"id":N,...}).
func replyID(line []byte) (int64, bool) {
	if !bytes.HasPrefix(line, idPrefix) {
		return 0, false
	}
	rest := line[len(idPrefix):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return id, err == nil
}

var okTrue = []byte(`,"ok":true`)

// replyOK reports whether a reply says ok: the coordinator writes "ok"
// right after "id".
func replyOK(line []byte) bool {
	i := bytes.IndexByte(line, ',')
	return i >= 0 && bytes.HasPrefix(line[i:], okTrue)
}

func replyError(line []byte) error {
	var r struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(line, &r) != nil || r.Error == nil {
		return fmt.Errorf("unexpected reply %.200s", line)
	}
	return fmt.Errorf("%s: %s", r.Error.Code, r.Error.Message)
}

// stringField returns the string value that follows key (which ends with
// the opening quote) in line; ids never contain escapes.
func stringField(line []byte, key string) string {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// coordinator is the coordinator process, or the floor server's: a server
// that prints {"event":"listening","addr":...} as its first line.
type coordinator struct {
	name   string // "coordinator" or "floor server", for messages
	cmd    *exec.Cmd
	args   []string // after the binary
	addr   string
	stderr *tailBuffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, set before exited closes
	once   sync.Once
}

func startCoordinator(cfg LoadConfig) (*coordinator, error) {
	args := append(append([]string(nil), cfg.Coordinator[1:]...),
		"--listen", "127.0.0.1:0", "--announce=false", "--json",
		"--heartbeat", cfg.Heartbeat.String(), "--misses", strconv.Itoa(cfg.Misses), "--log-level", "warn")
	if !cfg.KeepRateLimit && hasFlag(cfg.Coordinator, "--max-request-rate") {
		args = append(args, "--max-request-rate", "-1")
	}
	args = append(args, cfg.CoordinatorArgs...)
	return startServer("coordinator", cfg.Coordinator[0], args, cfg.Env)
}

// startServer starts bin with args (and env added to the environment) and
// waits for the loopback address it says it listens on.
func startServer(name, bin string, args, env []string) (*coordinator, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	first := &firstLine{ch: make(chan string, 1)}
	co := &coordinator{name: name, cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = first, co.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setDeathSignal(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	go func() {
		co.err = cmd.Wait()
		close(co.exited)
	}()
	var line string
	select {
	case line = <-first.ch:
	case <-co.exited:
		return nil, co.exitError()
	case <-time.After(15 * time.Second):
		co.stop(time.Second)
		return nil, fmt.Errorf("bench: %s did not say where it listens within 15s", name)
	}
	var ev struct {
		Event string `json:"event"`
		Addr  string `json:"addr"`
	}
	var err error
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Event != "listening" {
		err = fmt.Errorf("first line %q", line)
	} else if ap, perr := netip.ParseAddrPort(ev.Addr); perr != nil || !ap.Addr().IsLoopback() {
		err = fmt.Errorf("listens on %q, not on loopback", ev.Addr)
	}
	if err != nil {
		co.stop(time.Second)
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	co.addr = ev.Addr
	co.args = args
	return co, nil
}

// hasFlag reports whether the coordinator command's --help mentions flag
// (older coordinators lack some).
func hasFlag(command []string, flag string) bool {
	args := append(append([]string(nil), command[1:]...), "--help")
	out, _ := exec.Command(command[0], args...).CombinedOutput()
	return bytes.Contains(out, []byte(flag+" "))
}

func (co *coordinator) pid() int { return co.cmd.Process.Pid }

func (co *coordinator) exitError() error {
	<-co.exited
	return fmt.Errorf("bench: %s exited early (%v): %s", co.name, co.err, strings.TrimSpace(co.stderr.String()))
}

// explain adds the coordinator's last log lines to err: a connection it
// refused (too many from one address, say) shows up here only as a reset.
func (co *coordinator) explain(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	lines := strings.Split(strings.TrimSpace(co.stderr.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return err
	}
	return fmt.Errorf("%w\n%s log (last lines):\n%s", err, co.name, strings.Join(lines[max(0, len(lines)-3):], "\n"))
}

// stop asks the coordinator to shut down and kills it if it has not
// exited after grace; it returns once the process has been reaped.
func (co *coordinator) stop(grace time.Duration) {
	co.once.Do(func() {
		if co.cmd.Process.Signal(syscall.SIGTERM) != nil {
			co.cmd.Process.Kill()
		}
		select {
		case <-co.exited:
			return
		case <-time.After(grace):
		}
		co.cmd.Process.Kill()
	})
	<-co.exited
}

// setDeathSignal asks Linux to SIGKILL the coordinator if the generator
// dies without cleaning up (kill -9). Pdeathsig exists only in Linux's
// SysProcAttr; reflection keeps this file building elsewhere.
func setDeathSignal(attr *syscall.SysProcAttr) {
	f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	sig := reflect.ValueOf(syscall.SIGKILL)
	if f.IsValid() && f.CanSet() && f.Type() == sig.Type() {
		f.Set(sig)
	}
}

// firstLine is a writer that hands over the first line written to it and
// discards the rest.
type firstLine struct {
	buf  []byte
	done bool
	ch   chan string
}

func (f *firstLine) Write(p []byte) (int, error) {
	if f.done {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 || len(f.buf) > 4096 {
		if i < 0 {
			i = len(f.buf)
		}
		f.ch <- string(f.buf[:i])
		f.done, f.buf = true, nil
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// procCPU returns the user plus system CPU time of process pid (0: this
// process) from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// anything: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bench: malformed /proc stat times")
	}
	return time.Duration(u+s) * time.Second / time.Duration(clockTicks()), nil
}

// procRSS returns the resident set (VmRSS) and its high-water mark (VmHWM)
// of process pid in bytes.
func procRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "1234 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("bench: no VmRSS in %s", procPath(pid, "status"))
	}
	return rss, hwm, nil
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

var clockTicks = sync.OnceValue(func() int64 {
	// sysconf(_SC_CLK_TCK) without cgo: the kernel passes it in the
	// auxiliary vector as AT_CLKTCK (17). It is 100 on every common Linux.
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	word := strconv.IntSize / 8
	if err == nil {
		for i := 0; i+2*word <= len(b); i += 2 * word {
			var k, v uint64
			if word == 8 {
				k, v = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
			} else {
				k, v = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+4:]))
			}
			if k == atClkTck && v > 0 {
				return int64(v)
			}
		}
	}
	return 100
})

func cpuPct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// fdLimit reads this process's open-files limit from /proc/self/limits. Go
// raises the soft limit to the hard one at start-up on Linux.
func fdLimit() (soft, hard int, err error) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				break
			}
			soft, hard = limitValue(f[0]), limitValue(f[1])
			return soft, hard, nil
		}
	}
	return 0, 0, errors.New("bench: no open-files limit in /proc/self/limits")
}

func limitValue(s string) int {
	if s == "unlimited" {
		return 1 << 30
	}
	n, _ := strconv.Atoi(s)
	return n
}

func fmtBytes(n int64) string {
	switch a := max(n, -n); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case a >= 10<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func ratioText(ratio float64, detail string) string {
	if ratio == 0 {
		return "- (" + detail + ")"
	}
	return fmt.Sprintf("%.2f× (%s)", ratio, detail)
}

// FormatLoad renders a load result as a table, with the targets.
func FormatLoad(r *LoadResult) string {
	var b strings.Builder
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	row := func(phase, metric, value, target string) {
		fmt.Fprintf(&b, "%-15s %-24s %-40s %s\n", phase, metric, value, target)
	}
	fmt.Fprintf(&b, "coordinator: %s\n", strings.Join(r.CoordinatorArgs, " "))
	row("phase", "metric", "value", "target")
	row("baseline", "coordinator RSS", fmtBytes(r.BaselineRSS), "")
	row("", "coordinator CPU (idle)", fmt.Sprintf("%.1f%%", r.BaselineCPUPct), "")
	row("connect", "members", fmt.Sprintf("%d of %d in %d lobbies of %d", r.Connected, r.Members, r.Lobbies, r.PerLobby), "")
	row("", "time", fmt.Sprintf("%.2fs (%.0f members/s)", r.ConnectSeconds, r.ConnectRate), "")
	row(fmt.Sprintf("hold %.0fs", r.HoldSeconds), "coordinator CPU", fmt.Sprintf("%.1f%% of a core (max 1s: %.0f%%)", r.CPUPct, r.CPUPctMax1s),
		fmt.Sprintf("< %.0f%% %s", TargetCPUPct, check(r.CPUPct < TargetCPUPct)))
	row("", "coordinator RSS", fmt.Sprintf("%s (peak %s)", fmtBytes(r.LoadedRSS), fmtBytes(r.PeakRSS)), "")
	row("", "RSS per member", fmtBytes(int64(r.RSSPerMember)),
		fmt.Sprintf("< %s %s", fmtBytes(TargetRSSPerMember), check(r.RSSPerMember < TargetRSSPerMember)))
	row("", "false drops", fmt.Sprintf("%d (notices %d, lost links %d)", r.FalseDrops, r.DropNotices, r.LostLinks),
		"0 "+check(r.FalseDrops == 0 && r.DropNotices == 0 && r.LostLinks == 0))
	row("", "list", fmt.Sprintf("%d/%d lobbies full, %d members", r.ListFull, r.ListLobbies, r.ListMembers),
		check(r.ListFull == r.Lobbies && r.ListLobbies == r.Lobbies))
	row("", "generator CPU", fmt.Sprintf("%.1f%% of a core", r.GeneratorCPUPct), "")
	row("", "pings answered", fmt.Sprintf("%.0f/s", r.PingsPerSec), "")
	if f := r.Floor; f != nil {
		row(fmt.Sprintf("floor %.0fs", f.HoldSeconds), "floor CPU", fmt.Sprintf("%.1f%% of a core (max 1s: %.0f%%, idle %.1f%%)", f.CPUPct, f.CPUPctMax1s, f.BaselineCPUPct), "")
		row("", "floor RSS", fmt.Sprintf("%s (baseline %s, peak %s)", fmtBytes(f.LoadedRSS), fmtBytes(f.BaselineRSS), fmtBytes(f.PeakRSS)), "")
		row("", "floor RSS per conn", fmtBytes(int64(f.RSSPerConn)), "")
		row("", "connections", fmt.Sprintf("%d of %d, %.0f pings/s, lost links %d", f.Connected, f.Conns, f.PingsPerSec, f.LostLinks),
			check(f.Connected == f.Conns && f.LostLinks == 0))
		row("", "generator CPU", fmt.Sprintf("%.1f%% of a core", f.GeneratorCPUPct), "")
		row("vs floor", "coordinator CPU", ratioText(r.CPUVsFloor, fmt.Sprintf("%.1f%% / %.1f%%", r.CPUPct, f.CPUPct)), "")
		row("", "RSS per member", ratioText(r.RSSVsFloor, fmt.Sprintf("%s / %s", fmtBytes(int64(r.RSSPerMember)), fmtBytes(int64(f.RSSPerConn)))), "")
	}
	if r.QJSeconds > 0 {
		row(fmt.Sprintf("quick-join %.0fs", r.QJSeconds), "quick-joins/s",
			fmt.Sprintf("%.0f (%d conns × %d in flight)", r.QJPerSec, r.QJConns, r.QJDepth),
			fmt.Sprintf("> %.0f %s", TargetQJPerSec, check(r.QJPerSec > TargetQJPerSec)))
		row("", "latency p50 / p99", fmt.Sprintf("%.0fµs / %.0fµs", r.QJP50us, r.QJP99us), "")
		row("", "errors", strconv.FormatInt(r.QJErrors, 10), "")
		row("", "coordinator CPU", fmt.Sprintf("%.0f%% of a core (generator %.0f%%)", r.QJCPUPct, r.QJGeneratorCPUPct), "")
		row("", "false drops", strconv.Itoa(r.QJFalseDrops), "0 "+check(r.QJFalseDrops == 0))
		row("", "coordinator RSS", fmtBytes(r.RSSAfterQJ), "")
	}
	row("end", "coordinator shutdown", fmt.Sprintf("%.2fs", r.ShutdownSecond), "")
	if r.Unexpected > 0 {
		row("", "unexpected messages", strconv.FormatInt(r.Unexpected, 10), "")
	}
	return b.String()
}
