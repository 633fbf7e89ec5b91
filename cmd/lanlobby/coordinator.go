package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/beacon"
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
			&cli.DurationFlag{Name: "resume-grace", Value: lobby.DefaultResumeGrace, Usage: "how long a member whose link dropped keeps its seat (0: none)"},
			&cli.IntFlag{Name: "max-conns", Value: lobby.DefaultMaxConns, Usage: "most open connections (-1: no limit)"},
			&cli.IntFlag{Name: "max-conns-per-ip", Value: lobby.DefaultMaxConnsPerIP, Usage: "most open connections from one address (-1: no limit)"},
			&cli.Float64Flag{Name: "max-request-rate", Value: lobby.DefaultRequestRate, Usage: "requests per second per connection, burst twice that (-1: no limit)"},
			&cli.BoolFlag{Name: "announce", Value: true, Usage: "announce the coordinator and its lobbies on the LAN (--announce=false to stay silent)"},
			flagJSON, flagLogLevel, flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon, flagBeaconInterval,
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
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("cannot listen on %s: %v", c.String("listen"), err), exitFailure)
	}
	cfg := lobby.ServerConfig{
		HeartbeatInterval: c.Duration("heartbeat"),
		HeartbeatMisses:   c.Int("misses"),
		ResumeGrace:       graceFlag(c.Duration("resume-grace")),
		MaxConns:          c.Int("max-conns"),
		MaxConnsPerIP:     c.Int("max-conns-per-ip"),
		RequestRate:       c.Float64("max-request-rate"),
		// A daemon restart (an upgrade, a crash) must not end the lobbies:
		// clients restore them on the next instance.
		KeepLobbiesOnShutdown: true,
		Logger:                log,
	}
	if c.Bool("announce") {
		// Hosts on the LAN find the daemon and hand it their lobbies;
		// players find its lobbies like any other.
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		ann, err := startAnnouncer(c, port, &beacon.Coordinator{ID: lobby.RandomID(), Name: hostname(), Port: port}, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer ann.stop()
		cfg.OnLobbyChange = ann.follow
	}
	srv, err := lobby.NewServer(cfg)
	if err != nil {
		ln.Close()
		return cli.Exit(err.Error(), exitUsage)
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

// graceFlag maps the flag's "0: none" to the config's "negative: none".
func graceFlag(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
