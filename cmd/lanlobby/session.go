package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

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
		},
		Action: runHost,
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join a lobby by id, or quick-join the one closest to starting; then stay and print events",
		ArgsUsage: "[LOBBY-ID]",
		Flags:     []cli.Flag{flagCoordinator, flagGame, flagPort, flagAddr, flagPlayer, flagTimeout, flagJSON, flagLogLevel},
		Action:    runJoin,
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
	cl, err := dialCoordinator(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	j, err := cl.Create(c.Context, lobby.CreateOptions{Game: c.String("game"), Name: c.String("name"),
		Capacity: c.Int("players"), JoinOptions: ep})
	if err != nil {
		return failure(err)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.joined(j, true, c.String("coordinator"))
	return stay(c.Context, cl, p, j.Lobby.ID)
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
	return stay(c.Context, cl, p, j.Lobby.ID)
}

// stay prints the lobby's events until the lobby ends for us (closed, or we
// were kicked: exit 0), the link is lost (exit 1), or ctx ends (Ctrl-C,
// SIGTERM), when it leaves cleanly so the others are told at once.
func stay(ctx context.Context, cl *lobby.Client, p *printer, lobbyID string) error {
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
			lctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			defer cancel()
			if err := cl.Leave(lctx, lobbyID); err != nil {
				p.fail(fmt.Errorf("leaving: %w", err))
			}
			return nil
		}
	}
}
