package netutil

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

const (
	up    = net.FlagUp | net.FlagRunning
	mcast = up | net.FlagMulticast | net.FlagBroadcast
)

func cand(idx int, name string, flags net.Flags, addrs ...string) Candidate {
	c := Candidate{Interface: net.Interface{Index: idx, Name: name, Flags: flags, MTU: 1500}}
	for _, a := range addrs {
		c.Addrs = append(c.Addrs, netip.MustParsePrefix(a))
	}
	return c
}

// machine is an invented host with one of everything.
var machine = []Candidate{
	cand(1, "lo", up|net.FlagLoopback, "127.0.0.1/8", "::1/128"),
	cand(2, "eth0", mcast, "fe80::1/64", "192.168.1.10/24", "2001:db8::10/64", "fd00::10/64"),
	cand(3, "wlan0", mcast&^net.FlagUp, "192.168.2.10/24"),
	cand(4, "docker0", mcast, "172.17.0.1/16"),
	cand(5, "br-1a2b3c", mcast, "172.18.0.1/16"),
	cand(6, "veth12ab", mcast, "fe80::2/64"),
	cand(7, "virbr0", mcast, "192.168.122.1/24"),
	cand(8, "tun0", up|net.FlagPointToPoint|net.FlagMulticast, "10.8.0.2/24"),
	cand(9, "wg0", up|net.FlagPointToPoint, "10.9.0.2/24"),
	cand(10, "ztabcdef", mcast, "10.147.17.5/24"),
	cand(11, "br0", mcast, "192.168.3.10/24"),
	cand(12, "cni0", mcast, "10.244.0.1/24"),
	cand(13, "flannel.1", mcast, "10.244.0.0/32"),
	cand(14, "eth1", mcast),
	cand(15, "ppp0", up|net.FlagPointToPoint|net.FlagMulticast, "100.64.0.2/32"),
	cand(16, "eth2", up|net.FlagBroadcast, "192.168.4.10/24"), // no multicast flag
	cand(17, "tailscale0", up|net.FlagMulticast, "100.100.1.1/32"),
	cand(18, "eth3", mcast, "0.0.0.0/0", "ff02::1/128", "::ffff:10.0.0.1/128", "127.0.0.2/8", "169.254.7.7/16"),
	cand(19, "eth4", mcast&^net.FlagRunning, "192.168.5.10/24"), // up, no carrier
}

func names(ifs []Iface) []string {
	var out []string
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	return out
}

func TestSelectInterfaces(t *testing.T) {
	tests := []struct {
		name  string
		cands []Candidate
		opts  IfaceOptions
		want  []string
		err   error
	}{
		{name: "automatic", cands: machine, want: []string{"eth0", "ztabcdef", "br0", "eth3"}},
		{name: "with loopback", cands: machine, opts: IfaceOptions{Loopback: true},
			want: []string{"lo", "eth0", "ztabcdef", "br0", "eth3"}},
		{name: "named virtual", cands: machine, opts: IfaceOptions{Names: []string{"docker0", "eth0"}},
			want: []string{"docker0", "eth0"}},
		{name: "named loopback", cands: machine, opts: IfaceOptions{Names: []string{"lo"}}, want: []string{"lo"}},
		{name: "named point-to-point", cands: machine, opts: IfaceOptions{Names: []string{"tun0"}}, want: []string{"tun0"}},
		{name: "named twice", cands: machine, opts: IfaceOptions{Names: []string{"eth0", "eth0"}}, want: []string{"eth0"}},
		{name: "named unknown", cands: machine, opts: IfaceOptions{Names: []string{"eth9"}}, err: ErrUnknownInterface},
		{name: "named down", cands: machine, opts: IfaceOptions{Names: []string{"wlan0"}}, err: ErrUnusableInterface},
		{name: "named without carrier", cands: machine, opts: IfaceOptions{Names: []string{"eth4"}}, err: ErrUnusableInterface},
		{name: "named no multicast", cands: machine, opts: IfaceOptions{Names: []string{"wg0"}}, err: ErrUnusableInterface},
		{name: "named no address", cands: machine, opts: IfaceOptions{Names: []string{"eth1"}}, err: ErrUnusableInterface},
		{name: "only virtual", cands: machine[3:9], err: ErrNoInterfaces},
		{name: "empty", err: ErrNoInterfaces},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectInterfaces(tt.cands, tt.opts)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if g := names(got); !slices.Equal(g, tt.want) {
				t.Fatalf("got %v, want %v", g, tt.want)
			}
		})
	}
}

func TestSelectInterfacesAddresses(t *testing.T) {
	got, err := SelectInterfaces(machine, IfaceOptions{Names: []string{"eth0", "eth3", "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		// IPv4 first, IPv6 global and ULA, link-local last.
		"eth0": {"192.168.1.10", "2001:db8::10", "fd00::10", "fe80::1"},
		// Unspecified, multicast, mapped and non-loopback 127/8 dropped;
		// IPv4 link-local kept.
		"eth3": {"169.254.7.7"},
		"lo":   {"127.0.0.1", "::1"},
	}
	for _, i := range got {
		var s []string
		for _, a := range i.Addrs() {
			s = append(s, a.String())
		}
		if !slices.Equal(s, want[i.Name]) {
			t.Errorf("%s: addrs %v, want %v", i.Name, s, want[i.Name])
		}
	}
	eth0 := got[0]
	if !eth0.HasIPv4() || !eth0.HasIPv6() || len(eth0.IPv4()) != 1 || len(eth0.IPv6()) != 3 {
		t.Errorf("eth0 families: v4 %v v6 %v", eth0.IPv4(), eth0.IPv6())
	}
	if n := eth0.Net(); n.Index != 2 || n.Name != "eth0" || n.Flags != mcast {
		t.Errorf("Net() = %+v", n)
	}
}

func TestIsVirtualName(t *testing.T) {
	for name, want := range map[string]bool{
		"docker0": true, "br-0123": true, "veth9": true, "virbr0": true, "vnet3": true,
		"tun0": true, "utun2": true, "wg0": true, "cni0": true, "flannel.1": true,
		"vxlan.calico": true, "cali123": true, "vEthernet (WSL)": true, "awdl0": true,
		"eth0": false, "enp3s0": false, "wlan0": false, "br0": false, "bond0": false,
		"ztabcdef": false, "ham0": false, "en0": false, "Ethernet": false,
	} {
		if got := IsVirtualName(name); got != want {
			t.Errorf("IsVirtualName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestOnLink(t *testing.T) {
	i := makeIface(machine[1]) // eth0
	for a, want := range map[string]bool{
		"192.168.1.77":       true,
		"192.168.2.77":       false,
		"8.8.8.8":            false,
		"2001:db8::99":       true,
		"2001:db9::99":       false,
		"fd00::1234":         true,
		"fe80::99%eth0":      true, // every link-local neighbour is on-link
		"::ffff:192.168.1.5": true,
	} {
		if got := i.OnLink(netip.MustParseAddr(a)); got != want {
			t.Errorf("OnLink(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestPrefixOf(t *testing.T) {
	for _, tt := range []struct {
		n    net.IPNet
		want string
	}{
		{net.IPNet{IP: net.IPv4(10, 1, 2, 3).To4(), Mask: net.CIDRMask(8, 32)}, "10.1.2.3/8"},
		{net.IPNet{IP: net.IPv4(10, 1, 2, 3), Mask: net.CIDRMask(120, 128)}, "10.1.2.3/24"},
		{net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)}, "fe80::1/64"},
	} {
		p, ok := prefixOf(&tt.n)
		if !ok || p.String() != tt.want {
			t.Errorf("prefixOf(%v) = %v %v, want %s", tt.n, p, ok, tt.want)
		}
	}
	if _, ok := prefixOf(&net.IPNet{IP: []byte{1, 2, 3}}); ok {
		t.Error("prefixOf accepted a 3-byte IP")
	}
}

// TestInterfacesOnThisMachine only reads the machine's interfaces: it
// checks that the real snapshot goes through the same policy without error
// (no packet is sent).
func TestInterfacesOnThisMachine(t *testing.T) {
	ifs, err := Interfaces(IfaceOptions{Loopback: true})
	if err != nil && !errors.Is(err, ErrNoInterfaces) {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if IsVirtualName(i.Name) || len(i.Prefixes) == 0 {
			t.Errorf("policy violated by %+v", i)
		}
	}
}
