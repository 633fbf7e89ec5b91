package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/lobby"
)

func coordinatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "coordinator",
		Usage: "run a coordinator daemon that serves many lobbies",
		Description: "The coordinator holds a TCP link to every lobby member, pushes join and leave\n" +
			"notices to the members of each lobby, and drops members that miss their heartbeats.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Value: fmt.Sprintf(":%d", lobby.DefaultPort), Usage: "TCP address to listen on"},
			&cli.DurationFlag{Name: "heartbeat", Value: lobby.DefaultHeartbeatInterval, Usage: "ping interval"},
			&cli.IntFlag{Name: "misses", Value: lobby.DefaultHeartbeatMisses, Usage: "missed heartbeats before a member is dropped"},
			flagJSON, flagLogLevel,
		},
		Action: runCoordinator,
	}
}

func runCoordinator(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if c.Duration("heartbeat") <= 0 || c.Int("misses") < 1 {
		return cli.Exit("--heartbeat must be positive and --misses at least 1", exitUsage)
	}
	srv, err := lobby.NewServer(lobby.ServerConfig{
		HeartbeatInterval: c.Duration("heartbeat"),
		HeartbeatMisses:   c.Int("misses"),
		Logger:            log,
	})
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("cannot listen on %s: %v", c.String("listen"), err), exitFailure)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.emit(struct {
		Event     string `json:"event"`
		Addr      string `json:"addr"`
		Heartbeat string `json:"heartbeat"`
		Misses    int    `json:"misses"`
	}{"listening", ln.Addr().String(), c.Duration("heartbeat").String(), c.Int("misses")},
		fmt.Sprintf("coordinator listening on %s (heartbeat %v, %d misses)", ln.Addr(), c.Duration("heartbeat"), c.Int("misses")))
	if err := srv.Serve(c.Context, ln); err != nil && !errors.Is(err, lobby.ErrServerClosed) {
		return cli.Exit(err.Error(), exitFailure)
	}
	return nil
}
