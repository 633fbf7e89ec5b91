package netutil

import (
	"net"
	"slices"
	"strings"
)

// IfaceChoice is one interface of the machine and what the interface
// policy made of it: Chosen, or the reason it was skipped. Diagnostics
// (lanlobby doctor) print it, so a user learns why an interface was left
// out: the reasons come from the same rule SelectAvailable applies.
type IfaceChoice struct {
	Candidate Candidate
	Iface     Iface // the interface as used, when Chosen
	Chosen    bool
	// Reason says why it was skipped ("" when chosen), in words a user
	// understands: "down", "no multicast", "a container or VPN interface".
	Reason string
	// Fixable is set when the user can change the reason (a link down,
	// multicast off, no address), as opposed to a deliberate skip (a
	// container bridge, loopback, a point-to-point tunnel).
	Fixable bool
}

// Skip reasons of ExplainInterfaces.
const (
	ReasonDown          = "down"
	ReasonNoCarrier     = "up but no link (cable out, or Wi-Fi not connected)"
	ReasonLoopback      = "loopback (only this machine)"
	ReasonNoMulticast   = "multicast is switched off on it"
	ReasonPointToPoint  = "a point-to-point link (most VPN tunnels): no multicast neighbours"
	ReasonVirtual       = "a container, VM or VPN interface, by its name (--interface picks it anyway)"
	ReasonNoAddress     = "no IPv4 or IPv6 address"
	ReasonNotNamed      = "not among the --interface names"
	ReasonUnknownByName = "no such interface"
)

// skipReason applies the automatic choice to one candidate: "" when it
// qualifies, else why not.
func skipReason(c Candidate, opts IfaceOptions) string {
	ifi := c.Interface
	loop := ifi.Flags&net.FlagLoopback != 0
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return ReasonDown
	case ifi.Flags&net.FlagRunning == 0: // up but no link: a cable out, Wi-Fi not associated
		return ReasonNoCarrier
	case loop && !opts.Loopback:
		return ReasonLoopback
	case !loop && ifi.Flags&net.FlagMulticast == 0:
		return ReasonNoMulticast
	case ifi.Flags&net.FlagPointToPoint != 0:
		return ReasonPointToPoint
	case IsVirtualName(ifi.Name):
		return ReasonVirtual
	case len(makeIface(c).Prefixes) == 0:
		return ReasonNoAddress
	}
	return ""
}

// fixable reports the skip reasons a user can change on the interface.
func fixable(reason string) bool {
	switch reason {
	case ReasonDown, ReasonNoCarrier, ReasonNoMulticast, ReasonNoAddress:
		return true
	}
	return false
}

// ExplainInterfaces applies the interface policy as SelectAvailable does
// and returns every candidate with the outcome. It is pure.
func ExplainInterfaces(cands []Candidate, opts IfaceOptions) []IfaceChoice {
	out := make([]IfaceChoice, 0, len(cands))
	if len(opts.Names) == 0 {
		for _, c := range cands {
			r := skipReason(c, opts)
			out = append(out, IfaceChoice{Candidate: c, Iface: makeIface(c), Chosen: r == "", Reason: r, Fixable: fixable(r)})
		}
		return out
	}
	st := selectNamed(cands, opts.Names)
	for _, c := range cands {
		ch := IfaceChoice{Candidate: c, Iface: makeIface(c), Reason: ReasonNotNamed}
		for _, i := range st.Ifaces {
			if i.Name == c.Interface.Name {
				ch.Chosen, ch.Reason = true, ""
			}
		}
		if !ch.Chosen {
			for _, err := range unjoin(st.Missing) {
				if strings.Contains(err.Error(), "\""+c.Interface.Name+"\"") {
					ch.Reason = namedReason(c, err)
					ch.Fixable = fixable(ch.Reason)
				}
			}
		}
		out = append(out, ch)
	}
	for _, name := range opts.Names {
		if !slices.ContainsFunc(cands, func(c Candidate) bool { return c.Interface.Name == name }) {
			out = append(out, IfaceChoice{Candidate: Candidate{Interface: net.Interface{Name: name}}, Reason: ReasonUnknownByName, Fixable: true})
		}
	}
	return out
}

// namedReason words why a named interface is unusable, with the
// automatic choice's reasons where they apply.
func namedReason(c Candidate, err error) string {
	flags := c.Interface.Flags
	switch {
	case flags&net.FlagUp == 0:
		return ReasonDown
	case flags&net.FlagRunning == 0:
		return ReasonNoCarrier
	case flags&(net.FlagMulticast|net.FlagLoopback) == 0:
		return ReasonNoMulticast
	case len(makeIface(c).Prefixes) == 0:
		return ReasonNoAddress
	}
	return err.Error()
}

// unjoin splits an errors.Join result.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
