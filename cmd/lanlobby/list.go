package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the lobbies visible on the LAN (or a coordinator's, with --coordinator)",
		Description: "On the LAN, lobbies are printed as their hosts answer, and list returns once\n" +
			"answers stop for --quiet, or at --timeout.",
		Flags: []cli.Flag{flagCoordinator, flagGame, flagPlayer, listTimeout(), flagJSON, flagLogLevel,
			flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon, flagQuiet},
		Action: runList,
	}
}

// listTimeout is --timeout with the LAN listing's shorter default.
func listTimeout() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: defaultListTimeout,
		Usage: "stop listening to the LAN after this long (with --coordinator: give up on it after this long)"}
}

func runList(c *cli.Context) error {
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if c.String("coordinator") == "" {
		return listLAN(c, p)
	}
	cl, err := dialCoordinator(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ls, err := cl.List(c.Context, c.String("game"))
	if err != nil {
		return failure(err)
	}
	p.lobbies(ls)
	return nil
}

func listLAN(c *cli.Context, p *printer) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	br, err := startBrowser(ctx, c, c.String("game"), log)
	if err != nil {
		return err
	}
	n := 0
	_, err = br.collect(ctx, c.Duration("quiet"), c.Duration("timeout"), func(l beacon.LobbyInfo) {
		p.lanLobby(l, n == 0)
		n++
	}, nil)
	cancel()
	if cerr := br.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n == 0 && !p.json {
		p.emit(nil, "no lobbies found on the LAN")
	}
	return nil
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "keep the live list of lobbies on screen (added, updated, removed)",
		Flags: []cli.Flag{flagCoordinator, flagGame, flagPlayer, flagTimeout, flagJSON, flagLogLevel,
			flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon,
			&cli.DurationFlag{Name: "poll", Value: time.Second, Usage: "with --coordinator: how often to ask it"}},
		Action: runWatch,
	}
}

func runWatch(c *cli.Context) error {
	p := newPrinter(c.App.Writer, c.Bool("json"))
	screen := !p.json && isTerminal(os.Stdout) && c.App.Writer == os.Stdout
	view := map[string]beacon.LobbyInfo{}
	show := func(ev beacon.Event) {
		if !screen {
			p.lanEvent(ev)
			return
		}
		if ev.Type == beacon.Removed {
			delete(view, ev.Lobby.ID)
		} else {
			view[ev.Lobby.ID] = ev.Lobby
		}
		redraw(p, view)
	}
	if screen {
		redraw(p, view)
	}
	if c.String("coordinator") != "" {
		return watchCoordinator(c, show)
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	br, err := startBrowser(c.Context, c, c.String("game"), log)
	if err != nil {
		return err
	}
	for ev := range br.events() {
		show(ev)
	}
	return br.close()
}

// watchCoordinator polls a coordinator's list and reports the differences,
// for watching across subnets where the beacon does not reach.
func watchCoordinator(c *cli.Context, show func(beacon.Event)) error {
	cl, err := dialCoordinator(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	host, err := parseHost(c.String("coordinator"))
	if err != nil {
		return err
	}
	known := map[string]beacon.LobbyInfo{}
	tick := time.NewTicker(c.Duration("poll"))
	defer tick.Stop()
	for {
		ls, err := cl.List(c.Context, c.String("game"))
		if err != nil {
			if c.Context.Err() != nil {
				return nil
			}
			return failure(err)
		}
		now := map[string]beacon.LobbyInfo{}
		for _, l := range ls {
			in := toBeaconInfo(l, host)
			now[l.ID] = in
			if old, ok := known[l.ID]; !ok {
				show(beacon.Event{Type: beacon.Added, Lobby: in})
			} else if old != in {
				show(beacon.Event{Type: beacon.Updated, Lobby: in})
			}
		}
		for id, old := range known {
			if _, ok := now[id]; !ok {
				show(beacon.Event{Type: beacon.Removed, Lobby: old})
			}
		}
		known = now
		select {
		case <-tick.C:
		case <-c.Context.Done():
			return nil
		}
	}
}

func toBeaconInfo(l lobby.Info, host string) beacon.LobbyInfo {
	b := toBeacon(l, 0)
	in := beacon.LobbyInfo{ID: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity, State: b.State, Source: "coordinator"}
	in.Host, _ = parseAddrPort(host)
	return in
}

func redraw(p *printer, view map[string]beacon.LobbyInfo) {
	ls := make([]beacon.LobbyInfo, 0, len(view))
	for _, l := range view {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b beacon.LobbyInfo) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
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
