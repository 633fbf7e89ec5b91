package main

import (
	"github.com/urfave/cli/v2"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:   "list",
		Usage:  "list the lobbies a coordinator has",
		Flags:  []cli.Flag{flagCoordinator, flagGame, flagPlayer, flagTimeout, flagJSON, flagLogLevel},
		Action: runList,
	}
}

func runList(c *cli.Context) error {
	cl, err := dialCoordinator(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ls, err := cl.List(c.Context, c.String("game"))
	if err != nil {
		return failure(err)
	}
	newPrinter(c.App.Writer, c.Bool("json")).lobbies(ls)
	return nil
}
