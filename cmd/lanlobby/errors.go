package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/doctor"
	"github.com/lanlobby/lanlobby/lobby"
)

// cliError is a failure with what the user can do about it. It is the
// only error type the commands return (besides urfave's own usage errors).
type cliError struct {
	msg  string
	hint string     // what to try; "" when nothing useful can be said
	code lobby.Code // the coordinator's error code, if any
	exit int
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) ExitCode() int { return e.exit }

// quiet is an exit without a message: what went wrong was printed already.
func quiet(exit int) error { return &cliError{exit: exit} }

// usageError is a mistake in the command line: nothing was started.
func usageError(c *cli.Context, msg string) error {
	hint := "lanlobby help lists the commands"
	if c != nil && c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		hint = fmt.Sprintf("lanlobby %s --help shows its flags and examples", c.Command.FullName())
	}
	return &cliError{msg: msg, hint: hint, exit: exitUsage}
}

// problems collects everything wrong with a command line, so that it is
// reported at once instead of one error per try.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(c *cli.Context) error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return usageError(c, p[0])
	}
	return usageError(c, fmt.Sprintf("%d problems:\n  %s", len(p), strings.Join(p, "\n  ")))
}

// report prints the error once: text on stderr, or with --json one
// {"event":"error"} object on stdout, where a program reads the rest.
func report(err error, exit int, asJSON bool, stdout, stderr io.Writer) {
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = &cliError{msg: err.Error(), exit: exit}
	}
	if ce.msg == "" {
		return
	}
	if asJSON {
		b, _ := json.Marshal(struct {
			Event string `json:"event"`
			Error string `json:"error"`
			Code  string `json:"code,omitempty"`
			Hint  string `json:"hint,omitempty"`
			Exit  int    `json:"exit"`
		}{"error", ce.msg, string(ce.code), ce.hint, exit})
		stdout.Write(append(b, '\n'))
		return
	}
	fmt.Fprintln(stderr, "lanlobby: "+strings.TrimPrefix(ce.msg, "lanlobby: "))
	if ce.hint != "" {
		fmt.Fprintln(stderr, "hint: "+ce.hint)
	}
}

// failure turns an error from a lobby call into a message a player
// understands, with a hint where one helps. coordinator is the address
// asked ("" on the LAN).
func failure(err error, coordinator string) error {
	var e *lobby.Error
	var amb *lanlobby.AmbiguousError
	var de *lanlobby.DiscoveryError
	switch {
	case errors.As(err, &amb):
		var b strings.Builder
		fmt.Fprintf(&b, "%d lobbies are named %q:", len(amb.Lobbies), amb.Name)
		for _, l := range amb.Lobbies {
			fmt.Fprintf(&b, "\n  %s  %s  %s  %d/%d  at %s", l.ID, l.Name, l.Game, l.Players, l.Capacity, hostString(l.Host))
		}
		return &cliError{msg: b.String(), hint: fmt.Sprintf("join one by its id: lanlobby join %s ...", amb.Lobbies[0].ID), exit: exitFailure}
	case errors.As(err, &e):
		msg := strings.ReplaceAll(string(e.Code), "_", " ")
		if e.Message != "" {
			msg = e.Message
		}
		ce := &cliError{msg: fmt.Sprintf("%s (%s)", msg, e.Code), code: e.Code, exit: exitFailure}
		switch e.Code {
		case lobby.CodeUnknownLobby, lobby.CodeNoOpenLobby:
			if coordinator == "" {
				ce.hint = "lanlobby list shows what this machine sees; if a lobby you expect is missing, run lanlobby doctor here and on the host"
			} else {
				ce.hint = "lanlobby list --coordinator " + coordinator + " shows its lobbies"
			}
		case lobby.CodeLobbyFull, lobby.CodeLobbyStarted:
			ce.hint = "quick-join another: lanlobby join --game GAME --port PORT"
		case lobby.CodeBadPassword:
			ce.hint = "a private lobby needs --password with its password or invite code"
		}
		return ce
	case errors.Is(err, syscall.ECONNREFUSED), isDialError(err):
		return &cliError{msg: err.Error(), exit: exitFailure,
			hint: fmt.Sprintf("is a coordinator running at %s (lanlobby coordinator)? is a firewall in the way of TCP %s? lanlobby doctor checks this machine",
				orDefault(coordinator, "that address"), portOf(coordinator))}
	case errors.Is(err, lobby.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		ce := &cliError{msg: fmt.Sprintf("no answer in time: %v", err), exit: exitFailure}
		if coordinator != "" {
			ce.hint = fmt.Sprintf("the coordinator at %s accepted the connection but did not answer: is it a lanlobby coordinator? (--timeout waits longer)", coordinator)
		}
		return ce
	case errors.Is(err, syscall.EADDRINUSE):
		return &cliError{msg: err.Error(), hint: addrInUseHint(err), exit: exitFailure}
	case errors.As(err, &de), errors.Is(err, lanlobby.ErrNoNetwork), errors.Is(err, lanlobby.ErrNoAnnounce):
		return &cliError{msg: err.Error(), hint: "lanlobby doctor says what is wrong with the network here", exit: exitFailure}
	}
	return &cliError{msg: err.Error(), exit: exitFailure}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// portOf is the TCP port of a coordinator address (7600 when omitted).
func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return strconv.Itoa(lobby.DefaultPort)
}

// addrInUseHint names who holds the port an EADDRINUSE error is about.
func addrInUseHint(err error) string {
	var op *net.OpError
	port := 0
	if errors.As(err, &op) && op.Addr != nil {
		if _, p, e := net.SplitHostPort(op.Addr.String()); e == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	if port == 0 {
		return "another program holds the port: choose another"
	}
	proto := "tcp"
	if op.Net != "" && strings.HasPrefix(op.Net, "udp") {
		proto = "udp"
	}
	if hs := doctor.PortHolders(proto, uint16(port)); len(hs) > 0 {
		return fmt.Sprintf("%s port %d is held by %s: stop it, or choose another port", strings.ToUpper(proto), port, strings.Join(hs, ", "))
	}
	return fmt.Sprintf("%s port %d is held by another program: choose another port", strings.ToUpper(proto), port)
}
