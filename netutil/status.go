package netutil

import (
	"net/netip"
	"slices"
	"strings"
)

// IfaceStatus is the network a long-running component uses, as found by
// SelectAvailable: the interfaces in use now and why anything asked for
// is missing. Components report it (their Interfaces method) so that a
// program can tell its user "no usable network interface yet" instead of
// failing: a laptop before its Wi-Fi connects, a host whose only
// interface is lo.
type IfaceStatus struct {
	// Ifaces are the interfaces in use, with their addresses.
	Ifaces []Iface
	// Missing is nil when everything asked for is in use. Otherwise it
	// wraps ErrNoInterfaces (the automatic choice found nothing), or, for
	// interfaces named in IfaceOptions.Names, ErrUnusableInterface (down,
	// no multicast, no address yet) or ErrUnknownInterface (no such
	// interface), each naming the interface; several are joined.
	Missing error
}

// Names returns the names of the interfaces in use.
func (s IfaceStatus) Names() []string {
	out := make([]string, 0, len(s.Ifaces))
	for _, i := range s.Ifaces {
		out = append(out, i.Name)
	}
	return out
}

// Waiting reports whether there is no usable interface: the component
// runs, and starts using the network as soon as one appears.
func (s IfaceStatus) Waiting() bool { return len(s.Ifaces) == 0 }

// String describes the status for a log or a user: "lan0 (198.18.1.1,
// fe80::1)", or "no usable network interface yet: ..." while waiting.
func (s IfaceStatus) String() string {
	var b strings.Builder
	if s.Waiting() {
		b.WriteString("no usable network interface yet")
	}
	for k, i := range s.Ifaces {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(i.Name)
		b.WriteString(" (")
		for n, a := range i.Addrs() {
			if n > 0 {
				b.WriteString(" ")
			}
			b.WriteString(a.String())
		}
		b.WriteString(")")
	}
	if s.Missing != nil {
		b.WriteString("; ")
		b.WriteString(strings.ReplaceAll(s.Missing.Error(), "\n", "; "))
	}
	return b.String()
}

// IfaceChange is one difference between two interface lists (DiffIfaces):
// an interface added (Old is zero), removed (New is zero), or changed in
// its addresses or flags (both set), matched by index.
type IfaceChange struct {
	Old, New Iface
}

// Added reports whether the interface is new.
func (c IfaceChange) Added() bool { return c.Old.Index == 0 }

// Removed reports whether the interface is gone.
func (c IfaceChange) Removed() bool { return c.New.Index == 0 }

// Lost returns the addresses the interface had and no longer has (all of
// them when it was removed).
func (c IfaceChange) Lost() []netip.Addr {
	var out []netip.Addr
	for _, a := range c.Old.Addrs() {
		if !slices.Contains(c.New.Addrs(), a) {
			out = append(out, a)
		}
	}
	return out
}

// Gained returns the addresses the interface has and did not have (all
// of them when it was added).
func (c IfaceChange) Gained() []netip.Addr {
	var out []netip.Addr
	for _, a := range c.New.Addrs() {
		if !slices.Contains(c.Old.Addrs(), a) {
			out = append(out, a)
		}
	}
	return out
}

// DiffIfaces returns what changed from old to new: interfaces added,
// removed, or with other addresses, flags (a link that regained its
// carrier is "changed": the network behind it may be another one), name
// or MTU. It is pure.
func DiffIfaces(old, new []Iface) []IfaceChange {
	var out []IfaceChange
	for _, o := range old {
		if !slices.ContainsFunc(new, func(n Iface) bool { return n.Index == o.Index }) {
			out = append(out, IfaceChange{Old: o})
		}
	}
	for _, n := range new {
		i := slices.IndexFunc(old, func(o Iface) bool { return o.Index == n.Index })
		switch {
		case i < 0:
			out = append(out, IfaceChange{New: n})
		case !sameIface(old[i], n):
			out = append(out, IfaceChange{Old: old[i], New: n})
		}
	}
	return out
}

func sameIface(a, b Iface) bool {
	return a.Name == b.Name && a.Flags == b.Flags && a.MTU == b.MTU && slices.Equal(a.Prefixes, b.Prefixes)
}
