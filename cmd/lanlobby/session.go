package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/lobby"
)

func hostCommand() *cli.Command {
	return &cli.Command{
		Name:  "host",
		Usage: "create a lobby and stay in it, printing who joins and leaves",
		Flags: append([]cli.Flag{
			flagCoordinator, flagGame,
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "lobby name shown to players", Required: true},
			&cli.IntFlag{Name: "players", Aliases: []string{"k"}, Usage: fmt.Sprintf("players needed to start (%d..%d)", lobby.MinCapacity, lobby.MaxCapacity), Required: true},
			flagPort, flagAddr, flagPlayer, flagTimeout, flagJSON, flagLogLevel, flagBeaconInterval, flagDaemonWait,
			&cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "make the lobby private: players join by id with this password"},
			&cli.BoolFlag{Name: "private", Usage: "make the lobby private with an invite code the coordinator makes up"},
			&cli.BoolFlag{Name: "auto-start", Usage: "start the game by itself when the last seat is taken (--players is then the players needed to start)"},
		}, lanFlags()...),
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
			"lobby of that id or name. With --coordinator, the lobby of that id or name there.",
		Flags: append([]cli.Flag{flagCoordinator, flagGame, flagPort, flagAddr, flagPlayer, flagTimeout, flagJSON, flagLogLevel,
			flagSettle, flagFirstWait,
			&cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "password or invite code of a private lobby"}},
			lanFlags()...),
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
	cfg, err := config(c)
	if err != nil {
		return err
	}
	s, err := lanlobby.Host(c.Context, cfg, lanlobby.HostOptions{Game: c.String("game"), Name: c.String("name"),
		Players: c.Int("players"), Port: ep.Port, Addr: ep.Addr, Password: c.String("password"), Private: c.Bool("private"),
		AutoStart: c.Bool("auto-start")})
	if err != nil {
		return failure(err)
	}
	defer s.Close()
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if err := s.AnnounceProblem(); err != nil {
		p.warn(fmt.Errorf("the lobby is announced by one protocol only: %w", err))
	}
	if err := s.Network(); err != nil {
		p.warn(fmt.Errorf("%w; the lobby will be announced once one comes up", err))
	}
	p.joined(s.Lobby(), s.You(), s.Peers(), s.Invite(), true, s.Coordinator())
	return stay(c.Context, s, p)
}

func runJoin(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("join takes at most one LOBBY-NAME-OR-ID", exitUsage)
	}
	want := c.Args().First()
	if want == "" && c.String("game") == "" {
		return cli.Exit("give a LOBBY-NAME-OR-ID, or --game to quick-join the lobby closest to starting", exitUsage)
	}
	ep, err := gameEndpoint(c)
	if err != nil {
		return err
	}
	ep.Password = c.String("password")
	cfg, err := config(c)
	if err != nil {
		return err
	}
	var s *lanlobby.Session
	if want != "" {
		s, err = lanlobby.Join(c.Context, cfg, want, ep)
	} else {
		s, err = lanlobby.QuickJoin(c.Context, cfg, c.String("game"), ep)
	}
	if err != nil {
		return failure(err)
	}
	defer s.Close()
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.joined(s.Lobby(), s.You(), s.Peers(), "", false, s.Coordinator())
	return stay(c.Context, s, p)
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
				return cli.Exit("", exitFailure)
			}
			p.event(ev)
			switch {
			case ev.Kind == lobby.EventError:
				return cli.Exit("", exitFailure)
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
