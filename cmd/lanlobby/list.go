package main

import (
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
			"--timeout at most. Lobbies that share a name are marked: join those by ID.\n\n" +
			"Examples:\n" +
			"  lanlobby list                         # every lobby on the LAN\n" +
			"  lanlobby list --game demo --json      # one JSON object per lobby\n" +
			"  lanlobby list --coordinator 10.1.0.5  # a coordinator daemon's lobbies",
		Flags: append(append(append([]cli.Flag{flagCoordinator, flagGame, flagPlayer, listTimeout(), flagSettle, flagFirstWait},
			filterFlags()...),
			outputFlags()...), lanFlags()...),
		Action: runList,
	}
}

// listTimeout is --timeout with the LAN listing's shorter default.
func listTimeout() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: lanlobby.DefaultMaxWait,
		Usage: "stop listening to the LAN after this long (with --coordinator: give up on it after this long) (0: the default)"}
}

func runList(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError(c, "list takes no argument, not "+c.Args().First())
	}
	var p problems
	checkCommon(c, &p)
	if err := p.err(c); err != nil {
		return err
	}
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
	prog := startProgress(c.App.Writer, "looking for lobbies")
	ls, err := lanlobby.ListFiltered(c.Context, cfg, c.String("game"), f)
	prog.stop()
	if err != nil {
		return failure(err, cfg.Coordinator)
	}
	newPrinter(c.App.Writer, c.Bool("json")).lobbies(ls, cfg.Coordinator == "")
	return nil
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "keep the live list of lobbies on screen (added, updated, removed); --members: each member's RTT and state",
		Description: "Without --members, watch follows the LAN (or --coordinator) and prints each change; on a\n" +
			"terminal it keeps the whole list on screen instead. With --members it follows a\n" +
			"coordinator's HTTP endpoint (--http; the daemon serves 127.0.0.1:7680) and shows every\n" +
			"lobby's members with their heartbeat round-trip time and state (here, or away while\n" +
			"their seat is kept).\n\n" +
			"Examples:\n" +
			"  lanlobby watch                       # the LAN, live\n" +
			"  lanlobby watch --game demo --json    # one JSON object per change\n" +
			"  lanlobby watch --members             # members and RTT on this machine's daemon\n" +
			"  lanlobby watch --members --http 10.1.0.5:7680",
		Flags: append(append(append([]cli.Flag{flagCoordinator, flagGame, flagPlayer, flagTimeout, flagMembers, flagHTTPWatch},
			filterFlags()...),
			outputFlags()...), lanFlags()...),
		Action: runWatch,
	}
}

func runWatch(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError(c, "watch takes no argument, not "+c.Args().First())
	}
	var p problems
	checkCommon(c, &p)
	if c.Bool("members") && c.String("http") == "" {
		p.add("--members needs --http, the coordinator's HTTP endpoint")
	}
	if err := p.err(c); err != nil {
		return err
	}
	if c.Bool("members") {
		return watchMembers(c)
	}
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
		return failure(err, cfg.Coordinator)
	}
	defer b.Close()
	out := newPrinter(c.App.Writer, c.Bool("json"))
	if err := b.Problem(); err != nil {
		out.warn(err)
	}
	if err := b.Network(); err != nil {
		out.warn(err)
	}
	screen := !out.json && fancy(c.App.Writer)
	if screen {
		redraw(out, nil)
	}
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				return nil
			}
			if screen {
				redraw(out, b.Lobbies())
			} else {
				out.lanEvent(ev)
			}
		case <-c.Context.Done():
			return nil
		}
	}
}

// redraw shows the whole list on a fancy terminal.
func redraw(p *printer, ls []lanlobby.LobbyInfo) {
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(a, b lanlobby.LobbyInfo) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear screen
	b.WriteString("lanlobby watch: " + plural(len(ls), "lobby", "lobbies") + " (Ctrl-C to stop)\n\n")
	b.WriteString(table(ls, true))
	p.emit(nil, b.String())
}
