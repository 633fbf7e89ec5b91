package netutil

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Errors returned by interface selection; callers branch on them with errors.Is.
var (
	// ErrNoInterfaces means no interface qualified: nothing to advertise on
	// or listen to.
	ErrNoInterfaces = errors.New("netutil: no usable multicast interface")
	// ErrUnknownInterface means an interface asked for by name does not exist.
	ErrUnknownInterface = errors.New("netutil: no such interface")
	// ErrUnusableInterface means an interface asked for by name exists but
	// cannot carry lanlobby traffic (down, no multicast, no address).
	ErrUnusableInterface = errors.New("netutil: interface unusable")
)

// virtualPrefixes are name prefixes of interfaces that are skipped by the
// automatic choice: container and VM bridges, the host ends of veth pairs,
// overlay networks and VPN tunnels. Announcing a lobby there is at best
// useless (only local containers or VMs listen) and at worst advertises an
// address no LAN player can reach. Naming such an interface in
// IfaceOptions.Names still selects it.
//
// Deliberately NOT listed: virtual LANs built for LAN gaming over the
// internet (ZeroTier "zt*", Hamachi "ham*"): they emulate Ethernet, carry
// multicast, and are exactly where players expect to find lobbies.
// Point-to-point links (most tun-based VPNs: OpenVPN tun, WireGuard,
// Tailscale, macOS utun) are excluded by their flag as well as by name.
var virtualPrefixes = []string{
	"docker", "br-", "veth", "virbr", "vnet", "lxcbr", "lxdbr", "podman",
	"cni", "flannel", "cali", "weave", "vxlan", "kube-", "genev",
	"tun", "utun", "wg", "tailscale",
	"awdl", "llw", "anpi", // macOS: AirDrop and low-latency WLAN links
	"vEthernet", // Windows: Hyper-V / WSL switches
}

// IsVirtualName reports whether name looks like a container, VM or VPN
// interface that the automatic choice skips (see virtualPrefixes).
func IsVirtualName(name string) bool {
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// IfaceOptions says which interfaces to use. The zero value is the automatic
// choice for a normal LAN host.
type IfaceOptions struct {
	// Names, when non-empty, lists exactly the interfaces to use (the
	// --interface flag) and replaces the automatic filter: a named virtual
	// or loopback interface is accepted. Each named interface must exist,
	// be up, support multicast (loopback is exempt) and have an address;
	// otherwise SelectInterfaces fails, because the user asked for it
	// explicitly. Long-running components (SelectAvailable) fail at start
	// only for a name that does not exist (a typo), and wait for one that
	// is down or has no address yet (Wi-Fi before it connects).
	Names []string
	// Loopback adds loopback interfaces to the automatic choice. Tests use
	// it inside network namespaces; Linux's "lo" lacks the multicast flag
	// but carries multicast when chosen as the outgoing interface.
	Loopback bool
}

// Candidate is one interface of the machine as seen by SelectInterfaces:
// the net.Interface and its addresses with prefix lengths.
type Candidate struct {
	Interface net.Interface
	Addrs     []netip.Prefix
}

// Iface is a chosen interface and the addresses lanlobby advertises on it.
// Every interface announces with its own addresses so a receiver always
// learns an address reachable over the link the packet came in on.
type Iface struct {
	Index int
	Name  string
	Flags net.Flags
	MTU   int
	// Prefixes holds the interface's usable addresses with their prefix
	// lengths, IPv4 first, then IPv6 global (including ULA), then IPv6
	// link-local; the machine's order is kept within each group.
	Prefixes []netip.Prefix
}

// Net returns the interface as a *net.Interface, as the x/net multicast
// calls want it.
func (i Iface) Net() *net.Interface {
	return &net.Interface{Index: i.Index, Name: i.Name, Flags: i.Flags, MTU: i.MTU}
}

// Addrs returns the advertised addresses in Prefixes order.
func (i Iface) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(i.Prefixes))
	for _, p := range i.Prefixes {
		out = append(out, p.Addr())
	}
	return out
}

// IPv4 returns the interface's IPv4 addresses.
func (i Iface) IPv4() []netip.Addr { return i.family(true) }

// IPv6 returns the interface's IPv6 addresses, global before link-local.
func (i Iface) IPv6() []netip.Addr { return i.family(false) }

func (i Iface) family(v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, p := range i.Prefixes {
		if p.Addr().Is4() == v4 {
			out = append(out, p.Addr())
		}
	}
	return out
}

// HasIPv4 reports whether the interface has an IPv4 address; IPv4
// multicast is only sent where it has one, else the kernel would pick a
// source address of another interface.
func (i Iface) HasIPv4() bool { return len(i.IPv4()) > 0 }

// HasIPv6 reports whether the interface has an IPv6 address (link-local
// counts).
func (i Iface) HasIPv6() bool { return len(i.IPv6()) > 0 }

// CarriesMulticast reports whether the interface carries a family's
// multicast: IPv4 where it has an IPv4 address; IPv6 where it has an IPv6
// address and the multicast flag (Linux installs the ff00::/8 route only
// there, so on "lo" sends fail with ENETUNREACH; IPv4 multicast works
// over "lo" regardless).
func (i Iface) CarriesMulticast(v4 bool) bool {
	if v4 {
		return i.HasIPv4()
	}
	return i.HasIPv6() && i.Flags&net.FlagMulticast != 0
}

// OnLink reports whether a is a neighbour reachable directly over this
// interface: inside one of its prefixes, or any IPv6 link-local address.
// Responders use it to answer only queries from the local link, so an
// off-link sender with a forged source cannot use them as an amplifier.
func (i Iface) OnLink(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() {
		return true
	}
	a = a.WithZone("")
	for _, p := range i.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// SelectInterfaces applies the interface policy to a snapshot of the
// machine's interfaces. It is pure: tests feed it invented interfaces.
//
// Automatic choice (opts.Names empty): up, multicast-capable, not
// point-to-point, not loopback unless opts.Loopback, not a virtual
// interface by name (IsVirtualName), and at least one usable address.
// The result keeps the candidates' order.
func SelectInterfaces(cands []Candidate, opts IfaceOptions) ([]Iface, error) {
	st := SelectAvailable(cands, opts)
	if st.Missing != nil {
		return nil, st.Missing
	}
	return st.Ifaces, nil
}

// SelectAvailable is SelectInterfaces for a component that keeps running
// while the network changes: it returns what is usable now, and in
// Missing why something asked for is not (see IfaceStatus). Unlike
// SelectInterfaces it does not give up on the named interfaces that are
// usable because another named one is not.
func SelectAvailable(cands []Candidate, opts IfaceOptions) IfaceStatus {
	if len(opts.Names) > 0 {
		return selectNamed(cands, opts.Names)
	}
	var out []Iface
	for _, c := range cands {
		if skipReason(c, opts) == "" {
			out = append(out, makeIface(c))
		}
	}
	if len(out) == 0 {
		return IfaceStatus{Missing: ErrNoInterfaces}
	}
	return IfaceStatus{Ifaces: out}
}

func selectNamed(cands []Candidate, names []string) IfaceStatus {
	var st IfaceStatus
	var missing []error
	for _, name := range names {
		if slices.ContainsFunc(st.Ifaces, func(i Iface) bool { return i.Name == name }) {
			continue
		}
		i := slices.IndexFunc(cands, func(c Candidate) bool { return c.Interface.Name == name })
		if i < 0 {
			missing = append(missing, fmt.Errorf("%w: %q", ErrUnknownInterface, name))
			continue
		}
		c := cands[i]
		flags := c.Interface.Flags
		switch {
		case flags&net.FlagUp == 0:
			missing = append(missing, fmt.Errorf("%w: %q is down", ErrUnusableInterface, name))
			continue
		case flags&net.FlagRunning == 0:
			missing = append(missing, fmt.Errorf("%w: %q has no link (cable out, or Wi-Fi not connected)", ErrUnusableInterface, name))
			continue
		case flags&(net.FlagMulticast|net.FlagLoopback) == 0:
			missing = append(missing, fmt.Errorf("%w: %q does not support multicast", ErrUnusableInterface, name))
			continue
		}
		it := makeIface(c)
		if len(it.Prefixes) == 0 {
			missing = append(missing, fmt.Errorf("%w: %q has no IPv4 or IPv6 address", ErrUnusableInterface, name))
			continue
		}
		st.Ifaces = append(st.Ifaces, it)
	}
	st.Missing = errors.Join(missing...)
	return st
}

// makeIface keeps the addresses worth advertising: IPv4 (169.254/16
// included: a LAN party without DHCP lives there), IPv6 global and
// link-local. Loopback addresses only on a loopback interface; never
// unspecified, multicast or IPv4-mapped IPv6 addresses. Zones are dropped:
// a zone names the receiver's interface, not the sender's.
func makeIface(c Candidate) Iface {
	ifi := c.Interface
	loop := ifi.Flags&net.FlagLoopback != 0
	var v4, v6g, v6ll []netip.Prefix
	for _, p := range c.Addrs {
		a := p.Addr().WithZone("")
		if a.Is4In6() || !p.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.IsLoopback() && !loop {
			continue
		}
		p = netip.PrefixFrom(a, p.Bits())
		switch {
		case a.Is4():
			v4 = append(v4, p)
		case a.IsLinkLocalUnicast():
			v6ll = append(v6ll, p)
		case a.IsGlobalUnicast() || a.IsLoopback():
			v6g = append(v6g, p)
		}
	}
	return Iface{
		Index:    ifi.Index,
		Name:     ifi.Name,
		Flags:    ifi.Flags,
		MTU:      ifi.MTU,
		Prefixes: slices.Concat(v4, v6g, v6ll),
	}
}

// Interfaces snapshots the machine's interfaces and applies
// SelectInterfaces. Interfaces are read once per call; long-running users
// call it again to notice a new network (see Watcher).
func Interfaces(opts IfaceOptions) ([]Iface, error) {
	cands, err := Candidates()
	if err != nil {
		return nil, err
	}
	return SelectInterfaces(cands, opts)
}

// LookupInterfaces snapshots the machine's interfaces and applies
// SelectAvailable. The error is only for a machine whose interfaces
// cannot be listed; what is missing is in the status.
//
// On Linux the snapshot is of the network namespace of the calling
// thread.
func LookupInterfaces(opts IfaceOptions) (IfaceStatus, error) {
	cands, err := Candidates()
	if err != nil {
		return IfaceStatus{}, err
	}
	return SelectAvailable(cands, opts), nil
}

// Candidates lists the machine's interfaces with their addresses.
func Candidates() ([]Candidate, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("netutil: list interfaces: %w", err)
	}
	cands := make([]Candidate, 0, len(ifis))
	for _, ifi := range ifis {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("netutil: addresses of %s: %w", ifi.Name, err)
		}
		c := Candidate{Interface: ifi}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if p, ok := prefixOf(ipn); ok {
					c.Addrs = append(c.Addrs, p)
				}
			}
		}
		cands = append(cands, c)
	}
	return cands, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if a.Is4() && bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones), true
}
