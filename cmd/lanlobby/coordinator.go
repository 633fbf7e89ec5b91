package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/lobby"
)

func coordinatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "coordinator",
		Usage: "run a coordinator daemon that serves many lobbies",
		Description: "The coordinator holds a TCP link to every lobby member, pushes join and leave\n" +
			"notices to the members of each lobby, and drops members that miss their heartbeats.\n\n" +
			"--host-mode runs the coordinator of one game's own lobbies instead, for a game that\n" +
			"is not written in Go (the C# and Python SDKs start it): it announces its lobbies but\n" +
			"not itself, closes them when it exits, listens on any free port unless --listen says\n" +
			"otherwise, and exits when its standard input closes or its parent process dies.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: fmt.Sprintf("TCP address to listen on (default :%d; :0 with --host-mode)", lobby.DefaultPort)},
			&cli.DurationFlag{Name: "heartbeat", Value: lobby.DefaultHeartbeatInterval, Usage: "ping interval"},
			&cli.IntFlag{Name: "misses", Value: lobby.DefaultHeartbeatMisses, Usage: "missed heartbeats before a member is dropped"},
			&cli.DurationFlag{Name: "resume-grace", Value: lobby.DefaultResumeGrace, Usage: "how long a member whose link dropped keeps its seat (0: none)"},
			&cli.IntFlag{Name: "max-conns", Value: lobby.DefaultMaxConns, Usage: "most open connections (-1: no limit)"},
			&cli.IntFlag{Name: "max-conns-per-ip", Value: lobby.DefaultMaxConnsPerIP, Usage: "most open connections from one address (-1: no limit)"},
			&cli.Float64Flag{Name: "max-request-rate", Value: lobby.DefaultRequestRate, Usage: "requests per second per connection, burst twice that (-1: no limit)"},
			&cli.BoolFlag{Name: "announce", Value: true, Usage: "announce the coordinator and its lobbies on the LAN (--announce=false to stay silent)"},
			&cli.BoolFlag{Name: "host-mode", Usage: "run one game's own coordinator (see above)"},
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{lanlobby.StateDirEnv},
				Usage: "directory (created 0700) where the daemon keeps the secret that lets clients restore their lobbies after a restart (default: lanlobby under the user's config directory)"},
			&cli.StringFlag{Name: "registry-udp", Usage: "also answer the name registry's UDP text requests on this address (off by default)"},
			&cli.DurationFlag{Name: "name-ttl", Value: lobby.DefaultNameTTL, Usage: "how long a name registered over UDP lives unless registered again"},
			flagJSON, flagLogLevel, flagBeaconInterval,
		}, lanFlags()...),
		Action: runCoordinator,
	}
}

func runCoordinator(c *cli.Context) error {
	if c.Duration("heartbeat") <= 0 || c.Int("misses") < 1 {
		return cli.Exit("--heartbeat must be positive and --misses at least 1", exitUsage)
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	hostMode := c.Bool("host-mode")
	ctx := c.Context
	if hostMode {
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		if err := watchParent(ctx, stop); err != nil {
			cfg.Logger.Warn("cannot follow the parent process", "err", err)
		}
		go func() { // the game keeps our stdin open while it lives
			io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			stop()
		}()
	}
	coord, err := lanlobby.StartCoordinator(ctx, cfg, lanlobby.CoordinatorOptions{
		Listen:      c.String("listen"),
		Daemon:      !hostMode,
		NoAnnounce:  !c.Bool("announce"),
		StateDir:    c.String("state-dir"),
		RegistryUDP: c.String("registry-udp"),
		Server: lobby.ServerConfig{
			HeartbeatInterval: c.Duration("heartbeat"),
			HeartbeatMisses:   c.Int("misses"),
			ResumeGrace:       graceFlag(c.Duration("resume-grace")),
			MaxConns:          c.Int("max-conns"),
			MaxConnsPerIP:     c.Int("max-conns-per-ip"),
			RequestRate:       c.Float64("max-request-rate"),
			NameTTL:           c.Duration("name-ttl"),
		},
	})
	if err != nil {
		return failure(err)
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if err := coord.AnnounceProblem(); err != nil {
		p.warn(fmt.Errorf("announcing by one protocol only: %w", err))
	}
	addr := coord.Addr()
	registry, registryText := "", ""
	if a := coord.RegistryAddr(); a != nil {
		registry, registryText = a.String(), fmt.Sprintf("; name registry on UDP %s", a)
	}
	p.emit(struct {
		Event     string `json:"event"`
		Addr      string `json:"addr"`
		Port      int    `json:"port"`
		Heartbeat string `json:"heartbeat"`
		Misses    int    `json:"misses"`
		Registry  string `json:"registry_udp,omitempty"`
	}{"listening", addr.String(), addr.Port, c.Duration("heartbeat").String(), c.Int("misses"), registry},
		fmt.Sprintf("coordinator listening on %s (heartbeat %v, %d misses)%s", addr, c.Duration("heartbeat"), c.Int("misses"), registryText))
	<-coord.Done()
	if err := coord.Close(); err != nil {
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
