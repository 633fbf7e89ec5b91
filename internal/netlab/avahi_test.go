package netlab

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	lobbyType = "_lanlobby._tcp"
	// aliceGame needs escaping in avahi-browse -p output: apostrophe,
	// spaces and two bytes of UTF-8.
	aliceGame = "Alice's game é"
)

// resolvedLine matches avahi-browse -p lines resolving instance name over
// protocol ("IPv4", "IPv6").
func resolvedLine(name, protocol string) func(string) bool {
	return func(line string) bool {
		e, ok := ParseAvahiBrowse(line)
		return ok && e.Event == "=" && e.Name == name && e.Protocol == protocol
	}
}

// removedLine matches avahi-browse -p lines reporting name gone.
func removedLine(name, protocol string) func(string) bool {
	return func(line string) bool {
		e, ok := ParseAvahiBrowse(line)
		return ok && e.Event == "-" && e.Name == name && e.Protocol == protocol
	}
}

// browseOnce runs a one-shot `avahi-browse -rtp _lanlobby._tcp` and returns
// the resolved entries by "name/protocol", and its wall time.
func browseOnce(t *testing.T, a *Avahi) (map[string]AvahiBrowseEntry, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	out, err := a.Command(ctx, "avahi-browse", "-rtp", lobbyType).Output()
	took := time.Since(start)
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("avahi-browse -rtp on %s: %v: %s\n%s", a.host.Name, err, stderr, out)
	}
	found := map[string]AvahiBrowseEntry{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if e, ok := ParseAvahiBrowse(line); ok && e.Event == "=" {
			found[e.Name+"/"+e.Protocol] = e
		}
	}
	return found, took
}

// rootMountPoints lists the mount points of this process's (the
// machine's) mount namespace, but for the network namespaces.
func rootMountPoints(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		// Namespaces are bind mounts in /run/netns: other tests' labs
		// come and go.
		if f := strings.Fields(line); len(f) > 4 && !strings.HasPrefix(f[4], netnsDir+"/") {
			mps = append(mps, f[4])
		}
	}
	slices.Sort(mps)
	return mps
}

// labDaemons lists processes whose command line mentions an Avahi state
// directory of lab id: the daemons and tools started for its avahis.
func labDaemons(id string) []string {
	var found []string
	for _, n := range readdirnames("/proc") {
		b, err := os.ReadFile("/proc/" + n + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, stateDir+"/"+id+"-") {
			if pid, err := strconv.Atoi(n); err == nil && !processGone(pid) {
				found = append(found, n+": "+cmd)
			}
		}
	}
	return found
}

func TestAvahi(t *testing.T) {
	t.Parallel()
	mountsBefore := rootMountPoints(t)
	hostnameBefore, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	rootAvahiBefore := rootAvahiPIDs()

	l := New(t, Options{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	avahis := l.StartAvahi(t, h1, h2, h3)
	a1, a2, a3 := avahis[0], avahis[1], avahis[2]
	// A browser already running on h2, as a lobby list would be, and a
	// service of h2's own that shows when that browser is up. h3 runs no
	// browser: its one-shot browses start cold.
	browser := a2.Start(t, "avahi-browse", "-rp", lobbyType)
	marker := a2.Start(t, "avahi-publish", "-s", "marker", lobbyType, "1", "marker=1")

	if a1.Hostname() == a2.Hostname() || a1.Hostname() != h1.NS {
		t.Errorf("host names %q and %q, want the namespace names", a1.Hostname(), a2.Hostname())
	}
	out, err := a1.Command(context.Background(), "hostname").Output()
	if err != nil || strings.TrimSpace(string(out)) != a1.Hostname() {
		t.Errorf("hostname in h1's avahi view: %q, %v; want %q", out, err, a1.Hostname())
	}
	if after := rootMountPoints(t); !slices.Equal(mountsBefore, after) {
		t.Errorf("the machine's mounts changed while avahi runs:\n%v\n->\n%v", mountsBefore, after)
	}
	if h, _ := os.Hostname(); h != hostnameBefore {
		t.Errorf("the machine's hostname changed: %q -> %q", hostnameBefore, h)
	}
	// The host's bus socket is in its state directory, seen as /run/dbus
	// only in the host's mount view; the machine's /run/dbus holds at most
	// someone else's system bus.
	own, err := os.Stat(filepath.Join(a1.dir, "run-dbus", "system_bus_socket"))
	if err != nil {
		t.Errorf("h1's bus socket: %v", err)
	} else if st, err := os.Stat("/run/dbus/system_bus_socket"); err == nil && os.SameFile(own, st) {
		t.Errorf("h1's bus socket shows in the machine's /run/dbus")
	}

	browser.WaitForStdoutLine(t, 15*time.Second, resolvedLine("marker", "IPv4"))
	marker.WaitForLine(t, 15*time.Second, Contains("Established under name 'marker'"))

	// Publish on h1, see it appear in h2's running browser.
	start := time.Now()
	pub := a1.Start(t, "avahi-publish", "-s", aliceGame, lobbyType, "7600", "v=1", "game=demo")
	pub.WaitForLine(t, 15*time.Second, Contains("Established under name '"+aliceGame+"'"))
	established := time.Since(start)
	line := browser.WaitForStdoutLine(t, 15*time.Second, resolvedLine(aliceGame, "IPv4"))
	seen := time.Since(start)
	t.Logf("avahi-publish start -> established %v, -> resolved in h2's running avahi-browse -rp %v", established.Round(time.Millisecond), seen.Round(time.Millisecond))
	e, _ := ParseAvahiBrowse(line)
	checkAlice(t, "running avahi-browse -rp", e, h1, a1)

	// One-shot browses list it, resolved, with h1's lab address.
	var walls []time.Duration
	for range 3 {
		found, took := browseOnce(t, a2)
		walls = append(walls, took)
		e, ok := found[aliceGame+"/IPv4"]
		if !ok {
			t.Fatalf("avahi-browse -rtp on h2 does not list %q over IPv4: %v", aliceGame, found)
		}
		checkAlice(t, "avahi-browse -rtp", e, h1, a1)
		if e6, ok := found[aliceGame+"/IPv6"]; ok && e6.Addr != h1.IPv6 && !e6.Addr.IsLinkLocalUnicast() {
			t.Errorf("IPv6 entry resolved to %v, want %v or h1's link-local address", e6.Addr, h1.IPv6)
		}
	}
	t.Logf("avahi-browse -rtp wall time on h2 (a browser running there): %v", walls)
	walls = nil
	for range 2 {
		found, took := browseOnce(t, a3)
		walls = append(walls, took)
		e, ok := found[aliceGame+"/IPv4"]
		if !ok {
			t.Fatalf("avahi-browse -rtp on h3 does not list %q over IPv4: %v", aliceGame, found)
		}
		checkAlice(t, "avahi-browse -rtp on h3", e, h1, a1)
	}
	t.Logf("avahi-browse -rtp wall time on h3 (no other browser there): %v", walls)

	// h1's host name resolves over mDNS from h2.
	out, err = a2.Command(context.Background(), "avahi-resolve", "-4", "-n", a1.Hostname()+".local").Output()
	if f := strings.Fields(string(out)); err != nil || len(f) != 2 || f[0] != a1.Hostname()+".local" || f[1] != h1.IPv4.String() {
		t.Errorf("avahi-resolve -4 -n %s.local on h2: %q, %v; want %s", a1.Hostname(), out, err, h1.IPv4)
	}

	// Goodbye: the running browser reports the removal, and fresh browses
	// stop listing it (h2's own marker stays).
	start = time.Now()
	pub.Stop()
	browser.WaitForStdoutLine(t, 15*time.Second, removedLine(aliceGame, "IPv4"))
	t.Logf("avahi-publish stopped -> removed in the running avahi-browse %v", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(15 * time.Second)
	for {
		found, _ := browseOnce(t, a2)
		_, v4 := found[aliceGame+"/IPv4"]
		_, v6 := found[aliceGame+"/IPv6"]
		if !v4 && !v6 {
			if _, ok := found["marker/IPv4"]; !ok {
				t.Errorf("avahi-browse -rtp lost h2's own marker too: %v", found)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q still listed by avahi-browse -rtp 15 s after its publisher stopped: %v", aliceGame, found)
		}
	}
	t.Logf("avahi-publish stopped -> gone from avahi-browse -rtp after %v", time.Since(start).Round(time.Millisecond))

	// Teardown leaves nothing: no daemons, no state, no namespaces, no
	// mounts.
	var pids []int
	for _, a := range avahis {
		pids = append(pids, a.dbus.Cmd.Process.Pid, a.daemon.Cmd.Process.Pid)
	}
	if len(labDaemons(l.ID)) < 6 {
		t.Errorf("labDaemons sees only %q before teardown", labDaemons(l.ID))
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("daemon pid %d survived Close", pid)
		}
	}
	if left := labDaemons(l.ID); len(left) > 0 {
		t.Errorf("after Close, still running: %q", left)
	}
	if after := rootAvahiPIDs(); !slices.Equal(after, rootAvahiBefore) {
		t.Errorf("avahi-daemons in the root network namespace: %v before, %v after", rootAvahiBefore, after)
	}
	for _, a := range avahis {
		if _, err := os.Stat(a.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir %s: %v, want removed", a.dir, err)
		}
	}
	if list := ipNetnsList(t); strings.Contains(list, l.ID+"-") {
		t.Errorf("after Close, ip netns list still shows the lab:\n%s", list)
	}
	if left := labLeftovers(l.ID + "-"); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
	if after := rootMountPoints(t); !slices.Equal(mountsBefore, after) {
		t.Errorf("the machine's mounts changed:\n%v\n->\n%v", mountsBefore, after)
	}
}

func checkAlice(t *testing.T, how string, e AvahiBrowseEntry, h1 *Host, a1 *Avahi) {
	t.Helper()
	if e.Name != aliceGame || e.Type != lobbyType || e.Domain != "local" || e.Iface != HostIface ||
		e.Addr != h1.IPv4 || e.Port != 7600 || e.Host != a1.Hostname()+".local" {
		t.Errorf("%s: %+v, want %q on %s at %v:7600 (host %s.local)", how, e, aliceGame, HostIface, h1.IPv4, a1.Hostname())
	}
	txt := slices.Clone(e.TXT)
	slices.Sort(txt)
	if !slices.Equal(txt, []string{"game=demo", "v=1"}) {
		t.Errorf("%s: TXT %q, want game=demo and v=1", how, e.TXT)
	}
}

func TestAvahiStopRestart(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 1})
	h := l.Hosts[0]
	a := h.StartAvahi(t)

	// One avahi per host at a time.
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.StartAvahi(ft)
	}()
	<-done
	if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], "already runs") {
		t.Errorf("second StartAvahi: %q, want one failure saying avahi already runs", ft.fatals)
	}

	// Start: a tool that needs the daemon, ended by t's cleanup or Stop.
	pub := a.Start(t, "avahi-publish", "-s", "solo", lobbyType, "9", "k=v")
	pub.WaitForLine(t, 15*time.Second, Contains("Established under name 'solo'"))
	found, _ := browseOnce(t, a)
	if e, ok := found["solo/IPv4"]; !ok || e.Addr != h.IPv4 || e.Port != 9 || !slices.Equal(e.TXT, []string{"k=v"}) {
		t.Errorf("own service: %+v (found %v)", e, found)
	}

	dbusPid, daemonPid := a.dbus.Cmd.Process.Pid, a.daemon.Cmd.Process.Pid
	a.Stop()
	a.Stop() // idempotent
	if !processGone(dbusPid) || !processGone(daemonPid) {
		t.Errorf("Stop left dbus-daemon (gone: %v) or avahi-daemon (gone: %v)", processGone(dbusPid), processGone(daemonPid))
	}
	if _, err := os.Stat(a.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir after Stop: %v, want removed", err)
	}
	// The publisher lost its daemon.
	if _, err := pub.Wait(15 * time.Second); err != nil {
		t.Errorf("avahi-publish still running after its daemon stopped: %v", err)
	}

	b := h.StartAvahi(t)
	if b.dir == a.dir {
		t.Errorf("restart reuses state dir %s", a.dir)
	}
	out, err := b.Command(context.Background(), "avahi-resolve", "-4", "-n", b.Hostname()+".local").Output()
	if f := strings.Fields(string(out)); err != nil || len(f) != 2 || f[1] != h.IPv4.String() {
		t.Errorf("avahi-resolve own name after restart: %q, %v", out, err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ft = &fakeTB{TB: t}
	done = make(chan struct{})
	go func() {
		defer close(done)
		h.StartAvahi(ft)
	}()
	<-done
	if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], ErrClosed.Error()) {
		t.Errorf("StartAvahi after Close: %q, want one failure with ErrClosed", ft.fatals)
	}
	if left := labLeftovers(l.ID + "-"); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
}

func TestParseAvahiBrowse(t *testing.T) {
	const esc = `Alice\039s\032game\032\195\169\059x\.y\\z\034q`
	for _, tc := range []struct {
		line string
		want AvahiBrowseEntry
		ok   bool
	}{
		{"+;lan0;IPv4;" + esc + ";_lanlobby._tcp;local",
			AvahiBrowseEntry{Event: "+", Iface: "lan0", Protocol: "IPv4", Name: `Alice's game é;x.y\z"q`, Type: "_lanlobby._tcp", Domain: "local"}, true},
		{"-;lan0;IPv6;marker;_lanlobby._tcp;local",
			AvahiBrowseEntry{Event: "-", Iface: "lan0", Protocol: "IPv6", Name: "marker", Type: "_lanlobby._tcp", Domain: "local"}, true},
		{"=;lan0;IPv4;" + esc + `;_lanlobby._tcp;local;ll1-1-h1.local;198.18.1.1;7600;"e=\001" "q=a\"b\\c;d \195\169" "game=demo" "v=1"`,
			AvahiBrowseEntry{Event: "=", Iface: "lan0", Protocol: "IPv4", Name: `Alice's game é;x.y\z"q`, Type: "_lanlobby._tcp", Domain: "local",
				Host: "ll1-1-h1.local", Addr: netip.MustParseAddr("198.18.1.1"), Port: 7600,
				TXT: []string{"e=\x01", `q=a"b\c;d é`, "game=demo", "v=1"}}, true},
		{"=;lan0;IPv6;x;_lanlobby._tcp;local;h.local;fe80::1%lan0;1;",
			AvahiBrowseEntry{Event: "=", Iface: "lan0", Protocol: "IPv6", Name: "x", Type: "_lanlobby._tcp", Domain: "local",
				Host: "h.local", Addr: netip.MustParseAddr("fe80::1%lan0"), Port: 1, TXT: []string{}}, true},
		{"Failed to create client object: Daemon not running", AvahiBrowseEntry{}, false},
		{"=;lan0;IPv4;x;_t._tcp;local;h.local;198.18.1.1;1;\"unterminated", AvahiBrowseEntry{}, false},
		{"=;lan0;IPv4;x;_t._tcp;local;h.local;nonsense;1;", AvahiBrowseEntry{}, false},
		{"+;lan0;IPv4;x", AvahiBrowseEntry{}, false},
	} {
		got, ok := ParseAvahiBrowse(tc.line)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("ParseAvahiBrowse(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
	if got := UnescapeAvahi(`a\\\.\065\1`); got != `a\.A1` {
		t.Errorf("UnescapeAvahi = %q", got)
	}
}

func TestAvahiSubnets(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2, Subnets: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	avahis := l.StartAvahi(t, h1, h2, l.Router)
	a1, a2, ar := avahis[0], avahis[1], avahis[2]
	pub := a1.Start(t, "avahi-publish", "-s", "subnet one", lobbyType, "7600")
	pub.WaitForLine(t, 15*time.Second, Contains("Established under name 'subnet one'"))

	// The router's avahi listens on all its legs and sees h1's service at
	// h1's address; h2, in the other subnet, does not (no mDNS routing).
	found, _ := browseOnce(t, ar)
	if e, ok := found["subnet one/IPv4"]; !ok || e.Addr != h1.IPv4 || e.Iface != "lan1" {
		t.Errorf("router: %+v (found %v), want h1's service on lan1 at %v", e, found, h1.IPv4)
	}
	found, _ = browseOnce(t, a2)
	if len(found) > 0 {
		t.Errorf("h2 in subnet 2 sees %v, want nothing", found)
	}
}
