package clients

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// The takeover run: the lobby outlives its host (issue 11). A Go host on lab
// host h1 runs its own coordinator (takeover-capable); a Go member on h2
// joins first, so it is the successor and holds a standby port; a C# member
// on h3 and a Python member on h4 join by beacon. The host's process is
// killed: every member must be told at once (coordinator_lost within 1 s,
// with what happens next), the Go member takes the lobby over, and the SDK
// members follow it to its standby address (successor_addr), restore their
// seats there and report taken_over, with the right peers. Then a
// coordinator daemon appears on h1: the lobby moves to it and every member
// sees one coordinator_moved and follows. The second run cuts the host's
// cable silently instead: the members learn it by their heartbeat limit,
// the same takeover follows, and when the cable heals the old host hears
// the higher term, checks its proof and follows as a member (one lobby).
// The scripts are script.json's "takeover" and "takeover_cut"; the drivers
// are the conformance run's (README.md). No wire
// proxy here: the members reach the successor at the address the
// coordinator handed out, which the test does not control; the main run
// checks the SDKs' wire.

// takeoverBeaconPort is the takeover runs' first beacon port (the main lab
// run uses 17610-17612).
const takeoverBeaconPort = 17620

func TestConformanceTakeover(t *testing.T) {
	all := loadScript(t)
	argv := driverArgv(t)
	for i, run := range []struct {
		name string
		sc   *confScript
	}{{"kill", all.Takeover}, {"cut", all.TakeoverCut}} {
		t.Run(run.name, func(t *testing.T) { takeoverRun(t, run.sc, argv, takeoverBeaconPort+i) })
	}
}

func takeoverRun(t *testing.T, sc *confScript, argv map[string][]string, beaconPort int) {
	if sc == nil || len(sc.Roles) != 4 || len(sc.Steps) == 0 {
		t.Fatal("conformance/script.json: no takeover run with four roles")
	}
	lab := netlab.New(t, netlab.Options{Hosts: 4})
	r := newConfRun(t, sc, [3]string{"go", "csharp", "python"}, "takeover")
	r.lan = &confLAN{iface: labIface, beaconPort: beaconPort}
	r.took = map[string]time.Duration{}
	for i, name := range []string{"A", "B", "C", "D"} {
		lang := sc.Roles[name].Lang
		if argv[lang] == nil {
			t.Fatalf("script: role %s played by %q", name, lang)
		}
		h := lab.Hosts[i]
		r.start(name, lang, argv[lang], h, h.IPv4.String())
	}
	r.run()
	var took []string
	for k, v := range r.took {
		took = append(took, fmt.Sprintf("%s %v", k, v.Round(time.Millisecond)))
	}
	sort.Strings(took)
	t.Logf("after their cause (the kill or the cut, the daemon's start, the heal):\n  %s", strings.Join(took, "\n  "))
}

// startDaemon starts a coordinator daemon on role ro's lab host that
// announces itself by beacon on the lab's LAN (the takeover run's move).
func (r *confRun) startDaemon(n int, st confStep, ro *confRole) {
	if ro.h == nil || r.lan == nil {
		r.fail(n, st, "start_daemon needs the lab")
	}
	p := ro.h.Start(r.t, binPath, "coordinator", "--listen", ":0", "--interface", r.lan.iface, "--no-mdns",
		"--beacon-port", strconv.Itoa(r.lan.beaconPort), "--json")
	if l := waitJSON(r.t, p, 15*time.Second, "listening", nil); l["port"] == nil {
		r.fail(n, st, "daemon listening line %v", l)
	}
	r.daemonHost = ro.h
}

// onHostTarget is the lab host a step's on_host names (a role's, or the
// daemon's).
func (r *confRun) onHostTarget(onHost string) *netlab.Host {
	if onHost == "daemon" {
		return r.daemonHost
	}
	if ro := r.roles[onHost]; ro != nil {
		return ro.h
	}
	return nil
}

// onHost reports whether the coordinator in a where reply is on the lab
// host onHost names; an actor on that host may name it by loopback.
func (r *confRun) onHost(actor, onHost string, reply map[string]any) bool {
	target := r.onHostTarget(onHost)
	coord, _ := reply["coordinator"].(string)
	host, _, err := net.SplitHostPort(coord)
	if target == nil || err != nil {
		return false
	}
	ip, _ := netip.ParseAddr(host)
	ip = ip.WithZone("")
	return ip == target.IPv4 || ip == target.IPv6 ||
		r.roles[actor].h == target && (host == "" || ip.IsLoopback() || ip.IsUnspecified())
}

// checkOnHost fails the step unless the where reply names a coordinator on
// the host the step names.
func (r *confRun) checkOnHost(n int, st confStep, actor string, reply map[string]any) {
	target := r.onHostTarget(st.OnHost)
	if target == nil {
		r.fail(n, st, "on_host %q: no such lab host", st.OnHost)
	}
	if !r.onHost(actor, st.OnHost, reply) {
		r.fail(n, st, "%s is on coordinator %v, want one on %s's host (%s, %s)", r.label(actor), reply["coordinator"], st.OnHost, target.IPv4, target.IPv6)
	}
}
