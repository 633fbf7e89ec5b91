package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/coordhttp"
	"github.com/lanlobby/lanlobby/lobby"
)

func coordinatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "coordinator",
		Usage: "run a coordinator daemon that serves many lobbies",
		Description: "The coordinator holds a TCP link to every lobby member, pushes join and leave\n" +
			"notices to the members of each lobby, and drops members that miss their heartbeats.\n" +
			"It prints one line per lobby created and per member joining or leaving (JSON with\n" +
			"--json). Its HTTP endpoint (--http, 127.0.0.1:7680 by default: this machine only)\n" +
			"serves Prometheus /metrics, /healthz, /readyz and a live status page at /.\n\n" +
			"--host-mode runs the coordinator of one game's own lobbies instead, for a game that\n" +
			"is not written in Go (the C# and Python SDKs start it): it announces its lobbies but\n" +
			"not itself, closes them when it exits, listens on any free port unless --listen says\n" +
			"otherwise, serves HTTP only when --http is given, and exits when its standard input\n" +
			"closes or its parent process dies.\n\n" +
			"Examples:\n" +
			"  lanlobby coordinator                          # :7600, status page on http://127.0.0.1:7680/\n" +
			"  lanlobby coordinator --http 0.0.0.0:7680      # show the status page to the LAN\n" +
			"  lanlobby coordinator --json --http \"\"         # JSON joins and leaves, no HTTP\n" +
			"  lanlobby coordinator --listen 127.0.0.1:0 --announce=false",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: fmt.Sprintf("TCP address to listen on (default :%d; :0 with --host-mode)", lobby.DefaultPort)},
			&cli.DurationFlag{Name: "heartbeat", Value: lobby.DefaultHeartbeatInterval, Usage: "ping interval"},
			&cli.IntFlag{Name: "misses", Value: lobby.DefaultHeartbeatMisses, Usage: "missed heartbeats before a member is dropped"},
			&cli.DurationFlag{Name: "resume-grace", Value: lobby.DefaultResumeGrace, Usage: "how long a member whose link dropped keeps its seat (0: none)"},
			&cli.IntFlag{Name: "max-conns", Value: lobby.DefaultMaxConns, Usage: "most open connections (-1: no limit)"},
			&cli.IntFlag{Name: "max-conns-per-ip", Value: lobby.DefaultMaxConnsPerIP, Usage: "most open connections from one address (-1: no limit)"},
			&cli.Float64Flag{Name: "max-request-rate", Value: lobby.DefaultRequestRate, Usage: "requests per second per connection, burst twice that (-1: no limit)"},
			&cli.BoolFlag{Name: "announce", Value: true, Usage: "announce the coordinator and its lobbies on the LAN (--announce=false to stay silent)"},
			&cli.BoolFlag{Name: "host-mode", Usage: "run one game's own coordinator (see above)"},
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{lanlobby.StateDirEnv},
				Usage: "directory (created 0700) where the daemon keeps the secret that lets clients restore their lobbies after a restart (default: lanlobby under the user's config directory)"},
			&cli.StringFlag{Name: "registry-udp", Usage: "also answer the name registry's UDP text requests on this address (off by default)"},
			&cli.DurationFlag{Name: "name-ttl", Value: lobby.DefaultNameTTL, Usage: "how long a name registered over UDP lives unless registered again"},
			&cli.BoolFlag{Name: "activity", Value: true, Usage: "print a line per lobby created and per member joining, leaving, away or back (--activity=false: none; never with --host-mode)"},
			flagHTTPDaemon, flagBeaconInterval,
		}, outputFlags()...), lanFlags()...),
		Action: runCoordinator,
	}
}

// activityQueue bounds the lines waiting to be printed; past it the
// coordinator drops lines (and says how many) rather than wait on a slow
// terminal.
const activityQueue = 4096

func runCoordinator(c *cli.Context) error {
	var p problems
	if c.NArg() > 0 {
		p.add("coordinator takes no argument, not %q", c.Args().First())
	}
	if c.Duration("heartbeat") <= 0 {
		p.add("--heartbeat must be positive, not %v", c.Duration("heartbeat"))
	}
	if c.Int("misses") < 1 {
		p.add("--misses must be at least 1, not %d", c.Int("misses"))
	}
	if l := c.String("listen"); l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			p.add("--listen must be [host]:port, not %q", l)
		}
	}
	if h := c.String("http"); h != "" {
		if _, _, err := net.SplitHostPort(h); err != nil {
			p.add("--http must be host:port, not %q", h)
		}
	}
	checkCommon(c, &p)
	if err := p.err(c); err != nil {
		return err
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	hostMode := c.Bool("host-mode")
	ctx := c.Context
	if hostMode {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		if err := watchParent(ctx, stop); err != nil {
			cfg.Logger.Warn("cannot follow the parent process", "err", err)
		}
		go func() { // the game keeps our stdin open while it lives
			io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			stop()
		}()
	}
	out := newPrinter(c.App.Writer, c.Bool("json"))
	var act *activityLog
	opts := lanlobby.CoordinatorOptions{
		Listen:      c.String("listen"),
		Daemon:      !hostMode,
		NoAnnounce:  !c.Bool("announce"),
		StateDir:    c.String("state-dir"),
		RegistryUDP: c.String("registry-udp"),
		Server: lobby.ServerConfig{
			HeartbeatInterval: c.Duration("heartbeat"),
			HeartbeatMisses:   c.Int("misses"),
			ResumeGrace:       graceFlag(c.Duration("resume-grace")),
			MaxConns:          c.Int("max-conns"),
			MaxConnsPerIP:     c.Int("max-conns-per-ip"),
			RequestRate:       c.Float64("max-request-rate"),
			NameTTL:           c.Duration("name-ttl"),
		},
	}
	if !hostMode && c.Bool("activity") { // a game reading host-mode's stdout wants its events only
		act = newActivityLog(out)
		opts.OnActivity = act.add
		defer act.close()
	}
	coord, err := lanlobby.StartCoordinator(ctx, cfg, opts)
	if err != nil {
		return failure(err, "")
	}
	var warnings []error // printed after the "listening" line, which programs wait for first
	if err := coord.AnnounceProblem(); err != nil {
		warnings = append(warnings, fmt.Errorf("announcing by one protocol only: %w", err))
	}
	// The daemon serves HTTP by default, host mode only when asked.
	httpAddr := c.String("http")
	if hostMode && !c.IsSet("http") {
		httpAddr = ""
	}
	var hs *coordhttp.Server
	if httpAddr != "" {
		hs, err = coordhttp.Start(ctx, httpAddr, coordhttp.NewHandler(coord.Server(), coordhttp.Config{Name: hostname(), Logger: cfg.Logger}))
		switch {
		case err == nil:
			defer hs.Close()
		case c.IsSet("http") || !errors.Is(err, syscall.EADDRINUSE):
			coord.Close()
			return failure(err, "")
		default: // the default address is taken (another daemon here): carry on without
			warnings = append(warnings, fmt.Errorf("no status page: %v (%s); --http picks another address", err, addrInUseHint(err)))
		}
	}
	addr := coord.Addr()
	text := fmt.Sprintf("coordinator listening on %s (heartbeat %v, %d misses)", addr, c.Duration("heartbeat"), c.Int("misses"))
	httpURL := ""
	if hs != nil {
		httpURL = "http://" + hs.Addr().String() + "/"
		text += fmt.Sprintf("\nstatus page %s, metrics %smetrics", httpURL, httpURL)
	}
	registry := ""
	if a := coord.RegistryAddr(); a != nil {
		registry = a.String()
		text += fmt.Sprintf("\nname registry on UDP %s", a)
	}
	out.emit(struct {
		Event     string `json:"event"`
		Addr      string `json:"addr"`
		Port      int    `json:"port"`
		Heartbeat string `json:"heartbeat"`
		Misses    int    `json:"misses"`
		HTTP      string `json:"http,omitempty"`
		Registry  string `json:"registry_udp,omitempty"`
	}{"listening", addr.String(), addr.Port, c.Duration("heartbeat").String(), c.Int("misses"), httpURL, registry}, text)
	for _, w := range warnings {
		out.warn(w)
	}
	if act != nil {
		act.start()
	}
	<-coord.Done()
	if err := coord.Close(); err != nil {
		return &cliError{msg: err.Error(), exit: exitFailure}
	}
	return nil
}

// graceFlag maps the flag's "0: none" to the config's "negative: none".
func graceFlag(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// activityLog prints what happens on a daemon (lobbies created, members
// joining, leaving, away and back, lobbies started and closed) as lines,
// or as JSON objects with --json. The coordinator hands each activity
// over without blocking; a goroutine prints.
type activityLog struct {
	out     *printer
	ch      chan lobby.Activity
	dropped int // guarded by mu
	mu      sync.Mutex
	startCh chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newActivityLog(out *printer) *activityLog {
	a := &activityLog{out: out, ch: make(chan lobby.Activity, activityQueue), startCh: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// add is the coordinator's OnActivity: it never blocks.
func (a *activityLog) add(ev lobby.Activity) {
	select {
	case a.ch <- ev:
	default:
		a.mu.Lock()
		a.dropped++
		a.mu.Unlock()
	}
}

// start lets the lines out, after the "listening" line.
func (a *activityLog) start() { a.once.Do(func() { close(a.startCh) }) }

func (a *activityLog) close() {
	a.start()
	close(a.ch)
	<-a.done
}

func (a *activityLog) run() {
	defer close(a.done)
	<-a.startCh
	for ev := range a.ch {
		a.mu.Lock()
		if a.dropped > 0 {
			a.out.warn(fmt.Errorf("%d activity lines dropped: the output is too slow", a.dropped))
			a.dropped = 0
		}
		a.mu.Unlock()
		a.out.activity(ev)
	}
}

// activity prints one thing that happened on the coordinator.
func (p *printer) activity(ev lobby.Activity) {
	l, m := ev.Lobby, ev.Member
	who := m.ID
	if m.Name != "" {
		who = fmt.Sprintf("%s (%s)", m.Name, m.ID)
	}
	in := fmt.Sprintf("lobby %s %q (%s, %d/%d)", l.ID, l.Name, l.Game, l.Players, l.Capacity)
	var text string
	switch ev.Kind {
	case lobby.ActivityCreated:
		text = fmt.Sprintf("+ %s created by %s, game address %s", in, who, m.Addr)
	case lobby.NoticeMemberJoined:
		text = fmt.Sprintf("+ %s joined %s from %s", who, in, m.Addr)
	case lobby.NoticeMemberLeft:
		text = fmt.Sprintf("- %s %s: %s", who, leftHow(ev.Reason), in)
	case lobby.NoticeMemberAway:
		text = fmt.Sprintf("? %s is away (%s), seat kept: %s", who, strings.ReplaceAll(string(ev.Reason), "_", " "), in)
	case lobby.NoticeMemberBack:
		text = fmt.Sprintf("= %s is back: %s", who, in)
	case lobby.NoticeStarted:
		text = fmt.Sprintf("> %s started", in)
	case lobby.NoticeClosed:
		text = fmt.Sprintf("x %s closed: %s", in, strings.ReplaceAll(string(ev.Reason), "_", " "))
	case lobby.NoticeOwnerChanged:
		text = fmt.Sprintf("* %s: owner is now %s", in, l.Owner)
	default:
		text = fmt.Sprintf("~ %s: %s", in, ev.Kind)
	}
	var member *peerJSON
	if m.ID != "" {
		member = &peerJSON{m.ID, m.Name, m.Addr}
	}
	p.emit(struct {
		Event    string    `json:"event"`
		Lobby    string    `json:"lobby"`
		Game     string    `json:"game"`
		Name     string    `json:"name"`
		Players  int       `json:"players"`
		Capacity int       `json:"capacity"`
		State    string    `json:"state"`
		Member   *peerJSON `json:"member,omitempty"`
		Reason   string    `json:"reason,omitempty"`
		Time     time.Time `json:"time"`
	}{string(ev.Kind), l.ID, l.Game, l.Name, l.Players, l.Capacity, string(l.State), member, string(ev.Reason), time.Now()}, text)
}
