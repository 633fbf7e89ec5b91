// Package netlab builds throwaway LANs out of Linux network namespaces, so
// that tests can multicast (UDP beacons, mDNS) between several hosts without
// a single packet leaving through the machine's real interfaces.
//
// A lab with ID "ll<pid>-<n>" consists of these namespaces:
//
//	<ID>-sw   the switch: one bridge br<S> per subnet with STP off,
//	          forward_delay 0 and multicast snooping off (so multicast floods
//	          like on a dumb switch); IPv6 off so the switch never speaks.
//	<ID>-h<K> host K: lo up; lan0, the far end of switch port h<K>, with
//	          198.18.S.K/24 and 2001:2:0:S::K/64; route 224.0.0.0/4 dev lan0;
//	          IPv6 duplicate address detection off so addresses work at once.
//	<ID>-rtr  the router, only when there is more than one subnet: lan<S>
//	          with 198.18.S.254 and 2001:2:0:S::fe in every subnet,
//	          forwarding on and no multicast routing, so unicast crosses
//	          subnets and multicast stays inside its own.
//
// Nothing of a lab lives in the root namespace: every veth pair is created
// inside the switch namespace and its host end is moved straight into the
// host's namespace. Interface names therefore only have to be unique within
// one lab and stay short ("h1", "lan0"), while namespace names carry the
// creating process's pid and a per-process counter, so parallel tests and
// parallel test binaries never collide, and labs left behind by a crashed
// test binary can be recognised and removed (CleanupStale).
//
// A test uses it like this:
//
//	lab := netlab.New(t, netlab.Options{Hosts: 3})
//	var conn *net.UDPConn
//	err := lab.Hosts[0].Do(func() (err error) { // h1's sockets live in h1
//		ifi, err := net.InterfaceByName(netlab.HostIface)
//		if err != nil {
//			return err
//		}
//		conn, err = net.ListenMulticastUDP("udp4", ifi, group)
//		return err
//	})
//	p := lab.Hosts[1].Start(t, "lanlobby", "browse") // a program in h2
//	p.WaitForLine(t, 5*time.Second, netlab.Contains("lobby found"))
//
// Host.Impair makes a host's cable lossy and/or slow, Host.SetLinkSilent
// cuts it without the host noticing, Host.SetLink pulls its plug (see
// faults.go).
//
// The harness needs root and iproute2's ip. New fails the test, rather than
// skipping it, when either is missing: a silently skipped network test is
// worse than a red one.
package netlab

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// HostIface is the name of every host's LAN interface. It is
	// deliberately not eth0, so that a command meant for the lab can never
	// hit a real NIC by mistake.
	HostIface = "lan0"

	// MaxHosts bounds Options.Hosts: host K gets 198.18.S.K, and .254 is the
	// router's.
	MaxHosts = 250

	netnsDir = "/run/netns"
	// stateDir holds one file per live lab (its creator's start time, to
	// tell a dead creator from a reused pid) and the lock that serialises
	// namespace creation with stale cleanup.
	stateDir = "/run/lanlobby-netlab"
	// readyTimeout bounds the wait for links, bridge ports and IPv6
	// addresses to become usable after setup or SetLink(true).
	readyTimeout = 5 * time.Second
	// killTimeout bounds the wait for killed processes to leave the lab.
	killTimeout = 5 * time.Second
	// bridgeForwarding is BR_STATE_FORWARDING from linux/if_bridge.h.
	bridgeForwarding = 3
)

// ErrClosed is returned by Do, SetLink and LinkLocal once the lab is closed.
var ErrClosed = errors.New("netlab: lab closed")

// nsNameRE matches every namespace name this harness creates, and nothing
// else, so that CleanupStale never touches namespaces made by others.
var nsNameRE = regexp.MustCompile(`^ll([0-9]+)-([0-9]+)-(sw|rtr|h[0-9]+)$`)

// stateNameRE matches the state file of a lab: its ID.
var stateNameRE = regexp.MustCompile(`^ll([0-9]+)-[0-9]+$`)

// labSeq numbers the labs of this process; with the pid it makes lab IDs
// unique on the machine.
var labSeq atomic.Uint64

// Options configures New. The zero value is a valid two-host LAN.
type Options struct {
	// Hosts is the number of host namespaces in the whole lab, 1..MaxHosts;
	// 0 means 2.
	Hosts int
	// Subnets is the number of LAN segments, 1..Hosts; 0 means 1. Hosts are
	// dealt round-robin: host K sits in subnet (K-1)%Subnets+1, so with two
	// subnets h1, h3, ... are in subnet 1 and h2, h4, ... in subnet 2. More
	// than one subnet adds a router namespace (Lab.Router) that forwards
	// unicast only.
	Subnets int
	// Hostnames runs every program started with Host.Command or Host.Start
	// in a private UTS namespace whose hostname is the host's Name, as mDNS
	// responders publish the host name and would otherwise all claim the
	// machine's. Needs util-linux's unshare. In-process code run with Do
	// still sees the machine's hostname.
	Hostnames bool
}

// Lab is a set of network namespaces wired into one or more LANs. Build it
// with New; it is torn down when the test ends.
type Lab struct {
	// ID prefixes every namespace name of the lab ("ll<pid>-<n>").
	ID string
	// Hosts are h1..hN in order; Hosts[K-1] is host K.
	Hosts []*Host
	// Router joins the subnets; nil when there is only one.
	Router *Host
	// SwitchNS names the namespace holding the bridges br1..brS and the
	// switch side of every cable: h<K> for host K, r<S> for the router's
	// leg in subnet S. Fault injection (tc, nftables) belongs there, so that
	// a host's own stack sees a lossy cable rather than failing sends.
	SwitchNS string

	ipPath      string
	unsharePath string // set when Options.Hostnames

	mu         sync.Mutex // guards namespaces, procs, closers, closed and Host.avahi
	namespaces []string   // in creation order; deleted in reverse
	procs      []*Process
	closers    []func() error // run by Close once every process is gone
	closed     bool

	faults labFaults // fault injection, lab-wide part (faults.go)
}

// Host is one namespace of a lab: a machine on the LAN, or the router.
type Host struct {
	// Name is "h<K>" for host K, "rtr" for the router.
	Name string
	// NS is the network namespace's name (see `ip netns`), unique on the
	// machine.
	NS string
	// Subnet is 1-based; 0 for the router, which is in all of them.
	Subnet int
	// IPv4 is 198.18.S.K; for the router its address in subnet 1.
	IPv4 netip.Addr
	// IPv6 is the global 2001:2:0:S::K, written with the decimal digits of S
	// and K so that h12 is ...::12; for the router its address in subnet 1.
	// The link-local address comes from LinkLocal.
	IPv6 netip.Addr
	// Iface is the host's LAN interface, HostIface; for the router "lan1"
	// (it has lan<S> in every subnet S).
	Iface string

	lab    *Lab
	ifaces []string // every LAN interface in the host's namespace
	ports  []string // the switch-side ends of the host's cables
	avahi  *Avahi   // the running StartAvahi, if any; guarded by lab.mu

	faults hostFaults // Impair's state (faults.go)
}

// New builds a lab and registers its teardown with t.Cleanup, so the lab
// goes away however the test ends: passing, failing, t.Fatal or a panic.
// It first removes labs left behind by crashed test binaries
// (CleanupStale). When the lab cannot be built, New tears down what it made
// and fails the test; it also fails, rather than skips, when not running as
// root or when iproute2's ip is missing.
//
// New returns once every interface is up, every bridge port forwards and
// every IPv6 address is usable, so the first packet a test sends arrives.
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	hosts, subnets, err := opts.sizes()
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("netlab: network namespaces need root (euid %d); run the tests as root", os.Geteuid())
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("netlab: iproute2's ip is needed (apt-get install iproute2): %v", err)
	}
	l := &Lab{ipPath: ipPath}
	if opts.Hostnames {
		if l.unsharePath, err = exec.LookPath("unshare"); err != nil {
			t.Fatalf("netlab: Options.Hostnames needs util-linux's unshare: %v", err)
		}
	}
	if err := CleanupStale(); err != nil {
		t.Logf("netlab: removing stale labs: %v", err)
	}
	l.ID = fmt.Sprintf("ll%d-%d", os.Getpid(), labSeq.Add(1))
	l.plan(hosts, subnets)
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: tearing down lab %s: %v", l.ID, err)
		}
	})
	start := time.Now()
	if err := l.build(subnets); err != nil {
		cerr := l.Close()
		t.Fatalf("netlab: building lab %s: %v (teardown: %v)", l.ID, err, cerr)
	}
	t.Logf("netlab: lab %s up in %v: %d hosts, %d subnets", l.ID, time.Since(start).Round(time.Millisecond), hosts, subnets)
	return l
}

// sizes applies the defaults and validates.
func (o Options) sizes() (hosts, subnets int, err error) {
	hosts, subnets = o.Hosts, o.Subnets
	if hosts == 0 {
		hosts = 2
	}
	if subnets == 0 {
		subnets = 1
	}
	if hosts < 1 || hosts > MaxHosts {
		return 0, 0, fmt.Errorf("Options.Hosts = %d, want 1..%d", o.Hosts, MaxHosts)
	}
	if subnets < 1 || subnets > hosts {
		return 0, 0, fmt.Errorf("Options.Subnets = %d, want 1..Hosts (%d)", o.Subnets, hosts)
	}
	return hosts, subnets, nil
}

// plan fills in names and addresses; nothing is created yet.
func (l *Lab) plan(hosts, subnets int) {
	l.SwitchNS = l.ID + "-sw"
	for k := 1; k <= hosts; k++ {
		s := (k-1)%subnets + 1
		l.Hosts = append(l.Hosts, &Host{
			Name:   fmt.Sprintf("h%d", k),
			NS:     fmt.Sprintf("%s-h%d", l.ID, k),
			Subnet: s,
			IPv4:   netip.AddrFrom4([4]byte{198, 18, byte(s), byte(k)}),
			IPv6:   netip.MustParseAddr(fmt.Sprintf("2001:2:0:%d::%d", s, k)),
			Iface:  HostIface,
			lab:    l,
			ifaces: []string{HostIface},
			ports:  []string{fmt.Sprintf("h%d", k)},
		})
	}
	if subnets > 1 {
		r := &Host{Name: "rtr", NS: l.ID + "-rtr", Iface: "lan1", lab: l}
		r.IPv4, r.IPv6 = l.Gateway(1)
		for s := 1; s <= subnets; s++ {
			r.ifaces = append(r.ifaces, fmt.Sprintf("lan%d", s))
			r.ports = append(r.ports, fmt.Sprintf("r%d", s))
		}
		l.Router = r
	}
}

// Gateway returns the router's addresses in a subnet: 198.18.S.254 and
// 2001:2:0:S::fe. Hosts have their default routes there when the lab has
// more than one subnet.
func (l *Lab) Gateway(subnet int) (v4, v6 netip.Addr) {
	return netip.AddrFrom4([4]byte{198, 18, byte(subnet), 254}),
		netip.MustParseAddr(fmt.Sprintf("2001:2:0:%d::fe", subnet))
}

// all returns the hosts, then the router if any.
func (l *Lab) all() []*Host {
	if l.Router == nil {
		return l.Hosts
	}
	return append(slices.Clip(l.Hosts), l.Router)
}

// mac gives host ends of cables fixed addresses (02:00:c6:12:SS:KK), so
// link-local addresses are the same in every run and easy to recognise.
func mac(subnet, k int) string {
	return fmt.Sprintf("02:00:c6:12:%02x:%02x", subnet, k)
}

func (l *Lab) build(subnets int) error {
	nss := []string{l.SwitchNS}
	for _, h := range l.all() {
		nss = append(nss, h.NS)
	}
	var add strings.Builder
	for _, ns := range nss {
		fmt.Fprintf(&add, "netns add %s\n", ns)
	}
	err := withStateLock(func() error {
		// The state file comes first and the namespaces are recorded before
		// they exist, so that a crash or an error at any point leaves
		// nothing that teardown or CleanupStale would not find.
		if err := writeState(l.ID); err != nil {
			return err
		}
		l.mu.Lock()
		l.namespaces = nss
		l.mu.Unlock()
		return l.ip("", add.String())
	})
	if err != nil {
		return err
	}

	// Defaults before any interface exists, so lan0 and the bridge ports
	// inherit them when they appear.
	if err := setSysctls(l.SwitchNS, "ipv6/conf/all/disable_ipv6", "1", "ipv6/conf/default/disable_ipv6", "1"); err != nil {
		return err
	}
	for _, h := range l.all() {
		if err := setSysctls(h.NS, "ipv6/conf/all/accept_dad", "0", "ipv6/conf/default/accept_dad", "0"); err != nil {
			return err
		}
	}

	var sw strings.Builder
	sw.WriteString("link set lo up\n")
	for s := 1; s <= subnets; s++ {
		fmt.Fprintf(&sw, "link add br%d type bridge stp_state 0 forward_delay 0 mcast_snooping 0\n", s)
		fmt.Fprintf(&sw, "link set br%d up\n", s)
	}
	for k, h := range l.Hosts {
		fmt.Fprintf(&sw, "link add %s type veth peer name %s address %s netns %s\n", h.ports[0], HostIface, mac(h.Subnet, k+1), h.NS)
		fmt.Fprintf(&sw, "link set %s master br%d up\n", h.ports[0], h.Subnet)
	}
	if r := l.Router; r != nil {
		for i := range r.ports {
			fmt.Fprintf(&sw, "link add %s type veth peer name %s address %s netns %s\n", r.ports[i], r.ifaces[i], mac(i+1, 0xfe), r.NS)
			fmt.Fprintf(&sw, "link set %s master br%d up\n", r.ports[i], i+1)
		}
	}
	if err := l.ip(l.SwitchNS, sw.String()); err != nil {
		return err
	}

	// Host and router namespaces are independent: configure them
	// concurrently.
	all := l.all()
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, h := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.configure(subnets)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, h := range all {
		if err := h.waitReady(); err != nil {
			return err
		}
	}
	return nil
}

// configure sets up addresses, routes and sysctls inside h's namespace.
func (h *Host) configure(subnets int) error {
	var kv []string
	for _, ifc := range h.ifaces {
		kv = append(kv, "ipv6/conf/"+ifc+"/accept_dad", "0")
	}
	var b strings.Builder
	b.WriteString("link set lo up\n")
	if h == h.lab.Router {
		kv = append(kv, "ipv4/ip_forward", "1", "ipv6/conf/all/forwarding", "1")
		for i, ifc := range h.ifaces {
			v4, v6 := h.lab.Gateway(i + 1)
			fmt.Fprintf(&b, "addr add %s/24 dev %s\n", v4, ifc)
			fmt.Fprintf(&b, "addr add %s/64 dev %s nodad\n", v6, ifc)
			fmt.Fprintf(&b, "link set %s up\n", ifc)
		}
	} else {
		fmt.Fprintf(&b, "addr add %s/24 dev %s\n", h.IPv4, h.Iface)
		fmt.Fprintf(&b, "addr add %s/64 dev %s nodad\n", h.IPv6, h.Iface)
		fmt.Fprintf(&b, "link set %s up\n", h.Iface)
		fmt.Fprintf(&b, "route add 224.0.0.0/4 dev %s\n", h.Iface)
		if subnets > 1 {
			v4, v6 := h.lab.Gateway(h.Subnet)
			fmt.Fprintf(&b, "route add default via %s\n", v4)
			fmt.Fprintf(&b, "route add default via %s\n", v6)
		}
	}
	if err := setSysctls(h.NS, kv...); err != nil {
		return err
	}
	return h.lab.ip(h.NS, b.String())
}

// ip runs one `ip -batch` in namespace ns ("" for the current one): one
// process per namespace instead of one per command keeps New fast.
func (l *Lab) ip(ns, batch string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command(l.ipPath, args...)
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s\nbatch:\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out), batch)
	}
	return nil
}

// setSysctls writes net.* sysctls (pairs of path below /proc/sys/net and
// value) in namespace ns, from a thread switched into it: /proc/sys/net
// shows the namespace of the thread that opens it, and this costs no
// process.
func setSysctls(ns string, kv ...string) error {
	if len(kv) == 0 {
		return nil
	}
	return inNetns(ns, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := os.WriteFile("/proc/sys/net/"+kv[i], []byte(kv[i+1]), 0); err != nil {
				return fmt.Errorf("netlab: sysctl net/%s=%s in %s: %w", kv[i], kv[i+1], ns, err)
			}
		}
		return nil
	})
}

// waitReady polls until h can send and receive at once: its interfaces are
// running (carrier, queue attached), none of their IPv6 addresses is
// tentative and each has a link-local one, and the bridge ports of its
// cables are forwarding. Carrier and port state change asynchronously
// (the kernel's link watch) after ip has returned.
func (h *Host) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ok, err := h.ready()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: %s not ready after %v", h.Name, readyTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *Host) ready() (bool, error) {
	var ok bool
	err := inNetns(h.NS, func() error {
		var err error
		ok, err = ifacesReady(h.ifaces)
		return err
	})
	if err != nil || !ok {
		return false, err
	}
	err = inNetns(h.lab.SwitchNS, func() error {
		states, err := bridgePortStates()
		if err != nil {
			return err
		}
		ok = true
		for _, p := range h.ports {
			ok = ok && states[p] == bridgeForwarding
		}
		return nil
	})
	return ok, err
}

// ifacesReady reports whether the named interfaces of the current
// namespace are running with usable IPv6.
func ifacesReady(names []string) (bool, error) {
	want := map[int]bool{} // index -> has a link-local address
	for _, n := range names {
		ifi, err := net.InterfaceByName(n)
		if err != nil {
			return false, err
		}
		if ifi.Flags&net.FlagRunning == 0 {
			return false, nil
		}
		want[ifi.Index] = false
	}
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET6)
	if err != nil {
		return false, fmt.Errorf("netlab: netlink addresses: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return false, fmt.Errorf("netlab: netlink addresses: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		// struct ifaddrmsg: family, prefixlen, flags, scope, index.
		flags, scope := m.Data[2], m.Data[3]
		index := int(binary.NativeEndian.Uint32(m.Data[4:8]))
		if _, ok := want[index]; !ok {
			continue
		}
		if flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			return false, nil
		}
		if scope == unix.RT_SCOPE_LINK {
			want[index] = true
		}
	}
	for _, hasLL := range want {
		if !hasLL {
			return false, nil
		}
	}
	return true, nil
}

// bridgePortStates returns the STP state of every bridge port in the
// current namespace, by name (an AF_BRIDGE link dump, as `bridge link`).
func bridgePortStates() (map[string]uint8, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink bridge ports: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink bridge ports: %w", err)
	}
	states := map[string]uint8{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlab: netlink bridge ports: %w", err)
		}
		var name string
		state, found := uint8(0), false
		for _, a := range attrs {
			switch a.Attr.Type &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER) {
			case unix.IFLA_IFNAME:
				name = string(bytes.TrimRight(a.Value, "\x00"))
			case unix.IFLA_PROTINFO:
				state, found = nestedU8(a.Value, unix.IFLA_BRPORT_STATE)
			}
		}
		if name != "" && found {
			states[name] = state
		}
	}
	return states, nil
}

// nestedU8 finds a one-byte attribute in a block of netlink attributes.
func nestedU8(b []byte, typ uint16) (uint8, bool) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if n < 4 || n > len(b) {
			break
		}
		if t == typ && n >= 5 {
			return b[4], true
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return 0, false
}

// Close tears the lab down: it kills the processes started with Start (their
// whole process groups), deletes the namespaces in reverse order of
// creation, and kills every process still inside one of them, whoever
// started it, or about to enter one (see removeNamespaces); then it removes
// the state of the hosts' avahi daemons (StartAvahi). When the last
// process has left, the kernel frees the namespaces; freeing the switch
// namespace deletes the bridges and both ends of every cable. Close is
// idempotent and may be called before the test ends (the cleanup
// registered by New then does nothing); later calls return nil.
//
// A socket opened with Do that is still open keeps its (by then nameless
// and unreachable) namespace alive until the socket is closed.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs, nss, closers := l.procs, l.namespaces, l.closers
	l.mu.Unlock()

	for _, p := range procs {
		p.kill()
	}
	err := removeNamespaces(nss)
	for _, fn := range closers {
		err = errors.Join(err, fn())
	}
	if rerr := os.Remove(filepath.Join(stateDir, l.ID)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func (l *Lab) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Command returns a command that runs the program inside h's namespace,
// through `ip netns exec`, which execs the program in place (the pid is the
// program's), gives it a /sys that shows the namespace's interfaces, and
// works for any binary. With Options.Hostnames the program also gets a
// private UTS namespace with hostname h.Name.
//
// The child gets SIGKILL if the thread that started it dies
// (Pdeathsig), so a crashed test binary leaves no process behind; do not
// start commands from a goroutine that is about to exit while locked to its
// thread. Whatever is still running in the namespace at teardown is killed.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := []string{"netns", "exec", h.NS}
	if h.lab.unsharePath != "" {
		argv = append(argv, h.lab.unsharePath, "--uts", "--", "/bin/sh", "-c",
			`echo "$0" >/proc/sys/kernel/hostname && exec "$@"`, h.Name)
	}
	cmd := exec.CommandContext(ctx, h.lab.ipPath, append(append(argv, name), args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Do runs fn on a goroutine locked to an OS thread switched into h's
// network namespace, and switches the thread back afterwards (if that
// fails, the thread stays locked and dies with the goroutine instead of
// serving other goroutines from the wrong namespace). Sockets opened inside
// fn belong to the namespace and keep working after Do returns, from any
// goroutine; this lets in-process tests multicast inside the lab.
//
// Only fn's own goroutine is in the namespace: goroutines it starts are
// not, and neither is name resolution, so dial IP literals. A panic in fn
// is re-raised by Do, and t.FailNow (t.Fatal) inside fn ends the calling
// goroutine too, as if fn had run on it.
func (h *Host) Do(fn func() error) error {
	if h.lab.isClosed() {
		return ErrClosed
	}
	return inNetns(h.NS, fn)
}

// doResult carries the way fn ended from the namespace goroutine to the
// caller of inNetns.
type doResult struct {
	err      error
	panicked bool
	panicVal any
	goexit   bool
}

func inNetns(ns string, fn func() error) error {
	target, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netlab: open namespace %s: %w", ns, err)
	}
	defer unix.Close(target)

	done := make(chan doResult, 1)
	go func() {
		res := doResult{goexit: true} // stays so only if fn calls runtime.Goexit
		defer func() { done <- res }()
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res = doResult{err: fmt.Errorf("netlab: open own namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			res = doResult{err: fmt.Errorf("netlab: enter namespace %s: %w", ns, err)}
			return
		}
		defer func() {
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				if res.err == nil && !res.panicked && !res.goexit {
					res.err = fmt.Errorf("netlab: leave namespace %s: %w", ns, err)
				}
				return // still locked: the runtime ends the thread with us
			}
			runtime.UnlockOSThread()
		}()
		defer func() {
			if r := recover(); r != nil {
				res = doResult{panicked: true, panicVal: fmt.Sprintf("%v\n\ngoroutine in netlab namespace %s:\n%s", r, ns, debug.Stack())}
			}
		}()
		res.err = fn()
		res.goexit = false
	}()
	res := <-done
	switch {
	case res.panicked:
		panic(res.panicVal)
	case res.goexit:
		runtime.Goexit()
	}
	return res.err
}

// LinkLocal returns h's IPv6 link-local address on Iface, with the zone
// set, as the kernel assigned it.
func (h *Host) LinkLocal() (netip.Addr, error) {
	var ll netip.Addr
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
					ll = ip.WithZone(h.Iface)
					return nil
				}
			}
		}
		return fmt.Errorf("netlab: %s has no link-local address on %s", h.Name, h.Iface)
	})
	return ll, err
}

// SetLink cuts (false) or heals (true) h's cables by setting their switch
// ports down or up, like pulling the plug: the host sees its link lose
// carrier, keeps its addresses and routes, and frames vanish both ways. For
// the router all its cables switch together. SetLink(true) returns once
// traffic flows again; it also heals a silent cut (SetLinkSilent).
func (h *Host) SetLink(up bool) error {
	if h.lab.isClosed() {
		return ErrClosed
	}
	state := "down"
	if up {
		state = "up"
	}
	var b strings.Builder
	for _, p := range h.ports {
		fmt.Fprintf(&b, "link set %s %s\n", p, state)
	}
	if err := h.lab.ip(h.lab.SwitchNS, b.String()); err != nil {
		return err
	}
	if up {
		h.healSilentCut() // SetLink(true) heals a SetLinkSilent cut too
		return h.waitReady()
	}
	return nil
}

// CleanupStale removes labs left behind by test binaries that died without
// tearing down (SIGKILL, os.Exit, a timeout): namespaces whose names match
// this harness's pattern and whose creating process is gone, every process
// still inside them, and their state files. A process counts as gone when
// its pid is unused or now belongs to a process started at another time.
// Namespaces not named by this harness are never touched. New calls it.
func CleanupStale() error {
	return withStateLock(func() error {
		entries, err := os.ReadDir(netnsDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		var stale []string
		for _, e := range entries {
			m := nsNameRE.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !labOwnerAlive("ll"+m[1]+"-"+m[2], pid) {
				stale = append(stale, e.Name())
			}
		}
		// The switch last, as in Close (removeNamespaces goes backwards).
		slices.SortFunc(stale, func(a, b string) int {
			return boolCmp(strings.HasSuffix(b, "-sw"), strings.HasSuffix(a, "-sw"))
		})
		errs := []error{removeNamespaces(stale)}
		states, err := os.ReadDir(stateDir)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, e := range states {
			m := stateNameRE.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !labOwnerAlive(e.Name(), pid) {
				if err := os.Remove(filepath.Join(stateDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		return errors.Join(errs...)
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// labOwnerAlive reports whether the process that created lab id still runs.
func labOwnerAlive(id string, pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	started, err := startTime(pid)
	if err != nil {
		return false
	}
	recorded, err := os.ReadFile(filepath.Join(stateDir, id))
	if err != nil {
		return true // no record to compare with: trust the pid
	}
	return strings.TrimSpace(string(recorded)) == strconv.Itoa(pid)+" "+started
}

// startTime returns the start time of a process in clock ticks since boot
// (field 22 of /proc/PID/stat), which with the pid identifies a process.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", fmt.Errorf("netlab: odd /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", fmt.Errorf("netlab: odd /proc/%d/stat", pid)
	}
	return f[19], nil // field 22 is the 20th after the name
}

func writeState(id string) error {
	st, err := startTime(os.Getpid())
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(stateDir, id), []byte(fmt.Sprintf("%d %s\n", os.Getpid(), st)), 0o644)
}

// withStateLock runs fn holding an exclusive lock shared by all test
// binaries, so that stale cleanup never races with creation, and two first
// uses of `ip netns add` on a fresh machine do not both set up /run/netns.
func withStateLock(fn func() error) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("netlab: lock %s: %w", f.Name(), err)
	}
	return fn()
}

// nsID identifies a network namespace: the device and inode of its nsfs
// file, the same whether reached through /run/netns or /proc/PID/ns/net.
type nsID struct{ dev, ino uint64 }

func netnsID(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

// pidsIn lists the processes, other than this one, inside any of the given
// namespaces or holding a file descriptor to one (like `ip netns exec`
// between opening a namespace and entering it). One scan of /proc covers
// all namespaces of a lab.
func pidsIn(ids map[nsID]bool) []int {
	var pids []int
	for _, n := range readdirnames("/proc") {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == os.Getpid() {
			// This process never counts: a thread of it may sit in the lab
			// inside Do, and killing it would end the test run.
			continue
		}
		// Descriptors first: a process entering a namespace goes from
		// holding a descriptor to being inside, never the other way.
		if holdsNetns("/proc/"+n+"/fd", ids) {
			pids = append(pids, pid)
		} else if id, err := netnsID("/proc/" + n + "/ns/net"); err == nil && ids[id] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// holdsNetns reports whether a descriptor in fdDir refers to one of ids.
func holdsNetns(fdDir string, ids map[nsID]bool) bool {
	for _, fd := range readdirnames(fdDir) {
		p := fdDir + "/" + fd
		if link, err := os.Readlink(p); err == nil && strings.HasPrefix(link, "net:[") {
			if id, err := netnsID(p); err == nil && ids[id] {
				return true
			}
		}
	}
	return false
}

func readdirnames(dir string) []string {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return names
}

// removeNamespaces deletes the named namespaces, in reverse order, then
// SIGKILLs every process inside them or about to enter them until none is
// left. Deleting first closes the door: from then on only processes that
// already hold a reference can get in, and the sweep sees those. Exited
// processes not yet reaped by their parent no longer count.
func removeNamespaces(names []string) error {
	ids := map[nsID]bool{}
	for _, n := range names {
		if id, err := netnsID(filepath.Join(netnsDir, n)); err == nil {
			ids[id] = true
		}
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		errs = append(errs, deleteNetns(names[i]))
	}
	if len(ids) == 0 {
		return errors.Join(errs...)
	}
	deadline := time.Now().Add(killTimeout)
	for {
		pids := pidsIn(ids)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("netlab: processes %v survive SIGKILL", pids))
			break
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL) // it may be gone already
		}
		time.Sleep(2 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// deleteNetns does what `ip netns del` does: detach the bind mount that
// keeps the namespace alive and remove the file. Missing is fine.
func deleteNetns(name string) error {
	p := filepath.Join(netnsDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netlab: unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netlab: delete namespace %s: %w", name, err)
	}
	return nil
}
