// Command lanlobby lists, hosts, joins and watches LAN game lobbies, runs
// the coordinator daemon, and diagnoses the network (doctor). See
// README.md for a tour and PROTOCOL.md for the wire protocol
// other-language clients speak.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is the CLI's version, printed by `lanlobby version`.
const version = "0.2.0"

// Exit codes, the same for every command.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed (unknown lobby, full, unreachable, a doctor check failed, ...)
	exitUsage   = 2 // bad flags or arguments: nothing was started
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the CLI with args (args[0] is the program) and returns the exit
// code. Errors are reported once, here: as text on stderr, or with --json
// as an {"event":"error"} object on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args = interspersed(app, args)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	report(err, code, wantsJSON(args), stdout, stderr)
	return code
}

// wantsJSON reports whether --json was given before any "--".
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true":
			return true
		}
	}
	return false
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "lanlobby",
		Usage:                "find and form multiplayer game parties on a LAN",
		Version:              version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError(c, err.Error())
		},
		CommandNotFound: func(c *cli.Context, name string) {},
		Commands: []*cli.Command{
			hostCommand(),
			joinCommand(),
			listCommand(),
			watchCommand(),
			registerCommand(),
			lookupCommand(),
			coordinatorCommand(),
			doctorCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
			benchCommand(),
		},
	}
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageError(c, "unknown command "+strings.TrimSpace(c.Args().First())+" (lanlobby help lists them)")
		}
		return cli.ShowAppHelp(c)
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
