package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
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
	cfg.PlayerKey = c.String("player-key")
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

// Matchmaking flags: what a lobby carries and what a player looks for.
var (
	flagMeta = &cli.StringSliceFlag{Name: "meta",
		Usage: "lobby metadata key=value (repeatable); keys of a-z 0-9 . _ - are also advertised on the LAN, the first 4 that fit, so LAN filters see them"}
	flagGameVersion = &cli.StringFlag{Name: "game-version",
		Usage: "game version: host gives the lobby's; list, watch and join keep to lobbies of this version"}
	flagVersionRule = &cli.StringFlag{Name: "version-rule", Value: string(lanlobby.VersionExact),
		Usage: "how --game-version compares: exact, or compatible (same major.minor: 1.4 matches 1.4.7)"}
	flagFilter = &cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"},
		Usage: "keep to lobbies whose metadata has key=value, or a number key>=N or key<=N (repeatable)"}
	flagSeats = &cli.IntFlag{Name: "seats", Value: 1,
		Usage: "seats to take: yours plus those held for your party, who join with the --reservation printed"}
	flagReservation = &cli.StringFlag{Name: "reservation", EnvVars: []string{"LANLOBBY_RESERVATION"},
		Usage: "claim a seat held for you with this token (from your party's leader or the lobby's owner)"}
	flagPlayerKey = &cli.StringFlag{Name: "player-key", EnvVars: []string{"LANLOBBY_PLAYER_KEY"},
		Usage: "your stable player key, by which bans and named party seats know you (default: a new one per run)"}
)

// filterFlags are the flags of the commands that look for lobbies.
func filterFlags() []cli.Flag {
	return []cli.Flag{flagFilter, flagGameVersion, flagVersionRule, flagPlayerKey}
}

// filter builds the lanlobby.Filter of --filter, --game-version and
// --version-rule.
func filter(c *cli.Context) (lanlobby.Filter, error) {
	f := lanlobby.Filter{Version: c.String("game-version"), VersionRule: lanlobby.VersionRule(c.String("version-rule"))}
	for _, term := range c.StringSlice("filter") {
		var key, op, value string
		for _, o := range []string{">=", "<=", "="} {
			if k, v, ok := strings.Cut(term, o); ok {
				key, op, value = strings.TrimSpace(k), o, strings.TrimSpace(v)
				break
			}
		}
		if key == "" {
			return f, cli.Exit(fmt.Sprintf("--filter %q: want key=value, key>=N or key<=N", term), exitUsage)
		}
		if op == "=" {
			if f.Meta == nil {
				f.Meta = map[string]string{}
			}
			f.Meta[key] = value
			continue
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return f, cli.Exit(fmt.Sprintf("--filter %q: %q is not a number", term, value), exitUsage)
		}
		r := lanlobby.AtLeast(key, n)
		if op == "<=" {
			r = lanlobby.AtMost(key, n)
		}
		f.Ranges = append(f.Ranges, r)
	}
	if err := f.Validate(); err != nil {
		return f, cli.Exit(fmt.Sprintf("bad filter: %v", err), exitUsage)
	}
	return f, nil
}

// hostMeta reads --meta: the metadata, and the keys to advertise on the
// LAN (every key of the filterable form, in the order given).
func hostMeta(c *cli.Context) (map[string]string, []string, error) {
	var meta map[string]string
	var keys []string
	for _, kv := range c.StringSlice("meta") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, cli.Exit(fmt.Sprintf("--meta %q: want key=value", kv), exitUsage)
		}
		if meta == nil {
			meta = map[string]string{}
		}
		if _, dup := meta[k]; !dup && lobby.ValidateFilterable(append(slices.Clone(keys), k)) == nil {
			keys = append(keys, k)
		}
		meta[k] = v
	}
	return meta, keys, nil
}
