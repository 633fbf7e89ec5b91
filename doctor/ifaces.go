package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// interfaceFindings reports every interface: chosen (with its addresses)
// or skipped and why; skips the user can fix are warnings, and no chosen
// interface at all fails.
func interfaceFindings(choices []netutil.IfaceChoice, named []string) []Finding {
	var out []Finding
	chosen := 0
	var fixable []netutil.IfaceChoice
	for _, ch := range choices {
		name := ch.Candidate.Interface.Name
		f := Finding{Check: "interface " + name, Status: OK}
		switch {
		case ch.Chosen:
			chosen++
			f.Detail = "used for discovery: " + addrList(ch.Iface)
		case ch.Fixable:
			f.Status = Warn
			f.Detail = "skipped: " + ch.Reason
			f.Fix = ifaceFix(name, ch.Reason)
			fixable = append(fixable, ch)
		default:
			f.Detail = "skipped: " + ch.Reason
		}
		out = append(out, f)
	}
	if chosen == 0 {
		f := Finding{Check: "interfaces", Status: Fail, Detail: "no network interface is usable for LAN discovery"}
		var why, fixes []string
		for _, ch := range fixable {
			why = append(why, ch.Candidate.Interface.Name+": "+ch.Reason)
			fixes = append(fixes, ifaceFix(ch.Candidate.Interface.Name, ch.Reason))
		}
		if len(why) > 0 {
			f.Detail += " (" + strings.Join(why, "; ") + ")"
			f.Fix = strings.Join(fixes, "; ")
		} else if len(named) > 0 {
			f.Fix = "check the --interface names (ip link shows them)"
		} else {
			f.Fix = "connect to the LAN (cable or Wi-Fi); a container or VPN interface is used only when named with --interface"
		}
		// Each fixable interface already says its own fix: make them fail.
		for i := range out {
			if out[i].Status == Warn {
				out[i].Status = Fail
			}
		}
		out = append(out, f)
	}
	return out
}

func addrList(i netutil.Iface) string {
	var parts []string
	for _, a := range i.Addrs() {
		parts = append(parts, a.String())
	}
	if len(parts) == 0 {
		return "no address"
	}
	s := strings.Join(parts, ", ")
	if i.Flags&net.FlagMulticast == 0 && i.Flags&net.FlagLoopback != 0 {
		s += " (loopback)"
	}
	return s
}

// ifaceFix is the command that fixes a skip reason on Linux, or words.
func ifaceFix(name, reason string) string {
	switch reason {
	case netutil.ReasonDown:
		return fmt.Sprintf("bring it up: ip link set dev %s up", name)
	case netutil.ReasonNoCarrier:
		return "plug the cable in, or connect the Wi-Fi"
	case netutil.ReasonNoMulticast:
		return fmt.Sprintf("switch multicast on: ip link set dev %s multicast on", name)
	case netutil.ReasonNoAddress:
		return "give it an address (DHCP, or ip addr add)"
	case netutil.ReasonUnknownByName:
		return "name an interface that exists (ip link lists them)"
	}
	return ""
}

// routeFindings checks, on each chosen interface with IPv4, where the
// kernel routes the beacon group for programs that do not pick an
// interface, and whether the group is joined there (after listen joined
// it, see groupFindings). lanlobby picks each interface itself, so a route
// elsewhere only warns.
func routeFindings(ifaces []netutil.Iface, p ports) []Finding {
	group := netip.MustParseAddr(beacon.DefaultGroupIPv4)
	routes, err := readRoutes()
	if err != nil {
		return []Finding{{Check: "multicast route", Status: Warn, Detail: "cannot read the routing table: " + err.Error()}}
	}
	best, ok := routeFor(routes, group)
	var out []Finding
	for _, i := range ifaces {
		if !i.HasIPv4() || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		f := Finding{Check: "multicast route " + i.Name, Status: OK}
		switch {
		case !ok:
			f.Status = Warn
			f.Detail = fmt.Sprintf("no route covers %v: lanlobby sends on %s anyway (it names the interface), other programs' multicast may fail", group, i.Name)
			f.Fix = fmt.Sprintf("ip route add 224.0.0.0/4 dev %s", i.Name)
		case best.Iface == i.Name:
			f.Detail = fmt.Sprintf("%v is routed via %s (%s)", group, i.Name, best.Prefix)
		default:
			f.Status = Warn
			f.Detail = fmt.Sprintf("%v is routed via %s (%s), not %s: lanlobby sends on each interface itself, but other programs' multicast (and some games) go to %s", group, best.Iface, best.Prefix, i.Name, best.Iface)
			f.Fix = fmt.Sprintf("if %s is a VPN or virtual adapter, route multicast to the LAN: ip route add 224.0.0.0/4 dev %s", best.Iface, i.Name)
		}
		out = append(out, f)
	}
	return out
}

// route is one IPv4 route: a prefix via an interface.
type route struct {
	Prefix netip.Prefix
	Iface  string
	Metric int
}

// routeFor is the longest-prefix match for a (lowest metric on ties).
func routeFor(routes []route, a netip.Addr) (route, bool) {
	var best route
	found := false
	for _, r := range routes {
		if !r.Prefix.Contains(a) {
			continue
		}
		if !found || r.Prefix.Bits() > best.Prefix.Bits() || (r.Prefix.Bits() == best.Prefix.Bits() && r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	return best, found
}
