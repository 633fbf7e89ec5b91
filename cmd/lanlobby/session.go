package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

func hostCommand() *cli.Command {
	return &cli.Command{
		Name:  "host",
		Usage: "create a lobby and stay in it, printing who joins and leaves",
		Flags: []cli.Flag{
			flagCoordinator, flagGame,
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "lobby name shown to players", Required: true},
			&cli.IntFlag{Name: "players", Aliases: []string{"k"}, Usage: fmt.Sprintf("players needed to start (%d..%d)", lobby.MinCapacity, lobby.MaxCapacity), Required: true},
			flagPort, flagAddr, flagPlayer, flagTimeout, flagJSON, flagLogLevel,
			flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon, flagBeaconInterval, flagDaemonWait,
			&cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "make the lobby private: players join by id with this password"},
			&cli.BoolFlag{Name: "private", Usage: "make the lobby private with an invite code the coordinator makes up"},
		},
		Action: runHost,
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join a lobby by name or id, or quick-join the one closest to starting; then stay and print events",
		ArgsUsage: "[LOBBY-NAME-OR-ID]",
		Description: "Without --coordinator, lobbies are found on the LAN: with no argument the open lobby\n" +
			"of --game closest to full is joined (the next one if it fills meanwhile); with one, the\n" +
			"lobby of that id or name. With --coordinator, the argument is a lobby id on that coordinator.",
		Flags: []cli.Flag{flagCoordinator, flagGame, flagPort, flagAddr, flagPlayer, flagTimeout, flagJSON, flagLogLevel,
			flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon, flagQuiet,
			&cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "password or invite code of a private lobby"}},
		Action: runJoin,
	}
}

func runHost(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("unexpected argument %q", c.Args().First()), exitUsage)
	}
	if c.String("game") == "" {
		return cli.Exit("--game is required", exitUsage)
	}
	ep, err := gameEndpoint(c)
	if err != nil {
		return err
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if _, err := lanKey(c); err != nil { // derive it before any timing-sensitive step
		return err
	}
	coordinator := c.String("coordinator")
	var own *embeddedCoordinator
	shown := coordinator
	if coordinator == "" {
		// Zero-config: look for a coordinator daemon on the LAN while this
		// process gets its own coordinator ready, so the lookup costs no
		// more than the set-up it overlaps; use the daemon if one answered.
		found := make(chan string, 1)
		go func() { found <- findDaemon(c.Context, c, c.Duration("daemon-wait"), log) }()
		own, err = startEmbedded(c, log)
		daemon := <-found
		if err != nil {
			return err
		}
		if daemon != "" {
			own.stop()
			own = nil
			coordinator, shown = daemon, daemon
		} else {
			defer own.stop()
			coordinator = own.addr
			shown = fmt.Sprintf(":%d", own.port)
		}
	}
	cl, err := lobby.Dial(c.Context, coordinator, lobby.ClientConfig{Player: c.String("player"), Timeout: c.Duration("timeout")})
	if err != nil {
		return cli.Exit(fmt.Sprintf("cannot reach coordinator %s: %v", coordinator, err), exitFailure)
	}
	defer cl.Close()
	ep.Password = c.String("password")
	j, err := cl.Create(c.Context, lobby.CreateOptions{Game: c.String("game"), Name: c.String("name"),
		Capacity: c.Int("players"), Private: c.Bool("private"), JoinOptions: ep})
	if err != nil {
		return failure(err)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.joined(j, true, shown)
	// With its own coordinator, the host's exit ends the lobby for all
	// (closed: shutdown, and a LAN goodbye); with a shared one, it leaves
	// and ownership passes on.
	return stay(c.Context, cl, p, j.Lobby.ID, own == nil)
}

func runJoin(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("join takes at most one LOBBY-ID", exitUsage)
	}
	id := c.Args().First()
	if id == "" && c.String("game") == "" {
		return cli.Exit("give a LOBBY-ID, or --game to quick-join the lobby closest to starting", exitUsage)
	}
	ep, err := gameEndpoint(c)
	if err != nil {
		return err
	}
	ep.Password = c.String("password")
	if c.String("coordinator") == "" {
		return joinLAN(c, id, ep)
	}
	cl, err := dialCoordinator(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var j *lobby.Joined
	if id != "" {
		j, err = cl.Join(c.Context, id, ep)
	} else {
		j, err = cl.QuickJoin(c.Context, c.String("game"), ep)
	}
	if err != nil {
		return failure(err)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.joined(j, false, c.String("coordinator"))
	return stay(c.Context, cl, p, j.Lobby.ID, true)
}

// joinLAN finds the lobby on the LAN and joins it at its coordinator: by
// name or id when one is given, else the open lobby of --game closest to
// full, trying the next when one fills (or vanishes) meanwhile.
func joinLAN(c *cli.Context, want string, ep lobby.JoinOptions) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	game := c.String("game")
	if game != "" {
		if game, err = lobby.NormalizeGame(game); err != nil {
			return failure(err)
		}
	}
	ctx, cancel := context.WithCancel(c.Context)
	br, err := startBrowser(ctx, c, game, log)
	if err != nil {
		cancel()
		return err
	}
	var stop func(beacon.LobbyInfo) bool
	if want != "" {
		stop = func(l beacon.LobbyInfo) bool { return l.ID == want || l.Name == want }
	}
	seen, err := br.collect(ctx, c.Duration("quiet"), c.Duration("timeout"), nil, stop)
	cancel()
	if cerr := br.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	all := make([]beacon.LobbyInfo, 0, len(seen))
	for _, l := range seen {
		all = append(all, l)
	}
	var candidates []beacon.LobbyInfo
	if want != "" {
		for _, l := range all {
			if l.ID == want {
				candidates = []beacon.LobbyInfo{l}
			}
		}
		if candidates == nil {
			for _, l := range quickJoinOrder(all, "") {
				if l.Name == want {
					candidates = append(candidates, l)
				}
			}
		}
		if candidates == nil {
			return cli.Exit(fmt.Sprintf("no lobby %q visible on the LAN (unknown_lobby)", want), exitFailure)
		}
	} else {
		candidates = quickJoinOrder(all, game)
		if len(candidates) == 0 {
			return cli.Exit(fmt.Sprintf("no open lobby of game %q visible on the LAN (no_open_lobby)", game), exitFailure)
		}
	}
	var lastErr error
	for _, l := range candidates {
		cl, err := dialLAN(c, l.Host)
		if err != nil {
			lastErr = err
			log.Info("lobby's coordinator unreachable, trying the next", "lobby", l.ID, "host", l.Host, "err", err)
			continue
		}
		j, err := cl.Join(c.Context, l.ID, ep)
		if err != nil {
			cl.Close()
			lastErr = err
			if errors.Is(err, lobby.ErrLobbyFull) || errors.Is(err, lobby.ErrLobbyStarted) || errors.Is(err, lobby.ErrUnknownLobby) {
				log.Info("lobby no longer open, trying the next", "lobby", l.ID, "err", err)
				continue
			}
			return failure(err)
		}
		defer cl.Close()
		p := newPrinter(c.App.Writer, c.Bool("json"))
		p.joined(j, false, l.Host.String())
		return stay(c.Context, cl, p, j.Lobby.ID, true)
	}
	return failure(lastErr)
}

// stay prints the lobby's events until the lobby ends for us (closed, or we
// were kicked: exit 0), the link is lost (exit 1), or ctx ends (Ctrl-C,
// SIGTERM), when it leaves cleanly (if leave) so the others are told at once.
func stay(ctx context.Context, cl *lobby.Client, p *printer, lobbyID string, leave bool) error {
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return cli.Exit("", exitFailure)
			}
			p.event(ev)
			switch {
			case ev.Kind == lobby.EventError:
				return cli.Exit("", exitFailure)
			case ev.Kind == lobby.NoticeClosed && ev.Lobby.ID == lobbyID:
				return nil
			case ev.Kind == lobby.NoticeMemberLeft && ev.Member.ID == cl.ID():
				return nil
			}
		case <-ctx.Done():
			if !leave {
				return nil
			}
			lctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			defer cancel()
			if err := cl.Leave(lctx, lobbyID); err != nil {
				p.fail(fmt.Errorf("leaving: %w", err))
			}
			return nil
		}
	}
}
