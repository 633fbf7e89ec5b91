package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/coordhttp"
	"github.com/lanlobby/lanlobby/lobby"
)

func hostCommand() *cli.Command {
	return &cli.Command{
		Name:  "host",
		Usage: "create a lobby and stay in it, printing who joins and leaves",
		Description: "The lobby is announced on the LAN (or created on --coordinator) and lives as long as\n" +
			"this command runs; Ctrl-C closes it and tells the others. Players need --players seats\n" +
			"in all, you included. A private lobby (--password, or --private for an invite code) is\n" +
			"not listed: host prints the command the others paste to join it.\n\n" +
			"Examples:\n" +
			"  lanlobby host --game demo --name \"Alice's game\" --players 4 --port 7777\n" +
			"  lanlobby host --game demo --name duel --players 2 --port 7777 --private\n" +
			"  lanlobby host --coordinator 10.1.0.5 --game demo --name lan-party --players 8 --port 7777\n" +
			"  lanlobby host --game demo --name x --players 2 --port 7777 --http 127.0.0.1:7680   # status page",
		Flags: append(append([]cli.Flag{
			flagGameReq, flagName, flagPlayers, flagPort, flagAddr, flagCoordinator, flagPlayer, flagTimeout,
			flagPassword, flagPrivate, flagAutoStart, flagBeaconInterval, flagDaemonWait, flagHTTPHost,
			flagMeta, flagGameVersion, flagPlayerKey,
		}, outputFlags()...), lanFlags()...),
		Action: runHost,
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join a lobby by name or id, or quick-join the one closest to starting; then stay and print events",
		ArgsUsage: "[LOBBY-NAME-OR-ID]",
		Description: "Without --coordinator, lobbies are found on the LAN: with no argument the open lobby\n" +
			"of --game closest to full is joined (another if it fills meanwhile); with one, the\n" +
			"lobby of that id or name (names match without regard to case; when several lobbies\n" +
			"share it, join refuses and lists their ids). With --coordinator, the lobby of that\n" +
			"id or name there.\n\n" +
			"Examples:\n" +
			"  lanlobby join --game demo --port 7777              # quick-join\n" +
			"  lanlobby join \"Alice's game\" --port 7777\n" +
			"  lanlobby join k3m2x9aqpz --port 7777\n" +
			"  lanlobby join k3m2x9aqpz --coordinator 10.1.0.5:41234 --password s3cret --port 7777",
		Flags: append(append(append([]cli.Flag{flagGame, flagPort, flagAddr, flagCoordinator, flagPlayer, flagTimeout,
			flagJoinPass, flagSettle, flagFirstWait, flagSeats, flagReservation}, filterFlags()...), outputFlags()...), lanFlags()...),
		Action: runJoin,
	}
}

// checkHost reports every problem of host's command line at once.
func checkHost(c *cli.Context) error {
	var p problems
	if c.NArg() > 0 {
		p.add("host takes no argument, not %q (quote a name with spaces: --name \"my lobby\")", c.Args().First())
	}
	if c.String("game") == "" {
		p.add("--game is required: the game id players look for")
	}
	switch name := c.String("name"); {
	case !c.IsSet("name"):
		p.add("--name is required: the lobby name shown to players")
	default:
		if err := lobby.ValidateLobbyName(name); err != nil {
			p.add("--name: %s", reasonOf(err))
		}
	}
	switch n := c.Int("players"); {
	case !c.IsSet("players"):
		p.add("--players is required: the players needed to start, you included (%d..%d)", lobby.MinCapacity, lobby.MaxCapacity)
	case n < lobby.MinCapacity || n > lobby.MaxCapacity:
		p.add("--players must be %d..%d, not %d", lobby.MinCapacity, lobby.MaxCapacity, n)
	}
	checkEndpoint(c, &p)
	checkCommon(c, &p)
	if err := lobby.ValidatePassword(c.String("password")); err != nil {
		p.add("--password: %s", reasonOf(err))
	}
	if c.String("http") != "" && c.String("coordinator") != "" {
		p.add("--http serves the host's own coordinator: it cannot go with --coordinator (the daemon serves its own)")
	}
	return p.err(c)
}

func runHost(c *cli.Context) error {
	if err := checkHost(c); err != nil {
		return err
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	meta, filterable, err := hostMeta(c)
	if err != nil {
		return err
	}
	prog := startProgress(c.App.Writer, "creating the lobby")
	s, err := lanlobby.Host(c.Context, cfg, lanlobby.HostOptions{Game: c.String("game"), Name: c.String("name"),
		Players: c.Int("players"), Port: c.Int("port"), Addr: c.String("addr"), Password: c.String("password"), Private: c.Bool("private"),
		AutoStart: c.Bool("auto-start"), Meta: meta, Version: c.String("game-version"), Filterable: filterable})
	prog.stop()
	if err != nil {
		return failure(err, cfg.Coordinator)
	}
	defer s.Close()
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.lan = lanlobby.LANAddrs(cfg)
	if err := s.AnnounceProblem(); err != nil {
		p.warn(fmt.Errorf("the lobby is announced by one protocol only: %w", err))
	}
	if err := s.Network(); err != nil {
		p.warn(fmt.Errorf("%w; the lobby will be announced once one comes up", err))
	}
	if addr := c.String("http"); addr != "" {
		if own := s.OwnCoordinator(); own == nil {
			p.warn(fmt.Errorf("--http: the lobby went to a coordinator daemon found on the LAN, which serves its own status page"))
		} else {
			hs, err := coordhttp.Start(c.Context, addr, coordhttp.NewHandler(own.Server(), coordhttp.Config{Name: c.String("name"), Logger: cfg.Logger}))
			if err != nil {
				return failure(err, "")
			}
			defer hs.Close()
			p.emit(struct {
				Event string `json:"event"`
				HTTP  string `json:"http"`
			}{"http", hs.Addr().String()}, fmt.Sprintf("status page http://%s/ (metrics /metrics)", hs.Addr()))
		}
	}
	p.joined(s.Lobby(), s.You(), s.Peers(), s.Invite(), true, s.Coordinator())
	return stay(c.Context, s, p)
}

func runJoin(c *cli.Context) error {
	var p problems
	if c.NArg() > 1 {
		p.add("join takes at most one LOBBY-NAME-OR-ID, not %d (quote a name with spaces)", c.NArg())
	}
	want := c.Args().First()
	if want == "" && c.String("game") == "" {
		p.add("give a LOBBY-NAME-OR-ID, or --game to quick-join the lobby closest to starting")
	}
	checkEndpoint(c, &p)
	checkCommon(c, &p)
	if err := p.err(c); err != nil {
		return err
	}
	ep := lobby.JoinOptions{Port: c.Int("port"), Addr: c.String("addr"), Password: c.String("password")}
	ep.Seats, ep.Reservation = c.Int("seats"), c.String("reservation")
	var err error
	if ep.Filter, err = filter(c); err != nil {
		return err
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	prog := startProgress(c.App.Writer, "joining")
	var s *lanlobby.Session
	if want != "" {
		s, err = lanlobby.Join(c.Context, cfg, want, ep)
	} else {
		s, err = lanlobby.QuickJoin(c.Context, cfg, c.String("game"), ep)
	}
	prog.stop()
	if err != nil {
		return failure(err, cfg.Coordinator)
	}
	defer s.Close()
	out := newPrinter(c.App.Writer, c.Bool("json"))
	out.lan = lanlobby.LANAddrs(cfg)
	out.joined(s.Lobby(), s.You(), s.Peers(), "", false, s.Coordinator())
	if res := s.Reservation(); res != nil {
		out.reservation(res)
	}
	return stay(c.Context, s, out)
}

// stay prints the lobby's events until the lobby ends for us (closed, or we
// were kicked: exit 0), the link is lost (exit 1), or ctx ends (Ctrl-C,
// SIGTERM): then the deferred Close leaves cleanly, so the others are told
// at once (or, on the host's own coordinator, the lobby closes for all).
func stay(ctx context.Context, s *lanlobby.Session, p *printer) error {
	me := s.You().ID
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return quiet(exitFailure)
			}
			p.event(ev)
			switch {
			case ev.Kind == lobby.EventError:
				return quiet(exitFailure)
			case ev.Kind == lobby.NoticeClosed && ev.Lobby.ID == s.ID():
				return nil
			case ev.Kind == lobby.NoticeMemberLeft && ev.Member.ID == me:
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}
