package netlab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// impair applies imp to h or fails the test (with the install hint when a
// tool is missing: never a skip).
func impair(t *testing.T, h *Host, imp Impairment) {
	t.Helper()
	if err := h.Impair(imp); err != nil {
		t.Fatalf("Impair(%s, %v): %v", h.Name, imp, err)
	}
}

func clearImpairment(t *testing.T, h *Host) {
	t.Helper()
	if err := h.ClearImpairment(); err != nil {
		t.Fatalf("ClearImpairment(%s): %v", h.Name, err)
	}
}

func TestLossProgram(t *testing.T) {
	// The program of ../shared/tools/netlab.sh for 30%: 0.3·2^32 rounded.
	if got, want := lossProgram(0.3), "4,32 0 0 4294963256,53 0 1 1288490189,6 0 0 0,6 0 0 2"; got != want {
		t.Errorf("lossProgram(0.3) = %q, want %q", got, want)
	}
	if got, want := lossProgram(1), "1,6 0 0 2"; got != want {
		t.Errorf("lossProgram(1) = %q, want %q", got, want)
	}
	if got := lossProgram(0.9999999999); !strings.Contains(got, " 4294967295,") {
		t.Errorf("lossProgram(0.9999999999) = %q, want the threshold clamped to 2^32-1", got)
	}
	for _, bad := range []Impairment{
		{Loss: -0.1}, {Loss: 1.5}, {Loss: math.NaN()},
		{Delay: -time.Millisecond}, {Jitter: -time.Millisecond},
		{Direction: 4},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v: validate() = nil, want an error", bad)
		}
	}
}

// udpSink counts datagrams arriving at a socket of h: payload "d" counts
// as data, "m" marks the end of a run.
type udpSink struct {
	conn    *net.UDPConn
	data    atomic.Int64
	markers atomic.Int64
}

func newUDPSink(t *testing.T, h *Host) *udpSink {
	t.Helper()
	s := &udpSink{}
	if err := h.Do(func() (err error) {
		s.conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: h.IPv4.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { s.conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			switch string(buf[:n]) {
			case "d":
				s.data.Add(1)
			case "m":
				s.markers.Add(1)
			}
		}
	}()
	return s
}

func (s *udpSink) addr() string { return s.conn.LocalAddr().String() }

// udpRcvbufErrors reads the Udp RcvbufErrors counter of h's namespace.
func udpRcvbufErrors(t *testing.T, h *Host) int {
	t.Helper()
	var v int
	if err := h.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var names []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Udp:" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i, n := range names {
				if n == "RcvbufErrors" && i < len(f) {
					v, err = strconv.Atoi(f[i])
					return err
				}
			}
		}
		return errors.New("no Udp RcvbufErrors in /proc/net/snmp")
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// lossRun sends n datagrams from h to the sink, a little paced, then ends
// the run: it lifts every impairment in clear and sends markers until one
// arrives. Frames of one path are never reordered without jitter, so every
// datagram that survived has arrived by then. It returns how many did.
func lossRun(t *testing.T, from *Host, sink *udpSink, n int, clear ...*Host) int {
	t.Helper()
	var c *net.UDPConn
	if err := from.Do(func() error {
		raddr, err := net.ResolveUDPAddr("udp4", sink.addr())
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", nil, raddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := sink.data.Load()
	markers := sink.markers.Load()
	for i := range n {
		if _, err := c.Write([]byte("d")); err != nil {
			t.Fatalf("datagram %d: %v (a lossy cable must not fail sends)", i, err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // pacing, so no buffer overflows
		}
	}
	for _, h := range clear {
		logStats(t, h)
		clearImpairment(t, h)
	}
	testutil.WaitFor(t, 10*time.Second, "the end-of-run marker", func() bool {
		if _, err := c.Write([]byte("m")); err != nil {
			t.Fatalf("marker: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
		return sink.markers.Load() > markers
	})
	return int(sink.data.Load() - before)
}

// logStats logs h's ImpairStats.
func logStats(t *testing.T, h *Host) {
	t.Helper()
	st, err := h.ImpairStats()
	if err != nil {
		t.Fatalf("ImpairStats(%s): %v", h.Name, err)
	}
	var rate float64
	if st.Frames > 0 {
		rate = 100 * float64(st.Dropped) / float64(st.Frames)
	}
	t.Logf("%s (%v): loss filters dropped %d of %d frames (%.1f%%); %d packets delayed, %d lost to a full queue",
		h.Name, h.Impairment(), st.Dropped, st.Frames, rate, st.Delayed, st.Overflow)
}

// checkBinomial fails unless got successes of n trials fits probability p
// within 6 standard deviations (a false alarm once in 500 million runs).
func checkBinomial(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sigma := math.Sqrt(float64(n) * p * (1 - p))
	lo, hi := mean-6*sigma, mean+6*sigma
	t.Logf("%s: %d of %d arrived (%.1f%%; expected %.0f, 6σ range %.0f..%.0f)", what, got, n, 100*float64(got)/float64(n), mean, lo, hi)
	if float64(got) < lo || float64(got) > hi {
		t.Errorf("%s: %d of %d arrived, want %.0f..%.0f (%.0f%% ± 6σ)", what, got, n, lo, hi, 100*p)
	}
}

func TestImpairLossUDP(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	sink := newUDPSink(t, h2)
	errs0 := udpRcvbufErrors(t, h2)
	// Unimpaired, to resolve neighbours and check the counting.
	if got := lossRun(t, h1, sink, 100); got != 100 {
		t.Fatalf("without impairment %d of 100 datagrams arrived", got)
	}

	const n = 2000
	impair(t, h1, Impairment{Loss: 0.3}) // from h1
	checkBinomial(t, "loss 30% from h1", lossRun(t, h1, sink, n, h1), n, 0.7)

	impair(t, h2, Impairment{Loss: 0.3, Direction: ToHost}) // to h2
	checkBinomial(t, "loss 30% to h2", lossRun(t, h1, sink, n, h2), n, 0.7)

	// Both cables on the path: 0.8 · 0.75 = 0.6 arrive.
	impair(t, h1, Impairment{Loss: 0.2, Direction: BothWays})
	impair(t, h2, Impairment{Loss: 0.25, Direction: BothWays})
	checkBinomial(t, "loss 20% on h1 and 25% on h2, both ways", lossRun(t, h1, sink, n, h1, h2), n, 0.6)

	if e := udpRcvbufErrors(t, h2) - errs0; e != 0 {
		t.Errorf("h2 dropped %d datagrams for a full receive buffer: the counts above are off", e)
	}
}

// startEchoServer echoes every byte on TCP port of h, over IPv4 and IPv6.
func startEchoServer(t *testing.T, h *Host) uint16 {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// rtt connects from h to an echo server and measures the TCP handshake
// and the best of a few one-byte echo round trips.
func rtt(t *testing.T, h *Host, to netip.AddrPort) (connect, echo time.Duration) {
	t.Helper()
	var c net.Conn
	start := time.Now()
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", to.String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("%s -> %v: %v", h.Name, to, err)
	}
	connect = time.Since(start)
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	echo = time.Hour
	for range 3 {
		start := time.Now()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("echo %s -> %v: %v", h.Name, to, err)
		}
		echo = min(echo, time.Since(start))
	}
	return connect, echo
}

// checkRTT measures h -> to and checks both round trips against bounds.
func checkRTT(t *testing.T, what string, h *Host, to netip.AddrPort, lo, hi time.Duration) {
	t.Helper()
	connect, echo := rtt(t, h, to)
	t.Logf("%s, %s -> %v: connect %v, echo round trip %v", what, h.Name, to, connect.Round(10*time.Microsecond), echo.Round(10*time.Microsecond))
	for _, d := range []time.Duration{connect, echo} {
		if d < lo || d > hi {
			t.Errorf("%s, %s -> %v: connect %v, echo %v; want each in %v..%v", what, h.Name, to, connect, echo, lo, hi)
			return
		}
	}
}

func TestImpairDelay(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	port := startEchoServer(t, h2)
	to4, to6 := netip.AddrPortFrom(h2.IPv4, port), netip.AddrPortFrom(h2.IPv6, port)
	const eps = time.Millisecond         // timer granularity
	const slack = 900 * time.Millisecond // -race on two busy cores

	impair(t, h1, Impairment{Delay: 50 * time.Millisecond, Direction: BothWays})
	if got := h1.Impairment(); got.Delay != 50*time.Millisecond || got.Direction != BothWays {
		t.Errorf("Impairment() = %v", got)
	}
	checkRTT(t, "delay 50 ms both ways on h1", h1, to4, 100*time.Millisecond-eps, 100*time.Millisecond+slack)
	checkRTT(t, "delay 50 ms both ways on h1", h1, to6, 100*time.Millisecond-eps, 100*time.Millisecond+slack)

	// The same end to end with each host delaying what it sends.
	impair(t, h1, Impairment{Delay: 50 * time.Millisecond})
	impair(t, h2, Impairment{Delay: 50 * time.Millisecond, Direction: FromHost})
	checkRTT(t, "delay 50 ms from h1 and from h2", h1, to4, 100*time.Millisecond-eps, 100*time.Millisecond+slack)

	// Jitter: 40 ± 20 ms each way, and ARP is not delayed at all.
	clearImpairment(t, h2)
	impair(t, h1, Impairment{Delay: 40 * time.Millisecond, Jitter: 20 * time.Millisecond, Direction: BothWays})
	checkRTT(t, "delay 40 ± 20 ms both ways on h1", h1, to4, 40*time.Millisecond-eps, 120*time.Millisecond+slack)

	clearImpairment(t, h1)
	if got := h1.Impairment(); got != (Impairment{}) {
		t.Errorf("Impairment() after clear = %v", got)
	}
	for _, to := range []netip.AddrPort{to4, to6} {
		// Best of a few tries: a busy machine may stall one.
		var connect, echo time.Duration
		for try := 0; try < 5; try++ {
			connect, echo = rtt(t, h1, to)
			if connect < 10*time.Millisecond && echo < 10*time.Millisecond {
				break
			}
		}
		t.Logf("impairment cleared, h1 -> %v: connect %v, echo round trip %v", to, connect.Round(10*time.Microsecond), echo.Round(10*time.Microsecond))
		if connect >= 10*time.Millisecond || echo >= 10*time.Millisecond {
			t.Errorf("impairment cleared, h1 -> %v: connect %v, echo %v; want both under 10 ms", to, connect, echo)
		}
	}
}

// streamCheck sends n bytes of a counting pattern from h to an echo-less
// sink on to's host and checks that every byte arrives, in order. It
// returns how long the transfer took.
func streamCheck(t *testing.T, from, to *Host, n int, timeout time.Duration) time.Duration {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.IPv4, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{0, err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		r := bufio.NewReader(c)
		var w [4]byte
		i := 0
		for ; ; i += 4 {
			if _, err := io.ReadFull(r, w[:]); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				got <- result{i, err}
				return
			}
			if v := binary.BigEndian.Uint32(w[:]); v != uint32(i/4) {
				got <- result{i, fmt.Errorf("word %d reads %d: out of order or corrupt", i/4, v)}
				return
			}
		}
	}()
	start := time.Now()
	var c net.Conn
	deadline := start.Add(timeout)
	for {
		err := from.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", ln.Addr().String(), time.Until(deadline))
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s -> %s: %v", from.Name, to.Name, err)
		}
	}
	buf := make([]byte, n)
	for i := 0; i+4 <= n; i += 4 {
		binary.BigEndian.PutUint32(buf[i:], uint32(i/4))
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(buf); err != nil {
		c.Close()
		t.Fatalf("write: %v", err)
	}
	c.Close() // FIN after the data; the kernel keeps retransmitting
	r := <-got
	took := time.Since(start)
	if r.err != nil || r.n != n {
		t.Fatalf("stream %s -> %s: %d of %d bytes after %v: %v", from.Name, to.Name, r.n, n, took, r.err)
	}
	return took
}

func TestImpairTCP(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]

	impair(t, h1, Impairment{Loss: 0.2, Direction: BothWays})
	took := streamCheck(t, h1, h2, 64<<10, 90*time.Second)
	t.Logf("64 KiB over 20%% loss both ways on h1: %v", took.Round(time.Millisecond))

	logStats(t, h1)

	// A few seconds of a stream, each way, through a lossy, slow and
	// jittery cable.
	imp := Impairment{Loss: 0.1, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Direction: BothWays}
	impair(t, h1, imp)
	took = streamCheck(t, h1, h2, 1<<20, 120*time.Second)
	t.Logf("1 MiB h1 -> h2 with %v on h1: %v", imp, took.Round(time.Millisecond))
	took = streamCheck(t, h2, h1, 1<<20, 120*time.Second)
	t.Logf("1 MiB h2 -> h1 with %v on h1: %v", imp, took.Round(time.Millisecond))
	logStats(t, h1)
}

func (l *Lab) inSwitch(fn func() error) error { return inNetns(l.SwitchNS, fn) }

// operstate returns the operational state of h's lan0 as ip shows it.
func operstate(t *testing.T, h *Host) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", h.NS, "-o", "link", "show", h.Iface).CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "state" && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Fatalf("no state in %q", out)
	return ""
}

// ticker streams small numbered messages from one host to another over
// TCP and counts what arrives.
type ticker struct {
	got  atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

func startTicker(t *testing.T, from, to *Host) *ticker {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.IPv4, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if err := from.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	tk := &ticker{stop: make(chan struct{})}
	tk.wg.Add(2)
	go func() { // sender: a message every 2 ms; the kernel buffers during cuts
		defer tk.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tk.stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("tick\n")); err != nil {
					return
				}
			}
		}
	}()
	go func() {
		defer tk.wg.Done()
		r := bufio.NewReader(srv)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			tk.got.Add(1)
		}
	}()
	t.Cleanup(func() {
		close(tk.stop)
		c.Close()
		srv.Close()
		tk.wg.Wait()
	})
	return tk
}

// flowing waits until messages arrive.
func (tk *ticker) flowing(t *testing.T, what string) {
	t.Helper()
	n := tk.got.Load()
	testutil.WaitFor(t, 15*time.Second, what, func() bool { return tk.got.Load() > n+5 })
}

// stopped checks that messages stop arriving: within 2 s the count stays
// still for 300 ms, and then for another 700 ms.
func (tk *ticker) stopped(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	n, since := tk.got.Load(), time.Now()
	for time.Since(since) < 300*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("%s: messages keep arriving", what)
		}
		time.Sleep(5 * time.Millisecond)
		if m := tk.got.Load(); m != n {
			n, since = m, time.Now()
		}
	}
	hold := time.Now().Add(700 * time.Millisecond)
	for time.Now().Before(hold) {
		if m := tk.got.Load(); m != n {
			t.Fatalf("%s: %d messages arrived after a quiet 300 ms", what, m-n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetLinkSilent(t *testing.T) {
	t.Parallel()
	l := New(t, Options{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	tk := startTicker(t, h1, h2)
	tk.flowing(t, "messages before the cut")

	if err := h1.SetLinkSilent(true); err != nil {
		t.Fatal(err)
	}
	if err := l.inSwitch(func() error {
		st, err := bridgePortStates()
		if err == nil && st["h1"] != bridgeDisabled {
			err = fmt.Errorf("port h1 in state %d, want disabled", st["h1"])
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if s := operstate(t, h1); s != "UP" {
		t.Errorf("silent cut: h1's lan0 is %s, want UP", s)
	}
	tk.stopped(t, "silent cut")
	if s := operstate(t, h1); s != "UP" {
		t.Errorf("silent cut: h1's lan0 went %s, want UP", s)
	}
	if err := h1.SetLinkSilent(false); err != nil {
		t.Fatal(err)
	}
	tk.flowing(t, "messages after healing the silent cut")

	// The carrier cut is unchanged: the host sees its link go down.
	if err := h1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	if s := operstate(t, h1); s == "UP" {
		t.Errorf("carrier cut: h1's lan0 is %s, want not UP", s)
	}
	tk.stopped(t, "carrier cut")
	// While the carrier is cut, the port's state is the kernel's.
	if err := h1.SetLinkSilent(true); err == nil || !strings.Contains(err.Error(), "SetLink(false)") {
		t.Errorf("SetLinkSilent(true) during a carrier cut: %v, want an error pointing at SetLink(false)", err)
	}
	if err := h1.SetLink(true); err != nil {
		t.Fatal(err)
	}
	tk.flowing(t, "messages after healing the carrier cut")

	// SetLink(true) heals a silent cut too.
	if err := h1.SetLinkSilent(true); err != nil {
		t.Fatal(err)
	}
	tk.stopped(t, "second silent cut")
	if err := h1.SetLink(true); err != nil {
		t.Fatal(err)
	}
	tk.flowing(t, "messages after SetLink(true) on a silent cut")
}

// queueGoroutines counts goroutines running the queue consumer.
func queueGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			c := 0
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "netlab.(*nfQueue)") {
					c++
				}
			}
			return c
		}
		buf = make([]byte, 2*len(buf))
	}
}

// mangleRules lists the NFQUEUE rules of the switch namespace, IPv4 and
// IPv6 together.
func mangleRules(t *testing.T, l *Lab) string {
	t.Helper()
	var b strings.Builder
	for _, tool := range []string{"iptables", "ip6tables"} {
		out, err := exec.Command("ip", "netns", "exec", l.SwitchNS, tool, "-w", "-t", "mangle", "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -S: %v: %s", tool, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "NFQUEUE") {
				b.WriteString(tool + ": " + line + "\n")
			}
		}
	}
	return b.String()
}

func clsactOn(t *testing.T, l *Lab, port string) bool {
	t.Helper()
	out, err := exec.Command("tc", "-n", l.SwitchNS, "qdisc", "show", "dev", port).CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show: %v: %s", err, out)
	}
	return strings.Contains(string(out), "clsact")
}

// Not parallel: it counts the process's queue goroutines and sockets,
// which only its own lab may have while it runs.
func TestImpairTeardown(t *testing.T) {
	if n := liveQueues.Load(); n != 0 {
		t.Fatalf("%d queues open before the test", n)
	}
	l := New(t, Options{Hosts: 2, Subnets: 2})
	h1, h2, r := l.Hosts[0], l.Hosts[1], l.Router
	port := startEchoServer(t, h2)
	impair(t, h1, Impairment{Loss: 0.01, Delay: 5 * time.Millisecond, Direction: BothWays})
	impair(t, h2, Impairment{Delay: 5 * time.Millisecond})
	impair(t, r, Impairment{Jitter: time.Millisecond, Direction: ToHost})
	// No tight upper bound: a SYN lost to the 1% loss costs a second.
	checkRTT(t, "across the router, all impaired", h1, netip.AddrPortFrom(h2.IPv4, port), 15*time.Millisecond-time.Millisecond, 30*time.Second)
	if n := liveQueues.Load(); n != 3 {
		t.Errorf("%d queues open, want 3", n)
	}
	if n := queueGoroutines(); n != 6 {
		t.Errorf("%d queue goroutines, want 6", n)
	}
	rules := mangleRules(t, l)
	for _, want := range []string{"--physdev-in h1", "--physdev-out h1", "--physdev-in h2", "--physdev-out r1", "--physdev-out r2"} {
		if strings.Count(rules, want) != 2 {
			t.Errorf("rules lack %q for IPv4 and IPv6:\n%s", want, rules)
		}
	}
	if !clsactOn(t, l, "h1") || clsactOn(t, l, "h2") {
		t.Errorf("clsact on h1 %v, on h2 %v; want true, false", clsactOn(t, l, "h1"), clsactOn(t, l, "h2"))
	}

	// Clearing removes everything of that host, and only that.
	clearImpairment(t, h2)
	clearImpairment(t, h2) // idempotent
	rules = mangleRules(t, l)
	if strings.Contains(rules, "h2") || !strings.Contains(rules, "h1") {
		t.Errorf("after clearing h2, rules:\n%s", rules)
	}
	if err := l.inSwitch(func() error {
		st, err := nfQueueStats()
		if _, ok := st[int(h2.queueNum())]; ok {
			t.Errorf("queue %d still bound after clearing h2: %+v", h2.queueNum(), st)
		}
		if _, ok := st[int(h1.queueNum())]; !ok {
			t.Errorf("queue %d of h1 gone: %+v", h1.queueNum(), st)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := liveQueues.Load(); n != 2 {
		t.Errorf("%d queues open, want 2", n)
	}

	// Replacing: loss only, no queue.
	impair(t, h1, Impairment{Loss: 0.5})
	if rules := mangleRules(t, l); strings.Contains(rules, "h1") || !clsactOn(t, l, "h1") {
		t.Errorf("after Impair(loss only): clsact %v, rules:\n%s", clsactOn(t, l, "h1"), rules)
	}
	impair(t, h1, Impairment{Delay: time.Millisecond})
	if clsactOn(t, l, "h1") {
		t.Error("Impair(delay only) left the loss filter")
	}

	// Close with impairments in place.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := liveQueues.Load(); n != 0 {
		t.Errorf("%d queues open after Close", n)
	}
	// A goroutine that has signalled its end may take a moment to be
	// gone (goleak retries too).
	testutil.WaitFor(t, 5*time.Second, "queue goroutines to end after Close", func() bool { return queueGoroutines() == 0 })
	if list := ipNetnsList(t); strings.Contains(list, l.ID+"-") {
		t.Errorf("after Close, ip netns list still shows the lab:\n%s", list)
	}
	for _, err := range []error{
		h1.Impair(Impairment{Loss: 0.1}), h1.ClearImpairment(), r.ClearImpairment(), h1.SetLinkSilent(true),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
}
