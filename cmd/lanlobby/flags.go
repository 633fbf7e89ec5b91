package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
)

// Zero-config flags: where discovery happens on the LAN.
var (
	flagInterface = &cli.StringSliceFlag{Name: "interface", Aliases: []string{"i"}, EnvVars: []string{"LANLOBBY_INTERFACE"},
		Usage: "network interface(s) to announce and discover on (default: every LAN interface, skipping container and VPN bridges)"}
	flagBeaconPort = &cli.UintFlag{Name: "beacon-port", Value: beacon.DefaultPort, EnvVars: []string{"LANLOBBY_BEACON_PORT"},
		Usage: "UDP port of the LAN beacon"}
	flagBeaconInterval = &cli.DurationFlag{Name: "beacon-interval", Value: beacon.DefaultInterval,
		Usage: "mean time between periodic announcements (lobbies expire after 3 silent periods)"}
	flagSettle = &cli.DurationFlag{Name: "settle", Aliases: []string{"quiet"}, Value: lanlobby.DefaultSettle,
		Usage: "least quiet after the last answer that ends a look at the LAN; it grows with the slowest answer measured (0: the default)"}
	flagFirstWait = &cli.DurationFlag{Name: "first-answer-wait", Value: lanlobby.DefaultFirstAnswerWait,
		Usage: "how long a look at the LAN waits when nobody has answered yet; raise it for hosts on power-saving Wi-Fi (0: the default)"}
	flagLANKey = &cli.StringFlag{Name: "lan-key", EnvVars: []string{"LANLOBBY_LAN_KEY"},
		Usage: "shared LAN passphrase: sign beacons and mDNS TXT records, ignore unsigned ones (everyone on the LAN needs the same)"}
	flagNoMDNS = &cli.BoolFlag{Name: "no-mdns", EnvVars: []string{"LANLOBBY_NO_MDNS"},
		Usage: "do not use mDNS/DNS-SD (the UDP beacon alone)"}
	flagNoBeacon = &cli.BoolFlag{Name: "no-beacon", EnvVars: []string{"LANLOBBY_NO_BEACON"},
		Usage: "do not use the UDP beacon (mDNS/DNS-SD alone)"}
	flagDaemonWait = &cli.DurationFlag{Name: "daemon-wait", Value: lanlobby.DefaultDaemonWait,
		Usage: "how long host looks for a coordinator daemon on the LAN before running its own (0: never use one)"}
)

// lanFlags are the flags of every command that discovers or announces.
func lanFlags() []cli.Flag {
	return []cli.Flag{flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon}
}

// config builds the library's Config from the flags a command has. Flags a
// command lacks leave their defaults.
func config(c *cli.Context) (lanlobby.Config, error) {
	cfg := lanlobby.DefaultConfig()
	cfg.Coordinator = c.String("coordinator")
	cfg.Player = c.String("player")
	for _, name := range c.StringSlice("interface") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Interfaces = append(cfg.Interfaces, name)
		}
	}
	if c.IsSet("beacon-port") || c.Uint("beacon-port") != 0 {
		p := c.Uint("beacon-port")
		if p == 0 || p > 65535 {
			return cfg, cli.Exit(fmt.Sprintf("--beacon-port %d outside 1..65535", p), exitUsage)
		}
		cfg.BeaconPort = uint16(p)
	}
	if d := c.Duration("beacon-interval"); d > 0 {
		cfg.BeaconInterval = d
	}
	cfg.LANKey = c.String("lan-key")
	cfg.NoBeacon = c.Bool("no-beacon")
	cfg.NoMDNS = c.Bool("no-mdns")
	if cfg.Coordinator == "" && cfg.NoBeacon && cfg.NoMDNS {
		return cfg, cli.Exit("--no-beacon and --no-mdns together leave nothing to discover or announce with", exitUsage)
	}
	if d := c.Duration("timeout"); d > 0 {
		cfg.Timeout = d
	}
	if d := c.Duration("settle"); d > 0 {
		cfg.Settle = d
	}
	if d := c.Duration("first-answer-wait"); d > 0 {
		cfg.FirstAnswerWait = d
	}
	if c.IsSet("daemon-wait") {
		cfg.DaemonWait = c.Duration("daemon-wait")
		if cfg.DaemonWait == 0 {
			cfg.DaemonWait = -1 // the flag's 0 is "never"
		}
	}
	log, err := newLogger(c)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = log
	if err := lanlobby.PrepareKey(cfg); err != nil {
		return cfg, cli.Exit(fmt.Sprintf("--lan-key: %v", err), exitUsage)
	}
	return cfg, nil
}
