package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/doctor"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "find out why lobbies are not seen: check this machine and the network to the others",
		Description: "Checks the interfaces chosen and skipped, multicast routes and group membership, whether\n" +
			"our own multicast comes back, who holds UDP 7601 and 5353 and TCP 7600, firewall rules\n" +
			"dropping them, other mDNS responders and LAN key mismatches; then listens for --duration.\n" +
			"Run it on two machines at the same time (or with a lanlobby host running on the other)\n" +
			"to learn whether multicast and unicast go both ways between them: that is how Wi-Fi\n" +
			"client isolation and multicast-only loss show. Exits 1 when a check failed.\n\n" +
			"Examples:\n" +
			"  lanlobby doctor                        # on both machines, within a few seconds\n" +
			"  lanlobby doctor --json                 # one object per finding: check, status, detail, fix\n" +
			"  lanlobby doctor --peer 192.168.1.20    # is that machine reachable at all?\n" +
			"  lanlobby doctor --interface wlan0 --duration 10s",
		Flags: append([]cli.Flag{flagJSON, flagVerbose, flagLogLevel,
			&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Value: doctor.DefaultDuration,
				Usage: "how long to listen for other lanlobby machines"},
			&cli.StringSliceFlag{Name: "peer", Usage: "also probe this machine's address by unicast (repeatable)"},
		}, lanFlags()...),
		Action: runDoctor,
	}
}

func runDoctor(c *cli.Context) error {
	var prob problems
	if c.NArg() > 0 {
		prob.add("doctor takes no argument, not %q (--peer ADDRESS probes a machine)", c.Args().First())
	}
	if c.Duration("duration") <= 0 {
		prob.add("--duration must be positive")
	}
	for _, s := range c.StringSlice("peer") {
		if _, err := netip.ParseAddr(strings.TrimSpace(s)); err != nil {
			prob.add("--peer %q is not an IP address", s)
		}
	}
	checkCommon(c, &prob)
	if err := prob.err(c); err != nil {
		return err
	}
	cfg, err := config(c)
	if err != nil {
		return err
	}
	opts := doctor.Options{Duration: c.Duration("duration")}
	for _, s := range c.StringSlice("peer") {
		opts.Peers = append(opts.Peers, netip.MustParseAddr(strings.TrimSpace(s)))
	}
	p := newPrinter(c.App.Writer, c.Bool("json"))
	if !p.json {
		p.emit(nil, fmt.Sprintf("lanlobby doctor: checking this machine, then listening for other lanlobby machines for %v", opts.Duration))
	}
	prog := startProgress(c.App.Writer, "checking")
	opts.Progress = prog.set
	rep, err := doctor.Run(c.Context, cfg, opts)
	prog.stop()
	if err != nil {
		return failure(err, "")
	}
	for _, f := range rep.Findings {
		p.finding(f)
	}
	worst := doctor.OK
	for _, f := range rep.Findings {
		if f.Status == doctor.Fail || (f.Status == doctor.Warn && worst == doctor.OK) {
			worst = f.Status
		}
	}
	p.finding(doctor.Finding{Check: "verdict", Status: worst, Detail: rep.Verdict})
	if rep.Failed() {
		return quiet(exitFailure)
	}
	return nil
}
