package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby"
)

// registryTimeout bounds register and lookup: finding the coordinator,
// dialing it and its answer.
const registryTimeout = 5 * time.Second

func registryTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: registryTimeout, Usage: "give up after this long"}
}

func registerCommand() *cli.Command {
	return &cli.Command{
		Name:      "register",
		Usage:     "register a room server's name in a coordinator's name registry, and hold it until Ctrl-C",
		ArgsUsage: "NAME room://HOST:PORT",
		Description: "Names and addresses are unique on a coordinator; the name goes when this command\n" +
			"ends. Without --coordinator the coordinator daemon announced on the LAN is used.",
		Flags:  append([]cli.Flag{flagCoordinator, flagPlayer, registryTimeoutFlag(), flagJSON, flagLogLevel}, lanFlags()...),
		Action: runRegister,
	}
}

func lookupCommand() *cli.Command {
	return &cli.Command{
		Name:      "lookup",
		Usage:     "look a name up in a coordinator's name registry",
		ArgsUsage: "NAME",
		Flags:     append([]cli.Flag{flagCoordinator, flagPlayer, registryTimeoutFlag(), flagJSON, flagLogLevel}, lanFlags()...),
		Action:    runLookup,
	}
}

func runRegister(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("register takes NAME and room://HOST:PORT", exitUsage)
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	name, addr := c.Args().Get(0), c.Args().Get(1)
	r, err := lanlobby.Register(c.Context, cfg, name, addr)
	if err != nil {
		return registryFailure(err)
	}
	defer r.Close()
	p := newPrinter(c.App.Writer, c.Bool("json"))
	p.emit(struct {
		Event       string `json:"event"`
		Name        string `json:"name"`
		Addr        string `json:"addr"`
		Coordinator string `json:"coordinator"`
	}{"registered", name, addr, r.Coordinator()}, fmt.Sprintf("registered %q as %s on coordinator %s (Ctrl-C to remove)", name, addr, r.Coordinator()))
	select {
	case <-c.Context.Done():
		return nil
	case <-r.Done():
		return cli.Exit(fmt.Sprintf("lost the coordinator: %v", r.Err()), exitFailure)
	}
}

func runLookup(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("lookup takes one NAME", exitUsage)
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	addr, err := lanlobby.Lookup(c.Context, cfg, name)
	if err != nil {
		return registryFailure(err)
	}
	newPrinter(c.App.Writer, c.Bool("json")).emit(struct {
		Event string `json:"event"`
		Name  string `json:"name"`
		Addr  string `json:"addr"`
	}{"found", name, addr}, addr)
	return nil
}

func registryFailure(err error) error {
	if errors.Is(err, lanlobby.ErrNoCoordinator) {
		return cli.Exit("no coordinator daemon found on the LAN; give --coordinator ADDR", exitFailure)
	}
	return failure(err)
}
