package main

import (
	"fmt"

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
			},
			Action: func(c *cli.Context) error {
				res, err := bench.Latency(c.Context, bench.Config{Rounds: c.Int("rounds"), Warmup: c.Int("warmup")})
				if err != nil {
					return cli.Exit(err.Error(), exitFailure)
				}
				fmt.Fprint(c.App.Writer, bench.Format(res))
				return nil
			},
		}},
	}
}
