package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/coordhttp"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/rules"
)

// Every flag the CLI has, in one place: urfave/cli only accepts a
// command's flags after the command name, so each command lists the ones
// it uses from here. "(required)" in a usage string is checked by the
// command before anything starts (see problems).

// Output and logging.
var (
	flagJSON = &cli.BoolFlag{Name: "json", Usage: "print one JSON object per line instead of text (errors too, on stdout)"}
	// Logs go to stderr, as JSON with --json; warnings and errors only,
	// unless -v or --log-level asks for more.
	flagVerbose  = &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log more (info; --log-level debug for everything)"}
	flagLogLevel = &cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (logs go to stderr; default warn, info with -v)"}
)

// The coordinator and the player.
var (
	flagCoordinator = &cli.StringFlag{Name: "coordinator", Aliases: []string{"c"}, EnvVars: []string{"LANLOBBY_COORDINATOR"},
		Usage: "coordinator address host[:port] (port 7600 when omitted): use it instead of the LAN"}
	flagTimeout = &cli.DurationFlag{Name: "timeout", Value: lobby.DefaultTimeout,
		Usage: "give up on the coordinator after this long (each call)"}
	flagPlayer = &cli.StringFlag{Name: "player", EnvVars: []string{"LANLOBBY_PLAYER"}, Usage: "your player name", Value: defaultPlayer()}
)

// Lobbies.
var (
	flagGame      = &cli.StringFlag{Name: "game", Aliases: []string{"g"}, Usage: "game id (a-z, 0-9, '-', '_', '.')"}
	flagGameReq   = &cli.StringFlag{Name: "game", Aliases: []string{"g"}, Usage: "game id (a-z, 0-9, '-', '_', '.') (required)"}
	flagName      = &cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "lobby name shown to players (required)"}
	flagPlayers   = &cli.IntFlag{Name: "players", Aliases: []string{"k"}, Usage: fmt.Sprintf("players needed to start, you included, %d..%d (required)", rules.MinCapacity, rules.MaxCapacity)}
	flagPort      = &cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "your game's port; peers connect to your address on it (required, or --addr)"}
	flagAddr      = &cli.StringFlag{Name: "addr", Usage: "your game's full address ip:port, instead of --port"}
	flagPassword  = &cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "make the lobby private: players join by id with this password"}
	flagJoinPass  = &cli.StringFlag{Name: "password", EnvVars: []string{"LANLOBBY_PASSWORD"}, Usage: "password or invite code of a private lobby"}
	flagPrivate   = &cli.BoolFlag{Name: "private", Usage: "make the lobby private with an invite code the coordinator makes up"}
	flagAutoStart = &cli.BoolFlag{Name: "auto-start", Usage: "start the game by itself when the last seat is taken (--players is then the players needed to start)"}
	flagMembers   = &cli.BoolFlag{Name: "members", Aliases: []string{"m"}, Usage: "show each lobby's members with their round-trip time and state, from a coordinator's HTTP endpoint (--http)"}
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

// The coordinator's HTTP endpoint (metrics, health, status page).
var (
	flagHTTPDaemon = &cli.StringFlag{Name: "http", Value: coordhttp.DefaultAddr,
		Usage: "serve /metrics, /healthz, /readyz and the live status page / on this address (\"\": none; 0.0.0.0:7680 shows it to the LAN)"}
	flagHTTPHost = &cli.StringFlag{Name: "http",
		Usage: "serve the own coordinator's /metrics, health and live status page on this address (like 127.0.0.1:7680)"}
	flagHTTPWatch = &cli.StringFlag{Name: "http", Value: coordhttp.DefaultAddr,
		Usage: "with --members: the coordinator's HTTP endpoint (host:port or URL)"}
)

// outputFlags are what every command that prints has.
func outputFlags() []cli.Flag { return []cli.Flag{flagJSON, flagVerbose, flagLogLevel} }

// lanFlags are the flags of every command that discovers or announces.
func lanFlags() []cli.Flag {
	return []cli.Flag{flagInterface, flagBeaconPort, flagLANKey, flagNoMDNS, flagNoBeacon}
}

func defaultPlayer() string {
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := os.Getenv(k); v != "" && lobby.ValidatePlayerName(v) == nil {
			return v
		}
	}
	return ""
}

// newLogger logs to stderr: warnings and errors by default (the output is
// the command's, not the library's), info with -v, any level with
// --log-level; as JSON with --json.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelInfo
	}
	if s := c.String("log-level"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			return nil, usageError(c, fmt.Sprintf("--log-level must be debug, info, warn or error, not %q", s))
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Bool("json") {
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
}

// checkCommon adds the problems of the flags many commands share.
func checkCommon(c *cli.Context, p *problems) {
	if g := c.String("game"); g != "" {
		if _, err := lobby.NormalizeGame(g); err != nil {
			p.add("--game %q: %s", g, reasonOf(err))
		}
	}
	if err := lobby.ValidatePlayerName(c.String("player")); err != nil {
		p.add("--player: %s", reasonOf(err))
	}
	if c.IsSet("beacon-port") && (c.Uint("beacon-port") == 0 || c.Uint("beacon-port") > 65535) {
		p.add("--beacon-port must be 1..65535, not %d", c.Uint("beacon-port"))
	}
	if c.IsSet("timeout") && c.Duration("timeout") < 0 {
		p.add("--timeout must not be negative")
	}
	if c.Bool("no-beacon") && c.Bool("no-mdns") && c.String("coordinator") == "" {
		p.add("--no-beacon and --no-mdns together leave nothing to discover or announce with")
	}
	if s := c.String("log-level"); s != "" {
		var l slog.Level
		if l.UnmarshalText([]byte(s)) != nil {
			p.add("--log-level must be debug, info, warn or error, not %q", s)
		}
	}
}

// checkEndpoint adds the problems of --port / --addr.
func checkEndpoint(c *cli.Context, p *problems) {
	port, addr := c.Int("port"), c.String("addr")
	switch {
	case !c.IsSet("port") && addr == "":
		p.add("--port GAMEPORT (or --addr IP:PORT) is required: it is where the others reach your game")
	case addr != "":
		if ap, err := netip.ParseAddrPort(addr); err != nil || ap.Port() == 0 {
			p.add("--addr must be ip:port (like 192.168.1.20:7777), not %q", addr)
		}
	case port < 1 || port > 65535:
		p.add("--port must be 1..65535, not %d", port)
	}
}

// reasonOf is a validation error without its package prefix and code.
func reasonOf(err error) string {
	if e, ok := err.(*lobby.Error); ok && e.Message != "" {
		return e.Message
	}
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 && !strings.Contains(s[:i], " ") {
		s = s[i+2:]
	}
	return s
}

// config builds the library's Config from the flags a command has. Flags a
// command lacks leave their defaults. The flags were checked before.
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
	if p := c.Uint("beacon-port"); p > 0 && p <= 65535 {
		cfg.BeaconPort = uint16(p)
	}
	if d := c.Duration("beacon-interval"); d > 0 {
		cfg.BeaconInterval = d
	}
	cfg.LANKey = c.String("lan-key")
	cfg.NoBeacon = c.Bool("no-beacon")
	cfg.NoMDNS = c.Bool("no-mdns")
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
		return cfg, usageError(c, fmt.Sprintf("--lan-key: %v", err))
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
