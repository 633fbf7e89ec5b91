package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the lobbies visible on the LAN (or a coordinator's, with --coordinator)",
		Description: "On the LAN, list queries every host and returns once answers stop: --settle after\n" +
			"the last one (longer when answers are slow), --first-answer-wait when nobody answers,\n" +
			"--timeout at most.",
		Flags: append(append([]cli.Flag{flagCoordinator, flagGame, flagPlayer, listTimeout(), flagJSON, flagLogLevel,
			flagSettle, flagFirstWait}, filterFlags()...), lanFlags()...),
		Action: runList,
	}
}

// listTimeout is --timeout with the LAN listing's shorter default.
func listTimeout() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: lanlobby.DefaultMaxWait,
		Usage: "stop listening to the LAN after this long (with --coordinator: give up on it after this long) (0: the default)"}
}

func runList(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	if d := c.Duration("timeout"); d > 0 {
		cfg.MaxWait = d
	}
	f, err := filter(c)
	if err != nil {
		return err
	}
	ls, err := lanlobby.ListFiltered(c.Context, cfg, c.String("game"), f)
	if err != nil {
		return failure(err)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if cfg.Coordinator != "" {
		p.lobbies(ls)
		return nil
	}
	for i, l := range ls {
		p.lanLobby(l, i == 0)
	}
	if len(ls) == 0 && !p.json {
		p.emit(nil, "no lobbies found on the LAN")
	}
	return nil
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:   "watch",
		Usage:  "keep the live list of lobbies on screen (added, updated, removed)",
		Flags:  append(append([]cli.Flag{flagCoordinator, flagGame, flagPlayer, flagTimeout, flagJSON, flagLogLevel}, filterFlags()...), lanFlags()...),
		Action: runWatch,
	}
}

func runWatch(c *cli.Context) error {
	cfg, err := config(c)
	if err != nil {
		return err
	}
	f, err := filter(c)
	if err != nil {
		return err
	}
	b, err := lanlobby.BrowseFiltered(c.Context, cfg, c.String("game"), f)
	if err != nil {
		return failure(err)
	}
	defer b.Close()
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if err := b.Problem(); err != nil {
		p.warn(err)
	}
	if err := b.Network(); err != nil {
		p.warn(fmt.Errorf("%w; watching for one", err))
	}
	screen := !p.json && isTerminal(os.Stdout) && c.App.Writer == os.Stdout
	if screen {
		redraw(p, nil)
	}
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				return nil
			}
			if screen {
				redraw(p, b.Lobbies())
			} else {
				p.lanEvent(ev)
			}
		case <-c.Context.Done():
			return nil
		}
	}
}

func redraw(p *printer, ls []lanlobby.LobbyInfo) {
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(a, b lanlobby.LobbyInfo) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear screen
	fmt.Fprintf(&b, "lanlobby watch: %d lobbies (Ctrl-C to stop)\n\n%s", len(ls), lanHeader)
	for _, l := range ls {
		b.WriteString("\n" + lanRow(l))
	}
	p.emit(nil, b.String())
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
