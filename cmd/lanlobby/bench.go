package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/internal/bench"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure lanlobby on this machine",
		Subcommands: []*cli.Command{{
			Name:  "latency",
			Usage: "join, quick-join and cold dial+join round trips over loopback, against a TCP echo in the same run",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "rounds", Value: 2000, Usage: "samples per operation"},
				&cli.IntFlag{Name: "warmup", Value: 200, Usage: "unmeasured rounds first"},
				&cli.BoolFlag{Name: "fanout", Value: true, Usage: "measure the fan-outs too (a 64-member lobby and a TCP fan-out to 63 connections; --fanout=false leaves out them and their 126 connections)"},
				&cli.StringFlag{Name: "order", Value: "random", Usage: "order of the ops in each round: random, or rotate (a fixed cycle, as the first version of this bench: each op pays for its predecessor's trailing work)"},
				&cli.BoolFlag{Name: "by-predecessor", Usage: "also print each op's p50 split by the op run just before it, against the echo after the same op"},
			},
			Action: func(c *cli.Context) error {
				order := c.String("order")
				if order != "random" && order != "rotate" {
					return cli.Exit(fmt.Sprintf("--order %q: random or rotate", order), exitUsage)
				}
				res, err := bench.Latency(c.Context, bench.Config{Rounds: c.Int("rounds"), Warmup: c.Int("warmup"), Rotate: order == "rotate", NoFanout: !c.Bool("fanout")})
				if err != nil {
					return cli.Exit(err.Error(), exitFailure)
				}
				fmt.Fprint(c.App.Writer, bench.Format(res))
				if c.Bool("by-predecessor") {
					fmt.Fprint(c.App.Writer, "\n"+bench.FormatAfter(res))
				}
				return nil
			},
		}, benchLoadCommand(), benchTableCommand(), benchSubscribeCommand(), benchFloorServerCommand()},
	}
}

func benchLoadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "hold many members on one coordinator process over loopback, then measure quick-join throughput",
		Description: "Starts this binary's coordinator as a separate process (--listen 127.0.0.1:0\n" +
			"--announce=false), measures it idle, connects --members raw protocol clients in\n" +
			"lobbies of --per-lobby that answer every heartbeat, holds them for --hold, then\n" +
			"has --qj-conns connections quick-join and leave open lobbies for --qj-duration\n" +
			"while the members stay connected. The coordinator's CPU time and RSS come from\n" +
			"/proc (Linux only). Exits 1 if a member was dropped or a lobby was not full.\n\n" +
			"Before that, with --floor, a floor server (the cheapest Go server of the same\n" +
			"traffic: a reader goroutine per connection and one ping a heartbeat written with\n" +
			"a plain Write, nothing else) holds as many plain connections for --floor-hold,\n" +
			"measured the same way, and the report gives the coordinator's CPU and RSS per\n" +
			"member as ratios to the floor's.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "members", Value: 10000, Usage: "members to connect and hold"},
			&cli.IntFlag{Name: "per-lobby", Value: 4, Usage: "members per lobby (one owner; also the capacity)"},
			&cli.DurationFlag{Name: "hold", Value: 60 * time.Second, Usage: "how long to hold the members"},
			&cli.DurationFlag{Name: "heartbeat", Value: time.Second, Usage: "the coordinator's ping period"},
			&cli.IntFlag{Name: "misses", Value: 3, Usage: "silent periods before the coordinator drops a member"},
			&cli.DurationFlag{Name: "qj-duration", Value: 5 * time.Second, Usage: "length of the quick-join phase (0 skips it)"},
			&cli.IntFlag{Name: "qj-conns", Value: 16, Usage: "quick-join connections"},
			&cli.IntFlag{Name: "qj-depth", Value: 4, Usage: "quick-joins in flight per connection (1..8)"},
			&cli.IntFlag{Name: "qj-lobbies", Value: 1000, Usage: "open lobbies (capacity 64) for the quick-join phase"},
			&cli.IntFlag{Name: "sources", Usage: "loopback source addresses 127.0.0.2.. to dial from (0: one per 400 connections)"},
			&cli.StringFlag{Name: "coordinator-bin", Usage: "run the coordinator of this lanlobby binary instead of this one's (to compare builds)"},
			&cli.StringSliceFlag{Name: "coordinator-arg", Usage: "extra coordinator flag, after the bench's own (repeatable)"},
			&cli.BoolFlag{Name: "floor", Value: true, Usage: "measure the floor server first and report the coordinator's figures as ratios to it (--floor=false skips it)"},
			&cli.DurationFlag{Name: "floor-hold", Value: 20 * time.Second, Usage: "how long the floor phase holds its connections (capped at --hold; CPU is a rate)"},
			&cli.BoolFlag{Name: "keep-rate-limit", Usage: "keep the coordinator's per-connection request rate limit (it caps each quick-join connection at 100 joins/s)"},
			flagJSON,
		},
		Action: func(c *cli.Context) error {
			self := c.String("coordinator-bin")
			if self == "" {
				var err error
				if self, err = os.Executable(); err != nil {
					return cli.Exit(fmt.Sprintf("cannot find the lanlobby binary: %v", err), exitFailure)
				}
			}
			qj := c.Duration("qj-duration")
			if qj <= 0 {
				qj = -1
			}
			var floor []string
			if c.Bool("floor") {
				// This binary's floor server, also with --coordinator-bin:
				// the floor is the same whichever coordinator is measured.
				exe, err := os.Executable()
				if err != nil {
					return cli.Exit(fmt.Sprintf("cannot find the lanlobby binary: %v", err), exitFailure)
				}
				floor = []string{exe, "bench", "floor-server"}
			}
			floorHold := min(c.Duration("floor-hold"), c.Duration("hold"))
			if floorHold <= 0 {
				floor = nil
			}
			res, err := bench.Load(c.Context, bench.LoadConfig{
				Coordinator:     []string{self, "coordinator"},
				CoordinatorArgs: c.StringSlice("coordinator-arg"),
				KeepRateLimit:   c.Bool("keep-rate-limit"),
				Members:         c.Int("members"),
				PerLobby:        c.Int("per-lobby"),
				Hold:            c.Duration("hold"),
				Heartbeat:       c.Duration("heartbeat"),
				Misses:          c.Int("misses"),
				QJDuration:      qj,
				QJConns:         c.Int("qj-conns"),
				QJDepth:         c.Int("qj-depth"),
				QJLobbies:       c.Int("qj-lobbies"),
				Sources:         c.Int("sources"),
				Floor:           floor,
				FloorHold:       floorHold,
				Progress:        c.App.ErrWriter,
			})
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			if c.Bool("json") {
				b, _ := json.Marshal(res)
				fmt.Fprintf(c.App.Writer, "%s\n", b)
			} else {
				fmt.Fprint(c.App.Writer, bench.FormatLoad(res))
			}
			if res.FalseDrops+res.QJFalseDrops > 0 || res.ListFull != res.Lobbies || res.Connected != res.Members {
				return cli.Exit(fmt.Sprintf("load: %d false drops, %d of %d lobbies full", res.FalseDrops+res.QJFalseDrops, res.ListFull, res.Lobbies), exitFailure)
			}
			return nil
		},
	}
}

// benchTableCommand prints issue 13's table: bench latency and bench load
// run --runs times each, every figure a ratio to its baseline from the
// same run, the median of the runs. It is what `make bench` prints; the
// load runs are shorter than bench load's defaults (stated in the output)
// so that the whole takes a few minutes.
func benchTableCommand() *cli.Command {
	return &cli.Command{
		Name:  "table",
		Usage: "every speed figure as a ratio to its baseline from the same run, the median of several runs",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "runs of each bench"},
			&cli.IntFlag{Name: "rounds", Value: 2000, Usage: "samples per latency op and run"},
			&cli.IntFlag{Name: "members", Value: 10000, Usage: "members the load runs hold"},
			&cli.DurationFlag{Name: "hold", Value: 20 * time.Second, Usage: "how long each load run holds its members"},
			&cli.DurationFlag{Name: "floor-hold", Value: 10 * time.Second, Usage: "how long each load run holds the floor server's connections"},
			&cli.DurationFlag{Name: "qj-duration", Value: 5 * time.Second, Usage: "length of each load run's quick-join phase"},
		},
		Action: func(c *cli.Context) error {
			self, err := os.Executable()
			if err != nil {
				return cli.Exit(fmt.Sprintf("cannot find the lanlobby binary: %v", err), exitFailure)
			}
			cfg := bench.TableConfig{
				Runs:    c.Int("runs"),
				Latency: bench.Config{Rounds: c.Int("rounds")},
				Load: bench.LoadConfig{
					Coordinator: []string{self, "coordinator"},
					Floor:       []string{self, "bench", "floor-server"},
					Members:     c.Int("members"),
					Hold:        c.Duration("hold"),
					FloorHold:   min(c.Duration("floor-hold"), c.Duration("hold")),
					QJDuration:  c.Duration("qj-duration"),
				},
				Progress: c.App.ErrWriter,
			}
			figs, err := bench.Table(c.Context, cfg)
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			fmt.Fprint(c.App.Writer, bench.FormatTable(figs, cfg.Runs))
			fmt.Fprintf(c.App.Writer, "load runs: %d members in lobbies of 4, 1s heartbeats, held %v (floor %v), quick-joins for %v; latency runs: %d rounds\n",
				cfg.Load.Members, cfg.Load.Hold, cfg.Load.FloorHold, cfg.Load.QJDuration, cfg.Latency.Rounds)
			return nil
		},
	}
}

// benchFloorServerCommand is the floor server bench load runs as a separate
// process: hidden, it is no use on its own.
func benchFloorServerCommand() *cli.Command {
	return &cli.Command{
		Name:   "floor-server",
		Usage:  "the floor server of bench load (internal)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:0", Usage: "loopback address to listen on"},
			&cli.DurationFlag{Name: "heartbeat", Value: time.Second, Usage: "ping period"},
		},
		Action: func(c *cli.Context) error {
			if err := bench.FloorServer(c.Context, c.String("listen"), c.Duration("heartbeat"), c.App.Writer); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			return nil
		},
	}
}
