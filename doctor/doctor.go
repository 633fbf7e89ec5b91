// Package doctor answers "why can't I see the lobby?": it checks what LAN
// discovery needs on this machine and on the network and returns
// findings, each with a status and a fix. The lanlobby CLI's `doctor`
// command prints them; a game can run the same checks from its menu:
//
//	rep, err := doctor.Run(ctx, lanlobby.DefaultConfig(), doctor.Options{})
//	for _, f := range rep.Findings { show(f.Check, f.Status, f.Detail, f.Fix) }
//	show(rep.Verdict)
//
// The checks: the interfaces chosen and those skipped (and why); a
// multicast route and group membership on each; whether our own multicast
// comes back to a second socket; who holds UDP 7601 and 5353 and TCP 7600
// and whether they share them; firewall rules dropping those ports; an
// mDNS responder on the host; LAN key mismatches (signatures that fail);
// and, with another `lanlobby doctor` or any lanlobby host on the LAN,
// whether multicast and unicast go both ways between the machines: how
// Wi-Fi client isolation and multicast-only loss show.
package doctor

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/netutil"
)

// Status is a finding's verdict.
type Status string

// Statuses, from good to bad.
const (
	OK   Status = "ok"   // works
	Warn Status = "warn" // works, or cannot be told, but worth a look
	Fail Status = "fail" // breaks discovery: fix it
)

// Finding is one result of a check.
type Finding struct {
	// Check names what was checked ("interface lan0", "udp port 7601",
	// "firewall", "peer 198.18.0.2").
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Detail says what was found, Fix what to do about it ("" when
	// nothing is to be done).
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Findings []Finding
	// Verdict sums the findings up in a sentence or two.
	Verdict string
	// Peers are the other machines heard (doctors and lanlobby hosts).
	Peers []Peer
}

// Failed reports whether any finding failed.
func (r Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Status == Fail {
			return true
		}
	}
	return false
}

// Defaults of Options.
const (
	// DefaultDuration is how long Run listens for other machines: long
	// enough for several probe rounds and the beacons' 1.5 s period.
	DefaultDuration = 3 * time.Second
	// probeEvery is the period of probes and unicast checks.
	probeEvery = 250 * time.Millisecond
	// commandTimeout bounds each external command (iptables-save, nft).
	commandTimeout = 3 * time.Second
)

// Options tunes Run beyond the Config it shares with the rest of the
// library (interfaces, beacon port, LAN key).
type Options struct {
	// Duration is how long to listen for other lanlobby machines (0:
	// DefaultDuration). Run the doctor on two machines within that time of
	// each other to test both directions between them.
	Duration time.Duration
	// Peers are addresses of other machines to probe by unicast as well
	// (a machine whose game you cannot see: is it reachable at all?).
	Peers []netip.Addr
	// Name is this machine's name in probes ("": the host name).
	Name string
	// Progress, when set, is told what Run is doing ("listening for other
	// machines"), for a progress line.
	Progress func(string)
}

// ports are the ports lanlobby uses, as the doctor checks them.
type ports struct {
	beacon      uint16 // UDP
	mdns        uint16 // UDP
	coordinator uint16 // TCP
}

// Run runs every check and returns the findings. It takes about
// Options.Duration (listening for other machines), and fails only when
// ctx ends first or the machine's interfaces cannot be listed.
func Run(ctx context.Context, cfg lanlobby.Config, opts Options) (Report, error) {
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.Name == "" {
		opts.Name, _ = os.Hostname()
	}
	if opts.Progress == nil {
		opts.Progress = func(string) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := ports{beacon: cfg.BeaconPort, mdns: 5353, coordinator: lobby.DefaultPort}
	if p.beacon == 0 {
		p.beacon = beacon.DefaultPort
	}
	var rep Report
	add := func(fs ...Finding) { rep.Findings = append(rep.Findings, fs...) }

	opts.Progress("checking interfaces")
	cands, err := netutil.Candidates()
	if err != nil {
		return rep, err
	}
	choices := netutil.ExplainInterfaces(cands, netutil.IfaceOptions{Names: cfg.Interfaces})
	add(interfaceFindings(choices, cfg.Interfaces)...)
	var ifaces []netutil.Iface
	for _, ch := range choices {
		if ch.Chosen {
			ifaces = append(ifaces, ch.Iface)
		}
	}
	add(routeFindings(ifaces, p)...)

	opts.Progress("checking ports and firewall")
	add(portFindings(p)...)
	fctx, cancel := context.WithTimeout(ctx, 2*commandTimeout)
	add(firewallFindings(fctx, p)...)
	cancel()

	if len(ifaces) > 0 {
		opts.Progress("listening for other machines")
		live, err := listen(ctx, cfg, opts, p, ifaces)
		if err != nil {
			return rep, err
		}
		add(live.findings...)
		rep.Peers = live.peers
	}
	rep.Verdict = verdict(rep.Findings, rep.Peers)
	return rep, nil
}

// verdict words the report's outcome for a player.
func verdict(fs []Finding, peers []Peer) string {
	var fails, warns []string
	for _, f := range fs {
		switch f.Status {
		case Fail:
			fails = append(fails, f.Check)
		case Warn:
			warns = append(warns, f.Check)
		}
	}
	var b strings.Builder
	switch {
	case len(fails) > 0:
		fmt.Fprintf(&b, "Discovery is broken here: %s failed. Fix those first (see each finding's fix).", strings.Join(fails, "; "))
	case len(peers) == 0:
		b.WriteString("This machine looks ready for LAN discovery, but no other lanlobby machine was heard: run `lanlobby doctor` on the other machine at the same time to test the network between the two.")
	default:
		fmt.Fprintf(&b, "LAN discovery works: %d other lanlobby machine(s) heard, traffic goes both ways.", len(peers))
	}
	if len(warns) > 0 {
		fmt.Fprintf(&b, " Worth a look: %s.", strings.Join(warns, "; "))
	}
	return b.String()
}
