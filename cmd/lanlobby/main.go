// Command lanlobby lists, hosts, joins and watches LAN game lobbies, and
// runs the coordinator daemon. See README.md for a tour and PROTOCOL.md for
// the wire protocol other-language clients speak.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/lobby"
)

// version is the CLI's version, printed by --version.
const version = "0.1.0"

// Exit codes.
const (
	exitFailure = 1 // the operation failed (unknown lobby, full, unreachable, ...)
	exitUsage   = 2 // bad flags or arguments
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(os.Stdout, os.Stderr)
	if err := app.RunContext(ctx, interspersed(app, os.Args)); err != nil {
		code := exitFailure
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "lanlobby:", strings.TrimPrefix(msg, "lanlobby: "))
		}
		os.Exit(code)
	}
}

// Flags shared by several commands. urfave/cli only accepts a command's
// flags after the command name, so each command lists the ones it uses.
var (
	flagJSON        = &cli.BoolFlag{Name: "json", Usage: "print one JSON object per line instead of text"}
	flagCoordinator = &cli.StringFlag{Name: "coordinator", Aliases: []string{"c"}, EnvVars: []string{"LANLOBBY_COORDINATOR"},
		Usage: "coordinator address host[:port] (port 7600 when omitted)"}
	flagTimeout = &cli.DurationFlag{Name: "timeout", Value: lobby.DefaultTimeout,
		Usage: "give up on the coordinator after this long (each call)"}
	flagGame     = &cli.StringFlag{Name: "game", Aliases: []string{"g"}, Usage: "game id (a-z, 0-9, '-', '_', '.')"}
	flagPort     = &cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "your game's port; peers connect to the address the coordinator sees you at, on this port"}
	flagAddr     = &cli.StringFlag{Name: "addr", Usage: "your game's full address ip:port, instead of --port"}
	flagPlayer   = &cli.StringFlag{Name: "player", EnvVars: []string{"LANLOBBY_PLAYER"}, Usage: "your player name", Value: defaultPlayer()}
	flagLogLevel = &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error (logs go to stderr)"}
)

func defaultPlayer() string {
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := os.Getenv(k); v != "" && lobby.ValidatePlayerName(v) == nil {
			return v
		}
	}
	return ""
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "lanlobby",
		Usage:     "find and form multiplayer game parties on a LAN",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by main.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		Commands: []*cli.Command{
			coordinatorCommand(),
			hostCommand(),
			joinCommand(),
			listCommand(),
			watchCommand(),
			registerCommand(),
			lookupCommand(),
			benchCommand(),
		},
	}
	setUsageErrors(app.Commands, app.OnUsageError)
	return app
}

// setUsageErrors makes every command exit with exitUsage on bad flags.
func setUsageErrors(cmds []*cli.Command, f cli.OnUsageErrorFunc) {
	for _, c := range cmds {
		c.OnUsageError = f
		setUsageErrors(c.Subcommands, f)
	}
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, cli.Exit(fmt.Sprintf("bad --log-level %q", c.String("log-level")), exitUsage)
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})), nil
}

// failure turns an error from a lobby call into an exit error with a
// message a player understands.
func failure(err error) error {
	var e *lobby.Error
	var amb *lanlobby.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return cli.Exit(amb.Error(), exitFailure)
	case errors.As(err, &e):
		msg := strings.ReplaceAll(string(e.Code), "_", " ")
		if e.Message != "" {
			msg = e.Message
		}
		return cli.Exit(fmt.Sprintf("%s (%s)", msg, e.Code), exitFailure)
	case errors.Is(err, lobby.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return cli.Exit(fmt.Sprintf("no answer in time: %v", err), exitFailure)
	}
	return cli.Exit(err.Error(), exitFailure)
}

// gameEndpoint reads --port / --addr.
func gameEndpoint(c *cli.Context) (lobby.JoinOptions, error) {
	o := lobby.JoinOptions{Port: c.Int("port"), Addr: c.String("addr")}
	if o.Port == 0 && o.Addr == "" {
		return o, cli.Exit("--port GAMEPORT (or --addr IP:PORT) is required: it is where peers reach your game", exitUsage)
	}
	if o.Addr == "" && (o.Port < 1 || o.Port > 65535) {
		return o, cli.Exit(fmt.Sprintf("--port %d outside 1..65535", o.Port), exitUsage)
	}
	return o, nil
}

// leaveTimeout bounds the clean leave on Ctrl-C.
const leaveTimeout = 2 * time.Second
