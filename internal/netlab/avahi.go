package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// avahiStartTimeout bounds the wait for a host's dbus-daemon and
// avahi-daemon to come up (generous: -race on two busy cores).
const avahiStartTimeout = 20 * time.Second

// avahiInstallHint tells how to get what StartAvahi needs.
const avahiInstallHint = "run .ci/avahi-install.sh as root (it installs avahi-daemon, avahi-utils and dbus without starting any daemon in the root namespace)"

// avahiScript is the inside of every command run for an Avahi: it runs
// in the host's network namespace, in fresh mount and UTS namespaces of its
// own (unshare --mount --propagation private --uts), so the mounts and the
// hostname below are seen by this process tree only and never propagate to
// the machine. It binds the host's private directories onto /run/dbus,
// /run/avahi-daemon and /etc/avahi/services, sets the host name and execs
// the program. $1 is the host name, $2 the Avahi's state directory.
const avahiScript = `set -e
echo "$1" >/proc/sys/kernel/hostname
mount --bind "$2/run-dbus" /run/dbus
mount --bind "$2/run-avahi-daemon" /run/avahi-daemon
if [ -d /etc/avahi/services ]; then mount --bind "$2/services" /etc/avahi/services; fi
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
shift 2
exec "$@"`

// The bus lets anyone do anything: it is private to one lab host, and its
// only clients are that host's avahi-daemon and the test's avahi tools.
const avahiDBusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`

// avahiDaemonConf is avahi-daemon.conf with the host name and the
// allowed interfaces to fill in: only the lab's interfaces, nothing
// published about the host but its addresses, no wide-area DNS-SD, no
// reflector, and a rate limit no test reaches.
const avahiDaemonConf = `[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no

[reflector]
enable-reflector=no

[rlimits]
`

// avahiDirRE matches the state directories of Avahis ("<host NS>.avahi-*"
// in stateDir), capturing the lab ID and its creator's pid.
var avahiDirRE = regexp.MustCompile(`^(ll([0-9]+)-[0-9]+)-(?:h[0-9]+|rtr)\.avahi-`)

// Avahi is an mDNS/DNS-SD stack of one lab host, as on a real machine: a
// private D-Bus system bus and an avahi-daemon, both running in the host's
// namespaces with the host's own view of /run/dbus and /run/avahi-daemon.
// The avahi tools (avahi-browse, avahi-publish, avahi-resolve) talk to it
// when run with Command or Start.
type Avahi struct {
	host     *Host
	hostname string
	dir      string // state: run-dbus, run-avahi-daemon, services, configs
	unshare  string // util-linux unshare

	mu           sync.Mutex // guards dbus and daemon, for a concurrent Lab.Close
	dbus, daemon *Process   // nil until started

	stopOnce sync.Once
	stopErr  error
}

// StartAvahi runs a private dbus-daemon and avahi-daemon for this host
// (hostname = a unique name per host, e.g. the host's Name plus lab id),
// confined to the host's namespace and lan0, and waits until avahi reports
// "Server startup complete". Stopped at lab teardown (and by the returned
// handle's Stop). Fails the test (t.Fatalf) with the daemon's log if it
// does not start; if avahi-daemon is not installed, t.Fatalf telling to run
// .ci/avahi-install.sh (never Skip).
//
// The host name, which avahi publishes as <name>.local, is h.NS (for
// example "ll4242-1-h1"): unique on the machine. avahi-daemon is allowed
// only the host's LAN interfaces (lan0; lan1..lanS on the router), does not
// publish workstation or HINFO records, has wide-area DNS-SD off and a
// relaxed rate limit. Its static service directory /etc/avahi/services is
// an empty private one. The daemons outlive t when the lab does: they
// belong to the lab, not to the test that started them; when t fails their
// output is logged.
//
// Start-up takes about a second, avahi probing its host name; to start
// several hosts' avahis, Lab.StartAvahi overlaps their start-ups. A host
// runs at most one Avahi at a time; after Stop a new one may start.
func (h *Host) StartAvahi(t testing.TB) *Avahi {
	t.Helper()
	return h.lab.StartAvahi(t, h)[0]
}

// StartAvahi is Host.StartAvahi for several hosts of the lab at once: it
// starts all their daemons before waiting for any, so the start-ups
// overlap. It returns the Avahis in the order of hosts.
func (l *Lab) StartAvahi(t testing.TB, hosts ...*Host) []*Avahi {
	t.Helper()
	paths := map[string]string{}
	var missing []string
	for _, name := range []string{"avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon"} {
		p, err := lookPathSbin(name)
		if err != nil {
			missing = append(missing, name)
		}
		paths[name] = p
	}
	if len(missing) > 0 {
		t.Fatalf("netlab: %s not installed: %s", strings.Join(missing, ", "), avahiInstallHint)
	}
	avahiUser, err := user.Lookup("avahi")
	if err != nil {
		t.Fatalf("netlab: no user avahi (%v): %s", err, avahiInstallHint)
	}
	uid, _ := strconv.Atoi(avahiUser.Uid)
	gid, _ := strconv.Atoi(avahiUser.Gid)
	unsharePath, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("netlab: StartAvahi needs util-linux's unshare: %v", err)
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Fatalf("netlab: StartAvahi needs util-linux's mount: %v", err)
	}
	for _, pid := range rootAvahiPIDs() {
		t.Logf("netlab: WARNING: avahi-daemon pid %d runs in the root network namespace and multicasts on the real network", pid)
	}
	removeStaleAvahiDirs()
	// The bind mounts need mount points. Creating them is the only thing
	// done to the machine's own file system; nothing is ever mounted over
	// them outside the lab's private mount namespaces.
	for _, d := range []string{"/run/dbus", "/run/avahi-daemon"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("netlab: mount point for the hosts' private %s: %v", d, err)
		}
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		t.Fatalf("netlab: %v", err)
	}

	var avahis []*Avahi
	started := false
	defer func() {
		if !started { // t.Fatalf below: leave nothing running
			for _, a := range avahis {
				a.Stop()
			}
		}
	}()
	for _, h := range hosts {
		if h == nil || h.lab != l {
			t.Fatalf("netlab: StartAvahi: host %v is not in lab %s", h, l.ID)
		}
		a := l.newAvahi(t, h, unsharePath, uid, gid)
		avahis = append(avahis, a)
	}

	start := time.Now()
	for _, a := range avahis {
		p := a.startDaemon(t, paths["dbus-daemon"], "--nofork", "--nopidfile", "--print-address=1",
			"--config-file="+filepath.Join(a.dir, "dbus.conf"))
		a.mu.Lock()
		a.dbus = p
		a.mu.Unlock()
	}
	for _, a := range avahis {
		a.dbus.WaitForStdoutLine(t, avahiStartTimeout, Contains("unix:path="))
		p := a.startDaemon(t, paths["avahi-daemon"], "--no-chroot", "--no-rlimits", "--no-proc-title",
			"-f", filepath.Join(a.dir, "avahi-daemon.conf"))
		a.mu.Lock()
		a.daemon = p
		a.mu.Unlock()
	}
	for _, a := range avahis {
		a.daemon.WaitForLine(t, avahiStartTimeout, Contains("Server startup complete"))
		t.Logf("netlab: avahi on %s (host name %s.local) up in %v", a.host.Name, a.hostname, time.Since(start).Round(time.Millisecond))
	}
	started = true
	return avahis
}

// newAvahi registers an Avahi for h and prepares its state directory.
func (l *Lab) newAvahi(t testing.TB, h *Host, unsharePath string, uid, gid int) *Avahi {
	t.Helper()
	dir, err := os.MkdirTemp(stateDir, h.NS+".avahi-")
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	a := &Avahi{host: h, hostname: h.NS, dir: dir, unshare: unsharePath}

	// Registered before anything runs, so that however this ends, lab
	// teardown removes the directory once the daemons are dead.
	l.mu.Lock()
	switch {
	case l.closed:
		err = ErrClosed
	case h.avahi != nil:
		err = fmt.Errorf("avahi already runs on %s (Stop it first)", h.Name)
	default:
		h.avahi = a
		l.closers = append(l.closers, func() error { a.Stop(); return a.stopErr })
	}
	l.mu.Unlock()
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("netlab: StartAvahi on %s: %v", h.Name, err)
	}

	conf := fmt.Sprintf(avahiDaemonConf, a.hostname, strings.Join(h.ifaces, ","))
	err = errors.Join(
		os.Mkdir(filepath.Join(dir, "run-dbus"), 0o755),
		os.Mkdir(filepath.Join(dir, "run-avahi-daemon"), 0o755),
		os.Mkdir(filepath.Join(dir, "services"), 0o755),
		os.WriteFile(filepath.Join(dir, "dbus.conf"), []byte(avahiDBusConf), 0o644),
		os.WriteFile(filepath.Join(dir, "avahi-daemon.conf"), []byte(conf), 0o644),
	)
	if err == nil {
		// avahi-daemon drops root privileges to user avahi.
		err = os.Chown(filepath.Join(dir, "run-avahi-daemon"), uid, gid)
	}
	if err != nil {
		a.Stop()
		t.Fatalf("netlab: preparing avahi for %s: %v", h.Name, err)
	}
	return a
}

// startDaemon starts one of the Avahi's daemons. It belongs to the lab,
// not to t: lab teardown or Stop ends it. If t fails, its output is logged.
func (a *Avahi) startDaemon(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	desc := a.host.Name + ": " + strings.Join(append([]string{filepath.Base(name)}, args...), " ")
	p, err := a.host.lab.startProcess(a.Command(context.Background(), name, args...), desc)
	if err != nil {
		t.Fatalf("netlab: starting %s: %v", desc, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("netlab: output of %s:\n%s", p.desc, p.format())
		}
	})
	return p
}

// Command returns an exec.Cmd that runs name/args (e.g. avahi-browse,
// avahi-publish, avahi-resolve) inside the host's namespace AND the avahi
// host's private mount view (so it talks to this host's avahi over this
// host's private /run/dbus socket).
//
// The program also sees the Avahi's host name and has
// DBUS_SYSTEM_BUS_ADDRESS set to that socket. Like Host.Command it gets
// SIGKILL if the starting thread dies, and whatever still runs in the
// namespace at teardown is killed. Never run avahi tools other than this
// way: in the root namespace they would reach the machine's own avahi, if
// any.
func (a *Avahi) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := []string{"netns", "exec", a.host.NS,
		a.unshare, "--mount", "--propagation", "private", "--uts", "--",
		"/bin/sh", "-c", avahiScript, "netlab-avahi", a.hostname, a.dir, name}
	cmd := exec.CommandContext(ctx, a.host.lab.ipPath, append(argv, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start is like Host.Start but for a program that needs this host's avahi
// (avahi-publish, a running avahi-browse).
func (a *Avahi) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	desc := a.host.Name + ": " + strings.Join(append([]string{name}, args...), " ")
	return a.host.lab.startTest(t, a.Command(context.Background(), name, args...), desc)
}

// Stop ends avahi-daemon (SIGTERM, so it sends goodbyes for what it
// published; SIGKILL after 2 s) and then the bus, and removes the state
// directory. Programs started with Start keep running (and lose their
// daemon). Stop is idempotent; lab teardown calls it.
func (a *Avahi) Stop() {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		daemon, dbus := a.daemon, a.dbus
		a.mu.Unlock()
		if daemon != nil {
			daemon.Stop()
		}
		if dbus != nil {
			dbus.Stop()
		}
		l := a.host.lab
		l.mu.Lock()
		if a.host.avahi == a {
			a.host.avahi = nil
		}
		l.mu.Unlock()
		if err := os.RemoveAll(a.dir); err != nil {
			a.stopErr = fmt.Errorf("netlab: removing avahi state of %s: %w", a.host.Name, err)
		}
	})
}

// Hostname returns the host name the avahi-daemon publishes, without
// ".local"; unique on the machine (it is the host's namespace name).
func (a *Avahi) Hostname() string { return a.hostname }

// lookPathSbin is exec.LookPath that also finds daemons in the sbin
// directories when PATH lacks them.
func lookPathSbin(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		cand := filepath.Join(dir, name)
		if st, serr := os.Stat(cand); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", err
}

// rootAvahiPIDs lists the avahi-daemons in this process's network
// namespace, the machine's own: one there multicasts on the real network.
// The lab never starts one there; this only warns about someone else's.
func rootAvahiPIDs() []int {
	self, err := netnsID("/proc/self/ns/net")
	if err != nil {
		return nil
	}
	var pids []int
	for _, n := range readdirnames("/proc") {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + n + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "avahi-daemon" {
			continue
		}
		if id, err := netnsID("/proc/" + n + "/ns/net"); err == nil && id == self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeStaleAvahiDirs removes the avahi state directories of labs whose
// creator is gone (a test binary killed before its teardown). Only files
// remain of them: their mounts lived in the dead daemons' private mount
// namespaces.
func removeStaleAvahiDirs() {
	for _, n := range readdirnames(stateDir) {
		m := avahiDirRE.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[2]); !labOwnerAlive(m[1], pid) {
			_ = os.RemoveAll(filepath.Join(stateDir, n))
		}
	}
}

// AvahiBrowseEntry is one line of `avahi-browse -p` (parsable) output.
type AvahiBrowseEntry struct {
	// Event is "+" (found), "-" (removed) or "=" (resolved; only these
	// have the fields after Domain).
	Event string
	// Iface is the interface ("lan0"); Protocol "IPv4" or "IPv6", the
	// protocol the service was found over (and of Addr).
	Iface, Protocol string
	// Name, Type and Domain are unescaped: Name is the instance name as
	// published ("Alice's game é").
	Name, Type, Domain string
	Host               string // "<hostname>.local"
	Addr               netip.Addr
	Port               int
	// TXT are the TXT strings ("k=v"), unquoted, in avahi's order (which
	// is not necessarily the order they were published in).
	TXT []string
}

// ParseAvahiBrowse parses a line printed by `avahi-browse -p` or `-rp`;
// ok is false for other lines (like the "Failed to..." messages).
func ParseAvahiBrowse(line string) (e AvahiBrowseEntry, ok bool) {
	f := strings.SplitN(line, ";", 10)
	if len(f) < 6 || (f[0] != "+" && f[0] != "-" && f[0] != "=") {
		return e, false
	}
	e = AvahiBrowseEntry{Event: f[0], Iface: f[1], Protocol: f[2],
		Name: UnescapeAvahi(f[3]), Type: UnescapeAvahi(f[4]), Domain: UnescapeAvahi(f[5])}
	if e.Event != "=" {
		return e, len(f) == 6
	}
	if len(f) != 10 {
		return e, false
	}
	var err error
	e.Host = f[6]
	if e.Addr, err = netip.ParseAddr(f[7]); err != nil {
		return e, false
	}
	if e.Port, err = strconv.Atoi(f[8]); err != nil {
		return e, false
	}
	e.TXT, ok = parseAvahiTXT(f[9])
	return e, ok
}

// UnescapeAvahi undoes the escaping of DNS labels in avahi's parsable
// output: \DDD (three decimal digits) is the byte DDD, \c is c. Names come
// back as the UTF-8 they were published in.
func UnescapeAvahi(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if v, err := strconv.Atoi(s[i+1 : i+4]); err == nil && v < 256 {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseAvahiTXT splits avahi's rendering of a TXT record: quoted strings
// separated by spaces, escaped inside like labels (\" \\ and \DDD for
// bytes outside printable ASCII).
func parseAvahiTXT(s string) ([]string, bool) {
	out := []string{}
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ':
			i++
			continue
		case '"':
		default:
			return nil, false
		}
		j := i + 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' {
				j++ // an escaped quote does not end the string
			}
		}
		if j >= len(s) {
			return nil, false // unterminated
		}
		out = append(out, UnescapeAvahi(s[i+1:j]))
		i = j + 1
	}
	return out, true
}
