package netlab

// Fault injection: lossy, slow and silently cut cables.
//
// Every fault acts on the SWITCH side of a host's cable, in the lab's
// switch namespace, never in the host's own stack: the host's sends always
// succeed (no EPERM or ENOBUFS from a local qdisc or firewall), and its
// frames then get lost or delayed on the way, like on a bad cable.
//
// What this needs from the kernel, and why these mechanisms: the machines
// this was written on (Debian 12 userland, kernel 6.18 with everything
// built in, no modules) have no sch_netem, the usual tool, and no nft
// `queue` expression (CONFIG_NFT_QUEUE unset). They have clsact, cls_bpf,
// br_netfilter (CONFIG_BRIDGE_NETFILTER=y), nfnetlink_queue, the xtables
// physdev match and NFQUEUE target, and nft_compat, so Debian's iptables
// (iptables-nft) can use those xtables extensions. (Routing frames
// through an ifb with tc mirred would not help: something must still hold
// them back, and without netem only a userspace queue can.) Hence:
//
//   - Loss: a clsact qdisc on the bridge port with a 4-instruction classic
//     BPF program in direct-action mode, "ld rand; if A >= p*2^32 return
//     TC_ACT_OK; return TC_ACT_SHOT", on the port's ingress hook for frames
//     from the host and on its egress hook for frames to the host. It runs
//     in the kernel, per frame, and hits every protocol, ARP included (a
//     lossy cable does not spare ARP; ARP retries, as it must on a real
//     one).
//   - Delay and jitter: br_netfilter makes bridged IPv4 and IPv6 packets
//     traverse iptables/ip6tables in the switch namespace. Rules in the
//     mangle table send the host's packets to a netfilter queue,
//     PREROUTING "-m physdev --physdev-in hK" for frames from the host and
//     FORWARD "-m physdev --physdev-out hK --physdev-is-bridged" for frames
//     to it (the bridge's decision is known only there), with
//     --queue-bypass so that traffic flows undelayed rather than dies if no
//     consumer is bound. The consumer is in this package (nfqueue.go):
//     goroutines of the test process holding a netlink socket opened in the
//     switch namespace, which give each packet its NF_ACCEPT after delay ±
//     jitter. ARP is not IP and is never queued, so it is never delayed.
//   - Silent cut: the bridge port's STP state set to disabled over
//     rtnetlink (what `bridge link set dev hK state 0` does): the host's
//     lan0 stays up with carrier, and its frames vanish both ways.
//
// A whole TSO/GSO burst (up to 64 KB of TCP, built by the sender's stack
// and passed as one buffer through veth and bridge) would be dropped by
// the loss filter as one unit, which no cable does. So the first Impair in
// a lab sets gso_max_segs 1 on every host's and the router's lab
// interfaces, for the rest of the lab's life: hosts then put MTU-sized
// frames on their cables, and loss is per frame. (The queue splits GSO
// buffers by itself.) This costs throughput only.
//
// Jitter reorders packets, as it does on real networks (netem too): a
// packet drawn a short delay overtakes one drawn a long delay. TCP copes
// (its duplicate-ACK and SACK machinery may retransmit needlessly, which
// is part of what jitter tests); applications over UDP see datagrams out
// of order. A delayed queue holds at most nfqMaxLen packets; past that the
// kernel drops them, as a switch with a full buffer would.
//
// Qdiscs and rules live in the switch namespace only, and die with it; the
// queue consumer stops at ClearImpairment or, through the lab's closers,
// at Close, so no goroutine or socket outlives the lab.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// faultsInstallHint tells how to get the tools Impair needs.
const faultsInstallHint = "run .ci/faults-install.sh as root (it installs Debian's iptables, and iproute2 if tc is missing)"

// Direction selects which way along a host's cable an Impairment acts.
type Direction uint8

const (
	// FromHost impairs the frames the host sends: ingress of its switch
	// port. It is what the zero Direction means.
	FromHost Direction = 1 << iota
	// ToHost impairs the frames sent to the host: egress of its switch
	// port.
	ToHost
	// BothWays is FromHost and ToHost: the whole cable.
	BothWays = FromHost | ToHost
)

func (d Direction) String() string {
	switch d {
	case 0, FromHost:
		return "from host"
	case ToHost:
		return "to host"
	case BothWays:
		return "both ways"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Impairment describes a bad cable. The zero value is a good one.
//
// Loss and delay add up along a path: a frame from h1 to h2 crosses h1's
// cable (FromHost of h1) and then h2's (ToHost of h2). So "10% loss and
// 50 ms each way between every pair of hosts" is either Direction
// BothWays with 5% and 25 ms on every host (each frame crosses two
// cables, ≈ 9.75% loss), or — simpler to reason about — Direction
// FromHost with 10% and 50 ms on every host: every frame then crosses
// exactly one impaired cable, its sender's, and a round trip crosses two
// (100 ms). Impairing one host BothWays gives that host, and only it, the
// same end-to-end figures with every other host.
type Impairment struct {
	// Loss is the probability, 0..1, that a frame is dropped. Each frame
	// draws independently (no bursts); every protocol is hit, ARP too.
	Loss float64
	// Delay is the added one-way delay of IPv4 and IPv6 packets. ARP is
	// not IP and is not delayed; IPv6 neighbour discovery is ICMPv6 and is,
	// so a first IPv6 exchange with a host whose link-layer address is not
	// cached yet takes one more round trip.
	Delay time.Duration
	// Jitter spreads the delay uniformly over Delay ± Jitter (a negative
	// result counts as 0). It reorders packets, as on real networks.
	Jitter time.Duration
	// Direction says which frames suffer; 0 means FromHost.
	Direction Direction
}

func (imp Impairment) validate() error {
	switch {
	case math.IsNaN(imp.Loss) || imp.Loss < 0 || imp.Loss > 1:
		return fmt.Errorf("netlab: Impairment.Loss = %v, want 0..1", imp.Loss)
	case imp.Delay < 0 || imp.Jitter < 0:
		return fmt.Errorf("netlab: Impairment delay %v ± %v: want non-negative durations", imp.Delay, imp.Jitter)
	case imp.Direction&^BothWays != 0:
		return fmt.Errorf("netlab: Impairment.Direction = %v, want FromHost, ToHost or BothWays", imp.Direction)
	}
	return nil
}

func (imp Impairment) delayed() bool { return imp.Delay > 0 || imp.Jitter > 0 }

func (imp Impairment) String() string {
	d := imp.Direction
	if d == 0 {
		d = FromHost
	}
	return fmt.Sprintf("loss %.4g%% delay %v ± %v %s", imp.Loss*100, imp.Delay, imp.Jitter, d)
}

// hostFaults is the fault state of one host; zero is "no fault".
type hostFaults struct {
	mu         sync.Mutex
	registered bool     // its teardown is among the lab's closers
	closed     bool     // the lab is gone: no more faults
	qdisc      bool     // clsact on every port of the host's cables
	rules      string   // iptables-restore body of the NFQUEUE rules in place
	queue      *nfQueue // the running consumer, if any
	imp        Impairment
}

// labFaults is the lab-wide part.
type labFaults struct {
	mu         sync.Mutex
	frameSized bool   // gso_max_segs 1 set on every host interface
	tc         string // the tools found by faultTools
	ipt, ip6t  string
}

// Impair makes h's cable lossy and/or slow in the direction(s) imp gives,
// on the switch side (see Impairment, and the top of faults.go for how).
// It replaces any previous impairment of h; the zero Impairment removes
// it, like ClearImpairment. For the router, it applies to all its cables.
//
// Loss needs iproute2's tc; delay and jitter also need iptables and
// ip6tables (Debian's iptables package): when they are missing, Impair
// fails with an error naming .ci/faults-install.sh. The impairment ends at
// ClearImpairment or at lab teardown, which stops the queue consumer's
// goroutines and closes its socket.
func (h *Host) Impair(imp Impairment) (err error) {
	if err := imp.validate(); err != nil {
		return err
	}
	if imp.Direction == 0 {
		imp.Direction = FromHost
	}
	hf := &h.faults
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if err := h.faultsOpenLocked(); err != nil {
		return err
	}
	if err := h.clearLocked(); err != nil {
		return err
	}
	if imp.Loss == 0 && !imp.delayed() {
		return nil
	}
	tools, err := h.lab.faultTools(imp.delayed())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("netlab: impairing %s (%v): %w", h.Name, imp, err), h.clearLocked())
		}
	}()
	if err := h.lab.frameSize(); err != nil {
		return err
	}
	if imp.Loss > 0 {
		if err := h.addLoss(tools.tc, imp); err != nil {
			return err
		}
	}
	if imp.delayed() {
		if err := h.addDelay(tools, imp); err != nil {
			return err
		}
	}
	hf.imp = imp
	return nil
}

// ClearImpairment removes h's impairment, if any: rules, queue and qdisc.
// Packets still held by the delay go on at once rather than being lost.
func (h *Host) ClearImpairment() error {
	hf := &h.faults
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if err := h.faultsOpenLocked(); err != nil {
		return err
	}
	return h.clearLocked()
}

// Impairment returns h's current impairment (the zero value when none).
func (h *Host) Impairment() Impairment {
	h.faults.mu.Lock()
	defer h.faults.mu.Unlock()
	return h.faults.imp
}

// ImpairStats counts what h's current impairment did since Impair.
type ImpairStats struct {
	// Frames is how many frames the loss filters saw and Dropped how many
	// of them they dropped, both directions and all of h's cables
	// together (the counters of the ports' clsact qdiscs). Both are 0
	// without loss.
	Frames, Dropped int64
	// Delayed is how many IP packets went through the delay queue, and
	// Overflow how many of those the kernel dropped because the queue was
	// full or could not notify the consumer. Both are 0 without delay.
	Delayed, Overflow int64
}

// ImpairStats reports the counters of h's current impairment.
func (h *Host) ImpairStats() (ImpairStats, error) {
	hf := &h.faults
	hf.mu.Lock()
	defer hf.mu.Unlock()
	var st ImpairStats
	if err := h.faultsOpenLocked(); err != nil {
		return st, err
	}
	if hf.qdisc {
		for _, p := range h.ports {
			out, err := h.lab.tcOutput("-s", "-j", "qdisc", "show", "dev", p)
			if err != nil {
				return st, err
			}
			var qs []struct {
				Kind    string `json:"kind"`
				Packets int64  `json:"packets"`
				Drops   int64  `json:"drops"`
			}
			if err := json.Unmarshal(out, &qs); err != nil {
				return st, fmt.Errorf("netlab: tc -j qdisc show dev %s: %w: %s", p, err, out)
			}
			for _, q := range qs {
				if q.Kind == "clsact" {
					st.Frames += q.Packets
					st.Dropped += q.Drops
				}
			}
		}
	}
	if q := hf.queue; q != nil {
		st.Delayed = q.queued.Load()
		err := inNetns(h.lab.SwitchNS, func() error {
			qs, err := nfQueueStats()
			k := qs[int(q.num)]
			st.Overflow = int64(k.Dropped + k.UserDropped)
			return err
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// SetLinkSilent cuts (true) or heals (false) h's cables silently: the
// switch ports' bridge state goes to disabled, so frames vanish both ways
// while the host's lan0 stays up, with carrier, and keeps its addresses —
// a dead switch port or a cable cut beyond the first hop, which the host
// cannot see, unlike SetLink(false), which takes its carrier away. Healing
// sets the ports forwarding again and returns once traffic flows. For the
// router all its cables switch together.
//
// The two cuts share the switch port: SetLink(true) heals both kinds, and
// SetLinkSilent fails while SetLink(false) holds the port down (the
// kernel refuses state changes of a port that is down): heal the carrier
// first. An impairment (Impair) stays in place across cuts.
func (h *Host) SetLinkSilent(cut bool) error {
	if h.lab.isClosed() {
		return ErrClosed
	}
	state := uint8(bridgeForwarding)
	if cut {
		state = bridgeDisabled
	}
	err := inNetns(h.lab.SwitchNS, func() error {
		for _, p := range h.ports {
			err := setBridgePortState(p, state)
			if errors.Is(err, unix.ENETDOWN) {
				err = fmt.Errorf("%w: the cable is cut with SetLink(false); heal it first", err)
			}
			if err != nil {
				return fmt.Errorf("netlab: SetLinkSilent(%v) on %s, port %s: %w", cut, h.Name, p, err)
			}
		}
		return nil
	})
	if err != nil || cut {
		return err
	}
	return h.waitReady()
}

// healSilentCut sets h's ports forwarding, for SetLink(true). Errors are
// of no interest: a port whose carrier is still coming up refuses
// (ENETDOWN), and the kernel sets it forwarding itself once up (STP is
// off).
func (h *Host) healSilentCut() {
	_ = inNetns(h.lab.SwitchNS, func() error {
		for _, p := range h.ports {
			_ = setBridgePortState(p, bridgeForwarding)
		}
		return nil
	})
}

// bridgeDisabled is BR_STATE_DISABLED from linux/if_bridge.h.
const bridgeDisabled = 0

// faultsOpenLocked registers h's fault teardown with the lab, once, or
// reports that the lab is closed.
func (h *Host) faultsOpenLocked() error {
	hf := &h.faults
	if hf.closed {
		return ErrClosed
	}
	if hf.registered {
		if h.lab.isClosed() {
			return ErrClosed
		}
		return nil
	}
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	// Closers run once the namespaces are gone, and with them every rule
	// and qdisc: what is left to do is to stop the consumer, whose socket
	// also keeps the dead switch namespace alive.
	l.closers = append(l.closers, func() error {
		hf.mu.Lock()
		defer hf.mu.Unlock()
		hf.closed = true
		if hf.queue != nil {
			hf.queue.close()
			hf.queue = nil
		}
		hf.qdisc, hf.rules, hf.imp = false, "", Impairment{}
		return nil
	})
	hf.registered = true
	return nil
}

// clearLocked undoes whatever Impair put in place; on errors it goes on
// with the rest.
func (h *Host) clearLocked() error {
	hf := &h.faults
	l := h.lab
	var errs []error
	if hf.rules != "" {
		// Rules first: nothing new gets queued, then the consumer lets
		// go of what it holds.
		errs = append(errs, l.iptablesRestore("-D", hf.rules))
		hf.rules = ""
	}
	if q := hf.queue; q != nil {
		q.startFlush()
		errs = append(errs, waitQueueEmpty(l.SwitchNS, q.num))
		q.close()
		hf.queue = nil
	}
	if hf.qdisc {
		var b strings.Builder
		for _, p := range h.ports {
			fmt.Fprintf(&b, "qdisc del dev %s clsact\n", p)
		}
		errs = append(errs, l.tcBatch(b.String()))
		hf.qdisc = false
	}
	hf.imp = Impairment{}
	return errors.Join(errs...)
}

// waitQueueEmpty waits (up to a second) until the kernel holds no packet
// of queue num any more: they have all had their verdicts.
func waitQueueEmpty(ns string, num uint16) error {
	deadline := time.Now().Add(time.Second)
	for {
		var waiting int
		err := inNetns(ns, func() error {
			st, err := nfQueueStats()
			waiting = st[int(num)].Waiting
			return err
		})
		if err != nil || waiting == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return nil // closing the queue drops the rest
		}
		time.Sleep(time.Millisecond)
	}
}

// addLoss installs the random-drop filters on h's ports.
func (h *Host) addLoss(tc string, imp Impairment) error {
	prog := lossProgram(imp.Loss)
	var b strings.Builder
	for _, p := range h.ports {
		fmt.Fprintf(&b, "qdisc add dev %s clsact\n", p)
		if imp.Direction&FromHost != 0 {
			fmt.Fprintf(&b, "filter add dev %s ingress pref 1 protocol all bpf da bytecode \"%s\"\n", p, prog)
		}
		if imp.Direction&ToHost != 0 {
			fmt.Fprintf(&b, "filter add dev %s egress pref 1 protocol all bpf da bytecode \"%s\"\n", p, prog)
		}
	}
	h.faults.qdisc = true // even if a later line failed: clear removes what is there
	return h.lab.tcBatch(b.String())
}

// lossProgram is the classic BPF program, in tc's "bytecode" syntax
// (count, then code jt jf k per instruction), that drops a frame with
// probability p: load the kernel's per-packet random number
// (SKF_AD_OFF + SKF_AD_RANDOM), return TC_ACT_OK (0) if it is >= p·2^32,
// else TC_ACT_SHOT (2).
func lossProgram(p float64) string {
	if p >= 1 {
		return "1,6 0 0 2"
	}
	const (
		ldAbsW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jgeK     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		retK     = unix.BPF_RET | unix.BPF_K
		adRandom = 0xfffff000 + 56 // SKF_AD_OFF + SKF_AD_RANDOM, as uint32
	)
	w := uint64(math.Round(p * (1 << 32)))
	w = min(w, math.MaxUint32)
	return fmt.Sprintf("4,%d 0 0 %d,%d 0 1 %d,%d 0 0 0,%d 0 0 2", ldAbsW, uint32(adRandom), jgeK, w, retK, retK)
}

// addDelay starts h's queue consumer, then the rules that feed it.
func (h *Host) addDelay(tools faultTools, imp Impairment) error {
	l := h.lab
	if err := l.bridgeNetfilter(tools.modprobe); err != nil {
		return err
	}
	var fromH, toH dirDelay
	if imp.Direction&FromHost != 0 {
		fromH = dirDelay{imp.Delay, imp.Jitter}
	}
	if imp.Direction&ToHost != 0 {
		toH = dirDelay{imp.Delay, imp.Jitter}
	}
	num := h.queueNum()
	q, err := startNFQueue(l.SwitchNS, num, fromH, toH)
	if err != nil {
		return err
	}
	h.faults.queue = q
	var b strings.Builder
	for _, p := range h.ports {
		if imp.Direction&FromHost != 0 {
			fmt.Fprintf(&b, "-A PREROUTING -m physdev --physdev-in %s -j NFQUEUE --queue-num %d --queue-bypass\n", p, num)
		}
		if imp.Direction&ToHost != 0 {
			fmt.Fprintf(&b, "-A FORWARD -m physdev --physdev-out %s --physdev-is-bridged -j NFQUEUE --queue-num %d --queue-bypass\n", p, num)
		}
	}
	if err := l.iptablesRestore("-A", b.String()); err != nil {
		// One family may have gone in: remove whatever is there.
		_ = l.iptablesRestore("-D", b.String())
		return err
	}
	h.faults.rules = b.String()
	return nil
}

// queueNum is h's netfilter queue in the switch namespace: K for host K,
// MaxHosts+1 for the router.
func (h *Host) queueNum() uint16 {
	if h == h.lab.Router {
		return MaxHosts + 1
	}
	var k uint16
	fmt.Sscanf(h.Name, "h%d", &k)
	return k
}

// faultTools are the programs Impair runs.
type faultTools struct {
	tc, iptables, ip6tables, modprobe string
}

// faultTools finds tc and, when delay is asked for, iptables-restore and
// ip6tables-restore.
func (l *Lab) faultTools(delay bool) (faultTools, error) {
	var t faultTools
	var missing []string
	var err error
	if t.tc, err = lookPathSbin("tc"); err != nil {
		missing = append(missing, "tc (iproute2)")
	}
	if delay {
		if t.iptables, err = lookPathSbin("iptables-restore"); err != nil {
			missing = append(missing, "iptables-restore (iptables)")
		}
		if t.ip6tables, err = lookPathSbin("ip6tables-restore"); err != nil {
			missing = append(missing, "ip6tables-restore (iptables)")
		}
		t.modprobe, _ = lookPathSbin("modprobe") // only if br_netfilter is a module
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("netlab: Impair needs %s, not found: %s", strings.Join(missing, ", "), faultsInstallHint)
	}
	l.faults.mu.Lock()
	l.faults.tc, l.faults.ipt, l.faults.ip6t = t.tc, t.iptables, t.ip6tables
	l.faults.mu.Unlock()
	return t, nil
}

// frameSize sets gso_max_segs 1 on every lab interface of every host and
// of the router, once per lab (see the top of the file: loss per frame,
// not per 64 KB buffer).
func (l *Lab) frameSize() error {
	l.faults.mu.Lock()
	defer l.faults.mu.Unlock()
	if l.faults.frameSized {
		return nil
	}
	for _, h := range l.all() {
		var b strings.Builder
		for _, ifc := range h.ifaces {
			fmt.Fprintf(&b, "link set %s gso_max_segs 1\n", ifc)
		}
		if err := l.ip(h.NS, b.String()); err != nil {
			return err
		}
	}
	l.faults.frameSized = true
	return nil
}

// bridgeNetfilter makes bridged IP packets in the switch namespace
// traverse iptables and ip6tables. br_netfilter is built into the kernels
// this was written on; where it is a module, modprobe loads it.
func (l *Lab) bridgeNetfilter(modprobe string) error {
	const dir = "/proc/sys/net/bridge"
	present := func() (ok bool, err error) {
		err = inNetns(l.SwitchNS, func() error {
			_, serr := os.Stat(dir)
			ok = serr == nil
			return nil
		})
		return ok, err
	}
	ok, err := present()
	if err != nil {
		return err
	}
	if !ok && modprobe != "" {
		out, merr := exec.Command(modprobe, "br_netfilter").CombinedOutput()
		if ok, err = present(); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("netlab: delay needs br_netfilter, and modprobe br_netfilter failed: %v: %s", merr, bytes.TrimSpace(out))
		}
	}
	if !ok {
		return fmt.Errorf("netlab: delay needs br_netfilter (%s missing in the switch namespace, and no modprobe)", dir)
	}
	return setSysctls(l.SwitchNS,
		"bridge/bridge-nf-call-iptables", "1",
		"bridge/bridge-nf-call-ip6tables", "1")
}

// iptablesRestore adds (-A) or deletes (-D) rules of the mangle table in
// the switch namespace, for IPv4 and IPv6 alike. body holds "-A CHAIN ..."
// lines; for -D they are turned into deletions. Both families are tried.
func (l *Lab) iptablesRestore(op, body string) error {
	if op == "-D" {
		body = strings.ReplaceAll(body, "-A ", "-D ")
	}
	l.faults.mu.Lock()
	tools := []string{l.faults.ipt, l.faults.ip6t}
	l.faults.mu.Unlock()
	var errs []error
	for _, tool := range tools {
		cmd := exec.Command(l.ipPath, "netns", "exec", l.SwitchNS, tool, "-w", "--noflush")
		cmd.Stdin = strings.NewReader("*mangle\n" + body + "COMMIT\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s in %s: %v: %s\ninput:\n%s", tool, op, l.SwitchNS, err, bytes.TrimSpace(out), body))
		}
	}
	return errors.Join(errs...)
}

// tcCommand returns a tc command for the switch namespace.
func (l *Lab) tcCommand(args ...string) (*exec.Cmd, error) {
	l.faults.mu.Lock()
	tc := l.faults.tc
	l.faults.mu.Unlock()
	if tc == "" {
		var err error
		if tc, err = lookPathSbin("tc"); err != nil {
			return nil, fmt.Errorf("netlab: tc not found: %s", faultsInstallHint)
		}
	}
	return exec.Command(tc, append([]string{"-n", l.SwitchNS}, args...)...), nil
}

// tcBatch runs one `tc -batch` in the switch namespace.
func (l *Lab) tcBatch(batch string) error {
	cmd, err := l.tcCommand("-batch", "-")
	if err != nil {
		return err
	}
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tc -n %s -batch: %v: %s\nbatch:\n%s", l.SwitchNS, err, bytes.TrimSpace(out), batch)
	}
	return nil
}

// tcOutput runs tc in the switch namespace and returns its stdout.
func (l *Lab) tcOutput(args ...string) ([]byte, error) {
	cmd, err := l.tcCommand(args...)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tc -n %s %s: %v: %s", l.SwitchNS, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// setBridgePortState sets the STP state of a bridge port of the current
// namespace, as `bridge link set dev PORT state N` does: RTM_SETLINK,
// family AF_BRIDGE, IFLA_PROTINFO { IFLA_BRPORT_STATE }.
func setBridgePortState(port string, state uint8) error {
	ifi, err := net.InterfaceByName(port)
	if err != nil {
		return err
	}
	body := make([]byte, unix.SizeofIfInfomsg) // struct ifinfomsg
	body[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(body[4:8], uint32(ifi.Index))
	state4 := nlAttr(unix.IFLA_BRPORT_STATE, []byte{state})
	body = append(body, nlAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, state4)...)
	return rtnlRequest(unix.RTM_SETLINK, body)
}

// rtnlRequest sends one rtnetlink request, from a socket of the current
// thread's namespace, and waits for its acknowledgement.
func rtnlRequest(typ uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	const seq = 1
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, typ)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	msg = binary.NativeEndian.AppendUint32(msg, seq)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq == seq && len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return syscall.Errno(-e)
				}
				return nil
			}
		}
	}
}
