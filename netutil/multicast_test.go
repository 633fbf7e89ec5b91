package netutil

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stubConn is a net.PacketConn that only accepts deadlines: sends go
// through fakeOps, so nothing touches a network.
type stubConn struct{ net.PacketConn }

func (stubConn) SetWriteDeadline(time.Time) error { return nil }
func (stubConn) Close() error                     { return nil }

// fakeOps fails sends on the interfaces listed in fail.
type fakeOps struct {
	fail map[int]error
	sent *[]int
}

var _ familyOps = fakeOps{}

func (fakeOps) setup(int, int) error                     { return nil }
func (fakeOps) enableControl() error                     { return nil }
func (fakeOps) join(*net.Interface, net.Addr) error      { return nil }
func (fakeOps) leave(*net.Interface, net.Addr) error     { return nil }
func (fakeOps) setIface(*net.Interface) error            { return nil }
func (fakeOps) readFrom([]byte) (int, PacketInfo, error) { return 0, PacketInfo{}, net.ErrClosed }
func (o fakeOps) writeTo(b []byte, idx int, _ netip.Addr, _ net.Addr) (int, error) {
	if err := o.fail[idx]; err != nil {
		return 0, err
	}
	*o.sent = append(*o.sent, idx)
	return len(b), nil
}

func fakeConn(fail map[int]error, sent *[]int) *MulticastConn {
	ifs := []Iface{
		{Index: 2, Name: "eth0", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}},
		{Index: 3, Name: "eth1", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")}},
	}
	sock := &Socket{network: "udp4", v4: true, pc: stubConn{}, ops: fakeOps{fail, sent}}
	c := &MulticastConn{
		cfg:  MulticastConfig{},
		log:  slog.New(slog.DiscardHandler),
		fams: []*family{{sock: sock, group: testGroup4}},
		rx:   NewReceiver(ReceiverConfig{Logger: slog.New(slog.DiscardHandler)}),
	}
	c.SetIfaces(ifs)
	return c
}

// TestSendMulticastFailsOnlyWhenAllFail: a send is attempted on every
// interface; one success is success; all failures give every cause.
func TestSendMulticastFailsOnlyWhenAllFail(t *testing.T) {
	var sent []int
	c := fakeConn(map[int]error{2: syscall.ENETUNREACH}, &sent)
	if err := c.SendMulticast([]byte("x")); err != nil {
		t.Fatalf("one of two interfaces failed: %v", err)
	}
	if len(sent) != 1 || sent[0] != 3 {
		t.Fatalf("sent on %v, want [3]", sent)
	}
	c = fakeConn(map[int]error{2: syscall.ENETUNREACH, 3: syscall.ENOBUFS}, &sent)
	err := c.SendMulticast([]byte("x"))
	if !errors.Is(err, syscall.ENETUNREACH) || !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("err = %v, want both causes", err)
	}
	if !strings.Contains(err.Error(), "eth0") || !strings.Contains(err.Error(), "eth1") {
		t.Fatalf("err %q does not name the interfaces", err)
	}
	if err := c.SendTo([]byte("x"), netip.MustParseAddrPort("[fe80::1%eth0]:1")); !errors.Is(err, ErrNoFamily) {
		t.Fatalf("SendTo IPv6 on IPv4-only conn: %v", err)
	}
}

func TestListenMulticastConfig(t *testing.T) {
	ifs := []Iface{{Index: 1, Name: "x", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}
	for name, cfg := range map[string]MulticastConfig{
		"unicast group4": {Group4: netip.MustParseAddrPort("10.0.0.1:1"), Ifaces: ifs},
		"v6 as group4":   {Group4: testGroup6, Ifaces: ifs},
		"v4 as group6":   {Group6: testGroup4, Ifaces: ifs},
		"no group":       {Ifaces: ifs},
	} {
		if _, err := ListenMulticast(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestZones(t *testing.T) {
	var sent []int
	c := fakeConn(nil, &sent)
	ll := netip.MustParseAddrPort("[fe80::1%bogus]:7601")
	if got := c.rx.fixZone(ll, 3); got.Addr().Zone() != "eth1" {
		t.Errorf("fixZone known index: %v", got)
	}
	if got := c.rx.fixZone(ll, 9); got.Addr().Zone() != "9" {
		t.Errorf("fixZone unknown index: %v", got)
	}
	if got := c.rx.fixZone(netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"), 2); got.Addr() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("fixZone v4-mapped: %v", got)
	}
	if got := c.rx.fixZone(netip.MustParseAddrPort("[2001:db8::1%eth0]:1"), 2); got.Addr().Zone() != "" {
		t.Errorf("fixZone global address kept its zone: %v", got)
	}
	if got := ZoneIndex(netip.MustParseAddr("fe80::1%eth0"), c.Ifaces()); got.Zone() != "2" {
		t.Errorf("ZoneIndex: %v", got)
	}
}

// TestSetIfacesFamilies: an interface carries IPv4 where it has an IPv4
// address, IPv6 where it has an IPv6 address and the multicast flag; the
// sends follow SetIfaces, and with no interface a send says so.
func TestSetIfacesFamilies(t *testing.T) {
	var sent []int
	c := fakeConn(nil, &sent)
	c.SetIfaces([]Iface{
		{Index: 1, Name: "lo", Flags: up | net.FlagLoopback, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
		{Index: 4, Name: "v6only", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("fe80::4/64")}},
	})
	if err := c.SendMulticast([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0] != 1 {
		t.Fatalf("IPv4 sent on %v, want [1] (lo)", sent)
	}
	c.SetIfaces(nil)
	if err := c.SendMulticast([]byte("x")); !errors.Is(err, ErrNoInterfaces) {
		t.Fatalf("no interfaces: %v", err)
	}
	if got := (Iface{Flags: up | net.FlagLoopback, Prefixes: []netip.Prefix{netip.MustParsePrefix("::1/128")}}).CarriesMulticast(false); got {
		t.Error("IPv6 over Linux lo (no multicast flag)")
	}
}
