package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a test that builds a lab and then
// panics, fails or waits to be killed (see TestHelperLab).
const helperEnv = "NETLAB_HELPER"

func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv(helperEnv) == "" {
		// Whatever the tests did, this process must leave nothing behind.
		if left := labLeftovers(fmt.Sprintf("ll%d-", os.Getpid())); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "netlab: left behind: %v\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// labLeftovers lists namespaces and state files whose names start with
// prefix.
func labLeftovers(prefix string) []string {
	var left []string
	for _, dir := range []string{netnsDir, stateDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

// processGone reports whether pid has exited (a zombie counts as exited).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z")
}

// startEcho serves TCP on every address of h: each connection gets the
// address it came from, so a client can check which path it took.
func startEcho(t *testing.T, h *Host) uint16 {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			fmt.Fprintf(c, "%s\n", ap.Addr().Unmap())
			c.Close()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// whoAmI connects from h to an echo server and returns the address the
// server saw.
func whoAmI(h *Host, to netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), timeout)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func checkWhoAmI(t *testing.T, from *Host, to netip.AddrPort, want netip.Addr) {
	t.Helper()
	got, err := whoAmI(from, to, 2*time.Second)
	if err != nil {
		t.Fatalf("%s -> %s: %v", from.Name, to, err)
	}
	if got != want.String() {
		t.Errorf("%s -> %s: server saw %s, want %s", from.Name, to, got, want)
	}
}

type datagram struct {
	from    netip.Addr
	payload string
}

// receiver records every datagram arriving on a multicast socket.
type receiver struct {
	conn *net.UDPConn
	ch   chan datagram // best effort; all is complete

	mu  sync.Mutex // guards all
	all []datagram
}

func listenMulticast(t *testing.T, h *Host, group netip.AddrPort) *receiver {
	t.Helper()
	network := "udp4"
	if group.Addr().Is6() {
		network = "udp6"
	}
	r := &receiver{ch: make(chan datagram, 64)}
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err != nil {
			return err
		}
		r.conn, err = net.ListenMulticastUDP(network, ifi, net.UDPAddrFromAddrPort(group))
		return err
	}); err != nil {
		t.Fatalf("%s: join %s: %v", h.Name, group, err)
	}
	t.Cleanup(func() { r.conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := r.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			d := datagram{from.Addr().Unmap(), string(buf[:n])}
			r.mu.Lock()
			r.all = append(r.all, d)
			r.mu.Unlock()
			select {
			case r.ch <- d:
			default:
			}
		}
	}()
	return r
}

func (r *receiver) sources() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []netip.Addr
	for _, d := range r.all {
		if !slices.Contains(s, d.from) {
			s = append(s, d.from)
		}
	}
	return s
}

// multicastSender returns a socket in h that sends to group on h.Iface
// with the given TTL / hop limit.
func multicastSender(t *testing.T, h *Host, group netip.AddrPort, ttl int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() error {
		dst := net.UDPAddrFromAddrPort(group)
		network := "udp4"
		if group.Addr().Is6() {
			network, dst.Zone = "udp6", h.Iface
		}
		var err error
		if c, err = net.DialUDP(network, nil, dst); err != nil {
			return err
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			if network == "udp4" {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl)
			}
		})
		return errors.Join(err, serr)
	}); err != nil {
		t.Fatalf("%s: sender to %s: %v", h.Name, group, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// await sends payload on c every 20 ms until r receives a datagram carrying
// it, and returns that datagram. Multicast is unreliable in general; in the
// lab the first send arrives, the resends only guard against that changing.
func await(t *testing.T, c *net.UDPConn, r *receiver, payload string) datagram {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		if _, err := c.Write([]byte(payload)); err != nil {
			t.Fatalf("send %q: %v", payload, err)
		}
	wait:
		for {
			select {
			case d := <-r.ch:
				if d.payload == payload {
					return d
				}
			case <-tick.C:
				break wait
			case <-deadline.C:
				t.Fatalf("%q not received within 5s", payload)
			}
		}
	}
}

func TestOneSubnet(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	if l.Router != nil {
		t.Errorf("one subnet: Router = %+v, want nil", l.Router)
	}
	for k, h := range l.Hosts {
		want4 := fmt.Sprintf("198.18.1.%d", k+1)
		want6 := fmt.Sprintf("2001:2:0:1::%d", k+1)
		if h.Name != fmt.Sprintf("h%d", k+1) || h.Subnet != 1 || h.IPv4.String() != want4 || h.IPv6.String() != want6 || h.Iface != "lan0" {
			t.Errorf("host %d = %+v", k+1, h)
		}
	}

	t.Run("unicast", func(t *testing.T) {
		port := startEcho(t, h2)
		checkWhoAmI(t, h1, netip.AddrPortFrom(h2.IPv4, port), h1.IPv4)
		checkWhoAmI(t, h1, netip.AddrPortFrom(h2.IPv6, port), h1.IPv6)
		ll1, err := h1.LinkLocal()
		if err != nil {
			t.Fatal(err)
		}
		ll2, err := h2.LinkLocal()
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.MustParseAddr("fe80::c6ff:fe12:102%lan0"); ll2 != want {
			t.Errorf("h2 link-local = %v, want %v (from MAC %s)", ll2, want, mac(1, 2))
		}
		checkWhoAmI(t, h1, netip.AddrPortFrom(ll2, port), ll1)
	})

	t.Run("multicast IPv4", func(t *testing.T) {
		group := netip.MustParseAddrPort("239.255.77.77:47777")
		r1 := listenMulticast(t, h1, group)
		r3 := listenMulticast(t, h3, group)
		s2 := multicastSender(t, h2, group, 1)
		if d := await(t, s2, r1, "beacon from h2"); d.from != h2.IPv4 {
			t.Errorf("h1 got the beacon from %v, want %v", d.from, h2.IPv4)
		}
		if d := await(t, s2, r3, "beacon from h2 again"); d.from != h2.IPv4 {
			t.Errorf("h3 got the beacon from %v, want %v", d.from, h2.IPv4)
		}
	})

	t.Run("multicast IPv6", func(t *testing.T) {
		group := netip.MustParseAddrPort("[ff02::4c4c]:47777")
		r1 := listenMulticast(t, h1, group)
		s2 := multicastSender(t, h2, group, 1)
		ll2, err := h2.LinkLocal()
		if err != nil {
			t.Fatal(err)
		}
		if d := await(t, s2, r1, "beacon from h2"); d.from != ll2 {
			t.Errorf("h1 got the beacon from %v, want %v", d.from, ll2)
		}
	})
}

func TestTwoSubnets(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 4, Subnets: 2})
	h1, h2, h3, h4 := l.Hosts[0], l.Hosts[1], l.Hosts[2], l.Hosts[3]
	if l.Router == nil {
		t.Fatal("two subnets: no router")
	}
	for _, c := range []struct {
		h      *Host
		subnet int
		v4, v6 string
	}{{h1, 1, "198.18.1.1", "2001:2:0:1::1"}, {h2, 2, "198.18.2.2", "2001:2:0:2::2"}, {h3, 1, "198.18.1.3", "2001:2:0:1::3"}, {h4, 2, "198.18.2.4", "2001:2:0:2::4"}} {
		if c.h.Subnet != c.subnet || c.h.IPv4.String() != c.v4 || c.h.IPv6.String() != c.v6 {
			t.Errorf("%s = %+v, want subnet %d, %s, %s", c.h.Name, c.h, c.subnet, c.v4, c.v6)
		}
	}

	t.Run("unicast crosses the router", func(t *testing.T) {
		port := startEcho(t, h2)
		checkWhoAmI(t, h1, netip.AddrPortFrom(h2.IPv4, port), h1.IPv4)
		checkWhoAmI(t, h1, netip.AddrPortFrom(h2.IPv6, port), h1.IPv6)
	})

	t.Run("multicast stays in its subnet", func(t *testing.T) {
		// A TTL above 1, so that only the absence of multicast routing can
		// keep the packets in their subnet.
		group := netip.MustParseAddrPort("239.255.77.77:47777")
		r2, r3 := listenMulticast(t, h2, group), listenMulticast(t, h3, group)
		s1, s4 := multicastSender(t, h1, group, 8), multicastSender(t, h4, group, 8)
		// Each subnet's receiver gets its own subnet's beacons; the later
		// beacons bound the time an (unwanted) forwarded copy would have
		// had to arrive.
		await(t, s1, r3, "subnet 1, first")
		await(t, s4, r2, "subnet 2")
		await(t, s1, r3, "subnet 1, second")
		if got := r2.sources(); !slices.Equal(got, []netip.Addr{h4.IPv4}) {
			t.Errorf("h2 (subnet 2) got multicast from %v, want only from h4 %v", got, h4.IPv4)
		}
		if got := r3.sources(); !slices.Equal(got, []netip.Addr{h1.IPv4}) {
			t.Errorf("h3 (subnet 1) got multicast from %v, want only from h1 %v", got, h1.IPv4)
		}
	})
}

func TestSetLink(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	port := startEcho(t, h2)
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(h2.IPv4, port), netip.AddrPortFrom(h2.IPv6, port)} {
		if _, err := whoAmI(h1, to, 2*time.Second); err != nil {
			t.Fatalf("before the cut: %v", err)
		}
	}
	if err := h2.SetLink(false); err != nil {
		t.Fatal(err)
	}
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(h2.IPv4, port), netip.AddrPortFrom(h2.IPv6, port)} {
		if got, err := whoAmI(h1, to, 300*time.Millisecond); err == nil {
			t.Errorf("reached %v through a cut cable (it saw %s)", to, got)
		}
	}
	if err := h2.SetLink(true); err != nil {
		t.Fatal(err)
	}
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(h2.IPv4, port), netip.AddrPortFrom(h2.IPv6, port)} {
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("%v after healing", to), func() bool {
			_, err := whoAmI(h1, to, 200*time.Millisecond)
			return err == nil
		})
	}
}

func rootInterfaces(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ifi := range ifs {
		names = append(names, ifi.Name)
	}
	slices.Sort(names)
	return names
}

func ipNetnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	before := rootInterfaces(t)
	l := New(t, Options{Hosts: 2, Subnets: 2})
	if after := rootInterfaces(t); !slices.Equal(before, after) {
		t.Errorf("root namespace interfaces changed: %v -> %v", before, after)
	}
	var nss []string
	for _, h := range slices.Concat(l.Hosts, []*Host{l.Router}) {
		nss = append(nss, h.NS)
	}
	nss = append(nss, l.SwitchNS)
	list := ipNetnsList(t)
	for _, ns := range nss {
		if !strings.Contains(list, ns) {
			t.Errorf("ip netns list lacks %s:\n%s", ns, list)
		}
	}
	sw, err := netnsID(filepath.Join(netnsDir, l.SwitchNS))
	if err != nil {
		t.Fatal(err)
	}

	// A process not started with Start, in each kind of namespace: Close
	// kills them all.
	var waits []chan error
	for _, h := range []*Host{l.Hosts[0], l.Router} {
		cmd := h.Command(context.Background(), "sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waits = append(waits, done)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, done := range waits {
		select {
		case err := <-done:
			if err == nil {
				t.Error("sleep 300 exited cleanly, want killed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a process in the lab survived Close")
		}
	}
	list = ipNetnsList(t)
	if strings.Contains(list, l.ID+"-") {
		t.Errorf("after Close, ip netns list still shows the lab:\n%s", list)
	}
	if left := labLeftovers(l.ID + "-"); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
	if _, err := os.Stat(filepath.Join(stateDir, l.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file: %v, want it removed", err)
	}
	// The switch namespace, and with it every bridge and cable, is gone
	// once no process holds it.
	if pids := pidsIn(map[nsID]bool{sw: true}); len(pids) > 0 {
		t.Errorf("processes %v still in the switch namespace", pids)
	}
	if after := rootInterfaces(t); !slices.Equal(before, after) {
		t.Errorf("root namespace interfaces changed: %v -> %v", before, after)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Hosts[0].Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
	if err := l.Hosts[0].SetLink(true); !errors.Is(err, ErrClosed) {
		t.Errorf("SetLink after Close: %v, want ErrClosed", err)
	}
}

func TestDoRestoresThread(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 1})
	root, err := netnsID("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := netnsID(filepath.Join(netnsDir, l.Hosts[0].NS))
	if err != nil {
		t.Fatal(err)
	}
	// Many Do calls leave no thread of this process behind in the lab.
	for range 50 {
		if err := l.Hosts[0].Do(func() error {
			if id, err := netnsID("/proc/thread-self/ns/net"); err != nil || id != lab {
				return fmt.Errorf("inside Do: namespace %v (%v), want %v", id, err, lab)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.LockOSThread()
	id, err := netnsID("/proc/thread-self/ns/net")
	runtime.UnlockOSThread()
	if err != nil || id != root {
		t.Errorf("test goroutine's thread in %v (%v), want root %v", id, err, root)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if id, err := netnsID("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && id == lab {
			t.Errorf("thread %s still in the lab", task.Name())
		}
	}

	want := errors.New("from fn")
	if err := l.Hosts[0].Do(func() error { return want }); err != want {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
				t.Errorf("recovered %v, want fn's panic", r)
			}
		}()
		_ = l.Hosts[0].Do(func() error { panic("boom") })
	}()
}

func TestProcess(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 1, Hostnames: true})
	h := l.Hosts[0]
	hostNS, err := netnsID(filepath.Join(netnsDir, h.NS))
	if err != nil {
		t.Fatal(err)
	}

	p := h.Start(t, "sh", "-c", `echo hello; echo oops >&2; cat /sys/class/net/lan0/address /proc/sys/kernel/hostname
		for i in 1 2 3; do echo tick $i; done; sleep 300; echo never`)
	if got := p.WaitForLine(t, 5*time.Second, Contains("oops")); got != "oops" {
		t.Errorf("stderr line = %q", got)
	}
	p.WaitForStdoutLine(t, 5*time.Second, Contains("hello"))
	if got := p.WaitForStdoutLine(t, 5*time.Second, Contains(":")); got != mac(1, 1) {
		t.Errorf("lan0 MAC seen from inside = %q, want %q", got, mac(1, 1))
	}
	if got := p.WaitForStdoutLine(t, 5*time.Second, func(string) bool { return true }); got != "h1" {
		t.Errorf("hostname = %q, want h1", got)
	}
	for i := 1; i <= 3; i++ {
		if got, want := p.WaitForStdoutLine(t, 5*time.Second, Contains("tick")), fmt.Sprintf("tick %d", i); got != want {
			t.Errorf("WaitForStdoutLine #%d = %q, want %q", i, got, want)
		}
	}
	if got := p.Lines(); len(got) != 7 || !slices.Contains(got, "oops") || !slices.Contains(got, "tick 3") {
		t.Errorf("Lines = %q", got)
	}
	pid := p.Cmd.Process.Pid
	if _, err := p.Wait(10 * time.Millisecond); !errors.Is(err, ErrStillRunning) {
		t.Errorf("Wait while running: %v, want ErrStillRunning", err)
	}
	p.Stop()
	if code, err := p.Wait(time.Second); code != -1 || err == nil {
		t.Errorf("after Stop: Wait = %d, %v; want -1 and the signal", code, err)
	}
	if !processGone(pid) {
		t.Errorf("pid %d alive after Stop", pid)
	}
	// The shell's child went with it: Stop signals the process group.
	testutil.WaitFor(t, 5*time.Second, "the host's namespace to empty", func() bool {
		return len(pidsIn(map[nsID]bool{hostNS: true})) == 0
	})
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: %v, want os.ErrProcessDone", err)
	}

	t.Run("exit code", func(t *testing.T) {
		p := h.Start(t, "sh", "-c", "echo partial; printf 'no newline'; exit 3")
		if code, err := p.Wait(5 * time.Second); code != 3 || err != nil {
			t.Errorf("Wait = %d, %v; want 3, nil", code, err)
		}
		// Output printed before the exit still counts.
		p.WaitForLine(t, time.Second, Contains("partial"))
		p.WaitForLine(t, time.Second, Contains("no newline"))
	})

	t.Run("signal", func(t *testing.T) {
		p := h.Start(t, "sh", "-c", `trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.01; done`)
		p.WaitForLine(t, 5*time.Second, Contains("ready"))
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.WaitForLine(t, 5*time.Second, Contains("got TERM"))
		if code, err := p.Wait(5 * time.Second); code != 0 || err != nil {
			t.Errorf("Wait = %d, %v; want 0, nil", code, err)
		}
	})

	var forgotten int
	t.Run("forgotten", func(t *testing.T) {
		forgotten = h.Start(t, "sleep", "300").Cmd.Process.Pid
	})
	if !processGone(forgotten) {
		t.Errorf("pid %d left running by a subtest survived its cleanup", forgotten)
	}

	t.Run("timeout reports output", func(t *testing.T) {
		p := h.Start(t, "sh", "-c", "echo something else; sleep 300")
		ft := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.WaitForLine(ft, 100*time.Millisecond, Contains("never printed"))
		}()
		<-done
		if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], "stdout| something else") {
			t.Errorf("failure message = %q, want one quoting the output", ft.fatals)
		}
	})
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	fatals []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Hosts: -1}, {Hosts: MaxHosts + 1}, {Hosts: 2, Subnets: 3}, {Subnets: -1}} {
		if _, _, err := o.sizes(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if h, s, err := (Options{}).sizes(); h != 2 || s != 1 || err != nil {
		t.Errorf("zero Options: %d hosts, %d subnets, %v", h, s, err)
	}
}

func TestCleanupStale(t *testing.T) {
	t.Parallel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.Process.Pid
	stale := fmt.Sprintf("ll%d-1-sw", deadPid)
	live := fmt.Sprintf("ll%d-999999-h1", os.Getpid())
	foreign := []string{fmt.Sprintf("ll%d-1-eth0", deadPid), fmt.Sprintf("lab%d-1-sw", deadPid)}
	for _, ns := range append([]string{stale, live}, foreign...) {
		// Under the lock, or a concurrent New might clean up the stale one
		// while ip is still creating it.
		if err := withStateLock(func() error {
			if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
				return fmt.Errorf("ip netns add %s: %v: %s", ns, err, out)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := deleteNetns(ns); err != nil {
				t.Error(err)
			}
		})
	}
	if err := CleanupStale(); err != nil {
		t.Fatal(err)
	}
	exists := func(ns string) bool {
		_, err := os.Stat(filepath.Join(netnsDir, ns))
		return err == nil
	}
	if exists(stale) {
		t.Errorf("%s (pid %d is dead) survived CleanupStale", stale, deadPid)
	}
	for _, ns := range append([]string{live}, foreign...) {
		if !exists(ns) {
			t.Errorf("CleanupStale removed %s", ns)
		}
	}
}

// TestTeardownAfterCrash runs this test binary as a test that builds a lab
// and then panics, calls t.Fatal (also inside Do) or is SIGKILLed, and
// checks that nothing of that lab survives: the first ones tear down
// through t.Cleanup, the last is found by CleanupStale.
func TestTeardownAfterCrash(t *testing.T) {
	for _, mode := range []string{"panic", "fatal", "fatal-in-do", "crash"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLab$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+mode)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			sc := bufio.NewScanner(stdout)
			var id string
			var sleeper, orphan int
			for sc.Scan() {
				if _, err := fmt.Sscanf(sc.Text(), "READY %s %d %d", &id, &sleeper, &orphan); err == nil {
					break
				}
			}
			if id == "" {
				cmd.Wait()
				t.Fatalf("helper never got ready; stderr:\n%s", stderr.String())
			}
			if mode == "crash" {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			rest, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err == nil {
				t.Errorf("helper succeeded, want it to fail; output:\n%s", rest)
			}
			if mode == "fatal-in-do" {
				// t.Fatal inside Do ends the test like t.Fatal outside it.
				if out := string(rest); !strings.Contains(out, "deliberate t.Fatal inside Do") ||
					strings.Contains(out, "not reached") || strings.Contains(out, "runtime.Goexit") {
					t.Errorf("helper output:\n%s", out)
				}
			}
			if mode == "crash" {
				// Started with Start: gone with its parent (Pdeathsig).
				testutil.WaitFor(t, 5*time.Second, "the sleeper to die with the helper", func() bool { return processGone(sleeper) })
				if processGone(orphan) {
					t.Logf("orphan %d already gone (a concurrent CleanupStale?)", orphan)
				}
				if err := CleanupStale(); err != nil {
					t.Fatal(err)
				}
			}
			if left := labLeftovers(id + "-"); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(stateDir, id)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file of %s: %v, want removed", id, err)
			}
			testutil.WaitFor(t, 5*time.Second, "both processes in the lab to end", func() bool {
				return processGone(sleeper) && processGone(orphan)
			})
		})
	}
}

// TestHelperLab is the test TestTeardownAfterCrash runs in a child process;
// without the environment variable it does nothing.
func TestHelperLab(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	l := New(t, Options{Hosts: 2})
	sleeper := l.Hosts[0].Start(t, "sleep", "300")
	// A process that outlives its starter, like a daemon: only the sweep
	// over the namespace finds it.
	out, err := l.Hosts[1].Command(context.Background(), "sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %s %d %d\n", l.ID, sleeper.Cmd.Process.Pid, orphan)
	switch mode {
	case "panic":
		panic("netlab helper: deliberate panic")
	case "fatal":
		t.Fatal("netlab helper: deliberate t.Fatal")
	case "fatal-in-do":
		_ = l.Hosts[0].Do(func() error {
			t.Fatal("netlab helper: deliberate t.Fatal inside Do")
			return nil
		})
		fmt.Println("not reached")
	case "crash":
		time.Sleep(time.Minute) // until the parent kills us
	}
}

func BenchmarkNew(b *testing.B) {
	for _, o := range []Options{{Hosts: 4}, {Hosts: 4, Subnets: 2}} {
		b.Run(fmt.Sprintf("hosts=%d,subnets=%d", o.Hosts, max(o.Subnets, 1)), func(b *testing.B) {
			for b.Loop() {
				l := New(b, o)
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
