package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/internal/bench"
)

// benchSubscribeCommand measures live filtered subscriptions.
func benchSubscribeCommand() *cli.Command {
	return &cli.Command{
		Name:  "subscribe",
		Usage: "coordinator CPU with many filtered subscribers while lobbies churn, against the same churn without them; change-to-subscriber latency",
		Description: "Starts this binary's coordinator as a separate process on loopback, creates --lobbies\n" +
			"lobbies whose owners change them at --rate changes/s, and measures the coordinator's CPU\n" +
			"(from /proc) over --rounds phases of --phase: with no subscriber connected, then with\n" +
			"--subscribers raw clients subscribed (each with its own filter: a map and a level range)\n" +
			"and connected but unsubscribed, alternating. A probe subscriber times each change from\n" +
			"its owner's send to its arrival, under the churn and one change at a time; a subscriber\n" +
			"to another game must hear nothing. Exits 1 if it did.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "subscribers", Value: 1000, Usage: "subscribers, each with its own filter"},
			&cli.IntFlag{Name: "lobbies", Value: 100, Usage: "lobbies that churn"},
			&cli.IntFlag{Name: "rate", Value: 200, Usage: "lobby changes per second, in all"},
			&cli.DurationFlag{Name: "phase", Value: 5 * time.Second, Usage: "length of each measured phase"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "measured phases of each kind"},
			&cli.StringFlag{Name: "coordinator-bin", Usage: "run the coordinator of this lanlobby binary instead of this one's"},
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
			res, err := bench.Subscribe(c.Context, bench.SubscribeConfig{
				Coordinator: []string{self, "coordinator"},
				Subscribers: c.Int("subscribers"), Lobbies: c.Int("lobbies"), Rate: c.Int("rate"),
				Phase: c.Duration("phase"), Rounds: c.Int("rounds"), Progress: c.App.ErrWriter,
			})
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			if c.Bool("json") {
				b, _ := json.Marshal(res)
				fmt.Fprintf(c.App.Writer, "%s\n", b)
			} else {
				fmt.Fprint(c.App.Writer, bench.FormatSubscribe(res))
			}
			if res.ForeignEvents != 0 {
				return cli.Exit(fmt.Sprintf("a subscriber to another game heard %d events", res.ForeignEvents), exitFailure)
			}
			return nil
		},
	}
}
